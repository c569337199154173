"""Turn a manifest's sources into a sorted list of clips (``ClipSource``).

Clip ids are derived from file paths and sanitised: ``<source>/<relative path
without extension>`` with every character outside ``[A-Za-z0-9._-]`` replaced
by ``_`` and ``/`` by ``__``. Ids are only ever used as strings (artifacts are
named by content hash), so nothing is written outside the output folder
whatever the file names are.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path

from core.errors import ConfigError
from core.hashing import sha256_file
from core.stage import ClipSource
from pipeline.config import DEFAULT_INCLUDE, Manifest, SourceSpec

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

KIND_BY_SUFFIX = {".npz": "amass", ".bvh": "bvh"}


def sanitize_clip_id(source: str, relative: str) -> str:
    """A filesystem- and HDF5-safe id for a clip."""
    parts = [p for p in re.split(r"[\\/]+", relative) if p not in ("", ".", "..")]
    if parts:
        parts[-1] = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", parts[-1])
    cleaned = [(_UNSAFE.sub("_", p).strip("._") or "_") for p in [source, *parts]]
    return "__".join(cleaned)[:200]


def _matches(relative: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if fnmatch.fnmatch(relative, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:]):
            return True
    return False


def source_root(manifest: Manifest, spec: SourceSpec) -> Path:
    """The folder a source's files are read from (the demo corpus lives under the output folder)."""
    if spec.kind == "demo":
        return manifest.output / "sources" / spec.name
    root = manifest.resolve(spec.root)
    assert root is not None
    return root


def prepare_demo(manifest: Manifest, spec: SourceSpec) -> None:
    """Generate the built-in demo corpus once (deterministic for the manifest seed)."""
    from stages.ingest.demo import write_demo_corpus

    root = source_root(manifest, spec)
    marker = root / f".complete-seed{manifest.globals.seed}"
    if marker.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    write_demo_corpus(root, seed=manifest.globals.seed)
    marker.write_text("ok\n")


def discover(manifest: Manifest) -> list[ClipSource]:
    """Every clip of every source, in a deterministic order."""
    clips: list[ClipSource] = []
    seen: set[str] = set()
    for spec in manifest.sources:
        if spec.kind == "demo":
            prepare_demo(manifest, spec)
        root = source_root(manifest, spec)
        if not root.is_dir():
            raise ConfigError(manifest.path, f"sources.{spec.name}.root", f"folder not found: {root}")
        include = spec.include or DEFAULT_INCLUDE[spec.kind]
        files = []
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(root).as_posix()
            if relative.startswith(".") or "/." in relative:
                continue
            if _matches(relative, include) and not _matches(relative, spec.exclude):
                files.append((relative, path))
        if not files:
            excluding = f" (excluding {', '.join(spec.exclude)})" if spec.exclude else ""
            raise ConfigError(manifest.path, f"sources.{spec.name}",
                              f"no file under {root} matches {', '.join(include)}{excluding}; check 'root', "
                              f"'include' and 'exclude'")
        if spec.max_clips is not None:
            files = files[: spec.max_clips]
        body_models = manifest.resolve(spec.body_models)
        for relative, path in files:
            clip_id = sanitize_clip_id(spec.name, relative)
            if clip_id in seen:
                clip_id = f"{clip_id}_{hashlib.sha1(relative.encode()).hexdigest()[:8]}"
            seen.add(clip_id)
            kind = KIND_BY_SUFFIX.get(path.suffix.lower(), spec.kind if spec.kind in ("amass", "bvh") else "unknown")
            clips.append(ClipSource(
                clip_id=clip_id,
                path=str(path.resolve()),
                sha256=sha256_file(path),
                kind=kind,
                dataset=spec.name,
                license=spec.license,
                body_models=None if body_models is None else str(body_models),
                require_body_models=spec.require_body_models,
                bvh_format=spec.bvh_format,
            ))
    return clips

"""The manifest: a YAML dataset recipe.

Example (``manifests/default.yaml``)::

    name: default
    output: ../out/default        # relative paths resolve against this file's folder
    fps: 30                       # target frame rate (Hz) of every stage's output
    robot: g1                     # built-in name or path to a robot YAML
    seed: 0
    sources:
      - name: demo
        kind: demo                # demo | amass | bvh | auto (by file extension)
    stages:                       # each section = that stage's Settings dataclass
      retarget: {}
      simulate: none              # shorthand for {mode: none}: the stage is off

Unknown keys and invalid values raise :class:`ConfigError` naming the key and
the file, when the manifest loads and before any work: besides types and
ranges, the robot (a built-in name or a readable robot YAML), each source's
``root`` and ``body_models`` folders and its ``bvh_format``, and every stage
setting its stage checks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from core.errors import ConfigError
from core.settings import build
from core.stage import RunGlobals
from pipeline.registry import SETTINGS_SECTION, STAGE_ORDER, AnyStage, default_stages

SourceKind = Literal["demo", "amass", "bvh", "auto"]

DEFAULT_INCLUDE = {"amass": ("**/*.npz",), "bvh": ("**/*.bvh",), "auto": ("**/*.npz", "**/*.bvh"),
                   "demo": ("**/*.npz", "**/*.bvh")}


@dataclass(frozen=True)
class SourceSpec:
    """One input collection.

    ``root`` is a folder (relative to the manifest's folder); for ``kind: demo``
    it is omitted and the built-in demo corpus is generated under the output
    folder. ``include``/``exclude`` are glob patterns relative to ``root``.
    """

    name: str
    kind: SourceKind = "auto"
    root: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    body_models: str | None = None          # folder of SMPL/SMPL-H/SMPL-X .npz model files
    require_body_models: bool = False       # true: a missing body model is an error, not a warning
    bvh_format: str = "auto"                # auto | lafan1 | cmu
    license: str = "unknown"
    max_clips: int | None = None            # take only the first N files (sorted)

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\"):
            raise ValueError(f"source name {self.name!r} must be non-empty and contain no slashes")
        if self.kind != "demo" and not self.root:
            raise ValueError(f"source {self.name!r}: 'root' is required for kind {self.kind!r}")
        if self.max_clips is not None and self.max_clips < 1:
            raise ValueError("max_clips must be >= 1")


@dataclass(frozen=True)
class Manifest:
    name: str
    output: Path
    sources: tuple[SourceSpec, ...]
    globals: RunGlobals
    stage_settings: dict[str, Any]        # stage name -> Settings instance (available stages)
    path: Path | None = None
    raw_stages: dict[str, Any] = field(default_factory=dict)

    def resolve(self, relative: str | None) -> Path | None:
        """Resolve a manifest path against the manifest's folder."""
        if relative is None:
            return None
        p = Path(relative).expanduser()
        if not p.is_absolute() and self.path is not None:
            p = self.path.parent / p
        return p.resolve()


@dataclass(frozen=True)
class _ManifestFile:
    name: str
    output: str
    sources: tuple[SourceSpec, ...]
    fps: float = 30.0
    robot: str = "g1"
    seed: int = 0
    stages: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("'sources' must list at least one source")
        if not 1.0 <= self.fps <= 1000.0:
            raise ValueError(f"'fps' must be between 1 and 1000, got {self.fps}")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")


def parse_manifest(data: Any, path: Path | None = None, output_override: Path | None = None,
                   stages: dict[str, AnyStage] | None = None) -> Manifest:
    """Validate a manifest mapping (as read from YAML) against ``stages`` (default: all shipped)."""
    stages = default_stages() if stages is None else stages
    raw = build(_ManifestFile, data, path)
    stage_settings: dict[str, Any] = {}
    for name in raw.stages:
        if name not in STAGE_ORDER or name in SETTINGS_SECTION:
            known = [n for n in STAGE_ORDER if n not in SETTINGS_SECTION]
            raise ConfigError(path, f"stages.{name}", f"unknown stage; stages are {', '.join(known)}")
    for name, stage in stages.items():
        section = SETTINGS_SECTION.get(name, name)
        key = f"stages.{section}"
        value = raw.stages.get(section) or {}
        if value == "none":
            # shorthand `<stage>: none` = the stage is off: its Settings' switch (`mode` or `method`) set to "none"
            switch = [f.name for f in dataclasses.fields(stage.settings_type) if f.name in ("mode", "method")]
            if not switch:
                raise ConfigError(path, key, "this stage cannot be turned off with 'none'")
            value = {switch[0]: "none"}
        try:
            stage_settings[name] = build(stage.settings_type, value, path, key)
        except ConfigError as exc:
            if exc.file is not None:
                raise
            # a Settings.__post_init__ that names only its field: say which file and section
            raise ConfigError(path, f"{key}.{exc.key}" if exc.key else key,
                              str(exc).split(": ", 1)[-1] if exc.key else str(exc)) from None
    manifest = Manifest(
        name=raw.name,
        output=Path(raw.output),
        sources=raw.sources,
        globals=RunGlobals(fps=raw.fps, robot=_robot_spec(raw.robot, path), seed=raw.seed),
        stage_settings=stage_settings,
        path=None if path is None else Path(path).resolve(),
        raw_stages=dict(raw.stages),
    )
    output = output_override.resolve() if output_override is not None else manifest.resolve(raw.output)
    manifest = Manifest(**{**manifest.__dict__, "output": output})
    check_sources(manifest)
    return manifest


def check_sources(manifest: Manifest) -> None:
    """Folders and formats of every source, checked before any work (ConfigError naming key and file)."""
    from stages.ingest.skeletons import BVH_FORMATS

    for i, spec in enumerate(manifest.sources):
        where = f"sources[{i}] ({spec.name})"
        if spec.bvh_format != "auto" and spec.bvh_format not in BVH_FORMATS:
            raise ConfigError(manifest.path, f"{where}.bvh_format",
                              f"unknown BVH format {spec.bvh_format!r}; known: auto, {', '.join(BVH_FORMATS)}")
        if spec.kind != "demo":
            root = manifest.resolve(spec.root)
            if root is None or not root.is_dir():
                raise ConfigError(manifest.path, f"{where}.root", f"folder not found: {root}")
        if spec.body_models is not None:
            folder = manifest.resolve(spec.body_models)
            if folder is None or not folder.is_dir():
                raise ConfigError(manifest.path, f"{where}.body_models", f"body-model folder not found: {folder}")


def _robot_spec(robot: str, path: Path | None) -> str:
    """The manifest's ``robot``, checked: a built-in name stays as it is; a YAML path resolves against the
    manifest's folder and is read (ConfigError naming the key and file when neither)."""
    from core.robot.config import BUILTIN, load_config

    if robot in BUILTIN:
        return robot
    if robot.endswith((".yaml", ".yml")):
        p = Path(robot).expanduser()
        if not p.is_absolute() and path is not None:
            p = Path(path).resolve().parent / p
        if not p.is_file():
            raise ConfigError(path, "robot", f"robot YAML not found: {p}")
        load_config(p)            # its own errors name the robot YAML and the key
        return str(p.resolve())
    raise ConfigError(path, "robot", f"unknown robot {robot!r}; built-in robots are {', '.join(sorted(BUILTIN))}, "
                                     f"or give the path of a robot YAML")


def load_manifest(path: str | Path, output_override: str | Path | None = None,
                  stages: dict[str, AnyStage] | None = None) -> Manifest:
    """Read and validate a manifest YAML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(path, None, "manifest file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"not valid YAML ({exc})") from None
    return parse_manifest(data, path, None if output_override is None else Path(output_override), stages)

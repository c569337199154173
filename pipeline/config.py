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

Unknown keys and invalid values raise :class:`ConfigError` naming the key and
the file.
"""

from __future__ import annotations

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
        value = raw.stages.get(section) or {}
        if value == "none":                      # `adapt: none`: the stage's ablation switch
            value = {"method": "none"}
        stage_settings[name] = build(stage.settings_type, value, path, f"stages.{section}")
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
    return Manifest(**{**manifest.__dict__, "output": output})


def _robot_spec(robot: str, path: Path | None) -> str:
    """Built-in robot names stay as they are; a YAML path resolves against the manifest's folder."""
    if robot.endswith((".yaml", ".yml")):
        p = Path(robot).expanduser()
        if not p.is_absolute() and path is not None:
            p = Path(path).resolve().parent / p
        return str(p.resolve())
    return robot


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

"""Robot config: a typed, frozen description of how the pipeline uses a robot.

A robot is a description file (URDF or MJCF, loaded with pinocchio) plus a small
YAML config. Keys of the YAML (every level is checked; an unknown key raises
:class:`core.errors.ConfigError` naming the key and the file)::

    name: g1                          # robot name stored in RobotMotion.robot
    description: g1_29dof.urdf        # URDF/MJCF; relative paths: see resolve_path
    package_dirs: []                  # folders holding package://<pkg>/... meshes
    geometry: g1_geometry.yaml        # optional file with `primitives` and `soles`
    root_frame: pelvis                # body carried by the free-flyer joint
    foot_frames: [left_ankle_roll_link, right_ankle_roll_link]
    soles: {left_ankle_roll_link: {center: [x, y, z], half_extents: [hx, hy]}, ...}
    key_links: [pelvis, torso_link, ...]          # stored in RobotMotion.link_pos
    keypoint_tasks:                   # [human keypoint, robot frame, pos w, rot w]
      - [pelvis, pelvis, 1.0, 1.0]
    scale_segments:                   # human segment -> robot segment (lengths)
      - {name: left_thigh, human: [left_hip, left_knee], robot: [left_hip_roll_link, left_knee_link]}
    velocity_limits: {joint: rad/s}   # fill or override the description's
    effort_limits: {joint: Nm}        # same, for joint torques
    default_pose: {joint: rad}        # reference posture (posture task, starts)
    posture_weights: {default: 0.01, joints: {joint: weight}}
    primitives:                       # collision primitives (usually in geometry)
      - {name: torso, frame: torso_link, a: [x,y,z], b: [x,y,z], radius: r}
    collision_groups: {left_arm: [prim, ...], torso: [...]}
    collision_pairs: [[left_arm, torso], ...]

Units: metres, radians, rad/s. Sole centres and primitive end points are in
their frame's local coordinates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from core.errors import ConfigError

ENV_SEARCH = "MOTION_ROBOT_PATH"
"""Environment variable: extra folders (os.pathsep-separated) searched for descriptions."""

REPO = Path(__file__).resolve().parents[2]
BUILTIN_DIR = Path(__file__).resolve().parent
BUILTIN = {"g1": BUILTIN_DIR / "g1" / "g1.yaml", "h1": BUILTIN_DIR / "h1" / "h1.yaml"}


class KeypointTask(NamedTuple):
    """Human keypoint -> robot frame correspondence with IK task weights."""

    human: str
    frame: str
    position_weight: float
    orientation_weight: float


class ScaleRule(NamedTuple):
    """A human segment (two keypoints) whose length maps to a robot segment (two frames)."""

    name: str
    human: tuple[str, str]
    robot: tuple[str, str]


class Sole(NamedTuple):
    """Foot sole rectangle in the foot frame.

    ``center`` (3,) m: centre of the rectangle on the sole plane (z = lowest
    point of the foot); ``half_extents`` (2,) m: half-lengths along the foot
    frame's x (toe direction) and y axes.
    """

    frame: str
    center: tuple[float, float, float]
    half_extents: tuple[float, float]

    def corners(self) -> np.ndarray:
        """(4, 3) sole corners in the foot frame (front-left, front-right, back-right, back-left)."""
        c = np.asarray(self.center)
        hx, hy = self.half_extents
        offs = np.array([[hx, hy, 0.0], [hx, -hy, 0.0], [-hx, -hy, 0.0], [-hx, hy, 0.0]])
        return c + offs


class Primitive(NamedTuple):
    """Collision capsule (sphere when ``a == b``) attached to a frame.

    ``a``, ``b``: segment end points (m) in the frame; ``radius`` m.
    """

    name: str
    frame: str
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    radius: float


@dataclass(frozen=True)
class RobotConfig:
    """How the pipeline uses one robot (see the module docstring for the YAML)."""

    name: str
    description: Path
    source: Path | None = None
    package_dirs: tuple[Path, ...] = ()
    root_frame: str = "pelvis"
    foot_frames: tuple[str, str] = ("left_foot", "right_foot")
    soles: tuple[Sole, ...] = ()
    key_links: tuple[str, ...] = ()
    keypoint_tasks: tuple[KeypointTask, ...] = ()
    scale_segments: tuple[ScaleRule, ...] = ()
    velocity_limits: tuple[tuple[str, float], ...] = ()
    effort_limits: tuple[tuple[str, float], ...] = ()
    default_pose: tuple[tuple[str, float], ...] = ()
    posture_default_weight: float = 0.01
    posture_weights: tuple[tuple[str, float], ...] = ()
    primitives: tuple[Primitive, ...] = ()
    collision_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    collision_pairs: tuple[tuple[str, str], ...] = ()
    files: tuple[Path, ...] = ()    # every file the config and the model were read from (YAML, geometry, description)

    def sole(self, frame: str) -> Sole:
        """The sole of foot ``frame`` (KeyError if none is configured)."""
        for s in self.soles:
            if s.frame == frame:
                return s
        raise KeyError(f"robot {self.name!r} has no sole for frame {frame!r}")


_TOP_KEYS = {
    "name", "description", "package_dirs", "geometry", "root_frame", "foot_frames", "soles", "key_links",
    "keypoint_tasks", "scale_segments", "velocity_limits", "effort_limits", "default_pose", "posture_weights",
    "primitives", "collision_groups", "collision_pairs",
}
_GEOMETRY_KEYS = {"primitives", "soles"}


#: libyaml's safe loader when installed (10x faster on the robot files), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read robot config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, None, "robot config must be a mapping of keys")
    return data


def _check_keys(path: Path, where: str, data: Any, allowed: set[str]) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(path, where or None, "expected a mapping")
    for key in data:
        if key not in allowed:
            full = f"{where}.{key}" if where else str(key)
            raise ConfigError(path, full, f"unknown key (allowed: {', '.join(sorted(allowed))})")
    return data


def _floats(path: Path, key: str, value: Any, n: int) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(path, key, f"expected {n} numbers, got {value!r}") from None
    if len(out) != n or not all(np.isfinite(out)):
        raise ConfigError(path, key, f"expected {n} finite numbers, got {value!r}")
    return out


def _vec3(path: Path, key: str, value: Any) -> tuple[float, float, float]:
    x, y, z = _floats(path, key, value, 3)
    return x, y, z


def _vec2(path: Path, key: str, value: Any) -> tuple[float, float]:
    x, y = _floats(path, key, value, 2)
    return x, y


def _number(path: Path, key: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(path, key, f"expected a number, got {value!r}") from None
    if not np.isfinite(out):
        raise ConfigError(path, key, f"expected a finite number, got {value!r}")
    return out


def _names(path: Path, key: str, value: Any, n: int | None = None) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, key, f"expected a list of names, got {value!r}")
    if n is not None and len(value) != n:
        raise ConfigError(path, key, f"expected {n} names, got {len(value)}")
    return tuple(value)


def _name_pair(path: Path, key: str, value: Any) -> tuple[str, str]:
    a, b = _names(path, key, value, 2)
    return a, b


def search_dirs() -> list[Path]:
    """Folders searched for a relative description path after the YAML's own folder.

    In order: each entry of ``$MOTION_ROBOT_PATH``; ``$MOTION_SHARED_DATA/robots``;
    the repository's sibling ``../shared/data/robots``.
    """
    dirs = [Path(p) for p in os.environ.get(ENV_SEARCH, "").split(os.pathsep) if p]
    if os.environ.get("MOTION_SHARED_DATA"):
        dirs.append(Path(os.environ["MOTION_SHARED_DATA"]) / "robots")
    dirs.append(REPO.parent / "shared" / "data" / "robots")
    return dirs


def resolve_path(config_file: Path, key: str, value: Any) -> Path:
    """Resolve a path from a config: absolute as is; relative against the YAML's folder,
    then each of :func:`search_dirs`. ``~`` and ``$VARS`` are expanded.

    Raises:
        ConfigError: the path exists nowhere (the message lists where it looked).
    """
    if not isinstance(value, str) or not value:
        raise ConfigError(config_file, key, f"expected a path, got {value!r}")
    raw = Path(os.path.expandvars(os.path.expanduser(value)))
    tried = [raw] if raw.is_absolute() else [config_file.parent / raw] + [d / raw for d in search_dirs()]
    for cand in tried:
        if cand.exists():
            return cand.resolve()
    raise ConfigError(config_file, key, f"{value!r} not found; looked in: {', '.join(str(t) for t in tried)} "
                      f"(set {ENV_SEARCH} to the folder holding it)")


def _parse_soles(path: Path, data: Any) -> tuple[Sole, ...]:
    if not isinstance(data, dict):
        raise ConfigError(path, "soles", "expected a mapping frame -> {center, half_extents}")
    out = []
    for frame, spec in data.items():
        _check_keys(path, f"soles.{frame}", spec, {"center", "half_extents"})
        out.append(Sole(str(frame), _vec3(path, f"soles.{frame}.center", spec.get("center")),
                        _vec2(path, f"soles.{frame}.half_extents", spec.get("half_extents"))))
    return tuple(out)


def _parse_primitives(path: Path, data: Any) -> tuple[Primitive, ...]:
    if not isinstance(data, list):
        raise ConfigError(path, "primitives", "expected a list")
    out = []
    for i, spec in enumerate(data):
        where = f"primitives[{i}]"
        _check_keys(path, where, spec, {"name", "frame", "a", "b", "radius"})
        for req in ("name", "frame", "a", "radius"):
            if req not in spec:
                raise ConfigError(path, f"{where}.{req}", "missing")
        a = _vec3(path, f"{where}.a", spec["a"])
        b = _vec3(path, f"{where}.b", spec.get("b", spec["a"]))
        radius = _number(path, f"{where}.radius", spec["radius"])
        if radius < 0:
            raise ConfigError(path, f"{where}.radius", "must be >= 0")
        out.append(Primitive(str(spec["name"]), str(spec["frame"]), a, b, radius))
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ConfigError(path, "primitives", "primitive names must be unique")
    return tuple(out)


def load_config(path: str | Path) -> RobotConfig:
    """Read and validate a robot YAML config (paths resolved, keys checked).

    Raises:
        ConfigError: unknown or malformed key, or a description not found.
    """
    path = Path(path).resolve()
    data = _check_keys(path, "", _read_yaml(path), _TOP_KEYS)
    for req in ("name", "description"):
        if req not in data:
            raise ConfigError(path, req, "missing required key")
    geometry: dict = {}
    files = [path]
    if "geometry" in data:
        gpath = resolve_path(path, "geometry", data["geometry"])
        files.append(gpath)
        geometry = _check_keys(gpath, "", _read_yaml(gpath), _GEOMETRY_KEYS)
        soles_g = _parse_soles(gpath, geometry.get("soles", {}))
        prims_g = _parse_primitives(gpath, geometry.get("primitives", []))
    else:
        soles_g, prims_g = (), ()
    soles = _parse_soles(path, data["soles"]) if "soles" in data else soles_g
    prims = _parse_primitives(path, data["primitives"]) if "primitives" in data else prims_g

    description = resolve_path(path, "description", data["description"])
    files.append(description)
    pkg = data.get("package_dirs", [])
    if not isinstance(pkg, list):
        raise ConfigError(path, "package_dirs", "expected a list of folders")
    package_dirs = tuple(resolve_path(path, "package_dirs", p) for p in pkg) or (description.parent.parent,)

    foot_frames = _name_pair(path, "foot_frames", data.get("foot_frames", ["left_foot", "right_foot"]))

    tasks = []
    for i, t in enumerate(data.get("keypoint_tasks", [])):
        if not isinstance(t, list) or len(t) != 4:
            raise ConfigError(path, f"keypoint_tasks[{i}]", "expected [human keypoint, robot frame, pos weight, rot weight]")
        tasks.append(KeypointTask(str(t[0]), str(t[1]), _number(path, f"keypoint_tasks[{i}]", t[2]),
                                  _number(path, f"keypoint_tasks[{i}]", t[3])))
    from core.records.keypoints import KEYPOINT_NAMES
    for i, t in enumerate(tasks):
        if t.human not in KEYPOINT_NAMES:
            raise ConfigError(path, f"keypoint_tasks[{i}]", f"unknown human keypoint {t.human!r} "
                              f"(known: {', '.join(KEYPOINT_NAMES)})")

    rules = []
    for i, r in enumerate(data.get("scale_segments", [])):
        where = f"scale_segments[{i}]"
        _check_keys(path, where, r, {"name", "human", "robot"})
        human = _name_pair(path, f"{where}.human", r.get("human"))
        for h in human:
            if h not in KEYPOINT_NAMES:
                raise ConfigError(path, f"{where}.human", f"unknown human keypoint {h!r}")
        rules.append(ScaleRule(str(r.get("name", f"segment{i}")), human,
                               _name_pair(path, f"{where}.robot", r.get("robot"))))

    def joint_map(key: str) -> tuple[tuple[str, float], ...]:
        value = data.get(key, {}) or {}
        if not isinstance(value, dict):
            raise ConfigError(path, key, "expected a mapping joint -> number")
        return tuple((str(k), _number(path, f"{key}.{k}", v)) for k, v in value.items())

    pw = _check_keys(path, "posture_weights", data.get("posture_weights", {}) or {}, {"default", "joints"})
    posture_joints = pw.get("joints", {}) or {}
    if not isinstance(posture_joints, dict):
        raise ConfigError(path, "posture_weights.joints", "expected a mapping joint -> weight")

    groups_raw = data.get("collision_groups", {}) or {}
    if not isinstance(groups_raw, dict):
        raise ConfigError(path, "collision_groups", "expected a mapping group -> list of primitive names")
    prim_names = {p.name for p in prims}
    groups = []
    for g, members in groups_raw.items():
        members = _names(path, f"collision_groups.{g}", members)
        for m in members:
            if m not in prim_names:
                raise ConfigError(path, f"collision_groups.{g}", f"unknown primitive {m!r}")
        groups.append((str(g), members))
    group_names = {g for g, _ in groups} | prim_names
    pairs = []
    for i, p in enumerate(data.get("collision_pairs", []) or []):
        pair = _name_pair(path, f"collision_pairs[{i}]", p)
        for g in pair:
            if g not in group_names:
                raise ConfigError(path, f"collision_pairs[{i}]", f"unknown group or primitive {g!r}")
        pairs.append(pair)

    return RobotConfig(
        name=str(data["name"]),
        description=description,
        source=path,
        package_dirs=package_dirs,
        root_frame=str(data.get("root_frame", "pelvis")),
        foot_frames=foot_frames,
        soles=soles,
        key_links=_names(path, "key_links", data.get("key_links", [])),
        keypoint_tasks=tuple(tasks),
        scale_segments=tuple(rules),
        velocity_limits=joint_map("velocity_limits"),
        effort_limits=joint_map("effort_limits"),
        default_pose=joint_map("default_pose"),
        posture_default_weight=_number(path, "posture_weights.default", pw.get("default", 0.01)),
        posture_weights=tuple((str(k), _number(path, f"posture_weights.joints.{k}", v)) for k, v in posture_joints.items()),
        primitives=prims,
        collision_groups=tuple(groups),
        collision_pairs=tuple(pairs),
        files=tuple(files),
    )


def config_path(name_or_path: str | Path) -> Path:
    """The YAML of a built-in robot name (``g1``, ``h1``) or a given path."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN:
        return BUILTIN[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise ConfigError(path, None, f"no robot config here; built-in robots are {', '.join(sorted(BUILTIN))}")
    return path

"""Drawable robot bodies and their world poses over a clip.

A :class:`BodySet` is a list of rigid bodies, each a triangle mesh in its own
frame, plus a function from a ``RobotMotion`` to (T, B, 3) positions and
(T, B, 4) orientations **w x y z** (viser's order; the project's records are
x y z w and are converted here). Two sources:

- :func:`mesh_bodies`: the ``<visual>`` STL meshes of a URDF (the official
  Unitree descriptions have them), posed by a pinocchio model of that URDF;
- :func:`capsule_bodies`: the collision capsules of the robot config
  (``core.robot``), for descriptions without meshes (the built-in G1 URDF).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from core.errors import InputError
from core.records.robot_motion import RobotMotion
from core.robot import Robot
from core.robot.stl import read_stl


@dataclass
class Body:
    """One rigid body: ``vertices`` (V, 3) m and ``faces`` (F, 3) in the body frame."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray


@dataclass
class BodySet:
    """Bodies and how to pose them: ``poses(motion) -> (pos (T, B, 3) m, wxyz (T, B, 4))``."""

    kind: str                                   # "meshes" or "capsules"
    bodies: list[Body]
    poses: Callable[[RobotMotion], tuple[np.ndarray, np.ndarray]]


def matrix_to_wxyz(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> quaternions (..., 4) **w x y z**."""
    shape = m.shape[:-2]
    xyzw = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat()
    return np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1).reshape(*shape, 4)


def capsule_mesh(a: np.ndarray, b: np.ndarray, radius: float, segments: int = 12, rings: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of a capsule (segment ``a``-``b``, radius m): vertices (V, 3), faces (F, 3)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    axis = b - a
    length = float(np.linalg.norm(axis))
    z = axis / length if length > 1e-9 else np.array([0.0, 0.0, 1.0])
    x = np.cross(z, [1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    # latitude rings: bottom cap (around a), top cap (around b)
    lats = np.concatenate([np.linspace(-np.pi / 2, 0, rings + 1), np.linspace(0, np.pi / 2, rings + 1)])
    centres = [a] * (rings + 1) + [b] * (rings + 1)
    theta = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    verts = []
    for lat, c in zip(lats, centres):
        ring = c + radius * (np.cos(lat) * (np.outer(np.cos(theta), x) + np.outer(np.sin(theta), y)) + np.sin(lat) * z)
        verts.append(ring)
    v = np.concatenate(verts)
    faces = []
    n_rings = len(lats)
    for r in range(n_rings - 1):
        for s in range(segments):
            i0, i1 = r * segments + s, r * segments + (s + 1) % segments
            j0, j1 = i0 + segments, i1 + segments
            faces += [(i0, j0, i1), (i1, j0, j1)]
    return v, np.asarray(faces, dtype=np.uint32)


def capsule_bodies(robot: Robot) -> BodySet:
    """One body per frame carrying collision primitives (its capsules merged)."""
    by_frame: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for p in robot.config.primitives:
        by_frame.setdefault(p.frame, []).append(capsule_mesh(np.array(p.a), np.array(p.b), p.radius))
    if not by_frame:
        raise ValueError(f"robot {robot.name} has neither meshes nor collision primitives to draw")
    bodies = []
    for frame, parts in by_frame.items():
        offset, vs, fs = 0, [], []
        for v, f in parts:
            vs.append(v)
            fs.append(f + offset)
            offset += len(v)
        bodies.append(Body(frame, np.concatenate(vs), np.concatenate(fs)))
    frames = list(by_frame)

    def poses(motion: RobotMotion) -> tuple[np.ndarray, np.ndarray]:
        pos, rot = robot.frame_placements(motion.root_pos, motion.root_rot, motion.dof_pos, frames)
        return pos, matrix_to_wxyz(rot)

    return BodySet("capsules", bodies, poses)


def urdf_visuals(urdf: Path) -> list[tuple[str, Path, np.ndarray, np.ndarray, np.ndarray]]:
    """(link, STL path, origin xyz, origin rpy, scale) of every ``<visual>`` STL mesh of a URDF."""
    try:
        root = ET.parse(urdf).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(urdf, "bad_urdf", f"cannot parse URDF: {exc}") from None
    out = []
    for link in root.findall("link"):
        for visual in link.findall("visual"):
            mesh = visual.find("geometry/mesh")
            if mesh is None:
                continue
            name = mesh.get("filename", "")
            if name.startswith("package://"):
                rest = name[len("package://"):]
                candidates = [urdf.parent.parent / rest, urdf.parent / rest.split("/", 1)[-1]]
            else:
                candidates = [Path(name) if Path(name).is_absolute() else urdf.parent / name]
            path = next((c for c in candidates if c.is_file()), None)
            if path is None or path.suffix.lower() != ".stl":
                continue
            origin = visual.find("origin")
            xyz = np.array([float(v) for v in (origin.get("xyz", "0 0 0") if origin is not None else "0 0 0").split()])
            rpy = np.array([float(v) for v in (origin.get("rpy", "0 0 0") if origin is not None else "0 0 0").split()])
            scale = np.array([float(s) for s in (mesh.get("scale") or "1 1 1").split()])
            out.append((link.get("name", ""), path, xyz, rpy, scale))
    return out


def mesh_bodies(urdf: str | Path, robot: Robot) -> BodySet | None:
    """Bodies from the visual STL meshes of ``urdf`` (None when it has none), posed by its own
    pinocchio model; joints are matched to ``robot``'s by name."""
    import pinocchio as pin

    urdf = Path(urdf)
    visuals = urdf_visuals(urdf)
    if not visuals:
        return None
    model = pin.buildModelFromUrdf(str(urdf), pin.JointModelFreeFlyer())
    names = [model.names[j] for j in range(2, model.njoints)]
    missing = [n for n in names if n not in robot.dof_names]
    if missing:
        raise InputError(urdf, "joint_mismatch", f"joints {missing[:4]} of the mesh description are not joints of {robot.name}")
    index = np.array([robot.dof_names.index(n) for n in names])
    bodies: list[Body] = []
    fids: list[int] = []
    for link, path, xyz, rpy, scale in visuals:
        if not model.existFrame(link):
            continue
        tris = read_stl(path) * scale
        verts, inverse = np.unique(np.round(tris.reshape(-1, 3), 6), axis=0, return_inverse=True)
        verts = Rotation.from_euler("xyz", rpy).apply(verts) + xyz
        bodies.append(Body(f"{link}_{len(bodies)}", verts, inverse.reshape(-1, 3).astype(np.uint32)))
        fids.append(model.getFrameId(link))

    def poses(motion: RobotMotion) -> tuple[np.ndarray, np.ndarray]:
        data = model.createData()
        quat = motion.root_rot / np.linalg.norm(motion.root_rot, axis=1, keepdims=True)
        q = np.concatenate([motion.root_pos, quat, motion.dof_pos[:, index]], axis=1)
        T = len(q)
        pos = np.empty((T, len(fids), 3))
        rot = np.empty((T, len(fids), 3, 3))
        for t in range(T):
            pin.framesForwardKinematics(model, data, q[t])
            for k, fid in enumerate(fids):
                placement = data.oMf[fid]
                pos[t, k] = placement.translation
                rot[t, k] = placement.rotation
        return pos, matrix_to_wxyz(rot)

    return BodySet("meshes", bodies, poses)


def mesh_candidates(robot: Robot) -> list[Path]:
    """Descriptions that may carry the robot's meshes: its own, then ``<name>_description/*.urdf``
    in the robot search folders (``MOTION_ROBOT_PATH``)."""
    from core.robot.config import search_dirs

    found = [robot.config.description]
    for folder in search_dirs():
        found += sorted((folder / f"{robot.name}_description").glob("*.urdf"))
    return found


def robot_bodies(robot: Robot, meshes: str | Path | None = None, capsules: bool = False) -> BodySet:
    """Official meshes from ``meshes`` (a URDF), else from the robot's own description or a
    ``<name>_description`` folder of the robot search path when one has visual meshes; else (or
    with ``capsules``) the collision capsules."""
    if capsules:
        return capsule_bodies(robot)
    for urdf in ([Path(meshes)] if meshes else []) + mesh_candidates(robot):
        if urdf.suffix.lower() == ".urdf" and urdf.is_file():
            found = mesh_bodies(urdf, robot)
            if found is not None:
                return found
        elif meshes and urdf == Path(meshes):
            raise InputError(urdf, "not_found", "mesh description must be an existing .urdf file")
    return capsule_bodies(robot)

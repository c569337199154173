"""What the filter needs to know about a robot's body, gathered once per robot.

From a loaded :class:`core.robot.Robot` (pinocchio model, limits,
config with soles and collision primitives) this builds flat numpy tables:
the frames whose world poses are needed, each capsule primitive's end points
(m, in its frame) and radius, which primitives belong to a foot, the foot
sole corners, and the primitive index pairs checked for self-collision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pinocchio as pin

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.robot.model import Robot


@dataclass(frozen=True)
class Body:
    """Flat geometry tables of one robot.

    Attributes:
        model: pinocchio model (free-flyer root; ``q = [xyz, xyzw, dofs]``).
        dof_names: (D,) joint names in ``q[7:]`` order.
        lower, upper: (D,) position limits, rad.
        velocity_limit: (D,) rad/s (inf where unknown).
        effort_limit: (D,) N·m (inf where unknown).
        mass: total mass, kg.
        frame_ids: (F,) pinocchio frame ids whose placements are computed.
        frame_names: (F,) their names.
        prim_names: (P,) primitive names.
        prim_frame: (P,) index into ``frame_ids`` of each primitive's frame.
        prim_a, prim_b: (P, 3) capsule end points in the frame, m.
        prim_radius: (P,) m.
        prim_is_foot: (P,) bool, primitive belongs to a foot (allowed to touch the floor).
        foot_frame: (2,) index into ``frame_ids`` of the left/right foot frame.
        sole_corners: (2, 4, 3) sole corners in the foot frames, m.
        pairs: (K, 2) primitive index pairs checked for self-collision.
        robot: the :class:`core.robot.Robot` (its batched forward kinematics), or None.
    """

    model: pin.Model
    dof_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity_limit: np.ndarray
    effort_limit: np.ndarray
    mass: float
    frame_ids: np.ndarray
    frame_names: tuple[str, ...]
    prim_names: tuple[str, ...]
    prim_frame: np.ndarray
    prim_a: np.ndarray
    prim_b: np.ndarray
    prim_radius: np.ndarray
    prim_is_foot: np.ndarray
    foot_frame: np.ndarray
    sole_corners: np.ndarray
    pairs: np.ndarray
    robot: Any = None


def _foot_bodies(model: pin.Model, foot_frames: tuple[str, ...], ankle_gap_m: float = 0.05) -> set[str]:
    """Body names that count as a foot.

    A foot frame's body, every body on the same joint, and the bodies of the
    joint just above when that joint is closer than ``ankle_gap_m`` (m) to the
    foot joint (a two-axis ankle such as G1's pitch + roll: the small link
    between the two axes is part of the foot).
    """
    names: set[str] = set()
    for foot in foot_frames:
        joint = model.frames[model.getFrameId(foot)].parentJoint
        joints = {joint}
        parent = model.parents[joint]
        if parent > 1 and np.linalg.norm(model.jointPlacements[joint].translation) < ankle_gap_m:
            joints.add(parent)
        names.add(foot)
        names.update(f.name for f in model.frames if f.type == pin.FrameType.BODY and f.parentJoint in joints)
    return names


def body_of(robot: Robot) -> Body:
    """Flat geometry tables of ``robot`` (a :class:`core.robot.Robot`).

    Raises:
        ConfigError: the robot config has no sole for a foot frame.
    """
    config = robot.config
    model = robot.model
    frame_names: list[str] = []

    def index(name: str) -> int:
        if name not in frame_names:
            frame_names.append(name)
        return frame_names.index(name)

    foot_frame = np.array([index(f) for f in config.foot_frames])
    corners = []
    for foot in config.foot_frames:
        try:
            corners.append(config.sole(foot).corners())
        except KeyError:
            raise ConfigError(config.source, "soles", f"no sole configured for foot frame {foot!r}") from None
    foot_bodies = _foot_bodies(model, tuple(config.foot_frames))
    prims = config.primitives
    prim_frame = np.array([index(p.frame) for p in prims], dtype=np.int64)
    prim_names = tuple(p.name for p in prims)
    pairs = {(int(i), int(j)) for i, j in robot.collision.pairs}
    effort = np.array(robot.effort_limit, dtype=np.float64)
    effort = np.where((effort <= 0) | (effort > 1e29), np.inf, effort)
    return Body(
        model=model,
        dof_names=tuple(robot.dof_names),
        lower=np.asarray(robot.lower, dtype=np.float64),
        upper=np.asarray(robot.upper, dtype=np.float64),
        velocity_limit=np.asarray(robot.velocity_limit, dtype=np.float64),
        effort_limit=effort,
        mass=float(pin.computeTotalMass(model)),
        frame_ids=np.array([robot.frame_id(n) for n in frame_names], dtype=np.int64),
        frame_names=tuple(frame_names),
        prim_names=prim_names,
        prim_frame=prim_frame,
        prim_a=np.array([p.a for p in prims], dtype=np.float64).reshape(-1, 3),
        prim_b=np.array([p.b for p in prims], dtype=np.float64).reshape(-1, 3),
        prim_radius=np.array([p.radius for p in prims], dtype=np.float64),
        prim_is_foot=np.array([p.frame in foot_bodies for p in prims], dtype=bool),
        foot_frame=foot_frame,
        sole_corners=np.stack(corners),
        pairs=np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2),
        robot=robot,
    )

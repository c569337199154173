"""World-space drawables of a clip, for every frame at once.

Robot: the capsules of the robot config (``core.robot`` primitives), end points
moved into the world by batched forward kinematics. Human: one segment per bone
(joint to parent) of the canonical human motion, lowered so its floor is z = 0.
Units metres, world Z-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.records.human_motion import HumanMotion
from core.records.robot_motion import RobotMotion
from core.robot import Robot, load_robot

#: Body side of a part, from its name: 0 centre, 1 left, 2 right.
CENTRE, LEFT, RIGHT = 0, 1, 2

HUMAN_BONE_RADIUS_M = 0.025


def side_of(name: str) -> int:
    low = name.lower()
    if low.startswith(("left", "l_")) or "left" in low:
        return LEFT
    if low.startswith(("right", "r_")) or "right" in low:
        return RIGHT
    return CENTRE


@dataclass(frozen=True)
class Segments:
    """Capsules over time.

    Attributes:
        a, b: (T, N, 3) end points, m, world Z-up.
        radius: (N,) m.
        side: (N,) int, CENTRE / LEFT / RIGHT.
        names: (N,) part names.
    """

    a: np.ndarray
    b: np.ndarray
    radius: np.ndarray
    side: np.ndarray
    names: tuple[str, ...]


@lru_cache(maxsize=4)
def robot_model(name: str) -> Robot:
    """The robot of a motion (built-in name or YAML path), loaded once per process."""
    return load_robot(name)


def robot_segments(motion: RobotMotion, robot: Robot | None = None) -> Segments:
    """The robot's capsules over the clip (requires the config to have primitives)."""
    robot = robot or robot_model(motion.robot)
    prims = robot.config.primitives
    if not prims:
        raise ValueError(f"robot {robot.name} has no collision primitives to draw")
    frames = sorted({p.frame for p in prims})
    pos, rot = robot.frame_placements(motion.root_pos, motion.root_rot, motion.dof_pos, frames)
    index = np.array([frames.index(p.frame) for p in prims])
    local_a = np.array([p.a for p in prims])
    local_b = np.array([p.b for p in prims])
    p_f, r_f = pos[:, index], rot[:, index]                          # (T, N, 3), (T, N, 3, 3)
    a = p_f + np.einsum("tnij,nj->tni", r_f, local_a)
    b = p_f + np.einsum("tnij,nj->tni", r_f, local_b)
    return Segments(a, b, np.array([p.radius for p in prims]), np.array([side_of(p.name) for p in prims]),
                    tuple(p.name for p in prims))


def human_segments(human: HumanMotion) -> Segments:
    """Bones of the human skeleton (root excluded), floor moved to z = 0."""
    pos = np.asarray(human.positions, dtype=np.float64) - np.array([0.0, 0.0, human.floor_height])
    child = np.array([j for j, p in enumerate(human.parents) if p >= 0])
    parent = np.asarray(human.parents)[child]
    names = tuple(human.joint_names[j] for j in child)
    return Segments(pos[:, parent], pos[:, child], np.full(len(child), HUMAN_BONE_RADIUS_M),
                    np.array([side_of(n) for n in names]), names)


def robot_feet(motion: RobotMotion, robot: Robot | None = None) -> np.ndarray:
    """(T, 2, 3) world positions of the [left, right] foot frames, m."""
    robot = robot or robot_model(motion.robot)
    pos, _ = robot.frame_placements(motion.root_pos, motion.root_rot, motion.dof_pos, list(robot.config.foot_frames))
    return pos


def human_feet(human: HumanMotion) -> np.ndarray:
    """(T, 2, 3) [left, right] ankle keypoints of the human, floor at z = 0."""
    pos = human.keypoint_positions(("left_ankle", "right_ankle"))
    return pos - np.array([0.0, 0.0, human.floor_height])

"""The one place the adapt stage calls the retarget stage's IK (a short clean-up pass).

Targets per frame: the key links where the decoded motion puts them, except the
feet while the raw clip has them in contact: over each contact run a foot is
held at one place, the mean of its decoded positions over the run (with its
decoded orientation at the run's middle), so a planted foot does not slide even
where the human's (raw) foot did. (Measured on the 14 real clips: holding it at
the raw foot's place instead needs more IK steps than the pass has and gives
more slide and jerk.) The retarget
stage's differential IK adds the joint limits, joint speed limits, ground rows
and self-collision rows. Keeping the coupling in this module lets the solver's
internals move (``stages/retarget/ik/``) with one import to change here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

from core.contacts import spans_of
from core.records.robot_motion import RobotMotion

if TYPE_CHECKING:
    from core.robot import Robot


def _solver() -> tuple[type, type, type]:
    """The retarget stage's per-frame IK (``DiffIK``), its frame targets and settings types."""
    from stages.retarget.ik import DiffIK, FrameTargets, SolverSettings

    return DiffIK, FrameTargets, SolverSettings


def refine(robot: Robot, raw: RobotMotion, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray,
           iterations: int = 1, foot_weight: float = 10.0, gate: np.ndarray | None = None) -> np.ndarray:
    """Configurations q (T, 7 + D) after a short IK pass over the decoded motion.

    Args:
        robot: the ``core.robot.Robot``.
        raw: the raw retarget (its foot contacts and frame rate).
        root_pos, root_rot (xyzw), dof_pos: the decoded motion, (T, 3), (T, 4), (T, D).
        iterations: QP steps per frame (warm-started from the previous frame's solution).
        foot_weight: position weight of a planted foot relative to the other links.
        gate: (T,) weight in [0, 1] of the correction per frame (default 1): frames at 0 keep
            the decoded configuration, a planted foot's target moves from its decoded place
            to the planted one with the weight (continuous where the gate fades).
    """
    DiffIK, FrameTargets, SolverSettings = _solver()
    frames = tuple(robot.config.key_links)
    feet = tuple(robot.config.foot_frames)
    foot_index = np.array([frames.index(f) for f in feet])
    corners = []
    for f in feet:
        try:
            corners.append(robot.config.sole(f).corners())
        except KeyError:
            corners.append(np.zeros((4, 3)))
    settings = SolverSettings(iterations=max(1, int(iterations)), chord_steps=0, posture_scale=0.1)
    rot_tasks = np.array([0, *foot_index])                       # root and feet orientations
    ik = DiffIK(robot, frames, foot_index, np.stack(corners), settings, rot_tasks=rot_tasks)
    pos, quat = robot.forward_kinematics(root_pos, root_rot, dof_pos, frames)
    rot = Rotation.from_quat(quat.reshape(-1, 4)).as_matrix().reshape(*quat.shape[:2], 3, 3)
    contacts = np.asarray(raw.contacts, dtype=bool)
    T = root_pos.shape[0]
    planted_pos = pos[:, foot_index].copy()
    planted_rot = rot[:, foot_index].copy()
    for side in range(2):
        for a, b in spans_of(contacts[:, side]):
            planted_pos[a:b, side] = pos[a:b, foot_index[side]].mean(axis=0)
            planted_rot[a:b, side] = rot[(a + b) // 2, foot_index[side]]
    pos_w = np.ones(len(frames))
    rot_w = np.zeros(len(frames))
    rot_w[rot_tasks] = 0.3
    out = np.concatenate([root_pos, root_rot, dof_pos], axis=1)
    dt = 1.0 / float(raw.fps)
    gate = np.ones(T) if gate is None else np.asarray(gate, dtype=np.float64)
    for t in np.flatnonzero(gate > 0):
        p, r = pos[t].copy(), rot[t].copy()
        w = pos_w.copy()
        rw = rot_w.copy()
        for side in range(2):
            if contacts[t, side]:
                k = foot_index[side]
                p[k] = p[k] + gate[t] * (planted_pos[t, side] - p[k])
                if gate[t] >= 0.5:
                    r[k] = planted_rot[t, side]
                w[k] = foot_weight
                rw[k] = foot_weight
        # each frame starts from its decoded configuration: the pass corrects the frame (planted
        # feet, limits, ground, collisions) without carrying the previous frame's lag into it
        seed = np.concatenate([root_pos[t], root_rot[t], dof_pos[t]])
        q = ik.solve_frame(seed, FrameTargets(p, r, w, rw), dt)
        out[t] = q
    return out

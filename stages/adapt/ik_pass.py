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

Speed (the IK is most of the adapter's applying time): only the frames the gate opens are
solved; forward kinematics runs on those and on the contact runs they touch (the planted
places); the per-frame targets are built for all solved frames at once; one solver per robot,
iteration count and thread is kept and reset between clips (building it costs ~90 ms, more
than solving 200 frames). None of this changes a number: the output is the same as solving
frame by frame with a fresh solver (``tests/test_adapt_evidence.py``).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

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


_SOLVERS = threading.local()          # per thread: robot -> {iterations: (DiffIK, frames, foot_index)}


def _new_ik(robot: Robot, iterations: int) -> tuple[Any, tuple[str, ...], np.ndarray]:
    """A fresh ``DiffIK`` of the pass on the robot's key links (root and feet orientations)."""
    DiffIK, _, SolverSettings = _solver()
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
    return DiffIK(robot, frames, foot_index, np.stack(corners), settings, rot_tasks=rot_tasks), frames, foot_index


def _reset(ik: Any) -> None:
    """A kept solver as a fresh one: no previous step, no attraction, counters at zero."""
    from stages.retarget.ik import QPStatus

    ik.low_acceleration.last_step = np.zeros_like(ik.low_acceleration.last_step)
    ik.attraction.frames = 0
    ik.attraction.w2 = 0.0
    ik.attraction.q = np.zeros_like(ik.attraction.q)
    ik.status = QPStatus.OK
    ik.qp.fallbacks = 0
    ik.barrier.near = False


def pass_solver(robot: Robot, iterations: int = 1) -> tuple[Any, tuple[str, ...], np.ndarray]:
    """(DiffIK, task frames, foot indices) of the pass, kept per robot, iteration count and
    thread (a ``DiffIK`` owns its pinocchio data: never shared between threads), reset."""
    cache = getattr(_SOLVERS, "by_robot", None)
    if cache is None:
        cache = _SOLVERS.by_robot = weakref.WeakKeyDictionary()
    mine = cache.setdefault(robot, {})
    key = max(1, int(iterations))
    if key not in mine:
        mine[key] = _new_ik(robot, key)
    _reset(mine[key][0])
    return mine[key]


def refine(robot: Robot, raw: RobotMotion, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray,
           iterations: int = 1, foot_weight: float = 10.0, gate: np.ndarray | None = None) -> np.ndarray:
    """Configurations q (T, 7 + D) after a short IK pass over the decoded motion.

    Args:
        robot: the ``core.robot.Robot``.
        raw: the raw retarget (its foot contacts and frame rate).
        root_pos, root_rot (xyzw), dof_pos: the decoded motion, (T, 3), (T, 4), (T, D).
        iterations: QP steps per frame (each frame starts from its decoded configuration).
        foot_weight: position weight of a planted foot relative to the other links.
        gate: (T,) weight in [0, 1] of the correction per frame (default 1): frames at 0 keep
            the decoded configuration, a planted foot's target moves from its decoded place
            to the planted one with the weight (continuous where the gate fades).
    """
    _, FrameTargets, _ = _solver()
    T = root_pos.shape[0]
    out = np.concatenate([root_pos, root_rot, dof_pos], axis=1)
    gate = np.ones(T) if gate is None else np.asarray(gate, dtype=np.float64)
    solve = np.flatnonzero(gate > 0)
    if not len(solve):
        return out
    ik, frames, foot_index = pass_solver(robot, iterations)
    contacts = np.asarray(raw.contacts, dtype=bool)
    # forward kinematics where it is read: the solved frames and the contact runs touching them
    opened = gate > 0
    needed = opened.copy()
    runs = []
    for side in range(2):
        for a, b in spans_of(contacts[:, side]):
            if opened[a:b].any():
                runs.append((side, a, b))
                needed[a:b] = True
    at = np.flatnonzero(needed)
    M = len(frames)
    pos = np.zeros((T, M, 3))
    rot = np.zeros((T, M, 3, 3))
    p_at, q_at = robot.forward_kinematics(root_pos[at], root_rot[at], dof_pos[at], frames)
    pos[at] = p_at
    rot[at] = Rotation.from_quat(q_at.reshape(-1, 4)).as_matrix().reshape(*q_at.shape[:2], 3, 3)
    planted_pos = pos[:, foot_index].copy()
    planted_rot = rot[:, foot_index].copy()
    for side, a, b in runs:
        planted_pos[a:b, side] = pos[a:b, foot_index[side]].mean(axis=0)
        planted_rot[a:b, side] = rot[(a + b) // 2, foot_index[side]]
    # the targets of every solved frame at once: a planted foot drawn to its place with the gate
    g = gate[solve]
    tp, tr = pos[solve], rot[solve]
    tw = np.ones((len(solve), M))
    trw = np.zeros((len(solve), M))
    trw[:, np.array([0, *foot_index])] = 0.3
    for side in range(2):
        c = contacts[solve, side]
        k = foot_index[side]
        tp[c, k] = tp[c, k] + g[c, None] * (planted_pos[solve[c], side] - tp[c, k])
        firm = c & (g >= 0.5)
        tr[firm, k] = planted_rot[solve[firm], side]
        tw[c, k] = foot_weight
        trw[c, k] = foot_weight
    dt = 1.0 / float(raw.fps)
    for i, t in enumerate(solve):
        # each frame starts from its decoded configuration: the pass corrects the frame (planted
        # feet, limits, ground, collisions) without carrying the previous frame's lag into it
        out[t] = ik.solve_frame(out[t].copy(), FrameTargets(tp[i], tr[i], tw[i], trw[i]), dt)
    return out

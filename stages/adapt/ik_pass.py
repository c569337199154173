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
than solving 200 frames). With one QP step per frame (the default) every frame's constraint
rows are taken at its decoded configuration, known before the loop: the collision geometry
of all solved frames (closest points of every capsule pair, capsule ends below the ground
activation) is computed in one batched pass (:class:`CollisionPlan`) and the solver's
self-collision barrier and ground capsule rows read their frame's entry instead of searching
per frame (the rows themselves, Jacobians and step bounds, are still the solver's). The
output equals a fresh solver's frame by frame to round-off (batched vs pinocchio forward
kinematics; ``tests/test_adapt_evidence.py``).
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


class CollisionPlan:
    """The self-collision and ground-capsule geometry of known configurations, batched.

    For configurations ``q`` (N, 7 + D) it holds, per configuration, the capsule pairs closer
    than the barrier's activation distance (at most its ``max_rows`` closest, in the order the
    barrier takes them), their closest core-segment points, and the non-foot capsule end points
    lower than the ground rows' activation: what :meth:`SelfCollisionBarrier.rows` and
    :meth:`GroundRows.capsule_rows` find per frame (world frame, m). Stored flat, frame-major,
    with per-frame offsets; :meth:`pairs` and :meth:`low` give the current ``frame``'s entries."""

    def __init__(self, ik: Any, robot: Robot, q: np.ndarray):
        from core.robot.collision import closest_points_segments

        col = ik.capsules.collision
        barrier, ground = ik.barrier, ik.ground
        N = len(q)
        self.frame = 0
        pos, rot = robot.frame_placements(q[:, :3], q[:, 3:7], q[:, 7:], col.frames)
        a, b = col.segments(pos, rot)                                         # (N, P, 3) core segment ends
        # pairs: the barrier's broad phase (bounding spheres), then closest points of the candidates
        self._order: dict[int, np.ndarray] = {}
        if len(barrier.pairs):
            i, j = barrier.pairs[:, 0], barrier.pairs[:, 1]
            centre2 = a + b
            gap = centre2[:, j] - centre2[:, i]
            tc, pc = np.nonzero(np.einsum("npk,npk->np", gap, gap) < barrier._thresh2)
            ca, cb = closest_points_segments(a[tc, i[pc]], b[tc, i[pc]], a[tc, j[pc]], b[tc, j[pc]])
            diff = cb - ca
            signed = np.linalg.norm(diff, axis=-1) - barrier.pair_radius[pc]
            close = signed < barrier.activation
            self._pt, self._pp = tc[close], pc[close]
            self._ca, self._diff, self._signed = ca[close], diff[close], signed[close]
            self._poff = np.searchsorted(self._pt, np.arange(N + 1))
            for t in np.flatnonzero(np.diff(self._poff) > barrier.max_rows):     # the closest max_rows, closest first
                lo, hi = self._poff[t], self._poff[t + 1]
                self._order[int(t)] = lo + np.argsort(self._signed[lo:hi])[: barrier.max_rows]
        else:
            self._poff = np.zeros(N + 1, dtype=int)
        g = ground.prims
        if len(g):
            ends = np.stack([a[:, g], b[:, g]], axis=-1)                     # (N, G, 3, 2)
            low = ends[:, :, 2] - ground.radius[:, None]                      # (N, G, 2) lowest surface z
            tl, n, e = np.nonzero(low < ground.activation)
            self._lprim, self._lend = g[n], e
            self._lpoint, self._llow = ends[tl, n, :, e], low[tl, n, e]
            self._loff = np.searchsorted(tl, np.arange(N + 1))
        else:
            self._loff = np.zeros(N + 1, dtype=int)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(pair indices, closest points on the a capsules (K, 3), b - a (K, 3), signed distances (K,))
        of the current frame, or None when no pair is within the activation distance."""
        t = self.frame
        lo, hi = self._poff[t], self._poff[t + 1]
        if hi == lo:
            return None
        order = self._order.get(t)
        sel: np.ndarray | slice = slice(lo, hi) if order is None else order
        return self._pp[sel], self._ca[sel], self._diff[sel], self._signed[sel]

    def low(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(capsules, ends (0: a, 1: b), end points (K, 3), lowest surface heights (K,)) of the
        current frame's capsules below the ground activation, or None."""
        t = self.frame
        lo, hi = self._loff[t], self._loff[t + 1]
        if hi == lo:
            return None
        return self._lprim[lo:hi], self._lend[lo:hi], self._lpoint[lo:hi], self._llow[lo:hi]


def _jacobians(caps: Any, k: np.ndarray) -> np.ndarray:
    """(len(k), 6, nv) Jacobians of collision frames ``k`` (repeats allowed), each distinct frame
    asked of the solver's capsule kinematics once."""
    distinct, inverse = np.unique(k, return_inverse=True)
    return caps.jacobians(distinct)[inverse.ravel()]


class _PlannedBarrier:
    """The solver's self-collision barrier reading the current frame of a :class:`CollisionPlan`."""

    def __init__(self, inner: Any, plan: CollisionPlan):
        self.inner, self.plan = inner, plan

    @property
    def near(self) -> bool:
        return bool(self.inner.near)

    @near.setter
    def near(self, value: bool) -> None:
        self.inner.near = value

    def rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        from stages.retarget.ik.capsules import point_rows

        inner = self.inner
        inner.near = False
        inner.active = np.zeros(0, dtype=int)
        entry = self.plan.pairs()
        if entry is None:
            return None
        close, ca, diff, signed = entry
        caps = inner.capsules
        n = diff / np.maximum(np.linalg.norm(diff, axis=1), 1e-9)[:, None]
        k = caps.collision.prim_frame[inner.pairs[close].T.ravel()]          # frames of the a's, then the b's
        r = np.concatenate([ca, ca + diff]) - caps.H[k, :3, 3]
        both = point_rows(_jacobians(caps, k), r, np.concatenate([-n, n]))
        m = len(close)
        inner.active = close
        rows, lows = both[:m] + both[m:], inner.margin - signed
        inner._step_bounds(rows, lows)
        return rows, lows

    def narrow(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self.inner.narrow(lo, hi)


class _PlannedGround:
    """The solver's ground rows with the capsule rows read from the current frame of a plan."""

    def __init__(self, inner: Any, plan: CollisionPlan):
        self.inner, self.plan = inner, plan

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def capsule_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        from stages.retarget.ik.capsules import point_rows

        inner = self.inner
        inner.active = (np.zeros(0, dtype=int), np.zeros(0, dtype=int))
        entry = self.plan.low()
        if entry is None:
            return None
        prim, end, point, low = entry
        inner.active = (prim, end)
        caps = inner.capsules
        k = caps.collision.prim_frame[prim]
        return point_rows(_jacobians(caps, k), point - caps.H[k, :3, 3]), -low


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
    plan = CollisionPlan(ik, robot, out[solve]) if ik.settings.iterations == 1 else None
    barrier, ground = ik.barrier, ik.ground
    if plan is not None:
        ik.barrier, ik.ground = _PlannedBarrier(barrier, plan), _PlannedGround(ground, plan)
    try:
        for i, t in enumerate(solve):
            # each frame starts from its decoded configuration: the pass corrects the frame (planted
            # feet, limits, ground, collisions) without carrying the previous frame's lag into it
            if plan is not None:
                plan.frame = i
            out[t] = ik.solve_frame(out[t].copy(), FrameTargets(tp[i], tr[i], tw[i], trw[i]), dt)
    finally:
        ik.barrier, ik.ground = barrier, ground
    return out

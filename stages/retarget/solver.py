"""Differential inverse kinematics: pink's task/limit formulation, solved with daqp.

The quadratic program of one IK step, in the tangent displacement ``dq``
(nv = 6 free-flyer + D joints), is pink's:

    minimise   sum_m  w_p,m^2 |J_p,m dq - g e_p,m|^2 + w_r,m^2 |J_r,m dq - g e_r,m|^2   (FrameTasks)
             + sum_l  w_l^2 |(J_p,c(l) - J_p,p(l)) dq - (e_p,c(l) - e_p,p(l))|^2      (limb tasks)
             + sum_j  w_j^2 (q_j + dq_j - q_ref,j)^2                                 (PostureTask)
             + w_a^2 |q + dq - q_prev - (q_prev - q_prev2)|^2  (joints)               (LowAccelerationTask)
             + (damping + lm_damping |weighted task error|^2) |dq|^2                 (Tikhonov + LM)
    subject to  k (q_min - q) <= dq_joints <= k (q_max - q)                         (ConfigurationLimit)
                |q + dq - q_prev| <= v_max / fps                                   (VelocityLimit)
                z_c + J_z,c dq >= 0   for the sole corners and low capsules        (ground)
                d_i + n_i^T (J_b - J_a) dq >= margin for the closest capsule pairs  (self-collision barrier)
                |dq_j| <= collision_step  for the joints moving a capsule of a pair in near contact

The limb tasks track the vector from a limb's parent frame to its child frame (hip -> knee,
knee -> ankle, shoulder -> elbow, elbow -> wrist): pink's RelativeFrameTask in position only, in
world axes. Without them a parent that cannot reach its target (the human's spine bends further
than the waist's pitch range, so the torso and the shoulders hanging from it fall short) drags its
limbs' absolute targets away from the human's limb directions.

Two implementations share it:

* :func:`converge_pink` runs pink itself (``FrameTask``, ``PostureTask``,
  ``ConfigurationLimit``, ``solve_ik(..., solver="daqp")``) to convergence; the
  first frame of a clip is solved this way from several starts and the best
  is kept, so no clip starts in a local minimum (mirrored/twisted limbs).
* :class:`DiffIK` builds the same QP for every following frame with all tasks
  stacked in one array (frame Jacobians from one ``computeJointJacobians``,
  errors as world-frame position differences and rotation logs), adds the
  ground and self-collision rows, and calls daqp directly: pink's per-task
  Python overhead is what limits its throughput, not the QP. One full step
  per frame (warm start from the previous frame) is followed by a cheap chord
  step (errors re-evaluated, same Jacobians and rows).

:func:`converge_pink` has no limb tasks; each first-frame start is polished by :class:`DiffIK`
steps, which have them, and the starts are compared on the full objective (:meth:`DiffIK.cost`).

Cost per frame on G1 (LAFAN1 dance/walk, this machine, ~470 us in all; the limb tasks and the
wider collision activation of retarget version 4 added ~50 us): joint Jacobians and task
placements ~20 us; ground and self-collision rows ~90 us (capsule placements read through
references into ``data.oMf``, end points from one batched product, the broad phase over 149 pairs
as one matrix product, closest points of the ~17 candidate pairs from their Gram matrices, the
barrier rows of the a and b sides stacked in one product); sole rows ~15 us; each daqp solve
~45 us; the rest is task errors (rotation logs) and the chord step.

A periodic reseed check (:class:`SolverSettings`, ``reseed_*``) compares the
tracked solution with a fresh solve from the default posture and draws the
robot back when tracking got stuck in a flipped-limb local minimum.

Units: metres, radians, seconds; world Z-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import daqp
import numpy as np
import pinocchio as pin

if TYPE_CHECKING:
    from core.robot.model import Robot

LWA = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
_INF = 1e30


@dataclass(frozen=True)
class SolverSettings:
    """IK settings.

    Attributes:
        iterations: full QP steps per frame (kinematics, Jacobians, constraint rows),
            warm-started from the previous frame.
        chord_steps: cheaper steps after each full one that re-evaluate the task errors
            but reuse its Jacobians, Hessian and constraint rows.
        chord_threshold: skip the chord steps when the last step moved no joint more than
            this (rad): the linearisation error is then negligible.
        damping: Tikhonov weight on |dq|^2 (cost / tangent unit^2).
        lm_damping: Levenberg-Marquardt damping: adds ``lm_damping * |weighted task error|^2``
            to the Tikhonov weight (pink's ``lm_damping``), which tames steps near singular
            (stretched) limbs and unreachable targets.
        acceleration_weight: pink LowAccelerationTask weight on the joints: cost per rad of
            change between this frame's and the previous frame's joint displacement
            (damps chatter of weakly constrained joints such as the wrists).
        config_limit_gain: pink ConfigurationLimit gain in (0, 1].
        velocity_limit_scale: multiplies the robot's joint velocity limits (rad/s).
        posture_scale: multiplies the robot's posture weights.
        first_frame_starts: starts for the first frame (the first is the robot's
            default posture, the others perturbed around it).
        first_frame_iterations: maximum pink steps per start.
        first_frame_tolerance: stop a start when |dq|_inf falls below this (rad or m).
        first_frame_good_cost: no further starts once a start reaches an IK objective below
            this (cost units; a near-exact fit is not a local minimum).
        start_noise: half-width (rad) of the uniform joint perturbation of extra starts.
        ground: add the ground rows (sole corners and low capsules stay at z >= 0).
        ground_activation: capsules lower than this (m) get a ground row.
        self_collision: add the self-collision rows.
        collision_activation: pairs closer than this (m) get a row.
        collision_margin: the rows keep capsule surfaces this far apart (m).
        max_collision_rows: at most this many (closest) pairs per step.
        collision_step: while a checked pair is closer than ``collision_step_distance``, no joint
            that moves either of its capsules turns more than this (rad) in one QP step (0: no
            bound): the barrier rows are linearised, and a large step (a limb task pulling an arm
            across the chest) could carry a capsule through another.
        collision_step_distance: surface distance (m) below which a pair bounds its joints' steps.
        seed: seed of the start perturbations.
        reseed_interval_s: every this many seconds (0: never) the tracked solution's IK
            objective is checked; when it is above ``reseed_min_cost`` and ``reseed_jump`` times
            the median of the earlier checks, the frame is also
            solved afresh from the default posture (``reseed_iterations`` steps) and, if that
            is better by the factor ``reseed_ratio``, the robot is drawn to the fresh solution
            over ``reseed_attract_s`` seconds (posture-like attraction of weight
            ``reseed_attract_weight``, within the velocity limits). This recovers from
            flipped-limb local minima after falls or ground contact. After a try that finds
            nothing better the next 1, 2, 4, then 8 high-cost checks are skipped.
        limb_direction_weight: weight (cost / m) of the limb tasks: for each limb (parent task
            frame -> child task frame, e.g. shoulder -> elbow) the vector between the two frames
            tracks the vector between their targets. Unlike the frames' absolute position tasks it
            does not depend on where the parent ended up, so a parent that cannot reach its target
            (a torso beyond the waist's range carries the shoulders away) does not tilt the limbs.
        limb_stance_gain: factor on the thigh and shin limb tasks of a leg whose foot is locked in
            contact (blended with the lock): below 1 the landed foot position wins over the leg
            directions, which keeps stance feet from sliding.
    """

    iterations: int = 1
    chord_steps: int = 1
    chord_threshold: float = 0.02
    damping: float = 1e-4
    lm_damping: float = 0.0
    acceleration_weight: float = 0.05
    config_limit_gain: float = 0.5
    velocity_limit_scale: float = 1.0
    posture_scale: float = 1.0
    first_frame_starts: int = 4
    first_frame_iterations: int = 100
    first_frame_tolerance: float = 1e-5
    first_frame_good_cost: float = 0.002
    start_noise: float = 0.5
    ground: bool = True
    ground_activation: float = 0.03
    self_collision: bool = True
    collision_activation: float = 0.08
    collision_margin: float = 0.005
    max_collision_rows: int = 32
    collision_step: float = 0.1
    collision_step_distance: float = 0.03
    seed: int = 0
    reseed_interval_s: float = 0.5
    reseed_min_cost: float = 0.01
    reseed_ratio: float = 0.3
    reseed_jump: float = 3.0
    reseed_iterations: int = 15
    reseed_attract_s: float = 0.3
    reseed_attract_weight: float = 1.0
    limb_direction_weight: float = 2.0
    limb_stance_gain: float = 0.5


def log3(R: np.ndarray) -> np.ndarray:
    """Rotation vectors (N, 3) of rotation matrices (N, 3, 3) (pinocchio's log3, one call each:
    cheaper than a vectorised numpy version at the handful of rotations per frame)."""
    return np.array([pin.log3(r) for r in R]).reshape(-1, 3)


def _closest_points(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points of segment pairs (K, 3) for the barrier rows: a lean variant of
    ``core.robot.collision.closest_points_segments`` (fewer array operations, which is
    what costs at a few pairs per frame): s from the lines' solution, then t, then s again,
    each clamped to [0, 1]."""
    d1 = q1 - p1
    d2 = q2 - p2
    r = p1 - p2
    a = np.einsum("ki,ki->k", d1, d1) + 1e-12
    e = np.einsum("ki,ki->k", d2, d2) + 1e-12
    b = np.einsum("ki,ki->k", d1, d2)
    c = np.einsum("ki,ki->k", d1, r)
    f = np.einsum("ki,ki->k", d2, r)
    s = np.clip((b * f - c * e) / (a * e - b * b + 1e-12), 0.0, 1.0)
    t = np.clip((b * s + f) / e, 0.0, 1.0)
    s = np.clip((b * t - c) / a, 0.0, 1.0)
    return p1 + d1 * s[:, None], p2 + d2 * t[:, None]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross products of (K, 3) arrays (cheaper than np.cross for small K)."""
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


@dataclass(frozen=True)
class FrameTargets:
    """Targets of one frame: pos (M, 3) m, rot (M, 3, 3), weights pos_w (M,), rot_w (M,), and
    limb_w (L,) factors on the limb tasks' weight (None: 1)."""

    pos: np.ndarray
    rot: np.ndarray
    pos_w: np.ndarray
    rot_w: np.ndarray
    limb_w: np.ndarray | None = None


class DiffIK:
    """Stacked differential IK of one robot on a fixed list of task frames.

    One instance per thread: it owns its pinocchio data and work arrays.
    """

    def __init__(self, robot: Robot, frames: tuple[str, ...], foot_index: np.ndarray, sole_corners: np.ndarray,
                 settings: SolverSettings = SolverSettings(), rot_tasks: np.ndarray | None = None,
                 limbs: np.ndarray | None = None):
        """
        Args:
            robot: a ``core.robot.Robot``.
            frames: (M,) task frame names.
            foot_index: (2,) index into ``frames`` of the left and right foot.
            sole_corners: (2, C, 3) sole corners in each foot frame (m).
            settings: see :class:`SolverSettings`.
            rot_tasks: indices of the frames with an orientation task (default: all).
            limbs: (L, 2) indices into ``frames`` of (parent, child) pairs whose relative position
                is a limb task (weight ``settings.limb_direction_weight``; none by default).
        """
        self.robot = robot
        self.model = robot.model
        self.data = robot.model.createData()
        self.oMf = self.data.oMf
        self.settings = settings
        self.frames = tuple(frames)
        self.fids = robot.frame_ids(frames)
        self.nv = self.model.nv
        self.M = len(frames)
        self.rot_idx = np.arange(self.M) if rot_tasks is None else np.asarray(rot_tasks, dtype=int)
        self.lower = np.asarray(robot.lower, dtype=np.float64)
        self.upper = np.asarray(robot.upper, dtype=np.float64)
        self.vmax = np.asarray(robot.velocity_limit, dtype=np.float64) * settings.velocity_limit_scale
        self.q_ref = np.asarray(robot.default_pose, dtype=np.float64)
        w = np.asarray(robot.posture_weights, dtype=np.float64) * settings.posture_scale
        self.posture_w2 = w * w
        self.foot_index = np.asarray(foot_index, dtype=int)
        self.sole_corners = np.asarray(sole_corners, dtype=np.float64)
        self.J = np.zeros((self.M, 6, self.nv))
        self.Hm = np.zeros((self.M, 4, 4))
        lw = float(settings.limb_direction_weight)
        self.limbs = np.zeros((0, 2), dtype=int) if limbs is None or lw <= 0.0 else \
            np.asarray(limbs, dtype=int).reshape(-1, 2)
        self.limb_w = lw
        self._limb_p, self._limb_c = self.limbs[:, 0].copy(), self.limbs[:, 1].copy()
        L = len(self.limbs)
        self._limb_w_now = np.full(L, lw)                           # limb weights of the current frame
        R3 = 3 * self.M + 3 * len(self.rot_idx)
        self.A = np.zeros((R3 + 3 * L, self.nv))
        self.A_pos = self.A[: 3 * self.M].reshape(self.M, 3, self.nv)          # views into A
        self.A_rot = self.A[3 * self.M:R3].reshape(len(self.rot_idx), 3, self.nv)
        self.A_limb = self.A[R3:].reshape(L, 3, self.nv)
        self._r3 = R3
        self.bvec = np.zeros(self.A.shape[0])
        self.H_base = settings.damping * np.eye(self.nv)
        self.H_base[6:, 6:] += np.diag(self.posture_w2)
        self.acc_w2 = settings.acceleration_weight ** 2
        self.H_base[6:, 6:] += self.acc_w2 * np.eye(self.nv - 6)
        self.last_step = np.zeros(self.nv - 6)                  # previous frame's joint displacement
        self.attract_w2 = 0.0                                   # reseed attraction (see SolverSettings)
        self.attract_q = np.zeros(self.nv - 6)
        self.attract_frames = 0
        self._base_lo = np.full(6, -_INF)                         # the floating base is free
        self._base_hi = np.full(6, _INF)
        max_rows = self.sole_corners.shape[0] * self.sole_corners.shape[1] + 2 * len(robot.collision.primitives) \
            + settings.max_collision_rows
        self._inf = np.full(max_rows, _INF)
        self._sense = np.zeros(max_rows + self.nv, dtype=np.int32)
        self.failures = 0
        self._self_rows = 0                     # self-collision rows at the end of the last rows
        self._near = False                      # the last rows hold a barrier of a pair in near contact
        self._step_lo = np.zeros(self.nv - 6)   # then: joint step bounds (rad) of the joints that move it
        self._step_hi = np.zeros(self.nv - 6)
        # capsules: world placements of their frames, bounding spheres for the broad phase
        col = robot.collision
        self.collision = col
        self.cap_fids = robot.frame_ids(col.frames)
        self.cap_H = np.zeros((len(col.frames), 4, 4))
        shared = [(k, self.frames.index(f)) for k, f in enumerate(col.frames) if f in self.frames]
        self.cap_from_task = np.array([k for k, _ in shared], dtype=int)
        self.task_of_cap = np.array([m for _, m in shared], dtype=int)
        self.cap_fetch = np.array([k for k in range(len(col.frames)) if k not in set(self.cap_from_task)], dtype=int)
        # references into data.oMf (pinocchio updates them in place): reading them skips the vector lookup
        self._task_se3 = [self.oMf[fid] for fid in self.fids]
        self._cap_se3 = [self.oMf[self.cap_fids[k]] for k in self.cap_fetch]
        feet = {self.frames[i] for i in self.foot_index}
        self.ground_prims = np.array([i for i, p in enumerate(col.primitives) if p.frame not in feet], dtype=int)
        self.half_len = 0.5 * np.linalg.norm(col.b_local - col.a_local, axis=1)
        P = len(col.primitives)
        # capsule core end points in homogeneous frame coordinates, columns a and b: (P, 4, 2)
        self.ends_h = np.concatenate([np.stack([col.a_local, col.b_local], axis=2), np.ones((P, 1, 2))], axis=1)
        self.ground_radius = col.radius[self.ground_prims]
        self._ones3 = np.ones(3)
        K = len(col.pairs)
        if K:
            i, j = col.pairs[:, 0], col.pairs[:, 1]
            self.pair_reach = self.half_len[i] + self.half_len[j] + col.radius[i] + col.radius[j]
            self.pair_radius = col.radius[i] + col.radius[j]
        else:
            self.pair_reach = self.pair_radius = np.zeros(0)
        # broad phase: (2 c_j - 2 c_i) = pair_diff @ (a + b); a pair is a candidate when its bounding spheres
        # are closer than the activation distance: |2 c_j - 2 c_i|^2 < (2 (reach + activation))^2
        self.pair_diff = np.zeros((K, P))
        self.pair_diff[np.arange(K), col.pairs[:, 1]] += 1.0
        self.pair_diff[np.arange(K), col.pairs[:, 0]] -= 1.0
        self.pair_thresh2 = (2.0 * (self.pair_reach + settings.collision_activation)) ** 2
        # [a_i, b_i, a_j, b_j] @ _seg_basis = [d_i = b_i - a_i, d_j = b_j - a_j, r = a_i - a_j]
        self._seg_basis = np.array([[-1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, -1.0], [0.0, 1.0, 0.0]])
        self._weights = np.full((K, 3, 1), -1.0)

    # -- kinematics -------------------------------------------------------------------------------
    def kinematics(self, q: np.ndarray) -> None:
        """FK, task frame placements and world-aligned Jacobians at ``q``."""
        model, data = self.model, self.data
        pin.computeJointJacobians(model, data, q)
        pin.updateFramePlacements(model, data)
        J = self.J
        for m, fid in enumerate(self.fids):
            J[m] = pin.getFrameJacobian(model, data, fid, LWA)
        self.Hm[:] = [x.homogeneous for x in self._task_se3]

    def errors(self, tg: FrameTargets) -> tuple[np.ndarray, np.ndarray]:
        """Position (M, 3) and rotation (R, 3, rotation tasks only) errors, world frame, at the last FK."""
        ri = self.rot_idx
        R = self.Hm[ri, :3, :3]
        return tg.pos - self.Hm[:, :3, 3], log3(tg.rot[ri] @ np.swapaxes(R, 1, 2))

    def cost(self, q: np.ndarray, tg: FrameTargets) -> float:
        """IK objective at ``q`` (tasks + posture), for comparing starts."""
        self.placements(q)
        ep, er = self.errors(tg)
        dj = q[7:] - self.q_ref
        el = self._limb_errors(ep)
        lw = self._limb_scale(tg)
        return float(np.sum((tg.pos_w[:, None] * ep) ** 2) + np.sum((tg.rot_w[self.rot_idx, None] * er) ** 2)
                     + np.sum((lw[:, None] * el) ** 2) + np.sum(self.posture_w2 * dj * dj))

    def _limb_scale(self, tg: FrameTargets) -> np.ndarray:
        """(L,) weights of the limb tasks this frame (``limb_direction_weight`` times ``tg.limb_w``)."""
        if tg.limb_w is None or not len(self.limbs):
            return np.full(len(self.limbs), self.limb_w)
        return self.limb_w * tg.limb_w

    def _limb_errors(self, ep: np.ndarray) -> np.ndarray:
        """(L, 3) limb vector errors (target child - parent minus current child - parent), m, world,
        from the position errors ep (M, 3) of :meth:`errors`."""
        return ep[self._limb_c] - ep[self._limb_p]

    # -- constraint rows --------------------------------------------------------------------------
    def _sole_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Sole corners of both feet: rows G, lower bounds l of  G dq >= l  (z + J_z dq >= 0)."""
        fi = self.foot_index
        Hf = self.Hm[fi]
        r = np.einsum("sij,scj->sci", Hf[:, :3, :3], self.sole_corners)      # (2, C, 3) world offsets
        Jf = self.J[fi]
        rows = Jf[:, None, 2] + r[..., 1:2] * Jf[:, None, 3] - r[..., 0:1] * Jf[:, None, 4]
        return rows.reshape(-1, self.nv), -(Hf[:, None, 2, 3] + r[..., 2]).ravel()

    def _capsule_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows for low capsules (ground) and the closest self-collision pairs (barriers).

        Every quantity is computed for all capsules or candidate pairs at once, with few numpy calls
        (their fixed cost, not the arithmetic, is what a few dozen pairs per frame spend): world end
        points of every capsule from one batched product; the broad phase as one matrix product over
        the pairs (bounding spheres); the closest points of the candidate pairs from their Gram
        matrices (:func:`_closest_points`' formula)."""
        st = self.settings
        model, data, col = self.model, self.data, self.collision
        Hc = self.cap_H
        Hc[self.cap_from_task] = self.Hm[self.task_of_cap]              # placements the tasks already have
        Hc[self.cap_fetch] = [x.homogeneous for x in self._cap_se3]
        E = np.matmul(Hc[col.prim_frame], self.ends_h)                  # (P, 4, 2) world a, b (rows 0-2)
        rows, lows = [], []
        cache: dict[int, np.ndarray] = {}
        self._self_rows = 0

        def jacs(ks: np.ndarray) -> np.ndarray:
            for k in ks:
                if k not in cache:
                    cache[k] = pin.getFrameJacobian(model, data, self.cap_fids[k], LWA)
            return np.array([cache[k] for k in ks])

        if st.ground and len(self.ground_prims):
            g = self.ground_prims
            low = E[g, 2] - self.ground_radius[:, None]                    # (G, 2) lowest surface z
            n, e = np.nonzero(low < st.ground_activation)
            if len(n):
                i = g[n]
                k = col.prim_frame[i]
                Jk = jacs(k)
                r = E[i, :3, e] - Hc[k, :3, 3]
                rows.append(Jk[:, 2] + r[:, 1:2] * Jk[:, 3] - r[:, 0:1] * Jk[:, 4])
                lows.append(-low[n, e])
        if st.self_collision and len(col.pairs):
            D = self.pair_diff @ (E[:, :3, 0] + E[:, :3, 1])
            cand = np.flatnonzero(np.square(D) @ self._ones3 < self.pair_thresh2)
            if len(cand):
                K = len(cand)
                pairs = col.pairs[cand]
                X = E[pairs, :3].transpose(0, 2, 1, 3).reshape(K, 3, 4)   # columns a_i, b_i, a_j, b_j
                V = X @ self._seg_basis                                     # columns d_i, d_j, r
                G = np.matmul(V.transpose(0, 2, 1), V)
                a = G[:, 0, 0] + 1e-12
                e = G[:, 1, 1] + 1e-12
                b, c, f = G[:, 0, 1], G[:, 0, 2], G[:, 1, 2]
                s = np.minimum(np.maximum((b * f - c * e) / (a * e - b * b + 1e-12), 0.0), 1.0)
                t = np.minimum(np.maximum((b * s + f) / e, 0.0), 1.0)
                s = np.minimum(np.maximum((b * t - c) / a, 0.0), 1.0)
                w = self._weights[:K]
                w[:, 0, 0] = -s
                w[:, 1, 0] = t
                diff = np.matmul(V, w)[:, :, 0]                            # closest b - closest a
                dist = np.sqrt(np.square(diff) @ self._ones3)
                signed = dist - self.pair_radius[cand]
                close = np.flatnonzero(signed < st.collision_activation)
                if len(close):
                    if len(close) > st.max_collision_rows:
                        close = close[np.argsort(signed[close])[: st.max_collision_rows]]
                    # d/dq of n'(p_b - p_a): each closest point moves with its body, v_p = v - (p - o) x w;
                    # the a and b sides stacked: normal -n on a, +n on b
                    ca = X[close, :, 0] + V[close, :, 0] * s[close, None]
                    n = diff[close] / np.maximum(dist[close], 1e-9)[:, None]
                    k = col.prim_frame[pairs[close].T.ravel()]              # frames of the a's, then the b's
                    nn = np.concatenate([-n, n])
                    r = np.concatenate([ca, ca + diff[close]]) - Hc[k, :3, 3]
                    U = np.concatenate([nn, -_cross(nn, r)], axis=1)
                    both = np.matmul(U[:, None, :], jacs(k))[:, 0]
                    m = len(close)
                    rows.append(both[:m] + both[m:])
                    lows.append(st.collision_margin - signed[close])
                    self._self_rows = m                                     # the last rows
        if not rows:
            return np.zeros((0, self.nv)), np.zeros(0)
        return np.concatenate(rows), np.concatenate(lows)

    # -- one QP step ------------------------------------------------------------------------------
    def _weighted_errors(self, tg: FrameTargets) -> None:
        """Fill ``bvec`` with the weighted task errors at the last placements."""
        ep, er = self.errors(tg)
        M3 = 3 * self.M
        self.bvec[:M3] = (ep * tg.pos_w[:, None]).ravel()
        self.bvec[M3:self._r3] = (er * tg.rot_w[self.rot_idx, None]).ravel()
        if len(self.limbs):
            self.bvec[self._r3:] = (self._limb_w_now[:, None] * self._limb_errors(ep)).ravel()

    def _objective(self, tg: FrameTargets) -> np.ndarray:
        """Fill the weighted task Jacobian ``A`` and errors ``bvec`` at the last FK; returns H (nv, nv)."""
        ri = self.rot_idx
        np.multiply(self.J[:, :3], tg.pos_w[:, None, None], out=self.A_pos)
        np.multiply(self.J[ri, 3:], tg.rot_w[ri, None, None], out=self.A_rot)
        if len(self.limbs):
            self._limb_w_now = self._limb_scale(tg)
            np.subtract(self.J[self._limb_c, :3], self.J[self._limb_p, :3], out=self.A_limb)
            self.A_limb *= self._limb_w_now[:, None, None]
        self._weighted_errors(tg)
        H = self.A.T @ self.A
        H += self.H_base
        if self.attract_frames > 0:
            H.flat[6 * (self.nv + 1):: self.nv + 1] += self.attract_w2
        lm = self.settings.lm_damping * float(self.bvec @ self.bvec)
        if lm > 0.0:
            H.flat[:: self.nv + 1] += lm
        return H

    def _solve_qp(self, H: np.ndarray, q: np.ndarray, q_prev: np.ndarray | None, dt: float,
                  G: np.ndarray, glo: np.ndarray) -> np.ndarray:
        """dq (nv,) minimising 1/2 dq'H dq + f'dq (f from ``A``, ``bvec`` and the posture at ``q``)
        subject to the configuration and velocity limits and G dq >= glo."""
        f = self.bvec @ self.A
        np.negative(f, out=f)
        qj = q[7:]
        fj = f[6:]
        fj += self.posture_w2 * (qj - self.q_ref)
        if self.attract_frames > 0:
            fj += self.attract_w2 * (qj - self.attract_q)
        k = self.settings.config_limit_gain
        lo = k * (self.lower - qj)
        hi = k * (self.upper - qj)
        if q_prev is not None:
            moved = qj - q_prev[7:]
            if self.acc_w2 > 0.0:
                fj += self.acc_w2 * (moved - self.last_step)
            vdt = self.vmax * dt
            np.maximum(lo, -vdt - moved, out=lo)
            np.minimum(hi, vdt - moved, out=hi)
            np.maximum(hi, lo, out=hi)
        if self._near:
            # linearised barriers hold for small steps only: a large one can carry a capsule through another
            np.maximum(lo, self._step_lo, out=lo)
            np.minimum(hi, self._step_hi, out=hi)
            np.maximum(hi, lo, out=hi)
        nb = self.nv
        blower = np.concatenate([self._base_lo, lo, glo])
        bupper = np.concatenate([self._base_hi, hi, self._inf[: len(glo)]])
        sense = self._sense[: len(blower)]
        x, _, flag, _ = daqp.solve(H, f, G, bupper, blower, sense)
        if flag < 1:
            # infeasible constraint rows (e.g. a deep penetration): solve with the limits only
            self.failures += 1
            x, _, flag, _ = daqp.solve(H, f, np.zeros((0, nb)), bupper[:nb], blower[:nb], sense[:nb])
            if flag < 1:
                return np.zeros(nb)
        return x

    def step(self, q: np.ndarray, tg: FrameTargets, q_prev: np.ndarray | None, dt: float,
             constraints: bool = True) -> np.ndarray:
        """The tangent displacement dq (nv,) of one full QP step from ``q`` (see :meth:`solve_frame`)."""
        self.kinematics(q)
        self._near = False
        G, glo = self._rows() if constraints else (np.zeros((0, self.nv)), np.zeros(0))
        return self._solve_qp(self._objective(tg), q, q_prev, dt, G, glo)

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Ground and self-collision rows G dq >= l; marks the joints whose steps are bounded
        (``collision_step``): those moving a capsule of a self-collision pair closer than
        ``collision_step_distance`` (the row's bound l is the margin less that distance). Ground
        rows bound nothing: stance feet and kneeling legs touch the floor all the time."""
        self._near = False
        parts = []
        if self.settings.ground:
            parts.append(self._sole_rows())
        if self.settings.ground or self.settings.self_collision:
            parts.append(self._capsule_rows())
        if not parts:
            return np.zeros((0, self.nv)), np.zeros(0)
        G = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
        glo = np.concatenate([p[1] for p in parts])
        st = self.settings
        if st.collision_step > 0.0 and self._self_rows:
            near = np.flatnonzero(glo[-self._self_rows:] > st.collision_margin - st.collision_step_distance)
            if len(near):
                moving = np.abs(G[len(glo) - self._self_rows + near, 6:]).max(axis=0) > 1e-9
                self._step_lo[:] = np.where(moving, -st.collision_step, -_INF)
                self._step_hi[:] = np.where(moving, st.collision_step, _INF)
                self._near = True
        return G, glo

    def integrate(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """q (+) dq on the configuration manifold; joints clipped to their limits."""
        out = pin.integrate(self.model, q, dq)
        joints = out[7:]
        np.minimum(np.maximum(joints, self.lower, out=joints), self.upper, out=joints)
        return out

    def placements(self, q: np.ndarray) -> None:
        """Task frame placements at ``q`` (no Jacobians)."""
        model, data = self.model, self.data
        pin.forwardKinematics(model, data, q)
        for fid in self.fids:
            pin.updateFramePlacement(model, data, fid)
        self.Hm[:] = [x.homogeneous for x in self._task_se3]

    def solve_frame(self, q: np.ndarray, tg: FrameTargets, dt: float) -> np.ndarray:
        """The configuration of the next frame, warm-started from ``q`` (the previous frame's).

        ``settings.iterations`` full steps (kinematics, Jacobians, ground and
        self-collision rows, QP), each followed by ``settings.chord_steps``
        chord steps: the errors are re-evaluated at the new configuration and
        the same QP (Hessian, Jacobians, constraint rows with their bounds moved
        by the displacement already taken) is solved again. A chord step costs
        a fraction of a full one and removes most of the linearisation error.
        """
        st = self.settings
        q_prev = q
        for _ in range(st.iterations):
            self.kinematics(q)
            G, glo = self._rows()
            H = self._objective(tg)
            dq = self._solve_qp(H, q, q_prev, dt, G, glo)
            q = self.integrate(q, dq)
            for _ in range(st.chord_steps):
                if np.abs(dq[6:]).max() < st.chord_threshold:
                    break                                       # small step: linearisation error negligible
                glo = glo - G @ dq
                self.placements(q)
                self._weighted_errors(tg)
                dq = self._solve_qp(H, q, q_prev, dt, G, glo)
                q = self.integrate(q, dq)
        self.last_step = q[7:] - q_prev[7:]
        if self.attract_frames > 0:
            self.attract_frames -= 1
        return q

    def attract(self, q_target: np.ndarray, frames: int) -> None:
        """Draw the joints towards ``q_target`` (nq,) for the next ``frames`` frames (reseed)."""
        self.attract_q = np.asarray(q_target[7:], dtype=np.float64).copy()
        self.attract_w2 = self.settings.reseed_attract_weight ** 2
        self.attract_frames = int(frames)

    def fresh_solution(self, tg: FrameTargets, root_index: int) -> np.ndarray:
        """The frame solved from the default posture with the root at its target (no velocity
        limit, no ground or collision rows: the tracker re-imposes them while it is drawn there)."""
        q = default_start(self, tg, root_index)
        for _ in range(self.settings.reseed_iterations):
            q = self.integrate(q, self.step(q, tg, None, 1.0, constraints=False))
        return q


def converge_pink(robot: Robot, frames: tuple[str, ...], tg: FrameTargets, q0: np.ndarray,
                  settings: SolverSettings) -> np.ndarray:
    """Run pink (FrameTask, PostureTask, ConfigurationLimit, daqp) from ``q0`` to convergence.

    Returns the final configuration (nq,).
    """
    import pink
    from pink.limits import ConfigurationLimit
    from pink.tasks import FrameTask, PostureTask

    model = robot.model
    q = q0.copy()
    q[7:] = np.clip(q[7:], robot.lower, robot.upper)
    config = pink.Configuration(model, model.createData(), q)
    tasks = []
    for m, frame in enumerate(frames):
        task = FrameTask(frame, position_cost=float(tg.pos_w[m]), orientation_cost=float(tg.rot_w[m]))
        task.set_target(pin.SE3(tg.rot[m], tg.pos[m]))
        tasks.append(task)
    weights = np.asarray(robot.posture_weights, dtype=np.float64) * settings.posture_scale
    posture = PostureTask(cost=weights)
    q_ref = pin.neutral(model)
    q_ref[7:] = robot.default_pose
    posture.set_target(q_ref)
    tasks.append(posture)
    limits = [ConfigurationLimit(model, config_limit_gain=settings.config_limit_gain)]
    for _ in range(settings.first_frame_iterations):
        v = pink.solve_ik(config, tasks, 1.0, solver="daqp", damping=settings.damping, limits=limits,
                          safety_break=False)
        config.integrate_inplace(v, 1.0)
        if np.max(np.abs(v)) < settings.first_frame_tolerance:
            break
    q = np.array(config.q)
    q[7:] = np.clip(q[7:], robot.lower, robot.upper)
    return q


def default_start(ik: DiffIK, tg: FrameTargets, root_index: int) -> np.ndarray:
    """The robot's default posture with its root at the root task's target pose (nq,)."""
    q = pin.neutral(ik.model)
    q[:3] = tg.pos[root_index]
    q[3:7] = pin.Quaternion(tg.rot[root_index]).coeffs()           # x y z w
    q[7:] = ik.robot.default_pose
    return q


def solve_first_frame(ik: DiffIK, tg: FrameTargets, root_index: int) -> tuple[np.ndarray, dict]:
    """First frame to convergence from several starts; returns (q, info).

    Starts: the default posture and ``first_frame_starts - 1`` seeded uniform
    perturbations of it, each with the root at its target pose. Each start is
    run through pink to convergence, then polished with the constrained
    stacked solver; the lowest objective wins. Once a start fits better than
    ``first_frame_good_cost`` the remaining starts are skipped.
    """
    st = ik.settings
    robot = ik.robot
    rng = np.random.default_rng(st.seed)
    base = default_start(ik, tg, root_index)
    starts = [base]
    for _ in range(max(0, st.first_frame_starts - 1)):
        q = base.copy()
        q[7:] = np.clip(q[7:] + rng.uniform(-st.start_noise, st.start_noise, size=len(robot.lower)),
                        robot.lower, robot.upper)
        starts.append(q)
    best, best_cost, costs = None, np.inf, []
    for q0 in starts:
        q = converge_pink(robot, ik.frames, tg, q0, st)
        for _ in range(5):
            q = ik.integrate(q, ik.step(q, tg, None, 1.0))
        c = ik.cost(q, tg)
        costs.append(c)
        if c < best_cost:
            best, best_cost = q, c
        if best_cost < st.first_frame_good_cost:
            break                                               # a fit this close is not a local minimum
    if best is None:
        raise RuntimeError(f"no first-frame start gave a finite IK cost (costs {costs})")
    return best, {"first_frame_costs": [round(c, 6) for c in costs], "first_frame_best": int(np.argmin(costs))}

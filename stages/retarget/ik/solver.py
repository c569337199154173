"""The stacked differential IK of one robot on a fixed list of task frames.

The QP of one step (:mod:`stages.retarget.ik.qp`) is pink's task/limit formulation, each term in
its own module:

* tasks (weighted least-squares rows): :mod:`.frame_tasks`, :mod:`.limb_tasks`;
* regularisers (H diagonal and f): :mod:`.posture` (posture, reseed attraction),
  :mod:`.low_acceleration`, :mod:`.damping`;
* bounds: :mod:`.limits` (configuration, velocity), the barrier's step bounds;
* rows G dq >= l: :mod:`.ground`, :mod:`.self_collision`.

Every Jacobian comes from one ``computeJointJacobians`` (the world joint Jacobian, see
:mod:`.kinematics`): the task frames' by one batched product, every constraint row (sole corners,
low capsule ends, capsule pairs) as a point direction ``[n, p x n]`` and a support mask, all rows
stacked and multiplied by it once. Errors are world-frame position differences and rotation logs;
daqp is called directly: pink's per-task Python overhead is what limits its throughput, not the QP.
One full step per frame (warm start from the previous frame) is followed by a cheap chord step
(errors re-evaluated, same Jacobians and rows).

What a frame costs is the fixed cost of its ~150 small numpy and ~35 pinocchio calls, not their
arithmetic. Shares of the IK loop (G1, LAFAN1 walk4, cProfile): the self-collision barrier ~15 %; the
other rows (soles, low capsules, capsule placements, step bounds) ~18 %; the daqp solves ~14 % (the
chord step reuses the full step's factorisation, :class:`~stages.retarget.ik.qp.QPSolver`); the
Hessian and task rows ~14 %; kinematics ~9 %; task errors (rotation logs) ~8 %; gradients and bounds
~8 %; the reseed checks ~5 %. Terms that are constant over a frame (regulariser gradients in linear
form, the velocity window) are set up once per frame; bounds are written into the QP's buffers.

Units: metres, radians, seconds; world Z-up; root quaternion in ``q`` x y z w (pinocchio).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pinocchio as pin

from core.robot import Robot
from stages.retarget.ik.capsules import CapsuleKinematics
from stages.retarget.ik.damping import Damping
from stages.retarget.ik.frame_tasks import FrameTasks
from stages.retarget.ik.ground import GroundRows
from stages.retarget.ik.kinematics import TaskKinematics
from stages.retarget.ik.limb_tasks import LimbTasks
from stages.retarget.ik.limits import ConfigurationLimit, VelocityLimit
from stages.retarget.ik.low_acceleration import LowAccelerationTask
from stages.retarget.ik.posture import Attraction, PostureTask
from stages.retarget.ik.qp import QPSolver, QPStatus, TaskStack
from stages.retarget.ik.self_collision import SelfCollisionBarrier
from stages.retarget.ik.settings import FrameTargets, SolverSettings


class Rows(NamedTuple):
    """Constraint rows G dq >= lower (R, nv), (R,); ``hard`` (R,) the bounds without the soft rows
    (the swing clearance's), or None when there are none."""

    G: np.ndarray
    lower: np.ndarray
    hard: np.ndarray | None

    def moved(self, dq: np.ndarray) -> Rows:
        """The same rows after a step dq was taken (bounds less G dq)."""
        step = self.G @ dq
        return Rows(self.G, self.lower - step, None if self.hard is None else self.hard - step)


class DiffIK:
    """Stacked differential IK; one instance per thread (it owns its pinocchio data and work arrays).

    ``status`` is the worst :class:`QPStatus` of the QP solves since it was last reset
    (:meth:`solve_frame` resets it per frame).
    """

    def __init__(self, robot: Robot, frames: tuple[str, ...], foot_index: np.ndarray, sole_corners: np.ndarray,
                 settings: SolverSettings = SolverSettings(), rot_tasks: np.ndarray | None = None,
                 limbs: np.ndarray | None = None):
        """
        Args:
            robot: the robot.
            frames: (M,) task frame names.
            foot_index: (2,) index into ``frames`` of the left and right foot.
            sole_corners: (2, C, 3) sole corners in each foot frame (m).
            settings: see :class:`SolverSettings`.
            rot_tasks: indices of the frames with an orientation task (default: all).
            limbs: (L, 2) indices into ``frames`` of (parent, child) pairs whose relative position
                is a limb task (weight ``settings.limb_direction_weight``; none by default).
        """
        st = settings
        self.robot = robot
        self.model = robot.model
        self.settings = st
        self.kin = TaskKinematics(robot, frames)
        self.frames = self.kin.frames
        self.nv = self.kin.nv
        self.M = self.kin.M
        D = self.nv - 6
        self.frame_tasks = FrameTasks(self.M, np.arange(self.M) if rot_tasks is None else rot_tasks)
        self.limb_tasks = LimbTasks(limbs, st.limb_direction_weight)
        self.stack = TaskStack(self.nv, (self.frame_tasks.rows, self.limb_tasks.rows))
        self.frame_tasks.bind(*self.stack.block(0))
        self.limb_tasks.bind(*self.stack.block(1))
        self.posture = PostureTask(robot.default_pose, np.asarray(robot.posture_weights) * st.posture_scale)
        self.low_acceleration = LowAccelerationTask(D, st.acceleration_weight)
        self.attraction = Attraction(D)
        self.damping = Damping(st.damping, st.lm_damping)
        self.H_base = self.damping.hessian(self.nv)
        self.posture.add_hessian(self.H_base)
        self.low_acceleration.add_hessian(self.H_base)
        self._posture_terms = self.posture.gradient_terms()
        self._posture_acc_c = self._posture_terms[0] + self.low_acceleration.w2      # with the low acceleration
        self.config_limit = ConfigurationLimit(robot.lower, robot.upper, st.config_limit_gain)
        self.velocity_limit = VelocityLimit(np.asarray(robot.velocity_limit, dtype=np.float64)
                                            * st.velocity_limit_scale)
        self.capsules = CapsuleKinematics(self.kin, robot.collision)
        self.ground = GroundRows(self.kin, self.capsules, foot_index, sole_corners, st)
        self.barrier = SelfCollisionBarrier(self.capsules, st)
        self.qp = QPSolver(self.nv, 6, self.ground.max_rows + st.max_collision_rows)
        self.status = QPStatus.OK
        self._no_rows = Rows(np.zeros((0, self.nv)), np.zeros(0), None)

    # -- views kept for callers -------------------------------------------------------------------
    @property
    def Hm(self) -> np.ndarray:
        """(M, 4, 4) task frame placements of the last kinematics / placements."""
        return self.kin.Hm

    @property
    def foot_index(self) -> np.ndarray:
        return self.ground.foot_index

    @property
    def sole_corners(self) -> np.ndarray:
        return self.ground.sole_corners

    @property
    def failures(self) -> int:
        """QP solves whose ground/barrier rows were infeasible (solved with the bounds only)."""
        return self.qp.fallbacks

    @property
    def attract_frames(self) -> int:
        return self.attraction.frames

    def placements(self, q: np.ndarray) -> None:
        """Task frame placements at ``q`` (no Jacobians)."""
        self.kin.placements(q)

    # -- objective --------------------------------------------------------------------------------
    def cost(self, q: np.ndarray, tg: FrameTargets) -> float:
        """IK objective at ``q`` (frame tasks + limb tasks + posture), for comparing solutions."""
        self.kin.placements(q)
        ep, er = self.frame_tasks.errors(self.kin, tg)
        return self.frame_tasks.cost(tg, ep, er) + self.limb_tasks.cost(tg, ep) + self.posture.cost(q[7:])

    def _fill_errors(self, tg: FrameTargets) -> None:
        """The weighted task errors (b of the stack) at the last placements."""
        ep, er = self.frame_tasks.errors(self.kin, tg)
        self.frame_tasks.fill_error(tg, ep, er)
        self.limb_tasks.fill_error(ep)

    def _hessian(self, tg: FrameTargets) -> np.ndarray:
        """Fill the stack (Jacobian rows and errors) at the last kinematics; returns H (nv, nv)."""
        self.frame_tasks.fill_jacobian(self.kin, tg)
        self.limb_tasks.fill_jacobian(self.kin, tg)
        self._fill_errors(tg)
        H = self.stack.hessian()
        H += self.H_base
        if self.attraction.active:
            self.attraction.add_hessian(H)
        self.damping.add_lm(H, self.stack.b)
        return H

    def _frame_terms(self, q_prev: np.ndarray | None, dt: float) -> None:
        """The regularisers' joint gradient in linear form, c qj - o (posture, low acceleration from
        ``q_prev``, the reseed attraction), and the velocity limit's window of joint positions: constant
        over the steps of one frame."""
        c, o = self._posture_terms
        if q_prev is not None:
            if self.low_acceleration.w2 > 0.0:
                ca, oa = self.low_acceleration.gradient_terms(q_prev[7:])
                c, o = self._posture_acc_c, o + oa
            self._window = self.velocity_limit.window(q_prev[7:], dt)
        if self.attraction.active:
            ct, ot = self.attraction.gradient_terms()
            c, o = c + ct, o + ot
        self._grad_c, self._grad_o = c, o

    def _solve(self, H: np.ndarray, q: np.ndarray, q_prev: np.ndarray | None, rows: Rows,
               same: bool = False, keep: bool = False) -> np.ndarray:
        """dq (nv,) of the QP with Hessian H at ``q``: gradient from the stack and the regularisers
        (:meth:`_frame_terms` first), joint bounds from the limits and the barrier's step bounds, the
        constraint rows (``same``: H and the rows' G are those of the previous solve, made with
        ``keep``; see :meth:`QPSolver.solve`)."""
        f = self.stack.gradient()
        qj = q[7:]
        g = self._grad_c * qj
        g -= self._grad_o
        f[6:] += g
        lo, hi = self.qp.joint_lower, self.qp.joint_upper
        self.config_limit.bounds_into(qj, lo, hi)
        if q_prev is not None:
            self.velocity_limit.narrow_window(lo, hi, qj, self._window)
        self.barrier.narrow(lo, hi)
        dq, status = self.qp.solve(H, f, rows.G, rows.lower, lo, hi, rows.hard, same, keep)
        if status > self.status:
            self.status = status
        return dq

    # -- constraint rows --------------------------------------------------------------------------
    def rows(self, clearance: np.ndarray | None = None, anchored: np.ndarray | None = None) -> Rows:
        """Ground and self-collision rows G dq >= l at the last kinematics, with the swing clearance
        (2,) m of the feet and whether their other foot is anchored (2,) (sets the barrier's step
        bounds). All rows are points' rows (``u' J_world`` on their joints' columns): their directions
        and masks are stacked and multiplied by the world joint Jacobian once."""
        st = self.settings
        self.barrier.near = False
        if not (st.ground or st.self_collision):
            return self._no_rows
        dirs, masks, lowers = [], [], []
        hard = None
        extra = False
        if st.ground:
            U, z = self.ground.sole_points()
            low, hard, extra = self.ground.sole_bounds(z, clearance, anchored)
            dirs.append(U)
            masks.append(self.ground.sole_mask)
            lowers.append(low)
        self.capsules.update()
        found = [self.ground.capsule_points() if st.ground else None,
                 self.barrier.points() if st.self_collision else None]
        for f in found:
            if f is not None:
                dirs.append(f[0])
                masks.append(f[1])
                lowers.append(f[2])
        if not dirs:
            return self._no_rows
        G = self.kin.rows_of(np.concatenate(dirs), np.concatenate(masks))
        lower = np.concatenate(lowers)
        if found[1] is not None:
            self.barrier.step_bounds(G[len(G) - len(found[1][2]):], found[1][2])
        if hard is not None:
            hard = np.concatenate([hard, lower[len(hard):]])
        if extra:                                               # the swing's own rows after the corners'
            assert clearance is not None
            C2 = len(lowers[0])
            Gs, ls, hs = self.ground.with_swing_rows(G[:C2], lower[:C2], None if hard is None else hard[:C2], z,
                                                     clearance, anchored)
            hs = ls if hs is None else hs
            G = np.concatenate([Gs, G[C2:]])
            hard = np.concatenate([hs, lower[C2:]])
            lower = np.concatenate([ls, lower[C2:]])
        return Rows(G, lower, hard)

    # -- steps ------------------------------------------------------------------------------------
    def step(self, q: np.ndarray, tg: FrameTargets, q_prev: np.ndarray | None, dt: float,
             constraints: bool = True) -> np.ndarray:
        """The tangent displacement dq (nv,) of one full QP step from ``q`` (see :meth:`solve_frame`)."""
        self.kin.update(q)
        self.barrier.near = False
        rows = self.rows(tg.foot_clearance, tg.foot_anchored) if constraints else self._no_rows
        self._frame_terms(q_prev, dt)
        return self._solve(self._hessian(tg), q, q_prev, rows)

    def integrate(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """q (+) dq on the configuration manifold; joints clipped to their limits."""
        out = pin.integrate(self.model, q, dq)
        self.config_limit.clip(out[7:])
        return out

    def solve_frame(self, q: np.ndarray, tg: FrameTargets, dt: float) -> np.ndarray:
        """The configuration of the next frame, warm-started from ``q`` (the previous frame's).

        ``settings.iterations`` full steps (kinematics, Jacobians, ground and
        self-collision rows, QP), each followed by ``settings.chord_steps``
        chord steps: the errors are re-evaluated at the new configuration and
        the same QP (Hessian, Jacobians, constraint rows with their bounds moved
        by the displacement already taken) is solved again. A chord step costs
        a fraction of a full one and removes most of the linearisation error.
        ``status`` afterwards is the frame's worst QP outcome.
        """
        st = self.settings
        self.status = QPStatus.OK
        q_prev = q
        self._frame_terms(q_prev, dt)
        for _ in range(st.iterations):
            self.kin.update(q)
            rows = self.rows(tg.foot_clearance, tg.foot_anchored)
            H = self._hessian(tg)
            # keep daqp's factorisation for a chord step when the joints moved that much over the last
            # frame (a guess at this step's size: a kept factorisation costs a third more than a one-off
            # solve, reusing it a quarter of one)
            keep = st.chord_steps > 0 and np.maximum.reduce(np.abs(self.low_acceleration.last_step)) >= st.chord_threshold
            dq = self._solve(H, q, q_prev, rows, keep=keep)
            q = self.integrate(q, dq)
            for _ in range(st.chord_steps):
                if np.maximum.reduce(np.abs(dq[6:])) < st.chord_threshold:
                    break                                       # small step: linearisation error negligible
                rows = rows.moved(dq)
                self.kin.placements(q)
                self._fill_errors(tg)
                dq = self._solve(H, q, q_prev, rows, same=True)
                q = self.integrate(q, dq)
        self.low_acceleration.last_step = q[7:] - q_prev[7:]
        self.attraction.tick()
        return q

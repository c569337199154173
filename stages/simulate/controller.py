"""Whole-body tracking by task-space inverse dynamics: one small QP per control step.

Decision variables ``x = [qacc (nv), w_1 .. w_n (6 each; 3 for an edge contact)]``:
MuJoCo generalised accelerations and, for each loaded foot, a contact wrench
(force, torque about the sole centre; world axes). The QP

    min  sum_k  w_k |A_k qacc + a0_k - a*_k|²  +  reg |x|²
    s.t. M[:6] qacc + h[:6] = J_c[:, :6]ᵀ w           (floating-base dynamics, 6 rows)
         -τmax <= M[a] qacc + h[a] - J_c[:, a]ᵀ w <= τmax   (actuator limits)
         w in the linearised wrench cone of its sole (friction pyramid, CoP inside the sole, yaw friction)

tracks, with PD feedback on the reference: the joint posture, the whole-body
centre of mass (the centroidal balance task; the unilateral/CoP constraints keep
the implied ZMP inside the support), the pelvis and torso orientations, and
each foot (zero acceleration with damping while loaded, the reference
trajectory while in swing), and the centroidal angular momentum (its rate
follows the reference's, with damping of the momentum error, so the QP does not
swing trunk and arms to move the CoM once the CoP sits at a sole edge). A foot
the reference loads on a sole edge only (``Reference.edge_contacts``: heel
strike or toe-off on a frame the label calls flight) is a point contact: a
3-D force in the friction pyramid at its lowest corners, the point held, the
foot free to roll as the reference rolls it. The torques follow from the
solution by the actuated rows of the equations of motion.

The pelvis height follows the reference's (the CoM keeps a small vertical
weight: tracking the CoM height with a swing leg lower than the reference's
lifted the pelvis and straightened the stance knee to its limit), and every
joint's planned acceleration keeps it inside its range over a short horizon
(the QP otherwise planned knee extension into MuJoCo's limit through a whole
swing). On a frame the reference has no foot down, a sole MuJoCo has on the
floor is in stance until the reference lands (a jump whose reference flies
slower than gravity lands early), and the CoM target moves with where such
feet landed relative to the reference's feet.

Dynamics quantities come from MuJoCo itself (``qM`` via ``mj_fullM``,
``qfrc_bias - qfrc_passive``, ``mj_jac*``, ``mj_jacDot``) so the controller's
model is exactly the simulated one (no conversion of free-joint velocity
conventions); the QP is solved with daqp (dense active-set, ~50 variables).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import daqp
import mujoco
import numpy as np

from stages.simulate.balance import project_into_polygon
from stages.simulate.mjcf import SimModel
from stages.simulate.reference import Reference
from stages.simulate.settings import ControllerSettings, TaskGains

_INF = 1e20
_MU_SCALE = 1.0 / np.sqrt(2.0)   # friction pyramid inscribed in the cone
_SKEW_PLUS = np.array([7, 2, 3])     # flat indices of e[2, 1], e[0, 2], e[1, 0] in a 3 x 3 matrix
_SKEW_MINUS = np.array([5, 6, 1])    # ... and of e[1, 2], e[2, 0], e[0, 1]


def rotation_error(r_target: np.ndarray, r: np.ndarray) -> np.ndarray:
    """World-frame orientation error (3,) of ``r`` to ``r_target`` (world <- body): ``sin(angle) * axis``.

    The vee of the skew part of ``r_target rᵀ``: exact direction, magnitude ``sin`` of the angle (cheaper
    than the logarithm and enough for a PD task below 90°).
    """
    e = np.dot(r_target, r.T).ravel()                  # np.dot: the same BLAS product as @, less overhead
    return 0.5 * (e[_SKEW_PLUS] - e[_SKEW_MINUS])      # [e21 - e12, e02 - e20, e10 - e01]


@dataclass
class Command:
    """One control step's solution.

    Attributes:
        torque: (D,) joint torques, N·m (within the effort limits).
        qacc: (nv,) planned accelerations (used by the joint impedance until the next solve).
        wrench: (2, 6) planned foot wrenches [left, right] (force N, torque N·m; world axes), zero when unloaded.
        loaded: (2,) bool feet that carried load in the QP.
        ok: the QP was solved (False: fell back to gravity compensation of the posture).
        joint_inertia: (D,) diagonal of the joint-space inertia at the solve (scales the joint impedance).
    """

    torque: np.ndarray
    qacc: np.ndarray
    wrench: np.ndarray
    loaded: np.ndarray
    ok: bool
    joint_inertia: np.ndarray


def as_slice(index: np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice when it is a contiguous increasing run (a view instead of a copy: same values)."""
    index = np.asarray(index)
    if index.ndim == 1 and len(index) > 0 and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index


class FrameInterpolator:
    """``lerp(x) = (1 - alpha) x[frame] + alpha x[frame + 1]`` of a reference's per-frame arrays, packed.

    The two rows (``frame``, ``frame + 1``) of every array in ``FIELDS`` are gathered once per frame into one
    (2, K) array, so a solve interpolates them all in three numpy operations and ``lerp(ref.com)`` is a
    read-only view of that row: element by element the same arithmetic as interpolating each array alone.
    Any other array (a view such as ``ref.sole_pos[:, k]``, or a field added later) is interpolated directly.
    The gathered rows are those of the frame's first solve: a caller that changes the reference's rows
    ``frame`` or ``frame + 1`` between solves of one frame calls :meth:`forget` (``Controller.reset`` does).
    """

    FIELDS: tuple[str, ...] = ("qpos", "qvel", "dof_acc", "com", "com_vel", "com_acc", "ang_mom_rate", "ang_mom",
                               "pelvis_omega", "torso_omega", "sole_pos", "sole_vel", "sole_acc", "foot_omega")

    def __init__(self) -> None:
        self._ref: Reference | None = None          # the reference of the layout (held: its arrays' ids stay valid)
        self._rows: tuple[int, int] = (-1, -1)      # the frames gathered in ``_pack``
        self._flat: list[np.ndarray] = []           # (T, width) views of the packed arrays
        self._pack = np.zeros((2, 0))
        self._layout: dict[int, tuple[np.ndarray, int, int, tuple[int, ...]]] = {}

    def forget(self) -> None:
        """Drop the gathered rows (the next call gathers them again)."""
        self._rows = (-1, -1)

    def _lay_out(self, ref: Reference) -> None:
        """Which of ``ref``'s arrays are packed, and where (a view per array: the rows are read when gathered)."""
        layout: dict[int, tuple[np.ndarray, int, int, tuple[int, ...]]] = {}
        flat = []
        col = 0
        T = ref.num_frames
        for name in self.FIELDS:
            x = getattr(ref, name, None)
            if not isinstance(x, np.ndarray) or x.ndim < 1 or x.shape[0] != T or x.dtype != np.float64:
                continue
            width = int(np.prod(x.shape[1:], dtype=np.int64))
            view = x.reshape(T, width)
            if not np.shares_memory(view, x):        # not contiguous: a copy would not see later changes
                continue
            flat.append(view)
            layout[id(x)] = (x, col, col + width, x.shape[1:])
            col += width
        self._ref, self._flat, self._layout, self._rows = ref, flat, layout, (-1, -1)
        self._pack = np.zeros((2, col))                 # rows ``frame`` and ``i1`` of every packed array

    def _gather(self, frame: int, i1: int) -> None:
        flat = self._flat
        if flat:
            np.concatenate([x[frame] for x in flat], out=self._pack[0])
            np.concatenate([x[i1] for x in flat], out=self._pack[1])
        self._rows = (frame, i1)

    def lerp_at(self, ref: Reference, frame: int, alpha: float,
                i1: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """The interpolation ``lerp(x)`` of ``ref``'s arrays at ``frame + alpha`` (``alpha`` in [0, 1)) toward
        frame ``i1`` (default ``min(frame + 1, T - 1)``)."""
        i1 = min(frame + 1, ref.num_frames - 1) if i1 is None else i1
        if self._ref is not ref:
            self._lay_out(ref)
        if self._rows != (frame, i1):
            self._gather(frame, i1)
        pack = self._pack
        row = (1.0 - alpha) * pack[0] + alpha * pack[1]
        row.flags.writeable = False
        layout = self._layout

        def lerp(x: np.ndarray) -> np.ndarray:
            hit = layout.get(id(x))
            if hit is not None and hit[0] is x:
                return row[hit[1]:hit[2]].reshape(hit[3])
            return (1.0 - alpha) * x[frame] + alpha * x[i1]

        return lerp


class JointImpedance:
    """Joint torques between two QP solves: the solve's torque plus a joint impedance on its plan.

    ``tau = tau_qp + diag(M) (kp (q_plan - q) + kd (q̇_plan - q̇))`` with the plan ``q0 + q̇0 s + q̈ s² / 2``
    from the state at the solve (``s``: seconds since it). The same arithmetic, operation by operation, as
    the expression written out (the rollout is chaotic: a different rounding changes the trajectory), in
    preallocated buffers.
    """

    def __init__(self, kp: float, kd: float, tau_max: np.ndarray, dof_qvel: slice | np.ndarray):
        self.kp, self.kd = float(kp), float(kd)
        self.tau_max = np.asarray(tau_max, dtype=np.float64)
        self._tau_min = -self.tau_max
        self._dv = dof_qvel
        n = len(self.tau_max)
        self._kp, self._kd = np.full(n, self.kp), np.full(n, self.kd)   # array operands: no scalar conversions
        self._since = np.empty(n)
        self._a, self._b, self._out, self._clipped = (np.empty(n) for _ in range(4))
        self._q0 = self._qd0 = self._qdd = self._half_qdd = self._tau = self._inertia = np.zeros(n)

    def start(self, cmd: Command, q: np.ndarray, qd: np.ndarray) -> None:
        """A new solve: its command and the joint state (D,) at the solve (copied)."""
        self._tau, self._inertia = cmd.torque, cmd.joint_inertia
        self._q0, self._qd0 = q.copy(), qd.copy()
        self._qdd = cmd.qacc[self._dv]
        self._half_qdd = 0.5 * self._qdd

    def torque(self, since: float, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """(D,) torque ``since`` s after the solve at joint state ``q``, ``qd`` (a buffer: copy to keep)."""
        a, b, t = self._a, self._b, self._since
        t.fill(since)
        np.multiply(self._qd0, t, out=a)               # q_plan = q0 + qd0 * since + 0.5 * qdd * since * since
        np.add(self._q0, a, out=a)
        np.multiply(self._half_qdd, t, out=b)
        np.multiply(b, t, out=b)
        np.add(a, b, out=a)
        np.multiply(self._qdd, t, out=b)               # qd_plan = qd0 + qdd * since
        np.add(self._qd0, b, out=b)
        np.subtract(a, q, out=a)                       # kp * (q_plan - q) + kd * (qd_plan - qd)
        np.multiply(a, self._kp, out=a)
        np.subtract(b, qd, out=b)
        np.multiply(b, self._kd, out=b)
        np.add(a, b, out=a)
        np.multiply(self._inertia, a, out=a)           # tau_qp + inertia * (...)
        return np.add(self._tau, a, out=self._out)

    def clip(self, tau: np.ndarray) -> np.ndarray:
        """(D,) ``np.clip(tau, -tau_max, tau_max)`` (a buffer)."""
        np.maximum(tau, self._tau_min, out=self._clipped)
        return np.minimum(self._clipped, self.tau_max, out=self._clipped)


class Controller:
    """Task-space inverse dynamics controller of one simulated robot (state: work buffers only)."""

    def __init__(self, sim: SimModel, effort_limit: np.ndarray, settings: ControllerSettings, friction: float):
        self.sim = sim
        self.settings = settings
        m = sim.model
        self.nv = m.nv
        self.act = np.asarray(sim.dof_qvel)                 # qvel index of each actuated joint
        self.tau_max = np.asarray(effort_limit, dtype=np.float64)
        self.mu = friction * _MU_SCALE
        self._M = np.zeros((m.nv, m.nv))
        self._jp = np.zeros((3, m.nv))
        self._jr = np.zeros((3, m.nv))
        self._jdp = np.zeros((3, m.nv))
        self._jdr = np.zeros((3, m.nv))
        self._jam = np.zeros((3, m.nv))
        # fast-path caches (the same numbers as the computations they replace; tests/test_simulate_fastpaths.py)
        self._interp = FrameInterpolator()
        self._cone_parts: dict[tuple[float, float], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._eye: dict[tuple[int, float], np.ndarray] = {}     # weight × identity of each size
        self._gains: dict[tuple[float, float, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}
        self._neg_tau_max = -self.tau_max
        self._bodies = [b for b in range(1, m.nbody) if m.body_mass[b] > 0]
        self._mass = float(sum(m.body_mass[b] for b in self._bodies))
        self._anchor: list[tuple[np.ndarray, np.ndarray] | None] = [None, None]   # stance foot (position, flat rotation)
        self._edge_anchor: list[np.ndarray | None] = [None, None]   # floor point of a foot on a sole edge
        self._loaded_steps = [0, 0]          # control steps each foot has been loaded for
        self._stance_offset = np.zeros(3)    # m, low-passed offset of the stance feet from the reference's (xy)
        self._flight_landing = [False, False]   # each stance foot landed on a frame the reference had no support
        self._touchdown = [False, False]     # each foot touched down during the reference's current flight
        names = [m.joint(m.dof_jntid[v]).name for v in self.act]
        arm = np.array([any(p in n for p in ("shoulder", "elbow", "wrist")) for n in names])
        self._posture_weight = np.where(arm, settings.arm_posture_weight, settings.posture.weight)   # (D,)
        self._floor = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        self._sole_geoms = (mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "left_sole"),
                            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "right_sole"))
        joints = m.dof_jntid[self.act]
        limited = m.jnt_limited[joints].astype(bool)
        ankle = np.array(["ankle" in n for n in names])
        self._limit_horizon = np.where(ankle, settings.joint_limit_ankle_horizon_s, settings.joint_limit_horizon_s)
        limited &= self._limit_horizon > 0
        self._limit_horizon = np.where(limited, self._limit_horizon, 1.0)   # (D,) s
        self._q_lo = np.where(limited, m.jnt_range[joints, 0], -np.inf)    # (D,) rad, joint ranges
        self._q_hi = np.where(limited, m.jnt_range[joints, 1], np.inf)

    def reset(self) -> None:
        """Forget the stance-foot anchors (after a state reset)."""
        self._interp.forget()
        self._anchor = [None, None]
        self._edge_anchor = [None, None]
        self._loaded_steps = [0, 0]
        self._stance_offset = np.zeros(3)
        self._flight_landing = [False, False]
        self._touchdown = [False, False]

    def stance_feet(self, sole_offsets: np.ndarray) -> dict:
        """The flat-loaded feet's anchors ``{k: (sole centre on the floor (3,), flat rotation (3, 3))}``."""
        return {k: a for k, a in enumerate(self._anchor) if a is not None}

    def _clip_torque(self, torque: np.ndarray) -> np.ndarray:
        """``np.clip(torque, -tau_max, tau_max)`` (the same numbers, without np.clip's overhead)."""
        return np.minimum(np.maximum(torque, self._neg_tau_max), self.tau_max)

    def _scaled_eye(self, n: int, weight: float) -> np.ndarray:
        """``weight * np.eye(n)``, built once per size and weight (read-only)."""
        out = self._eye.get((n, weight))
        if out is None:
            out = self._eye[(n, weight)] = weight * np.eye(n)
            out.flags.writeable = False
        return out

    # --- task helpers -------------------------------------------------------------------------------
    def _pd(self, g: TaskGains, err: np.ndarray, verr: np.ndarray, acc_ref: np.ndarray) -> np.ndarray:
        kp, kd = self._gain_arrays(g, np.shape(err))
        return acc_ref + kp * err + kd * verr          # = acc_ref + g.kp * err + g.kd * verr, element by element

    def _gain_arrays(self, g: TaskGains, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``g.kp`` and ``g.kd`` filled into arrays of ``shape`` (array operands: no scalar conversion per call)."""
        key = (g.kp, g.kd, shape)
        out = self._gains.get(key)
        if out is None:
            out = self._gains[key] = (np.full(shape, float(g.kp)), np.full(shape, float(g.kd)))
        return out

    def _foot_jacobians(self, d: mujoco.MjData, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(6, nv) Jacobian of the sole centre (linear; angular), its bias J̇q̇ (6,), sole position, rotation."""
        m = self.sim.model
        body = self.sim.foot_bodies[k]
        rot = d.xmat[body].reshape(3, 3)
        point = d.xpos[body] + np.dot(rot, self.sim.sole_offsets[k])
        jac = np.empty((6, m.nv))
        mujoco.mj_jac(m, d, jac[:3], jac[3:], point, body)
        mujoco.mj_jacDot(m, d, self._jdp, self._jdr, point, body)
        bias = np.empty(6)
        np.dot(self._jdp, d.qvel, out=bias[:3])
        np.dot(self._jdr, d.qvel, out=bias[3:])
        return jac, bias, point, rot.copy()

    def _com_bias(self, d: mujoco.MjData) -> np.ndarray:
        """J̇_com q̇ (3,): the CoM acceleration at zero joint acceleration (mass-weighted body-CoM J̇q̇), m/s²."""
        m = self.sim.model
        total = np.zeros(3)
        for body in self._bodies:
            mujoco.mj_jacDot(m, d, self._jdp, None, d.xipos[body], body)
            total += m.body_mass[body] * (self._jdp @ d.qvel)
        return total / self._mass

    def _edge_point(self, d: mujoco.MjData, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A foot on a sole edge: the mean (3,) of its sole corners within 5 mm of the lowest, that point's
        linear Jacobian (3, nv) and bias J̇q̇ (3,)."""
        m = self.sim.model
        body = self.sim.foot_bodies[k]
        rot = d.xmat[body].reshape(3, 3)
        hx, hy = self.sim.sole_half_extents[k]
        local = self.sim.sole_offsets[k] + np.array([[hx, hy, 0.0], [hx, -hy, 0.0], [-hx, -hy, 0.0], [-hx, hy, 0.0]])
        corners = d.xpos[body] + local @ rot.T
        low = corners[:, 2] <= corners[:, 2].min() + 0.005
        point = corners[low].mean(axis=0)
        jp = np.zeros((3, m.nv))
        jd = np.zeros((3, m.nv))
        mujoco.mj_jac(m, d, jp, None, point, body)
        mujoco.mj_jacDot(m, d, jd, None, point, body)
        return point, jp, jd @ d.qvel

    def _limb_contacts(self, d: mujoco.MjData, ref: Reference, frame: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Limbs on the floor that may carry load: ``[(point (3,), linear Jacobian (3, nv))]``.

        A non-sole collision primitive (knee, hand, ...) is a point contact when MuJoCo has it touching the
        floor and the reference puts its lowest point within ``limb_support_height_m`` of the floor (a crawl
        or a kneel: the reference means the limb to carry weight; a limb that hits the floor in a fall does
        not). The point is the mean of that geom's contact positions.
        """
        if ref.limb_geoms is None or ref.limb_low is None or len(ref.limb_geoms) == 0:
            return []
        m = self.sim.model
        column = {int(g): i for i, g in enumerate(ref.limb_geoms)}
        found: dict[int, list[np.ndarray]] = {}
        for i in range(d.ncon):
            con = d.contact[i]
            if con.dist > 0 or self._floor not in (con.geom1, con.geom2):
                continue
            geom = con.geom2 if con.geom1 == self._floor else con.geom1
            j = column.get(int(geom))
            if j is not None and ref.limb_low[frame, j] < self.settings.limb_support_height_m:
                found.setdefault(int(geom), []).append(con.pos.copy())
        out = []
        for geom, points in sorted(found.items()):
            point = np.mean(points, axis=0)
            jp = np.zeros((3, m.nv))
            mujoco.mj_jac(m, d, jp, None, point, int(m.geom_bodyid[geom]))
            out.append((point, jp))
        return out

    def _update_stance_offset(self, ref: Reference, frame: int, flat: np.ndarray) -> np.ndarray:
        """(3,) CoM target shift, m: ``stance_offset_gain`` × the low-passed mean horizontal offset of the
        flat-loaded feet's anchors from the reference's soles at ``frame`` (held while no foot is flat)."""
        s = self.settings
        feet = [k for k in range(2) if flat[k] and self._anchor[k] is not None]
        if feet:
            target = np.zeros(3)
            for k in feet:
                if s.stance_offset_feet == "all" or self._flight_landing[k]:
                    target[:2] += (self._anchor[k][0][:2] - ref.sole_pos[frame, k, :2]) / len(feet)  # type: ignore[index]
            step = s.control_every * self.sim.model.opt.timestep
            self._stance_offset += min(1.0, step / max(s.stance_offset_time_s, 1e-9)) * (target - self._stance_offset)
        return s.stance_offset_gain * self._stance_offset

    def _soles_on_floor(self, d: mujoco.MjData) -> np.ndarray:
        """(2,) bool: MuJoCo has each sole box touching the floor (a contact of penetration <= 0)."""
        out = np.zeros(2, dtype=bool)
        for i in range(d.ncon):
            con = d.contact[i]
            if con.dist > 0 or self._floor not in (con.geom1, con.geom2):
                continue
            geom = con.geom2 if con.geom1 == self._floor else con.geom1
            for k in range(2):
                out[k] |= geom == self._sole_geoms[k]
        return out

    def _point_cone(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows (5, 3), lower and upper bounds of the friction pyramid of a point force on the floor (world)."""
        mu = self.mu
        rows = np.array([[0, 0, 1], [1, 0, -mu], [1, 0, mu], [0, 1, -mu], [0, 1, mu]], dtype=np.float64)
        lo = np.array([self.settings.min_normal_force_n, -_INF, 0, -_INF, 0])
        hi = np.array([_INF, 0, _INF, 0, _INF])
        return rows, lo, hi

    def _cone(self, rot: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows (11, 6), lower and upper bounds of the linearised wrench cone of a sole (world wrench)."""
        key = (float(half[0]), float(half[1]))
        parts = self._cone_parts.get(key)
        if parts is None:                 # the sole's constant rows and bounds, built once
            s = self.settings
            mu = self.mu
            hx, hy = s.cop_fraction * float(half[0]), s.cop_fraction * float(half[1])
            mu_yaw = mu * min(hx, hy)
            local = np.array([
                [0, 0, 1, 0, 0, 0],
                [1, 0, -mu, 0, 0, 0], [1, 0, mu, 0, 0, 0],
                [0, 1, -mu, 0, 0, 0], [0, 1, mu, 0, 0, 0],
                [0, 0, -hy, 1, 0, 0], [0, 0, hy, 1, 0, 0],
                [0, 0, -hx, 0, 1, 0], [0, 0, hx, 0, 1, 0],
                [0, 0, -mu_yaw, 0, 0, 1], [0, 0, mu_yaw, 0, 0, 1],
            ], dtype=np.float64)
            lo = np.array([s.min_normal_force_n, -_INF, 0, -_INF, 0, -_INF, 0, -_INF, 0, -_INF, 0])
            hi = np.array([_INF, 0, _INF, 0, _INF, 0, _INF, 0, _INF, 0, _INF])
            parts = self._cone_parts[key] = (local, lo, hi)
        local, lo, hi = parts
        # local wrench = blockdiag(Rᵀ, Rᵀ) world wrench
        rows = np.empty((local.shape[0], 6))
        np.matmul(local[:, :3], rot.T, out=rows[:, :3])
        np.matmul(local[:, 3:], rot.T, out=rows[:, 3:])
        return rows, lo.copy(), hi.copy()

    def _dcm_command(self, com: np.ndarray, com_vel: np.ndarray, c_ref: np.ndarray, v_ref: np.ndarray,
                     a_ref: np.ndarray, feet: list, halves: list) -> np.ndarray:
        """Horizontal CoM acceleration (2,) m/s² from divergent-component-of-motion (capture point) feedback.

        Linear inverted pendulum ``c̈ = ω² (c - p)`` with ``ω² = (g + z̈_ref) / c_z``: the target's CoP
        ``p_ref = c_ref - a_ref / ω²`` and DCM ``ξ_ref = c_ref + v_ref / ω``; the commanded CoP
        ``p = p_ref + (1 + k / ω) (ξ - ξ_ref)`` (the DCM error then decays at rate ``k``) is moved into the
        loaded soles shrunk by ``dcm_cop_fraction``, so the command never asks for a CoP the feet cannot give.
        """
        s = self.settings
        omega2 = max(9.81 + float(a_ref[2]), 0.2 * 9.81) / max(float(com[2]), 0.1)
        omega = float(np.sqrt(omega2))
        p_ref = c_ref[:2] - a_ref[:2] / omega2
        xi = com[:2] + com_vel[:2] / omega
        xi_ref = c_ref[:2] + v_ref[:2] / omega
        p = p_ref + (1.0 + s.dcm_gain / omega) * (xi - xi_ref)
        f = s.dcm_cop_fraction
        corners = []
        for (_, _, point, rot), half in zip(feet, halves):
            hx, hy = f * float(half[0]), f * float(half[1])
            local = np.array([[hx, hy, 0.0], [hx, -hy, 0.0], [-hx, -hy, 0.0], [-hx, hy, 0.0]])
            corners.append((point + local @ rot.T)[:, :2])
        p = project_into_polygon(p, np.vstack(corners))
        return omega2 * (com[:2] - p)

    # --- the control step ------------------------------------------------------------------------------
    def solve(self, d: mujoco.MjData, ref: Reference, frame: int, alpha: float) -> Command:
        """Torques for the state in ``d`` (after ``mj_step1``) tracking ``ref`` at frame ``frame + alpha``."""
        s = self.settings
        m = self.sim.model
        nv, act = self.nv, self.act
        i1 = min(frame + 1, ref.num_frames - 1)
        lerp = self._interp.lerp_at(ref, frame, alpha, i1)   # (1 - alpha) x[frame] + alpha x[i1], packed per frame
        dt_frame = alpha / ref.fps
        mujoco.mj_fullM(m, d, self._M)
        M = self._M
        h = d.qfrc_bias - d.qfrc_passive
        qvel = d.qvel

        # which feet carry load: the reference says stance and the sole is at the floor
        feet = []
        loaded = np.zeros(2, dtype=bool)
        edge = np.zeros(2, dtype=bool)           # loaded on a sole edge only: a point contact, free to pivot
        edges: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None, None]
        support = ref.contacts[frame].copy()
        if s.flight_touchdown:
            if support.any():
                self._touchdown = [False, False]
            else:                        # a foot that touched down in the reference's flight stays down until it lands
                on_floor = self._soles_on_floor(d)
                self._touchdown = [self._touchdown[k] or bool(on_floor[k]) for k in range(2)]
                support = np.array(self._touchdown)
        for k in range(2):
            jac, bias, point, rot = self._foot_jacobians(d, k)
            low = point[2] - (abs(rot[2, 0]) * self.sim.sole_half_extents[k, 0]
                              + abs(rot[2, 1]) * self.sim.sole_half_extents[k, 1])   # lowest sole corner
            loaded[k] = bool(support[k]) and low < s.contact_height_m
            feet.append((jac, bias, point, rot))
            edge[k] = loaded[k] and ref.edge_contacts is not None and bool(ref.edge_contacts[frame, k])
            if edge[k]:
                found = self._edge_point(d, k)
                edges[k] = found
                if self._edge_anchor[k] is None:
                    self._edge_anchor[k] = np.array([found[0][0], found[0][1], 0.0])
            else:
                self._edge_anchor[k] = None
            if not loaded[k] or edge[k]:
                self._anchor[k] = None
            elif self._anchor[k] is None:
                yaw = np.arctan2(rot[1, 0], rot[0, 0])
                flat = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
                self._anchor[k] = (np.array([point[0], point[1], 0.0]), flat)
                self._flight_landing[k] = not bool(ref.contacts[frame].any())
        dims = [0 if not loaded[k] else 3 if edge[k] else 6 for k in range(2)]
        limbs = self._limb_contacts(d, ref, frame) if s.limb_support_height_m > 0 else []
        nw_feet = sum(dims)
        nw = nw_feet + 3 * len(limbs)
        self._loaded_steps = [self._loaded_steps[k] + 1 if loaded[k] else 0 for k in range(2)]
        n = nv + nw
        H = np.zeros((n, n))
        g = np.zeros(n)
        H_qq, g_q = H[:nv, :nv], g[:nv]                # views: the qacc block

        def add(rows: np.ndarray, target: np.ndarray, weight: float) -> None:
            # rows (r, nv) on qacc; |rows qacc - target|² × weight
            weighted = weight * rows.T                 # (weight * rows.T) @ ...: the same products, formed once
            np.add(H_qq, np.dot(weighted, rows), out=H_qq)          # np.dot: the same BLAS products as @,
            np.subtract(g_q, np.dot(weighted, target), out=g_q)     # less overhead

        # posture
        q_ref = lerp(ref.qpos)[self.sim.dof_qpos]
        qd_ref = lerp(ref.qvel)[act]
        qdd_ref = lerp(ref.dof_acc)
        q = d.qpos[self.sim.dof_qpos]
        a_post = self._pd(s.posture, q_ref - q, qd_ref - qvel[act], qdd_ref)
        H[act, act] += self._posture_weight
        g[act] -= self._posture_weight * a_post
        # centre of mass
        com_shift = self._update_stance_offset(ref, frame, loaded & ~edge) if s.stance_offset_gain > 0 else 0.0
        mujoco.mj_jacSubtreeCom(m, d, self._jp, self.sim.root_body)
        jcom = self._jp.copy()
        com = d.subtree_com[self.sim.root_body]
        com_bias = self._com_bias(d) if s.velocity_bias else np.zeros(3)
        com_vel = jcom @ qvel
        a_com = self._pd(s.com, lerp(ref.com) + com_shift - com, lerp(ref.com_vel) - com_vel, lerp(ref.com_acc))
        if s.com_feedback == "dcm" and loaded.any():
            a_com[:2] = self._dcm_command(com, com_vel, lerp(ref.com), lerp(ref.com_vel), lerp(ref.com_acc),
                                          [feet[k] for k in range(2) if loaded[k]],
                                          [self.sim.sole_half_extents[k] for k in range(2) if loaded[k]])
        horizontal = float(np.linalg.norm(a_com[:2]))
        if horizontal > s.com_max_acceleration:       # a reference the robot lags far behind: do not chase it
            a_com[:2] *= s.com_max_acceleration / horizontal
        a_com = a_com - (com_bias if s.velocity_bias else 0.0)
        if s.com_vertical_weight == 1.0:
            add(jcom, a_com, s.com.weight)
        else:
            add(jcom[:2], a_com[:2], s.com.weight)
            add(jcom[2:], a_com[2:], s.com.weight * s.com_vertical_weight)
        if s.pelvis_height.weight > 0:     # the pelvis height of the reference (the stance legs bend as its do)
            mujoco.mj_jacBody(m, d, self._jp, None, self.sim.root_body)
            jz = self._jp[2:].copy()
            z_acc = (ref.qvel[i1, 2] - ref.qvel[frame, 2]) * ref.fps
            a_z = self._pd(s.pelvis_height, lerp(ref.qpos[:, 2]) - d.xpos[self.sim.root_body, 2],
                           lerp(ref.qvel[:, 2]) - jz @ qvel, z_acc)
            add(jz, np.atleast_1d(a_z), s.pelvis_height.weight)
        # centroidal angular momentum about the CoM: its rate follows the reference's, with damping of the
        # momentum error (the QP otherwise swings the trunk and arms to move the CoM once the CoP is at an edge)
        if s.angular_momentum_weight > 0 and ref.ang_mom is not None:
            mujoco.mj_angmomMat(m, d, self._jam, self.sim.root_body)
            jam = self._jam
            target = lerp(ref.ang_mom_rate) + s.angular_momentum_damping * (lerp(ref.ang_mom) - jam @ qvel)
            add(jam, target, s.angular_momentum_weight)
        # stepping strategy: in single support a swing foot lands offset by the capture-point error
        # (divergent component of motion c + ċ/ω of the robot minus that of the CoM target)
        step_offset = np.zeros(3)
        if loaded.sum() == 1 and s.step_gain > 0.0:
            omega = np.sqrt(9.81 / max(float(com[2]), 0.1))
            xi = com + com_vel / omega
            xi_ref = lerp(ref.com) + lerp(ref.com_vel) / omega
            step_offset[:2] = s.step_gain * (xi - xi_ref)[:2]
            norm = float(np.linalg.norm(step_offset))
            if norm > s.step_max_m:
                step_offset *= s.step_max_m / norm
        # pelvis and torso orientation
        for body, rots, omegas, gains in ((self.sim.root_body, ref.pelvis_rot, ref.pelvis_omega, s.pelvis_orientation),
                                          (self.sim.torso_body, ref.torso_rot, ref.torso_omega, s.torso_orientation)):
            if body is None:
                continue
            mujoco.mj_jacBody(m, d, None, self._jr, body)
            jr = self._jr.copy()
            self._jdr[:] = 0.0
            if s.velocity_bias:
                mujoco.mj_jacDot(m, d, None, self._jdr, d.xpos[body], body)
            err = rotation_error(rots[frame], d.xmat[body].reshape(3, 3)) + dt_frame * omegas[frame]
            add(jr, self._pd(gains, err, lerp(omegas) - jr @ qvel, np.zeros(3)) - self._jdr @ qvel, gains.weight)
        # feet
        for k, (jac, bias, point, rot) in enumerate(feet):
            v = jac @ qvel
            if edge[k]:
                cpt, jpt, bpt = edges[k]  # type: ignore[misc]
                add(jpt, s.contact_stiffness * (self._edge_anchor[k] - cpt) - s.contact_damping * (jpt @ qvel) - bpt,
                    s.contact_weight)
                g6 = s.swing_foot          # the foot pivots about the edge as the reference rolls it
                err = rotation_error(ref.foot_rot[frame, k], rot) + dt_frame * ref.foot_omega[frame, k]
                add(jac[3:], self._pd(g6, err, lerp(ref.foot_omega[:, k]) - v[3:], np.zeros(3)) - bias[3:], g6.weight)
            elif loaded[k]:
                anchor_pos, anchor_rot = self._anchor[k]  # type: ignore[misc]
                err = np.concatenate([anchor_pos - point, rotation_error(anchor_rot, rot)])
                add(jac, s.contact_stiffness * err - s.contact_damping * v - bias, s.contact_weight)
            else:
                g6 = s.swing_foot
                err = np.concatenate([lerp(ref.sole_pos[:, k]) + step_offset - point,
                                      rotation_error(ref.foot_rot[frame, k], rot) + dt_frame * ref.foot_omega[frame, k]])
                vref = np.concatenate([lerp(ref.sole_vel[:, k]), lerp(ref.foot_omega[:, k])])
                aref = np.concatenate([lerp(ref.sole_acc[:, k]), np.zeros(3)])
                add(jac, self._pd(g6, err, vref - v, aref) - bias, g6.weight)
        for _, jp in limbs:            # a limb on the floor does not slide (soft: it may roll as the reference does)
            add(jp, -s.contact_damping * (jp @ qvel), s.limb_contact_weight)
        H[:nv, :nv] += self._scaled_eye(nv, s.acceleration_weight)
        if nw:
            H[nv:, nv:] += self._scaled_eye(nw, s.force_weight)

        # constraints: floating-base dynamics (equality), torque limits, wrench cones
        jc = (np.vstack([edges[k][1] if edge[k] else feet[k][0] for k in range(2) if loaded[k]]  # type: ignore[index]
                        + [jp for _, jp in limbs])
              if nw else np.zeros((0, nv)))
        rows = [np.hstack([M[:6], -jc[:, :6].T])]
        lo = [-h[:6]]
        hi = [-h[:6]]
        sense = [np.full(6, 5, dtype=np.intc)]
        rows.append(np.hstack([M[act], -jc[:, act].T]))
        lo.append(-self.tau_max - h[act])
        hi.append(self.tau_max - h[act])
        sense.append(np.zeros(len(act), dtype=np.intc))
        for k in range(2):           # loaded feet do not accelerate (hard: the floor holds them)
            if edge[k]:
                cpt, jpt, bpt = edges[k]  # type: ignore[misc]
                target = s.contact_stiffness * (self._edge_anchor[k] - cpt) - s.contact_damping * (jpt @ qvel) - bpt
                rows.append(np.hstack([jpt, np.zeros((3, nw))]))
                lo.append(target)
                hi.append(target)
                sense.append(np.full(3, 5, dtype=np.intc))
            elif loaded[k]:
                jac, bias, _, _ = feet[k]
                anchor_pos, anchor_rot = self._anchor[k]  # type: ignore[misc]
                err = np.concatenate([anchor_pos - feet[k][2], rotation_error(anchor_rot, feet[k][3])])
                target = s.contact_stiffness * err - s.contact_damping * (jac @ qvel) - bias
                rows.append(np.hstack([jac, np.zeros((6, nw))]))
                lo.append(target)
                hi.append(target)
                sense.append(np.full(6, 5, dtype=np.intc))
        if s.joint_limit_horizon_s > 0:      # joints stay inside their ranges (the QP otherwise pushes a joint
            hz = self._limit_horizon         # into its limit and plans with accelerations MuJoCo's limit stops)
            lim_rows = np.zeros((len(act), n))
            lim_rows[np.arange(len(act)), act] = 1.0
            rows.append(lim_rows)
            q_next = q + hz * qvel[act]
            lo.append(np.maximum(2.0 * (self._q_lo - q_next) / hz ** 2, -_INF))
            hi.append(np.minimum(2.0 * (self._q_hi - q_next) / hz ** 2, _INF))
            sense.append(np.zeros(len(act), dtype=np.intc))
        col = nv
        for k in range(2):
            if not loaded[k]:
                continue
            if edge[k]:
                cone, clo, chi = self._point_cone()
            else:
                cone, clo, chi = self._cone(feet[k][3], self.sim.sole_half_extents[k])
            if ref.load_limit is not None:         # weight leaves a foot before its lift-off
                chi[0] = max(float(ref.load_limit[frame, k]), s.min_normal_force_n + 1e-6)
            if s.touchdown_ramp_steps > 0 and self._loaded_steps[k] < s.touchdown_ramp_steps:   # soft landing
                ramp = 2.0 * 9.81 * self._mass * (self._loaded_steps[k] + 1) / (s.touchdown_ramp_steps + 1)
                chi[0] = min(chi[0], max(ramp, s.min_normal_force_n + 1e-6))
            block = np.zeros((cone.shape[0], n))
            block[:, col:col + dims[k]] = cone
            rows.append(block)
            lo.append(clo)
            hi.append(chi)
            sense.append(np.zeros(cone.shape[0], dtype=np.intc))
            col += dims[k]
        for _ in limbs:
            cone, clo, chi = self._point_cone()
            block = np.zeros((cone.shape[0], n))
            block[:, col:col + 3] = cone
            rows.append(block)
            lo.append(clo)
            hi.append(chi)
            sense.append(np.zeros(cone.shape[0], dtype=np.intc))
            col += 3
        A = np.vstack(rows)
        x, _, flag, _ = daqp.solve(H, g, A, np.concatenate(hi), np.concatenate(lo), np.concatenate(sense))
        wrench = np.zeros((2, 6))
        n_contact_rows = nw_feet          # the feet's motion rows (a limb's is a cost)
        if flag < 1 and n_contact_rows:
            # infeasible within the torque limits: the stance feet only as (heavily weighted) costs
            keep = np.ones(A.shape[0], dtype=bool)
            keep[6 + len(act):6 + len(act) + n_contact_rows] = False
            A, hi_all, lo_all, sense_all = (A[keep], np.concatenate(hi)[keep], np.concatenate(lo)[keep],
                                            np.concatenate(sense)[keep])
            x, _, flag, _ = daqp.solve(H, g, A, hi_all, lo_all, sense_all)
        if flag < 1:
            qacc = np.zeros(nv)
            torque = np.clip(h[act], -self.tau_max, self.tau_max)
            return Command(torque, qacc, wrench, loaded, False, np.diag(M)[act].copy())
        qacc = x[:nv]
        w = x[nv:]
        torque = np.dot(M[act], qacc) + h[act] - (np.dot(jc[:, act].T, w) if nw else 0.0)   # np.dot: @'s BLAS call
        col = 0
        for k in range(2):
            if edge[k]:               # a point force: its moment about the sole centre
                f = w[col:col + 3]
                wrench[k] = np.concatenate([f, np.cross(edges[k][0] - feet[k][2], f)])  # type: ignore[index]
            elif loaded[k]:
                wrench[k] = w[col:col + 6]
            col += dims[k]
        return Command(self._clip_torque(torque), qacc, wrench, loaded, True, M.diagonal()[act])

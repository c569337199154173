"""Per-clip quantities shared by the checks, each computed once and only when asked for.

World frame Z-up, metres, seconds; quaternions x y z w; floor at z = 0.
Pinocchio conventions: ``q = [root xyz, root quat xyzw, joints]``; ``v`` and
``a`` hold the root's twist in the **root (local) frame** followed by the
joint rates (``a = dv/dt``).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pinocchio as pin
from scipy.signal import savgol_filter
from scipy.spatial.transform import Rotation

from core.errors import InputError
from core.records.robot_motion import RobotMotion
from core.rotations import make_continuous
from stages.filter.body import Body
from stages.filter.settings import Settings

GRAVITY = 9.81
"""Gravitational acceleration (m/s²), acting along world -Z."""


class ClipState:
    """Lazily computed arrays of one clip for one robot body and one settings object.

    Attributes (all per frame, T frames): see each property.
    """

    def __init__(self, motion: RobotMotion, body: Body, settings: Settings):
        self.motion = motion
        self.body = body
        self.settings = settings
        self.fps = float(motion.fps)
        self.dt = 1.0 / self.fps
        self.num_frames = motion.num_frames
        index = {n: i for i, n in enumerate(motion.dof_names)}
        missing = [n for n in body.dof_names if n not in index]
        if missing:
            raise InputError(None, "dof_mismatch", f"motion for robot {motion.robot!r} lacks joints {missing[:5]} "
                             f"of the robot model")
        self.dof_order = np.array([index[n] for n in body.dof_names], dtype=np.int64)

    # ------------------------------------------------------------------ raw trajectories
    @cached_property
    def finite(self) -> np.ndarray:
        """(T,) bool: every root and joint value of the frame is finite (and the root quaternion is not zero)."""
        m = self.motion
        rot = np.asarray(m.root_rot, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            unit = np.linalg.norm(rot, axis=1) > 1e-6
        return (np.isfinite(m.root_pos).all(axis=1) & np.isfinite(rot).all(axis=1) & unit
                & np.isfinite(m.dof_pos).all(axis=1))

    @cached_property
    def dof_pos(self) -> np.ndarray:
        """(T, D) joint positions (rad) in the robot model's order."""
        return np.asarray(self.motion.dof_pos, dtype=np.float64)[:, self.dof_order]

    @cached_property
    def dof_vel(self) -> np.ndarray:
        """(T, D) joint velocities (rad/s), central differences of ``dof_pos``."""
        return _gradient(self.dof_pos, self.dt)

    @cached_property
    def root_rot(self) -> Rotation:
        q = np.asarray(self.motion.root_rot, dtype=np.float64)
        return Rotation.from_quat(q / np.linalg.norm(q, axis=1, keepdims=True))

    @cached_property
    def root_lin_vel(self) -> np.ndarray:
        """(T, 3) root linear velocity (m/s), world frame."""
        return _gradient(np.asarray(self.motion.root_pos, dtype=np.float64), self.dt)

    @cached_property
    def root_ang_vel(self) -> np.ndarray:
        """(T, 3) root angular velocity (rad/s), root (local) frame."""
        return _local_angular_velocity(self.root_rot, self.dt)

    @cached_property
    def q(self) -> np.ndarray:
        """(T, nq) pinocchio configurations of the clip as given."""
        return _configuration(self.motion.root_pos, self.root_rot.as_quat(), self.dof_pos)

    # ------------------------------------------------------------------ kinematics
    @cached_property
    def frame_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """World placements of ``body.frame_ids``: positions (T, F, 3) m, rotations (T, F, 3, 3)."""
        body = self.body
        if body.robot is not None and hasattr(body.robot, "frame_placements"):
            q = self.q
            return body.robot.frame_placements(q[:, :3], q[:, 3:7], q[:, 7:], body.frame_names)
        model, fids = body.model, body.frame_ids
        data = model.createData()
        T, F = self.num_frames, len(fids)
        pos = np.empty((T, F, 3))
        rot = np.empty((T, F, 3, 3))
        for t, q in enumerate(self.q):
            pin.forwardKinematics(model, data, q)
            for k, fid in enumerate(fids):
                m = pin.updateFramePlacement(model, data, int(fid))
                pos[t, k] = m.translation
                rot[t, k] = m.rotation
        return pos, rot

    @cached_property
    def capsules(self) -> tuple[np.ndarray, np.ndarray]:
        """World end points of every collision primitive: a (T, P, 3), b (T, P, 3), m."""
        pos, rot = self.frame_poses
        b = self.body
        p, r = pos[:, b.prim_frame], rot[:, b.prim_frame]
        return (np.einsum("tpij,pj->tpi", r, b.prim_a) + p, np.einsum("tpij,pj->tpi", r, b.prim_b) + p)

    @cached_property
    def nonfoot_lowest(self) -> np.ndarray:
        """(T, P', 3) lowest surface point (world, m) of each non-foot primitive.

        The part of a capsule's axis within ``settings.contact.foot_region_m``
        of a foot frame's origin is left out (a shin capsule's ankle end is the
        foot's business, its knee end is not).
        """
        a, b = self.capsules
        keep = ~self.body.prim_is_foot
        a, b = a[:, keep], b[:, keep]
        radius = self.body.prim_radius[keep]
        pos, _ = self.frame_poses
        ankles = pos[:, self.body.foot_frame]                        # (T, 2, 3)
        return _lowest_outside_spheres(a, b, radius, ankles, self.settings.contact.foot_region_m)

    @cached_property
    def sole_points(self) -> np.ndarray:
        """(T, 2, 4, 3) world sole corners of the left and right foot, m."""
        pos, rot = self.frame_poses
        b = self.body
        p, r = pos[:, b.foot_frame], rot[:, b.foot_frame]
        return np.einsum("tfij,fkj->tfki", r, b.sole_corners) + p[:, :, None, :]

    @cached_property
    def contact_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate floor contact points.

        Returns:
            points (T, K, 3) world m: the 8 sole corners, then the lowest point
            of every non-foot primitive; frame (K,) index into
            ``body.frame_ids`` of the body carrying each point; in_contact
            (T, K) bool, the point is within ``settings.contact.height_m`` of
            the floor.
        """
        b = self.body
        sole = self.sole_points.reshape(self.num_frames, -1, 3)
        other = ~b.prim_is_foot
        points = np.concatenate([sole, self.nonfoot_lowest], axis=1)
        frame = np.concatenate([np.repeat(b.foot_frame, 4), b.prim_frame[other]])
        in_contact = points[..., 2] < self.settings.contact.height_m
        return points, frame, in_contact

    @cached_property
    def any_contact(self) -> np.ndarray:
        """(T,) bool: some body touches the floor."""
        return np.asarray(self.contact_points[2].any(axis=1), dtype=bool)

    # ------------------------------------------------------------------ dynamics
    @cached_property
    def q_smooth(self) -> np.ndarray:
        """(T, nq) configurations smoothed for differentiation (Savitzky-Golay, settings.dynamics)."""
        d = self.settings.dynamics
        root_pos = np.asarray(self.motion.root_pos, dtype=np.float64)
        quat = make_continuous(self.root_rot.as_quat())
        dof = self.dof_pos
        w = min(d.smooth_window_frames, self.num_frames - (1 - self.num_frames % 2))
        if w > 2 and w > d.smooth_order:
            root_pos, quat, dof = (savgol_filter(x, w, d.smooth_order, axis=0, mode="interp")
                                   for x in (root_pos, quat, dof))
        return _configuration(root_pos, quat / np.linalg.norm(quat, axis=1, keepdims=True), dof)

    @cached_property
    def va(self) -> tuple[np.ndarray, np.ndarray]:
        """Generalised velocity v (T, nv) and acceleration a (T, nv) from ``q_smooth``.

        Root part in the root frame (pinocchio free-flyer twist), joints in rad/s
        and rad/s²; central differences.
        """
        return _velocity_acceleration(self.q_smooth, self.dt, self.settings.dynamics.differences)

    def centroidal_rate_raw(self, frames: np.ndarray) -> np.ndarray:
        """dh/dt (len(frames), 6) at ``frames`` from the unsmoothed clip (N, N·m; see ``centroidal``)."""
        frames = np.asarray(frames, dtype=np.int64)
        out = np.empty((len(frames), 6))
        if len(frames) == 0:
            return out
        v, a = _velocity_acceleration(self.q, self.dt, self.settings.dynamics.differences)
        model = self.body.model
        data = model.createData()
        for n, t in enumerate(frames):
            pin.computeCentroidalMomentumTimeVariation(model, data, self.q[t], v[t], a[t])
            out[n] = data.dhg.vector
        return out

    @cached_property
    def centroidal(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CoM (T, 3) m, centroidal momentum h (T, 6) and its rate dh/dt (T, 6).

        ``h = [m c_dot, k]`` with the angular momentum ``k`` about the CoM, world
        axes (N·s, N·m·s); ``dh`` in N and N·m.
        """
        model = self.body.model
        data = model.createData()
        v, a = self.va
        T = self.num_frames
        com = np.empty((T, 3))
        h = np.empty((T, 6))
        dh = np.empty((T, 6))
        for t, q in enumerate(self.q_smooth):
            pin.computeCentroidalMomentumTimeVariation(model, data, q, v[t], a[t])
            com[t] = data.com[0]
            h[t] = data.hg.vector
            dh[t] = data.dhg.vector
        return com, h, dh

    @cached_property
    def contact_wrench(self) -> tuple[np.ndarray, np.ndarray]:
        """Net floor force f (T, 3) N and moment n (T, 3) N·m about the CoM the motion needs.

        ``f = dL/dt - m g``, ``n = dk/dt`` (world axes, gravity along -Z).
        """
        _, _, dh = self.centroidal
        f = dh[:, :3].copy()
        f[:, 2] += self.body.mass * GRAVITY
        return f, dh[:, 3:].copy()


def _lowest_outside_spheres(a: np.ndarray, b: np.ndarray, radius: np.ndarray, centres: np.ndarray,
                            region: float) -> np.ndarray:
    """Lowest surface point of capsules whose axis parts inside spheres are ignored.

    Args:
        a, b: (T, P, 3) capsule axis end points, m.
        radius: (P,) capsule radii, m.
        centres: (T, S, 3) sphere centres, m.
        region: sphere radius, m.

    Returns:
        (T, P, 3) the lowest point (axis point minus radius along Z) over the
        axis parts outside every sphere; the plain lowest point where the whole
        axis lies inside one.

    A capsule whose axis stays farther than ``region`` (+1 um) from every centre (most of
    them: only the shins come near the ankles) has its lowest point at the lower end of its
    axis; that is taken directly, the same values :func:`_lowest_outside_spheres_full` gives
    (tests/test_filter_state_speed.py), and only the others go through it.
    """
    d = b - a
    # far from a centre: beyond its sphere by more than half the axis length from the axis middle
    # (cheap), else by the distance of the centre from the axis segment itself
    mid = a + 0.5 * d
    reach = 0.5 * np.sqrt(np.sum(d * d, axis=-1)) + region + 1e-6
    far = np.ones(a.shape[:2], dtype=bool)
    for k in range(centres.shape[1]):
        w = centres[:, k:k + 1] - mid
        far &= np.sum(w * w, axis=-1) >= reach ** 2
    t, p = np.nonzero(~far)
    if t.size:
        ok = np.ones(t.size, dtype=bool)
        dt, at = d[t, p], a[t, p]
        dd = np.maximum(np.sum(dt * dt, axis=-1), 1e-12)
        for k in range(centres.shape[1]):
            w = centres[t, k] - at
            s = np.clip(np.sum(w * dt, axis=-1) / dd, 0.0, 1.0)
            gap = w - s[:, None] * dt
            ok &= np.sum(gap * gap, axis=-1) >= (region + 1e-6) ** 2
        far[t[ok], p[ok]] = True
    end = a + d                          # the axis point at parameter 1, as the full path computes it
    low = np.where((end[..., 2] < a[..., 2])[..., None], end, a)
    low[..., 2] -= radius
    near = ~far
    if near.any():
        t, p = np.nonzero(near)
        low[t, p] = _lowest_outside_spheres_full(a[t, p][:, None], b[t, p][:, None], radius[p][:, None],
                                                 centres[t], region)[:, 0]
    return low


def _lowest_outside_spheres_full(a: np.ndarray, b: np.ndarray, radius: np.ndarray, centres: np.ndarray,
                                 region: float) -> np.ndarray:
    """:func:`_lowest_outside_spheres` by candidates: both ends of each axis and where it crosses
    each sphere, the lowest candidate outside every sphere (``radius`` broadcast against (T, P))."""
    d = b - a
    # candidate axis parameters: both ends, and where the axis crosses each sphere
    cands = [np.zeros(a.shape[:2]), np.ones(a.shape[:2])]
    dd = np.maximum(np.sum(d * d, axis=-1), 1e-12)
    for k in range(centres.shape[1]):
        w = a - centres[:, k:k + 1]
        half_b = np.sum(w * d, axis=-1) / dd
        c = (np.sum(w * w, axis=-1) - region ** 2) / dd
        disc = np.sqrt(np.maximum(half_b ** 2 - c, 0.0))
        cands += [np.clip(-half_b - disc, 0.0, 1.0), np.clip(-half_b + disc, 0.0, 1.0)]
    s = np.stack(cands, axis=-1)                                        # (T, P, C)
    pts = a[..., None, :] + s[..., None] * d[..., None, :]              # (T, P, C, 3)
    inside = np.zeros(s.shape, dtype=bool)
    for k in range(centres.shape[1]):
        dist = np.linalg.norm(pts - centres[:, k, None, None, :], axis=-1)
        inside |= dist < region - 1e-9
    z = np.where(inside, np.inf, pts[..., 2])
    best = np.argmin(z, axis=-1)
    all_inside = np.isinf(np.take_along_axis(z, best[..., None], axis=-1))[..., 0]
    plain = np.argmin(pts[..., 2], axis=-1)
    best = np.where(all_inside, plain, best)
    low = np.take_along_axis(pts, best[..., None, None], axis=-2)[..., 0, :].copy()
    low[..., 2] -= radius
    return low


def _velocity_acceleration(q: np.ndarray, dt: float, differences: str = "central") -> tuple[np.ndarray, np.ndarray]:
    """Free-flyer v (T, nv) and a = dv/dt (T, nv) of configurations q (T, nq), central differences
    (``differences="semi_implicit"``: :func:`_semi_implicit_velocity_acceleration`)."""
    if differences == "semi_implicit":
        return _semi_implicit_velocity_acceleration(q, dt)
    rot = Rotation.from_quat(q[:, 3:7])
    lin_local = rot.inv().apply(_gradient(q[:, :3], dt))
    ang_local = _local_angular_velocity(rot, dt)
    v = np.concatenate([lin_local, ang_local, _gradient(q[:, 7:], dt)], axis=1)
    return v, _gradient(v, dt)


def _semi_implicit_velocity_acceleration(q: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Free-flyer v (T, nv) and a = dv/dt (T, nv) that a semi-implicit Euler step integrated into q (T, nq).

    The step from frame t to t + 1 moves the root by ``dt`` times the new world linear velocity, turns it
    by ``exp(dt ω)`` about its own axes and moves the joints by ``dt`` times their new rates (MuJoCo's free
    joint), so the velocity at frame t is the backward difference ``v_t = (q_t ⊖ q_{t-1}) / dt`` and the
    acceleration the step used is ``(v_{t+1} - v_t) / dt``. Pinocchio's root twist is in the root frame:
    linear ``R_tᵀ ṗ``, and its derivative ``R_tᵀ p̈ - ω × R_tᵀ ṗ``. The first velocity and the last
    acceleration repeat their neighbours'.
    """
    T = q.shape[0]
    nv = q.shape[1] - 1
    if T < 2:
        return np.zeros((T, nv)), np.zeros((T, nv))
    rot = Rotation.from_quat(q[:, 3:7])
    lin_world = np.empty((T, 3))
    lin_world[1:] = np.diff(q[:, :3], axis=0) / dt
    ang = np.empty((T, 3))
    ang[1:] = (rot[:-1].inv() * rot[1:]).as_rotvec() / dt
    joints = np.empty((T, q.shape[1] - 7))
    joints[1:] = np.diff(q[:, 7:], axis=0) / dt
    for x in (lin_world, ang, joints):
        x[0] = x[1]
    acc_world = np.empty((T, 3))
    acc_world[:-1] = np.diff(lin_world, axis=0) / dt
    ang_acc = np.empty((T, 3))
    ang_acc[:-1] = np.diff(ang, axis=0) / dt
    joint_acc = np.empty_like(joints)
    joint_acc[:-1] = np.diff(joints, axis=0) / dt
    for x in (acc_world, ang_acc, joint_acc):
        x[-1] = x[-2]
    lin = rot.inv().apply(lin_world)
    lin_acc = rot.inv().apply(acc_world) - np.cross(ang, lin)
    return (np.concatenate([lin, ang, joints], axis=1),
            np.concatenate([lin_acc, ang_acc, joint_acc], axis=1))


def _configuration(root_pos: np.ndarray, quat: np.ndarray, dof: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(root_pos, dtype=np.float64), quat, dof], axis=1)


def _gradient(x: np.ndarray, dt: float) -> np.ndarray:
    """Central differences along time (one-sided at the ends; zeros for one frame)."""
    if x.shape[0] < 2:
        return np.zeros_like(x)
    return np.gradient(x, dt, axis=0)


def _local_angular_velocity(rot: Rotation, dt: float) -> np.ndarray:
    """(T, 3) angular velocity (rad/s) in the body frame, central differences of rotations."""
    T = len(rot)
    if T < 2:
        return np.zeros((T, 3))
    step = (rot[:-1].inv() * rot[1:]).as_rotvec() / dt      # (T-1,) body-frame rate between frames
    out = np.empty((T, 3))
    out[0], out[-1] = step[0], step[-1]
    out[1:-1] = 0.5 * (step[:-1] + step[1:])
    return out

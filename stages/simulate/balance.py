"""Centroidal balance: a CoM plan whose ZMP stays in the support (one plan per clip, or re-planned from the state).

By default (``balance_replan_frames = 0``) the rollout plans once, before it
starts, in receding windows from the plan's own state (``api._plan_offline``),
and the whole-body QP tracks that feasible path with PD feedback. Re-planning
from the robot's state every few frames (MPC) measured worse: each plan takes
the last execution error as its start, so errors are never corrected and the
pendulum's divergent mode carries the CoM off within about a second.
Frames without support keep the plan's horizontal CoM velocity (``ballistic``);
a foot labelled in contact on a sole edge only supports at those corners.

A kinematic reference (human motion retargeted) often puts the CoM where the
robot cannot hold it: in single support the human's CoM sways outside the
robot's narrow sole, and once the simulated CoM lags the reference the
inverted pendulum diverges. Every ``replan_frames`` frames the rollout asks
:meth:`BalancePlanner.plan` for the horizontal CoM path over the next
``horizon_frames`` frames that starts at the robot's current CoM position and
velocity, stays closest to the reference's CoM, and whose ZMP (linear
inverted pendulum with the reference's height and angular-momentum rate)

    p_t = c_t - h_t c̈_t + s_t,   h_t = z_t / (g + z̈_t),   s_t = (-L̇_y, L̇_x) / (m (g + z̈_t))

lies inside the support polygon of the reference's loaded feet (sole
rectangles shrunk by ``fraction``, at the reference's foot poses) on every
frame with a contact. With ``zmp_weight > 0`` the plan also pays for its ZMP's
distance to a target inside the support: the reference's own ZMP where it lies
within the soles shrunk by ``zmp_fraction``, else the nearest point of that
polygon. A plan that only stays closest to the reference CoM presses its ZMP
against the polygon's edge (a human reference's single-support ZMP lies
outside the robot's narrow soles on most frames), which leaves no margin for
the next replan; the target keeps it inside. The whole-body QP tracks that plan. A state from which
no such path exists (the robot is already falling) keeps the reference.

Solved with daqp (dense, 2 × horizon variables). Units: metres, seconds, N·m;
world Z-up.
"""

from __future__ import annotations

import daqp
import numpy as np
from scipy.signal import savgol_filter
from scipy.spatial import ConvexHull, QhullError

GRAVITY = 9.81


def support_halfplanes(corners: np.ndarray) -> np.ndarray | None:
    """Half-planes (H, 3) ``[nx, ny, d]`` (inside: ``nx x + ny y + d <= 0``) of the hull of 2-D points."""
    try:
        return ConvexHull(corners).equations.copy()
    except (QhullError, ValueError):
        return None


def sole_corners(sole_pos: np.ndarray, foot_rot: np.ndarray, half: np.ndarray, fraction: float) -> np.ndarray:
    """(4, 2) world xy of a sole rectangle's corners (half-lengths shrunk by ``fraction``)."""
    hx, hy = fraction * half[0], fraction * half[1]
    offsets = np.array([[hx, hy, 0.0], [hx, -hy, 0.0], [-hx, -hy, 0.0], [-hx, hy, 0.0]])
    return (sole_pos + offsets @ foot_rot.T)[:, :2]


def edge_points(sole_pos: np.ndarray, foot_rot: np.ndarray, half: np.ndarray, within_m: float = 0.005) -> np.ndarray:
    """(4N, 2) world xy around the sole corners within ``within_m`` of the lowest one (a rolling foot's support).

    Each such corner stands for a 4 mm square, so one edge still spans a polygon."""
    hx, hy = half[0], half[1]
    corners = sole_pos + np.array([[hx, hy, 0.0], [hx, -hy, 0.0], [-hx, -hy, 0.0], [-hx, hy, 0.0]]) @ foot_rot.T
    low = corners[:, 2] <= corners[:, 2].min() + within_m
    patch = np.array([[0.002, 0.002], [0.002, -0.002], [-0.002, -0.002], [-0.002, 0.002]])   # a 4 mm square each
    return (corners[low, None, :2] + patch[None]).reshape(-1, 2)


def project_into_polygon(point: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The point of the convex hull of ``corners`` (N, 2) nearest to ``point`` (2,) (itself when inside), m."""
    try:
        hull = corners[ConvexHull(corners).vertices]            # counter-clockwise in 2-D
    except (QhullError, ValueError):                           # degenerate: a segment or a point
        far = int(np.argmax(np.linalg.norm(corners - corners[0], axis=1)))
        hull = corners[np.array([0, far])] if np.linalg.norm(corners[far] - corners[0]) > 1e-12 else corners[:1]
    if len(hull) == 1:
        return hull[0].copy()
    a = hull
    b = np.roll(hull, -1, axis=0)
    if len(hull) == 2:
        a, b = hull[:1], hull[1:]
    else:
        edge = b - a
        side = edge[:, 0] * (point[1] - a[:, 1]) - edge[:, 1] * (point[0] - a[:, 0])    # >= 0 inside (CCW)
        if np.all(side >= 0.0):
            return np.asarray(point, dtype=np.float64).copy()
    edge = b - a
    s = np.clip(np.sum((point - a) * edge, axis=1) / np.maximum(np.sum(edge * edge, axis=1), 1e-18), 0.0, 1.0)
    nearest = a + s[:, None] * edge
    return nearest[int(np.argmin(np.linalg.norm(nearest - point, axis=1)))]


class BalancePlanner:
    """Per-clip data of the CoM planner (support half-planes, pendulum heights, ZMP shifts).

    Args:
        com: (T, 3) reference CoM, m. contacts: (T, 2) bool loaded feet [left, right].
        sole_pos: (T, 2, 3) sole centres; foot_rot: (T, 2, 3, 3); half_extents: (2, 2) m.
        fps: frame rate (Hz). fraction: share of the sole half-lengths the ZMP may use.
        ang_mom_rate: (T, 3) N·m, the reference's rate of angular momentum about the CoM; mass: kg.
        horizon_frames: frames planned ahead. acceleration_weight: cost of CoM acceleration (s⁴).
        ballistic: frames without a loaded foot keep the CoM's horizontal velocity (zero acceleration).
        edge_contacts: optional (T, 2) bool feet in contact on a sole edge only (their lowest corners support).
    """

    def __init__(self, com: np.ndarray, contacts: np.ndarray, sole_pos: np.ndarray, foot_rot: np.ndarray,
                 half_extents: np.ndarray, fps: float, fraction: float, ang_mom_rate: np.ndarray | None = None,
                 mass: float = 1.0, horizon_frames: int = 30, acceleration_weight: float = 1e-6,
                 zmp_weight: float = 0.0, zmp_fraction: float = 0.5, terminal_weight: float = 0.0,
                 terminal_target: str = "zmp", ballistic: bool = False, edge_contacts: np.ndarray | None = None):
        T = com.shape[0]
        self.ballistic = bool(ballistic)
        self.T = T
        self.dt = 1.0 / fps
        self.com = np.asarray(com, dtype=np.float64)
        z = self.com[:, 2]
        zdd = np.gradient(np.gradient(z, self.dt), self.dt) if T > 2 else np.zeros(T)
        support = np.maximum(GRAVITY + zdd, 0.2 * GRAVITY)
        self.h = z / support
        self.shift = np.zeros((T, 2))
        if ang_mom_rate is not None:
            self.shift = np.stack([-ang_mom_rate[:, 1], ang_mom_rate[:, 0]], axis=1) / (mass * support[:, None])
        self.contacts = np.asarray(contacts, dtype=bool)
        self._feet = (np.asarray(sole_pos), np.asarray(foot_rot), np.asarray(half_extents), float(fraction))
        self.edge_contacts = edge_contacts
        self.planes: list[np.ndarray | None] = [self._support(t) for t in range(T)]
        self.zmp_weight = float(zmp_weight)
        self.terminal_weight = float(terminal_weight)
        self.zmp_ref = (self._zmp_reference(sole_pos, foot_rot, contacts, half_extents, zmp_fraction)
                        if self.zmp_weight > 0 or self.terminal_weight > 0 else None)
        self.terminal_target = None
        if self.terminal_weight > 0 and terminal_target == "dcm":
            self.terminal_target = self._dcm_target(sole_pos, foot_rot, contacts, half_extents, fraction)
        self.horizon = max(2, int(horizon_frames))
        self.acceleration_weight = acceleration_weight
        self.infeasible = 0
        self._cache: dict[int, tuple[np.ndarray, ...]] = {}

    def _foot_points(self, t: int, k: int, stance: dict | None = None) -> np.ndarray:
        """(N, 2) support points of foot ``k`` at frame ``t``: its sole (or edge) at the reference's pose, or at
        the robot's own stance pose (``stance[k] = (sole position, rotation)``) when given."""
        sole_pos, foot_rot, half, fraction = self._feet
        if stance is not None and k in stance:
            return sole_corners(stance[k][0], stance[k][1], half[k], fraction)
        if self.edge_contacts is not None and self.edge_contacts[t, k]:
            return edge_points(sole_pos[t, k], foot_rot[t, k], half[k])
        return sole_corners(sole_pos[t, k], foot_rot[t, k], half[k], fraction)

    def _support(self, t: int, stance: dict | None = None) -> np.ndarray | None:
        """Half-planes of frame ``t``'s support polygon (None without a contact)."""
        pts = [self._foot_points(t, k, stance) for k in range(2) if self.contacts[t, k]]
        return support_halfplanes(np.vstack(pts)) if pts else None

    def reference_zmp(self) -> np.ndarray:
        """(T, 2) the reference's own ZMP (pendulum of its CoM smoothed over 9 frames plus the angular-momentum shift), m."""
        T = self.T
        com = savgol_filter(self.com, min(9, T - (1 - T % 2)), 2, axis=0, mode="interp") if T >= 5 else self.com
        acc = np.gradient(np.gradient(com, self.dt, axis=0), self.dt, axis=0) if T > 2 else np.zeros_like(com)
        return com[:, :2] - self.h[:, None] * acc[:, :2] + self.shift

    def _dcm_target(self, sole_pos: np.ndarray, foot_rot: np.ndarray, contacts: np.ndarray, half: np.ndarray,
                    fraction: float) -> np.ndarray:
        """(T, 2) the reference's DCM ``c + ċ/ω`` (CoM smoothed over 9 frames) moved into the frame's support."""
        T = self.T
        com = savgol_filter(self.com, min(9, T - (1 - T % 2)), 2, axis=0, mode="interp") if T >= 5 else self.com
        vel = np.gradient(com, self.dt, axis=0) if T > 1 else np.zeros_like(com)
        xi = com[:, :2] + vel[:, :2] * np.sqrt(self.h)[:, None]
        out = xi.copy()
        for t in range(T):
            pts = [sole_corners(sole_pos[t, k], foot_rot[t, k], half[k], fraction) for k in range(2) if contacts[t, k]]
            if pts:
                out[t] = project_into_polygon(xi[t], np.vstack(pts))
        return out

    def _zmp_reference(self, sole_pos: np.ndarray, foot_rot: np.ndarray, contacts: np.ndarray, half: np.ndarray,
                       fraction: float) -> np.ndarray:
        """(T, 2) ZMP the plan is drawn to: the reference's own ZMP moved into the support shrunk by ``fraction``.

        The reference's ZMP (pendulum of its smoothed CoM) is kept where it lies inside; outside, the nearest
        point of the shrunk support polygon (a 2-variable QP). Frames without support keep the CoM.
        """
        T = self.T
        com = savgol_filter(self.com, min(9, T - (1 - T % 2)), 2, axis=0, mode="interp") if T >= 5 else self.com
        zmp = self.reference_zmp()
        out = zmp.copy()
        eye = np.eye(2)
        for t in range(T):
            pts = [sole_corners(sole_pos[t, k], foot_rot[t, k], half[k], fraction) for k in range(2) if contacts[t, k]]
            if not pts:
                out[t] = com[t, :2]
                continue
            planes = support_halfplanes(np.vstack(pts))
            if planes is None:
                out[t] = np.vstack(pts).mean(axis=0)
                continue
            if np.all(planes[:, :2] @ zmp[t] + planes[:, 2] <= 0.0):
                continue
            x, _, flag, _ = daqp.solve(eye, -zmp[t], planes[:, :2].copy(), -planes[:, 2], np.full(len(planes), -1e20),
                                       np.zeros(len(planes), dtype=np.intc))
            out[t] = x if flag >= 1 else np.vstack(pts).mean(axis=0)
        return out

    def _matrices(self, n: int) -> tuple[np.ndarray, ...]:
        """Second-difference (n, n) and position-selection (n, n) matrices of an n-frame plan, cached.

        ``a_i = (D x)_i + (ka_i0 c0 + ka_i1 c_{-1}) / dt²`` and ``c_i = (S x)_i + ks_i c0`` for the plan
        ``x = c_{t+1} .. c_{t+n}`` from the known ``c0 = c_t`` and ``c_{-1} = c_{t-1}``.
        """
        cached = self._cache.get(n)
        if cached is None:
            dt2 = self.dt * self.dt
            D = (np.eye(n) - 2.0 * np.eye(n, k=-1) + np.eye(n, k=-2)) / dt2
            k0 = np.zeros(n)
            k1 = np.zeros(n)
            k0[0], k1[0] = -2.0 / dt2, 1.0 / dt2
            if n > 1:
                k0[1] = 1.0 / dt2
            S = np.eye(n, k=-1)
            ks = np.zeros(n)
            ks[0] = 1.0
            w = self.acceleration_weight
            H = np.kron(np.eye(2), np.eye(n) + w * D.T @ D)
            cached = (D, k0, k1, S, ks, H, w * D.T)
            self._cache[n] = cached
        return cached

    def plan(self, t: int, com: np.ndarray, com_vel: np.ndarray, stance: dict | None = None) -> np.ndarray:
        """(n, 2) planned horizontal CoM for frames ``t+1 .. t+n`` from the state (m, m/s) at frame ``t``.

        ``stance``: the robot's loaded feet ``{k: (sole position (3,), rotation (3, 3))}``; over the rest of
        each one's current contact run the support uses that pose instead of the reference's (a foot that
        landed off the reference's footstep supports where it is).
        """
        n = min(self.horizon, self.T - 1 - t)
        if n <= 0:
            return np.zeros((0, 2))
        c0 = np.asarray(com[:2], dtype=np.float64)
        cm1 = c0 - np.asarray(com_vel[:2]) * self.dt
        ref = self.com[t + 1:t + 1 + n, :2]
        D, k0, k1, S, ks, H, wDt = self._matrices(n)
        const = k0[:, None] * c0 + k1[:, None] * cm1                 # (n, 2) acceleration offsets
        frames = np.arange(t, t + n)
        planes = [self.planes[f] for f in frames]
        if stance:
            run = {k: stance[k] for k in stance if self.contacts[t, k]}
            for i, f in enumerate(frames):
                run = {k: v for k, v in run.items() if self.contacts[f, k]}
                if not run:
                    break
                planes[i] = self._support(int(f), run)
        judged = [i for i in range(n) if planes[i] is not None]
        if not judged:
            return ref.copy()
        f = np.concatenate([-ref[:, 0] + wDt @ const[:, 0], -ref[:, 1] + wDt @ const[:, 1]])
        h = self.h[frames]
        P = S - h[:, None] * D                                         # p_i = P_i x + q_i
        q = ks[:, None] * c0 - h[:, None] * const + self.shift[frames]
        last = t + n                                                   # the plan's last frame
        if self.terminal_weight > 0 and n >= 2 and planes[n - 1] is not None:
            # + w |ξ_N - p_ref,N|²: the plan ends capturable (its DCM c + ċ/ω at the ZMP target of that frame)
            k = 1.0 / (self.dt * np.sqrt(1.0 / max(float(self.h[last - 1]), 1e-3)))
            r = np.zeros(n)
            r[n - 1], r[n - 2] = 1.0 + k, -k
            wt = self.terminal_weight
            H = H + np.kron(np.eye(2), wt * np.outer(r, r))
            targets = self.terminal_target if self.terminal_target is not None else self.zmp_ref
            target = targets[last - 1]                                 # type: ignore[index]
            f = f - wt * np.concatenate([r * target[0], r * target[1]])
        if self.zmp_ref is not None and self.zmp_weight > 0:            # + w |P x + q - p_ref|² on each axis
            wz = self.zmp_weight
            PtP = wz * P.T @ P
            H = H + np.kron(np.eye(2), PtP)
            dz = q - self.zmp_ref[frames]                          # type: ignore[index]
            f = f + wz * np.concatenate([P.T @ dz[:, 0], P.T @ dz[:, 1]])
        idx = np.concatenate([np.full(len(planes[i]), i) for i in judged])  # type: ignore[arg-type]
        eq = np.vstack([planes[i] for i in judged])  # type: ignore[misc]
        A = np.hstack([eq[:, :1] * P[idx], eq[:, 1:2] * P[idx]])
        ub = -eq[:, 2] - eq[:, 0] * q[idx, 0] - eq[:, 1] * q[idx, 1]
        lb = np.full(len(ub), -1e20)
        sense = np.zeros(len(ub), dtype=np.intc)
        if self.ballistic:
            # frames without support: no horizontal force, the CoM's horizontal acceleration is zero (the
            # controller loads no foot there, so a plan that moves the CoM on such a frame cannot be followed)
            free = [i for i in range(n) if planes[i] is None]
            if free:
                Df = D[free]
                zero = np.zeros_like(Df)
                A = np.vstack([A, np.hstack([Df, zero]), np.hstack([zero, Df])])
                rhs = -np.concatenate([const[free, 0], const[free, 1]])
                ub = np.concatenate([ub, rhs])
                lb = np.concatenate([lb, rhs])
                sense = np.concatenate([sense, np.full(len(rhs), 5, dtype=np.intc)])
        x, _, flag, _ = daqp.solve(H, f, A, ub, lb, sense)
        if flag < 1 and len(ub) > len(idx):
            m = len(idx)
            x, _, flag, _ = daqp.solve(H, f, A[:m], ub[:m], lb[:m], sense[:m])
        if flag < 1:
            self.infeasible += 1
            return ref.copy()
        return np.stack([x[:n], x[n:]], axis=1)

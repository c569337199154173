"""Dynamic feasibility: ZMP in the support polygon, ballistic flight, joint torques.

All from pinocchio's rigid-body model of the robot on a flat floor (z = 0,
gravity 9.81 m/s² along -Z): centroidal momentum and its rate, and inverse
dynamics with contact forces at the contact points of ``ClipState``.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin
from scipy.optimize import nnls

from core import polygon
from stages.filter.checks.base import CheckResult, threshold_result
from stages.filter.settings import FlightMomentumSettings, JointTorqueSettings, ZmpSettings
from stages.filter.state import GRAVITY, ClipState

MIN_NORMAL_FRACTION = 0.1
"""The ZMP is computed with the normal force clamped to at least this fraction of m g (a motion that
needs a pulling floor gets a ZMP far outside its support)."""


def zmp(com: np.ndarray, force: np.ndarray, moment: np.ndarray, min_normal: float = 0.0) -> np.ndarray:
    """ZMP on the floor z = 0 (T, 2) m from the CoM (T, 3), floor force (T, 3) N and moment about the CoM (T, 3) N·m.

    ``p_x = c_x - (c_z f_x + n_y) / f_z``, ``p_y = c_y - (c_z f_y - n_x) / f_z``;
    ``f_z`` is clamped to at least ``min_normal`` (N).
    """
    fz = np.maximum(force[:, 2], min_normal)
    px = com[:, 0] - (com[:, 2] * force[:, 0] + moment[:, 1]) / fz
    py = com[:, 1] - (com[:, 2] * force[:, 1] - moment[:, 0]) / fz
    return np.stack([px, py], axis=1)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull (H, 2) of 2-D points (:func:`core.polygon.convex_hull`)."""
    ring = [(float(x), float(y)) for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2)]
    return np.array(polygon.convex_hull(ring), dtype=np.float64).reshape(-1, 2)


def signed_distance_to_polygon(point: np.ndarray, hull: np.ndarray) -> float:
    """Signed distance (m) from a 2-D point to a convex polygon (CCW hull): > 0 outside, < 0 inside.

    A hull of one point or two points is a point or a segment (distance >= 0).
    """
    point = np.asarray(point, dtype=np.float64)
    if len(hull) == 0:
        return float("inf")
    if len(hull) == 1:
        return float(np.linalg.norm(point - hull[0]))
    a = hull
    b = np.roll(hull, -1, axis=0)
    if len(hull) == 2:
        a, b = hull[:1], hull[1:]
    d = b - a
    t = np.clip(np.sum((point - a) * d, axis=1) / np.maximum(np.sum(d * d, axis=1), 1e-18), 0.0, 1.0)
    dist = np.linalg.norm(a + t[:, None] * d - point, axis=1).min()
    if len(hull) == 2:
        return float(dist)
    normal_side = d[:, 0] * (point[1] - a[:, 1]) - d[:, 1] * (point[0] - a[:, 0])   # >= 0 inside (CCW)
    return float(-dist if np.all(normal_side >= 0) else dist)


def support_distance(state: ClipState) -> np.ndarray:
    """(T,) signed distance (m) of the ZMP from the support polygon (NaN where nothing touches the floor)."""
    com, _, _ = state.centroidal
    force, moment = state.contact_wrench
    p = zmp(com, force, moment, MIN_NORMAL_FRACTION * state.body.mass * GRAVITY)
    points, _, touching = state.contact_points
    out = np.full(state.num_frames, np.nan)
    for t in np.flatnonzero(touching.any(axis=1)):
        out[t] = signed_distance_to_polygon(p[t], convex_hull(points[t, touching[t], :2]))
    return out


def zmp_outside_support(state: ClipState, s: ZmpSettings) -> CheckResult:
    """Signed distance (m) of the ZMP outside the support polygon of the contact points, per frame.

    Frames within ``guard_frames`` of an airborne frame are not judged: the
    smoothed accelerations there mix flight (no floor force) with stance.
    """
    judged = ~_near(~state.any_contact, s.guard_frames)
    return threshold_result("zmp_outside_support", support_distance(state), s.margin_m, "m", s.allow_frames,
                            judged=judged)


def _near(mask: np.ndarray, frames: int) -> np.ndarray:
    """``mask`` grown by ``frames`` frames on both sides."""
    out = mask.copy()
    for shift in range(1, frames + 1):
        out[shift:] |= mask[:-shift]
        out[:-shift] |= mask[shift:]
    return out


def flight_momentum(state: ClipState, s: FlightMomentumSettings) -> CheckResult:
    """Ballistic consistency in flight, per airborne frame (1.0 = at tolerance).

    Value ``max(|dL/dt - m g| / (m · linear_tolerance), |dk/dt| / angular_tolerance)``
    on frames with no contact within ``guard_frames`` frames (contact detection
    is good to about a frame, and the central differences span one more).
    """
    air = ~state.any_contact
    judged = air.copy()
    for shift in range(1, s.guard_frames + 1):      # frames within guard_frames of a contact are not judged
        judged[shift:] &= air[:-shift]
        judged[:-shift] &= air[shift:]
    value = np.full(state.num_frames, np.nan)
    frames = np.flatnonzero(judged)
    if frames.size:
        dh = state.centroidal_rate_raw(frames)      # dh/dt - m g must vanish in flight
        mass = state.body.mass
        lin = np.linalg.norm(dh[:, :3] - np.array([0.0, 0.0, -mass * GRAVITY]), axis=1) / mass
        ang = np.linalg.norm(dh[:, 3:], axis=1)
        value[frames] = np.maximum(lin / s.linear_tolerance_mps2, ang / s.angular_tolerance_nm)
    return threshold_result("flight_momentum", value, 1.0, "x tolerance", s.allow_frames)


def cone_generators(friction: float, edges: int) -> np.ndarray:
    """(K, 3) unit edge directions of a linearised Coulomb friction cone about +Z."""
    theta = 2.0 * np.pi * np.arange(edges) / edges
    g = np.stack([friction * np.cos(theta), friction * np.sin(theta), np.ones(edges)], axis=1)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def joint_torques(state: ClipState, s: JointTorqueSettings) -> tuple[np.ndarray, np.ndarray]:
    """Joint torques (T, D) N·m and unexplained root wrench (T, 6) from inverse dynamics with contacts.

    Per frame: ``tau = RNEA(q, v, a) - sum_i J_i^T f_i`` with ``f_i`` at the contact
    points in a linearised friction cone (non-negative combinations of the cone
    edges, hence unilateral). The forces minimise, by NNLS, the root wrench
    residual (weight 1 / (1e-4 m g)) plus the joint torques relative to the
    effort limits plus a tiny force norm (a unique, spread-out solution).
    """
    body = state.body
    model = body.model
    data = model.createData()
    v, a = state.va
    points, frame, touching = state.contact_points
    gens = cone_generators(s.friction, s.cone_edges)
    D = model.nv - 6
    effort = np.where(np.isfinite(body.effort_limit), body.effort_limit, 1e6)
    weights = np.concatenate([np.full(6, 1.0 / (1e-4 * body.mass * GRAVITY)), 1.0 / effort])
    reg = 1e-4
    tau = np.empty((state.num_frames, D))
    residual = np.zeros((state.num_frames, 6))
    frame_ids = body.frame_ids
    for t, q in enumerate(state.q_smooth):
        full = pin.rnea(model, data, q, v[t], a[t]).copy()
        idx = np.flatnonzero(touching[t])
        if idx.size == 0:
            tau[t] = full[6:]
            residual[t] = full[:6]
            continue
        pin.computeJointJacobians(model, data, q)
        pin.updateFramePlacements(model, data)
        jp = np.empty((idx.size, 3, model.nv))
        jac_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for n, i in enumerate(idx):
            k = int(frame[i])
            if k not in jac_cache:
                fid = int(frame_ids[k])
                J = pin.getFrameJacobian(model, data, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
                jac_cache[k] = (J, data.oMf[fid].translation.copy())
            J, origin = jac_cache[k]
            lx, ly, lz = points[t, i] - origin
            # point Jacobian J_p = J_lin - [lever]x J_ang
            jp[n] = J[:3] - np.array([[0.0, -lz, ly], [lz, 0.0, -lx], [-ly, lx, 0.0]]) @ J[3:]
        cols = [np.einsum("nij,ki->jnk", jp, gens).reshape(model.nv, -1)]
        G = np.concatenate(cols, axis=1)                                   # (nv, n*K)
        A = np.vstack([weights[:, None] * G, reg * np.eye(G.shape[1])])
        rhs = np.concatenate([weights * full, np.zeros(G.shape[1])])
        lam, _ = nnls(A, rhs, maxiter=50 * G.shape[1])
        out = full - G @ lam
        tau[t] = out[6:]
        residual[t] = out[:6]
    return tau, residual


def joint_torque(state: ClipState, s: JointTorqueSettings) -> CheckResult:
    """Largest |joint torque| / effort limit over the joints, per frame (threshold: the factor)."""
    tau, _ = joint_torques(state, s)
    ratio = np.abs(tau) / state.body.effort_limit
    return threshold_result("joint_torque", ratio.max(axis=1), s.limit_factor, "x effort limit", s.allow_frames)

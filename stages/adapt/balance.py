"""Balance correction: move the body over its feet so the ZMP stays inside the support polygon.

The adapter's last dynamic step (after the decoder, before the IK pass). A horizontal shift
``d(t)`` (m, world x y) of the whole body moves the zero-moment point by (cart-table model,
exact for a rigid translation of every body; Kajita et al. 2003):

    p'(t) = p(t) + d(t) - a(t) d''(t),     a(t) = c_z(t) m / f_z(t)

with ``c_z`` the CoM height and ``f_z`` the vertical floor force the motion needs (clamped as
the filter clamps it). :func:`zmp_shift` finds the smooth ``d`` that draws the ZMP into the
support polygon shrunk by ``margin_m`` on frames where it lies outside, and leaves it where it
is elsewhere: one banded least-squares problem per axis,

    min  sum_t w_t |p_t + d_t - a_t (D2 d)_t - target_t|^2 + sum_t (d_t / size_m)^2
         + smooth * sum_t |(D3 d)_t|^2          (D2, D3: 2nd / 3rd differences, frames)

``target`` the closest point of the shrunk polygon, ``w`` 1 outside, ``keep_weight`` inside;
frames without floor contact (and the filter's guard frames around them) carry no ZMP term.
:func:`correct_balance` applies it to a motion: the root moves by ``d``, both legs are solved
again so each foot keeps its world pose of the input motion (6-D damped Gauss-Newton per leg,
joint limits; every frame at once: batched forward kinematics and analytic Jacobians), and the
ZMP is measured again with the filter's own functions; a few rounds
take up what the linear model misses (the legs do not move with the body). The ZMP, support
polygon and floor force are the filter's (``stages.filter.checks.dynamics``,
``stages.filter.state``), so the correction aims at exactly what the filter judges.
World Z-up, metres, quaternions x y z w.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pinocchio as pin
from scipy import sparse
from scipy.sparse.linalg import spsolve

from core.polygon import Point
from core.records.robot_motion import RobotMotion

if TYPE_CHECKING:
    from core.robot import Robot
    from stages.filter.body import Body
    from stages.filter.settings import Settings as FilterSettings
    from stages.filter.state import ClipState


@dataclass(frozen=True)
class BalanceSettings:
    """How the ZMP is drawn into the support polygon.

    Attributes:
        margin_m: the target polygon is the support polygon shrunk by this much (m; the filter
            tolerates its ``zmp_outside_support.margin_m`` outside, so any margin >= 0 passes).
        size_m: scale of the shift's magnitude penalty (m): a shift of this size costs as much
            as a ZMP error of 1 m on one frame (0.5: one round closes about half of a ZMP error
            held for 0.7 s, mostly by accelerating the body rather than moving it; three rounds
            leave < 5 mm, tests/test_adapt_balance.py).
        smooth: weight of the shift's third difference (per frame, m) — keeps the change free of
            jerk.
        keep_weight: weight of keeping the ZMP where it is on frames where it is inside.
        rounds: measure-and-correct rounds.
        max_shift_m: the shift is clipped to this horizontal length (m).
        leg_iterations: Gauss-Newton steps per frame and leg that restore the feet.
        ankle_torque_fraction: a sole corner counts in the target polygon only as far from
            its ankle as the ankle joints can carry the floor force there: within
            ``fraction * effort_limit / f_z`` of the ankle along the foot (pitch) and across it
            (roll); 0 leaves the soles whole. (Measured on the real clips: the joint-torque
            excess is the ankle pitch's with the ZMP near the toes.)
    """

    margin_m: float = 0.02
    size_m: float = 0.5
    smooth: float = 300.0
    keep_weight: float = 0.05
    rounds: int = 3
    max_shift_m: float = 0.12
    leg_iterations: int = 3
    ankle_torque_fraction: float = 0.55


def _shrunk(hull: list[Point], margin: float) -> list[Point] | None:
    """The convex polygon ``hull`` (CCW) with every edge moved inward by ``margin`` (m): its
    vertices, or None when nothing (or a sliver) is left."""
    H = len(hull)
    if H < 3:
        return None
    d = [(hull[(i + 1) % H][0] - hull[i][0], hull[(i + 1) % H][1] - hull[i][1]) for i in range(H)]
    length = [math.sqrt(dx * dx + dy * dy) for dx, dy in d]      # edge i: hull[i] -> hull[i + 1]
    if min(length) < 1e-9:
        return None
    n = [(dy / ln, -dx / ln) for (dx, dy), ln in zip(d, length, strict=True)]   # outward normals (CCW)
    c = [nx * hx + ny * hy - margin for (nx, ny), (hx, hy) in zip(n, hull, strict=True)]  # n_i . x <= c_i
    out: list[Point] = []
    for i in range(H):                                            # edge i - 1 meets edge i at vertex i
        (ax, ay), ca, (bx, by), cb = n[i - 1], c[i - 1], n[i], c[i]
        det = ax * by - ay * bx
        if abs(det) < 1e-12:
            return None
        out.append(((ca * by - ay * cb) / det, (ax * cb - ca * bx) / det))
    for i in range(H):
        ex, ey = out[(i + 1) % H][0] - out[i][0], out[(i + 1) % H][1] - out[i][1]
        if ex * d[i][0] + ey * d[i][1] <= 0:                      # an edge turned over: too small
            return None
    return out


def _project_xy(point: Point, hull: list[Point], margin: float) -> Point:
    """:func:`_project_inside` on plain floats (``hull`` CCW, from :func:`core.polygon.convex_hull`)."""
    poly = _shrunk(hull, margin) if len(hull) >= 3 else None
    if poly is None:
        H = len(hull)
        return (sum(h[0] for h in hull) / H, sum(h[1] for h in hull) / H)
    px, py = point
    H = len(poly)
    d = [(poly[(i + 1) % H][0] - poly[i][0], poly[(i + 1) % H][1] - poly[i][1]) for i in range(H)]
    if all(dx * (py - vy) - dy * (px - vx) >= 0 for (dx, dy), (vx, vy) in zip(d, poly, strict=True)):
        return point
    best, best_dist = point, math.inf
    for (dx, dy), (vx, vy) in zip(d, poly, strict=True):
        t = min(max(((px - vx) * dx + (py - vy) * dy) / max(dx * dx + dy * dy, 1e-18), 0.0), 1.0)
        nx, ny = vx + t * dx, vy + t * dy
        dist = math.sqrt((nx - px) ** 2 + (ny - py) ** 2)
        if dist < best_dist:
            best, best_dist = (nx, ny), dist
    return best


def _hull_batch(xy: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`core.polygon.convex_hull` of many small point sets at once, the same vertices in
    the same order: ``xy`` (N, K, 2) m, ``on`` (N, K) bool the points of each set. Returns the
    hulls (N, K, 2) (CCW from the lowest x, then y; padded with zeros) and their sizes (N,)."""
    N, K = on.shape
    rows = np.arange(N)
    order = np.lexsort((xy[..., 1], xy[..., 0], ~on), axis=1)         # the set's points sorted, then the others
    pts = np.take_along_axis(xy, order[..., None], axis=1)
    count = on.sum(axis=1)
    valid = np.arange(K)[None, :] < count[:, None]
    keep = valid.copy()                              # a point within 1e-12 m of the previous sorted one goes
    keep[:, 1:] &= np.maximum(np.abs(pts[:, 1:, 0] - pts[:, :-1, 0]), np.abs(pts[:, 1:, 1] - pts[:, :-1, 1])) > 1e-12
    korder = np.argsort(~keep, axis=1, kind="stable")
    pts = np.take_along_axis(pts, korder[..., None], axis=1)
    m = keep.sum(axis=1)

    def chain(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        stack = np.zeros((N, K), dtype=np.int64)
        size = np.zeros(N, dtype=np.int64)
        for k in range(K):
            live = k < m
            if not live.any():
                break
            q = pts[rows, index[:, k]]
            while True:
                o = pts[rows, stack[rows, np.maximum(size - 2, 0)]]
                a = pts[rows, stack[rows, np.maximum(size - 1, 0)]]
                cross = (a[:, 0] - o[:, 0]) * (q[:, 1] - o[:, 1]) - (a[:, 1] - o[:, 1]) * (q[:, 0] - o[:, 0])
                pop = live & (size >= 2) & (cross <= 0)
                if not pop.any():
                    break
                size -= pop
            stack[rows[live], size[live]] = index[live, k]
            size += live
        return stack, size

    forward = np.broadcast_to(np.arange(K), (N, K))
    backward = np.clip(m[:, None] - 1 - np.arange(K)[None, :], 0, K - 1)
    lower, nl = chain(forward)
    upper, nu = chain(backward)
    small = m <= 2
    H = np.where(small, m, nl - 1 + nu - 1)
    j = np.arange(K)[None, :]
    from_lower = j < (nl - 1)[:, None]
    up_pos = np.clip(j - (nl - 1)[:, None], 0, K - 1)
    idx = np.where(from_lower, lower, np.take_along_axis(upper, up_pos, axis=1))
    idx = np.where(small[:, None], np.broadcast_to(np.arange(K), (N, K)), idx)
    idx = np.where(j < H[:, None], idx, 0)
    hull = np.take_along_axis(pts, idx[..., None], axis=1)
    hull[~(j < H[:, None])] = 0.0
    return hull, H


def _project_batch(xy: np.ndarray, on: np.ndarray, point: np.ndarray, margin: float) -> np.ndarray:
    """:func:`_project_xy` of ``point`` (N, 2) into the hull of each set of ``xy`` (N, K, 2) where
    ``on`` (N, K), for many frames at once, the same values: (N, 2) m."""
    hull, H = _hull_batch(xy, on)
    N, K = on.shape
    rows = np.arange(N)
    j = np.arange(K)
    valid = j[None, :] < H[:, None]
    nxt = np.where(j[None, :] + 1 < H[:, None], j[None, :] + 1, 0)
    prv = np.where(j[None, :] >= 1, j[None, :] - 1, np.maximum(H[:, None] - 1, 0))
    hx, hy = hull[..., 0], hull[..., 1]
    dx = np.take_along_axis(hx, nxt, axis=1) - hx
    dy = np.take_along_axis(hy, nxt, axis=1) - hy
    with np.errstate(divide="ignore", invalid="ignore"):
        length = np.sqrt(dx * dx + dy * dy)
        ok = (H >= 3) & np.all(~valid | (length >= 1e-9), axis=1)
        nx, ny = dy / length, -dx / length
        c = nx * hx + ny * hy - margin
        ax, ay, ca = (np.take_along_axis(v, prv, axis=1) for v in (nx, ny, c))
        det = ax * ny - ay * nx
        ok &= np.all(~valid | (np.abs(det) >= 1e-12), axis=1)
        ox = (ca * ny - ay * c) / det
        oy = (ax * c - ca * nx) / det
        ex = np.take_along_axis(ox, nxt, axis=1) - ox
        ey = np.take_along_axis(oy, nxt, axis=1) - oy
        ok &= np.all(~valid | (ex * dx + ey * dy > 0), axis=1)
    # no shrunk polygon: the hull's centroid (summed in order, as the plain-float code does)
    sx = np.zeros(N)
    sy = np.zeros(N)
    for k in range(K):
        sx = np.where(k < H, sx + hx[:, k], sx)
        sy = np.where(k < H, sy + hy[:, k], sy)
    out = np.stack([sx / np.maximum(H, 1), sy / np.maximum(H, 1)], axis=1)
    px, py = point[:, 0], point[:, 1]
    with np.errstate(invalid="ignore"):
        pdx = np.take_along_axis(ox, nxt, axis=1) - ox
        pdy = np.take_along_axis(oy, nxt, axis=1) - oy
        side = pdx * (py[:, None] - oy) - pdy * (px[:, None] - ox)
        inside = np.all(~valid | (side >= 0), axis=1)
        t = ((px[:, None] - ox) * pdx + (py[:, None] - oy) * pdy) / np.maximum(pdx * pdx + pdy * pdy, 1e-18)
        t = np.minimum(np.maximum(t, 0.0), 1.0)
        qx, qy = ox + t * pdx, oy + t * pdy
        dist = np.sqrt((qx - px[:, None]) * (qx - px[:, None]) + (qy - py[:, None]) * (qy - py[:, None]))
    dist = np.where(valid, dist, np.inf)
    best = np.argmin(dist, axis=1)                   # the first edge of least distance
    proj = np.stack([qx[rows, best], qy[rows, best]], axis=1)
    proj = np.where(inside[:, None], point, proj)
    return np.where(ok[:, None], proj, out)


def _project_inside(point: np.ndarray, hull: np.ndarray, margin: float) -> np.ndarray:
    """The closest point to ``point`` of the convex polygon ``hull`` (CCW) shrunk by ``margin``
    (its centroid when less than that is left)."""
    ring = [(float(x), float(y)) for x, y in np.asarray(hull, np.float64)]
    return np.array(_project_xy((float(point[0]), float(point[1])), ring, margin))


def zmp_targets(motion: RobotMotion, robot: Robot, settings: BalanceSettings,
                filter_settings: FilterSettings | None = None,
                hold: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The filter's ZMP (T, 2) of ``motion``, its target (T, 2), the weight per frame (T,) (-1:
    a body other than the feet touches the floor within the guard frames, the body stays) and
    the cart-table coefficient a (T,) (s^2). ``hold``: frames at the start and end held too."""
    from stages.filter.body import body_of
    from stages.filter.checks.dynamics import MIN_NORMAL_FRACTION, _near, zmp
    from stages.filter.settings import Settings as FS
    from stages.filter.state import GRAVITY, ClipState

    fs = filter_settings or FS()
    body = body_of(robot)
    state = ClipState(motion, body, fs)
    com, _, _ = state.centroidal
    force, moment = state.contact_wrench
    min_normal = MIN_NORMAL_FRACTION * body.mass * GRAVITY
    p = zmp(com, force, moment, min_normal)
    fz = np.maximum(force[:, 2], min_normal)
    a = com[:, 2] * body.mass / fz
    points, _, touching = state.contact_points
    judged = touching.any(axis=1) & ~_near(~state.any_contact, fs.zmp_outside_support.guard_frames)
    # a body other than the feet on the floor: a hard failure (cut before adaptation); the body
    # lies or kneels there and is not shifted
    feet_only = np.asarray(~touching[:, 8:].any(axis=1), dtype=bool)
    fixed = _near(~feet_only, fs.zmp_outside_support.guard_frames)
    if hold[0] > 0:                               # a crop's ends join the unchanged motion
        fixed[:hold[0]] = True
    if hold[1] > 0:
        fixed[-hold[1]:] = True
    judged &= ~fixed
    if settings.ankle_torque_fraction > 0:
        points = _torque_limited_points(state, body, fz, settings.ankle_torque_fraction)
    target = p.copy()
    w = np.zeros(len(p))
    frames = np.flatnonzero(judged)
    cols = np.flatnonzero(touching[frames].any(axis=0))          # the points that ever touch here
    if frames.size:
        q = _project_batch(points[frames][:, cols, :2], touching[frames][:, cols], p[frames], settings.margin_m)
        target[frames] = q
        w[frames] = np.where(np.hypot(q[:, 0] - p[frames, 0], q[:, 1] - p[frames, 1]) > 1e-9, 1.0,
                             settings.keep_weight)
    w[fixed] = -1.0                               # marks frames whose shift is held at zero
    return p, target, w, a


def _torque_limited_points(state: ClipState, body: Body, fz: np.ndarray, fraction: float) -> np.ndarray:
    """The filter's contact points (T, K, 3) with each sole corner drawn towards its ankle to
    within ``fraction * effort / f_z`` along the foot's x (ankle pitch) and y (ankle roll)."""
    names = list(body.dof_names)
    points = state.contact_points[0].copy()
    pos, rot = state.frame_poses
    for side, prefix in enumerate(("left", "right")):
        try:
            tp = body.effort_limit[names.index(f"{prefix}_ankle_pitch_joint")]
            tr = body.effort_limit[names.index(f"{prefix}_ankle_roll_joint")]
        except ValueError:
            continue
        corners = body.sole_corners[side]                                  # (4, 3) in the foot frame
        lim_x = fraction * tp / fz                                         # (T,) m
        lim_y = fraction * tr / fz
        local = np.broadcast_to(corners, (len(fz), 4, 3)).copy()
        local[..., 0] = np.clip(local[..., 0], -lim_x[:, None], lim_x[:, None])
        local[..., 1] = np.clip(local[..., 1], -lim_y[:, None], lim_y[:, None])
        f = body.foot_frame[side]
        world = np.einsum("tij,tkj->tki", rot[:, f], local) + pos[:, f][:, None, :]
        points[:, 4 * side:4 * side + 4, :2] = world[..., :2]
    return points


def _difference(T: int, order: int) -> sparse.csr_matrix:
    """(T - order, T) matrix of the ``order``-th forward difference (binomial coefficients)."""
    coeff = [1.0]
    for _ in range(order):
        coeff = [a - b for a, b in zip([0.0] + coeff, coeff + [0.0], strict=True)]
    return sparse.diags(coeff, list(range(order + 1)), shape=(T - order, T), format="csr")


def zmp_shift(p: np.ndarray, target: np.ndarray, w: np.ndarray, a: np.ndarray, fps: float,
              settings: BalanceSettings) -> np.ndarray:
    """The horizontal shift d (T, 2) m of the body (see the module docstring)."""
    T = len(p)
    if T < 5 or not np.any(w >= 1.0):
        return np.zeros((T, 2))
    D2 = _difference(T, 2) * fps ** 2                          # (T-2, T): d'' at frames 1..T-2
    acc = sparse.vstack([sparse.csr_matrix((1, T)), D2, sparse.csr_matrix((1, T))]).tocsr()
    A = sparse.eye(T, format="csr") - sparse.diags(a) @ acc    # ZMP change per unit shift
    fixed = w < 0
    w = np.where(fixed, 0.0, w)
    W = sparse.diags(w)
    D3 = _difference(T, 3)
    size = np.where(fixed, 1e4, 1.0) / settings.size_m ** 2
    H = (A.T @ W @ A + sparse.diags(size) + settings.smooth * (D3.T @ D3)).tocsc()
    out = np.zeros((T, 2))
    for k in range(2):
        rhs = A.T @ (w * (target[:, k] - p[:, k]))
        out[:, k] = spsolve(H, rhs)
    n = np.linalg.norm(out, axis=1, keepdims=True)
    return out * np.minimum(1.0, settings.max_shift_m / np.maximum(n, 1e-12))


def _leg_chains(robot: Robot) -> list[tuple[int, np.ndarray]]:
    """Per foot frame: (pinocchio frame id, dof indices (into q[7:]) of its leg)."""
    model = robot.model
    out = []
    for foot in robot.config.foot_frames:
        fid = robot.frame_id(foot)
        j = model.frames[fid].parentJoint
        dofs = []
        while j > 1:                                  # joint 1 is the free flyer
            dofs.append(model.joints[j].idx_q - 7)
            j = model.parents[j]
        out.append((fid, np.array(sorted(dofs))))
    return out


def log6_batch(rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """(N, 6) twists [v, w] (pinocchio's ``log6`` order) of the rigid transforms (rot (N, 3, 3),
    pos (N, 3)), rotation angles below pi (a transform within 1e-6 rad of pi: pinocchio's own)."""
    cos = np.clip(0.5 * (np.trace(rot, axis1=1, axis2=2) - 1.0), -1.0, 1.0)
    theta = np.arccos(cos)
    axis_sin = np.stack([rot[:, 2, 1] - rot[:, 1, 2], rot[:, 0, 2] - rot[:, 2, 0], rot[:, 1, 0] - rot[:, 0, 1]], axis=1)
    small = theta < 1e-4
    sin = np.sin(theta)
    factor = np.where(small, 0.5 + theta ** 2 / 12.0, theta / (2.0 * np.where(small, 1.0, sin)))
    w = factor[:, None] * axis_sin
    t2 = theta ** 2
    alpha = np.where(small, 1.0 - t2 / 12.0,
                     theta * sin / (2.0 * np.where(small, 1.0, 1.0 - cos)))
    beta = np.where(small, 1.0 / 12.0 + t2 / 720.0, (1.0 - alpha) / np.where(small, 1.0, t2))
    v = alpha[:, None] * pos + beta[:, None] * np.sum(w * pos, axis=1, keepdims=True) * w - 0.5 * np.cross(w, pos)
    out = np.concatenate([v, w], axis=1)
    for i in np.flatnonzero(theta > np.pi - 1e-6):
        out[i] = pin.log6(pin.SE3(rot[i], pos[i])).vector
    return out


def hold_feet(robot: Robot, q: np.ndarray, target_pos: np.ndarray, target_rot: np.ndarray, frames: np.ndarray,
              iterations: int = 3, damping: float = 1e-4) -> np.ndarray:
    """Configurations (T, nq) whose feet are at ``target_pos`` (T, S, 3) m / ``target_rot``
    (T, S, 3, 3) (world <- foot) on ``frames``: each leg's joints by damped Gauss-Newton on the
    6-D foot pose error (foot frame, pinocchio's ``log6`` and LOCAL Jacobian), within the joint
    limits; all frames at once (batched forward kinematics, analytic revolute-joint Jacobian)."""
    from core.robot.fk import _joint_axis

    out = q.copy()
    frames = np.asarray(frames, dtype=int)
    if frames.size == 0:
        return out
    model = robot.model
    lower, upper = np.asarray(robot.lower), np.asarray(robot.upper)
    chains = _leg_chains(robot)
    feet = list(robot.config.foot_frames)
    joint_of_q = {int(model.joints[j].idx_q): j for j in range(2, model.njoints)}
    leg_joints = [[joint_of_q[7 + int(d)] for d in dofs] for _, dofs in chains]
    names = feet + [str(model.names[j]) for js in leg_joints for j in js]
    axes_local = [np.array([_joint_axis(model.joints[j]) for j in js], dtype=np.float64) for js in leg_joints]
    axis_index = [np.argmax(ax, axis=1) if np.array_equal(np.sort(ax, axis=1), np.tile([0.0, 0.0, 1.0], (len(ax), 1)))
                  else None for ax in axes_local]
    qs = out[frames].copy()
    live = np.arange(len(frames))                 # frames with a foot still off its target
    for _ in range(iterations):
        if live.size == 0:
            break
        ql, tl = qs[live], frames[live]
        pos, rot = robot.frame_placements(ql[:, :3], ql[:, 3:7], ql[:, 7:], names)
        k = len(feet)
        moving = np.zeros(len(live), dtype=bool)
        for side, (_, dofs) in enumerate(chains):
            pf, rf = pos[:, side], rot[:, side]
            rft = np.swapaxes(rf, 1, 2)
            err = log6_batch(rft @ target_rot[tl, side], np.einsum("nij,nj->ni", rft, target_pos[tl, side] - pf))
            todo = np.abs(err).max(axis=1) >= 1e-6
            m = len(dofs)
            pj, rj = pos[todo, k:k + m], rot[todo, k:k + m]
            k += m
            if not todo.any():
                continue
            moving |= todo
            basis = axis_index[side]
            if basis is not None:                 # joint axes along x, y or z: a column of the rotation
                a = np.take_along_axis(rj, basis[None, :, None, None], axis=3)[..., 0]
            else:
                a = np.einsum("nmij,mj->nmi", rj, axes_local[side])             # world joint axes
            lin = np.cross(a, pf[todo][:, None, :] - pj)
            rt = rft[todo]
            J = np.concatenate([rt @ np.swapaxes(lin, 1, 2), rt @ np.swapaxes(a, 1, 2)], axis=1)
            JT = np.swapaxes(J, 1, 2)
            step = np.linalg.solve(JT @ J + damping * np.eye(m), JT @ err[todo][:, :, None])[:, :, 0]
            rows = live[todo]
            qs[np.ix_(rows, 7 + dofs)] = np.clip(qs[np.ix_(rows, 7 + dofs)] + step, lower[dofs], upper[dofs])
        live = live[moving]           # a frame whose feet are both on target stays as it is
    out[frames] = qs
    return out


def state_record(robot: Robot, fps: float, q: np.ndarray, contacts: np.ndarray) -> RobotMotion:
    """The configurations ``q`` (T, nq) as the record the filter's checks read (root, joints,
    ``contacts`` (T, 2); root quaternion xyzw made sign-continuous). No key links: the filter
    computes every pose it needs from the configurations, so this skips that forward
    kinematics; for checking only, not for handing on."""
    from core.rotations import make_continuous

    T = len(q)
    root_rot = make_continuous(q[:, 3:7] / np.linalg.norm(q[:, 3:7], axis=1, keepdims=True))
    dof = np.asarray(q[:, 7:], dtype=np.float64)
    return RobotMotion(robot=robot.name, fps=float(fps), root_pos=np.asarray(q[:, :3], dtype=np.float64),
                       root_rot=root_rot, dof_pos=dof,
                       dof_vel=np.gradient(dof, 1.0 / float(fps), axis=0) if T > 1 else np.zeros_like(dof),
                       dof_names=robot.dof_names, link_names=(), link_pos=np.zeros((T, 0, 3)),
                       link_rot=np.zeros((T, 0, 4)), contacts=np.asarray(contacts, dtype=bool))


def _motion_of(raw: RobotMotion, robot: Robot, q: np.ndarray) -> RobotMotion:
    """:func:`state_record` of ``q`` with ``raw``'s fps and contacts."""
    return state_record(robot, float(raw.fps), q, raw.contacts)


def foot_targets(motion: RobotMotion, robot: Robot, feet_of: RobotMotion | None = None,
                 gate: np.ndarray | None = None, ramp_frames: int = 3,
                 max_travel_m: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and foot the world pose the balance correction holds it at: positions
    (T, S, 3) m and rotation matrices (T, S, 3, 3) (world <- foot).

    Without ``feet_of``: ``motion``'s own feet. With it (the raw clip): the raw clip's feet, and
    over each of its contact runs (``feet_of.contacts``) a foot is planted at one place, the mean
    of its positions over the run, turned as at the run's middle, so it does not slide even
    where the raw one did (measured on the real clips: feet left where the decoded motion puts
    them slide 2-3 times more than the raw ones);
    ``gate`` (T,) in [0, 1] blends from the raw foot pose (0) to the planted one (1), and
    so does a raised-cosine ramp over ``ramp_frames`` frames at each end of the run (the target
    does not jump where contact begins or ends). A run over which the raw foot strays more than
    ``max_travel_m`` from its mean place (a pivot, a foot dragged while lying) is not planted.
    Off contact, the raw foot pose."""
    T = motion.num_frames
    feet = tuple(robot.config.foot_frames)
    if feet_of is None:
        return robot.frame_placements(motion.root_pos, motion.root_rot, motion.dof_pos, feet)
    from core.contacts import spans_of

    rpos, rrot = robot.frame_placements(feet_of.root_pos, feet_of.root_rot, feet_of.dof_pos, feet)
    out_pos, out_rot = rpos.copy(), rrot.copy()
    w = np.ones(T) if gate is None else np.clip(np.asarray(gate, np.float64), 0.0, 1.0)
    contacts = np.asarray(feet_of.contacts, dtype=bool)
    for s in range(len(feet)):
        frames, weights, goal_pos, goal_rot = [], [], [], []
        for a, b in spans_of(contacts[:, s]):
            centre = rpos[a:b, s].mean(axis=0)
            if np.linalg.norm(rpos[a:b, s] - centre, axis=1).max() > max_travel_m:
                continue                          # the raw foot moves on purpose (pivot, drag): keep it
            n = b - a
            k = np.arange(n)
            ramp = np.clip(np.minimum(k + 1, n - k) / (ramp_frames + 1), 0.0, 1.0) if ramp_frames > 0 else np.ones(n)
            ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)
            weight = w[a:b] * ramp
            on = weight > 0
            frames.append(np.arange(a, b)[on])
            weights.append(weight[on])
            goal_pos.append(np.broadcast_to(centre, (int(on.sum()), 3)))
            goal_rot.append(np.broadcast_to(rrot[(a + b) // 2, s], (int(on.sum()), 3, 3)))
        if not frames or not sum(len(f) for f in frames):
            continue
        t = np.concatenate(frames)
        here_rot, here_pos = rrot[t, s], rpos[t, s]
        back = np.swapaxes(here_rot, 1, 2)                                   # here^-1 * planted
        twist = log6_batch(back @ np.concatenate(goal_rot), np.einsum("nij,nj->ni", back, np.concatenate(goal_pos) - here_pos))
        step_rot, step_pos = exp6_batch(np.concatenate(weights)[:, None] * twist)
        out_rot[t, s] = here_rot @ step_rot
        out_pos[t, s] = here_pos + np.einsum("nij,nj->ni", here_rot, step_pos)
    return out_pos, out_rot


def exp6_batch(twist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid transforms (rot (N, 3, 3), pos (N, 3)) of twists (N, 6) [v, w] (pinocchio's ``exp6``)."""
    v, w = twist[:, :3], twist[:, 3:]
    theta = np.linalg.norm(w, axis=1)
    small = theta < 1e-4
    t = np.where(small, 1.0, theta)
    t2 = theta ** 2
    a = np.where(small, 1.0 - t2 / 6.0, np.sin(t) / t)                    # sin(th) / th
    b = np.where(small, 0.5 - t2 / 24.0, (1.0 - np.cos(t)) / t ** 2)       # (1 - cos th) / th^2
    c = np.where(small, 1.0 / 6.0 - t2 / 120.0, (t - np.sin(t)) / t ** 3)  # (th - sin th) / th^3
    K = np.zeros((len(w), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -w[:, 2], w[:, 1], -w[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = w[:, 2], -w[:, 1], w[:, 0]
    K2 = K @ K
    eye = np.eye(3)
    rot = eye + a[:, None, None] * K + b[:, None, None] * K2
    V = eye + b[:, None, None] * K + c[:, None, None] * K2
    return rot, np.einsum("nij,nj->ni", V, v)


def correct_balance(motion: RobotMotion, robot: Robot, settings: BalanceSettings = BalanceSettings(),
                    filter_settings: FilterSettings | None = None, feet_of: RobotMotion | None = None,
                    gate: np.ndarray | None = None, hold: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """(configurations q (T, 7 + D), total shift (T, 2) m) of ``motion`` with the body moved over
    its feet so the filter's ZMP lies inside the support polygon (see the module docstring).

    The feet are held at :func:`foot_targets` (``feet_of``, ``gate``): planted over the raw
    clip's contact runs where the gate is open, else where ``motion`` has them. ``hold``: frames
    at the start and at the end whose body is not shifted (a crop of a longer motion)."""
    return correct_balance_spans([motion], robot, settings, filter_settings, [feet_of], [gate], [hold])[0]


def correct_balance_spans(motions: Sequence[RobotMotion], robot: Robot, settings: BalanceSettings = BalanceSettings(),
                          filter_settings: FilterSettings | None = None,
                          feet_of: Sequence[RobotMotion | None] | None = None,
                          gates: Sequence[np.ndarray | None] | None = None,
                          holds: Sequence[tuple[int, int]] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`correct_balance` of several motions (the spans of one clip) together: each is
    corrected on its own, the same values, but the legs of all of them are solved in one batch
    per round (one forward kinematics per Gauss-Newton step instead of one per span)."""
    n = len(motions)
    feet_of = feet_of or [None] * n
    gates = gates or [None] * n
    holds = holds or [(0, 0)] * n
    out: list[tuple[np.ndarray, np.ndarray]] = []
    work: list[int] = []
    qs, tps, trs, totals, currents = [], [], [], [], []
    for k, motion in enumerate(motions):
        q = robot.configuration(motion.root_pos, motion.root_rot, motion.dof_pos)
        out.append((q, np.zeros((motion.num_frames, 2))))
        if motion.num_frames < 5:
            continue
        work.append(k)
        tpos, trot = foot_targets(motion, robot, feet_of[k], gates[k])
        qs.append(q)
        tps.append(tpos)
        trs.append(trot)
        totals.append(np.zeros((motion.num_frames, 2)))
        currents.append(motion)
    if not work:
        return out
    starts = np.cumsum([0] + [len(q) for q in qs])
    target_pos, target_rot = np.concatenate(tps), np.concatenate(trs)

    def solve(frames: list[np.ndarray], iterations: int) -> None:
        rows = np.concatenate([f + starts[i] for i, f in enumerate(frames)])
        if rows.size == 0:
            return
        solved = hold_feet(robot, np.concatenate(qs), target_pos, target_rot, rows, iterations)
        for i in range(len(qs)):
            if frames[i].size:
                qs[i] = solved[starts[i]:starts[i + 1]]
                currents[i] = _motion_of(motions[work[i]], robot, qs[i])

    off = []
    for i, k in enumerate(work):
        if feet_of[k] is None:
            off.append(np.zeros(0, dtype=int))
            continue
        m = motions[k]
        mpos, _ = robot.frame_placements(m.root_pos, m.root_rot, m.dof_pos, tuple(robot.config.foot_frames))
        off.append(np.flatnonzero(np.abs(mpos - tps[i]).max(axis=(1, 2)) > 1e-4))
    solve(off, settings.leg_iterations + 2)
    live = list(range(len(work)))
    for _ in range(settings.rounds):
        moved = [np.zeros(0, dtype=int)] * len(work)
        still = []
        for i in live:
            k = work[i]
            p, target, w, a = zmp_targets(currents[i], robot, settings, filter_settings, holds[k])
            d = zmp_shift(p, target, w, a, float(motions[k].fps), settings)
            moved_i = np.flatnonzero(np.linalg.norm(d, axis=1) > 1e-4)
            if moved_i.size == 0:
                continue                          # this span is done
            still.append(i)
            totals[i] += d
            qs[i] = qs[i].copy()
            qs[i][:, :2] += d
            moved[i] = moved_i
        live = still
        if not live:
            break
        solve(moved, settings.leg_iterations)
    for i, k in enumerate(work):
        out[k] = (qs[i], totals[i])
    return out

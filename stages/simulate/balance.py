"""A balanced centre-of-mass trajectory for the reference's contact schedule (a dynamics filter).

A kinematic reference (human motion retargeted) often puts the CoM where the
robot cannot hold it: in single support the human's CoM sways outside the
robot's narrower sole. Tracking it exactly tips the robot over. Before the
rollout, the horizontal CoM trajectory is replaced by the one closest to the
reference whose linear-inverted-pendulum ZMP

    p_t = c_t - h_t * c̈_t,   h_t = z_t / (g + z̈_t)   (z from the reference CoM)

lies inside the support polygon of the loaded feet (sole rectangles shrunk by
``cop_fraction``, at the reference's foot poses) on every frame with a
contact. It is solved as a receding-horizon QP (daqp) over windows of
``window_frames`` frames, committing ``commit_frames`` at a time; a window
that has no feasible solution keeps the reference.

Units: metres, seconds; world Z-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import daqp
import numpy as np
from scipy.spatial import ConvexHull, QhullError

GRAVITY = 9.81


@dataclass(frozen=True)
class BalancedCom:
    """(T, 3) position, velocity and acceleration of the balanced CoM and the frames it moved away from the reference."""

    com: np.ndarray
    com_vel: np.ndarray
    com_acc: np.ndarray
    windows_infeasible: int


def support_halfplanes(corners: np.ndarray, margin: float = 0.0) -> np.ndarray | None:
    """Half-planes (H, 3) ``[nx, ny, d]`` (inside: ``nx x + ny y + d <= 0``) of the hull of 2-D points."""
    try:
        hull = ConvexHull(corners)
    except (QhullError, ValueError):
        return None
    eq = hull.equations.copy()
    eq[:, 2] += margin
    return eq


def sole_corners(sole_pos: np.ndarray, foot_rot: np.ndarray, half: np.ndarray, fraction: float) -> np.ndarray:
    """(4, 2) world xy of a sole rectangle's corners (shrunk by ``fraction``)."""
    hx, hy = fraction * half[0], fraction * half[1]
    offsets = np.array([[hx, hy, 0.0], [hx, -hy, 0.0], [-hx, -hy, 0.0], [-hx, hy, 0.0]])
    return (sole_pos + offsets @ foot_rot.T)[:, :2]


def balance_com(com: np.ndarray, contacts: np.ndarray, sole_pos: np.ndarray, foot_rot: np.ndarray,
                half_extents: np.ndarray, fps: float, fraction: float = 0.7, window_frames: int = 40,
                commit_frames: int = 10, acceleration_weight: float = 1e-5) -> BalancedCom:
    """The balanced CoM trajectory (see the module docstring).

    Args:
        com: (T, 3) reference CoM, m. contacts: (T, 2) bool loaded feet.
        sole_pos: (T, 2, 3) sole centres; foot_rot: (T, 2, 3, 3); half_extents: (2, 2) m.
        fps: frame rate (Hz).
    """
    T = com.shape[0]
    dt = 1.0 / fps
    z = com[:, 2]
    zdd = np.gradient(np.gradient(z, dt), dt) if T > 2 else np.zeros(T)
    h = z / np.maximum(GRAVITY + zdd, 0.2 * GRAVITY)
    planes: list[np.ndarray | None] = []
    for t in range(T):
        pts = [sole_corners(sole_pos[t, k], foot_rot[t, k], half_extents[k], fraction)
               for k in range(2) if contacts[t, k]]
        planes.append(support_halfplanes(np.vstack(pts)) if pts else None)
    out = com[:, :2].copy()
    infeasible = 0
    start = 0
    while start < T:
        stop = min(T, start + window_frames)
        n = stop - start
        # second differences a_t = (c_{t+1} - 2 c_t + c_{t-1}) / dt² for t = start .. stop-2 (c_{start-1} fixed)
        prev = out[start - 1] if start > 0 else out[0] - (com[1, :2] - com[0, :2] if T > 1 else 0.0)
        rows = max(n - 1, 0)
        D = np.zeros((rows, n))
        for i in range(rows):
            D[i, i + 1] += 1.0
            D[i, i] -= 2.0
            if i > 0:
                D[i, i - 1] += 1.0
        D /= dt * dt
        bnd = np.zeros(rows)
        if rows:
            bnd[0] = 1.0 / (dt * dt)          # coefficient of c_{start-1} in a_start
        ref = com[start:stop, :2]
        # cost: |c - ref|² + w |a|², per axis (same matrix)
        Hs = np.eye(n) + acceleration_weight * D.T @ D
        H = np.kron(np.eye(2), Hs)
        f = -np.concatenate([ref[:, 0], ref[:, 1]])
        f += acceleration_weight * np.concatenate([D.T @ (bnd * prev[0]), D.T @ (bnd * prev[1])])
        A_rows, ub = [], []
        for i in range(rows):
            t = start + i
            eq = planes[t]
            if eq is None:
                continue
            # p = c_i - h a_i ; a_i = D[i] c + bnd_i * prev
            P = -h[t] * D[i]
            P[i] += 1.0
            for nx, ny, d in eq:
                row = np.concatenate([nx * P, ny * P])
                A_rows.append(row)
                ub.append(-d + h[t] * bnd[i] * (nx * prev[0] + ny * prev[1]))
        if A_rows:
            A = np.asarray(A_rows)
            upper = np.asarray(ub)
            lower = np.full(len(ub), -1e20)
            x, _, flag, _ = daqp.solve(H, f, A, upper, lower, np.zeros(len(ub), dtype=np.intc))
            if flag >= 1:
                sol = np.stack([x[:n], x[n:]], axis=1)
            else:
                infeasible += 1
                sol = ref.copy()
        else:
            sol = ref.copy()
        commit = n if stop == T else min(commit_frames, n)
        out[start:start + commit] = sol[:commit]
        start += commit
    full = np.concatenate([out, com[:, 2:3]], axis=1)
    vel = np.gradient(full, dt, axis=0) if T > 1 else np.zeros_like(full)
    acc = np.gradient(vel, dt, axis=0) if T > 1 else np.zeros_like(full)
    return BalancedCom(com=full, com_vel=vel, com_acc=acc, windows_infeasible=infeasible)

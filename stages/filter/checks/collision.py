"""Self-collision between non-adjacent collision capsules."""

from __future__ import annotations

import numpy as np

from core.robot.collision import closest_points_segments
from stages.filter.checks.base import CheckResult, threshold_result
from stages.filter.settings import SelfCollisionSettings
from stages.filter.state import ClipState


def penetration_depths(state: ClipState) -> np.ndarray:
    """(T, K) penetration depth (m, > 0 when overlapping) of each checked primitive pair."""
    b = state.body
    if len(b.pairs) == 0:
        return np.zeros((state.num_frames, 0))
    a, e = state.capsules
    i, j = b.pairs[:, 0], b.pairs[:, 1]
    ca, cb = closest_points_segments(a[:, i], e[:, i], a[:, j], e[:, j])
    dist = np.linalg.norm(ca - cb, axis=-1)
    return b.prim_radius[i] + b.prim_radius[j] - dist


def deepest_penetration(state: ClipState, first: int = 4) -> np.ndarray:
    """(T,) ``penetration_depths(state).max(axis=1)`` (m), the same values, computed for fewer pairs.

    A pair's depth is at most ``r_i + r_j - (|m_i - m_j| - h_i - h_j)`` (``m`` the middle of a
    capsule's axis, ``h`` half its length: every axis point lies within ``h`` of ``m``). Per frame
    the ``first`` pairs of largest bound are computed exactly, then every other pair whose bound
    exceeds the deepest found; the rest cannot be deeper. Non-finite clips: every pair.
    """
    b = state.body
    T = state.num_frames
    if len(b.pairs) == 0:
        return np.zeros(T)
    a, e = state.capsules
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return penetration_depths(state).max(axis=1)
    i, j = b.pairs[:, 0], b.pairs[:, 1]
    mid = 0.5 * (a + e)
    half = 0.5 * np.linalg.norm(e - a, axis=-1)                          # (T, P)
    gap = np.linalg.norm(mid[:, i] - mid[:, j], axis=-1) - half[:, i] - half[:, j]
    bound = b.prim_radius[i] + b.prim_radius[j] - gap + 1e-9             # (T, K) >= depth
    value = np.full(T, -np.inf)
    done = np.zeros(bound.shape, dtype=bool)
    n = min(first, bound.shape[1])
    top = np.argpartition(-bound, n - 1, axis=1)[:, :n] if n < bound.shape[1] else np.tile(np.arange(n), (T, 1))
    for pick in (np.zeros_like(done), None):
        if pick is not None:
            pick[np.arange(T)[:, None], top] = True
        else:
            pick = (bound > value[:, None]) & ~done
        t, k = np.nonzero(pick)
        if t.size:
            pi, pj = i[k], j[k]
            ca, cb = closest_points_segments(a[t, pi], e[t, pi], a[t, pj], e[t, pj])
            depth = b.prim_radius[pi] + b.prim_radius[pj] - np.linalg.norm(ca - cb, axis=-1)
            np.maximum.at(value, t, depth)
        done |= pick
    return value


def demanded_depths(state: ClipState) -> np.ndarray | None:
    """(T,) penetration (m) the retarget targets demand (``RobotMotion.target_penetration``), or
    None when the motion does not carry it (or its length does not match the clip)."""
    demand = state.motion.target_penetration
    if demand is None:
        return None
    demand = np.asarray(demand, dtype=np.float64).reshape(-1)
    return demand if demand.shape[0] == state.num_frames else None


def self_collision(state: ClipState, s: SelfCollisionSettings) -> CheckResult:
    """Deepest penetration (m) per frame: between the robot's non-adjacent capsule pairs and, with
    ``s.demanded``, the one its retarget targets demand less ``s.demanded_allowance_m`` (whichever is
    deeper)."""
    value = deepest_penetration(state)
    demand = demanded_depths(state) if s.demanded else None
    if demand is not None:
        value = np.fmax(value, demand - s.demanded_allowance_m)
    return threshold_result("self_collision", value, s.max_depth_m, "m", s.allow_frames)

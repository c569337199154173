"""Self-collision between non-adjacent collision capsules."""

from __future__ import annotations

import numpy as np

from stages.filter.checks.base import CheckResult, threshold_result
from stages.filter.settings import SelfCollisionSettings
from stages.filter.state import ClipState


def segment_distance(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Shortest distance (m) between segments ``[p1, q1]`` and ``[p2, q2]``, broadcast over leading axes.

    Closed-form clamped solution of the two-segment least-squares problem
    (degenerate segments, i.e. spheres, included).
    """
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = np.sum(d1 * d1, axis=-1)
    e = np.sum(d2 * d2, axis=-1)
    f = np.sum(d2 * r, axis=-1)
    c = np.sum(d1 * r, axis=-1)
    b = np.sum(d1 * d2, axis=-1)
    eps = 1e-12
    denom = a * e - b * b
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.maximum(denom, eps), 0.0, 1.0), 0.0)
    s = np.where(a > eps, s, 0.0)
    t = np.where(e > eps, (b * s + f) / np.maximum(e, eps), 0.0)
    # t outside [0, 1]: clamp it and recompute s for the clamped t
    t_lo, t_hi = t < 0.0, t > 1.0
    s = np.where(t_lo & (a > eps), np.clip(-c / np.maximum(a, eps), 0.0, 1.0), s)
    s = np.where(t_hi & (a > eps), np.clip((b - c) / np.maximum(a, eps), 0.0, 1.0), s)
    t = np.clip(t, 0.0, 1.0)
    closest1 = p1 + s[..., None] * d1
    closest2 = p2 + t[..., None] * d2
    return np.linalg.norm(closest1 - closest2, axis=-1)


def penetration_depths(state: ClipState) -> np.ndarray:
    """(T, K) penetration depth (m, > 0 when overlapping) of each checked primitive pair."""
    b = state.body
    if len(b.pairs) == 0:
        return np.zeros((state.num_frames, 0))
    a, e = state.capsules
    i, j = b.pairs[:, 0], b.pairs[:, 1]
    dist = segment_distance(a[:, i], e[:, i], a[:, j], e[:, j])
    return b.prim_radius[i] + b.prim_radius[j] - dist


def self_collision(state: ClipState, s: SelfCollisionSettings) -> CheckResult:
    """Deepest penetration (m) between the robot's non-adjacent capsule pairs, per frame."""
    depth = penetration_depths(state)
    value = depth.max(axis=1) if depth.shape[1] else np.zeros(state.num_frames)
    return threshold_result("self_collision", value, s.max_depth_m, "m", s.allow_frames)

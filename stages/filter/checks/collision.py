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
    depth = penetration_depths(state)
    value = depth.max(axis=1) if depth.shape[1] else np.zeros(state.num_frames)
    demand = demanded_depths(state) if s.demanded else None
    if demand is not None:
        value = np.fmax(value, demand - s.demanded_allowance_m)
    return threshold_result("self_collision", value, s.max_depth_m, "m", s.allow_frames)

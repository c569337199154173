"""Checks against the floor (z = 0): penetration, floating, non-foot contact."""

from __future__ import annotations

import numpy as np

from core.contacts import spans_of
from stages.filter.checks.base import CheckResult, drop_short_runs, threshold_result
from stages.filter.settings import FloatingSettings, GroundPenetrationSettings, NonFootGroundContactSettings
from stages.filter.state import GRAVITY, ClipState


def ground_penetration(state: ClipState, s: GroundPenetrationSettings) -> CheckResult:
    """Depth (m) of the deepest body point below the floor, per frame.

    Bodies: the sole corners of both feet and the lowest surface point of every
    other collision primitive (not just link origins).
    """
    sole_z = state.sole_points[..., 2].reshape(state.num_frames, -1).min(axis=1)
    other = state.nonfoot_lowest[..., 2]
    lowest = np.minimum(sole_z, other.min(axis=1)) if other.shape[1] else sole_z
    return threshold_result("ground_penetration", -lowest, s.max_depth_m, "m", s.allow_frames)


def non_foot_ground_contact(state: ClipState, s: NonFootGroundContactSettings) -> CheckResult:
    """Height (m) of the lowest non-foot body point (knees, hands, pelvis, torso, ...), per frame.

    Fails below ``height_m`` (lying, crawling, kneeling, falling, getting up).
    """
    other = state.nonfoot_lowest[..., 2]
    value = other.min(axis=1) if other.shape[1] else np.full(state.num_frames, np.nan)
    return threshold_result("non_foot_ground_contact", value, s.height_m, "m", s.allow_frames,
                            higher_is_worse=False)


def ballistic_duration(z_takeoff: float, z_apex: float, z_landing: float) -> float:
    """Duration (s) of a ballistic flight of the CoM from take-off height through the apex to landing (m)."""
    up = max(z_apex - z_takeoff, 0.0)
    down = max(z_apex - z_landing, 0.0)
    return float(np.sqrt(2.0 * up / GRAVITY) + np.sqrt(2.0 * down / GRAVITY))


def floating(state: ClipState, s: FloatingSettings) -> CheckResult:
    """Airborne time beyond a ballistic flight (s), per airborne span.

    An airborne span is a run of frames in which no contact point (sole corner
    or other body) is within ``settings.contact.height_m`` of the floor. Its
    duration ``n / fps`` is compared with the ballistic duration for the CoM
    heights at take-off (last contact frame), apex and landing (first contact
    frame). The value of every frame of a span is the span's excess; frames in
    contact are not judged (NaN).
    """
    T = state.num_frames
    value = np.full(T, np.nan)
    airborne = drop_short_runs(~state.any_contact, s.min_airborne_frames - 1)
    if airborne.any():
        com_z = state.centroidal[0][:, 2]
        for start, stop in spans_of(airborne):
            lo, hi = max(start - 1, 0), min(stop, T - 1)
            apex = float(com_z[lo:hi + 1].max())
            excess = (stop - start) / state.fps - ballistic_duration(float(com_z[lo]), apex, float(com_z[hi]))
            value[start:stop] = excess
    return threshold_result("floating", value, s.tolerance_s, "s")

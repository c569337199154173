"""Settings of the ingest stage (the manifest's ``stages.ingest`` section)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Ingest options.

    Attributes:
        floor_percentile: the floor height is this percentile (%) of the
            per-frame lowest foot keypoint height (ankles and toes) over the
            frames where that keypoint is planted (robust to glitches).
        floor_stance_speed: a foot keypoint slower than this (m/s) counts as
            planted for the floor estimate.
        min_frames: clips with fewer frames after resampling are rejected
            (reason ``too_short``).
        require_body_models: when true, AMASS clips without body-model files are
            rejected (``missing_body_model``) instead of using the mean-shape
            skeleton; OR-ed with the clip source's own switch.
        max_duration: clips longer than this (s) are rejected (``too_long``);
            0 disables the check.
        strict_input: when true, a file that could only be salvaged (a
            truncated BVH read up to its last complete frame, a header whose
            frame count is wrong) is rejected (``salvaged_input``) instead of
            kept with a warning (``run --strict-input`` sets it).
    """

    floor_percentile: float = 50.0
    floor_stance_speed: float = 0.2
    min_frames: int = 2
    require_body_models: bool = False
    max_duration: float = 0.0
    strict_input: bool = False

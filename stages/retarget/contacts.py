"""Per-frame foot contact of the human, the mask the retargeted feet are locked to.

A foot is in contact when both its ankle and its toe keypoints are low and
slow (:func:`core.contacts.foot_contacts`) and its shin rises above
it: a flat foot carrying the body. Heights are
measured from each point's own resting height above the clip's floor (an ankle
joint sits ~8 cm above the floor when the foot is flat), estimated as a low
percentile of that point's height over the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.contacts import foot_contacts, spans_of

FOOT_POINTS: tuple[tuple[str, str], ...] = (("left_ankle", "left_toe"), ("right_ankle", "right_toe"))
KNEES: tuple[str, str] = ("left_knee", "right_knee")


@dataclass(frozen=True)
class ContactSettings:
    """Contact thresholds (from the manifest's retarget settings).

    Attributes:
        height: a foot point within this height (m) of its resting height can be in contact.
        speed: and slower than this (m/s).
        min_span_frames: shorter contact / flight runs of each point are absorbed (debounce, frames).
        max_gap_s: a foot's contact gaps up to this long (s) are filled (a flickering
            stance would otherwise re-land the foot in a new place).
        rest_percentile: percentile (%) of a point's height over the clip taken as its resting height.
        max_rest_height: cap (m) on a point's resting height above the floor.
        min_shin_rise: a foot only stands (is locked flat) while its shin rises at least this
            much (sine of the knee's elevation above the ankle): a foot on its side under a
            lying or kneeling body is not a support.
    """

    height: float = 0.05
    speed: float = 0.35
    min_span_frames: int = 3
    max_gap_s: float = 0.1
    rest_percentile: float = 5.0
    max_rest_height: float = 0.15
    min_shin_rise: float = 0.5


def human_foot_contacts(keypoints: dict[str, np.ndarray], fps: float, floor_height: float,
                        settings: ContactSettings = ContactSettings()) -> np.ndarray:
    """(T, 2) bool contact [left, right] of a human clip.

    Args:
        keypoints: keypoint name -> (T, 3) positions (m, Z-up); needs the
            knees, ankles and toes.
        fps: frame rate (Hz).
        floor_height: the clip's floor z (m).
        settings: thresholds.
    """
    out = []
    for (ankle, toe), knee in zip(FOOT_POINTS, KNEES):
        shin = np.asarray(keypoints[knee], dtype=np.float64) - np.asarray(keypoints[ankle], dtype=np.float64)
        upright = shin[:, 2] >= settings.min_shin_rise * np.linalg.norm(shin, axis=1)
        flags = [upright]
        for name in (ankle, toe):
            p = np.asarray(keypoints[name], dtype=np.float64)
            rest = float(np.clip(np.percentile(p[:, 2] - floor_height, settings.rest_percentile),
                                 0.0, settings.max_rest_height))
            flags.append(foot_contacts(p[:, None, :], fps, floor_height + rest, settings.height, settings.speed,
                                       settings.min_span_frames)[:, 0])
        out.append(fill_gaps(flags[0] & flags[1] & flags[2], int(round(settings.max_gap_s * fps))))
    return np.stack(out, axis=1)


def fill_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """``mask`` with False runs of at most ``max_gap`` frames between two True runs set True."""
    mask = np.asarray(mask, dtype=bool).copy()
    if max_gap <= 0:
        return mask
    spans = spans_of(mask)
    for (_, stop), (start, _) in zip(spans[:-1], spans[1:]):
        if start - stop <= max_gap:
            mask[stop:start] = True
    return mask

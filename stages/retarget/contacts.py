"""Per-frame foot contact of the human: heel and toe separately, the plants the robot's feet lock to.

Each foot has two contact points, the heel (the ankle keypoint) and the toe (the
toe keypoint). A point is *planted* when it is within ``height_on`` of its
resting height and slower than ``speed_on``; it stays planted until it rises
above ``height_off`` or moves faster than ``speed_off`` (hysteresis, so a
stance does not flicker). A foot is

* planted flat when both points are planted (the sole carries the body),
* pivoting on its heel (heel strike) or on its toe (toe off, kneeling) when one is,
* grounded but sliding when a point is low but moving (the robot's foot then
  follows the scaled human foot along the floor), and
* swinging otherwise.

Resting heights come from upright stance frames (shin rising above the ankle,
both points slow, the point within ``max_rest_height`` of the floor), so clips
that lie or kneel on the floor, where a foot on its side sits lower than a
standing one, keep the standing foot's rest; a clip without enough upright
stance falls back to a low percentile over the whole clip. Nothing here asks
for an upright shin to plant a point: a kneeling toe or a lying heel that
rests on the floor is planted too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.contacts import debounce, spans_of

FOOT_POINTS: tuple[tuple[str, str], ...] = (("left_ankle", "left_toe"), ("right_ankle", "right_toe"))
KNEES: tuple[str, str] = ("left_knee", "right_knee")

HEEL, TOE = 0, 1
"""Point indices of :attr:`FootContacts.planted`."""
SWING, FLAT, HEEL_PIVOT, TOE_PIVOT, SLIDING = 0, 1, 2, 3, 4
"""Values of :attr:`FootContacts.mode`."""


@dataclass(frozen=True)
class ContactSettings:
    """Contact thresholds (from the manifest's retarget settings).

    Attributes:
        height_on: a point within this height (m) of its resting height can plant. 0.05 (was 0.04):
            on lafan1 ground1_subject1 the lying feet's toes rest 4.2-4.6 cm above the standing toe's
            rest height and went unlocked (lock coverage 0.95 -> 1.00, slide / slide_ref 1.13 -> 0.97
            with the lying settings of then); height_off moved with it.
        height_off: a planted point stays planted until it rises above this (m, >= height_on).
        speed_on: a point slower than this (m/s, 3-D, central differences) can plant.
        speed_off: a planted point stays planted until it moves faster than this (m/s).
        slide_speed: a low point that is not planted but slower than this (m/s) slides on the
            floor (faster: the foot skims past in a swing, and gets the swing clearance). 0.55: at
            0.8 feet lifting off or landing at 0.5-0.8 m/s were held on the floor (near-ground speed
            over the 21 real clips 10.7 cm/s mean against 9.1 at 0.55); at 0.4 feet still sliding in
            contact swing free (slide / slide_ref 0.88 against 0.86).
        min_span_frames: shorter plant / flight runs of each point are absorbed (debounce, frames).
        max_gap_s: a foot's plant gaps up to this long (s) are filled with the plant before
            them (a flickering stance would otherwise re-land the foot in a new place).
        stance_speed: upright frames where both points of a foot are slower than this
            (m/s) are stance frames, where resting heights are measured.
        min_shin_rise: a frame is upright for a foot when its shin rises at least this much
            (sine of the knee's elevation above the ankle).
        rest_percentile: percentile (%) of a point's height over its stance frames taken
            as its resting height (over the whole clip when too few stance frames).
        min_stance_frames: fewer stance frames than this fall back to the whole clip.
        max_rest_height: cap (m) on a point's resting height above the floor.
    """

    height_on: float = 0.05
    height_off: float = 0.07
    speed_on: float = 0.35
    speed_off: float = 0.5
    slide_speed: float = 0.55
    min_span_frames: int = 3
    max_gap_s: float = 0.1
    stance_speed: float = 0.2
    min_shin_rise: float = 0.5
    rest_percentile: float = 10.0
    min_stance_frames: int = 10
    max_rest_height: float = 0.15


@dataclass(frozen=True)
class FootContacts:
    """Contact state of both feet of a clip.

    Attributes:
        planted: (T, 2, 2) bool [foot (left, right), point (heel, toe)].
        grounded: (T, 2) bool: a point of the foot is low (planted or sliding).
        rest_height: (2, 2) resting height (m above the floor) [foot, point].
        upright: (T, 2) bool the foot's shin rises above it (standing, not lying or kneeling);
            None: everywhere.
    """

    planted: np.ndarray
    grounded: np.ndarray
    rest_height: np.ndarray
    upright: np.ndarray | None = None

    @property
    def locked(self) -> np.ndarray:
        """(T, 2) bool: the foot is planted flat or pivots on a planted point."""
        return np.asarray(self.planted.any(axis=2), dtype=bool)

    @property
    def standing(self) -> np.ndarray:
        """(T, 2) bool: the foot touches the floor under an upright shin (the sole carries the
        body; a foot under a lying or kneeling body touches the floor with its side or back)."""
        up = np.ones_like(self.grounded) if self.upright is None else self.upright
        return self.grounded & up

    @property
    def mode(self) -> np.ndarray:
        """(T, 2) int: SWING, FLAT, HEEL_PIVOT, TOE_PIVOT or SLIDING per foot."""
        heel, toe = self.planted[..., HEEL], self.planted[..., TOE]
        out = np.where(self.grounded, SLIDING, SWING)
        out = np.where(heel & ~toe, HEEL_PIVOT, out)
        out = np.where(toe & ~heel, TOE_PIVOT, out)
        return np.where(heel & toe, FLAT, out)


def hysteresis(on: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(T,) bool: True from a frame where ``on`` holds for as long as ``keep`` holds.

    ``on`` implies ``keep`` is expected (the stricter entry test)."""
    on = np.asarray(on, dtype=bool)
    keep = np.asarray(keep, dtype=bool) | on
    out = np.zeros_like(on)
    for a, b in spans_of(keep):
        hits = np.flatnonzero(on[a:b])
        if len(hits):
            out[a + hits[0]:b] = True
    return out


def resting_heights(heights: np.ndarray, speeds: np.ndarray, upright: np.ndarray,
                    settings: ContactSettings) -> np.ndarray:
    """(P,) resting height (m above the floor) of P points of one foot.

    Args:
        heights: (T, P) heights above the floor; speeds: (T, P) m/s; upright: (T,) bool.
    """
    stance = upright & np.all(speeds < settings.stance_speed, axis=1) \
        & np.all(heights < settings.max_rest_height, axis=1)
    rows = heights[stance] if stance.sum() >= settings.min_stance_frames else heights
    return np.clip(np.percentile(rows, settings.rest_percentile, axis=0), -settings.max_rest_height,
                   settings.max_rest_height)


def detect_foot_contacts(keypoints: dict[str, np.ndarray], fps: float, floor_height: float,
                         settings: ContactSettings = ContactSettings()) -> FootContacts:
    """Heel and toe plants of both feet of a human clip.

    Args:
        keypoints: keypoint name -> (T, 3) positions (m, Z-up); needs the
            knees, ankles and toes.
        fps: frame rate (Hz).
        floor_height: the clip's floor z (m).
        settings: thresholds.
    """
    planted, grounded, rests, uprights = [], [], [], []
    for (ankle, toe), knee in zip(FOOT_POINTS, KNEES):
        pts = np.stack([np.asarray(keypoints[ankle], dtype=np.float64),
                        np.asarray(keypoints[toe], dtype=np.float64)], axis=1)          # (T, 2, 3)
        T = pts.shape[0]
        speed = np.linalg.norm(np.gradient(pts, 1.0 / fps, axis=0), axis=-1) if T > 1 else np.zeros((T, 2))
        height = pts[..., 2] - floor_height
        shin = np.asarray(keypoints[knee], dtype=np.float64) - pts[:, 0]
        upright = shin[:, 2] >= settings.min_shin_rise * np.linalg.norm(shin, axis=1)
        rest = resting_heights(height, speed, upright, settings)
        above = height - rest
        low_on, low_off = above < settings.height_on, above < settings.height_off
        plant = np.stack([
            debounce(hysteresis(low_on[:, p] & (speed[:, p] < settings.speed_on),
                                low_off[:, p] & (speed[:, p] < settings.speed_off)), settings.min_span_frames)
            for p in (HEEL, TOE)], axis=1)
        gap = int(round(settings.max_gap_s * fps))
        locked = fill_gaps(np.asarray(plant.any(axis=1)), gap)
        gaps = locked & ~plant.any(axis=1)
        for t in np.flatnonzero(gaps):                   # a gap keeps the plant before it
            plant[t] = plant[t - 1]
        slow = np.min(np.where(low_on, speed, np.inf), axis=1) < settings.slide_speed
        ground = locked | debounce(low_on.any(axis=1) & slow, settings.min_span_frames)
        planted.append(plant)
        grounded.append(ground)
        rests.append(rest)
        uprights.append(upright)
    return FootContacts(planted=np.stack(planted, axis=1), grounded=np.stack(grounded, axis=1),
                        rest_height=np.stack(rests), upright=np.stack(uprights, axis=1))


def human_foot_contacts(keypoints: dict[str, np.ndarray], fps: float, floor_height: float,
                        settings: ContactSettings = ContactSettings()) -> np.ndarray:
    """(T, 2) bool [left, right]: the foot touches the floor (planted flat, pivoting or sliding)."""
    return detect_foot_contacts(keypoints, fps, floor_height, settings).grounded


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

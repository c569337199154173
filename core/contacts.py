"""Foot contact detection from foot trajectories (human keypoints or robot links)."""

from __future__ import annotations

import numpy as np


def foot_contacts(foot_pos: np.ndarray, fps: float, floor_height: float = 0.0,
                  height_threshold: float = 0.08, speed_threshold: float = 0.3,
                  min_span_frames: int = 2) -> np.ndarray:
    """Per-frame contact of each foot.

    Args:
        foot_pos: (T, F, 3) world positions (m, Z-up) of F foot points (e.g.
            ankle and toe of each foot, or one point per foot).
        fps: frame rate (Hz).
        floor_height: floor z (m).
        height_threshold: a point within this height above the floor (m) can be
            in contact.
        speed_threshold: and moving slower than this (m/s, central difference).
        min_span_frames: contact or no-contact runs shorter than this are
            absorbed into their neighbours (debounce).

    Returns:
        (T, F) bool.
    """
    pos = np.asarray(foot_pos, dtype=np.float64)
    if pos.ndim == 2:
        pos = pos[:, None, :]
    vel = np.gradient(pos, 1.0 / fps, axis=0) if len(pos) > 1 else np.zeros_like(pos)
    speed = np.linalg.norm(vel, axis=-1)
    height = pos[..., 2] - floor_height
    contact = (height < height_threshold) & (speed < speed_threshold)
    if min_span_frames > 1:
        for f in range(contact.shape[1]):
            contact[:, f] = debounce(contact[:, f], min_span_frames)
    return contact


def debounce(mask: np.ndarray, min_len: int) -> np.ndarray:
    """Flip runs shorter than ``min_len`` frames that sit between two runs of the other value.

    The runs are those of the input (a flipped run does not merge with its neighbours before the
    next one is judged); vectorised over the runs."""
    mask = np.asarray(mask)
    n = len(mask)
    out = mask.copy()
    if n == 0:
        return out
    change = mask[1:] != mask[:-1]
    starts = np.concatenate(([0], np.flatnonzero(change) + 1))
    stops = np.concatenate((starts[1:], [n]))
    short = (stops - starts < min_len) & (starts > 0) & (stops < n)
    if short.any():
        flip = short[np.concatenate(([0], np.cumsum(change)))]
        out[flip] = mask[flip] == 0
    return out


def spans_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` spans where ``mask`` is True."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return []
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]

"""What every check returns, and the small helpers they share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CheckResult:
    """One check's per-frame outcome on one clip.

    Attributes:
        code: reason code (snake_case), e.g. ``joint_velocity``.
        fail: (T,) bool, frames that fail (short tolerated runs already removed).
        value: (T,) float, measured value per frame (NaN where not judged).
        threshold: the threshold ``value`` is compared with (same unit).
        unit: unit of ``value`` and ``threshold``.
        higher_is_worse: True when larger values are worse (``worst`` is the
            maximum), False when smaller ones are (the minimum).
    """

    code: str
    fail: np.ndarray
    value: np.ndarray
    threshold: float
    unit: str
    higher_is_worse: bool = True

    @property
    def failed(self) -> bool:
        return bool(np.any(self.fail))

    @property
    def worst(self) -> float:
        """Worst measured value over the clip (the failing frames when any fail)."""
        values = self.value[self.fail] if self.failed else self.value
        values = values[np.isfinite(values)]
        if values.size == 0:
            return float(self.threshold)
        return float(values.max() if self.higher_is_worse else values.min())


def drop_short_runs(mask: np.ndarray, allow_frames: int) -> np.ndarray:
    """``mask`` without its isolated short True runs.

    Runs separated by gaps of at most ``allow_frames // 2`` frames are first
    merged (a violation that keeps coming back is not a short one), then
    merged runs of at most ``allow_frames`` frames are dropped.
    """
    mask = np.asarray(mask, dtype=bool)
    if allow_frames <= 0 or not mask.any():
        return mask.copy()
    out = mask.copy()
    runs = _runs(out)
    for (_, stop), (start, _) in zip(runs, runs[1:]):
        if start - stop <= allow_frames // 2:
            out[stop:start] = True
    for start, stop in _runs(out):
        if stop - start <= allow_frames:
            out[start:stop] = False
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def threshold_result(code: str, value: np.ndarray, threshold: float, unit: str, allow_frames: int = 0,
                     higher_is_worse: bool = True, judged: np.ndarray | None = None) -> CheckResult:
    """A check that fails where ``value`` is beyond ``threshold`` (NaN values never fail).

    Args:
        code: reason code.
        value: (T,) measured values.
        threshold: fails where ``value > threshold`` (or ``<`` when not
            ``higher_is_worse``).
        unit: unit of both.
        allow_frames: failing runs of at most this many frames are tolerated.
        higher_is_worse: direction of the comparison.
        judged: optional (T,) bool; frames outside it never fail and get NaN.
    """
    value = np.asarray(value, dtype=np.float64).copy()
    if judged is not None:
        value[~np.asarray(judged, dtype=bool)] = np.nan
    with np.errstate(invalid="ignore"):
        raw = value > threshold if higher_is_worse else value < threshold
    raw &= np.isfinite(value)
    return CheckResult(code, drop_short_runs(raw, allow_frames), value, float(threshold), unit, higher_is_worse)

"""From per-frame check results to a verdict: reasons, kept segments, pass/trimmed/reject."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core.contacts import spans_of
from core.records.verdict import Reason, Verdict
from stages.filter.checks import CHECKS
from stages.filter.checks.base import CheckResult
from stages.filter.settings import Settings


def dilate(mask: np.ndarray, frames: int) -> np.ndarray:
    """``mask`` grown by ``frames`` frames on both sides of every True run."""
    mask = np.asarray(mask, dtype=bool)
    if frames <= 0 or not mask.any():
        return mask.copy()
    kernel = np.ones(2 * frames + 1)
    return np.convolve(mask.astype(np.float64), kernel, mode="same") > 0.5


def reasons_of(results: Sequence[CheckResult], settings: Settings) -> list[Reason]:
    """A :class:`Reason` per failing check: whole-clip codes first, then in check order
    (:data:`stages.filter.checks.CHECKS`: causes before their dynamic consequences)."""
    order = {code: i for i, code in enumerate(CHECKS)}
    failed = [r for r in results if r.failed]
    failed.sort(key=lambda r: (r.code not in settings.reject_whole, order.get(r.code, len(order))))
    return [Reason(code=r.code, spans=spans_of(r.fail), value=_round(r.worst), threshold=float(r.threshold),
                   unit=r.unit) for r in failed]


def keep_mask(results: Sequence[CheckResult], num_frames: int, fps: float, settings: Settings) -> np.ndarray:
    """(T,) bool frames kept: outside every cutting check's failing frames grown by ``pad_s``."""
    cut = np.zeros(num_frames, dtype=bool)
    for r in results:
        if r.code not in settings.flag_only:
            cut |= r.fail
    return ~dilate(cut, int(round(settings.pad_s * fps)))


def decide(results: Sequence[CheckResult], num_frames: int, fps: float, settings: Settings) -> tuple[Verdict, np.ndarray]:
    """The verdict on a clip and its per-frame keep mask.

    ``reject`` when a ``reject_whole`` code fails or no feasible segment of at
    least ``min_segment_s`` remains; ``pass`` when nothing is cut (flag-only
    reasons are still listed); otherwise ``trimmed`` with the kept segments
    (half-open frame ranges of the source clip).
    """
    reasons = reasons_of(results, settings)
    codes = {r.code for r in reasons}
    if codes & set(settings.reject_whole):
        return Verdict("reject", [], reasons, num_frames, fps), np.zeros(num_frames, dtype=bool)
    keep = keep_mask(results, num_frames, fps, settings)
    if keep.all():
        return Verdict("pass", [(0, num_frames)], reasons, num_frames, fps), keep
    min_len = max(1, math.ceil(settings.min_segment_s * fps - 1e-9))
    segments = [s for s in spans_of(keep) if s[1] - s[0] >= min_len]
    mask = np.zeros(num_frames, dtype=bool)
    for a, b in segments:
        mask[a:b] = True
    return Verdict("trimmed" if segments else "reject", segments, reasons, num_frames, fps), mask


def _round(x: float) -> float:
    return float(f"{x:.6g}") if math.isfinite(x) else x

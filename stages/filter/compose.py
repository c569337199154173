"""The final verdict on a clip: hard checks on the raw motion, dynamic checks on the stored variant.

A frame is kept when

- it lies in a kept segment of the *hard* verdict (checks of kind ``hard``,
  judged on the raw retarget, before adapt; :data:`stages.filter.checks.KINDS`),
- no *dynamic* check (ZMP, torque, flight momentum) fails near it on the
  variant the dataset stores (the adapted motion when the adapt stage ran,
  the raw one when it is off), failing spans grown by ``pad_s``, and
- (only when ``drop_sim_fall``) the simulate stage did not report it fallen
  (reason ``sim_fall``; otherwise those reasons are listed, not cut),

and kept runs shorter than ``min_segment_s`` are dropped. The result is a
:class:`Verdict` whose ``variant`` says which motion passed the dynamic checks.
Pure functions of verdicts; no file access.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.contacts import spans_of
from core.records.verdict import Reason, Verdict


@dataclass(frozen=True)
class ComposeSettings:
    """How verdicts combine (the filter's own settings of the same names).

    Attributes:
        pad_s: frames this close (s) to a failing dynamic span are cut as well.
        min_segment_s: kept segments shorter than this (s) are dropped.
        flag_only: reason codes reported without cutting frames.
        drop_sim_fall: cut the frames of ``sim_fall`` reasons (default: report only).
    """

    pad_s: float = 0.1
    min_segment_s: float = 2.0
    flag_only: tuple[str, ...] = ()
    drop_sim_fall: bool = False

    @classmethod
    def from_json(cls, data: dict | None) -> ComposeSettings:
        data = data or {}
        return cls(pad_s=float(data.get("pad_s", 0.1)), min_segment_s=float(data.get("min_segment_s", 2.0)),
                   flag_only=tuple(data.get("flag_only", ())), drop_sim_fall=bool(data.get("drop_sim_fall", False)))

    def to_json(self) -> dict:
        return {"pad_s": self.pad_s, "min_segment_s": self.min_segment_s, "flag_only": list(self.flag_only),
                "drop_sim_fall": self.drop_sim_fall}


def _mask(spans: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for a, b in spans:
        mask[max(0, int(a)):min(n, int(b))] = True
    return mask


def _dilate(mask: np.ndarray, frames: int) -> np.ndarray:
    if frames <= 0 or not mask.any():
        return mask.copy()
    return np.convolve(mask.astype(np.float64), np.ones(2 * frames + 1), mode="same") > 0.5


def compose(hard: Verdict, dynamic: Verdict | None, settings: ComposeSettings = ComposeSettings(),
            variant: str = "raw", sim_reasons: Sequence[Reason] = ()) -> Verdict:
    """The dataset's verdict on one clip.

    Args:
        hard: verdict of the hard checks on the raw retarget (its segments are the frames
            they keep; ``reject`` rejects the clip whatever the rest says).
        dynamic: verdict of the dynamic checks on the stored ``variant`` (only its reasons'
            spans are used); None when they did not run (nothing dynamic fails).
        settings: see :class:`ComposeSettings`.
        variant: ``"raw"`` or ``"adapted"``: which motion ``dynamic`` judged.
        sim_reasons: the simulate stage's ``sim_fall`` reasons (frame spans of falls).

    Returns:
        ``pass`` / ``trimmed`` / ``reject`` with the kept segments (source frame ranges),
        the hard reasons, then the dynamic ones, then the simulation's, and ``variant``.
    """
    n = int(hard.num_frames)
    fps = float(hard.fps) or 1.0
    dyn_reasons = list(dynamic.reasons) if dynamic is not None else []
    reasons = list(hard.reasons) + dyn_reasons + list(sim_reasons)
    if hard.verdict == "reject":
        return Verdict("reject", [], reasons, n, fps, variant=variant)
    keep = _mask(hard.segments, n)
    cut = np.zeros(n, dtype=bool)
    for reason in dyn_reasons:
        if reason.code not in settings.flag_only:
            cut |= _mask(reason.spans, n)
    keep &= ~_dilate(cut, int(round(settings.pad_s * fps)))
    if settings.drop_sim_fall:
        for reason in sim_reasons:
            keep &= ~_mask(reason.spans, n)
    if keep.all():
        return Verdict("pass", [(0, n)], reasons, n, fps, variant=variant)
    min_len = max(1, math.ceil(settings.min_segment_s * fps - 1e-9))
    segments = [(int(a), int(b)) for a, b in spans_of(keep) if b - a >= min_len]
    return Verdict("trimmed" if segments else "reject", segments, reasons, n, fps, variant=variant)


def kept_frames(verdict: Verdict) -> int:
    """Frames inside the verdict's kept segments."""
    return int(sum(b - a for a, b in verdict.segments))

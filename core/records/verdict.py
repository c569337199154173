"""The filter's verdict on one retargeted clip.

Frame indices are into the retargeted clip; spans are half-open
``[start, stop)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

VerdictKind = Literal["pass", "trimmed", "reject"]


@dataclass
class Reason:
    """One failing check.

    Attributes:
        code: reason code (e.g. ``joint_velocity``, ``zmp_outside_support``).
        spans: failing frame spans ``[start, stop)``.
        value: worst measured value over the clip.
        threshold: the threshold it was compared with (same unit).
        unit: unit of ``value`` and ``threshold``.
    """

    code: str
    spans: list[tuple[int, int]]
    value: float
    threshold: float
    unit: str = ""


@dataclass
class Verdict:
    """``pass`` (clip kept whole), ``trimmed`` (only ``segments`` kept) or ``reject``.

    ``variant`` names the motion the verdict's dynamic checks judged (``"raw"`` or
    ``"adapted"``; ``stages/filter/compose.py``), None when it judged the raw motion alone.
    """

    verdict: VerdictKind
    segments: list[tuple[int, int]]
    reasons: list[Reason] = field(default_factory=list)
    num_frames: int = 0
    fps: float = 0.0
    variant: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["segments"] = [list(s) for s in self.segments]
        for r in out["reasons"]:
            r["spans"] = [list(s) for s in r["spans"]]
        if self.variant is None:
            out.pop("variant")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            verdict=data["verdict"],
            segments=[tuple(s) for s in data["segments"]],
            reasons=[Reason(code=r["code"], spans=[tuple(s) for s in r["spans"]], value=float(r["value"]),
                            threshold=float(r["threshold"]), unit=r.get("unit", "")) for r in data.get("reasons", [])],
            num_frames=int(data.get("num_frames", 0)),
            fps=float(data.get("fps", 0.0)),
            variant=data.get("variant"),
        )

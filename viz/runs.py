"""Read a finished run folder (``OUT/run.json`` and its artifacts) for the viewers.

A clip's motions are found through the run manifest: the ``ingest`` artifact is
the human motion, ``retarget`` the raw robot motion, ``adapt`` and ``simulate``
(when those stages ran) the adapted and simulated robot motions (all
``RobotMotion``-loadable npz), and the ``filter`` record's summary holds the
verdict. Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.npzio import load_npz
from core.records.human_motion import HumanMotion
from core.records.robot_motion import RobotMotion
from core.records.verdict import Verdict

RUN_FILE = "run.json"

#: Robot-motion variants and the clip stage whose artifact holds each, in display order.
VARIANT_STAGES: tuple[tuple[str, str], ...] = (("raw", "retarget"), ("adapted", "adapt"), ("simulated", "simulate"))


@dataclass
class ClipMotions:
    """Everything a viewer shows of one clip.

    Attributes:
        clip_id: the clip's id in the run (or the file name for a lone npz).
        human: the canonical human motion, or None (a lone robot npz).
        robots: variant name ("raw", "adapted", "simulated") -> robot motion, in display order.
        verdict: the filter's verdict on the raw motion, or None.
        sim_fallen: (T,) bool frames the simulation had fallen, or None.
        sim_reasons: the simulate stage's reasons (Verdict reason format), possibly empty.
    """

    clip_id: str
    human: HumanMotion | None
    robots: dict[str, RobotMotion]
    verdict: Verdict | None = None
    sim_fallen: np.ndarray | None = None
    sim_reasons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fps(self) -> float:
        if self.robots:
            return float(next(iter(self.robots.values())).fps)
        assert self.human is not None
        return float(self.human.fps)

    @property
    def num_frames(self) -> int:
        """Frames of the clip (the raw robot motion's, else the human's)."""
        if self.robots:
            return next(iter(self.robots.values())).num_frames
        assert self.human is not None
        return self.human.num_frames

    def cut_mask(self) -> np.ndarray:
        """(T,) bool: frames the filter cut away (all of a rejected clip; none without a verdict)."""
        mask = np.zeros(self.num_frames, dtype=bool)
        if self.verdict is None:
            return mask
        if self.verdict.verdict == "reject":
            mask[:] = True
            return mask
        if self.verdict.verdict == "trimmed":
            mask[:] = True
            for a, b in self.verdict.segments:
                mask[int(a):int(b)] = False
        return mask

    def reason_at(self, frame: int) -> list[str]:
        """Reason codes whose spans hold ``frame`` (filter, then simulation)."""
        codes = []
        reasons = [] if self.verdict is None else [(r.code, r.spans) for r in self.verdict.reasons]
        reasons += [(str(r.get("code")), r.get("spans", [])) for r in self.sim_reasons]
        for code, spans in reasons:
            if any(int(a) <= frame < int(b) for a, b in spans) and code not in codes:
                codes.append(code)
        return codes


class RunFolder:
    """A run's output folder, read through its manifest ``run.json``."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        path = self.out / RUN_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no run manifest here (run `python -m pipeline run` first)")
        try:
            self.data: dict[str, Any] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(path, "bad_json", f"run manifest is not valid JSON: {exc}") from None
        self.clips: list[dict[str, Any]] = list(self.data.get("clips", []))
        self._by_id = {c["clip_id"]: c for c in self.clips}

    @property
    def clip_ids(self) -> list[str]:
        return [c["clip_id"] for c in self.clips]

    def clip(self, clip_id: str) -> dict[str, Any]:
        try:
            return self._by_id[clip_id]
        except KeyError:
            raise KeyError(f"no clip {clip_id!r} in {self.out / RUN_FILE}") from None

    def artifact(self, clip_id: str, stage: str) -> Path | None:
        """Path of the clip's ``stage`` artifact, or None when that stage made none."""
        rec = self.clip(clip_id)["stages"].get(stage)
        if not rec or not rec.get("artifact"):
            return None
        path = self.out / rec["artifact"]
        return path if path.is_file() else None

    def summary(self, clip_id: str, stage: str) -> dict[str, Any]:
        rec = self.clip(clip_id)["stages"].get(stage) or {}
        return dict(rec.get("summary") or {})

    def viewable(self) -> list[str]:
        """Clip ids with a retargeted (raw robot) motion to show."""
        return [cid for cid in self.clip_ids if self.artifact(cid, "retarget") is not None]

    def load(self, clip_id: str) -> ClipMotions:
        """The clip's human motion, robot variants, verdict and simulation marks."""
        human_path = self.artifact(clip_id, "ingest")
        human = HumanMotion.load(human_path) if human_path is not None else None
        robots: dict[str, RobotMotion] = {}
        sim_fallen = None
        for variant, stage in VARIANT_STAGES:
            path = self.artifact(clip_id, stage)
            if path is None:
                continue
            robots[variant] = RobotMotion.load(path)
            if stage == "simulate":
                arrays, _ = load_npz(path)
                if "sim_fallen" in arrays:
                    sim_fallen = np.asarray(arrays["sim_fallen"], dtype=bool)
        if human is None and not robots:
            raise InputError(self.out / RUN_FILE, "no_motion", f"clip {clip_id!r} has no ingested or retargeted motion to show")
        filt = self.summary(clip_id, "filter")
        verdict = Verdict.from_json(filt["verdict"]) if isinstance(filt.get("verdict"), dict) else None
        sim_reasons = [r for r in self.summary(clip_id, "simulate").get("reasons", []) if isinstance(r, dict)]
        return ClipMotions(clip_id, human, robots, verdict, sim_fallen, sim_reasons)


def load_file(path: str | Path) -> ClipMotions:
    """A lone npz: a RobotMotion (retarget / adapt / simulate artifact) or a HumanMotion."""
    path = Path(path)
    arrays, meta = load_npz(path)
    schema = meta.get("schema")
    name = path.stem
    if schema == "human_motion/1":
        return ClipMotions(name, HumanMotion.from_arrays(arrays, meta, path), {})
    motion = RobotMotion.from_arrays(arrays, meta, path)
    variant = "simulated" if "sim_fallen" in arrays else "adapted" if any(k.startswith("adapt_") for k in arrays) else "raw"
    fallen = np.asarray(arrays["sim_fallen"], dtype=bool) if "sim_fallen" in arrays else None
    clip_id = motion.provenance.get("clip_id") or name
    return ClipMotions(clip_id, None, {variant: motion}, None, fallen)


def resolve_target(target: str | Path) -> tuple[RunFolder | None, Path | None]:
    """``(run, None)`` for a run folder (or its run.json), ``(None, file)`` for an npz."""
    path = Path(target)
    if path.is_dir():
        return RunFolder(path), None
    if path.name == RUN_FILE and path.is_file():
        return RunFolder(path.parent), None
    if path.is_file():
        return None, path
    raise FileNotFoundError(f"{path}: neither a run folder nor a file")

"""Tiny stand-in stages for testing the DAG machinery on its own.

Input files are text with numbers. ``BAD`` in a file -> InputError (rejected),
``BOOM`` -> RuntimeError (error). Every real execution drops a file in
``settings.log`` so tests can count what ran (across processes).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.npzio import load_npz
from core.stage import ClipStage, CorpusStage, StageResult


def _log(folder: str, name: str) -> None:
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}-{uuid.uuid4().hex}").write_text("")


@dataclass(frozen=True)
class ReadSettings:
    log: str = ""
    sleep_s: float = 0.0


def read_numbers(inp, settings: ReadSettings) -> StageResult:
    _log(settings.log, f"ingest-{inp.clip.clip_id}")
    text = Path(inp.clip.path).read_text()
    if "BAD" in text:
        raise InputError(inp.clip.path, "bad_numbers", "file says BAD")
    if "BOOM" in text:
        raise RuntimeError("boom")
    time.sleep(settings.sleep_s)
    values = np.array([float(v) for v in text.split()], dtype=np.float64)
    return StageResult(arrays={"x": values * inp.globals.fps}, summary={"n": int(values.size), "duration": 1.0})


@dataclass(frozen=True)
class ScaleSettings:
    scale: float = 2.0
    log: str = ""
    sleep_s: float = 0.0
    reject_above: float = 1e9


def scale(inp, settings: ScaleSettings) -> StageResult:
    _log(settings.log, f"retarget-{inp.clip.clip_id}")
    arrays, _ = load_npz(inp.upstream["ingest"])
    time.sleep(settings.sleep_s)
    y = arrays["x"] * settings.scale
    if y.max(initial=0.0) > settings.reject_above:
        return StageResult(arrays={"y": y}, status="rejected", reason="too_big", message="values too big")
    return StageResult(arrays={"y": y}, summary={"total": float(y.sum())})


@dataclass(frozen=True)
class CollectSettings:
    log: str = ""


def collect(clips, settings: CollectSettings, globals, out_dir: Path) -> dict:
    _log(settings.log, "dataset")
    total = 0.0
    names = []
    for clip in sorted(clips, key=lambda c: c.clip.clip_id):
        if clip.status != "ok":
            continue
        arrays, _ = load_npz(clip.artifacts["retarget"])
        total += float(arrays["y"].sum())
        names.append(clip.clip.clip_id)
    (out_dir / "total.txt").write_text(f"{total:.6f}\n" + "\n".join(names) + "\n")
    return {"clips": len(names), "total": total}


STAGES = {
    "ingest": ClipStage("ingest", "1", ReadSettings, read_numbers),
    "retarget": ClipStage("retarget", "1", ScaleSettings, scale),
    "dataset": CorpusStage("dataset", "1", CollectSettings, collect, needs=("retarget",)),
}

"""The functions dask runs: one clip through one stage, and one corpus stage.

They are plain top-level functions of picklable dataclasses so they run the
same in-process, on a ``LocalCluster`` or on a remote ``dask.distributed``
worker that shares the output folder.
"""

from __future__ import annotations

import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.hashing import sha256_file
from core.npzio import save_npz
from core.stage import ClipOutcome, ClipSource, ClipStage, CorpusStage, RunGlobals, StageInput
from pipeline.store import artifact_path, read_record, record_path, replace_dir, write_json


@dataclass(frozen=True)
class ClipTask:
    """One clip through one clip stage."""

    stage: str
    key: str
    clip: ClipSource
    stage_obj: ClipStage
    settings: Any
    globals: RunGlobals
    out: Path
    corpus_inputs: tuple[str, ...] = ()     # corpus stages whose output this stage reads


@dataclass(frozen=True)
class CorpusTask:
    stage: str
    key: str
    stage_obj: CorpusStage
    settings: Any
    globals: RunGlobals
    out: Path


@dataclass
class ClipState:
    """What a clip has become so far (passed from stage to stage)."""

    clip: ClipSource
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.records:
            return "pending"
        return list(self.records.values())[-1]["status"]

    def outcome(self, out: Path) -> ClipOutcome:
        return ClipOutcome(
            clip=self.clip,
            status=self.status,  # type: ignore[arg-type]
            artifacts={s: out / r["artifact"] for s, r in self.records.items() if r.get("artifact")},
            summaries={s: r.get("summary", {}) for s, r in self.records.items()},
            hashes={s: r["key"] for s, r in self.records.items()},
        )


def run_clip_task(task: ClipTask, state: ClipState, corpus: dict[str, dict[str, Any]] | None = None) -> ClipState:
    """Run (or reuse) one stage for one clip; returns the clip's new state.

    Skips the stage when the clip was rejected or failed upstream. A cached
    record with the same key is reused (errors are never cached).
    """
    if state.status not in ("ok", "pending"):
        return state
    out = task.out
    cached = read_record(out, task.stage, task.key)
    if cached is not None:
        return ClipState(state.clip, {**state.records, task.stage: {**cached, "cached": True}})

    stage = task.stage_obj
    upstream = {s: out / r["artifact"] for s, r in state.records.items() if r.get("artifact")}
    inp = StageInput(
        clip=task.clip,
        globals=task.globals,
        upstream=upstream,
        upstream_summary={s: r.get("summary", {}) for s, r in state.records.items()},
        corpus={name: out / rec["output"] for name, rec in (corpus or {}).items() if rec.get("output")},
    )
    start = time.perf_counter()
    record: dict[str, Any] = {"stage": task.stage, "key": task.key, "clip_id": task.clip.clip_id,
                              "artifact": None, "summary": {}, "reason": None, "message": None}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")   # kept in the record; the CLI prints each distinct one once
            result = stage.run(inp, task.settings)
        if caught:
            record["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        record.update(status=result.status, reason=result.reason, message=result.message,
                      summary=result.summary)
        if result.arrays:
            path = artifact_path(out, task.stage, task.key)
            save_npz(path, result.arrays, result.meta)
            record["artifact"] = str(path.relative_to(out))
            record["artifact_sha256"] = sha256_file(path)
    except InputError as exc:
        record.update(status="rejected", reason=exc.code, message=str(exc))
    except Exception as exc:  # a bug or an unexpected input: recorded, the run goes on
        record.update(status="error", reason=f"exception:{type(exc).__name__}", message=str(exc) or repr(exc),
                      traceback=traceback.format_exc(limit=8))
    record["wall_s"] = round(time.perf_counter() - start, 4)
    if record["status"] != "error":
        write_json(record_path(out, task.stage, task.key), record)
    return ClipState(state.clip, {**state.records, task.stage: {**record, "cached": False}})


def run_corpus_task(task: CorpusTask, states: list[ClipState]) -> dict[str, Any]:
    """Run (or reuse) a corpus stage over every clip; returns its record."""
    out = task.out
    cached = read_record(out, task.stage, task.key)
    final = out / task.stage
    if cached is not None and (final / ".stage.json").is_file():
        import json

        marker = json.loads((final / ".stage.json").read_text())
        if marker.get("key") == task.key:
            return {**cached, "cached": True}
    stage = task.stage_obj
    building = out / f".{task.stage}.building-{task.key[:12]}"
    if building.exists():
        import shutil

        shutil.rmtree(building)
    building.mkdir(parents=True)
    start = time.perf_counter()
    record: dict[str, Any] = {"stage": task.stage, "key": task.key, "artifact": None, "output": task.stage}
    try:
        outcomes = [s.outcome(out) for s in states]
        summary = stage.run(outcomes, task.settings, task.globals, building)
        write_json(building / ".stage.json", {"stage": task.stage, "key": task.key})
        replace_dir(building, final)
        record.update(status="ok", summary=summary or {}, reason=None, message=None)
    except Exception as exc:
        record.update(status="error", reason=f"exception:{type(exc).__name__}", message=str(exc) or repr(exc),
                      traceback=traceback.format_exc(limit=8), summary={})
    record["wall_s"] = round(time.perf_counter() - start, 4)
    if record["status"] == "ok":
        write_json(record_path(out, task.stage, task.key), record)
    return {**record, "cached": False}

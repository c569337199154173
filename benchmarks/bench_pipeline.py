"""Whole-DAG throughput on the default corpus: 1 worker vs 2 workers.

Each run starts from an empty output folder (no cache hits) and goes up to the
last per-clip stage. Reports median wall times and the speed-up ratio.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from pipeline.config import load_manifest
from pipeline.dag import RunOptions, run_pipeline
from pipeline.registry import default_stages

REPO = Path(__file__).resolve().parents[1]


def _last_clip_stage() -> str:
    from pipeline.stage import ClipStage

    names = [n for n, s in default_stages().items() if isinstance(s, ClipStage)]
    return names[-1]


def _timed_run(workers: int, until: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        manifest = load_manifest(REPO / "manifests" / "default.yaml", output_override=Path(tmp) / "out")
        start = time.perf_counter()
        result = run_pipeline(manifest, RunOptions(until=until, workers=workers, progress=False))
        wall = time.perf_counter() - start
        return wall, sum(1 for c in result.clips if c.status in ("ok", "rejected"))


def run(quick: bool = False) -> dict:
    until = _last_clip_stage()
    repeats = 1 if quick else 3
    times: dict[int, list[float]] = {1: [], 2: []}
    clips = 0
    for _ in range(repeats):
        for workers in (1, 2):
            wall, clips = _timed_run(workers, until)
            times[workers].append(wall)
    med = {w: statistics.median(t) for w, t in times.items()}
    return {
        "until": until,
        "clips": clips,
        "repeats": repeats,
        "wall_s_1_worker_median": round(med[1], 3),
        "wall_s_2_workers_median": round(med[2], 3),
        "speedup_2_over_1": round(med[1] / med[2], 3),
        "wall_s_all": {str(w): [round(x, 3) for x in t] for w, t in times.items()},
    }

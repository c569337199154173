"""Whole-DAG throughput on the default corpus: 1 worker vs 2 workers.

Each run starts from an empty output folder (no cache hits) and goes up to the
last per-clip stage. Two figures per worker count (medians of repeats):

- ``cold``: ``run_pipeline`` as the CLI runs it, including starting the
  LocalCluster and importing the stages in every worker process;
- ``warm``: on an already started LocalCluster with the stages imported, i.e.
  the DAG's own throughput, which is what a long corpus run sees.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

from core.stage import ClipStage
from pipeline.config import load_manifest
from pipeline.dag import RunOptions, run_pipeline
from pipeline.registry import default_stages

REPO = Path(__file__).resolve().parents[1]


def _last_clip_stage() -> str:
    return [n for n, s in default_stages().items() if isinstance(s, ClipStage)][-1]


def _import_stages() -> bool:
    default_stages()
    import core.robot  # noqa: F401  (pinocchio)
    return True


def _timed_run(options: RunOptions) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        manifest = load_manifest(REPO / "manifests" / "default.yaml", output_override=Path(tmp) / "out")
        start = time.perf_counter()
        result = run_pipeline(manifest, options)
        wall = time.perf_counter() - start
        frames = sum(int(c.records.get("ingest", {}).get("summary", {}).get("frames", 0)) for c in result.clips)
        return wall, frames


def run(quick: bool = False) -> dict:
    from distributed import Client, LocalCluster

    until = _last_clip_stage()
    repeats = 1 if quick else 3
    cold: dict[int, list[float]] = {1: [], 2: []}
    warm: dict[int, list[float]] = {1: [], 2: []}
    frames = 0
    for workers in (1, 2):
        for _ in range(repeats):
            wall, frames = _timed_run(RunOptions(until=until, workers=workers, progress=False))
            cold[workers].append(wall)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            client.run(_import_stages)
            for _ in range(repeats):
                wall, frames = _timed_run(RunOptions(until=until, scheduler=cluster.scheduler_address,
                                                     progress=False))
                warm[workers].append(wall)
    med = {name: {w: statistics.median(t) for w, t in times.items()} for name, times in (("cold", cold),
                                                                                         ("warm", warm))}
    return {
        "until": until,
        "frames": frames,
        "repeats": repeats,
        "cold_wall_s_median": {str(w): round(v, 3) for w, v in med["cold"].items()},
        "warm_wall_s_median": {str(w): round(v, 3) for w, v in med["warm"].items()},
        "speedup_2_over_1_cold": round(med["cold"][1] / med["cold"][2], 3),
        "speedup_2_over_1_warm": round(med["warm"][1] / med["warm"][2], 3),
        "warm_frames_per_s": {str(w): round(frames / v, 1) for w, v in med["warm"].items()},
        "all_wall_s": {"cold": {str(w): [round(x, 3) for x in t] for w, t in cold.items()},
                       "warm": {str(w): [round(x, 3) for x in t] for w, t in warm.items()}},
    }

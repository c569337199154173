"""Adapter speed: training time on a corpus, applying throughput (frames/s, one core).

Training: the default manifest's demo corpus (``quick``: constructed clips of the same
length, ~2,000 human-side and ~1,500 robot-side frames, so no retargeting is needed), and
with ``quick=False`` also ``manifests/shared_all.yaml`` when ../shared/data is there (its
retargets are computed first and not counted). ``ADAPT_BENCH_RUNS=DIR`` keeps the runs'
output folders there between calls (cached retargets).

Applying: a trained model on Unitree's G1 walk4 and dance1 retargets (or a constructed
60 s clip), one torch thread, four ways: the whole clip adapted or gated to the frames
failing a dynamic check, each with and without the IK pass.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))


def _outcomes(manifest_path: Path, out: Path):
    from pipeline.config import load_manifest
    from pipeline.dag import RunOptions, run_pipeline

    manifest = load_manifest(manifest_path, output_override=out)
    result = run_pipeline(manifest, RunOptions(until="filter", workers=0, progress=False))
    return [s.outcome(out) for s in result.clips], manifest


def _constructed(robot, tmp: Path):
    from core.records.verdict import Verdict
    from core.stage import ClipOutcome, ClipSource
    from stages.adapt.synthetic import perturbed, plausible

    outcomes = []
    for i, (hz, ph) in enumerate(((0.6, 0.0), (0.7, 1.0), (0.8, 2.0), (0.9, 0.5), (1.0, 1.5), (1.1, 2.5),
                                  (0.75, 0.2), (0.85, 1.2))):
        good = i < 6
        motion = plausible(robot, 8.0, 30.0, hz, ph) if good else perturbed(robot, 8.0, 30.0, hz, ph, seed=i)
        path = tmp / f"c{i}.npz"
        motion.save(path)
        verdict = Verdict("pass" if good else "reject", [(0, motion.num_frames)] if good else [], [],
                          motion.num_frames, 30.0).to_json()
        outcomes.append(ClipOutcome(ClipSource(f"c{i}", str(path), f"{i}", "bvh", "bench", "CC0"), "ok",
                                    {"retarget": path}, {"filter": {"verdict": verdict}}, {"retarget": f"h{i}"}))
    return outcomes


def _time_training(outcomes, settings, globals_, tmp: Path) -> dict:
    from stages.adapt.stage import train_model

    start = time.perf_counter()
    summary = train_model(outcomes, settings, globals_, tmp / "model", tmp / "ckpt")
    return {"train_s": round(time.perf_counter() - start, 2), "sources": summary["sources"],
            "windows": summary["windows"], "final": summary["final"]}


def run(quick: bool = False) -> dict:
    import torch

    from core.robot import load_robot
    from core.stage import RunGlobals
    from stages.adapt.apply import Bundle, adapt_motion
    from stages.adapt.settings import Settings

    torch.set_num_threads(1)
    robot = load_robot("g1")
    settings = Settings()
    out: dict = {"settings": {"steps": settings.steps, "batch": settings.batch, "hidden": settings.hidden,
                              "codebook_size": settings.codebook_size, "window_s": settings.window_s}}
    keep = os.environ.get("ADAPT_BENCH_RUNS")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        runs = Path(keep) if keep else tmp / "runs"
        if quick:
            outcomes = _constructed(robot, tmp)
            out["train_default"] = {"corpus": "constructed (demo-sized)",
                                    **_time_training(outcomes, settings, RunGlobals(), tmp / "d")}
        else:
            outcomes, _ = _outcomes(REPO / "manifests" / "default.yaml", runs / "default")
            out["train_default"] = {"corpus": "manifests/default.yaml",
                                    **_time_training(outcomes, settings, RunGlobals(), tmp / "d")}
            if (SHARED / "lafan1_extra").is_dir():
                outcomes, manifest = _outcomes(REPO / "manifests" / "shared_all.yaml", runs / "shared_all")
                all_settings = manifest.stage_settings["adapt"]
                out["train_shared_all"] = {"corpus": "manifests/shared_all.yaml",
                                           **_time_training(outcomes, all_settings, RunGlobals(), tmp / "a")}
        bundle = Bundle.load(tmp / "d" / "model")
        clips = []
        for name in ("walk4_subject1", "dance1_subject1")[: 1 if quick else 2]:
            path = SHARED / "lafan1_g1_unitree" / f"{name}.csv"
            if path.exists():
                from core.robot import read_unitree_csv

                clips.append((name, read_unitree_csv(path, robot)))
        if not clips:
            from stages.adapt.synthetic import perturbed

            clips.append(("constructed_60s", perturbed(robot, 60.0, 30.0)))
        apply: dict = {}
        for name, motion in clips:
            fail = np.zeros(motion.num_frames, dtype=bool)
            fail[: motion.num_frames // 5] = True                  # a fifth of the clip fails a dynamic check
            for label, kw, mask in (("whole_no_ik", {"gate": False, "ik_pass": False}, None),
                                    ("whole_ik", {"gate": False}, None),
                                    ("gated_fifth_no_ik", {"ik_pass": False}, fail),
                                    ("gated_fifth_ik", {}, fail)):
                s = Settings(**kw)
                times = []
                for _ in range(1 if quick else 3):
                    start = time.perf_counter()
                    adapt_motion(motion, bundle, robot, s, mask)
                    times.append(time.perf_counter() - start)
                apply[f"{name}/{label}"] = round(motion.num_frames / float(np.median(times)), 1)
        out["apply_frames_per_s"] = apply
    return out

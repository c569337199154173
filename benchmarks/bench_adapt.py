"""Adapter speed: training time on a corpus, applying throughput (frames/s, one core).

Training (``quick=False``, the issue's budgets ``TRAIN_BUDGET_S``): the real thing, the
``adapt_model`` node run through the pipeline on the default manifest's demo corpus and on
``manifests/shared_all.yaml`` (when ../shared/data is there) with the data a run gives it
(simulated recordings, passing clips, Unitree CSVs); the DAG up to ``simulate`` runs first
and is not counted. ``quick``: constructed clips of demo size (no retargeting).
``ADAPT_BENCH_RUNS=DIR`` keeps the runs' output folders there between calls (cached stages).

Applying: the trained model (shared_all's when trained) on Unitree's G1 walk4 and dance1
retargets (or a constructed 60 s clip), one torch thread, six ways: the whole clip adapted,
gated to its first fifth, and gated to the frames the clip's own dynamic checks fail, each
without the IK pass (``_no_ik``: the stage's default, ``Settings.ik_pass`` off) and with it
(``_ik``: the retarget stage's IK on every frame the gate opens); ``apply_gate_fraction``
gives the share of frames failing and the share the gate opens. Medians of
``apply_repeats`` runs, per wall second (``apply_frames_per_s``) and per second of the
process's CPU time (``apply_frames_per_cpu_s``: one core's throughput, less disturbed by
other work on a shared machine).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))
#: the issue's training budgets (s) on the 2-core CPU
TRAIN_BUDGET_S = {"default": 120.0, "shared_all": 900.0}


def _outcomes(manifest_path: Path, out: Path, until: str = "filter"):
    from pipeline.config import load_manifest
    from pipeline.dag import RunOptions, run_pipeline

    manifest = load_manifest(manifest_path, output_override=out)
    result = run_pipeline(manifest, RunOptions(until=until, workers=0, progress=False))
    return [s.outcome(out) for s in result.clips], manifest


def _time_pipeline_training(manifest_path: Path, out: Path) -> dict:
    """The real thing: the DAG up to ``simulate`` (cached, not counted), then the ``adapt_model``
    node itself through ``run_pipeline`` with its earlier output and checkpoints removed, so it
    trains afresh on exactly the data a run gives it (simulated recordings, passing clips,
    Unitree CSVs of the manifest). Returns the node's wall time and the run's wall time."""
    import shutil

    from pipeline.config import load_manifest
    from pipeline.dag import RunOptions, run_pipeline

    manifest = load_manifest(manifest_path, output_override=out)
    run_pipeline(manifest, RunOptions(until="simulate", workers=0, progress=False))
    for stale in (out / "adapt_model", out / ".adapt_checkpoints", out / "artifacts" / "adapt_model"):
        shutil.rmtree(stale, ignore_errors=True)
    start = time.perf_counter()
    result = run_pipeline(manifest, RunOptions(until="adapt_model", workers=0, progress=False))
    run_s = time.perf_counter() - start
    record = result.corpus["adapt_model"]
    summary = record.get("summary") or {}
    if record.get("status") != "ok":
        raise RuntimeError(f"adapt_model failed on {manifest_path.name}: {record.get('message')}")
    return {"node_wall_s": round(float(record["wall_s"]), 2), "run_wall_s": round(run_s, 2),
            "train_s": summary.get("train_s"), "sources": summary.get("sources"),
            "windows": summary.get("windows"), "final": summary.get("final"),
            "steps": manifest.stage_settings["adapt"].steps, "model": str(out / "adapt_model")}


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
            model_dir = tmp / "d" / "model"
        else:
            train = _time_pipeline_training(REPO / "manifests" / "default.yaml", runs / "default")
            model_dir = Path(train.pop("model"))
            out["train_default"] = {"corpus": "manifests/default.yaml (through the pipeline)",
                                    "budget_s": TRAIN_BUDGET_S["default"], **train}
            if (SHARED / "lafan1_extra").is_dir():
                cwd = os.getcwd()
                os.chdir(REPO)                     # the manifest's unitree_csv patterns are relative to it
                try:
                    train = _time_pipeline_training(REPO / "manifests" / "shared_all.yaml", runs / "shared_all")
                finally:
                    os.chdir(cwd)
                model_dir = Path(train.pop("model"))
                out["train_shared_all"] = {"corpus": "manifests/shared_all.yaml (through the pipeline)",
                                           "budget_s": TRAIN_BUDGET_S["shared_all"], **train}
        bundle = Bundle.load(model_dir)
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
        apply_cpu: dict = {}
        gated: dict = {}
        repeats = 3 if quick else 5
        for name, motion in clips:
            from stages.filter.api import dynamic_verdict

            fail = np.zeros(motion.num_frames, dtype=bool)
            fail[: motion.num_frames // 5] = True                  # a fifth of the clip fails a dynamic check
            real = np.zeros(motion.num_frames, dtype=bool)         # the frames its own dynamic checks fail
            by_code = {}                                           # as the stage reads them from the filter
            for r in dynamic_verdict(motion, robot)[1]:
                real |= r.fail
                by_code[r.code] = r.fail
            for label, kw, mask in (("whole_no_ik", {"gate": False, "ik_pass": False}, None),
                                    ("whole_ik", {"gate": False, "ik_pass": True}, None),
                                    ("gated_fifth_no_ik", {"ik_pass": False}, fail),
                                    ("gated_fifth_ik", {"ik_pass": True}, fail),
                                    ("gated_real_no_ik", {"ik_pass": False}, real),
                                    ("gated_real_ik", {"ik_pass": True}, real)):
                s = Settings(**kw)
                times, cpu = [], []
                for _ in range(repeats):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    adapt_motion(motion, bundle, robot, s, mask, by_code if mask is real else None)
                    times.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - start_cpu)
                apply[f"{name}/{label}"] = round(motion.num_frames / float(np.median(times)), 1)
                apply_cpu[f"{name}/{label}"] = round(motion.num_frames / float(np.median(cpu)), 1)
            from stages.adapt.apply import gate_weights

            for label, mask in (("gated_fifth", fail), ("gated_real", real)):
                w = gate_weights(mask, float(motion.fps), Settings().gate_pad_s)
                gated[f"{name}/{label}"] = {"failing": round(float(mask.mean()), 4), "gate_open": round(float((w > 0).mean()), 4)}
        out["apply_repeats"] = f"median of {repeats}"
        out["apply_ik_pass_default"] = Settings().ik_pass
        out["apply_frames_per_cpu_s"] = apply_cpu       # per second of this process's CPU time: robust to a busy machine
        out["apply_gate_fraction"] = gated
        out["apply_frames_per_s"] = apply
    return out

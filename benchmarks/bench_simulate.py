"""Simulated tracking (issue 11 targets): falls, tracked fraction, ZMP re-check and speed.

Clips: Unitree's G1 walking CSVs (walk1_subject2, walk2_subject1, walk3_subject1
from ``../shared/data/lafan1_g1_unitree_extra``; quick: the first 20 s of
walk1 only), LAFAN1 ``walk4_subject1.bvh`` retargeted by this project (not in
quick mode; retargeted once and cached under ``out/bench_simulate/``) and, when a
demo run exists under ``out/default`` (``python -m pipeline run --until
filter``), the demo corpus retargets. For each clip: falls,
tracked_fraction, mean key-body error and the realtime factor (simulated
seconds per wall second, one process; the machine is shared, so medians are
quoted). The simulated recording of each walk is re-checked by the filter's
ZMP check: the share of its supported frames whose ZMP lies outside the
support polygon (no tolerance margin), on the tracked frames (falls and their
resets excluded) and on all. ``realtime_factor`` is simulated seconds
per CPU second of the process (one core; the wall-clock figure is kept too).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))
WALKS = ("walk1_subject2", "walk2_subject1", "walk3_subject1")
KEYS = ("frames", "falls", "falls_per_min", "tracked_fraction", "mean_body_error_m", "max_torque_ratio",
        "realtime_factor", "realtime_factor_wall")


def _retargeted(bvh: Path, robot):
    """The project's retarget of a BVH file (cached under out/bench_simulate/)."""
    from core.records.robot_motion import RobotMotion
    from stages.ingest.api import ingest_file
    from stages.retarget.api import retarget_motion

    cache = REPO / "out" / "bench_simulate" / f"{bvh.stem}_retarget.npz"
    if cache.exists():
        return RobotMotion.load(cache)
    motion = retarget_motion(ingest_file(bvh, fps=30.0), robot)
    cache.parent.mkdir(parents=True, exist_ok=True)
    motion.save(cache)
    return motion


def _head(motion, frames: int):
    cut = {n: getattr(motion, n)[:frames] for n in
           ("root_pos", "root_rot", "dof_pos", "dof_vel", "link_pos", "link_rot", "contacts")}
    return dataclasses.replace(motion, **cut)


def zmp_outside_fraction(sim, robot, guard_frames: int = 5) -> dict:
    """Share of supported, judged frames of a simulated recording whose ZMP is outside the support polygon.

    The filter's ZMP check with no tolerance (margin 0) on ``sim.motion``. ``tracked``: frames outside the
    fallen spans and ``guard_frames`` around them (a reset is a jump in the recording, not physics);
    ``all``: every judged frame; ``over_2cm``: tracked frames more than 2 cm outside.
    """
    from stages.filter.api import evaluate
    from stages.filter.settings import Settings, ZmpSettings

    settings = Settings(zmp_outside_support=ZmpSettings(margin_m=0.0, allow_frames=0))
    value = None
    for result in evaluate(sim.motion, robot, settings).results:
        if result.code == "zmp_outside_support":
            value = np.asarray(result.value, dtype=np.float64)
    if value is None:
        return {}
    judged = np.isfinite(value)
    near_fall = np.zeros(len(value), dtype=bool)
    for reason in sim.summary["reasons"]:
        for a, b in reason["spans"]:
            near_fall[max(0, a - guard_frames):b + guard_frames] = True
    tracked = judged & ~near_fall

    def share(mask, limit=0.0):
        return round(float((value[mask] > limit).mean()), 4) if mask.any() else None

    return {"tracked": share(tracked), "all": share(judged), "over_2cm": share(tracked, 0.02),
            "frames_judged": int(tracked.sum())}


def run(quick: bool = False) -> dict:
    from core.records.robot_motion import RobotMotion
    from core.robot import load_robot, read_unitree_csv
    from stages.simulate.api import simulate_motion

    robot = load_robot("g1")
    out: dict = {"walks": {}, "demo": {}}
    rtf = []
    names = WALKS[:1] if quick else WALKS
    for name in names:
        path = SHARED / "lafan1_g1_unitree_extra" / f"{name}.csv"
        if not path.exists():
            continue
        motion = read_unitree_csv(path, robot)
        if quick:
            motion = _head(motion, 600)
        sim = simulate_motion(motion, robot)
        s = sim.summary
        rtf.append(s["realtime_factor"])
        out["walks"][name] = {k: s[k] for k in KEYS}
        out["walks"][name]["zmp_outside_fraction_sim"] = zmp_outside_fraction(sim, robot)
    bvh = SHARED / "lafan1" / "walk4_subject1.bvh"
    if bvh.exists() and not quick:
        sim = simulate_motion(_retargeted(bvh, robot), robot)
        s = sim.summary
        rtf.append(s["realtime_factor"])
        out["walks"]["walk4_subject1_retargeted"] = {k: s[k] for k in KEYS}
        out["walks"]["walk4_subject1_retargeted"]["zmp_outside_fraction_sim"] = zmp_outside_fraction(sim, robot)
    run_json = REPO / "out" / "default" / "run.json"
    if run_json.exists() and not quick:
        for clip in json.loads(run_json.read_text())["clips"]:
            rec = clip["stages"].get("retarget") or {}
            if rec.get("status") != "ok" or not rec.get("artifact"):
                continue
            motion = RobotMotion.load(REPO / "out" / "default" / rec["artifact"])
            s = simulate_motion(motion, robot).summary
            rtf.append(s["realtime_factor"])
            out["demo"][clip["clip_id"]] = {"filter": (clip["stages"].get("filter") or {}).get("status"),
                                            "falls": s["falls"], "tracked_fraction": s["tracked_fraction"],
                                            "mean_body_error_m": s["mean_body_error_m"],
                                            "realtime_factor": s["realtime_factor"]}
    out["realtime_factor_median"] = round(float(np.median(rtf)), 2) if rtf else None
    return out

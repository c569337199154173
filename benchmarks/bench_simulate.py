"""Simulated tracking (issue 11 targets): falls, tracked fraction, ZMP re-check and speed.

Clips: Unitree's G1 walking CSVs (walk1_subject2, walk2_subject1, walk3_subject1
from ``../shared/data/lafan1_g1_unitree_extra``; quick: the first 20 s of
walk1 only), LAFAN1 ``walk4_subject1.bvh`` retargeted by this project (not in
quick mode; retargeted once and cached under ``out/bench_simulate/``) and, when a
demo run exists under ``out/default`` (``python -m pipeline run --until
filter``), the demo corpus retargets. For each clip: falls,
tracked_fraction, mean key-body error and the realtime factor (simulated
seconds per wall second, one process; the machine is shared, so medians are
quoted). The simulated recording of each clip is re-checked by the filter's
ZMP check (``zmp_outside_fraction_sim``): the share of its supported frames
whose ZMP lies outside the support polygon (no tolerance margin), on the
tracked frames (falls and their resets excluded) and on all, at the clip's
frame rate and at the physics rate, and the recorded true centre of pressure
against the same polygons; ``reference_zmp_outside`` says how far the
reference itself is from dynamic feasibility on the simulator's contact
schedule. ``realtime_factor`` is simulated seconds per CPU second of the
process (one core; the wall-clock figure is kept too; the re-check
needs a copy of the state per physics step, its RobotMotion is built after the timing).
``speed``: the rollout alone (no per-step recording) of walk1's first 1,800 frames (quick: 600), CPU-time
realtime factor and CPU seconds as the median of 5 runs (quick: 3), with the setup's share (reference,
balance plan) before the first physics step.
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


def _fallen_guard(sim, frames: int, scale: int = 1) -> np.ndarray:
    """(T * scale - ...) bool: frames within ``guard_frames`` clip frames of a fallen span (a reset is a jump)."""
    n = (sim.motion.num_frames - 1) * scale + 1
    near = np.zeros(n, dtype=bool)
    for reason in sim.summary["reasons"]:
        for a, b in reason["spans"]:
            near[max(0, (a - frames) * scale):(b + frames) * scale] = True
    return near


def zmp_outside_fraction(sim, robot, guard_frames: int = 5, steady_error_m: float = 0.1) -> dict:
    """Share of supported, judged frames of a simulated recording whose ZMP is outside the support polygon.

    The filter's ZMP check (``stages.filter.checks``, margin 0, no tolerated runs) on

    - ``clip_rate``: the recording at the clip's fps (``sim.motion``), as the pipeline stores it;
    - ``physics_rate``: the same rollout at every physics step (``sim.fine_motion``; the filter's
      smoothing window of 9 frames then spans 18 ms instead of 0.3 s), with the share beyond 1 mm too;
    - ``true_cop``: the recorded true centre of pressure (``sim.cop``, MuJoCo's contact forces) against the
      same support polygons at the clip's fps (checks the recorder alone).

    ``tracked``: frames outside the fallen spans and ``guard_frames`` clip frames around them (a reset is
    a jump in the recording, not physics); ``all``: every judged frame; ``over_2cm``: tracked frames more
    than 2 cm outside.

    The filter judges a frame supported when a sole corner is within ``contact.height_m`` (5 cm) of the
    floor, kinematically; at the physics rate the recording also says which steps the floor really loads
    (``sim.fine_normal_force``, MuJoCo's contact forces): ``unloaded_judged`` is the share of the tracked
    judged steps with less than the ZMP's own clamp (10 % of the weight: jogging flights with a foot low,
    where the ZMP of a near-zero force is meaningless), ``supported_over_1mm`` the share beyond 1 mm of
    the really loaded ones, ``steady_supported_over_1mm`` of those whose clip frame's key-body error is at
    most ``steady_error_m`` (not in the tipping that precedes a fall; the protocol counts a fall only from
    the tracking loss at 0.25 m).
    """
    from stages.filter.body import body_of
    from stages.filter.checks import CHECKS
    from stages.filter.checks.dynamics import MIN_NORMAL_FRACTION, convex_hull, signed_distance_to_polygon
    from stages.filter.settings import Settings, ZmpSettings
    from stages.filter.state import ClipState

    body = body_of(robot)

    def distances(motion, scale: int):
        zs = ZmpSettings(margin_m=0.0, allow_frames=0, guard_frames=ZmpSettings().guard_frames * scale)
        state = ClipState(motion, body, Settings(zmp_outside_support=zs))
        return np.asarray(CHECKS["zmp_outside_support"](state, zs).value, dtype=np.float64), state

    def share(value, mask, limit=0.0):
        return round(float((value[mask] > limit).mean()), 4) if mask.any() else None

    value, state = distances(sim.motion, 1)
    judged = np.isfinite(value)
    tracked = judged & ~_fallen_guard(sim, guard_frames)
    out: dict = {"clip_rate": {"tracked": share(value, tracked), "all": share(value, judged),
                               "over_2cm": share(value, tracked, 0.02), "frames_judged": int(tracked.sum())}}
    points, _, touching = state.contact_points
    cop = np.full(len(value), np.nan)
    for t in np.flatnonzero(tracked & np.isfinite(sim.cop).all(axis=1)):
        cop[t] = signed_distance_to_polygon(sim.cop[t], convex_hull(points[t, touching[t], :2]))
    ok = np.isfinite(cop)
    out["true_cop"] = {"tracked": share(cop, ok), "over_1cm": share(cop, ok, 0.01)}
    if sim.fine_motion is not None:
        scale = (sim.fine_motion.num_frames - 1) // max(sim.motion.num_frames - 1, 1)
        fine, _ = distances(sim.fine_motion, scale)
        mask = np.isfinite(fine) & ~_fallen_guard(sim, guard_frames, scale)
        out["physics_rate"] = {"fps": round(float(sim.fine_motion.fps), 3), "tracked": share(fine, mask),
                               "over_1mm": share(fine, mask, 0.001), "over_2cm": share(fine, mask, 0.02)}
        if sim.fine_normal_force is not None:
            weight = robot.total_mass * 9.81
            loaded = sim.fine_normal_force >= MIN_NORMAL_FRACTION * weight
            steady = np.repeat(sim.key_body_error_m <= steady_error_m, scale)[:len(fine)]
            out["physics_rate"].update({
                "unloaded_judged": share(~loaded, mask),
                "supported_over_1mm": share(fine, mask & loaded, 0.001),
                "steady_supported_over_1mm": share(fine, mask & loaded & steady, 0.001),
                "steady_supported_frames": int((mask & loaded & steady).sum())})
    return out


def reference_zmp_outside(motion, robot) -> dict:
    """How far the reference itself is from dynamic feasibility on the simulator's contact schedule.

    The reference's ZMP (linear inverted pendulum of its CoM smoothed over 9 frames, with its
    angular-momentum rate: the balance planner's model) against the hull of the soles the reference
    loads (full sole rectangles at the reference's foot poses). ``single_support_over_2cm``: share of
    single-support frames whose ZMP is more than 2 cm outside the stance sole; ``over_2cm``: of all
    supported frames.
    """
    from stages.filter.checks.dynamics import convex_hull, signed_distance_to_polygon
    from stages.simulate.balance import BalancePlanner, sole_corners
    from stages.simulate.mjcf import build_sim_model
    from stages.simulate.reference import build_reference

    sim = build_sim_model(robot, float(motion.fps))
    ref = build_reference(sim, motion)
    planner = BalancePlanner(ref.com, ref.contacts, ref.sole_pos, ref.foot_rot, sim.sole_half_extents, ref.fps,
                             1.0, ref.ang_mom_rate, ref.mass)
    zmp = planner.reference_zmp()
    dist = np.full(ref.num_frames, np.nan)
    single = np.zeros(ref.num_frames, dtype=bool)
    for t in range(ref.num_frames):
        pts = [sole_corners(ref.sole_pos[t, k], ref.foot_rot[t, k], sim.sole_half_extents[k], 1.0)
               for k in range(2) if ref.contacts[t, k]]
        if pts:
            dist[t] = signed_distance_to_polygon(zmp[t], convex_hull(np.vstack(pts)))
            single[t] = len(pts) == 1
    ok = np.isfinite(dist)
    return {"over_2cm": round(float(np.mean(dist[ok] > 0.02)), 4) if ok.any() else None,
            "single_support_over_2cm": round(float(np.mean(dist[ok & single] > 0.02)), 4) if (ok & single).any()
            else None,
            "single_support_fraction": round(float(single.mean()), 4)}


def speed(robot, frames: int, runs: int) -> dict | None:
    """CPU-time speed of the rollout alone on walk1's first ``frames`` frames: medians of ``runs`` runs."""
    from core.robot import read_unitree_csv
    from stages.simulate.api import simulate_motion

    path = SHARED / "lafan1_g1_unitree_extra" / "walk1_subject2.csv"
    if not path.exists():
        return None
    motion = _head(read_unitree_csv(path, robot), frames)
    summaries = [simulate_motion(motion, robot).summary for _ in range(runs)]
    rtf = [s["realtime_factor"] for s in summaries]
    return {"clip": "walk1_subject2", "frames": motion.num_frames, "runs": runs,
            "realtime_factor_median": round(float(np.median(rtf)), 2), "realtime_factors": rtf,
            "cpu_s_median": round(float(np.median([s["cpu_s"] for s in summaries])), 3),
            "setup_cpu_s_median": round(float(np.median([s["cpu_setup_s"] for s in summaries])), 3)}


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
        sim = simulate_motion(motion, robot, record_every_step=True)
        s = sim.summary
        rtf.append(s["realtime_factor"])
        out["walks"][name] = {k: s[k] for k in KEYS}
        out["walks"][name]["zmp_outside_fraction_sim"] = zmp_outside_fraction(sim, robot)
        out["walks"][name]["reference_zmp_outside"] = reference_zmp_outside(motion, robot)
    bvh = SHARED / "lafan1" / "walk4_subject1.bvh"
    if bvh.exists() and not quick:
        motion = _retargeted(bvh, robot)
        sim = simulate_motion(motion, robot, record_every_step=True)
        s = sim.summary
        rtf.append(s["realtime_factor"])
        out["walks"]["walk4_subject1_retargeted"] = {k: s[k] for k in KEYS}
        out["walks"]["walk4_subject1_retargeted"]["zmp_outside_fraction_sim"] = zmp_outside_fraction(sim, robot)
        out["walks"]["walk4_subject1_retargeted"]["reference_zmp_outside"] = reference_zmp_outside(motion, robot)
    run_json = REPO / "out" / "default" / "run.json"
    if run_json.exists() and not quick:
        for clip in json.loads(run_json.read_text())["clips"]:
            rec = clip["stages"].get("retarget") or {}
            if rec.get("status") != "ok" or not rec.get("artifact"):
                continue
            motion = RobotMotion.load(REPO / "out" / "default" / rec["artifact"])
            sim = simulate_motion(motion, robot, record_every_step=True)
            s = sim.summary
            rtf.append(s["realtime_factor"])
            out["demo"][clip["clip_id"]] = {"filter": (clip["stages"].get("filter") or {}).get("status"),
                                            "falls": s["falls"], "tracked_fraction": s["tracked_fraction"],
                                            "mean_body_error_m": s["mean_body_error_m"],
                                            "realtime_factor": s["realtime_factor"],
                                            "zmp_outside_fraction_sim": zmp_outside_fraction(sim, robot),
                                            "reference_zmp_outside": reference_zmp_outside(motion, robot)}
    out["realtime_factor_median"] = round(float(np.median(rtf)), 2) if rtf else None
    out["speed"] = speed(robot, 600 if quick else 1800, 3 if quick else 5)
    return out

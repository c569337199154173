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
frame rate and at the physics rate (there on the steps the filter judges and
MuJoCo's contacts load, differenced as MuJoCo integrated them; the target's
figure is ``physics_rate.over_1mm``), and the recorded true centre of pressure
against the same polygons; ``reference_zmp_outside`` says how far the
reference itself is from dynamic feasibility on the simulator's contact
schedule. ``realtime_factor`` is simulated seconds per CPU second of the
process (one core; the wall-clock figure is kept too; the re-check
needs a copy of the state per physics step, its RobotMotion is built after the timing).
``speed``: the rollout alone (no per-step recording) of walk1's first 1,800 frames (quick: 600), CPU-time
realtime factor and CPU seconds as the median of 5 runs (quick: 3), with the setup's share (reference,
balance plan) before the first physics step. ``perturbed``: a rollout is chaotic (one rounding moves a
walk's outcome), so each Unitree walk is rolled out again with the joint damping moved by
``PERTURBED_DAMPING`` (N m s/rad, ±0.0001 of 0.05): ``tracked_fraction`` and ``falls`` of the
three rollouts, their mean and range (not in quick mode).
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
PERTURBED_DAMPING = (0.0501, 0.0499)
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


def _fallen_guard(sim, frames: int, scale: int = 1) -> np.ndarray:
    """(T * scale - ...) bool: frames within ``guard_frames`` clip frames of a fallen span (a reset is a jump)."""
    n = (sim.motion.num_frames - 1) * scale + 1
    near = np.zeros(n, dtype=bool)
    for reason in sim.summary["reasons"]:
        for a, b in reason["spans"]:
            near[max(0, (a - frames) * scale):(b + frames) * scale] = True
    return near


def _reset_steps(sim, scale: int, pad: int = 2) -> np.ndarray:
    """(len(fine_motion),) bool: physics steps whose differences reach across a reset or the clip's ends.

    A reset after a fall at clip frame ``t`` jumps between fine states ``t * scale`` (the state before the
    reset, as the clip-rate recording keeps it) and ``t * scale + 1`` (the first step from the reset state);
    the steps within ``pad`` of it and of either end of the recording are not physics to re-check.
    """
    n = sim.fine_motion.num_frames
    near = np.zeros(n, dtype=bool)
    near[:pad] = near[n - pad:] = True
    for reason in sim.summary["reasons"]:
        for _, b in reason["spans"]:
            r = (b - 1) * scale
            near[max(0, r - pad + 1):r + pad + 1] = True
    return near


def zmp_outside_fraction(sim, robot, guard_frames: int = 5) -> dict:
    """Share of supported, judged frames of a simulated recording whose ZMP is outside the support polygon.

    The filter's ZMP check (``stages.filter.checks``, margin 0, no tolerated runs) on

    - ``clip_rate``: the recording at the clip's fps (``sim.motion``), as the pipeline stores it;
    - ``physics_rate``: the same rollout at every physics step (``sim.fine_motion``, needs
      ``record_every_step``), the target's figure (see below);
    - ``true_cop``: the recorded true centre of pressure (``sim.cop``, MuJoCo's contact forces) against the
      same support polygons at the clip's fps (checks the recorder alone).

    ``tracked``: frames outside the fallen spans and ``guard_frames`` clip frames around them (a reset is
    a jump in the recording, not physics); ``all``: every judged frame; ``over_2cm``: tracked frames more
    than 2 cm outside.

    At the physics rate a step is **supported** when the filter judges it (a sole corner or other body
    within ``contact.height_m``, 5 cm, of the floor, not within one step of a flight: the reach of its
    differences) and MuJoCo's contacts carry at least ``MIN_NORMAL_FRACTION`` (10 %) of the robot's weight
    in that step (``sim.fine_normal_force``; the ZMP's own clamp: below it the check's ZMP is not a centre
    of pressure). Nothing of the controller enters: the recorded states, MuJoCo's contact forces and the
    filter's check. The check differences the states as MuJoCo integrated them
    (``dynamics.differences = "semi_implicit"``, no smoothing, so no 0.13 s flight guard either): its
    floor wrench is then MuJoCo's contact wrench (``zmp_true_cop_mm``: p50/p99 distance from the
    recorded true centre of pressure), so what is left outside is where the simulator's contact lies
    outside the filter's support polygon. ``over_1mm`` (the target's figure): share of the supported steps
    outside the fallen spans and ``guard_frames`` around them (as ``tracked`` above) more than 1 mm
    outside; ``over_1cm`` more than 1 cm; ``true_cop_over_1mm``: the recorded true centre of pressure
    against the same polygons (equal to ``over_1mm`` when ``zmp_true_cop_mm`` is 0); ``all_over_1mm``: of
    every supported step, falls included (all but the steps whose differences reach across a reset or
    the recording's ends); ``unloaded_judged``: share of the judged steps the floor does not load (not
    counted).
    ``central_differences``: the filter's default differencing (central, 9-frame Savitzky-Golay: for
    30 fps motion capture) on the same recording: ``over_1mm`` on the supported steps it judges (its guard
    next to flights is 4 clip frames), ``judged_over_1mm``
    on every tracked judged step (the measure before supported steps were defined). On a semi-implicit
    Euler trajectory central differences are off by O(dt) (at 510 Hz, smoothed: median 8 N and 2.3 N·m on a
    walk; unsmoothed 2.6 N and 0.75 N·m), 5-8 mm of ZMP on the steps they put outside, where the true
    centre of pressure lies on a sole edge (the controller's QP saturates there).
    """
    from stages.filter.body import body_of
    from stages.filter.checks import CHECKS
    from stages.filter.checks.dynamics import MIN_NORMAL_FRACTION, convex_hull, signed_distance_to_polygon, zmp
    from stages.filter.settings import DynamicsSettings, Settings, ZmpSettings
    from stages.filter.state import ClipState
    from stages.simulate.api import centre_of_pressure

    body = body_of(robot)

    def distances(motion, scale: int, dynamics: DynamicsSettings | None = None, guard: int | None = None):
        zs = ZmpSettings(margin_m=0.0, allow_frames=0,
                         guard_frames=ZmpSettings().guard_frames * scale if guard is None else guard)
        state = ClipState(motion, body, Settings(zmp_outside_support=zs, dynamics=dynamics or DynamicsSettings()))
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
    if sim.fine_motion is not None and sim.fine_normal_force is not None and sim.fine_contact_wrench is not None:
        scale = (sim.fine_motion.num_frames - 1) // max(sim.motion.num_frames - 1, 1)
        exact, fstate = distances(sim.fine_motion, scale, DynamicsSettings(smooth_window_frames=1,
                                                                           differences="semi_implicit"), guard=1)
        central, _ = distances(sim.fine_motion, scale)
        weight = robot.total_mass * 9.81
        judged_fine = np.isfinite(exact)
        loaded = sim.fine_normal_force >= MIN_NORMAL_FRACTION * weight
        every = judged_fine & loaded & ~_reset_steps(sim, scale)          # falls included
        supported = every & ~_fallen_guard(sim, guard_frames, scale)     # the tracked ones: the target's
        com, _, _ = fstate.centroidal
        force, moment = fstate.contact_wrench
        p = zmp(com, force, moment, MIN_NORMAL_FRACTION * weight)
        true_cop = centre_of_pressure(sim.fine_contact_wrench, MIN_NORMAL_FRACTION * weight)
        gap = np.linalg.norm(p - true_cop, axis=1)[every]
        fpoints, _, ftouching = fstate.contact_points
        cop_out = np.full(len(exact), np.nan)
        for t in np.flatnonzero(supported):
            cop_out[t] = signed_distance_to_polygon(true_cop[t], convex_hull(fpoints[t, ftouching[t], :2]))
        tracked_judged = np.isfinite(central) & ~_fallen_guard(sim, guard_frames, scale)
        out["physics_rate"] = {
            "fps": round(float(sim.fine_motion.fps), 3), "supported_steps": int(supported.sum()),
            "over_1mm": share(exact, supported, 0.001), "over_1cm": share(exact, supported, 0.01),
            "true_cop_over_1mm": share(cop_out, supported, 0.001),
            "all_supported_steps": int(every.sum()), "all_over_1mm": share(exact, every, 0.001),
            "zmp_true_cop_mm": [round(float(np.percentile(gap, q)) * 1e3, 4) for q in (50, 99)] if gap.size else None,
            "unloaded_judged": share(~loaded, judged_fine & ~_reset_steps(sim, scale)),
            "central_differences": {"over_1mm": share(central, supported & np.isfinite(central), 0.001),
                                    "judged_over_1mm": share(central, tracked_judged, 0.001),
                                    "over_2cm": share(central, tracked_judged, 0.02)}}
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
    motion = read_unitree_csv(path, robot).frames(0, frames)
    summaries = [simulate_motion(motion, robot).summary for _ in range(runs)]
    rtf = [s["realtime_factor"] for s in summaries]
    return {"clip": "walk1_subject2", "frames": motion.num_frames, "runs": runs,
            "realtime_factor_median": round(float(np.median(rtf)), 2), "realtime_factors": rtf,
            "cpu_s_median": round(float(np.median([s["cpu_s"] for s in summaries])), 3),
            "setup_cpu_s_median": round(float(np.median([s["cpu_setup_s"] for s in summaries])), 3)}


def perturbed(motion, robot, base: dict) -> dict:
    """The clip rolled out with the joint damping at each of ``PERTURBED_DAMPING`` beside ``base`` (the default
    rollout's summary): tracked fractions and falls, their mean and range."""
    from stages.simulate.api import simulate_motion
    from stages.simulate.settings import Settings

    tracked, falls = [base["tracked_fraction"]], [base["falls"]]
    for damping in PERTURBED_DAMPING:
        settings = Settings(model=dataclasses.replace(Settings().model, joint_damping=damping))
        s = simulate_motion(motion, robot, settings).summary
        tracked.append(s["tracked_fraction"])
        falls.append(s["falls"])
    return {"joint_damping": [Settings().model.joint_damping, *PERTURBED_DAMPING], "tracked_fraction": tracked,
            "falls": falls, "tracked_mean": round(float(np.mean(tracked)), 4),
            "tracked_min": float(min(tracked)), "tracked_max": float(max(tracked))}


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
            motion = motion.frames(0, 600)
        sim = simulate_motion(motion, robot, record_every_step=True)
        s = sim.summary
        rtf.append(s["realtime_factor"])
        out["walks"][name] = {k: s[k] for k in KEYS}
        out["walks"][name]["zmp_outside_fraction_sim"] = zmp_outside_fraction(sim, robot)
        out["walks"][name]["reference_zmp_outside"] = reference_zmp_outside(motion, robot)
        if not quick:
            out["walks"][name]["perturbed"] = perturbed(motion, robot, s)
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

"""Retargeting speed and quality on LAFAN1 clips, side by side with Unitree's own G1 retargets.

``run(quick)`` returns a JSON-able dict:

* ``ours.<clip>``: frames/s of :func:`stages.retarget.api.retarget_motion` in
  one process (median of several runs; wall clock and process CPU time; the
  machine may be shared), a time breakdown of one run (targets, first frame,
  IK loop, metrics, record) and the quality metrics.
  The foot measures are the independent ones of issue 12 (``slide_ratio``,
  ``near_ground_speed_cm_s``, ``lock_coverage``; :func:`stages.retarget.metrics.foot_measures`);
  ``benchmarks/bench_feet.py`` gives them on every real clip.
* ``unitree.<clip>``: the same metrics of Unitree's CSV retarget of the clip
  (``../shared/data/lafan1_g1_unitree``), computed by the same harness
  (:func:`stages.retarget.metrics.evaluate`) against the same human clip,
  contacts and scaled targets.

Quick mode crops the clips to 600 frames and runs once.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))
SPEED_CLIPS = ("dance1_subject1", "walk4_subject1")
UNITREE_CLIPS = ("dance1_subject1", "walk4_subject1", "fallAndGetUp3_subject1")
METRICS = ("limb_direction_error_deg", "limb_direction_error_p95_deg", "keypoint_error_m", "slide_cm_s",
           "slide_ref_cm_s", "slide_ratio", "near_ground_speed_cm_s", "lock_coverage", "lock_slide_cm_s",
           "contact_foot_height_m", "ground_penetration_frac", "ground_penetration_max_m", "self_collision_frac",
           "self_penetration_max_m", "joint_limit_violations", "joint_limit_excess_max_rad",
           "velocity_limit_excess_max", "jerk_mean_rad_s3")


def _crop(human, frames: int | None):
    if frames is None or human.num_frames <= frames:
        return human
    return dataclasses.replace(human, positions=human.positions[:frames], rotations=human.rotations[:frames])


def _timed_run(human, robot, settings) -> dict:
    """One retarget with a phase breakdown (s)."""
    from stages.retarget.api import prepare, record, solve

    t0 = time.perf_counter()
    prep = prepare(human, robot, settings)
    t1 = time.perf_counter()
    q, info = solve(prep, robot, human.fps, settings.solver)
    t2 = time.perf_counter()
    info["solve_s"] = t2 - t0
    motion = record(human, robot, settings, prep, q, info)
    t3 = time.perf_counter()
    return {"targets_s": t1 - t0, "first_frame_s": info["first_frame_s"],
            "ik_loop_s": (t2 - t1) - info["first_frame_s"], "fk_metrics_record_s": t3 - t2,
            "metrics": motion.metrics}


def _round(d: dict, n: int = 4) -> dict:
    return {k: round(float(v), n) for k, v in d.items()}


def run(quick: bool = False) -> dict:
    from core.robot import load_robot, read_unitree_csv
    from stages.ingest.api import ingest_file
    from stages.retarget.api import prepare, retarget_motion
    from stages.retarget.metrics import evaluate
    from stages.retarget.settings import Settings

    robot = load_robot("g1")
    settings = Settings()
    repeats = 1 if quick else 5
    frames = 600 if quick else None
    humans = {clip: _crop(ingest_file(DATA / "lafan1" / f"{clip}.bvh"), frames)
              for clip in dict.fromkeys(SPEED_CLIPS + UNITREE_CLIPS)}
    ours: dict = {}
    for clip in SPEED_CLIPS:
        human = humans[clip]
        retarget_motion(_crop(human, 60), robot, settings)                 # warm-up (imports, caches)
        walls, cpus = [], []
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            retarget_motion(human, robot, settings)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        phases = _timed_run(human, robot, settings)
        T = human.num_frames
        ours[clip] = {
            "frames": T,
            "runs": repeats,
            "frames_per_s_wall_median": round(T / statistics.median(walls), 1),
            "frames_per_s_cpu_median": round(T / statistics.median(cpus), 1),
            "frames_per_s_wall_all": [round(T / w, 1) for w in walls],
            "ik_loop_frames_per_s": round((T - 1) / phases["ik_loop_s"], 1),
            "breakdown_s": _round({k: v for k, v in phases.items() if k != "metrics"}),
            "metrics": _round({k: phases["metrics"][k] for k in METRICS if k in phases["metrics"]}),
        }
    unitree: dict = {}
    for clip in UNITREE_CLIPS:
        path = DATA / "lafan1_g1_unitree" / f"{clip}.csv"
        if not path.exists():
            continue
        theirs = read_unitree_csv(path, robot)
        human = humans[clip]
        T = min(human.num_frames, theirs.num_frames)
        human = _crop(human, T)
        prep = prepare(human, robot, settings)
        m_theirs = evaluate(robot, human.fps, theirs.root_pos[:T], theirs.root_rot[:T], theirs.dof_pos[:T],
                            prep.keypoints, prep.contacts, prep.scaling.root_scale, prep.targets.pos)
        entry = {"frames": T, "unitree": _round({k: m_theirs[k] for k in METRICS if k in m_theirs})}
        if clip in ours:
            entry["ours"] = ours[clip]["metrics"]
        else:
            mine = retarget_motion(human, robot, settings).metrics
            entry["ours"] = _round({k: mine[k] for k in METRICS if k in mine})
        unitree[clip] = entry
    return {"robot": robot.name, "settings": dataclasses.asdict(settings), "ours": ours, "unitree_vs_ours": unitree}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))

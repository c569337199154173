"""Feet on every real clip: the independent foot measures of issue 12, ours beside Unitree's CSVs.

``run(quick)`` returns a JSON-able dict:

* ``ours.<set>/<clip>``: for every real clip of ``../shared/data`` (lafan1, lafan1_extra,
  cmu, smpl_asap) the metrics of :func:`stages.retarget.api.retarget_motion`, among them the
  independent measures of :func:`stages.retarget.metrics.foot_measures` (``slide_ratio``,
  ``near_ground_speed_cm_s``, ``lock_coverage``), the limb error, ground / self penetration
  and limit violations, and frames/s (one run; the machine may be shared).
* ``unitree.<clip>``: the same harness on Unitree's G1 CSVs. The three of
  ``lafan1_g1_unitree`` are frame-aligned with BVHs in ``lafan1``, so their human-side
  contacts come from those BVHs; the ``lafan1_g1_unitree_extra`` CSVs have no BVH here, so
  only the robot-only measure (``near_ground_speed_cm_s``) is given for them.

Quick mode crops every clip to 600 frames.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))
SETS = ("lafan1", "lafan1_extra", "cmu", "smpl_asap")
UPRIGHT_EXCLUDED = ("fallAndGetUp", "ground", "pushAndFall")
"""Clips whose names say they lie, kneel or fall: the lock-coverage target is for upright clips."""
KEYS = ("slide_cm_s", "slide_ref_cm_s", "slide_ratio", "near_ground_speed_cm_s", "near_ground_frac",
        "lock_coverage", "contact_frac", "lock_slide_cm_s", "contact_foot_height_m", "limb_direction_error_deg",
        "ground_penetration_frac", "self_collision_frac", "joint_limit_violations", "velocity_limit_excess_max")


def real_clips() -> list[Path]:
    """Every real human clip of the shared data (BVH and SMPL npz), sorted by set and name."""
    out: list[Path] = []
    for s in SETS:
        folder = DATA / s
        out += sorted(p for p in folder.glob("*") if p.suffix in (".bvh", ".npz"))
    return out


def is_upright(name: str) -> bool:
    """True for a clip whose name does not say it lies, kneels or falls."""
    return not any(name.startswith(p) for p in UPRIGHT_EXCLUDED)


def _crop(human, frames: int | None):
    if frames is None or human.num_frames <= frames:
        return human
    return dataclasses.replace(human, positions=human.positions[:frames], rotations=human.rotations[:frames])


def _pick(m: dict) -> dict:
    return {k: round(float(m[k]), 4) for k in KEYS if k in m}


def robot_only_measures(robot, motion) -> dict:
    """``near_ground_speed_cm_s`` / ``near_ground_frac`` of a robot motion without a human clip."""
    import numpy as np

    from stages.retarget.metrics import NEAR_GROUND, horizontal_speed, trajectory_poses

    cfg = robot.config
    q = robot.configuration(motion.root_pos, motion.root_rot, motion.dof_pos)
    pos, rot = trajectory_poses(robot, q, list(cfg.foot_frames))
    centre, low = [], []
    for k, f in enumerate(cfg.foot_frames):
        sole = cfg.sole(f)
        centre.append(pos[:, k] + rot[:, k] @ np.asarray(sole.center))
        low.append((pos[:, k, 2:3] + rot[:, k, 2] @ sole.corners().T).min(axis=1))
    speed = horizontal_speed(np.stack(centre, axis=1), motion.fps)
    near = np.stack(low, axis=1) < NEAR_GROUND
    return {"near_ground_speed_cm_s": round(float(100.0 * speed[near].mean()) if near.any() else 0.0, 4),
            "near_ground_frac": round(float(near.mean()), 4)}


def run(quick: bool = False) -> dict:
    from core.robot import load_robot, read_unitree_csv
    from stages.ingest.api import ingest_file
    from stages.retarget.api import prepare, retarget_motion
    from stages.retarget.metrics import evaluate
    from stages.retarget.settings import Settings

    robot = load_robot("g1")
    settings = Settings()
    frames = 600 if quick else None
    ours: dict = {}
    humans = {}
    for path in real_clips():
        human = _crop(ingest_file(path), frames)
        humans[path.stem] = human
        t0 = time.perf_counter()
        motion = retarget_motion(human, robot, settings)
        wall = time.perf_counter() - t0
        entry = {"frames": human.num_frames, "upright": is_upright(path.stem),
                 "frames_per_s_wall": round(human.num_frames / wall, 1)}
        entry.update(_pick(motion.metrics))
        ours[f"{path.parent.name}/{path.stem}"] = entry
    unitree: dict = {}
    for path in sorted((DATA / "lafan1_g1_unitree").glob("*.csv")):
        theirs = read_unitree_csv(path, robot)
        human = humans.get(path.stem)
        if human is None:
            continue
        T = min(human.num_frames, theirs.num_frames)
        human = _crop(human, T)
        prep = prepare(human, robot, settings)
        m = evaluate(robot, human.fps, theirs.root_pos[:T], theirs.root_rot[:T], theirs.dof_pos[:T],
                     prep.keypoints, prep.contacts, prep.scaling.root_scale, prep.targets.pos)
        unitree[path.stem] = {"frames": T, "human": True, **_pick(m)}
    for path in sorted((DATA / "lafan1_g1_unitree_extra").glob("*.csv")):
        theirs = read_unitree_csv(path, robot)
        if frames is not None:
            theirs = dataclasses.replace(theirs, root_pos=theirs.root_pos[:frames], root_rot=theirs.root_rot[:frames],
                                         dof_pos=theirs.dof_pos[:frames])
        unitree[path.stem] = {"frames": int(theirs.root_pos.shape[0]), "human": False,
                              **robot_only_measures(robot, theirs)}
    return {"robot": robot.name, "quick": quick, "ours": ours, "unitree": unitree}


def table(result: dict) -> str:
    """A plain-text table of :func:`run`'s result (one line per clip)."""
    cols = ("slide_ratio", "near_ground_speed_cm_s", "lock_coverage", "slide_cm_s", "slide_ref_cm_s",
            "lock_slide_cm_s", "limb_direction_error_deg", "ground_penetration_frac", "self_collision_frac",
            "joint_limit_violations", "frames_per_s_wall")
    short = ("ratio", "near", "cover", "slide", "ref", "lockslide", "limb", "ground", "self", "lim", "fps")
    lines = [f"{'clip':52s} " + " ".join(f"{c:>9s}" for c in short)]
    for side in ("ours", "unitree"):
        for name, e in result[side].items():
            vals = " ".join(f"{e[c]:9.3f}" if c in e else f"{'-':>9s}" for c in cols)
            lines.append(f"{side + ':' + name:52s} {vals}")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    res = run(quick="--quick" in sys.argv)
    if "--table" in sys.argv:
        print(table(res))
    else:
        print(json.dumps(res, indent=2))

"""Swing-clearance measure of issue 12 on retargeted clips: ``near_ground_speed``.

``near_ground_speed``: mean horizontal speed (cm/s) of a sole centre over the foot-frames where that
sole's lowest corner is within 2 cm of the floor (z = 0), both feet pooled. A foot that skims the
floor while it swings scores high; a planted foot scores its slide.

``python -m benchmarks.swing_clearance CLIP.bvh ...`` retargets each clip and prints the measure
with the retarget's own quality metrics as JSON (the official metric lives in
``stages/retarget/metrics.py`` once issue 12's measures land there).
"""

from __future__ import annotations

import numpy as np

from core.records.robot_motion import RobotMotion
from core.robot import Robot

NEAR_GROUND_M = 0.02


def near_ground_speed(robot: Robot, motion: RobotMotion, near: float = NEAR_GROUND_M) -> float:
    """Mean horizontal sole-centre speed (m/s) over foot-frames whose lowest sole corner is below ``near``
    (m) above the floor; NaN when there are none."""
    feet = tuple(robot.config.foot_frames)
    pos, rot = robot.frame_placements(motion.root_pos, motion.root_rot, motion.dof_pos, feet)
    speeds, masks = [], []
    for s, f in enumerate(feet):
        sole = robot.config.sole(f)
        corners = np.einsum("tij,cj->tci", rot[:, s], sole.corners()) + pos[:, s, None]
        centre = np.einsum("tij,j->ti", rot[:, s], np.asarray(sole.center)) + pos[:, s]
        vel = np.gradient(centre[:, :2], 1.0 / motion.fps, axis=0)
        speeds.append(np.linalg.norm(vel, axis=1))
        masks.append(corners[..., 2].min(axis=1) < near)
    v, m = np.concatenate(speeds), np.concatenate(masks)
    return float(v[m].mean()) if m.any() else float("nan")


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from core.robot import load_robot
    from stages.ingest.api import ingest_file
    from stages.retarget.api import retarget_motion

    parser = argparse.ArgumentParser(prog="python -m benchmarks.swing_clearance", description=__doc__)
    parser.add_argument("clips", nargs="+", help="BVH / AMASS files")
    args = parser.parse_args(argv)
    robot = load_robot("g1")
    keys = ("limb_direction_error_deg", "ground_penetration_frac", "self_collision_frac", "joint_limit_violations",
            "velocity_limit_excess_max", "foot_slide_cm_s", "contact_foot_height_m", "ik_infeasible_frames",
            "frames_per_s")
    out = {}
    for path in args.clips:
        motion = retarget_motion(ingest_file(path), robot)
        entry = {"near_ground_speed_cm_s": round(100 * near_ground_speed(robot, motion), 2)}
        entry.update({k: round(float(motion.metrics[k]), 4) for k in keys if k in motion.metrics})
        out[path.rsplit("/", 1)[-1]] = entry
        print(path, json.dumps(entry), flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

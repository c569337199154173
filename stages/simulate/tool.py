"""``python -m pipeline simulate-clip MOTION --out SIM.npz``: track one robot motion in MuJoCo."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.records.robot_motion import RobotMotion
    from core.robot import Robot


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``simulate-clip`` on the ``python -m pipeline`` sub-command parser."""
    parser = subparsers.add_parser(
        "simulate-clip", help="track one robot motion with a whole-body controller in MuJoCo and record it",
        description="Simulate MOTION (a robot motion .npz written by retarget-clip or the adapter, or a "
                    "Unitree-style G1 CSV: root xyz, quaternion xyzw, 29 joint angles per row, 30 fps) on a "
                    "MuJoCo model generated from the robot description, tracked by task-space inverse "
                    "dynamics (a QP over accelerations, contact wrenches and torques within limits per "
                    "control step). Falls (mean key-body error > 0.5 m, or the pelvis down while the "
                    "reference's is up) are counted and reset to the reference. Writes the simulated motion "
                    "(RobotMotion .npz plus sim_* arrays) and prints the summary as one JSON line. Exit code "
                    "2 with a message on bad input.")
    parser.add_argument("input", metavar="MOTION", help="robot motion .npz or Unitree-style .csv")
    parser.add_argument("--out", required=True, metavar="SIM.npz", help="output .npz (simulated robot motion)")
    parser.add_argument("--robot", default=None, metavar="g1|h1|PATH.yaml",
                        help="robot (default: the robot named in the .npz; g1 for a CSV)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of a CSV input in Hz (default: %(default)s)")
    parser.add_argument("--settings", default=None, metavar="SIMULATE.yaml",
                        help="YAML mapping of simulate settings (the manifest's stages.simulate section)")
    parser.set_defaults(func=_main)
    return parser


def load_motion(path: str, robot_name: str | None, fps: float = 30.0) -> tuple[RobotMotion, Robot]:
    """(motion, robot) from a RobotMotion .npz or a Unitree-style CSV."""
    from core.records.robot_motion import RobotMotion
    from core.robot import load_robot, read_unitree_csv

    if path.lower().endswith(".csv"):
        robot = load_robot(robot_name or "g1")
        return read_unitree_csv(path, robot, fps=fps), robot
    motion = RobotMotion.load(path)
    return motion, load_robot(robot_name or motion.robot)


def _main(args: argparse.Namespace) -> int:
    import json
    import sys

    from core.errors import PipelineError
    from core.npzio import save_npz
    from core.settings import load_settings_file
    from stages.simulate.api import simulate_motion
    from stages.simulate.settings import Settings

    try:
        settings = load_settings_file(Settings, args.settings or None)
        if not (args.fps > 0):
            raise PipelineError(f"--fps must be positive, got {args.fps}")
        motion, robot = load_motion(args.input, args.robot, args.fps)
        result = simulate_motion(motion, robot, settings)
        arrays, meta = result.arrays()
        save_npz(args.out, arrays, meta)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"input": str(args.input), "out": str(args.out), **result.summary}))
    return 0

"""``python -m pipeline retarget-clip INPUT [--robot g1|PATH.yaml] --out OUT.npz``: retarget one file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.records.human_motion import HumanMotion


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``retarget-clip`` on the ``python -m pipeline`` sub-command parser."""
    parser = subparsers.add_parser(
        "retarget-clip", help="retarget one BVH / AMASS .npz file (or an ingested .npz) onto a robot",
        description="Ingest INPUT (LAFAN1 or CMU BVH, AMASS SMPL/SMPL-H/SMPL-X .npz, or a canonical human "
                    "motion .npz written by ingest-clip), retarget it onto the robot with differential IK "
                    "(pink formulation, daqp), write the robot motion .npz (root_pos, root_rot xyzw, dof_pos, "
                    "dof_vel, dof_names, key link poses, foot contacts; never pickled) and print its metrics as "
                    "JSON. Exit code 2 with a message on bad input.")
    parser.add_argument("input", metavar="INPUT", help="BVH, AMASS .npz, or canonical human motion .npz")
    parser.add_argument("--out", required=True, metavar="OUT.npz", help="output .npz (robot motion)")
    parser.add_argument("--robot", default="g1", metavar="g1|h1|PATH.yaml",
                        help="built-in robot name or robot YAML config (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the output in Hz (default: %(default)s)")
    parser.add_argument("--body-models", default=None, metavar="DIR",
                        help="folder with SMPL/SMPL-H/SMPL-X .npz body-model files (AMASS input)")
    parser.add_argument("--bvh-format", default="auto", choices=("auto", "lafan1", "cmu"),
                        help="BVH unit/axis convention (default: %(default)s)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar over frames")
    parser.add_argument("--plot", default=None, metavar="OUT.png",
                        help="also write a figure of the result (root and foot heights, contacts, limb-direction "
                             "error, joint angles against limits, metrics)")
    parser.set_defaults(func=_main)
    return parser


def _load_human(path: str, fps: float, body_models: str | None, bvh_format: str) -> HumanMotion:
    """An ingested human motion: a canonical .npz as is, anything else through ingest_file."""
    from core.npzio import load_npz
    from core.records.human_motion import SCHEMA, HumanMotion
    from stages.ingest.api import ingest_file

    if path.lower().endswith(".npz"):
        arrays, meta = load_npz(path)
        if meta.get("schema") == SCHEMA:
            return HumanMotion.from_arrays(arrays, meta, path)
    return ingest_file(path, fps=fps, body_models=body_models, bvh_format=bvh_format)


def _main(args: argparse.Namespace) -> int:
    import json
    import sys

    from core.errors import PipelineError
    from core.robot import load_robot
    from stages.retarget.api import retarget_motion

    try:
        if not (args.fps > 0):
            raise PipelineError(f"--fps must be positive, got {args.fps}")
        robot = load_robot(args.robot)
        human = _load_human(args.input, args.fps, args.body_models, args.bvh_format)
        motion = retarget_motion(human, robot, progress=args.progress)
        motion.save(args.out)
        if args.plot:
            from stages.retarget.plot import plot_retarget

            plot_retarget(motion, human, args.plot, robot=robot)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"input": str(args.input), "out": str(args.out), "robot": motion.robot,
                      "frames": motion.num_frames, "fps": motion.fps, "metrics": motion.metrics}, indent=1))
    return 0

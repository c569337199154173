"""``python -m pipeline ingest-clip INPUT --out OUT.npz``: ingest one file."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``ingest-clip`` on the ``python -m pipeline`` sub-command parser."""
    parser = subparsers.add_parser(
        "ingest-clip", help="ingest one BVH or AMASS .npz file into a canonical human motion .npz",
        description="Read one motion file (AMASS SMPL/SMPL-H/SMPL-X .npz, LAFAN1 or CMU BVH), convert it to "
                    "metres and the Z-up world, resample it to --fps, estimate floor and standing height, and "
                    "write the canonical human motion .npz. Prints a one-line JSON summary. Exit code 2 with a "
                    "message on bad input.")
    parser.add_argument("input", metavar="INPUT", help="BVH or AMASS .npz file")
    parser.add_argument("--out", required=True, metavar="OUT.npz", help="output .npz (canonical human motion)")
    parser.add_argument("--fps", type=float, default=30.0, help="target frame rate in Hz (default: %(default)s)")
    parser.add_argument("--body-models", default=None, metavar="DIR",
                        help="folder with SMPL/SMPL-H/SMPL-X .npz body-model files (AMASS input); without it "
                             "the SMPL mean-shape skeleton is used")
    parser.add_argument("--require-body-models", action="store_true",
                        help="fail instead of falling back to the mean-shape skeleton")
    parser.add_argument("--bvh-format", default="auto", choices=("auto", "lafan1", "cmu"),
                        help="BVH unit/axis convention (default: %(default)s, decided by the joint names)")
    parser.add_argument("--dataset", default="", help="dataset tag for the provenance")
    parser.add_argument("--license", default="", help="licence tag for the provenance")
    parser.set_defaults(func=_main)
    return parser


def _main(args: argparse.Namespace) -> int:
    import json
    import sys

    from core.errors import PipelineError
    from stages.ingest.api import ingest_file
    from stages.ingest.stage import summary_of

    try:
        if not (args.fps > 0):
            raise PipelineError(f"--fps must be positive, got {args.fps}")
        motion = ingest_file(args.input, fps=args.fps, body_models=args.body_models,
                             require_body_models=args.require_body_models, bvh_format=args.bvh_format,
                             dataset=args.dataset, license=args.license)
        motion.save(args.out)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"input": str(args.input), "out": str(args.out), **summary_of(motion)}))
    return 0

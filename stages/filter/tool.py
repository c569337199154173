"""``python -m pipeline filter-clip RETARGETED.npz [--robot g1]``: the verdict on one retargeted clip."""

from __future__ import annotations

import argparse

#: reason codes meaning "this file is not a retargeted robot motion"
NOT_A_MOTION = ("not_npz", "pickled_object", "unreadable", "wrong_schema", "missing_array", "bad_schema")
HINT = ("hint: filter-clip reads the .npz of a retargeted robot motion (what `retarget-clip ... --out X.npz` or the "
        "retarget stage writes); a BVH or AMASS file is read by retarget-clip: "
        "`python -m pipeline retarget-clip {input} --out retargeted.npz`, then `python -m pipeline filter-clip "
        "retargeted.npz`")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``filter-clip`` on the ``python -m pipeline`` sub-command parser."""
    parser = subparsers.add_parser(
        "filter-clip", help="judge one retargeted clip: pass, trimmed or reject, with reasons",
        description="Run the physical feasibility checks (joint limits and rates, root motion, ground "
                    "penetration, floating, non-foot ground contact, self-collision, ZMP, flight momentum, "
                    "joint torques) on one retargeted robot motion .npz (the output of retarget-clip) and "
                    "print the verdict as one JSON line: verdict, kept segments (half-open frame ranges) and "
                    "reasons (code, spans, worst value, threshold, unit). Exit code 2 with a message on bad "
                    "input.")
    parser.add_argument("input", metavar="RETARGETED.npz", help="retargeted robot motion .npz")
    parser.add_argument("--robot", default=None,
                        help="robot name (g1, h1) or robot YAML config (default: the robot named in the file)")
    parser.add_argument("--settings", default=None, metavar="FILTER.yaml",
                        help="YAML mapping of filter settings (the manifest's stages.filter section)")
    parser.add_argument("--plot", default=None, metavar="OUT.png",
                        help="also write the verdict as a timeline figure (kept segments, failing spans per reason)")
    parser.set_defaults(func=_main)
    return parser


def _main(args: argparse.Namespace) -> int:
    import json
    import sys

    from core.errors import InputError, PipelineError
    from core.records.robot_motion import RobotMotion
    from core.robot import load_robot
    from core.settings import load_settings_file
    from stages.filter.api import filter_motion
    from stages.filter.settings import Settings

    try:
        settings = load_settings_file(Settings, args.settings or None)
        motion = RobotMotion.load(args.input)
        robot = load_robot(args.robot or motion.robot)
        verdict = filter_motion(motion, robot, settings)
        if args.plot:
            from stages.filter.plot import plot_verdict

            plot_verdict(verdict, motion, args.plot)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, InputError) and exc.path == str(args.input) and exc.code in NOT_A_MOTION:
            print(HINT.format(input=args.input), file=sys.stderr)
        return 2
    out = verdict.to_json()
    print(json.dumps({"input": str(args.input), **out}))
    return 0

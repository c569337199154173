"""``python -m pipeline adapt-clip RETARGETED.npz --model MODEL_DIR --out OUT.npz``: adapt one clip."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``adapt-clip`` on the ``python -m pipeline`` sub-command parser."""
    parser = subparsers.add_parser(
        "adapt-clip", help="adapt one retargeted clip with a trained SMAP adapter",
        description="Run a trained adapter (the folder `make adapt` writes under OUT/adapt_model) on one "
                    "retargeted robot motion .npz, on the frames that fail a dynamic check: human encoder -> shared "
                    "codebook -> robot decoder -> low-pass -> balance step (body moved over the raw feet so the ZMP "
                    "lies in the support polygon, legs re-solved to keep the feet) -> hard-check guard. Writes the adapted motion "
                    "as a RobotMotion .npz (filter-clip and the exporters read it) and prints one JSON line "
                    "with a `raw` and an `adapted` block of evidence (ZMP outside support, torque over limit, "
                    "foot slide, penetration, jerk, limb-direction change, and falls per minute and tracked fraction "
                    "in simulation). Exit code 2 on bad input.")
    parser.add_argument("input", metavar="RETARGETED.npz", help="retargeted robot motion .npz")
    parser.add_argument("--model", required=True, metavar="MODEL_DIR", help="adapter folder (meta.json, model.pt)")
    parser.add_argument("--out", required=True, metavar="OUT.npz", help="where to write the adapted motion")
    parser.add_argument("--ik-pass", action="store_true", help="also run the retarget IK clean-up pass after the "
                        "balance step (off by default: the balance step re-solves the legs itself)")
    parser.add_argument("--human", metavar="HUMAN.npz", default=None,
                        help="the clip's ingested human motion (ingest-clip's output): adds the fidelity to the "
                             "human (limb-direction, keypoint and root path error) to both blocks")
    parser.add_argument("--no-sim", action="store_true",
                        help="skip the simulation figures (falls per minute, tracked fraction: one MuJoCo rollout of "
                             "the raw motion and one of the adapted motion when it differs)")
    parser.set_defaults(func=_main)
    return parser


def _main(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import sys
    from pathlib import Path

    import numpy as np

    from core.errors import PipelineError
    from core.npzio import save_npz
    from core.records.robot_motion import RobotMotion
    from core.robot import load_robot
    from stages.adapt.apply import Bundle, adapt_motion
    from stages.adapt.evidence import measure
    from stages.adapt.settings import Settings
    from stages.adapt.stage import changed_frames

    try:
        raw = RobotMotion.load(args.input)
        robot = load_robot(raw.robot)
        bundle = Bundle.load(args.model)
        settings = Settings()
        if args.ik_pass:
            settings = dataclasses.replace(settings, ik_pass=True)
        adapted = adapt_motion(raw, bundle, robot, settings)
        arrays, meta = adapted.motion.to_arrays()
        arrays["adapt_code"] = adapted.code
        arrays["adapt_change_rad"] = np.asarray(adapted.change_rad)
        save_npz(args.out, arrays, meta)
        human = None
        if args.human:
            from stages.adapt.stage import _human

            human = _human(Path(args.human), raw)
        raw_block = measure(raw, raw, robot, simulate=not args.no_sim, human=human)
        unchanged = not changed_frames(raw, adapted.motion).any()
        raw_sim: dict[str, Any] = {k: raw_block[k] for k in ("falls_per_min", "tracked_fraction", "sim_falls",
                                             "sim_mean_body_error_m") if k in raw_block}
        same = {**raw_sim, "simulation_source": "same as raw"} if unchanged and raw_sim else None
        out = {"input": str(args.input), "output": str(args.out), "unchanged": unchanged, "raw": raw_block,
               "adapted": measure(adapted.motion, raw, robot, simulate=not args.no_sim and not unchanged,
                                  simulation=same, human=human)}
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0

"""Filter throughput (frames/s) per check and in total.

Input: Unitree's G1 retargets of LAFAN1 clips from ``../shared/data`` when
present (quick: walk4 only), else a constructed 60 s clip (standing with a
swaying pelvis and arms). Each check is timed on a fresh ``ClipState``, so its
figure includes the shared quantities it needs (forward kinematics, centroidal
dynamics); the total is one ``evaluate`` call (shared quantities computed once).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))


def _clips(robot, quick: bool) -> list[tuple[str, object]]:
    from core.robot import read_unitree_csv
    from stages.filter import synthetic

    names = ["walk4_subject1"] if quick else ["walk4_subject1", "dance1_subject1", "fallAndGetUp3_subject1"]
    paths = [SHARED / "lafan1_g1_unitree" / f"{n}.csv" for n in names]
    if all(p.exists() for p in paths):
        return [(p.stem, read_unitree_csv(p, robot)) for p in paths]
    base = synthetic.standing(robot, seconds=60.0)
    t = np.arange(base.num_frames) / base.fps
    root = base.root_pos.copy()
    root[:, 1] += 0.03 * np.sin(2 * np.pi * 0.5 * t)
    dof = base.dof_pos.copy()
    dof[:, robot.dof_names.index("left_shoulder_pitch_joint")] += 0.5 * np.sin(2 * np.pi * t)
    return [("synthetic_sway_60s", synthetic.motion(robot, root, dof, fps=base.fps))]


def run(quick: bool = False) -> dict:
    from core.robot import load_robot
    from stages.filter.api import evaluate
    from stages.filter.body import body_of
    from stages.filter.checks import CHECKS
    from stages.filter.settings import Settings
    from stages.filter.state import ClipState

    robot = load_robot("g1")
    body = body_of(robot)
    settings = Settings()
    clips = _clips(robot, quick)
    frames = sum(m.num_frames for _, m in clips)
    per_check: dict[str, float] = {}
    for code, check in CHECKS.items():
        elapsed = 0.0
        for _, motion in clips:
            state = ClipState(motion, body, settings)
            start = time.perf_counter()
            check(state, getattr(settings, code))
            elapsed += time.perf_counter() - start
        per_check[code] = round(frames / max(elapsed, 1e-9), 1)
    start = time.perf_counter()
    verdicts = {name: evaluate(motion, body, settings).verdict.verdict for name, motion in clips}
    total = time.perf_counter() - start
    return {
        "clips": [name for name, _ in clips],
        "frames": frames,
        "verdicts": verdicts,
        "frames_per_s_per_check": per_check,
        "frames_per_s_total": round(frames / total, 1),
        "total_s": round(total, 3),
    }

"""The filter stage: physically infeasible clips and segments out, with reasons.

Reads the retarget stage's artifact (a :class:`RobotMotion` .npz), runs every
enabled check (``stages/filter/checks``) and decides ``pass`` / ``trimmed`` /
``reject``. The artifact holds the per-frame keep mask, the kept segments and
each failing check's per-frame mask; the summary holds the verdict.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import InputError
from pipeline.stage import ClipStage, StageInput, StageResult
from stages.filter.settings import Settings
from stages.filter.verdict import Verdict

__all__ = ["Settings", "STAGE", "run", "summary_of"]


def summary_of(verdict: Verdict) -> dict:
    """JSON-able summary of a verdict: the verdict itself plus kept / total seconds."""
    kept = sum(b - a for a, b in verdict.segments)
    fps = verdict.fps or 1.0
    return {
        "verdict": verdict.to_json(),
        "frames_total": int(verdict.num_frames),
        "frames_kept": int(kept),
        "seconds_total": round(verdict.num_frames / fps, 4),
        "seconds_kept": round(kept / fps, 4),
        "reason_codes": [r.code for r in verdict.reasons],
    }


def run(inp: StageInput, settings: Settings) -> StageResult:
    """Filter one retargeted clip (``inp.upstream["retarget"]``) for robot ``inp.globals.robot``."""
    from stages.common.robot import load_robot
    from stages.filter.api import evaluate
    from stages.retarget.motion import RobotMotion

    path = inp.upstream["retarget"]
    motion = RobotMotion.load(path)
    robot = load_robot(inp.globals.robot)
    if motion.robot != robot.name:
        raise InputError(path, "robot_mismatch", f"motion is for robot {motion.robot!r}, the run uses {robot.name!r}")
    try:
        outcome = evaluate(motion, robot, settings)
    except InputError as exc:
        raise InputError(path, exc.code, exc.message) from None
    verdict = outcome.verdict
    arrays = {"keep": outcome.keep.astype(bool),
              "segments": np.asarray(verdict.segments, dtype=np.int64).reshape(-1, 2)}
    for result in outcome.results:
        if result.failed:
            arrays[f"fail_{result.code}"] = result.fail.astype(bool)
    summary = summary_of(verdict)
    meta = {"schema": "filter_verdict/1", "verdict": verdict.to_json()}
    if verdict.verdict == "reject":
        code = verdict.reasons[0].code if verdict.reasons else "no_feasible_segment"
        message = (f"rejected: {', '.join(r.code for r in verdict.reasons)}" if verdict.reasons
                   else "rejected: no feasible segment")
        return StageResult(arrays=arrays, meta=meta, summary=summary, status="rejected", reason=code, message=message)
    return StageResult(arrays=arrays, meta=meta, summary=summary)


STAGE = ClipStage(name="filter", version="3", settings_type=Settings, run=run)

"""The filter stage: physically infeasible clips and segments out, with reasons.

Reads the retarget stage's artifact (a :class:`RobotMotion` .npz), runs every
enabled check (``stages/filter/checks``) and decides ``pass`` / ``trimmed`` /
``reject``. The artifact holds the per-frame keep mask, the kept segments and
each failing check's per-frame mask; the summary holds the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.errors import InputError
from core.records.verdict import Verdict
from core.stage import ClipStage, StageInput, StageResult
from stages.filter.checks.base import CheckResult
from stages.filter.settings import Settings

__all__ = ["Settings", "STAGE", "run", "summary_of"]


def zmp_margin_kept(results: Sequence[CheckResult], keep: np.ndarray) -> float | None:
    """Worst ZMP margin (m) over the kept, judged frames: distance of the ZMP inside the support
    polygon (negative = outside); None when the ZMP check did not run or judged no kept frame."""
    for result in results:
        if result.code == "zmp_outside_support":
            distance = np.asarray(result.value, dtype=np.float64)[np.asarray(keep, dtype=bool)]
            distance = distance[np.isfinite(distance)]
            return round(float(-distance.max()), 5) if distance.size else None
    return None


def summary_of(verdict: Verdict, zmp_margin_m: float | None = None) -> dict:
    """JSON-able summary of a verdict: the verdict itself, kept / total seconds and, when
    measured, the worst ZMP margin over the kept frames (m)."""
    kept = sum(b - a for a, b in verdict.segments)
    fps = verdict.fps or 1.0
    extra = {} if zmp_margin_m is None else {"zmp_margin_m": zmp_margin_m}
    return {**extra,
        "verdict": verdict.to_json(),
        "frames_total": int(verdict.num_frames),
        "frames_kept": int(kept),
        "seconds_total": round(verdict.num_frames / fps, 4),
        "seconds_kept": round(kept / fps, 4),
        "reason_codes": [r.code for r in verdict.reasons],
    }


def run(inp: StageInput, settings: Settings) -> StageResult:
    """Filter one retargeted clip (``inp.upstream["retarget"]``) for robot ``inp.globals.robot``."""
    from core.records.robot_motion import RobotMotion
    from core.robot import load_robot
    from stages.filter.api import evaluate

    path = inp.upstream["retarget"]
    motion = RobotMotion.load(path)
    robot = load_robot(inp.globals.robot)
    if motion.robot != robot.name:
        raise InputError(path, "robot_mismatch", f"motion is for robot {motion.robot!r}, the run uses {robot.name!r}")
    try:
        outcome = evaluate(motion, robot, settings)
    except InputError as exc:
        raise InputError(path, exc.code, exc.message) from None
    from stages.filter.api import split_verdicts
    from stages.filter.checks import KINDS
    from stages.filter.compose import ComposeSettings

    verdict = outcome.verdict
    hard, hard_keep, dynamic = split_verdicts(outcome.results, motion.num_frames, float(motion.fps), settings)
    arrays = {"keep": outcome.keep.astype(bool), "hard_keep": hard_keep.astype(bool),
              "segments": np.asarray(verdict.segments, dtype=np.int64).reshape(-1, 2)}
    for result in outcome.results:
        if result.failed:
            arrays[f"fail_{result.code}"] = result.fail.astype(bool)
    summary = summary_of(verdict, zmp_margin_kept(outcome.results, outcome.keep))
    compose = ComposeSettings(settings.pad_s, settings.min_segment_s, tuple(settings.flag_only), settings.drop_sim_fall)
    summary.update(hard_verdict=hard.to_json(), dynamic_verdict=dynamic.to_json(), compose=compose.to_json(),
                   frames_hard_kept=int(sum(b - a for a, b in hard.segments)),
                   check_kinds={r.code: KINDS.get(r.code, "hard") for r in outcome.results})
    meta = {"schema": "filter_verdict/1", "verdict": verdict.to_json()}
    if hard.verdict == "reject":
        code = hard.reasons[0].code if hard.reasons else "no_feasible_segment"
        message = (f"rejected: {', '.join(r.code for r in hard.reasons)}" if hard.reasons
                   else "rejected: no feasible segment")
        return StageResult(arrays=arrays, meta=meta, summary=summary, status="rejected", reason=code, message=message)
    return StageResult(arrays=arrays, meta=meta, summary=summary)


STAGE = ClipStage(name="filter", version="5", settings_type=Settings, run=run)

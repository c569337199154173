"""Filter one retargeted clip: ``filter_motion(motion, robot, settings) -> Verdict``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.records.robot_motion import RobotMotion
from core.records.verdict import Verdict
from stages.filter.body import Body, body_of
from stages.filter.checks import CHECKS, DYNAMIC, HARD, SAFE_ON_NON_FINITE, CheckResult
from stages.filter.decide import decide
from stages.filter.settings import Settings
from stages.filter.state import ClipState

if TYPE_CHECKING:
    from core.robot.model import Robot


@dataclass
class FilterOutcome:
    """Everything the filter found on one clip.

    Attributes:
        verdict: the verdict.
        keep: (T,) bool frames kept (inside a kept segment).

        results: every enabled check's per-frame result, in run order.
    """

    verdict: Verdict
    keep: np.ndarray
    results: list[CheckResult]


def run_checks(motion: RobotMotion, body: Body, settings: Settings,
               only: tuple[str, ...] | None = None) -> list[CheckResult]:
    """Every enabled check on ``motion`` (only the non-finite-safe ones when values are not finite;
    only the codes in ``only`` when given)."""
    state = ClipState(motion, body, settings)
    codes = [c for c in CHECKS if getattr(settings, c).enabled and (only is None or c in only)]
    if not state.finite.all():
        codes = [c for c in codes if c in SAFE_ON_NON_FINITE]
        if "non_finite" not in codes:
            codes.insert(0, "non_finite")
    results = []
    for code in codes:
        results.append(CHECKS[code](state, getattr(settings, code)))
    return results


def evaluate(motion: RobotMotion, robot: Robot, settings: Settings | None = None) -> FilterOutcome:
    """Run the checks and decide (see :func:`filter_motion`), keeping the per-frame results."""
    settings = settings or Settings()
    body = robot if isinstance(robot, Body) else body_of(robot)
    results = run_checks(motion, body, settings)
    verdict, keep = decide(results, motion.num_frames, float(motion.fps), settings)
    return FilterOutcome(verdict, keep, results)


def split_verdicts(results: list[CheckResult], num_frames: int, fps: float,
                   settings: Settings) -> tuple[Verdict, np.ndarray, Verdict]:
    """The verdict of the hard checks (with its keep mask) and of the dynamic checks, each alone
    (kinds: :data:`stages.filter.checks.KINDS`; composition: ``stages/filter/compose.py``)."""
    hard, keep = decide([r for r in results if r.code in HARD], num_frames, fps, settings)
    dynamic, _ = decide([r for r in results if r.code in DYNAMIC], num_frames, fps, settings)
    return hard, keep, dynamic


def dynamic_verdict(motion: RobotMotion, robot: Robot | Body, settings: Settings | None = None) -> tuple[Verdict, list[CheckResult]]:
    """The dynamic checks alone (ZMP, torque, flight momentum) on ``motion``: their verdict and
    per-frame results. The adapt stage judges its adapted motion with this."""
    settings = settings or Settings()
    body = robot if isinstance(robot, Body) else body_of(robot)
    results = run_checks(motion, body, settings, only=DYNAMIC)
    verdict, _ = decide(results, motion.num_frames, float(motion.fps), settings)
    return verdict, results


def filter_motion(motion: RobotMotion, robot: Robot, settings: Settings | None = None) -> Verdict:
    """The verdict on one retargeted clip.

    Args:
        motion: the retargeted clip (world Z-up, floor at z = 0).
        robot: the :class:`core.robot.Robot` it was retargeted to (or
            a prepared :class:`stages.filter.body.Body`).
        settings: filter settings (defaults when None).

    Returns:
        ``pass`` / ``trimmed`` / ``reject`` with kept segments (source frame
        ranges) and every failing check's reason code, spans, worst value and
        threshold.
    """
    return evaluate(motion, robot, settings).verdict

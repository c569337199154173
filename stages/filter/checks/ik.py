"""The retarget's own record of infeasible IK steps (``RobotMotion.ik_infeasible``)."""

from __future__ import annotations

import numpy as np

from stages.filter.checks.base import CheckResult, threshold_result
from stages.filter.settings import IkInfeasibleSettings
from stages.filter.state import ClipState


def ik_infeasible(state: ClipState, s: IkInfeasibleSettings) -> CheckResult:
    """1 on frames whose IK step was infeasible with its ground and self-collision rows, else 0
    (all 0 when the motion does not record it, or its length does not match the clip)."""
    flags = state.motion.ik_infeasible
    value = np.zeros(state.num_frames)
    if flags is not None:
        flags = np.asarray(flags, dtype=bool).reshape(-1)
        if flags.shape[0] == state.num_frames:
            value = flags.astype(np.float64)
    return threshold_result("ik_infeasible", value, 0.5, "flag", s.allow_frames)

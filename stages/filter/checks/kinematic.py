"""Kinematic checks: finite values, duration, joint limits and rates, root motion."""

from __future__ import annotations

import numpy as np

from stages.filter.checks.base import CheckResult, threshold_result
from stages.filter.settings import (
    JointPositionLimitSettings,
    JointVelocitySettings,
    NonFiniteSettings,
    RootAngularSpeedSettings,
    RootLinearSpeedSettings,
    RootVerticalJumpSettings,
    TooShortSettings,
)
from stages.filter.state import ClipState


def non_finite(state: ClipState, s: NonFiniteSettings) -> CheckResult:
    """Frames holding NaN or inf in the root pose or joint positions, or a zero root quaternion (value 1)."""
    bad = ~state.finite
    return CheckResult("non_finite", bad, bad.astype(np.float64), 0.0, "flag")


def too_short(state: ClipState, s: TooShortSettings) -> CheckResult:
    """The whole clip fails when it lasts less than ``min_duration_s`` (value: duration, s)."""
    duration = state.num_frames / state.fps
    value = np.full(state.num_frames, duration)
    return CheckResult("too_short", np.full(state.num_frames, duration < s.min_duration_s), value,
                       s.min_duration_s, "s", higher_is_worse=False)


def joint_position_limit(state: ClipState, s: JointPositionLimitSettings) -> CheckResult:
    """Largest excess (rad) of any joint beyond its lower or upper limit, per frame."""
    b = state.body
    q = state.dof_pos
    excess = np.maximum(b.lower - q, q - b.upper).max(axis=1)
    return threshold_result("joint_position_limit", excess, s.tolerance_rad, "rad", s.allow_frames)


def joint_velocity(state: ClipState, s: JointVelocitySettings) -> CheckResult:
    """Largest |joint velocity| / velocity limit over the joints, per frame (threshold: the factor).

    With ``s.demanded``, the joint speed the human motion demanded
    (``RobotMotion.demanded_speed``, the same ratio) counts too, whichever is larger.
    """
    ratio = (np.abs(state.dof_vel) / state.body.velocity_limit).max(axis=1)
    demand = state.motion.demanded_speed if s.demanded else None
    if demand is not None and np.shape(demand) == (state.num_frames,):
        ratio = np.fmax(ratio, np.asarray(demand, dtype=np.float64))
    return threshold_result("joint_velocity", ratio, s.limit_factor, "x velocity limit", s.allow_frames)


def root_linear_speed(state: ClipState, s: RootLinearSpeedSettings) -> CheckResult:
    """Root linear speed (m/s), central differences."""
    speed = np.linalg.norm(state.root_lin_vel, axis=1)
    return threshold_result("root_linear_speed", speed, s.max_mps, "m/s", s.allow_frames)


def root_angular_speed(state: ClipState, s: RootAngularSpeedSettings) -> CheckResult:
    """Root angular speed (rad/s), central differences of the orientations."""
    speed = np.linalg.norm(state.root_ang_vel, axis=1)
    return threshold_result("root_angular_speed", speed, s.max_radps, "rad/s", s.allow_frames)


def root_vertical_jump(state: ClipState, s: RootVerticalJumpSettings) -> CheckResult:
    """Root vertical speed (m/s) from each frame to the next (a jump of the root height between frames)."""
    z = np.asarray(state.motion.root_pos, dtype=np.float64)[:, 2]
    step = np.abs(np.diff(z)) * state.fps
    value = np.zeros(state.num_frames)
    if len(step):
        value[1:] = step
        value[:-1] = np.maximum(value[:-1], step)
    return threshold_result("root_vertical_jump", value, s.max_vertical_speed_mps, "m/s", s.allow_frames)

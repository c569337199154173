"""The filter's checks, in the order they run.

The order is also the order of diagnosis: a clip's main reason is its first
failing check, kinematic and contact causes before their dynamic
consequences (a body lying on the floor also breaks the ZMP and torque
checks; it is reported as ``non_foot_ground_contact`` first).

Each check is ``check(state: ClipState, settings) -> CheckResult`` where
``settings`` is the check's own section of :class:`stages.filter.settings.Settings`
(the attribute named like the reason code).
"""

from __future__ import annotations

from collections.abc import Callable

from core.reasons import reason
from stages.filter.checks.base import CheckResult
from stages.filter.checks.collision import self_collision
from stages.filter.checks.dynamics import flight_momentum, joint_torque, zmp_outside_support
from stages.filter.checks.ground import floating, ground_penetration, non_foot_ground_contact
from stages.filter.checks.ik import ik_infeasible
from stages.filter.checks.kinematic import (
                                            joint_position_limit,
                                            joint_velocity,
                                            non_finite,
                                            root_angular_speed,
                                            root_linear_speed,
                                            root_vertical_jump,
                                            too_short,
)

Check = Callable[..., CheckResult]

#: reason code -> check function; the code is also the name of its settings section.
CHECKS: dict[str, Check] = {
    "non_finite": non_finite,
    "too_short": too_short,
    "joint_position_limit": joint_position_limit,
    "joint_velocity": joint_velocity,
    "root_linear_speed": root_linear_speed,
    "root_angular_speed": root_angular_speed,
    "root_vertical_jump": root_vertical_jump,
    "ik_infeasible": ik_infeasible,
    "non_foot_ground_contact": non_foot_ground_contact,
    "floating": floating,
    "ground_penetration": ground_penetration,
    "self_collision": self_collision,
    "flight_momentum": flight_momentum,
    "zmp_outside_support": zmp_outside_support,
    "joint_torque": joint_torque,
}

#: The kind of every check, as registered in :mod:`core.reasons`.
#: ``hard``: what no adaptation of the motion repairs (broken data, contact with the floor by
#: anything but a foot, bodies through the floor or through each other, joints beyond their
#: range or speed, the root moving faster than a robot can): these cut and reject *before*
#: the adapt stage, as the filter always did.
#: ``dynamic``: consequences of the whole-body dynamics (ZMP outside the support polygon,
#: joint torques beyond the motors, momentum changing in flight): the adapt stage exists to
#: remove them, so they judge the motion the dataset stores *after* adapt (the adapted
#: motion when adapt runs, the raw one when it is off; ``stages/filter/compose.py``).
KINDS: dict[str, str] = {code: reason(code).kind for code in CHECKS}     # kinds live in core/reasons.py
HARD: tuple[str, ...] = tuple(c for c, k in KINDS.items() if k == "hard")
DYNAMIC: tuple[str, ...] = tuple(c for c, k in KINDS.items() if k == "dynamic")

#: checks that can run on a clip holding non-finite values
SAFE_ON_NON_FINITE = ("non_finite", "too_short")

__all__ = ["CHECKS", "DYNAMIC", "HARD", "KINDS", "SAFE_ON_NON_FINITE", "CheckResult", "Check"]

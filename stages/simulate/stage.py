"""The simulate clip stage: every clip the filter kept, tracked in MuJoCo and recorded.

Reads the retarget stage's artifact (a :class:`RobotMotion` .npz) and the
filter's verdict (``inp.upstream_summary["filter"]``); a clip the filter
rejected is not simulated. The artifact is the simulated motion (an npz that
``RobotMotion.load`` reads, the clip's fps) plus ``sim_fallen``,
``sim_key_body_error_m``, ``sim_joint_torque``, ``sim_contact_force``,
``sim_floor_wrench`` and ``sim_cop`` (the true centre of pressure); the
summary holds falls, falls_per_min, tracked_fraction, mean_body_error_m,
max_torque_ratio, realtime_factor and the ``sim_fall`` reasons.
``mode: none`` turns the stage off (summary ``{"mode": "none"}``, no artifact).
"""

from __future__ import annotations

from core.errors import InputError
from core.stage import ClipStage, StageInput, StageResult
from stages.simulate.settings import Settings

__all__ = ["Settings", "STAGE", "run"]


def _filter_rejected(inp: StageInput) -> bool:
    verdict = (inp.upstream_summary.get("filter") or {}).get("verdict") or {}
    return verdict.get("verdict") == "reject"


def run(inp: StageInput, settings: Settings) -> StageResult:
    """Simulate the clip's retargeted motion on ``inp.globals.robot``."""
    if settings.mode == "none":
        return StageResult(summary={"mode": "none"})
    if _filter_rejected(inp):
        return StageResult(summary={"mode": settings.mode, "skipped": "filter_reject"})
    from core.records.robot_motion import RobotMotion
    from core.robot import load_robot
    from stages.simulate.api import simulate_motion

    path = inp.upstream["retarget"]
    motion = RobotMotion.load(path)
    robot = load_robot(inp.globals.robot)
    try:
        result = simulate_motion(motion, robot, settings)
    except InputError as exc:
        raise InputError(path, exc.code, exc.message) from None
    arrays, meta = result.arrays()
    from core.settings import to_plain

    # the settings go with the figures: the adapt stage simulates its adapted motion the same way
    return StageResult(arrays=arrays, meta=meta, summary={"mode": settings.mode, **result.summary,
                                                          "settings": to_plain(settings)})


STAGE = ClipStage(name="simulate", version="2", settings_type=Settings, run=run)

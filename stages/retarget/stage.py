"""The retarget clip stage: one canonical human motion -> one robot motion artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.stage import ClipStage, StageInput, StageResult
from stages.retarget.settings import Settings

if TYPE_CHECKING:
    from core.records.robot_motion import RobotMotion

__all__ = ["Settings", "STAGE", "run", "summary_of"]

#: Metrics copied into the run manifest's per-clip summary.
SUMMARY_KEYS: tuple[str, ...] = (
    "limb_direction_error_deg", "keypoint_error_m", "lock_slide_cm_s", "slide_cm_s", "slide_ratio",
    "near_ground_speed_cm_s", "lock_coverage", "ground_penetration_frac",
    "self_collision_frac", "joint_limit_violations", "velocity_limit_excess_max", "jerk_mean_rad_s3",
    "root_scale", "target_penetration_max_m", "demanded_speed_max", "ik_infeasible_frames",
)

#: Wall-clock metrics: reported in the run manifest only, never stored in the artifact,
#: so the same inputs always give byte-identical artifacts.
TIMING_KEYS: tuple[str, ...] = ("solve_s", "frames_per_s", "first_frame_s", "ik_frames_per_s")


def summary_of(motion: RobotMotion) -> dict:
    """JSON-able summary of a retargeted clip (frames, fps, robot, the main metrics)."""
    out = {"frames": motion.num_frames, "fps": float(motion.fps), "robot": motion.robot}
    for key in SUMMARY_KEYS:
        if key in motion.metrics:
            out[key] = round(float(motion.metrics[key]), 6)
    return out


def run(inp: StageInput, settings: Settings) -> StageResult:
    """Retarget the clip's ingested human motion onto ``inp.globals.robot``.

    Raises:
        InputError: the human motion is unusable (too short, non-finite,
            degenerate skeleton); the clip is rejected with that reason.
    """
    from core.records.human_motion import HumanMotion
    from core.robot import load_robot
    from stages.retarget.api import retarget_motion

    human = HumanMotion.load(inp.upstream["ingest"])
    robot = load_robot(inp.globals.robot)
    motion = retarget_motion(human, robot, settings)
    motion.provenance["clip_id"] = inp.clip.clip_id
    timings = {k: motion.metrics.pop(k) for k in TIMING_KEYS if k in motion.metrics}
    arrays, meta = motion.to_arrays()
    return StageResult(arrays=arrays, meta=meta, summary={**summary_of(motion), **timings})


STAGE = ClipStage(name="retarget", version="4", settings_type=Settings, run=run)

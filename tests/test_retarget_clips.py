"""Retargeting real clips (../shared/data) onto the built-in G1: quality targets of issues 4 and 12.

Long clips are cropped to a few hundred frames to keep the suite fast; the clips that once
missed the targets (lying, kneeling, falling, crouched and squatting poses) run whole.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import require_shared

from core.records.human_motion import HumanMotion
from core.robot import load_robot

# issue 4 targets
MAX_LIMB_DEG = 6.0
MAX_SELF_COLLISION_FRAC = 0.01
MAX_GROUND_FRAC = 0.01

# issue 12 targets, on the independent foot measure (stages/retarget/metrics.py: foot_measures)
MAX_SLIDE_RATIO = 0.8
MAX_NEAR_GROUND_CM_S = 15.0
MIN_LOCK_COVERAGE = 0.95
#: Clips that do not reach the slide target yet, with the bound they do keep: none since feetslide (the
#: lying, kneeling and falling clips were at 1.02-2.17 with the feet following the scaled chain; on the
#: whole clips now ground1 0.78, push1 0.34, fall1 0.49, ground2 0.78).
SLIDE_RATIO_BOUND: dict[str, float] = {}
NEAR_GROUND_BOUND: dict[str, float] = {}
UPRIGHT = ("walk4", "dance1", "cmu", "smpl_walk", "cmu_131_01", "smpl_squat")

CLIPS = {
    "walk4": (("lafan1", "walk4_subject1.bvh"), 1200, 1500),
    "dance1": (("lafan1", "dance1_subject1.bvh"), 600, 900),
    "cmu": (("cmu", "131_02.bvh"), 0, 400),
    "smpl_walk": (("smpl_asap", "video_walk_level1_filter_amass.npz"), 0, 400),
    # lying, kneeling, falling, crouched and squatting poses (limb tasks keep the limb directions
    # when the torso cannot follow the human's spine within the waist's range)
    "ground1": (("lafan1", "ground1_subject1.bvh"), 0, None),
    "fall1": (("lafan1", "fallAndGetUp1_subject1_680_800.bvh"), 0, None),
    "push1": (("lafan1", "push1_subject2.bvh"), 0, None),
    # kneeling most of the clip: the tightest of the 21 real clips on both slide (0.78) and limb error (5.96)
    "ground2": (("lafan1_extra", "ground2_subject2.bvh"), 0, None),
    "cmu_131_01": (("cmu", "131_01.bvh"), 0, None),
    "smpl_squat": (("smpl_asap", "video_squat_level1_filter_amass.npz"), 0, None),
}


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def _human(parts, start, stop) -> HumanMotion:
    from stages.ingest.api import ingest_file

    human = ingest_file(require_shared(*parts))
    stop = human.num_frames if stop is None else min(stop, human.num_frames)
    return dataclasses.replace(human, positions=human.positions[start:stop], rotations=human.rotations[start:stop])


@pytest.fixture(scope="module")
def retargeted(g1):
    """clip name -> (human, robot motion), each retargeted once."""
    from stages.retarget.api import retarget_motion

    out = {}
    for name, (parts, start, stop) in CLIPS.items():
        human = _human(parts, start, stop)
        out[name] = (human, retarget_motion(human, g1))
    return out


@pytest.mark.parametrize("name", list(CLIPS))
def test_quality_targets(retargeted, name):
    human, motion = retargeted[name]
    m = motion.metrics
    assert motion.num_frames == human.num_frames
    assert m["limb_direction_error_deg"] <= MAX_LIMB_DEG, m
    assert m["ground_penetration_frac"] < MAX_GROUND_FRAC, m
    assert m["joint_limit_violations"] == 0.0
    assert m["velocity_limit_excess_max"] < 1e-6
    # no constant float or sink: soles in contact sit within 1 cm of the floor
    assert abs(m["contact_foot_height_m"]) < 0.01, m
    assert m["self_collision_frac"] < MAX_SELF_COLLISION_FRAC, m


@pytest.mark.parametrize("name", list(CLIPS))
def test_feet_stay_planted(retargeted, name):
    """Issue 12 on the independent measure: robot soles slide less than a scaled copy of the
    human foot would (slide / slide_ref), move slowly near the floor, and the locks cover the
    independent detector's contact foot-frames."""
    _, motion = retargeted[name]
    m = motion.metrics
    assert m["slide_ratio"] <= SLIDE_RATIO_BOUND.get(name, MAX_SLIDE_RATIO), m
    assert m["near_ground_speed_cm_s"] <= NEAR_GROUND_BOUND.get(name, MAX_NEAR_GROUND_CM_S), m
    assert m["lock_coverage"] >= (MIN_LOCK_COVERAGE if name in UPRIGHT else 0.9), m


@pytest.mark.parametrize("name", list(CLIPS))
def test_record_is_consistent(retargeted, g1, name):
    human, motion = retargeted[name]
    T = motion.num_frames
    assert motion.dof_pos.shape == (T, g1.num_dofs) and motion.dof_names == g1.dof_names
    np.testing.assert_allclose(np.linalg.norm(motion.root_rot, axis=1), 1.0, atol=1e-9)
    assert np.all(motion.dof_pos >= g1.lower - 1e-9) and np.all(motion.dof_pos <= g1.upper + 1e-9)
    np.testing.assert_allclose(motion.dof_vel, np.gradient(motion.dof_pos, 1.0 / motion.fps, axis=0), atol=1e-9)
    assert motion.contacts.shape == (T, 2) and motion.contacts.any()
    assert motion.fps == human.fps
    # the key link poses equal the shared trajectory -> record helper's FK
    from core.robot import robot_motion_from_trajectory
    ref = robot_motion_from_trajectory(g1, motion.fps, motion.root_pos, motion.root_rot, motion.dof_pos,
                                       contacts=motion.contacts)
    assert ref.link_names == motion.link_names
    np.testing.assert_allclose(motion.link_pos, ref.link_pos, atol=1e-9)
    np.testing.assert_allclose(motion.link_rot, ref.link_rot, atol=1e-9)
    np.testing.assert_allclose(motion.root_rot, ref.root_rot, atol=1e-12)
    # root translation scaled by the leg ratio (~0.73 for LAFAN1 on the G1, FACTS.md: 0.74)
    if name in ("walk4", "dance1"):
        assert 0.68 < motion.metrics["root_scale"] < 0.8


@pytest.mark.parametrize("name", ["walk4", "smpl_walk", "cmu"])
def test_left_stays_left(retargeted, g1, name):
    """While walking, the robot's left foot is on the left of the walking direction, like the human's."""
    from scipy.ndimage import uniform_filter1d

    from core.records.keypoints import KEYPOINT_NAMES

    human, motion = retargeted[name]
    left, right = (motion.link_names.index(f) for f in g1.config.foot_frames)
    root = uniform_filter1d(motion.root_pos[:, :2], size=int(motion.fps), axis=0, mode="nearest")
    vel = np.gradient(root, 1.0 / motion.fps, axis=0)
    speed = np.linalg.norm(vel, axis=1)
    moving = speed > 0.1
    assert moving.mean() > 0.2, "the clip should contain walking"
    heading = vel[moving] / speed[moving, None]
    left_dir = np.stack([-heading[:, 1], heading[:, 0]], axis=1)        # z x heading
    robot_side = np.einsum("ti,ti->t", motion.link_pos[moving, left, :2] - motion.link_pos[moving, right, :2], left_dir)
    kp = human.keypoint_positions()
    human_side = np.einsum("ti,ti->t", kp[moving, KEYPOINT_NAMES.index("left_ankle"), :2]
                           - kp[moving, KEYPOINT_NAMES.index("right_ankle"), :2], left_dir)
    assert np.mean(robot_side > 0) > 0.9
    assert np.mean(robot_side[human_side > 0.02] > 0) > 0.98


def test_deterministic(g1):
    from stages.retarget.api import retarget_motion

    human = _human(("lafan1", "fallAndGetUp1_subject1_680_800.bvh"), 0, 60)
    a = retarget_motion(human, g1)
    b = retarget_motion(human, g1)
    np.testing.assert_array_equal(a.dof_pos, b.dof_pos)
    np.testing.assert_array_equal(a.root_pos, b.root_pos)


def test_bad_human_motion_is_rejected(g1):
    from core.errors import InputError
    from stages.retarget.api import retarget_motion

    human = _human(("lafan1", "walk4_subject1.bvh"), 0, 20)
    positions = human.positions.copy()
    positions[7, 3] = np.nan
    with pytest.raises(InputError) as err:
        retarget_motion(dataclasses.replace(human, positions=positions), g1)
    assert err.value.code == "non_finite"
    with pytest.raises(InputError) as err:
        retarget_motion(dataclasses.replace(human, positions=human.positions[:1], rotations=human.rotations[:1]), g1)
    assert err.value.code == "too_short"


def test_stage_run_writes_a_robot_motion(tmp_path, g1):
    from core.npzio import save_npz
    from core.records.robot_motion import RobotMotion
    from core.stage import ClipSource, RunGlobals, StageInput
    from stages.retarget.stage import STAGE, Settings

    human = _human(("lafan1", "walk4_subject1.bvh"), 0, 90)
    path = tmp_path / "human.npz"
    human.save(path)
    clip = ClipSource(clip_id="walk4", path=str(path), sha256="0" * 64, kind="bvh", dataset="LAFAN1", license="x")
    result = STAGE.run(StageInput(clip=clip, globals=RunGlobals(robot="g1"), upstream={"ingest": path}), Settings())
    assert result.status == "ok"
    out = tmp_path / "robot.npz"
    save_npz(out, result.arrays, result.meta)
    motion = RobotMotion.load(out)
    assert motion.num_frames == 90 and motion.robot == "g1"
    assert result.summary["frames"] == 90 and result.summary["joint_limit_violations"] == 0.0
    json.dumps(result.summary)


def test_retarget_clip_tool(tmp_path, capsys):
    from pipeline.cli import main

    src = require_shared("lafan1", "fallAndGetUp1_subject1_680_800.bvh")
    out = tmp_path / "out.npz"
    assert main(["retarget-clip", str(src), "--robot", "g1", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["frames"] == 121 and "limb_direction_error_deg" in printed["metrics"]
    with np.load(out, allow_pickle=False) as data:
        assert data["dof_pos"].shape == (121, 29)
        assert data["root_rot"].shape == (121, 4)
    assert main(["retarget-clip", str(tmp_path / "missing.bvh"), "--out", str(out)]) == 2


def test_reseed_recovers_from_flipped_limbs(g1):
    """ground1 (lying, rolling on the floor): the tracker can keep a flipped hip; the reseed check
    draws it back to the fresh solution, so the limb-direction error drops."""
    from stages.retarget.api import retarget_motion
    from stages.retarget.ik import SolverSettings
    from stages.retarget.settings import Settings

    human = _human(("lafan1", "ground1_subject1.bvh"), 600, 1500)
    with_reseed = retarget_motion(human, g1).metrics
    without = retarget_motion(human, g1, Settings(solver=SolverSettings(reseed_interval_s=0.0))).metrics
    assert with_reseed["reseeds"] >= 1 and without["reseeds"] == 0
    assert with_reseed["limb_direction_error_deg"] < without["limb_direction_error_deg"] - 0.5
    assert with_reseed["joint_limit_violations"] == 0.0

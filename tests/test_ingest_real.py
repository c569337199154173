"""Ingest of the real LAFAN1, CMU and SMPL (AMASS layout) files in ../shared/data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import require_shared

from core.records.human_motion import HumanMotion
from core.records.keypoints import KEYPOINT_NAMES
from stages.ingest.api import ingest_file
from stages.ingest.bvh import read_bvh

LAFAN1 = ["dance1_subject1", "fallAndGetUp1_subject1_680_800", "fallAndGetUp3_subject1", "ground1_subject1",
          "push1_subject2", "walk4_subject1"]
CMU = ["131_01", "131_02"]
SMPL = ["video_APT_level1_amass", "video_jump_forward_level1_filter_amass", "video_side_jump_level1_filter_amass",
        "video_single_foot_balance_level1_filter_amass", "video_squat_level1_filter_amass",
        "video_walk_level1_filter_amass"]
_CACHE: dict[str, HumanMotion] = {}


def ingest(rel: str) -> HumanMotion:
    if rel not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CACHE[rel] = ingest_file(require_shared(*rel.split("/")), fps=30.0, dataset="test", license="test")
    return _CACHE[rel]


def upright_fraction(m: HumanMotion) -> float:
    kp = m.keypoints
    z = m.positions[..., 2]
    ankles = np.maximum(z[:, kp["left_ankle"]], z[:, kp["right_ankle"]])
    return float(np.mean((z[:, kp["head"]] > z[:, kp["pelvis"]]) & (z[:, kp["pelvis"]] > ankles)))


def support_foot_on_floor(m: HumanMotion, speed: float = 0.15, tol: float = 0.03) -> float:
    """Fraction of stance frames (support foot stationary) whose lowest foot keypoint is within tol of the floor."""
    kp, p = m.keypoints, m.positions
    feet = np.stack([p[:, [kp[f"{s}_ankle"], kp[f"{s}_toe"]]] for s in ("left", "right")], axis=1)
    low = feet[..., 2].min(axis=2)
    sup = np.argmin(low, axis=1)
    rows = np.arange(len(p))
    moving = np.linalg.norm(np.gradient(feet, 1.0 / m.fps, axis=0), axis=-1).max(axis=2)[rows, sup]
    stance = moving < speed
    assert stance.mean() > 0.3
    return float(np.mean(np.abs(low[rows, sup][stance] - m.floor_height) < tol))


@pytest.mark.parametrize("rel", [f"lafan1/{n}.bvh" for n in LAFAN1] + [f"cmu/{n}.bvh" for n in CMU])
def test_bvh_subjects_height_and_record(rel):
    m = ingest(rel)
    assert 1.5 <= m.standing_height <= 1.95
    assert set(m.keypoints) == set(KEYPOINT_NAMES)
    assert m.positions.shape == (m.num_frames, len(m.joint_names), 3)
    assert np.allclose(np.linalg.norm(m.rotations, axis=-1), 1.0)
    assert m.fps == 30.0
    assert m.provenance["fk"] == "bvh" and len(m.provenance["sha256"]) == 64
    assert m.provenance["skeleton"] == ("cmu" if rel.startswith("cmu") else "lafan1")
    # rest offsets reproduce the positions from the rotations (FK consistency)
    from core.rotations import rotate
    j = m.keypoints["left_knee"]
    p = int(m.parents[j])
    assert np.allclose(m.positions[:, j], m.positions[:, p] + rotate(m.rotations[:, p], m.rest_offsets[j]), atol=1e-9)


@pytest.mark.parametrize("rel", ["lafan1/walk4_subject1.bvh", "lafan1/dance1_subject1.bvh",
                                 "lafan1/push1_subject2.bvh", "cmu/131_01.bvh", "cmu/131_02.bvh"])
def test_upright_and_feet_on_floor(rel):
    m = ingest(rel)
    assert upright_fraction(m) > 0.95
    assert support_foot_on_floor(m) > 0.95


def test_handedness_walk4_left_foot_on_the_left():
    m = ingest("lafan1/walk4_subject1.bvh")
    kp, p = m.keypoints, m.positions
    vel = np.gradient(p[:, kp["pelvis"]], 1.0 / m.fps, axis=0)
    vel[:, 2] = 0.0
    walking = np.linalg.norm(vel, axis=1) > 0.5
    assert walking.sum() > 1000
    left_of_heading = np.cross(np.array([0.0, 0.0, 1.0]), vel)      # z x forward = subject's left
    for a, b in (("left_ankle", "right_ankle"), ("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
        side = np.sum((p[:, kp[a]] - p[:, kp[b]]) * left_of_heading, axis=1)
        assert np.mean(side[walking] > 0) > 0.95, a


def test_lafan1_crop_frame_count_exact():
    m = ingest("lafan1/fallAndGetUp1_subject1_680_800.bvh")
    assert m.num_frames == 121 and m.fps == 30.0
    assert m.duration == pytest.approx(4.0)


def test_lafan1_lengths_match_file():
    for name in ("walk4_subject1", "dance1_subject1"):
        bvh = read_bvh(require_shared("lafan1", f"{name}.bvh"))
        m = ingest(f"lafan1/{name}.bvh")
        assert m.num_frames == bvh.num_frames == bvh.declared_frames


def test_cmu_120_to_30_keeps_duration():
    for name in CMU:
        bvh = read_bvh(require_shared("cmu", f"{name}.bvh"))
        assert bvh.fps == 120.0
        m = ingest(f"cmu/{name}.bvh")
        src_duration = (bvh.num_frames - 1) / 120.0
        assert m.fps == 30.0
        assert abs(m.duration - src_duration) < 1.0 / 30.0
        assert m.num_frames == int(np.floor(src_duration * 30 + 1e-6)) + 1


def test_cmu_resampled_frames_equal_source_frames():
    """At 120 -> 30 fps every 4th source frame is hit exactly: positions must match FK of that frame."""
    from stages.ingest.build import SourceMotion
    from stages.ingest.from_bvh import bvh_source
    from stages.ingest.kinematics import forward_kinematics

    bvh = read_bvh(require_shared("cmu", "131_01.bvh"))
    src, _ = bvh_source(bvh)
    assert isinstance(src, SourceMotion)
    pos, _ = forward_kinematics(src.parents, src.translations, src.local_quats)
    m = ingest("cmu/131_01.bvh")
    assert np.allclose(m.positions, pos[::4][: m.num_frames], atol=1e-9)


@pytest.mark.parametrize("name", SMPL)
def test_smpl_asap_clips(name):
    m = ingest(f"smpl_asap/{name}.npz")
    raw = np.load(require_shared("smpl_asap", f"{name}.npz"), allow_pickle=False)
    assert m.num_frames == raw["poses"].shape[0]              # 30 fps source, 30 fps target
    assert m.provenance["fk"] == "mean_shape_skeleton"
    assert "exact" in m.provenance["notes"]      # SMPL, neutral, betas all zero: the mean shape is their body
    assert upright_fraction(m) > 0.95
    assert support_foot_on_floor(m) > 0.95
    assert 1.5 <= m.standing_height <= 1.95
    # SMPL quirk: pelvis = trans + rest pelvis joint (native coordinates added unrotated)
    assert np.allclose(m.positions[:, 0], raw["trans"] + np.array([-0.0018, -0.2233, 0.0282]), atol=1e-6)


def test_smpl_walk_no_mirroring():
    m = ingest("smpl_asap/video_walk_level1_filter_amass.npz")
    kp, p = m.keypoints, m.positions
    travel = p[-1, 0] - p[0, 0]
    assert np.linalg.norm(travel[:2]) > 1.0
    left = np.mean(p[:, kp["left_hip"]] - p[:, kp["right_hip"]], axis=0)
    forward = np.cross(left, np.array([0.0, 0.0, 1.0]))          # left x up = forward
    assert np.dot(forward[:2], travel[:2]) > 0.0


def test_saved_record_round_trip(tmp_path):
    m = ingest("lafan1/fallAndGetUp1_subject1_680_800.bvh")
    m.save(tmp_path / "h.npz")
    back = HumanMotion.load(tmp_path / "h.npz")
    assert back.joint_names == m.joint_names and back.keypoints == m.keypoints
    assert np.array_equal(back.positions, m.positions) and np.array_equal(back.rest_offsets, m.rest_offsets)
    assert back.provenance == m.provenance and back.floor_height == m.floor_height


def test_non_integer_resampling_hits_source_frames_and_keeps_bones():
    src = require_shared("smpl_asap", "video_walk_level1_filter_amass.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m30 = ingest_file(src, fps=30.0)
        m50 = ingest_file(src, fps=50.0)
    assert m50.fps == 50.0 and m50.num_frames == int(np.floor((m30.num_frames - 1) / 30 * 50 + 1e-6)) + 1
    # t = 0.1 k s is frame 3k at 30 fps and 5k at 50 fps: slerp/lerp reproduce the source there
    k = np.arange(0, (m30.num_frames - 1) // 3 + 1)
    assert np.abs(m50.positions[5 * k] - m30.positions[3 * k]).max() < 1e-9
    # in between, bone lengths stay exact (interpolation happens on local rotations, not positions)
    bone = np.linalg.norm(m50.positions[:, 4] - m50.positions[:, 1], axis=-1)
    assert np.ptp(bone) < 1e-9


def test_same_subject_same_height_whatever_the_motion():
    """walking, dancing, falling and crawling clips of LAFAN1 subject1 give one height (posture-independent)."""
    heights = [ingest(f"lafan1/{n}.bvh").standing_height for n in LAFAN1 if "subject1" in n]
    assert len(heights) == 5 and np.ptp(heights) < 0.03


@pytest.mark.parametrize("name", CMU)
def test_cmu_spine_segment_is_a_real_segment(name):
    """spine -> neck is the upper back (CMU's Chest2/Spine1 coincides with lowerneck/Neck, so ``spine`` is the
    Chest/Spine joint below it), and spine sits between the pelvis and the neck along the trunk."""
    m = ingest(f"cmu/{name}.bvh")
    p = m.positions
    kp = m.keypoints
    spine_neck = np.linalg.norm(p[:, kp["neck"]] - p[:, kp["spine"]], axis=-1)
    pelvis_spine = np.linalg.norm(p[:, kp["spine"]] - p[:, kp["pelvis"]], axis=-1)
    assert spine_neck.min() >= 0.10 and pelvis_spine.min() >= 0.05
    trunk = p[:, kp["neck"]] - p[:, kp["pelvis"]]
    along = np.sum((p[:, kp["spine"]] - p[:, kp["pelvis"]]) * trunk, axis=-1) / np.sum(trunk * trunk, axis=-1)
    assert 0.2 < along.min() and along.max() < 0.8


def test_cmu_second_naming_variant(tmp_path):
    """The 01_01-style CMU names (LeftUpLeg, Spine1, LeftToeBase, ...) map to the same keypoints."""
    rename = {"LeftHip": "LeftUpLeg", "LeftKnee": "LeftLeg", "LeftAnkle": "LeftFoot", "LeftToe": "LeftToeBase",
              "RightHip": "RightUpLeg", "RightKnee": "RightLeg", "RightAnkle": "RightFoot",
              "RightToe": "RightToeBase", "lowerback": "LowerBack", "Chest": "Spine", "Chest2": "Spine1",
              "lowerneck": "Neck", "Neck": "Neck1", "LeftCollar": "LeftShoulder", "LeftShoulder": "LeftArm",
              "LeftElbow": "LeftForeArm", "LeftWrist": "LeftHand", "lhand": "LeftFingerBase",
              "RightCollar": "RightShoulder", "RightShoulder": "RightArm", "RightElbow": "RightForeArm",
              "RightWrist": "RightHand", "rhand": "RightFingerBase"}
    lines = require_shared("cmu", "131_01.bvh").read_text().splitlines()
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("JOINT", "ROOT") and parts[1] in rename:
            line = line.replace(parts[1], rename[parts[1]])
        out.append(line)
    path = tmp_path / "01_like.bvh"
    path.write_text("\n".join(out) + "\n")
    a = ingest("cmu/131_01.bvh")
    b = ingest_file(path)
    assert "LeftToeBase" in b.joint_names and b.provenance["skeleton"] == "cmu"
    assert np.allclose(a.keypoint_positions(), b.keypoint_positions(), atol=1e-12)

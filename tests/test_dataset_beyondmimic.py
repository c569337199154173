"""``export --format beyondmimic``: files read the way BeyondMimic's MotionLoader reads them.

HybridRobotics whole_body_tracking, ``tasks/tracking/mdp/commands.py``: ``np.load(motion_file)``,
``fps = data["fps"]``, float32 tensors of ``joint_pos``, ``joint_vel``, ``body_pos_w``, ``body_quat_w``,
``body_lin_vel_w``, ``body_ang_vel_w``, bodies picked by ``robot.find_bodies(cfg.body_names,
preserve_order=True)`` (positions in the articulation's body order); quaternions w x y z (Isaac Lab).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core import rotations as rot
from core.robot import load_robot
from stages.dataset.beyondmimic import angular_velocity, isaac_order
from stages.dataset.export import ExportOptions, export_dataset
from stages.dataset.reader import open_dataset
from stages.dataset.synthetic import random_motion
from stages.dataset.writer import ClipInput, write_dataset

#: the tracked bodies of whole_body_tracking's G1 task (config/g1/flat_env_cfg.py)
G1_TRACKED = ["pelvis", "left_hip_roll_link", "left_knee_link", "left_ankle_roll_link", "right_hip_roll_link",
              "right_knee_link", "right_ankle_roll_link", "torso_link", "left_shoulder_roll_link", "left_elbow_link",
              "left_wrist_yaw_link", "right_shoulder_roll_link", "right_elbow_link", "right_wrist_yaw_link"]


class MotionLoaderLike:
    """What whole_body_tracking's MotionLoader does with a file (no Isaac Lab here)."""

    def __init__(self, motion_file, body_indexes):
        data = np.load(motion_file)
        self.fps = data["fps"]
        self.joint_pos = torch.tensor(data["joint_pos"], dtype=torch.float32)
        self.joint_vel = torch.tensor(data["joint_vel"], dtype=torch.float32)
        self.body_pos_w = torch.tensor(data["body_pos_w"], dtype=torch.float32)[:, body_indexes]
        self.body_quat_w = torch.tensor(data["body_quat_w"], dtype=torch.float32)[:, body_indexes]
        self.body_lin_vel_w = torch.tensor(data["body_lin_vel_w"], dtype=torch.float32)[:, body_indexes]
        self.body_ang_vel_w = torch.tensor(data["body_ang_vel_w"], dtype=torch.float32)[:, body_indexes]
        self.time_step_total = self.joint_pos.shape[0]


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_isaac_order_is_breadth_first(g1):
    joints, bodies = isaac_order(g1)
    assert joints[:6] == ["left_hip_pitch_joint", "right_hip_pitch_joint", "waist_yaw_joint", "left_hip_roll_joint",
                          "right_hip_roll_joint", "waist_roll_joint"]
    assert bodies[:4] == ["pelvis", "left_hip_pitch_link", "right_hip_pitch_link", "waist_yaw_link"]
    assert sorted(joints) == sorted(g1.dof_names) and len(bodies) == len(joints) + 1
    assert set(G1_TRACKED) <= set(bodies)


def test_angular_velocity_of_a_constant_spin():
    t = np.arange(20) / 50.0
    q = rot.from_rotvec(np.outer(t * 2.0, [0.0, 0.0, 1.0]))      # 2 rad/s about z
    np.testing.assert_allclose(angular_velocity(q, 1 / 50.0), np.tile([0, 0, 2.0], (20, 1)), atol=1e-9)


def test_beyondmimic_export_loads_like_the_motion_loader(tmp_path, g1):
    motion = dataclasses.replace(random_motion(90, fps=30.0, seed=3, robot="g1"), dof_names=g1.dof_names)
    motion = dataclasses.replace(motion, dof_pos=np.clip(motion.dof_pos, -0.5, 0.5))
    write_dataset(tmp_path / "ds", [ClipInput("walk", motion, {"verdict": "pass", "segments": []})], progress=False)
    summary = export_dataset(tmp_path / "ds", tmp_path / "bm", ExportOptions(format="beyondmimic"), progress=False)
    assert summary["files"] == 1
    joints, bodies = isaac_order(g1)
    loader = MotionLoaderLike(tmp_path / "bm" / "walk.npz", [bodies.index(n) for n in G1_TRACKED])
    assert int(loader.fps[0]) == 50 and loader.fps.shape == (1,)
    assert loader.time_step_total == len(rot.resample_times(90, 30.0, 50.0))
    T = loader.time_step_total
    assert loader.joint_pos.shape == (T, 29) and loader.body_pos_w.shape == (T, 14, 3)
    assert loader.body_quat_w.shape == (T, 14, 4)
    # the reference the exporter resampled, at 50 Hz
    ref = open_dataset(tmp_path / "ds").window(0, 0.0, T, 1 / 50.0, fields=("root_pos", "root_rot", "dof_pos"))
    # pelvis = root: position, and quaternion in w x y z
    np.testing.assert_allclose(loader.body_pos_w[:, 0].numpy(), ref["root_pos"], atol=1e-5)
    wxyz = ref["root_rot"][:, [3, 0, 1, 2]]
    dots = np.abs(np.sum(loader.body_quat_w[:, 0].numpy() * wxyz, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-5)
    # joints in Isaac Lab order: column j is the dataset's joint named joints[j]
    for j, name in enumerate(joints):
        np.testing.assert_allclose(loader.joint_pos[:, j].numpy(), ref["dof_pos"][:, g1.dof_names.index(name)],
                                   atol=1e-6)
    # bodies: FK of the robot, in body order
    pos, _ = g1.forward_kinematics(ref["root_pos"], ref["root_rot"], ref["dof_pos"], G1_TRACKED)
    np.testing.assert_allclose(loader.body_pos_w.numpy(), pos, atol=1e-5)
    # velocities are the derivatives at 50 Hz
    np.testing.assert_allclose(loader.joint_vel.numpy(), np.gradient(loader.joint_pos.numpy(), 0.02, axis=0),
                               atol=1e-3)
    np.testing.assert_allclose(loader.body_lin_vel_w.numpy(), np.gradient(pos, 0.02, axis=0), atol=1e-3)
    assert np.all(np.isfinite(loader.body_ang_vel_w.numpy()))

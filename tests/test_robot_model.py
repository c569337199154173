"""Built-in robots: G1 equals the official URDF; H1 loads from the official description."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest

from core.robot import load_robot
from core.robot.config import BUILTIN
from core.robot.write_urdf import compact_urdf
from tests.conftest import require_shared

FACTS_G1_ORDER = (
    "left_hip_pitch_joint left_hip_roll_joint left_hip_yaw_joint left_knee_joint left_ankle_pitch_joint "
    "left_ankle_roll_joint right_hip_pitch_joint right_hip_roll_joint right_hip_yaw_joint right_knee_joint "
    "right_ankle_pitch_joint right_ankle_roll_joint waist_yaw_joint waist_roll_joint waist_pitch_joint "
    "left_shoulder_pitch_joint left_shoulder_roll_joint left_shoulder_yaw_joint left_elbow_joint "
    "left_wrist_roll_joint left_wrist_pitch_joint left_wrist_yaw_joint right_shoulder_pitch_joint "
    "right_shoulder_roll_joint right_shoulder_yaw_joint right_elbow_joint right_wrist_roll_joint "
    "right_wrist_pitch_joint right_wrist_yaw_joint"
).split()


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


@pytest.fixture(scope="module")
def official():
    path = require_shared("robots", "g1_description", "g1_29dof_rev_1_0.urdf")
    return pin.buildModelFromUrdf(str(path), pin.JointModelFreeFlyer())


def test_g1_builtin_is_offline_and_in_urdf_order(g1):
    assert g1.config.description == (BUILTIN["g1"].parent / "g1_29dof.urdf").resolve()
    assert "<mesh" not in g1.config.description.read_text()
    assert g1.dof_names == tuple(FACTS_G1_ORDER)
    assert g1.model.nq == 36 and g1.model.nv == 35
    assert g1.lower[3] == -0.087267 and g1.upper[3] == 2.8798          # left knee (FACTS table)
    assert g1.effort_limit[20] == 5.0 and g1.velocity_limit[20] == 22.0  # left wrist pitch


def test_g1_fk_equals_official_at_random_configurations(g1, official):
    rng = np.random.default_rng(0)
    data_ours, data_off = g1.new_data(), official.createData()
    bodies = [f.name for f in official.frames if f.type == pin.FrameType.BODY]
    assert len(bodies) == 39  # every <link> of the official URDF
    assert set(bodies) <= set(g1.body_names)
    ours_ids = [g1.frame_id(n) for n in bodies]
    off_ids = [official.getFrameId(n, pin.FrameType.BODY) for n in bodies]
    worst_pos = worst_rot = 0.0
    for _ in range(100):
        root = rng.normal(size=3)
        quat = rng.normal(size=4)
        quat /= np.linalg.norm(quat)
        dofs = rng.uniform(g1.lower, g1.upper)
        q = g1.configuration(root, quat, dofs)
        pin.framesForwardKinematics(g1.model, data_ours, q)
        pin.framesForwardKinematics(official, data_off, q)
        for a, b in zip(ours_ids, off_ids):
            worst_pos = max(worst_pos, np.abs(data_ours.oMf[a].translation - data_off.oMf[b].translation).max())
            worst_rot = max(worst_rot, np.abs(data_ours.oMf[a].rotation - data_off.oMf[b].rotation).max())
    assert worst_pos < 1e-6
    assert worst_rot < 1e-9


def test_g1_limits_masses_inertias_exactly_equal(g1, official):
    m = g1.model
    np.testing.assert_array_equal(m.lowerPositionLimit[7:], official.lowerPositionLimit[7:])
    np.testing.assert_array_equal(m.upperPositionLimit[7:], official.upperPositionLimit[7:])
    np.testing.assert_array_equal(m.velocityLimit, official.velocityLimit)
    np.testing.assert_array_equal(m.effortLimit, official.effortLimit)
    assert list(m.names) == list(official.names)
    for j in range(official.njoints):
        assert m.inertias[j].mass == official.inertias[j].mass
        np.testing.assert_array_equal(m.inertias[j].lever, official.inertias[j].lever)
        np.testing.assert_array_equal(m.inertias[j].inertia, official.inertias[j].inertia)
        assert m.jointPlacements[j].isApprox(official.jointPlacements[j], 0.0) or np.array_equal(
            m.jointPlacements[j].homogeneous, official.jointPlacements[j].homogeneous)
    assert g1.total_mass == pytest.approx(33.34114202, abs=1e-8)


def test_committed_urdf_is_what_the_writer_produces():
    source = require_shared("robots", "g1_description", "g1_29dof_rev_1_0.urdf")
    committed = (BUILTIN["g1"].parent / "g1_29dof.urdf").read_text()
    assert compact_urdf(source, "g1_29dof") == committed


def test_forward_kinematics_batch_matches_pinocchio_and_known_values(g1):
    rng = np.random.default_rng(1)
    T = 7
    root = rng.normal(size=(T, 3))
    rot = rng.normal(size=(T, 4))
    rot /= np.linalg.norm(rot, axis=1, keepdims=True)
    dofs = rng.uniform(g1.lower, g1.upper, size=(T, g1.num_dofs))
    frames = ["pelvis", "left_ankle_roll_link", "right_rubber_hand"]
    pos, quat = g1.forward_kinematics(root, rot, dofs, frames)
    assert pos.shape == (T, 3, 3) and quat.shape == (T, 3, 4)
    np.testing.assert_allclose(np.linalg.norm(quat, axis=-1), 1.0, atol=1e-12)
    # the root frame is the root pose itself (quaternion up to sign)
    np.testing.assert_allclose(pos[:, 0], root, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(quat[:, 0] * rot, axis=-1)), 1.0, atol=1e-12)
    data = g1.new_data()
    for t in range(T):
        pin.framesForwardKinematics(g1.model, data, g1.configuration(root[t], rot[t], dofs[t]))
        np.testing.assert_allclose(pos[t, 2], data.oMf[g1.frame_id("right_rubber_hand")].translation, atol=1e-12)
    # zero pose, identity root: left ankle roll origin from the FACTS joint origins (sum of offsets,
    # hip roll pitched by -0.1749 rad only moves the later offsets slightly)
    p, _ = g1.forward_kinematics(np.zeros(3), np.array([0, 0, 0, 1.0]), np.zeros(29), ["left_ankle_roll_link"])
    assert p[0, 1] == pytest.approx(0.1185, abs=5e-4)
    assert p[0, 2] == pytest.approx(-0.7569, abs=5e-4)


def test_h1_loads_official_description_and_fk():
    require_shared("robots", "h1_description", "h1.urdf")
    h1 = load_robot("h1")
    assert h1.num_dofs == 19
    assert h1.dof_names[0] == "left_hip_yaw_joint" and h1.dof_names[-1] == "right_elbow_joint"
    assert h1.upper[h1.dof_names.index("left_knee_joint")] == 2.05
    assert h1.effort_limit[h1.dof_names.index("left_knee_joint")] == 300.0
    pos, _ = h1.forward_kinematics(np.zeros(3), np.array([0, 0, 0, 1.0]), np.zeros(19), ["left_ankle_link", "right_ankle_link"])
    # FACTS: hip yaw (0, .0875, -.1742) + roll (.039468, 0, 0) + pitch (0, .11536, 0) + knee/ankle (0, 0, -.4) each
    np.testing.assert_allclose(pos[0], [0.039468, 0.0875 + 0.11536, -0.1742 - 0.8], atol=1e-9)
    np.testing.assert_allclose(pos[1], [0.039468, -0.0875 - 0.11536, -0.1742 - 0.8], atol=1e-9)
    assert h1.collision.pairs.shape[0] > 10


def test_sole_geometry_from_meshes(g1):
    left, right = (g1.config.sole(f) for f in g1.config.foot_frames)
    # G1 foot: about 21 cm long, 7.5 cm wide, sole 3.5 cm below the ankle roll axis
    assert 2 * left.half_extents[0] == pytest.approx(0.21, abs=0.01)
    assert 2 * left.half_extents[1] == pytest.approx(0.075, abs=0.01)
    assert left.center[2] == pytest.approx(-0.0354, abs=0.002)
    assert left.center[1] == pytest.approx(-right.center[1], abs=1e-3)
    assert left.corners().shape == (4, 3)


@pytest.mark.parametrize("name", ["g1", "h1"])
def test_batched_numpy_fk_equals_pinocchio_loop(name):
    if name == "h1":
        require_shared("robots", "h1_description", "h1.urdf")
    robot = load_robot(name)
    rng = np.random.default_rng(5)
    T = 50
    root = rng.normal(size=(T, 3))
    rot = rng.normal(size=(T, 4))
    dofs = rng.uniform(robot.lower, robot.upper, size=(T, robot.num_dofs))
    frames = list(robot.body_names)
    p_batch, r_batch = robot.frame_placements(root, rot, dofs, frames)
    p_loop, r_loop = robot.frame_placements(root, rot, dofs, frames, data=robot.new_data())
    np.testing.assert_allclose(p_batch, p_loop, atol=1e-12)
    np.testing.assert_allclose(r_batch, r_loop, atol=1e-12)

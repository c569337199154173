"""Unitree LAFAN1 G1 CSV reader and RobotMotion construction on the real files."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.records.robot_motion import RobotMotion
from core.robot import load_robot, read_unitree_csv, robot_motion_from_trajectory
from core.robot.trajectory import sole_points
from tests.conftest import require_shared

FRAMES = {"dance1_subject1": 3945, "walk4_subject1": 4918, "fallAndGetUp3_subject1": 3066}


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


@pytest.fixture(scope="module")
def walk(g1):
    return read_unitree_csv(require_shared("lafan1_g1_unitree", "walk4_subject1.csv"), g1)


@pytest.mark.parametrize("clip", sorted(FRAMES))
def test_frame_counts_and_quaternions(g1, clip):
    motion = read_unitree_csv(require_shared("lafan1_g1_unitree", f"{clip}.csv"), g1)
    assert motion.num_frames == FRAMES[clip]
    assert motion.fps == 30.0 and motion.robot == "g1"
    assert motion.dof_names == g1.dof_names and motion.dof_pos.shape == (FRAMES[clip], 29)
    np.testing.assert_allclose(np.linalg.norm(motion.root_rot, axis=1), 1.0, atol=1e-9)
    assert np.all(np.sum(motion.root_rot[1:] * motion.root_rot[:-1], axis=1) >= 0)   # sign-continuous
    assert motion.link_pos.shape == (FRAMES[clip], len(g1.config.key_links), 3)


def test_walk_feet_on_ground_in_stance(g1, walk):
    soles = sole_points(g1, walk.root_pos, walk.root_rot, walk.dof_pos)
    for side in range(2):
        stance = walk.contacts[:, side]
        assert 0.4 < stance.mean() < 0.95
        h = soles[stance, side, 2]
        assert abs(np.median(h)) < 0.03          # Unitree's data: sole centres ~1.3 cm up in stance
        assert np.percentile(h, 5) > -0.03
    swing = ~walk.contacts[:, 0]
    assert np.median(soles[swing, 0, 2]) > np.median(soles[~swing, 0, 2])
    # standing pelvis height ~0.79 m (FACTS: zero pose pelvis-to-ankle 0.757 m + 3.5 cm sole)
    assert walk.root_pos[0, 2] == pytest.approx(0.7994, abs=1e-3)


def test_dof_vel_central_differences_and_roundtrip(g1, walk, tmp_path):
    k = 100
    expected = (walk.dof_pos[k + 1] - walk.dof_pos[k - 1]) * 30.0 / 2.0
    np.testing.assert_allclose(walk.dof_vel[k], expected, atol=1e-12)
    path = tmp_path / "walk.npz"
    walk.save(path)
    back = RobotMotion.load(path)
    np.testing.assert_array_equal(back.dof_pos, walk.dof_pos)
    assert back.link_names == walk.link_names


def test_from_trajectory_with_given_contacts(g1):
    T = 5
    contacts = np.zeros((T, 2), dtype=bool)
    motion = robot_motion_from_trajectory(g1, 50.0, np.zeros((T, 3)), np.tile([0, 0, 0, 2.0], (T, 1)),
                                          np.zeros((T, 29)), contacts=contacts, metrics={"x_m": 1.0},
                                          provenance={"dataset": "test"})
    np.testing.assert_allclose(motion.root_rot, np.tile([0, 0, 0, 1.0], (T, 1)))
    assert motion.metrics == {"x_m": 1.0} and motion.provenance["dataset"] == "test"
    assert not motion.contacts.any()
    with pytest.raises(ValueError):
        robot_motion_from_trajectory(g1, 50.0, np.zeros((T, 3)), np.zeros((T, 4)) + 1, np.zeros((T, 28)))


@pytest.mark.parametrize("content, code", [
    ("", "empty"),
    ("a,b,c\n1,2,3\n", "bad_csv"),
    (",".join(["0"] * 30) + "\n", "wrong_columns"),
    (",".join(["0"] * 36) + "\n", "bad_quaternion"),
    (",".join(["0"] * 6 + ["1"] + ["nan"] * 29) + "\n", "non_finite"),
    ("1,2\n1,2,3\n", "bad_csv"),
])
def test_bad_files_raise_input_error(g1, tmp_path, content, code):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        read_unitree_csv(path, g1)
    assert err.value.code == code and err.value.path == str(path)


def test_missing_file(g1, tmp_path):
    with pytest.raises(InputError) as err:
        read_unitree_csv(tmp_path / "none.csv", g1)
    assert err.value.code == "unreadable"


def test_frames_cuts_every_per_frame_array(walk):
    import dataclasses

    flagged = dataclasses.replace(walk, ik_infeasible=np.arange(walk.num_frames) % 7 == 0)
    part = flagged.frames(100, 250)
    assert part.num_frames == 150 and part.fps == walk.fps and part.dof_names == walk.dof_names
    for name in ("root_pos", "root_rot", "dof_pos", "dof_vel", "link_pos", "link_rot", "contacts", "ik_infeasible"):
        np.testing.assert_array_equal(getattr(part, name), getattr(flagged, name)[100:250])
    assert part.target_penetration is None and walk.frames(0, 10).num_frames == 10

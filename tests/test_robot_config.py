"""Robot YAML configs: validation errors name the key and the file; paths resolve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from core.records.keypoints import KEYPOINT_NAMES
from core.robot import load_robot
from core.robot.config import BUILTIN, ENV_SEARCH, load_config
from tests.conftest import require_shared


def _g1_copy(tmp_path: Path, **changes) -> Path:
    """A copy of the built-in G1 config (absolute description/geometry) with changes."""
    data = yaml.safe_load(BUILTIN["g1"].read_text())
    data["description"] = str(BUILTIN["g1"].parent / "g1_29dof.urdf")
    data["geometry"] = str(BUILTIN["g1"].parent / "g1_geometry.yaml")
    data.update(changes)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_builtin_g1_config_content():
    cfg = load_robot("g1").config
    assert cfg.name == "g1"
    assert cfg.foot_frames == ("left_ankle_roll_link", "right_ankle_roll_link")
    assert {t.human for t in cfg.keypoint_tasks} <= set(KEYPOINT_NAMES)
    human, frame, wp, wr = cfg.keypoint_tasks[0]
    assert (human, frame, wp, wr) == ("pelvis", "pelvis", 1.0, 1.0)
    assert {"pelvis", "torso_link", "left_knee_link", "left_elbow_link", "left_ankle_roll_link"} <= set(cfg.key_links)
    assert any(r.name == "leg" for r in cfg.scale_segments)
    assert len(cfg.soles) == 2 and len(cfg.primitives) >= 30


def test_copy_of_config_loads_like_builtin(tmp_path):
    robot = load_robot(_g1_copy(tmp_path))
    assert robot.dof_names == load_robot("g1").dof_names


def test_unknown_top_level_key_names_key_and_file(tmp_path):
    path = _g1_copy(tmp_path, foot_frame=["a", "b"])
    with pytest.raises(ConfigError) as err:
        load_robot(path)
    assert err.value.key == "foot_frame" and err.value.file == str(path.resolve())
    assert "robot.yaml" in str(err.value) and "unknown key" in str(err.value)


def test_unknown_nested_keys(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_robot(_g1_copy(tmp_path, posture_weights={"default": 0.1, "joint": {}}))
    assert err.value.key == "posture_weights.joint"
    with pytest.raises(ConfigError) as err:
        load_robot(_g1_copy(tmp_path, scale_segments=[{"name": "x", "human": ["pelvis", "neck"],
                                                       "robot": ["pelvis", "torso_link"], "weight": 1}]))
    assert err.value.key == "scale_segments[0].weight"


@pytest.mark.parametrize("changes, key, words", [
    ({"keypoint_tasks": [["left_hand", "pelvis", 1.0, 0.0]]}, "keypoint_tasks[0]", "unknown human keypoint"),
    ({"keypoint_tasks": [["pelvis", "pelvis", 1.0]]}, "keypoint_tasks[0]", "expected"),
    ({"foot_frames": ["left_foot_link", "right_ankle_roll_link"]}, "foot_frames", "not in"),
    ({"foot_frames": ["left_ankle_roll_link"]}, "foot_frames", "expected 2"),
    ({"velocity_limits": {"left_toe_joint": 3.0}}, "velocity_limits", "not a joint"),
    ({"velocity_limits": {"left_knee_joint": "fast"}}, "velocity_limits.left_knee_joint", "number"),
    ({"collision_pairs": [["left_arm", "tail"]]}, "collision_pairs[0]", "unknown group"),
    ({"description": "no_such_robot.urdf"}, "description", "not found"),
    ({"primitives": [{"name": "p", "frame": "pelvis", "a": [0, 0], "radius": 0.1}]}, "primitives[0].a", "3"),
])
def test_bad_values(tmp_path, changes, key, words):
    with pytest.raises(ConfigError) as err:
        load_robot(_g1_copy(tmp_path, **changes))
    assert err.value.key == key
    assert words in str(err.value)


def test_missing_config_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="built-in robots are g1, h1"):
        load_robot(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_robot(bad)


def test_description_search_path_env(tmp_path, monkeypatch):
    """A relative description is found through $MOTION_ROBOT_PATH; absent -> clear error."""
    src = require_shared("robots", "h1_description")
    robots = tmp_path / "robots"
    shutil.copytree(src, robots / "h1_description", ignore=shutil.ignore_patterns("meshes"))
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    data = yaml.safe_load(BUILTIN["h1"].read_text())
    data["geometry"] = str(BUILTIN["h1"].parent / "h1_geometry.yaml")
    data["description"] = "h1_description/h1.urdf"
    (cfg_dir / "h1.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv(ENV_SEARCH, str(robots))
    cfg = load_config(cfg_dir / "h1.yaml")
    assert cfg.description == (robots / "h1_description" / "h1.urdf").resolve()
    assert load_robot(cfg_dir / "h1.yaml").num_dofs == 19
    data["description"] = "elsewhere/h1.urdf"
    (cfg_dir / "h1.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(cfg_dir / "h1.yaml")
    assert err.value.key == "description" and ENV_SEARCH in str(err.value) and str(robots) in str(err.value)


MJCF = """<mujoco model="leg">
  <compiler angle="radian"/>
  <worldbody>
    <body name="base" pos="0 0 0">
      <freejoint name="root"/>
      <inertial pos="0 0 0" mass="2" diaginertia="0.01 0.01 0.01"/>
      <body name="thigh" pos="0 0.1 -0.05">
        <joint name="hip" type="hinge" axis="0 1 0" range="-1 1"/>
        <inertial pos="0 0 -0.1" mass="1" diaginertia="0.01 0.01 0.001"/>
        <body name="shin" pos="0 0 -0.3">
          <joint name="knee" type="hinge" axis="0 1 0" range="0 2"/>
          <inertial pos="0 0 -0.1" mass="0.5" diaginertia="0.01 0.01 0.001"/>
          <body name="foot" pos="0 0 -0.3">
            <inertial pos="0 0 0" mass="0.2" diaginertia="0.001 0.001 0.001"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def test_user_mjcf_robot_with_filled_limits(tmp_path):
    (tmp_path / "leg.xml").write_text(MJCF)
    (tmp_path / "leg.yaml").write_text(yaml.safe_dump({
        "name": "leg", "description": "leg.xml", "root_frame": "base", "foot_frames": ["foot", "foot"],
        "key_links": ["base", "foot"], "keypoint_tasks": [["left_ankle", "foot", 1.0, 0.0]],
        "velocity_limits": {"hip": 10.0, "knee": 12.0}, "effort_limits": {"knee": 40.0},
        "primitives": [{"name": "thigh", "frame": "thigh", "a": [0, 0, 0], "b": [0, 0, -0.3], "radius": 0.04},
                       {"name": "body", "frame": "base", "a": [0, 0, 0], "radius": 0.1}],
        "collision_pairs": [["thigh", "body"]],
    }))
    robot = load_robot(tmp_path / "leg.yaml")
    assert robot.dof_names == ("hip", "knee")
    assert robot.model.nq == 9
    assert list(robot.lower) == [-1.0, 0.0] and list(robot.upper) == [1.0, 2.0]
    assert list(robot.velocity_limit) == [10.0, 12.0]
    assert robot.effort_limit[1] == 40.0 and robot.effort_limit[0] == float("inf")
    assert robot.total_mass == pytest.approx(3.7)
    import numpy as np
    pos, _ = robot.forward_kinematics(np.zeros(3), np.array([0, 0, 0, 1.0]), np.array([0.0, np.pi / 2]), ["foot"])
    # knee bent 90 deg about +y: the shin points along -x
    np.testing.assert_allclose(pos[0], [-0.3, 0.1, -0.35], atol=1e-12)
    assert robot.collision.pairs.shape == (0, 2)   # thigh hangs on the joint below the base: adjacent

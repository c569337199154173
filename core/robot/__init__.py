"""Robot models used by retargeting, filtering and the dataset.

``load_robot("g1" | "h1" | PATH.yaml)`` returns a :class:`Robot`: a pinocchio
model with a free-flyer root, joint limits, forward kinematics, foot soles and
fitted collision primitives (see ``config.py`` for the YAML keys).
"""

from __future__ import annotations

from pathlib import Path

from core.robot.config import KeypointTask, Primitive, RobotConfig, ScaleRule, Sole, config_path, load_config
from core.robot.model import Robot
from core.robot.trajectory import read_unitree_csv, robot_motion_from_trajectory


def load_robot(name_or_path: str | Path) -> Robot:
    """A robot by built-in name (``"g1"``, ``"h1"``) or from a robot YAML config path.

    Raises:
        core.errors.ConfigError: unknown name, bad config or description not found.
    """
    return Robot(load_config(config_path(name_or_path)))


__all__ = ["load_robot", "Robot", "RobotConfig", "KeypointTask", "ScaleRule", "Sole", "Primitive", "load_config",
           "robot_motion_from_trajectory", "read_unitree_csv"]

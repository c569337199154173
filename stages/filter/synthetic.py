"""Constructed robot motions with known physics, for the filter's tests and benchmarks.

Every motion starts from the robot's default (standing) pose placed so that
its lowest sole corner touches the floor (z = 0). World Z-up, metres,
seconds; quaternions x y z w.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pinocchio as pin

from core.records.robot_motion import RobotMotion
from core.robot.trajectory import robot_motion_from_trajectory

if TYPE_CHECKING:
    from core.robot.model import Robot

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])



def standing_height(robot: Robot, dof_pos: np.ndarray | None = None) -> float:
    """Root height (m) at which the lowest sole corner of ``dof_pos`` (default pose) is at z = 0."""
    dof = robot.default_pose if dof_pos is None else np.asarray(dof_pos, dtype=np.float64)
    model = robot.model
    data = model.createData()
    pin.forwardKinematics(model, data, robot.configuration(np.zeros(3), IDENTITY, dof))
    lowest = np.inf
    for foot in robot.config.foot_frames:
        m = pin.updateFramePlacement(model, data, robot.frame_id(foot))
        corners = robot.config.sole(foot).corners()
        lowest = min(lowest, float((corners @ m.rotation.T + m.translation)[:, 2].min()))
    return -lowest


def motion(robot: Robot, root_pos: np.ndarray, dof_pos: np.ndarray, root_rot: np.ndarray | None = None,
           fps: float = 30.0) -> RobotMotion:
    """A :class:`RobotMotion` from root positions (T, 3) m, joint positions (T, D) rad and
    optional root orientations (T, 4) xyzw (identity when None)."""
    root_pos = np.asarray(root_pos, dtype=np.float64)
    T = root_pos.shape[0]
    rot = np.tile(IDENTITY, (T, 1)) if root_rot is None else np.asarray(root_rot, dtype=np.float64)
    return robot_motion_from_trajectory(robot, fps, root_pos, rot, np.asarray(dof_pos, dtype=np.float64))


def standing(robot: Robot, seconds: float = 3.0, fps: float = 30.0, dof_pos: np.ndarray | None = None) -> RobotMotion:
    """The robot standing still in its default pose (or ``dof_pos``) for ``seconds``."""
    T = int(round(seconds * fps))
    dof = robot.default_pose if dof_pos is None else np.asarray(dof_pos, dtype=np.float64)
    root = np.tile([0.0, 0.0, standing_height(robot, dof)], (T, 1))
    return motion(robot, root, np.tile(dof, (T, 1)), fps=fps)


def accelerating(robot: Robot, accel_x: float, seconds: float = 2.0, fps: float = 30.0) -> RobotMotion:
    """Default pose whose root moves along +X with constant acceleration ``accel_x`` (m/s²) from rest.

    Every body shares the acceleration, so the CoM does too: the ZMP sits at
    ``c_x - c_z accel_x / g`` relative to the CoM.
    """
    T = int(round(seconds * fps))
    t = np.arange(T) / fps
    root = np.tile([0.0, 0.0, standing_height(robot)], (T, 1))
    root[:, 0] = 0.5 * accel_x * t ** 2
    return motion(robot, root, np.tile(robot.default_pose, (T, 1)), fps=fps)


def hovering(robot: Robot, height: float, start_s: float, stop_s: float, seconds: float = 3.0,
             fps: float = 30.0) -> RobotMotion:
    """Standing, but lifted ``height`` m off the floor between ``start_s`` and ``stop_s`` (not ballistic)."""
    m = standing(robot, seconds, fps)
    root = m.root_pos.copy()
    a, b = int(round(start_s * fps)), int(round(stop_s * fps))
    root[a:b, 2] += height
    return motion(robot, root, m.dof_pos, fps=fps)


def jumping(robot: Robot, flight_s: float, seconds: float = 3.0, start_s: float = 1.0, fps: float = 30.0) -> RobotMotion:
    """Standing, then a ballistic jump of ``flight_s`` seconds (root height follows a parabola under g)."""
    m = standing(robot, seconds, fps)
    root = m.root_pos.copy()
    t = np.arange(len(root)) / fps - start_s
    inside = (t > 0) & (t < flight_s)
    v0 = 9.81 * flight_s / 2.0
    root[inside, 2] += v0 * t[inside] - 0.5 * 9.81 * t[inside] ** 2
    return motion(robot, root, m.dof_pos, fps=fps)


def lying(robot: Robot, seconds: float = 3.0, fps: float = 30.0) -> RobotMotion:
    """The default pose rotated onto its back (pitched -90° about Y); its lowest non-foot
    body point (as the filter sees it) on the floor."""
    from scipy.spatial.transform import Rotation

    from stages.filter.body import body_of
    from stages.filter.settings import Settings
    from stages.filter.state import ClipState

    T = int(round(seconds * fps))
    rot = np.tile(Rotation.from_euler("y", -90, degrees=True).as_quat(), (T, 1))
    dof = np.tile(robot.default_pose, (T, 1))
    probe = motion(robot, np.zeros((T, 3)), dof, rot, fps)
    lowest = float(ClipState(probe, body_of(robot), Settings()).nonfoot_lowest[0, :, 2].min())
    return motion(robot, np.tile([0.0, 0.0, -lowest], (T, 1)), dof, rot, fps)

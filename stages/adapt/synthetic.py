"""Constructed training data for the adapter's tests and benchmark, in the real layout.

``plausible(robot, ...)``: a smooth periodic whole-body motion that passes every filter
check: both feet planted, a squat of knees, hips and ankles (root height following so the
soles stay on the floor) with counter-swinging arms, at ``hz`` cycles per second.
``perturbed(robot, ...)``: the same motion with what retargeted human motion brings and a
robot cannot do: a fast lateral sway of the whole body (ZMP outside the feet; the feet slide
with it) and frame-to-frame jitter on the joints. World Z-up, metres, xyzw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.records.robot_motion import RobotMotion
from stages.filter.synthetic import motion as make_motion
from stages.filter.synthetic import standing_height

if TYPE_CHECKING:
    from core.robot import Robot

SQUAT = {"hip_pitch_joint": -0.35, "knee_joint": 0.7, "ankle_pitch_joint": -0.35}


def _dofs(robot: Robot, t: np.ndarray, hz: float, phase: float) -> np.ndarray:
    names = list(robot.dof_names)
    dof = np.tile(robot.default_pose, (len(t), 1))
    s = 0.5 * (1.0 - np.cos(2 * np.pi * hz * t + phase))                 # 0 .. 1 .. 0 per cycle
    for side in ("left", "right"):
        for joint, amp in SQUAT.items():
            dof[:, names.index(f"{side}_{joint}")] += amp * s
    swing = np.sin(2 * np.pi * hz * t + phase)
    dof[:, names.index("left_shoulder_pitch_joint")] += 0.4 * swing
    dof[:, names.index("right_shoulder_pitch_joint")] -= 0.4 * swing
    dof[:, names.index("left_elbow_joint")] += 0.3 * s
    dof[:, names.index("right_elbow_joint")] += 0.3 * s
    return dof


def plausible(robot: Robot, seconds: float = 8.0, fps: float = 30.0, hz: float = 0.8, phase: float = 0.0) -> RobotMotion:
    """The clean periodic motion (passes every filter check)."""
    t = np.arange(int(round(seconds * fps))) / fps
    dof = _dofs(robot, t, hz, phase)
    heights = np.array([standing_height(robot, q) for q in dof])
    root = np.stack([np.zeros_like(t), np.zeros_like(t), heights], axis=1)
    return make_motion(robot, root, dof, fps=fps)


def perturbed(robot: Robot, seconds: float = 8.0, fps: float = 30.0, hz: float = 0.8, phase: float = 0.0,
              sway_m: float = 0.04, sway_hz: float = 2.5, jitter_rad: float = 0.02, seed: int = 0) -> RobotMotion:
    """The same motion with a lateral sway of ``sway_m`` m at ``sway_hz`` Hz and Gaussian joint
    jitter of ``jitter_rad`` rad."""
    clean = plausible(robot, seconds, fps, hz, phase)
    t = np.arange(clean.num_frames) / fps
    rng = np.random.default_rng(seed)
    root = clean.root_pos.copy()
    root[:, 1] += sway_m * np.sin(2 * np.pi * sway_hz * t)
    dof = clean.dof_pos + rng.normal(0.0, jitter_rad, clean.dof_pos.shape)
    out = make_motion(robot, root, dof, fps=fps)
    out.contacts = clean.contacts.copy()
    return out

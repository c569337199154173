"""Shared set-up of the IK term tests (tests/test_retarget_ik_*.py)."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
from scipy.spatial.transform import Rotation

from stages.retarget.ik import DiffIK, FrameTargets, SolverSettings


def make_ik(robot, settings=SolverSettings(), limbs=None) -> DiffIK:
    frames = tuple(t.frame for t in robot.config.keypoint_tasks)
    feet = np.array([frames.index(f) for f in robot.config.foot_frames])
    corners = np.stack([robot.config.sole(f).corners() for f in robot.config.foot_frames])
    return DiffIK(robot, frames, feet, corners, settings, limbs=limbs)


def random_q(robot, rng, spread=0.4, height=0.9) -> np.ndarray:
    q = pin.neutral(robot.model)
    q[:3] = [0.3, -0.2, height]
    q[3:7] = Rotation.from_euler("zyx", rng.uniform(-0.3, 0.3, 3)).as_quat()
    q[7:] = np.clip(robot.default_pose + rng.uniform(-spread, spread, robot.num_dofs), robot.lower, robot.upper)
    return q


def targets_at(ik: DiffIK, q: np.ndarray, weight: float = 1.0, limb_w=None) -> FrameTargets:
    ik.placements(q)
    M = ik.M
    return FrameTargets(ik.Hm[:, :3, 3].copy(), ik.Hm[:, :3, :3].copy(), np.full(M, weight), np.full(M, weight),
                        limb_w)


def tangent_step(robot, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
    """q (+) dq on the manifold."""
    return pin.integrate(robot.model, q, dq)

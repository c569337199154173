"""Placements and world-aligned Jacobians of the task frames: what every term reads."""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from core.robot import Robot

LWA = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED


def log3(R: np.ndarray) -> np.ndarray:
    """Rotation vectors (N, 3) of rotation matrices (N, 3, 3) (pinocchio's log3, one call each:
    cheaper than a vectorised numpy version at the handful of rotations per frame)."""
    return np.array([pin.log3(r) for r in R]).reshape(-1, 3)


class TaskKinematics:
    """Pinocchio data of one robot and the task frames' state at the last evaluated ``q``.

    Attributes:
        J: (M, 6, nv) frame Jacobians, LOCAL_WORLD_ALIGNED (linear rows 0-2, angular 3-5), of the
            last :meth:`update`.
        Hm: (M, 4, 4) world placements (homogeneous) of the task frames of the last :meth:`update`
            or :meth:`placements`.
    """

    def __init__(self, robot: Robot, frames: tuple[str, ...]):
        self.robot = robot
        self.model = robot.model
        self.data = robot.model.createData()
        self.frames = tuple(frames)
        self.fids = robot.frame_ids(frames)
        self.nv = self.model.nv
        self.M = len(frames)
        self.J = np.zeros((self.M, 6, self.nv))
        self.Hm = np.zeros((self.M, 4, 4))
        # references into data.oMf (pinocchio updates them in place): reading them skips the vector lookup
        self._task_se3 = [self.data.oMf[fid] for fid in self.fids]

    def update(self, q: np.ndarray) -> None:
        """FK, every frame placement and the task frames' world-aligned Jacobians at ``q`` (nq,)."""
        model, data = self.model, self.data
        pin.computeJointJacobians(model, data, q)
        pin.updateFramePlacements(model, data)
        J = self.J
        for m, fid in enumerate(self.fids):
            J[m] = pin.getFrameJacobian(model, data, fid, LWA)
        self.Hm[:] = [x.homogeneous for x in self._task_se3]

    def placements(self, q: np.ndarray) -> None:
        """Task frame placements at ``q`` (no Jacobians; other frames are not updated)."""
        model, data = self.model, self.data
        pin.forwardKinematics(model, data, q)
        for fid in self.fids:
            pin.updateFramePlacement(model, data, fid)
        self.Hm[:] = [x.homogeneous for x in self._task_se3]

    def frame_jacobian(self, fid: int) -> np.ndarray:
        """(6, nv) world-aligned Jacobian of any frame at the last :meth:`update`."""
        return pin.getFrameJacobian(self.model, self.data, fid, LWA)

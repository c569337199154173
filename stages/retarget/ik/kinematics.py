"""Placements and world-aligned Jacobians of the task frames: what every term reads.

One ``computeJointJacobians`` per step gives the joints' Jacobians in the world frame
(``data.J``, (6, nv), the spatial velocity at the world origin: linear rows 0-2, angular 3-5). Every
Jacobian the terms need is taken from it with a few batched numpy products instead of one pinocchio
call per frame or point (the fixed cost of those calls, not their arithmetic, is what a frame spent):

* a frame at world position o with parent joint j: ``[I, -[o]x; 0, I] J`` on the columns of the joints
  supporting j (zero elsewhere), pinocchio's LOCAL_WORLD_ALIGNED frame Jacobian;
* the component ``n . v_p`` of the velocity of a world point p moving with joint j:
  ``[n, p x n] J`` on the same columns (``v_p = v_O + w x p``).

Units: metres, radians; world Z-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from core.robot import Robot

LWA = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED

_NEG_SKEW = np.zeros((3, 9))
"""o (3,) @ _NEG_SKEW = -[o]x (3, 3) row-major (-[o]x v = v x o)."""
for _row, _col, _axis, _sign in ((0, 1, 2, 1.0), (0, 2, 1, -1.0), (1, 0, 2, -1.0), (1, 2, 0, 1.0),
                                 (2, 0, 1, 1.0), (2, 1, 0, -1.0)):
    _NEG_SKEW[_axis, 3 * _row + _col] = _sign


def log3(R: np.ndarray) -> np.ndarray:
    """Rotation vectors (N, 3) of rotation matrices (N, 3, 3) (pinocchio's log3, one call each:
    cheaper than a vectorised numpy version at the handful of rotations per frame)."""
    return np.array([pin.log3(r) for r in R]).reshape(-1, 3)


def cross_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross products of (K, 3) arrays (cheaper than np.cross for small K)."""
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


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
        self.task_mask = self.support_mask(self.fids)
        self._task_mask6 = np.ascontiguousarray(np.repeat(self.task_mask[:, None, :], 6, axis=1))
        self._shift = np.zeros((self.M, 6, 6))                 # [I, -[o]x; 0, I] per task frame
        self._shift[:, :3, :3] = self._shift[:, 3:, 3:] = np.eye(3)
        self._shift_top = self._shift[:, :3, 3:]

    def support_mask(self, fids: Sequence[int]) -> np.ndarray:
        """(K, nv) 1.0 on the velocity columns of the joints that move each frame ``fids`` (K,), else 0."""
        model = self.model
        out = np.zeros((len(fids), self.nv))
        for k, fid in enumerate(fids):
            for j in model.supports[model.frames[fid].parentJoint]:
                if j > 0:
                    joint = model.joints[j]
                    out[k, joint.idx_v: joint.idx_v + joint.nv] = 1.0
        return out

    def update(self, q: np.ndarray) -> None:
        """FK, every frame placement and the task frames' world-aligned Jacobians at ``q`` (nq,)."""
        model, data = self.model, self.data
        pin.computeJointJacobians(model, data, q)
        pin.updateFramePlacements(model, data)
        Hm = self.Hm
        Hm[:] = [x.homogeneous for x in self._task_se3]
        self._shift_top[:] = (Hm[:, :3, 3] @ _NEG_SKEW).reshape(self.M, 3, 3)
        np.multiply(np.matmul(self._shift, data.J), self._task_mask6, out=self.J)

    def placements(self, q: np.ndarray) -> None:
        """Frame placements at ``q`` (no Jacobians): one ``framesForwardKinematics``, cheaper than a
        pinocchio call per task frame."""
        pin.framesForwardKinematics(self.model, self.data, q)
        self.Hm[:] = [x.homogeneous for x in self._task_se3]

    def point_rows(self, points: np.ndarray, masks: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
        """(K, nv) d/dq of the height (``normals`` None) or of ``normals . p`` (unit (K, 3)) of world
        points p (K, 3) moving with frames whose :meth:`support_mask` rows are ``masks`` (K, nv), at the
        last :meth:`update`."""
        Jw = self.data.J
        if normals is None:
            rows = Jw[2] + points[:, 1:2] * Jw[3] - points[:, 0:1] * Jw[4]
        else:
            rows = np.concatenate([normals, cross_rows(points, normals)], axis=1) @ Jw
        rows *= masks
        return rows

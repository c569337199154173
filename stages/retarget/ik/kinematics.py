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

_NEG_SKEW = np.zeros((3, 9))
"""o (3,) @ _NEG_SKEW = -[o]x (3, 3) row-major (-[o]x v = v x o)."""
for _row, _col, _axis, _sign in ((0, 1, 2, 1.0), (0, 2, 1, -1.0), (1, 0, 2, -1.0), (1, 2, 0, 1.0),
                                 (2, 0, 1, 1.0), (2, 1, 0, -1.0)):
    _NEG_SKEW[_axis, 3 * _row + _col] = _sign


_HEIGHT_MAP = np.zeros((3, 6))
"""p (3,) @ _HEIGHT_MAP + e_z = [e_z, p x e_z] = [0, 0, 1, p_y, -p_x, 0]."""
_HEIGHT_MAP[1, 3], _HEIGHT_MAP[0, 4] = 1.0, -1.0
_EZ6 = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0])

_CROSS_MAP = np.zeros((9, 3))
"""(a outer b) (9,) row-major @ _CROSS_MAP = a x b."""
for _i, _j, _k, _sign in ((0, 1, 2, 1.0), (0, 2, 1, -1.0), (1, 2, 0, 1.0), (1, 0, 2, -1.0), (2, 0, 1, 1.0),
                          (2, 1, 0, -1.0)):
    _CROSS_MAP[3 * _j + _k, _i] = _sign


def height_directions(points: np.ndarray) -> np.ndarray:
    """(K, 6) ``[e_z, p x e_z]`` of world points p (K, 3): times the world joint Jacobian, the rows of
    the points' heights (see :meth:`TaskKinematics.rows_of`)."""
    return points @ _HEIGHT_MAP + _EZ6


def normal_directions(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(K, 6) ``[n, p x n]`` of world points p (K, 3) and unit normals n (K, 3): times the world joint
    Jacobian, the rows of ``n . p``."""
    K = len(points)
    return np.concatenate([normals, (points[:, :, None] * normals[:, None, :]).reshape(K, 9) @ _CROSS_MAP], axis=1)


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
        Jw: (6, nv) the world joint Jacobian ``data.J`` of the last :meth:`update` (a C-ordered copy:
            numpy's products with it are about twice as fast as with pinocchio's column-major array).
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
        self._task_mask6 = np.repeat(self.task_mask, 6, axis=0)            # (6 M, nv)
        self._shift = np.zeros((self.M, 6, 6))                 # [I, -[o]x; 0, I] per task frame
        self._shift[:, :3, :3] = self._shift[:, 3:, 3:] = np.eye(3)
        self._shift_top = self._shift[:, :3, 3:]
        self._shift_rows = self._shift.reshape(6 * self.M, 6)
        self._J_rows = self.J.reshape(6 * self.M, self.nv)
        self.Jw = np.zeros((6, self.nv))

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
        Jw = self.Jw
        Jw[:] = data.J
        np.matmul(self._shift_rows, Jw, out=self._J_rows)
        self._J_rows *= self._task_mask6

    def placements(self, q: np.ndarray) -> None:
        """Frame placements at ``q`` (no Jacobians): one ``framesForwardKinematics``, cheaper than a
        pinocchio call per task frame."""
        pin.framesForwardKinematics(self.model, self.data, q)
        self.Hm[:] = [x.homogeneous for x in self._task_se3]

    def rows_of(self, directions: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(K, nv) rows ``(u' J_world) * mask`` at the last :meth:`update` for directions u (K, 6) (from
        :func:`height_directions`, :func:`normal_directions`) of points moving with frames whose
        :meth:`support_mask` rows (or their differences) are ``masks`` (K, nv)."""
        rows = directions @ self.Jw
        rows *= masks
        return rows

    def point_rows(self, points: np.ndarray, masks: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
        """(K, nv) d/dq of the height (``normals`` None) or of ``normals . p`` (unit (K, 3)) of world
        points p (K, 3) moving with frames whose :meth:`support_mask` rows are ``masks`` (K, nv), at the
        last :meth:`update`."""
        u = height_directions(points) if normals is None else normal_directions(points, normals)
        return self.rows_of(u, masks)

"""Frame tasks (pink's FrameTask): each task frame's position and orientation track its target.

Rows (world axes), for task frame m with weights w_p,m and w_r,m (cost / m, cost / rad):

    w_p,m J_p,m dq ~ w_p,m e_p,m,   e_p,m = p*_m - p_m                       (3 rows)
    w_r,m J_r,m dq ~ w_r,m e_r,m,   e_r,m = log3(R*_m R_m')  (rotation tasks)  (3 rows)

with J_p, J_r the linear and angular rows of the world-aligned frame Jacobian.
"""

from __future__ import annotations

import numpy as np

from stages.retarget.ik.kinematics import TaskKinematics, log3
from stages.retarget.ik.settings import FrameTargets


class FrameTasks:
    """Position tasks on all M task frames, orientation tasks on ``rot_idx`` (R,)."""

    def __init__(self, M: int, rot_idx: np.ndarray):
        self.M = M
        self.rot_idx = np.asarray(rot_idx, dtype=int)
        self.rows = 3 * M + 3 * len(self.rot_idx)

    def bind(self, A: np.ndarray, b: np.ndarray) -> None:
        """The task's row block of the stack: A (rows, nv), b (rows,) views."""
        nv = A.shape[1]
        self._A_pos = A[: 3 * self.M].reshape(self.M, 3, nv)
        self._A_rot = A[3 * self.M:].reshape(len(self.rot_idx), 3, nv)
        self._b = b

    def errors(self, kin: TaskKinematics, tg: FrameTargets) -> tuple[np.ndarray, np.ndarray]:
        """Position (M, 3) m and rotation (R, 3) rad errors, world frame, at the last placements."""
        ri = self.rot_idx
        R = kin.Hm[ri, :3, :3]
        return tg.pos - kin.Hm[:, :3, 3], log3(tg.rot[ri] @ np.swapaxes(R, 1, 2))

    def fill_jacobian(self, kin: TaskKinematics, tg: FrameTargets) -> None:
        """Weighted Jacobian rows at the last :meth:`TaskKinematics.update`."""
        ri = self.rot_idx
        np.multiply(kin.J[:, :3], tg.pos_w[:, None, None], out=self._A_pos)
        np.multiply(kin.J[ri, 3:], tg.rot_w[ri, None, None], out=self._A_rot)

    def fill_error(self, tg: FrameTargets, ep: np.ndarray, er: np.ndarray) -> None:
        """Weighted errors of :meth:`errors` into the task's rows of b."""
        M3 = 3 * self.M
        self._b[:M3] = (ep * tg.pos_w[:, None]).ravel()
        self._b[M3:] = (er * tg.rot_w[self.rot_idx, None]).ravel()

    def cost(self, tg: FrameTargets, ep: np.ndarray, er: np.ndarray) -> float:
        """sum |w_p e_p|^2 + |w_r e_r|^2 (cost units)."""
        return float(np.sum((tg.pos_w[:, None] * ep) ** 2) + np.sum((tg.rot_w[self.rot_idx, None] * er) ** 2))

"""Frame tasks (pink's FrameTask): each task frame's position and orientation track its target.

Rows (world axes), for task frame m with weights w_p,m and w_r,m (cost / m, cost / rad):

    w_p,m J_p,m dq ~ w_p,m e_p,m,   e_p,m = p*_m - p_m                       (3 rows)
    w_r,m J_r,m dq ~ w_r,m e_r,m,   e_r,m = log3(R*_m R_m')  (rotation tasks)  (3 rows)

with J_p, J_r the linear and angular rows of the world-aligned frame Jacobian.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from stages.retarget.ik.kinematics import TaskKinematics
from stages.retarget.ik.settings import FrameTargets


class FrameTasks:
    """Position tasks on all M task frames, orientation tasks on ``rot_idx`` (R,)."""

    def __init__(self, M: int, rot_idx: np.ndarray):
        self.M = M
        self.rot_idx = np.asarray(rot_idx, dtype=int)
        self.rows = 3 * M + 3 * len(self.rot_idx)
        # rows of the (M * 6, nv) stacked frame Jacobians that the block takes: positions, then rotations
        ri = self.rot_idx
        self._jacobian_rows = np.concatenate([(6 * np.arange(M)[:, None] + np.arange(3)).ravel(),
                                              (6 * ri[:, None] + 3 + np.arange(3)).ravel()])
        err = np.zeros(self.rows)                        # errors of :meth:`errors` (positions, then rotations)
        self._ep, self._er = err[: 3 * M].reshape(M, 3), err[3 * M:].reshape(len(ri), 3)

    def bind(self, A: np.ndarray, b: np.ndarray) -> None:
        """The task's row block of the stack: A (rows, nv), b (rows,) views."""
        self._A = A
        self._b_pos = b[: 3 * self.M].reshape(self.M, 3)
        self._b_rot = b[3 * self.M:].reshape(len(self.rot_idx), 3)

    def errors(self, kin: TaskKinematics, tg: FrameTargets) -> tuple[np.ndarray, np.ndarray]:
        """Position (M, 3) m and rotation (R, 3) rad errors, world frame, at the last placements (views of
        one buffer, valid until the next call)."""
        ri, ep, er = self.rot_idx, self._ep, self._er
        np.subtract(tg.pos, kin.Hm[:, :3, 3], out=ep)
        if len(ri):
            er[:] = [pin.log3(r) for r in np.matmul(tg.rot[ri], kin.Hm[ri, :3, :3].transpose(0, 2, 1))]
        return ep, er

    def fill_jacobian(self, kin: TaskKinematics, tg: FrameTargets) -> None:
        """Weighted Jacobian rows at the last :meth:`TaskKinematics.update`."""
        w = np.concatenate([tg.pos_w, tg.rot_w[self.rot_idx]]).repeat(3)
        np.multiply(kin.J.reshape(-1, kin.nv)[self._jacobian_rows], w[:, None], out=self._A)

    def fill_error(self, tg: FrameTargets, ep: np.ndarray, er: np.ndarray) -> None:
        """Weighted errors of :meth:`errors` into the task's rows of b."""
        np.multiply(ep, tg.pos_w[:, None], out=self._b_pos)
        np.multiply(er, tg.rot_w[self.rot_idx, None], out=self._b_rot)

    def cost(self, tg: FrameTargets, ep: np.ndarray, er: np.ndarray) -> float:
        """sum |w_p e_p|^2 + |w_r e_r|^2 (cost units)."""
        return float(np.sum((tg.pos_w[:, None] * ep) ** 2) + np.sum((tg.rot_w[self.rot_idx, None] * er) ** 2))

"""Limb-direction tasks (pink's RelativeFrameTask, position only, world axes).

For each limb l (parent task frame p(l) -> child task frame c(l): hip -> knee, knee -> ankle,
shoulder -> elbow, elbow -> wrist) with weight w_l (cost / m):

    w_l (J_p,c(l) - J_p,p(l)) dq ~ w_l (e_p,c(l) - e_p,p(l))           (3 rows)

i.e. the vector between the two frames tracks the vector between their targets. Without them a
parent that cannot reach its target (the human's spine bends further than the waist's pitch range,
so the torso and the shoulders hanging from it fall short) drags its limbs' absolute targets away
from the human's limb directions.
"""

from __future__ import annotations

import numpy as np

from stages.retarget.ik.kinematics import TaskKinematics
from stages.retarget.ik.settings import FrameTargets


class LimbTasks:
    """Limb tasks on (L, 2) (parent, child) index pairs into the task frames, base weight ``weight``
    times the frame's ``FrameTargets.limb_w``."""

    def __init__(self, limbs: np.ndarray | None, weight: float):
        self.weight = float(weight)
        self.limbs = np.zeros((0, 2), dtype=int) if limbs is None or self.weight <= 0.0 else \
            np.asarray(limbs, dtype=int).reshape(-1, 2)
        self._p, self._c = self.limbs[:, 0].copy(), self.limbs[:, 1].copy()
        self.L = len(self.limbs)
        self.rows = 3 * self.L
        self.current_w = np.full(self.L, self.weight)            # weights of the frame being solved
        # rows of the (M * 6, nv) stacked frame Jacobians: linear rows of each limb's child and parent
        self._limb_rows = np.concatenate([(6 * self._c[:, None] + np.arange(3)).ravel(),
                                          (6 * self._p[:, None] + np.arange(3)).ravel()])
        self._limb_frames = np.concatenate([self._c, self._p])

    def bind(self, A: np.ndarray, b: np.ndarray) -> None:
        """The task's row block of the stack: A (rows, nv), b (rows,) views."""
        self._A = A
        self._b = b.reshape(self.L, 3)

    def weights(self, tg: FrameTargets) -> np.ndarray:
        """(L,) weights this frame (``weight`` times ``tg.limb_w``)."""
        if tg.limb_w is None or not self.L:
            return np.full(self.L, self.weight)
        return self.weight * tg.limb_w

    def errors(self, ep: np.ndarray) -> np.ndarray:
        """(L, 3) limb vector errors (target child - parent minus current child - parent), m, world,
        from the frame tasks' position errors ep (M, 3)."""
        both = ep[self._limb_frames]
        return both[: self.L] - both[self.L:]

    def fill_jacobian(self, kin: TaskKinematics, tg: FrameTargets) -> None:
        """Weighted Jacobian rows at the last :meth:`TaskKinematics.update`; sets ``current_w``."""
        if self.L:
            self.current_w = self.weights(tg)
            both = kin.J.reshape(-1, kin.nv)[self._limb_rows]          # child rows, then parent rows
            np.subtract(both[: self.rows], both[self.rows:], out=self._A)
            self._A *= self.current_w.repeat(3)[:, None]

    def fill_error(self, ep: np.ndarray) -> None:
        """Weighted errors (with ``current_w``) into the task's rows of b."""
        if self.L:
            np.multiply(self.errors(ep), self.current_w[:, None], out=self._b)

    def cost(self, tg: FrameTargets, ep: np.ndarray) -> float:
        """sum |w_l e_l|^2 (cost units)."""
        return float(np.sum((self.weights(tg)[:, None] * self.errors(ep)) ** 2))

"""World placements of the collision capsules at the last IK kinematics, shared by the ground rows
and the self-collision barrier.

Capsule frames that are also task frames reuse the task placements; the others are read through
references into pinocchio's ``data.oMf``. End points of every capsule come from one batched product.
Rows of points on the capsules come from the world joint Jacobians
(:meth:`~stages.retarget.ik.kinematics.TaskKinematics.point_rows`) with each capsule's support mask.
"""

from __future__ import annotations

import numpy as np

from core.robot.collision import CollisionModel
from stages.retarget.ik.kinematics import TaskKinematics


class CapsuleKinematics:
    """Attributes (after :meth:`update`):
        H: (F, 4, 4) world placements of the collision frames ``collision.frames``.
        ends: (P, 4, 2) homogeneous world end points (columns a, b) of every capsule's core segment.
        prim_mask: (P, nv) support mask of each capsule's frame (constant).
    """

    def __init__(self, kin: TaskKinematics, collision: CollisionModel):
        col = collision
        self.kin = kin
        self.collision = col
        self.fids = kin.robot.frame_ids(col.frames)
        # placements [task frames..., the other capsule frames...]: each capsule frame's index into them
        fetch = [k for k, f in enumerate(col.frames) if f not in kin.frames]
        self._se3 = [kin.data.oMf[self.fids[k]] for k in fetch]
        source = np.array([kin.frames.index(f) if f in kin.frames else kin.M + fetch.index(k)
                           for k, f in enumerate(col.frames)], dtype=int)
        self._frame_source = source
        self._prim_source = source[col.prim_frame]
        P = len(col.primitives)
        self._ends_local = np.concatenate([np.stack([col.a_local, col.b_local], axis=2), np.ones((P, 1, 2))], axis=1)
        self.ends = np.zeros((P, 4, 2))
        self.prim_mask = kin.support_mask([self.fids[k] for k in col.prim_frame])
        self._all = np.zeros((kin.M + len(fetch), 4, 4))

    @property
    def H(self) -> np.ndarray:
        """(F, 4, 4) world placements of the collision frames ``collision.frames`` at the last :meth:`update`."""
        return self._all[self._frame_source]

    def update(self) -> np.ndarray:
        """Capsule placements and end points at the last :meth:`TaskKinematics.update`; returns ``ends``."""
        H = self._all
        M = self.kin.M
        H[:M] = self.kin.Hm
        H[M:] = [x.homogeneous for x in self._se3]
        self.ends = np.matmul(H[self._prim_source], self._ends_local)
        return self.ends

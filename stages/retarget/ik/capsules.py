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
        self.H = np.zeros((len(col.frames), 4, 4))
        shared = [(k, kin.frames.index(f)) for k, f in enumerate(col.frames) if f in kin.frames]
        self._from_task = np.array([k for k, _ in shared], dtype=int)
        self._task_of = np.array([m for _, m in shared], dtype=int)
        fetch = [k for k in range(len(col.frames)) if k not in set(self._from_task)]
        self._se3 = [kin.data.oMf[self.fids[k]] for k in fetch]
        self._fetch = np.array(fetch, dtype=int)
        P = len(col.primitives)
        self._ends_local = np.concatenate([np.stack([col.a_local, col.b_local], axis=2), np.ones((P, 1, 2))], axis=1)
        self.ends = np.zeros((P, 4, 2))
        self.prim_mask = kin.support_mask([self.fids[k] for k in col.prim_frame])

    def update(self) -> np.ndarray:
        """Capsule placements and end points at the last :meth:`TaskKinematics.update`; returns ``ends``."""
        Hc = self.H
        Hc[self._from_task] = self.kin.Hm[self._task_of]
        Hc[self._fetch] = [x.homogeneous for x in self._se3]
        self.ends = np.matmul(Hc[self.collision.prim_frame], self._ends_local)
        return self.ends

"""World placements of the collision capsules at the last IK kinematics, shared by the ground rows
and the self-collision barrier.

Capsule frames that are also task frames reuse the task placements; the others are read through
references into pinocchio's ``data.oMf``. End points of every capsule come from one batched product.
Jacobians of capsule frames are computed on demand, once per step.
"""

from __future__ import annotations

import numpy as np

from core.robot.collision import CollisionModel
from stages.retarget.ik.kinematics import TaskKinematics


class CapsuleKinematics:
    """Attributes (after :meth:`update`):
        H: (F, 4, 4) world placements of the collision frames ``collision.frames``.
        ends: (P, 4, 2) homogeneous world end points (columns a, b) of every capsule's core segment.
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
        self._jac: dict[int, np.ndarray] = {}

    def update(self) -> np.ndarray:
        """Capsule placements and end points at the last :meth:`TaskKinematics.update`; returns ``ends``."""
        Hc = self.H
        Hc[self._from_task] = self.kin.Hm[self._task_of]
        Hc[self._fetch] = [x.homogeneous for x in self._se3]
        self.ends = np.matmul(Hc[self.collision.prim_frame], self._ends_local)
        self._jac = {}
        return self.ends

    def jacobians(self, ks: np.ndarray) -> np.ndarray:
        """(len(ks), 6, nv) world-aligned Jacobians of collision frames ``ks`` (cached per update)."""
        cache = self._jac
        for k in ks:
            if k not in cache:
                cache[k] = self.kin.frame_jacobian(self.fids[k])
        return np.array([cache[k] for k in ks])


def point_rows(J: np.ndarray, r: np.ndarray, normal: np.ndarray | None = None) -> np.ndarray:
    """d/dq of the height (or of ``normal . p``) of points p = o + r attached to frames with
    world-aligned Jacobians J (K, 6, nv): v_p = v - r x w.

    Args:
        J: (K, 6, nv); r: (K, 3) offsets from the frame origins (world, m).
        normal: None for the z component, else (K, 3) unit normals.
    """
    if normal is None:
        return J[:, 2] + r[:, 1:2] * J[:, 3] - r[:, 0:1] * J[:, 4]
    U = np.concatenate([normal, -_cross(normal, r)], axis=1)
    return np.matmul(U[:, None, :], J)[:, 0]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross products of (K, 3) arrays (cheaper than np.cross for small K)."""
    out = np.empty_like(a)
    out[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    out[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    out[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out

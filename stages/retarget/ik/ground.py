"""Ground rows: the sole corners of both feet and the low capsules of every other body stay above
the floor (z = 0, world Z-up):

    z_c + J_z,c dq >= 0                       (each sole corner c)
    z_low,i + J_z,i dq >= 0                   (capsule i whose lowest surface point is below
                                               ``ground_activation``; the row is the end point's)

J_z,c is the z row of the point's Jacobian (v_p = v - r x w of its frame's world-aligned Jacobian).
Ground rows bound no joint steps: stance feet and kneeling legs touch the floor all the time.
"""

from __future__ import annotations

import numpy as np

from stages.retarget.ik.capsules import CapsuleKinematics, point_rows
from stages.retarget.ik.kinematics import TaskKinematics


class GroundRows:
    """Rows for the soles (corners (2, C, 3) in the foot frames, m) of the task frames ``foot_index``
    (2,) and for the capsules not on a foot frame."""

    def __init__(self, kin: TaskKinematics, capsules: CapsuleKinematics, foot_index: np.ndarray,
                 sole_corners: np.ndarray, activation: float):
        self.kin = kin
        self.capsules = capsules
        self.foot_index = np.asarray(foot_index, dtype=int)
        self.sole_corners = np.asarray(sole_corners, dtype=np.float64)
        self.activation = float(activation)
        col = capsules.collision
        feet = {kin.frames[i] for i in self.foot_index}
        self.prims = np.array([i for i, p in enumerate(col.primitives) if p.frame not in feet], dtype=int)
        self.radius = col.radius[self.prims]
        self.active = (np.zeros(0, dtype=int), np.zeros(0, dtype=int))   # (capsule, end) of the last capsule rows

    @property
    def max_rows(self) -> int:
        return self.sole_corners.shape[0] * self.sole_corners.shape[1] + 2 * len(self.prims)

    def sole_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows G (2 C, nv) and lower bounds l of  G dq >= l  (z + J_z dq >= 0) of the sole corners."""
        kin, fi = self.kin, self.foot_index
        Hf = kin.Hm[fi]
        r = np.einsum("sij,scj->sci", Hf[:, :3, :3], self.sole_corners)      # (2, C, 3) world offsets
        Jf = kin.J[fi]
        rows = Jf[:, None, 2] + r[..., 1:2] * Jf[:, None, 3] - r[..., 0:1] * Jf[:, None, 4]
        return rows.reshape(-1, kin.nv), -(Hf[:, None, 2, 3] + r[..., 2]).ravel()

    def capsule_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows of the capsules' end points lower than ``activation`` (None when there are none);
        needs :meth:`CapsuleKinematics.update` first."""
        if not len(self.prims):
            return None
        g = self.prims
        E = self.capsules.ends
        self.active = (np.zeros(0, dtype=int), np.zeros(0, dtype=int))
        low = E[g, 2] - self.radius[:, None]                                 # (G, 2) lowest surface z
        n, e = np.nonzero(low < self.activation)
        if not len(n):
            return None
        i = g[n]
        self.active = (i, e)
        k = self.capsules.collision.prim_frame[i]
        r = E[i, :3, e] - self.capsules.H[k, :3, 3]
        return point_rows(self.capsules.jacobians(k), r), -low[n, e]

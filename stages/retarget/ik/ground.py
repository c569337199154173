"""Ground rows: the sole corners of both feet and the low capsules of every other body stay above
the floor (z = 0, world Z-up):

    z_c + J_z,c dq >= 0                       (each sole corner c)
    z_low,i + J_z,i dq >= 0                   (capsule i whose lowest surface point is below
                                               ``ground_activation``; the row is the end point's)

J_z,c is the z row of the point's Jacobian (v_p = v - r x w of its frame's world-aligned Jacobian;
for the capsules, :meth:`TaskKinematics.point_rows`).
Ground rows bound no joint steps: stance feet and kneeling legs touch the floor all the time.
A swing foot's corner rows take the swing clearance's bounds and its pitch rows
(:mod:`stages.retarget.ik.swing_clearance`).
"""

from __future__ import annotations

import numpy as np

from stages.retarget.ik.capsules import CapsuleKinematics
from stages.retarget.ik.kinematics import TaskKinematics
from stages.retarget.ik.qp import INF
from stages.retarget.ik.settings import SolverSettings
from stages.retarget.ik.swing_clearance import SwingBarrier


class GroundRows:
    """Rows for the soles (corners (2, C, 3) in the foot frames, m) of the task frames ``foot_index``
    (2,) and for the capsules not on a foot frame."""

    def __init__(self, kin: TaskKinematics, capsules: CapsuleKinematics, foot_index: np.ndarray,
                 sole_corners: np.ndarray, settings: SolverSettings):
        self.kin = kin
        self.capsules = capsules
        self.foot_index = np.asarray(foot_index, dtype=int)
        self.sole_corners = np.asarray(sole_corners, dtype=np.float64)
        self.activation = float(settings.ground_activation)
        self.swing = SwingBarrier(self.sole_corners, settings)
        col = capsules.collision
        feet = {kin.frames[i] for i in self.foot_index}
        self.prims = np.array([i for i, p in enumerate(col.primitives) if p.frame not in feet], dtype=int)
        self.radius = col.radius[self.prims]
        self.active = (np.zeros(0, dtype=int), np.zeros(0, dtype=int))   # (capsule, end) of the last capsule rows
        # [1, r_y, -r_x] of each corner: its height row is this times the (z, wx, wy) rows of its foot's Jacobian
        self._corner_u = np.ones(self.sole_corners.shape[:2] + (3,))

    @property
    def max_rows(self) -> int:
        return self.sole_corners.shape[0] * self.sole_corners.shape[1] + 2 * len(self.prims) + 2 * (self.sole_corners.shape[1] + 2)

    def sole_rows(self, clearance: np.ndarray | None = None,
                  anchored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Rows G and lower bounds l of  G dq >= l : the sole corners on or above the floor
        (2 C rows, z + J_z dq >= 0; a swing foot's corners with its clearance folded into their bounds,
        :meth:`SwingBarrier.corner_lower`), then the other swing rows of the feet whose ``clearance``
        (2,) m is positive (``anchored`` (2,): the other foot is locked; see :meth:`SwingBarrier.rows`);
        third, the bounds without the swing clearance (the floor's; -INF on the extra rows), or None
        when there is none."""
        kin, fi = self.kin, self.foot_index
        Hf = kin.Hm[fi]
        r = np.einsum("sij,scj->sci", Hf[:, :3, :3], self.sole_corners)      # (2, C, 3) world offsets
        U = self._corner_u
        U[..., 1] = r[..., 1]
        np.negative(r[..., 0], out=U[..., 2])
        rows = np.matmul(U, kin.J[fi, 2:5])                                   # (2, C, nv) v_z - r x w
        z = Hf[:, None, 2, 3] + r[..., 2]
        G, floor = rows.reshape(-1, kin.nv), -z.ravel()
        if clearance is None or (clearance[0] <= 0.0 and clearance[1] <= 0.0):
            return G, floor, None
        corner = self.swing.corner_lower(z, clearance, anchored)
        lower = floor if corner is None else corner.ravel()
        extra = self.swing.pitch or (anchored is not None and bool(anchored.any()))
        swing = self.swing.rows(rows, z, clearance, anchored) if extra else None
        if swing is None:
            return G, lower, None if corner is None else floor
        return (np.concatenate([G, swing[0]]), np.concatenate([lower, swing[1]]),
                np.concatenate([floor, np.full(len(swing[1]), -INF)]))

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
        return self.kin.point_rows(E[i, :3, e], self.capsules.prim_mask[i]), -low[n, e]

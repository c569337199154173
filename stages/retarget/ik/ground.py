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
from stages.retarget.ik.kinematics import TaskKinematics, height_directions
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
        self._no_active = (np.zeros(0, dtype=int), np.zeros(0, dtype=int))
        self.active = self._no_active                # (capsule, end) of the last capsule rows
        # radius of every capsule, -inf on the feet's (their lowest point reads +inf: never a row)
        self._radius_all = np.full((len(col.primitives), 1), -np.inf)
        self._radius_all[self.prims, 0] = self.radius
        # corners (2, 4, C) homogeneous in their foot frames, and the support masks of their rows
        C = self.sole_corners.shape[1]
        self._corners_h = np.concatenate([np.swapaxes(self.sole_corners, 1, 2), np.ones((2, 1, C))], axis=1)
        self.sole_mask = np.repeat(kin.task_mask[self.foot_index], C, axis=0)

    @property
    def max_rows(self) -> int:
        return self.sole_corners.shape[0] * self.sole_corners.shape[1] + 2 * len(self.prims) + 2 * (self.sole_corners.shape[1] + 2)

    def sole_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Directions (2 C, 6) of the sole corners' height rows (:func:`height_directions`; their masks
        are ``sole_mask``) and the corner heights z (2, C) (m) at the last placements."""
        P = np.matmul(self.kin.Hm[self.foot_index], self._corners_h)          # (2, 4, C) world corners
        return height_directions(P[:, :3].transpose(0, 2, 1).reshape(-1, 3)), P[:, 2]

    def sole_bounds(self, z: np.ndarray, clearance: np.ndarray | None = None, anchored: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """Lower bounds (2 C,) of the corner rows (``-z`` the floor's, a swing foot's clearance folded in:
        :meth:`SwingBarrier.corner_lower`), the floor's bounds when they differ (else None) and whether the
        swing adds rows of its own (:meth:`with_swing_rows`)."""
        floor = -z.ravel()
        if clearance is None or (clearance[0] <= 0.0 and clearance[1] <= 0.0):
            return floor, None, False
        corner = self.swing.corner_lower(z, clearance, anchored)
        extra = self.swing.pitch or (anchored is not None and bool(anchored.any()))
        return (floor, None, extra) if corner is None else (corner.ravel(), floor, extra)

    def with_swing_rows(self, G: np.ndarray, lower: np.ndarray, hard: np.ndarray | None, z: np.ndarray,
                        clearance: np.ndarray, anchored: np.ndarray | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The corner rows G (2 C, nv) with bounds (lower, hard) followed by the swing's own rows
        (:meth:`SwingBarrier.rows`; -INF in the floor's bounds)."""
        swing = self.swing.rows(G.reshape(2, -1, G.shape[1]), z, clearance, anchored)
        if swing is None:
            return G, lower, hard
        floor = -z.ravel()
        return (np.concatenate([G, swing[0]]), np.concatenate([lower, swing[1]]),
                np.concatenate([floor, np.full(len(swing[1]), -INF)]))

    def sole_rows(self, clearance: np.ndarray | None = None,
                  anchored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Rows G and lower bounds l of  G dq >= l : the sole corners on or above the floor
        (2 C rows, z + J_z dq >= 0; a swing foot's corners with its clearance folded into their bounds,
        :meth:`SwingBarrier.corner_lower`), then the other swing rows of the feet whose ``clearance``
        (2,) m is positive (``anchored`` (2,): the other foot is locked; see :meth:`SwingBarrier.rows`);
        third, the bounds without the swing clearance (the floor's; -INF on the extra rows), or None
        when there is none."""
        U, z = self.sole_points()
        G = self.kin.rows_of(U, self.sole_mask)
        lower, hard, extra = self.sole_bounds(z, clearance, anchored)
        if extra:
            assert clearance is not None
            return self.with_swing_rows(G, lower, hard, z, clearance, anchored)
        return G, lower, hard

    def capsule_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Directions (K, 6), masks (K, nv) and lower bounds (K,) of the rows of the capsules' end points
        lower than ``activation`` (None when there are none); needs :meth:`CapsuleKinematics.update` first."""
        E = self.capsules.ends
        depth = self._radius_all - E[:, 2]                                   # (P, 2) minus the lowest surface z
        i, e = (depth > -self.activation).nonzero()
        if not len(i):
            self.active = self._no_active
            return None
        self.active = (i, e)
        return height_directions(E[i, :3, e]), self.capsules.prim_mask[i], depth[i, e]

    def capsule_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows of the capsules' end points lower than ``activation`` (None when there are none);
        needs :meth:`CapsuleKinematics.update` first."""
        found = self.capsule_points()
        if found is None:
            return None
        return self.kin.rows_of(found[0], found[1]), found[2]

"""Self-collision barrier on the robot's capsule pairs:

    d_i + n_i' (J_b - J_a) dq >= margin        for the closest pairs (surface distance d_i < activation)

n_i is the unit vector from the closest point on capsule a to the one on capsule b, J_a, J_b the
Jacobians of those points (each moves with its body: v_p = v - (p - o) x w). The rows are linear in
dq, so while a pair is closer than ``collision_step_distance`` the joints moving either capsule get
a step bound (``collision_step`` rad): a large step could carry a capsule through another.

Every quantity is computed for all capsules or candidate pairs at once with few numpy calls (their
fixed cost, not the arithmetic, is what a few dozen pairs per frame spend): the broad phase as one
matrix product over the pairs (bounding spheres); the closest points of the candidate pairs from
their Gram matrices (:func:`core.robot.collision.closest_segment_parameters`). The two closest points
lie on one line along n, so ``n' v_b - n' v_a = [n, c x n]' (J_b - J_a)`` for any point c of that line:
one row per pair from the world joint Jacobians, on the columns of the joints that move one capsule
and not the other (a constant mask per pair).
"""

from __future__ import annotations

import numpy as np

from core.robot.collision import closest_segment_parameters
from stages.retarget.ik.capsules import CapsuleKinematics
from stages.retarget.ik.kinematics import normal_directions
from stages.retarget.ik.qp import INF
from stages.retarget.ik.settings import SolverSettings


class SelfCollisionBarrier:
    """Barrier rows of the capsule pairs of ``capsules.collision``; after :meth:`rows`, ``near``
    tells whether a pair is in near contact and ``step_lo``, ``step_hi`` (D,) hold the step bounds."""

    def __init__(self, capsules: CapsuleKinematics, settings: SolverSettings):
        col = capsules.collision
        self.capsules = capsules
        self.activation = settings.collision_activation
        self.margin = settings.collision_margin
        self.max_rows = settings.max_collision_rows
        self.step = settings.collision_step
        self.step_distance = settings.collision_step_distance
        nv = capsules.kin.nv
        self.near = False
        self.active = np.zeros(0, dtype=int)       # pair indices (into collision.pairs) of the last rows
        self.step_lo = np.zeros(nv - 6)
        self.step_hi = np.zeros(nv - 6)
        K = len(col.pairs)
        self.pairs = col.pairs
        half_len = 0.5 * np.linalg.norm(col.b_local - col.a_local, axis=1)
        if K:
            i, j = col.pairs[:, 0], col.pairs[:, 1]
            reach = half_len[i] + half_len[j] + col.radius[i] + col.radius[j]
            self.pair_radius = col.radius[i] + col.radius[j]
        else:
            reach = self.pair_radius = np.zeros(0)
        # broad phase: (2 c_j - 2 c_i) = pair_diff @ (a + b); a pair is a candidate when its bounding spheres
        # are closer than the activation distance: |2 c_j - 2 c_i|^2 < (2 (reach + activation))^2
        P = len(col.primitives)
        self._pair_diff = np.zeros((K, P))
        self._pair_diff[np.arange(K), col.pairs[:, 1]] += 1.0
        self._pair_diff[np.arange(K), col.pairs[:, 0]] -= 1.0
        self._thresh2 = (2.0 * (reach + self.activation)) ** 2
        # [a_i, b_i, a_j, b_j] @ _seg_basis = [d_i = b_i - a_i, d_j = b_j - a_j, r = a_i - a_j]
        self._seg_basis = np.array([[-1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, -1.0], [0.0, 1.0, 0.0]])
        self._weights = np.full((K, 3, 1), -1.0)
        self._ones3 = np.ones(3)
        # joints moving b and not a (+1), a and not b (-1), both or neither (0): d/dq of the pair's distance
        mask = capsules.prim_mask
        self._pair_mask = mask[col.pairs[:, 1]] - mask[col.pairs[:, 0]] if K else np.zeros((0, nv))
        self._no_pairs = np.zeros(0, dtype=int)

    def rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows G and lower bounds l of  G dq >= l  for the closest pairs (None when no pair is within
        the activation distance); needs :meth:`CapsuleKinematics.update` first. Sets the step bounds."""
        found = self.points()
        if found is None:
            return None
        rows = self.capsules.kin.rows_of(found[0], found[1])
        self.step_bounds(rows, found[2])
        return rows, found[2]

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Directions (K, 6) (:func:`normal_directions` of a closest point), masks (K, nv) and lower bounds
        (K,) of the rows of :meth:`rows`, without the step bounds (:meth:`step_bounds` takes the rows)."""
        self.near = False
        self.active = self._no_pairs
        if not len(self.pairs):
            return None
        E = self.capsules.ends
        D = self._pair_diff @ (E[:, :3, 0] + E[:, :3, 1])
        cand = (np.square(D) @ self._ones3 < self._thresh2).nonzero()[0]        # (array methods: no wrappers)
        if not len(cand):
            return None
        K = len(cand)
        pairs = self.pairs[cand]
        X = E[pairs, :3].transpose(0, 2, 1, 3).reshape(K, 3, 4)           # columns a_i, b_i, a_j, b_j
        V = X @ self._seg_basis                                             # columns d_i, d_j, r
        G = np.matmul(V.transpose(0, 2, 1), V)
        s, t = closest_segment_parameters(G[:, 0, 0], G[:, 1, 1], G[:, 0, 1], G[:, 0, 2], G[:, 1, 2])
        w = self._weights[:K]
        w[:, 0, 0] = -s
        w[:, 1, 0] = t
        diff = np.matmul(V, w)[:, :, 0]                                    # closest b - closest a
        dist = np.sqrt(np.square(diff) @ self._ones3)
        signed = dist - self.pair_radius[cand]
        close = (signed < self.activation).nonzero()[0]
        if not len(close):
            return None
        if len(close) > self.max_rows:
            close = close[np.argsort(signed[close])[: self.max_rows]]
        # normal, closest point on a and bound of every candidate, then the close ones in one gather
        Y = np.concatenate([diff / np.maximum(dist, 1e-9)[:, None], X[:, :, 0] + V[:, :, 0] * s[:, None],
                            (self.margin - signed)[:, None]], axis=1)[close]
        self.active = cand[close]
        return normal_directions(Y[:, 3:6], Y[:, :3]), self._pair_mask[self.active], Y[:, 6]

    def step_bounds(self, rows: np.ndarray, lows: np.ndarray) -> None:
        """Step bounds of the joints that move a capsule of a pair closer than ``step_distance``, from the
        pairs' rows (K, nv) and lower bounds (K,) (sets ``near``)."""
        if self.step <= 0.0:
            return
        near = (lows > self.margin - self.step_distance).nonzero()[0]
        if len(near):
            moving = np.abs(rows[near, 6:]).max(axis=0) > 1e-9
            self.step_hi[:] = np.where(moving, self.step, INF)
            np.negative(self.step_hi, out=self.step_lo)
            self.near = True

    def narrow(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Applies the step bounds to the joint bounds lo, hi (D,) in place (when a pair is near)."""
        if self.near:
            np.maximum(lo, self.step_lo, out=lo)
            np.minimum(hi, self.step_hi, out=hi)
            np.maximum(hi, lo, out=hi)

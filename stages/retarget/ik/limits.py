"""Joint bounds of the QP step: configuration limit (pink's ConfigurationLimit) and velocity limit
(pink's VelocityLimit), in the joint displacement dq_j (rad):

    gain (q_min - q) <= dq_j <= gain (q_max - q)
    -v_max dt - (q - q_prev) <= dq_j <= v_max dt - (q - q_prev)

When the two disagree (a joint already moved beyond its velocity budget) the upper bound is raised
to the lower one, so the bounds stay feasible.
"""

from __future__ import annotations

import numpy as np


class ConfigurationLimit:
    """Position limits lower, upper (D,) rad with gain in (0, 1]."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray, gain: float):
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        self.gain = float(gain)

    def bounds(self, qj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New arrays (lo, hi) (D,) at joint positions qj."""
        k = self.gain
        return k * (self.lower - qj), k * (self.upper - qj)

    def bounds_into(self, qj: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """:meth:`bounds` written into lo, hi (D,)."""
        k = self.gain
        np.subtract(self.lower, qj, out=lo)
        lo *= k
        np.subtract(self.upper, qj, out=hi)
        hi *= k

    def clip(self, qj: np.ndarray) -> None:
        """Clips qj (D,) to the limits in place."""
        np.minimum(np.maximum(qj, self.lower, out=qj), self.upper, out=qj)


class VelocityLimit:
    """Joint speed limits v_max (D,) rad/s."""

    def __init__(self, vmax: np.ndarray):
        self.vmax = np.asarray(vmax, dtype=np.float64)

    def narrow(self, lo: np.ndarray, hi: np.ndarray, moved: np.ndarray, dt: float) -> None:
        """Narrows lo, hi in place; ``moved`` = q_j - q_prev,j (rad), dt the frame period (s)."""
        self.narrow_budget(lo, hi, moved, self.vmax * dt)

    def narrow_budget(self, lo: np.ndarray, hi: np.ndarray, moved: np.ndarray, vdt: np.ndarray) -> None:
        """:meth:`narrow` with the budget ``vdt`` = v_max dt (D,) rad given."""
        np.maximum(lo, -vdt - moved, out=lo)
        np.minimum(hi, vdt - moved, out=hi)
        np.maximum(hi, lo, out=hi)

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
        self._scaled = (self.gain * self.lower, self.gain * self.upper)

    def bounds(self, qj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New arrays (lo, hi) (D,) at joint positions qj."""
        k = self.gain
        return k * (self.lower - qj), k * (self.upper - qj)

    def bounds_into(self, qj: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """:meth:`bounds` written into lo, hi (D,) (as gain q_min - gain q, to round-off)."""
        kq = self.gain * qj
        np.subtract(self._scaled[0], kq, out=lo)
        np.subtract(self._scaled[1], kq, out=hi)

    def clip(self, qj: np.ndarray) -> None:
        """Clips qj (D,) to the limits in place."""
        np.minimum(np.maximum(qj, self.lower, out=qj), self.upper, out=qj)


class VelocityLimit:
    """Joint speed limits v_max (D,) rad/s."""

    def __init__(self, vmax: np.ndarray):
        self.vmax = np.asarray(vmax, dtype=np.float64)

    def narrow(self, lo: np.ndarray, hi: np.ndarray, moved: np.ndarray, dt: float) -> None:
        """Narrows lo, hi in place; ``moved`` = q_j - q_prev,j (rad), dt the frame period (s)."""
        vdt = self.vmax * dt
        np.maximum(lo, -vdt - moved, out=lo)
        np.minimum(hi, vdt - moved, out=hi)
        np.maximum(hi, lo, out=hi)

    def window(self, q_prev: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """(q_prev - v_max dt, q_prev + v_max dt) (D,) rad: the joint positions reachable this frame."""
        vdt = self.vmax * dt
        return q_prev - vdt, q_prev + vdt

    def narrow_window(self, lo: np.ndarray, hi: np.ndarray, qj: np.ndarray, window: tuple[np.ndarray, np.ndarray]) -> None:
        """:meth:`narrow` at joint positions qj (D,) with :meth:`window` of this frame (to round-off)."""
        np.maximum(lo, window[0] - qj, out=lo)
        np.minimum(hi, window[1] - qj, out=hi)
        np.maximum(hi, lo, out=hi)

"""Low-acceleration task (pink's LowAccelerationTask) on the joints.

    w_a^2 |q_j + dq_j - q_prev,j - s_j|^2,   s = last frame's joint displacement (rad)

i.e. this frame's joint displacement stays close to the previous frame's (damps chatter of weakly
constrained joints such as the wrists): H_jj += w_a^2, f_j += w_a^2 (q_j - q_prev,j - s_j).
"""

from __future__ import annotations

import numpy as np


class LowAccelerationTask:
    """Weight ``weight`` (cost / rad); ``last_step`` (D,) is the previous frame's joint displacement."""

    def __init__(self, dofs: int, weight: float):
        self.w2 = float(weight) ** 2
        self.last_step = np.zeros(dofs)

    def add_hessian(self, H: np.ndarray) -> None:
        """Adds w_a^2 I to the joint block of H (nv, nv) in place."""
        H[6:, 6:] += self.w2 * np.eye(H.shape[0] - 6)

    def add_gradient(self, fj: np.ndarray, moved: np.ndarray) -> None:
        """Adds w_a^2 (moved - last_step) to fj (D,); ``moved`` = q_j - q_prev,j (rad)."""
        if self.w2 > 0.0:
            fj += self.w2 * (moved - self.last_step)

    def gradient_terms(self, q_prev_joints: np.ndarray) -> tuple[float, np.ndarray]:
        """(c, o) of the gradient in linear form in the joint positions qj, c qj - o, for the previous
        frame's joints ``q_prev_joints`` (D,) (= :meth:`add_gradient` with moved = qj - q_prev_joints)."""
        return self.w2, self.w2 * (q_prev_joints + self.last_step)

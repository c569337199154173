"""Posture task (pink's PostureTask) and the reseed attraction, both quadratic in the joints.

    w_j^2 (q_j + dq_j - q_ref,j)^2     ->  H_jj += w_j^2,  f_j += w_j^2 (q_j - q_ref,j)

(radians; w_j from the robot's posture weights, cost / rad).
"""

from __future__ import annotations

import numpy as np


class PostureTask:
    """Joints drawn towards a reference posture q_ref (D,) rad with squared weights w2 (D,)."""

    def __init__(self, q_ref: np.ndarray, weights: np.ndarray):
        self.q_ref = np.asarray(q_ref, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        self.w2 = w * w

    def add_hessian(self, H: np.ndarray) -> None:
        """Adds diag(w2) to the joint block of H (nv, nv) in place."""
        H[6:, 6:] += np.diag(self.w2)

    def add_gradient(self, fj: np.ndarray, qj: np.ndarray) -> None:
        """Adds w2 (qj - q_ref) to the joint gradient fj (D,) in place."""
        fj += self.w2 * (qj - self.q_ref)

    def gradient_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """(c, o) (D,) of the gradient in linear form, c qj - o (= :meth:`add_gradient`'s term)."""
        return self.w2, self.w2 * self.q_ref

    def cost(self, qj: np.ndarray) -> float:
        """sum w2 (qj - q_ref)^2."""
        d = qj - self.q_ref
        return float(np.sum(self.w2 * d * d))


class Attraction:
    """A temporary posture task of one weight towards a target posture, for a number of frames
    (the reseed's draw towards a fresh solution; see :mod:`stages.retarget.ik.reseed`)."""

    def __init__(self, dofs: int):
        self.w2 = 0.0
        self.q = np.zeros(dofs)
        self.frames = 0

    @property
    def active(self) -> bool:
        return self.frames > 0

    def start(self, q_target_joints: np.ndarray, weight: float, frames: int) -> None:
        """Draw the joints towards ``q_target_joints`` (D,) rad with ``weight`` for ``frames`` frames."""
        self.q = np.asarray(q_target_joints, dtype=np.float64).copy()
        self.w2 = float(weight) ** 2
        self.frames = int(frames)

    def add_hessian(self, H: np.ndarray) -> None:
        """Adds w2 to the joint diagonal of H (nv, nv) in place."""
        nv = H.shape[0]
        H.flat[6 * (nv + 1):: nv + 1] += self.w2

    def add_gradient(self, fj: np.ndarray, qj: np.ndarray) -> None:
        """Adds w2 (qj - q) to fj (D,) in place."""
        fj += self.w2 * (qj - self.q)

    def gradient_terms(self) -> tuple[float, np.ndarray]:
        """(c, o) of the gradient in linear form, c qj - o (= :meth:`add_gradient`'s term)."""
        return self.w2, self.w2 * self.q

    def tick(self) -> None:
        """One frame done."""
        if self.frames > 0:
            self.frames -= 1

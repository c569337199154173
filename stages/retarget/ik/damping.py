"""Tikhonov and Levenberg-Marquardt damping: (damping + lm_damping |b|^2) |dq|^2, with b the
stacked weighted task errors (pink's ``damping`` and ``lm_damping``)."""

from __future__ import annotations

import numpy as np


class Damping:
    def __init__(self, damping: float, lm_damping: float):
        self.damping = float(damping)
        self.lm_damping = float(lm_damping)

    def hessian(self, nv: int) -> np.ndarray:
        """damping I (nv, nv): the start of the constant part of H."""
        return self.damping * np.eye(nv)

    def add_lm(self, H: np.ndarray, b: np.ndarray) -> None:
        """Adds lm_damping |b|^2 to the diagonal of H in place (nothing when it is 0)."""
        if self.lm_damping <= 0.0:
            return
        lm = self.lm_damping * float(b @ b)
        if lm > 0.0:
            H.flat[:: H.shape[0] + 1] += lm

"""Reseeding: recover from flipped-limb local minima (after falls or ground contact).

Every ``reseed_interval_s`` the tracked solution's IK objective is checked; when it is above
``reseed_min_cost`` and ``reseed_jump`` times the median of the earlier checks, the frame is also
solved afresh from the default posture (no velocity limit, no ground or collision rows) and, if that
is better by ``reseed_ratio``, the tracker is drawn to it over ``reseed_attract_s`` (the solver's
:class:`~stages.retarget.ik.posture.Attraction`, within the velocity limits, which re-imposes the
rows). After a try that finds nothing better the next 1, 2, 4, then 8 high-cost checks are skipped.
"""

from __future__ import annotations

import numpy as np

from stages.retarget.ik.multistart import default_start
from stages.retarget.ik.settings import FrameTargets
from stages.retarget.ik.solver import DiffIK


def fresh_solution(ik: DiffIK, tg: FrameTargets, root_index: int) -> np.ndarray:
    """The frame solved from the default posture with the root at its target (no velocity limit,
    no ground or collision rows; ``reseed_iterations`` steps)."""
    q = default_start(ik, tg, root_index)
    for _ in range(ik.settings.reseed_iterations):
        q = ik.integrate(q, ik.step(q, tg, None, 1.0, constraints=False))
    return q


class Reseeder:
    """The reseed check of one clip at ``fps`` (its state: history of costs, back-off)."""

    def __init__(self, ik: DiffIK, fps: float, root_index: int):
        st = ik.settings
        self.ik = ik
        self.root_index = root_index
        self.every = int(round(st.reseed_interval_s * fps)) if st.reseed_interval_s > 0 else 0
        self.attract_frames = max(1, int(round(st.reseed_attract_s * fps)))
        self.reseeds = self.tries = 0
        self._backoff = self._wait = 0
        self._history: list[float] = []

    def check(self, t: int, q: np.ndarray, tg: FrameTargets) -> None:
        """After frame ``t`` was solved to ``q`` with targets ``tg``: maybe start an attraction."""
        ik, st = self.ik, self.ik.settings
        if not self.every or t % self.every or ik.attraction.active:
            return
        tracked = ik.cost(q, tg)
        typical = float(np.median(self._history)) if self._history else tracked
        self._history.append(tracked)
        if tracked <= max(st.reseed_min_cost, st.reseed_jump * typical):
            self._backoff = self._wait = 0
        elif self._wait > 0:
            self._wait -= 1                                   # a recent try found nothing better
        else:
            fresh = fresh_solution(ik, tg, self.root_index)
            self.tries += 1
            if ik.cost(fresh, tg) < st.reseed_ratio * tracked:
                ik.attraction.start(fresh[7:], st.reseed_attract_weight, self.attract_frames)
                self.reseeds += 1
                self._backoff = self._wait = 0
            else:
                self._backoff = min(8, 2 * self._backoff or 1)
                self._wait = self._backoff

"""The stacked QP of one IK step and its one daqp call.

In the tangent displacement ``dq`` (nv = 6 free-flyer + D joints):

    minimise    1/2 dq' H dq + f' dq,   H = A'A + (regularisers),  f = -A'b + (regularisers)
    subject to  lower <= dq <= upper          (free base: unbounded; joints: the limits)
                G dq >= g_lower               (ground rows, self-collision barrier)

``A``, ``b`` stack the weighted least-squares rows of the tasks (:class:`TaskStack`; each task
fills its own block); the regularisers (posture, low acceleration, damping, reseed attraction)
add to H's diagonal and to f; the limits narrow the joint bounds; the ground and barrier modules
return rows of G. :class:`QPSolver` calls daqp once per solve; when the rows make the QP
infeasible it solves again with the bounds only and reports it (never a silent zero step).
A solve with the H and G of the previous one (the IK's chord step) reuses daqp's factorisation of
them (``daqp.Model.update`` with the new f and bounds): about a quarter of the instructions of a
fresh solve, the same minimiser to round-off.
"""

from __future__ import annotations

from enum import IntEnum

import daqp
import numpy as np

INF = 1e30
"""Bound daqp reads as infinite."""


class QPStatus(IntEnum):
    """Outcome of one QP solve (ordered: worse is larger)."""

    OK = 0
    SOFT_DROPPED = 1          # infeasible with the soft rows (swing clearance): solved with the hard rows only
    ROWS_DROPPED = 2          # infeasible with the ground/barrier rows: solved with the bounds only
    NO_STEP = 3               # infeasible even with the bounds only: zero step


class TaskStack:
    """Weighted least-squares rows ``A dq ~ b`` of all tasks, in one array.

    ``block(rows)`` hands out consecutive row blocks (views) in call order; each task fills its own.
    """

    def __init__(self, nv: int, rows: tuple[int, ...]):
        self.A = np.zeros((int(sum(rows)), nv))
        self.b = np.zeros(self.A.shape[0])
        self._edges = np.concatenate([[0], np.cumsum(rows)]).astype(int)

    def block(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Views (rows, nv) of A and (rows,) of b of the ``index``-th block."""
        lo, hi = self._edges[index], self._edges[index + 1]
        return self.A[lo:hi], self.b[lo:hi]

    def gradient(self) -> np.ndarray:
        """f = -A'b (nv,), a new array."""
        f = self.b @ self.A
        np.negative(f, out=f)
        return f

    def hessian(self) -> np.ndarray:
        """A'A (nv, nv), a new array."""
        return self.A.T @ self.A


class QPSolver:
    """daqp on the stacked QP, with bounds on the joints only (the first ``free`` entries of dq are the
    free-flyer's) and one-sided rows. Counts the solves whose rows were infeasible (``fallbacks``).
    The bounds live in buffers reused across solves; ``joint_lower`` and ``joint_upper`` ((nv - free,)
    views of their joint part) can be filled in place and passed to :meth:`solve`."""

    def __init__(self, nv: int, free: int = 6, max_rows: int = 0):
        self.nv = nv
        self.free = free
        self.fallbacks = 0
        self.joint_lower: np.ndarray = np.zeros(nv - free)
        self.joint_upper: np.ndarray = np.zeros(nv - free)
        self._grow(max_rows)
        self._model = daqp.Model()
        self._held: tuple[np.ndarray, np.ndarray] | None = None     # (H, G) set up in the model, solved

    def _grow(self, rows: int) -> None:
        """Bound buffers [free-flyer, joints, rows] for up to ``rows`` rows (the joint bounds kept)."""
        nv, free = self.nv, self.free
        lower, upper = np.full(nv + rows, -INF), np.full(nv + rows, INF)
        lower[free:nv], upper[free:nv] = self.joint_lower, self.joint_upper
        self._lower, self._upper = lower, upper
        self._sense = np.zeros(nv + rows, dtype=np.int32)
        self.joint_lower, self.joint_upper = lower[free:nv], upper[free:nv]

    def solve(self, H: np.ndarray, f: np.ndarray, G: np.ndarray, g_lower: np.ndarray, lower: np.ndarray,
              upper: np.ndarray, g_hard: np.ndarray | None = None, same: bool = False,
              keep: bool = False) -> tuple[np.ndarray, QPStatus]:
        """dq (nv,) minimising 1/2 dq'H dq + f'dq s.t. lower <= dq[free:] <= upper and G dq >= g_lower.

        Args:
            H: (nv, nv) positive definite; f: (nv,).
            G: (R, nv) rows, g_lower: (R,).
            lower, upper: (nv - free,) joint bounds (lower <= upper); they may be :attr:`joint_lower`
                and :attr:`joint_upper` themselves, filled in place (no copy).
            g_hard: (R,) the row bounds without the soft rows (-INF where a row is soft only),
                tried when ``g_lower`` is infeasible; None: no soft rows.
            same: H and G are the (unchanged) arrays of the previous solve: when that one was made with
                ``keep`` and succeeded with its rows, daqp's factorisation of them is reused.
            keep: keep this solve's factorisation for a next one with ``same`` (a setup that costs a
                third more than a one-off solve).
        """
        nv, R = self.nv, len(g_lower)
        if nv + R > len(self._lower):
            self._grow(R)
        if lower is not self.joint_lower:
            self.joint_lower[:] = lower
        if upper is not self.joint_upper:
            self.joint_upper[:] = upper
        blower, bupper, sense = self._lower[: nv + R], self._upper[: nv + R], self._sense[: nv + R]
        blower[nv:] = g_lower
        held = self._held
        if same and held is not None and held[0] is H and held[1] is G:
            x, flag = self._daqp_again(self._model, f, bupper, blower, sense)
            if flag < 1:
                self._held = None
        else:
            keep = keep and R > 0
            x, flag = self._daqp(H, f, G, bupper, blower, sense, self._model if keep else None)
            self._held = (H, G) if keep and flag >= 1 else None
        if flag >= 1:
            return x, QPStatus.OK
        if g_hard is not None:
            blower[nv:] = g_hard
            x, flag = self._daqp(H, f, G, bupper, blower, sense)
            if flag >= 1:
                return x, QPStatus.SOFT_DROPPED
        # infeasible rows (e.g. a deep penetration): solve with the bounds only
        self.fallbacks += 1
        x, flag = self._daqp(H, f, G[:0], bupper[:nv], blower[:nv], sense[:nv])
        if flag >= 1:
            return x, QPStatus.ROWS_DROPPED
        return np.zeros(nv), QPStatus.NO_STEP

    @staticmethod
    def _daqp(H: np.ndarray, f: np.ndarray, G: np.ndarray, upper: np.ndarray, lower: np.ndarray,
              sense: np.ndarray, model: daqp.Model | None = None) -> tuple[np.ndarray, int]:
        """The one daqp call: (x, exit flag; >= 1 solved); with ``model``, set up in it (for
        :meth:`_daqp_again`)."""
        if model is None:
            x, _, flag, _ = daqp.solve(H, f, G, upper, lower, sense)
        else:
            model.setup(H, f, G, upper, lower, sense)
            x, _, flag, _ = model.solve()
        return x, int(flag)

    @staticmethod
    def _daqp_again(model: daqp.Model, f: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                    sense: np.ndarray) -> tuple[np.ndarray, int]:
        """The QP set up in ``model`` solved again with new f and bounds (same H, G; a cold start)."""
        model.update(f=f, bupper=upper, blower=lower, sense=sense)
        x, _, flag, _ = model.solve()
        return x, int(flag)

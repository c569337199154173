"""Vectorised interpolation of frame rows at arbitrary times.

Linear columns are blended, quaternion columns (xyzw) slerped along the
shorter arc, ``nearest`` columns (contacts) taken from the closer frame.
Works on any leading shape, so a whole batch of windows is one call.
"""

from __future__ import annotations

import numpy as np

from stages.common.rotations import slerp

from stages.dataset.schema import Column


class Interpolator:
    """Interpolates named fields of rows laid out by ``columns`` at fractional frame positions."""

    def __init__(self, columns: tuple[Column, ...]):
        self.columns = {c.name: c for c in columns}

    def __call__(self, rows: np.ndarray, i0: np.ndarray, i1: np.ndarray, w: np.ndarray,
                 fields: tuple[str, ...] | list[str] | None = None) -> dict[str, np.ndarray]:
        """Fields at positions between rows ``i0`` and ``i1`` (any shape S) of ``rows`` (N, F).

        Returns ``{name: (*S, *field_shape)}``; only the requested ``fields``
        (default: all) are gathered and interpolated.
        """
        names = list(self.columns) if fields is None else list(fields)
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise KeyError(f"unknown field(s) {unknown}; fields are {sorted(self.columns)}")
        lead = i0.shape
        flat0 = i0.reshape(-1)
        flat1 = i1.reshape(-1)
        wf = np.asarray(w, dtype=rows.dtype).reshape(-1)
        cols = [self.columns[n] for n in names]
        lo = min((c.start for c in cols), default=0)
        hi = max((c.stop for c in cols), default=0)
        block = rows if (lo == 0 and hi == rows.shape[1]) else np.ascontiguousarray(rows[:, lo:hi])
        a_all = block.take(flat0, axis=0)        # one row gather for all requested fields
        b_all = block.take(flat1, axis=0)
        # linear blend of the whole block in three contiguous passes; quaternion and nearest
        # fields are then taken from the unblended rows
        lin = b_all - a_all
        lin *= wf[:, None]
        lin += a_all
        out = {}
        for c in cols:
            sl = slice(c.start - lo, c.stop - lo)
            if c.kind == "linear":
                val = lin[:, sl]
            elif c.kind == "quat":
                n = c.width // 4
                val = slerp(a_all[:, sl].reshape(-1, n, 4), b_all[:, sl].reshape(-1, n, 4),
                            np.repeat(wf, n).reshape(-1, n))
            else:
                val = np.where(wf[:, None] < 0.5, a_all[:, sl], b_all[:, sl])
            out[c.name] = val.reshape(*lead, *c.shape)
        return out


def frame_positions(times: np.ndarray, fps: np.ndarray | float, num_frames: np.ndarray | int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bracketing frames and blend weights for times (s) from a clip's first frame.

    Returns ``(i0, i1, w, valid)``: frame indices, weight of ``i1``, and whether
    the time lies inside the clip. Times past the end hold the last frame
    (``valid`` False there); times before 0 hold the first.
    """
    u = np.asarray(times, dtype=np.float64) * fps
    last = np.asarray(num_frames) - 1
    valid = (u >= -1e-9) & (u <= last + 1e-6)
    u = np.clip(u, 0.0, last)
    i0 = np.minimum(np.floor(u + 1e-9).astype(np.int64), last)
    i1 = np.minimum(i0 + 1, last)
    w = np.where(i1 > i0, u - i0, 0.0)
    return i0, i1, np.clip(w, 0.0, 1.0), valid

"""Vectorised interpolation of stored frame rows at fractional frame positions (the reader's hot path).

A batch of windows arrives as one block of stored rows (the rows spanning each
window, blocks concatenated, plus one finite pad row at the end) and, per
output frame, the index ``j`` of its earlier row and the weight ``w`` (0-1) of
row ``j + 1``. Wherever row ``j + 1`` is not the next frame of the same clip
(the last frame held past a clip's end, a block's last row), ``w`` is 0 and the
output is row ``j`` exactly. Per field (``Column.kind``):

* ``linear``: ``x[j] + w (x[j+1] - x[j])``;
* ``quat`` (x y z w): spherical linear interpolation along the shorter arc,
  in closed form. The half-angle ``theta`` between each pair of neighbouring
  stored quaternions (``cos theta = |q[j] . q[j+1]|``) is computed once per
  stored row pair; each output frame is then
  ``q[j] sin((1-w) theta) / sin theta + s q[j+1] sin(w theta) / sin theta``
  with ``s`` the sign of the dot product. This is slerp itself, not an
  approximation: the result matches :func:`core.rotations.slerp` to
  float32 precision at every angle (tests/test_dataset_interp.py). ``theta``
  is floored at 1e-20 rad so identical neighbours give the linear weights;
* ``nearest`` (contacts): row ``j`` when ``w < 0.5``, else row ``j + 1``.

Everything is float32 and laid out for numpy speed (profiled on 256 windows
of 100 frames, all fields; see docs/DATASET_FORMAT.md): each field's columns
are copied once out of the row block into a contiguous array, output frames
are gathered from it with ``np.take`` (indices are built in range, so
``mode="clip"`` skips numpy's checked path, 4x slower with ``out=``), and
arithmetic runs on whole contiguous arrays. Quaternions are split into
component planes (x, y, z, w: (R, n) arrays each) so that no operation
broadcasts over the length-4 axis, which numpy runs as a short inner loop
several times slower. Work buffers come from a :class:`Scratch` arena reused
between calls, so a batch does not page-fault fresh memory for its
temporaries (that alone was half the time of a batch); the outputs of a
batch are views of one new block (:meth:`Interpolator.empty`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from stages.dataset.schema import Column

#: floor of the half-angle between neighbouring quaternions (rad); keeps sin(theta) > 0
MIN_HALF_ANGLE = 1e-20
#: sign bit of a float32 seen as uint32
_SIGN_BIT = np.uint32(0x80000000)
_FLOAT32 = np.dtype(np.float32)
_INT64 = np.dtype(np.int64)


class Scratch:
    """Reusable work buffers for one thread, by name; they grow to the largest request.

    A request larger than ``max_bytes`` (with the buffers already kept) gets a
    fresh array that is not kept, so a one-off huge read (a whole clip)
    does not pin its memory.
    """

    def __init__(self, max_bytes: int = 128 << 20):
        self.max_bytes = max_bytes
        self._buffers: dict[str, np.ndarray] = {}

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return sum(b.nbytes for b in self._buffers.values())

    def get(self, key: str, shape: tuple[int, ...], dtype: np.dtype = _FLOAT32) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` (contents left from earlier use)."""
        nbytes = math.prod(shape) * dtype.itemsize
        buf = self._buffers.get(key)
        if buf is None or buf.nbytes < nbytes:
            self._buffers.pop(key, None)
            buf = np.empty(max(nbytes + nbytes // 4, 64), dtype=np.uint8)
            if self.nbytes + buf.nbytes <= self.max_bytes:
                self._buffers[key] = buf
        return buf[:nbytes].view(dtype).reshape(shape)


class Interpolator:
    """Interpolates the named fields of one column group's rows at fractional positions."""

    def __init__(self, columns: tuple[Column, ...]):
        self.columns = {c.name: c for c in columns}

    def empty(self, fields: Sequence[str], lead: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Uninitialised float32 outputs ``{name: (*lead, *field_shape)}``, C-contiguous views of ONE allocation.

        One block instead of one array per field: the allocator hands the
        same block back batch after batch once the caller drops the last one,
        where separate arrays of a few MB each are returned to the OS and
        page-faulted in again every batch (measured: ~2,700 faults, 8 ms per
        batch of 256 x 100 frames).
        """
        unknown = [n for n in fields if n not in self.columns]
        if unknown:
            raise KeyError(f"unknown field(s) {unknown}; fields are {sorted(self.columns)}")
        count = 1
        for s in lead:
            count *= int(s)
        block = np.empty(count * sum(self.columns[n].width for n in fields), dtype=np.float32)
        out, start = {}, 0
        for name in fields:
            col = self.columns[name]
            out[name] = block[start:start + count * col.width].reshape(*lead, *col.shape)
            start += count * col.width
        return out

    def __call__(self, rows: np.ndarray, j: np.ndarray, w: np.ndarray, fields: Sequence[str],
                 lead: tuple[int, ...], scratch: Scratch | None = None) -> dict[str, np.ndarray]:
        """Fields at positions ``j + w`` of ``rows`` as new arrays (see :meth:`fill`)."""
        out = self.empty(fields, lead)
        self.fill(rows, j, w, out, scratch)
        return out

    def fill(self, rows: np.ndarray, j: np.ndarray, w: np.ndarray, out: dict[str, np.ndarray],
             scratch: Scratch | None = None) -> None:
        """Write the fields named in ``out`` at positions ``j + w`` of ``rows`` into ``out``.

        Args:
            rows: (R, F) float32 stored rows of one column group; row R-1 is a
                finite pad row (only ever selected with weight 0).
            j: (N,) int64 earlier row of each output frame, in [0, R-2].
            w: (N,) float32 weight of row ``j + 1``, in [0, 1].
            out: ``{name: (..., *field_shape)}`` C-contiguous float32 arrays
                with N frames in their leading axes (e.g. (batch, frames)),
                fields of ``rows``' group.
            scratch: work buffers to reuse (none kept when None).
        """
        unknown = [n for n in out if n not in self.columns]
        if unknown:
            raise KeyError(f"unknown field(s) {unknown}; fields are {sorted(self.columns)}")
        rows = np.asarray(rows, dtype=np.float32)
        num_rows = rows.shape[0]
        n_out = int(j.shape[0])
        if n_out and (num_rows < 2 or int(j.min()) < 0 or int(j.max()) > num_rows - 2):
            raise IndexError(f"row indices outside [0, {num_rows - 2}]")
        sc = scratch if scratch is not None else Scratch(0)
        j1 = sc.get("j1", (n_out,), _INT64)
        np.add(j, 1, out=j1)
        wcol = np.asarray(w, dtype=np.float32).reshape(-1, 1)
        flats: dict[str, np.ndarray] = {}
        for name, res in out.items():
            col = self.columns[name]
            if res.dtype != np.float32 or not res.flags.c_contiguous or res.size != n_out * col.width:
                raise ValueError(f"output for {name} must be C-contiguous float32 with {n_out} frames")
            if col.width and n_out:
                flats[name] = res.reshape(n_out, col.width)
        for name, flat in flats.items():
            col = self.columns[name]
            if col.kind == "quat":
                self._slerp(rows, col, j, j1, wcol, flat, sc)
            elif col.kind == "linear":
                self._linear(self._source(rows, col.start, col.stop, sc), j, j1, wcol, flat, sc)
            else:
                near = sc.get("near", (n_out,), _INT64)
                np.add(j, wcol[:, 0] >= 0.5, out=near)
                np.take(self._source(rows, col.start, col.stop, sc), near, axis=0, out=flat, mode="clip")

    @staticmethod
    def _source(rows: np.ndarray, start: int, stop: int, sc: Scratch) -> np.ndarray:
        """Columns [start, stop) of every row as a contiguous (R, stop - start) array."""
        if start == 0 and stop == rows.shape[1] and rows.flags.c_contiguous:
            return rows
        src = sc.get("src", (rows.shape[0], stop - start))
        np.copyto(src, rows[:, start:stop])
        return src

    @staticmethod
    def _linear(src: np.ndarray, j: np.ndarray, j1: np.ndarray, wcol: np.ndarray, out: np.ndarray,
                sc: Scratch) -> None:
        np.take(src, j, axis=0, out=out, mode="clip")
        step = sc.get("step", out.shape)
        np.take(src, j1, axis=0, out=step, mode="clip")
        step -= out
        step *= wcol
        out += step

    @staticmethod
    def _slerp(rows: np.ndarray, col: Column, j: np.ndarray, j1: np.ndarray, wcol: np.ndarray, out: np.ndarray,
               sc: Scratch) -> None:
        """Slerp of the quaternion field ``col`` (n quaternions per row) into ``out`` (N, 4n).

        Works on component planes (x, y, z, w each an (R, n) array), so every
        operation is a flat loop: no broadcast over the length-4 axis.
        """
        num_rows = rows.shape[0]
        n = col.width // 4
        n_out = out.shape[0]
        planes = sc.get("q_planes", (4, num_rows, n))
        for c in range(4):
            np.copyto(planes[c], rows[:, col.start + c:col.stop:4])
        # per stored row pair (r, r+1): the half-angle theta, sin theta, and sin theta signed like the dot product
        dot = sc.get("q_dot", (num_rows - 1, n))
        theta = sc.get("q_theta", (num_rows - 1, n))
        np.multiply(planes[0, :-1], planes[0, 1:], out=dot)
        for c in range(1, 4):
            np.multiply(planes[c, :-1], planes[c, 1:], out=theta)
            dot += theta
        np.abs(dot, out=theta)
        np.minimum(theta, 1.0, out=theta)
        np.arccos(theta, out=theta)
        np.maximum(theta, MIN_HALF_ANGLE, out=theta)
        sines = sc.get("q_sines", (2, num_rows - 1, n))
        np.sin(theta, out=sines[0])
        bits = sines[1].view(np.uint32)
        np.bitwise_and(dot.view(np.uint32), _SIGN_BIT, out=bits)
        np.bitwise_or(bits, sines[0].view(np.uint32), out=bits)
        # per output frame: a = sin((1-w) theta) / sin theta, b = sign sin(w theta) / sin theta
        coef = sc.get("q_coef", (2, n_out, n))
        a, b = coef
        np.take(theta, j, axis=0, out=a, mode="clip")
        np.multiply(a, wcol, out=b)
        a -= b
        np.sin(coef, out=coef)
        div = sc.get("q_div", (2, n_out, n))
        np.take(sines, j, axis=1, out=div, mode="clip")
        coef /= div
        first = sc.get("q_first", (4, n_out, n))
        np.take(planes, j, axis=1, out=first, mode="clip")
        first *= a
        second = sc.get("q_second", (4, n_out, n))
        np.take(planes, j1, axis=1, out=second, mode="clip")
        second *= b
        result = out.reshape(n_out, n, 4)
        for c in range(4):
            np.add(first[c], second[c], out=result[:, :, c])


def frame_positions(times: np.ndarray, fps: np.ndarray | float, num_frames: np.ndarray | int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bracketing frames and blend weights for times (s) from a clip's first frame.

    Returns ``(i0, i1, w, valid)``: frame indices, weight of ``i1``, and whether
    the time lies inside the clip. Times past the end hold the last frame
    (``valid`` False there, ``w`` 0); times before 0 hold the first.
    """
    u = np.asarray(times, dtype=np.float64) * fps
    last = np.asarray(num_frames) - 1
    valid = (u >= -1e-9) & (u <= last + 1e-6)
    u = np.clip(u, 0.0, last)
    i0 = np.minimum(np.floor(u + 1e-9).astype(np.int64), last)
    i1 = np.minimum(i0 + 1, last)
    w = np.where(i1 > i0, u - i0, 0.0)
    return i0, i1, np.clip(w, 0.0, 1.0), valid

"""Minimal STL mesh reader (binary and ASCII) with numpy.

Only vertex positions are needed here (for fitting collision primitives and
foot soles), so the reader returns the triangle corner coordinates in the
mesh's own frame and units (metres for the Unitree descriptions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InputError

_HEADER = 80
_RECORD = np.dtype([("normal", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])


def read_stl(path: str | Path) -> np.ndarray:
    """Triangles of an STL file.

    Args:
        path: a binary or ASCII STL file.

    Returns:
        (N, 3, 3) float64 triangle corners (mesh frame, file units).

    Raises:
        InputError: missing, truncated or unparseable file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, "unreadable", f"cannot read STL mesh: {exc.strerror}") from None
    if len(raw) >= _HEADER + 4:
        count = int(np.frombuffer(raw, dtype="<u4", count=1, offset=_HEADER)[0])
        if len(raw) == _HEADER + 4 + count * _RECORD.itemsize:
            records = np.frombuffer(raw, dtype=_RECORD, count=count, offset=_HEADER + 4)
            tris = records["v"].astype(np.float64)
            return _checked(path, tris)
    if raw.lstrip().startswith(b"solid"):
        return _checked(path, _read_ascii(path, raw))
    raise InputError(path, "truncated", "not a valid STL file (binary size does not match its triangle count)")


def _read_ascii(path: Path, raw: bytes) -> np.ndarray:
    coords = []
    for line in raw.decode("ascii", errors="replace").splitlines():
        parts = line.split()
        if parts and parts[0] == "vertex":
            try:
                coords.append([float(x) for x in parts[1:4]])
            except ValueError:
                raise InputError(path, "bad_stl", f"bad vertex line {line.strip()!r}") from None
    if len(coords) % 3:
        raise InputError(path, "truncated", "ASCII STL vertex count is not a multiple of 3")
    return np.asarray(coords, dtype=np.float64).reshape(-1, 3, 3)


def _checked(path: Path, tris: np.ndarray) -> np.ndarray:
    if tris.shape[0] == 0:
        raise InputError(path, "empty", "STL file has no triangles")
    if not np.all(np.isfinite(tris)):
        raise InputError(path, "non_finite", "STL file has non-finite vertex coordinates")
    return tris


def unique_vertices(tris: np.ndarray, decimals: int = 7) -> np.ndarray:
    """(V, 3) distinct vertex positions of a triangle soup (rounded for matching)."""
    v = np.asarray(tris, dtype=np.float64).reshape(-1, 3)
    return np.unique(np.round(v, decimals), axis=0)

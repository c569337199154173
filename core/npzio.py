"""Safe, atomic ``.npz`` input and output.

Arrays only: files are always read with ``allow_pickle=False``. JSON-able
metadata travels in a 0-d unicode array named ``__meta__``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError

META_KEY = "__meta__"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None,
             compress: bool = False) -> None:
    """Save ``arrays`` (and optional JSON-able ``meta``) to ``path`` atomically."""
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for key, value in payload.items():
        if value.dtype == object:
            raise TypeError(f"array '{key}' has dtype object; store strings as unicode arrays")
    if meta is not None:
        payload[META_KEY] = np.asarray(json.dumps(meta, sort_keys=True))
    buffer = io.BytesIO()
    save = np.savez_compressed if compress else np.savez
    save(buffer, allow_pickle=False, **payload)     # object arrays were refused above
    atomic_write_bytes(path, buffer.getvalue())


def load_npz(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load an ``.npz`` written by anyone, never unpickling.

    Returns ``(arrays, meta)``. Raises :class:`InputError` (code ``unreadable``)
    naming the file when it is truncated, not a zip archive, or holds objects.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise InputError(path, "missing_file", "file not found") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise InputError(path, "unreadable", f"not a readable .npz archive ({exc.__class__.__name__}: {exc})") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError(path, "pickled_object",
                             "holds pickled Python objects, which are never loaded (unsafe)") from None
        raise InputError(path, "unreadable", f"not a readable .npz archive ({exc})") from None
    meta: dict[str, Any] = {}
    if META_KEY in arrays:
        try:
            meta = json.loads(str(arrays.pop(META_KEY)))
        except json.JSONDecodeError as exc:
            raise InputError(path, "unreadable", f"corrupted metadata ({exc})") from None
    return arrays, meta

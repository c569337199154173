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


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it where the OS allows)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)      # no /proc: read it by setting and restoring (not thread-safe, rare)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 minus the umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def temporary_file(path: Path) -> tuple[int, str]:
    """A temporary file next to ``path`` (for an atomic rename onto it) with the mode a new file gets.

    ``tempfile.mkstemp`` creates files 0600 whatever the umask; training often
    reads datasets as another user on a shared file system, so the mode is set
    to what the umask allows, as for any file the user creates.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, new_file_mode())
    except OSError:
        pass
    return fd, tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, fsync, rename (mode follows the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(path)
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


#: what a file's first bytes say it is (for messages about files that are not npz archives)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"HIERARCHY", "a BVH motion-capture file (text)"),
    (b"\x93NUMPY", "a single .npy array, not an .npz archive"),
    (b"\x80", "a Python pickle"),
    (b"\x89HDF", "an HDF5 file"),
    (b"{", "a JSON/text file"),
)


def describe_file(path: Path) -> str | None:
    """What a file that is not a zip archive looks like (None: it is a zip, or cannot be read)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return None
    if head.startswith(b"PK"):
        return None
    if not head:
        return "an empty file"
    for signature, what in _SIGNATURES:
        if head.lstrip().startswith(signature):
            return what
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file that is not a zip archive"
    return "a text file"


def load_npz(path: str | Path, what: str = "") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load an ``.npz`` written by anyone, never unpickling.

    Returns ``(arrays, meta)``. Raises :class:`InputError` naming the file:
    ``missing_file``; ``not_npz`` when it is not an npz archive at all (the
    message says what it looks like, e.g. a BVH file, and what was expected:
    ``what``, e.g. "a retargeted robot motion"); ``unreadable`` when it is
    truncated or corrupted; ``pickled_object`` when an archive member holds
    Python objects.
    """
    path = Path(path)
    expected = f"an .npz archive of {what}" if what else "an .npz archive"
    found = describe_file(path) if path.is_file() else None
    if found is not None:
        raise InputError(path, "not_npz", f"this is {found}, not {expected}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise InputError(path, "missing_file", "file not found") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise InputError(path, "unreadable", f"not a readable .npz archive, truncated or corrupted "
                                             f"({exc.__class__.__name__}: {exc})") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError(path, "pickled_object",
                             f"an archive member holds pickled Python objects, which are never loaded (unsafe); "
                             f"expected {expected} of plain arrays") from None
        raise InputError(path, "unreadable", f"not a readable .npz archive ({exc})") from None
    meta: dict[str, Any] = {}
    if META_KEY in arrays:
        try:
            meta = json.loads(str(arrays.pop(META_KEY)))
        except json.JSONDecodeError as exc:
            raise InputError(path, "unreadable", f"corrupted metadata ({exc})") from None
    return arrays, meta

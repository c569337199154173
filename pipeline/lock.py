"""One run at a time per output folder: ``OUT/.run.lock``.

``run_lock(out)`` takes an exclusive ``flock`` on the lock file and writes who
holds it (pid, host, start time, command). A second run on the same folder
waits up to ``wait_s`` seconds (0: not at all) and then refuses with
:class:`RunLocked`, naming the holder. The lock is released when the holder
exits, however it exits (the kernel drops ``flock`` locks with the process),
so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import PipelineError

LOCK_NAME = ".run.lock"


class RunLocked(PipelineError):
    """Another run holds the output folder's lock."""


def describe_holder(path: Path) -> str:
    """Who holds the lock at ``path``, in words (from what the holder wrote into it)."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        info = {}
    if not info:
        return "another run"
    return (f"run pid {info.get('pid')} on {info.get('host')} started {info.get('started')} "
            f"({info.get('command', '')})")


@contextmanager
def run_lock(out: Path, wait_s: float = 0.0, poll_s: float = 0.5) -> Iterator[Path]:
    """Hold the exclusive run lock of output folder ``out`` for the ``with`` block."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLocked(f"{out} is in use by {describe_holder(path)} (lock {path}); wait for it to "
                                    f"finish, or pass --wait SECONDS to wait for it") from None
                time.sleep(poll_s)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)          # releases the lock

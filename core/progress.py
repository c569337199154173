"""Progress reporting that suits where the output goes.

On a terminal: a tqdm bar. Anywhere else (a log file, a pipe, CI): no cursor
escapes, only a plain line now and then (``every_s`` seconds, and when the
work is done), so a log reads cleanly. ``enabled=False`` prints nothing at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")

#: seconds between two plain progress lines when the output is not a terminal
PLAIN_EVERY_S = 30.0


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A progress counter: a tqdm bar on a terminal, periodic plain lines otherwise, or nothing.

    Args:
        total: number of steps (None: unknown).
        desc: what is counted, e.g. ``"retarget"``.
        unit: the step's unit, e.g. ``"clip"``.
        enabled: False prints nothing.
        stream: where to write (default: stderr).
        every_s: seconds between plain lines (not a terminal).
        position: tqdm bar row (several bars at once).
    """

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", enabled: bool = True,
                 stream: IO[str] | None = None, every_s: float = PLAIN_EVERY_S, position: int | None = None):
        self.total, self.desc, self.unit = total, desc.strip(), unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.every_s = every_s
        self.count = 0
        self._bar: Any = None
        self._last = time.monotonic()
        self._closed = False
        if enabled and is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=f"{desc:>9}", unit=unit, position=position, leave=True,
                             dynamic_ncols=True, file=self.stream)

    def update(self, n: int = 1) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
            return
        if self.enabled and time.monotonic() - self._last >= self.every_s:
            self._line()

    def _line(self) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        print(f"{self.desc}: {self.count}{of} {self.unit}(s)", file=self.stream, flush=True)
        self._last = time.monotonic()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.count:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_iter(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
                  enabled: bool = True, stream: IO[str] | None = None) -> Iterator[T]:
    """Iterate ``items`` while reporting progress (see :class:`Progress`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit, enabled, stream) as bar:
        for item in items:
            yield item
            bar.update(1)

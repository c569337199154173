"""Motion-data pipeline for humanoid whole-body control.

Training code reads datasets with ``from pipeline import open_dataset``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["open_dataset"]


def open_dataset(path: Any, **kwargs: Any) -> Any:
    """Open a dataset folder written by the dataset stage (lazy; see stages/dataset/reader.py)."""
    from stages.dataset.reader import open_dataset as _open

    return _open(path, **kwargs)

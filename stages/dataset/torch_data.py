"""torch ``Dataset`` / ``IterableDataset`` wrappers over :class:`MotionDataset`.

Both read windows of ``num_frames`` frames at period ``dt`` (s) starting
inside window-table rows, and return dicts of float32 tensors (``valid`` is
bool; ``clip``/``window`` int64; ``t0`` float64 seconds).

* :class:`WindowDataset` (map-style): item ``i`` is the i-th window of the
  split; its start is drawn from ``(seed, epoch, i)`` so a worker-parallel run
  is reproducible. Supports batched fetching (``__getitems__``): with
  ``DataLoader(ds, batch_size=B, collate_fn=WindowDataset.collate)`` a batch
  is one vectorised read. Pair it with a curriculum through
  :class:`SamplerIndices` (the sampler stays in the main process, so
  ``update`` calls reach it).
* :class:`SampledWindows` (iterable): endless batches drawn by a sampler in
  each worker (its own seed per worker) — for samplers without feedback.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, get_worker_info

from stages.dataset.reader import MotionDataset, open_dataset


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic): a fast, well-mixed hash."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def item_uniform(seed: int, epoch: int, items: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) numbers that depend only on (seed, epoch, item): reproducible in any worker."""
    with np.errstate(over="ignore"):
        key = _splitmix64(_splitmix64(np.array([seed], dtype=np.uint64)) ^ np.uint64(epoch & 0xFFFFFFFFFFFFFFFF))
        z = _splitmix64(key ^ np.asarray(items, dtype=np.uint64))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _to_torch(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}


class WindowDataset(Dataset):
    """Windows of one split; item i -> dict of tensors (num_frames, ...)."""

    def __init__(self, path: str | Path | MotionDataset, num_frames: int = 101, dt: float = 0.02,
                 split: str | None = "train", variant: str = "raw", fields: Sequence[str] | None = None,
                 seed: int = 0, random_start: bool = True):
        self.data = path if isinstance(path, MotionDataset) else open_dataset(path)
        self.indices = (np.arange(self.data.num_windows) if split is None else self.data.split_windows(split))
        self.num_frames, self.dt = num_frames, dt
        self.data.check_variant(variant)   # fail at construction, not in a DataLoader worker
        self.variant, self.fields = variant, None if fields is None else tuple(fields)
        self.seed, self.random_start, self.epoch = seed, random_start, 0

    def set_epoch(self, epoch: int) -> None:
        """Change the start-time draws (call once per epoch, before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return int(len(self.indices))

    def _fetch(self, items: Sequence[int]) -> dict[str, np.ndarray]:
        index = np.asarray(items, dtype=np.int64)
        windows = self.indices[index]
        w = self.data.windows
        clips = w.clip[windows]
        fps = self.data.clip_fps[clips]
        t0 = w.start_frame[windows] / fps
        if self.random_start:
            span = (w.num_frames[windows] - 1) / fps
            t0 = t0 + item_uniform(self.seed, self.epoch, index) * span
        out = self.data.windows_batch(clips, t0, self.num_frames, self.dt, self.variant, self.fields)
        out.update(clip=clips, window=windows, t0=t0)
        return out

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in _to_torch(self._fetch([i])).items()}

    def __getitems__(self, items: Sequence[int]) -> dict[str, torch.Tensor]:
        return _to_torch(self._fetch(items))

    @staticmethod
    def collate(batch: Any) -> Any:
        """Collate for batched fetching: the batch is already a dict of (B, ...) tensors."""
        if isinstance(batch, dict):
            return batch
        return torch.utils.data.default_collate(batch)


class SamplerIndices(Sampler):
    """Feeds a DataLoader with indices drawn by one of our samplers (uniform / adaptive), forever.

    The sampler's items must be the dataset's items (window positions in the
    split); call ``sampler.update(items, completion)`` from the training loop.
    """

    def __init__(self, sampler: Any, batch: int = 256):
        self.sampler, self.batch = sampler, batch

    def __iter__(self) -> Iterator[int]:
        while True:
            yield from (int(i) for i in self.sampler.sample(self.batch))


class SampledWindows(IterableDataset):
    """Endless batches of windows drawn by ``make_sampler(num_windows, seed)`` in each worker."""

    def __init__(self, path: str | Path | MotionDataset, make_sampler: Any, batch: int = 256, num_frames: int = 101,
                 dt: float = 0.02, variant: str = "raw", fields: Sequence[str] | None = None, seed: int = 0,
                 num_batches: int | None = None):
        self.data = path if isinstance(path, MotionDataset) else open_dataset(path)
        self.data.check_variant(variant)
        self.make_sampler, self.batch, self.num_frames, self.dt = make_sampler, batch, num_frames, dt
        self.variant, self.fields, self.seed, self.num_batches = variant, fields, seed, num_batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        wid = 0 if info is None else info.id
        sampler = self.make_sampler(self.data.num_windows, self.seed * 1000 + wid)
        rng = np.random.default_rng((self.seed, wid))
        count = 0
        while self.num_batches is None or count < self.num_batches:
            windows = sampler.sample(self.batch)
            yield _to_torch(self.data.sample_windows(windows, self.num_frames, self.dt, rng, self.variant,
                                                     self.fields))
            count += 1

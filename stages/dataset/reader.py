"""Read a dataset written by :mod:`stages.dataset.writer`: lazily, from any process.

``open_dataset(path)`` reads only the manifest and ``index.npz`` (a few
numbers per clip and per window); the clip table with all metadata is loaded
on first access of ``.clips``; frame data is read from the shards when asked, one contiguous read
per window. Shards are opened on first use in each process (a handle opened
before ``fork`` is never reused after it), so one :class:`MotionDataset` can be
handed to DataLoader workers.

For contiguous, uncompressed frame arrays (the default layout) the reader asks
HDF5 once for the array's byte offset and then reads rows with ``os.pread``:
no HDF5 call and no page-cache pages mapped into the process per window.
Chunked/compressed shards are read through h5py with a bounded chunk cache.

Times are seconds from a clip entry's first frame; a window of ``K`` frames at
control period ``dt`` has frames at ``t0 + k*dt``, k = 0..K-1, interpolated
(linear; slerp for quaternions; nearest for contacts). Frames past the clip
end hold the last frame and are flagged ``valid = False``.

Variants (``variant=``: ``raw``, ``adapted``, ``simulated``): asking for a
variant the dataset does not have (not in ``manifest["variants"]``) raises
:class:`InputError` ``variant_missing``; nothing falls back silently. In a
dataset that has it, a clip entry without one (``has_<variant>`` false in its
record, see :meth:`MotionDataset.has_variant`) reads its raw rows: shards store
raw rows in the variant's array for such entries, and a shard none of whose
entries has the variant stores no array for it and serves the raw rows.

A batch is read and interpolated in steps of about ``WORK_BYTES`` of output
per column group, into work buffers that each thread keeps between batches
(:class:`stages.dataset.interp.Scratch`, bounded, never pickled): memory
depends on the batch size, not on the dataset.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.npzio import load_npz
from stages.dataset.frames import split_columns
from stages.dataset.interp import Interpolator, Scratch, frame_positions
from stages.dataset.schema import (
    CLIP_FIGURE_KEYS,
    CLIPS_NAME,
    GROUPS,
    INDEX_NAME,
    MANIFEST_NAME,
    SCHEMA,
    SPLITS,
    VARIANTS,
    Column,
    group_widths,
)

#: bytes of decompressed chunks h5py may cache per shard (chunked layouts only)
CHUNK_CACHE_BYTES = 32 << 20
#: bytes of output interpolated per step of a batch (per column group): the work buffers of a step then
#: stay in cache (benchmark machine, 256 windows x 100 frames: 1.5-4 MB steps are 13-30 % faster than
#: the whole batch at once, and faster than smaller steps)
WORK_BYTES = 3 << 20


@dataclass(frozen=True)
class WindowTable:
    """The window table: row i is window i.

    Attributes:
        clip: (W,) clip entry index.
        start_frame: (W,) first frame in the clip entry.
        num_frames: (W,) length in frames (<= window_s * fps).
        difficulty: (W,) prior difficulty, 1-10.
        split: (W,) index into ``SPLITS``.
    """

    clip: np.ndarray
    start_frame: np.ndarray
    num_frames: np.ndarray
    difficulty: np.ndarray
    split: np.ndarray

    def __len__(self) -> int:
        return int(self.clip.shape[0])


class _Shard:
    """One shard's readers in the current process."""

    def __init__(self, path: Path, info: dict[str, Any], widths: dict[str, int]):
        self.path = path
        self.widths = widths
        expected = int(info["bytes"])
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise InputError(path, "missing_shard", "shard listed in the manifest is missing") from None
        if size != expected:
            raise InputError(path, "truncated" if size < expected else "corrupt_shard",
                             f"shard is {size} bytes, the manifest says {expected} (truncated or overwritten); "
                             f"run `python -m pipeline verify` on the dataset")
        import h5py

        self.offsets: dict[tuple[str, str], int] = {}
        self.datasets: dict[tuple[str, str], Any] = {}
        self.variants: set[str] = set()
        self.num_rows = -1
        self.h5 = None
        try:
            h5 = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES, rdcc_nslots=10007)
        except OSError as exc:
            raise InputError(path, "corrupt_shard", f"not a readable HDF5 shard ({exc})") from None
        try:
            for variant in VARIANTS:
                if variant not in h5:
                    continue
                self.variants.add(variant)
                for group, width in widths.items():
                    key = f"{variant}/{group}"
                    ds = h5[key]
                    if ds.ndim != 2 or ds.shape[1] != width or ds.dtype != np.float32:
                        raise InputError(path, "corrupt_shard", f"{key} has shape {ds.shape} {ds.dtype}, "
                                                                f"expected (N, {width}) float32")
                    if self.num_rows not in (-1, ds.shape[0]):
                        raise InputError(path, "corrupt_shard", f"{key} has {ds.shape[0]} rows, other arrays "
                                                                f"{self.num_rows}")
                    self.num_rows = int(ds.shape[0])
                    offset = ds.id.get_offset() if ds.shape[0] else None
                    if ds.chunks is None and not ds.compression and offset is not None:
                        self.offsets[(variant, group)] = int(offset)
                    else:
                        self.datasets[(variant, group)] = ds
        except KeyError as exc:
            h5.close()
            raise InputError(path, "corrupt_shard", f"shard lacks {exc}") from None
        except InputError:
            h5.close()
            raise
        if "raw" not in self.variants:
            h5.close()
            raise InputError(path, "corrupt_shard", "shard has no raw frames")
        if self.datasets:
            self.h5 = h5
        else:
            h5.close()
        self.fd = os.open(path, os.O_RDONLY) if self.offsets else -1

    def read(self, variant: str, group: str, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows [start, stop) of one group. A shard none of whose entries has ``variant`` serves raw rows
        (the dataset checks that it has the variant at all before asking, see the module docstring)."""
        if variant not in self.variants:
            variant = "raw"
        if not 0 <= start <= stop <= self.num_rows:
            raise InputError(self.path, "corrupt_index", f"rows [{start}, {stop}) outside the shard's "
                                                         f"{self.num_rows} rows")
        n = stop - start
        width = self.widths[group]
        if out is None:
            out = np.empty((n, width), dtype=np.float32)
        key = (variant, group)
        if n == 0 or width == 0:
            return out
        if key in self.offsets:
            nbytes = n * width * 4
            got = os.preadv(self.fd, [out.data.cast("B")], self.offsets[key] + start * width * 4)
            if got != nbytes:
                raise InputError(self.path, "truncated", f"short read ({got} of {nbytes} bytes)")
        else:
            try:
                self.datasets[key].read_direct(out, np.s_[start:stop], np.s_[0:n])
            except OSError as exc:
                raise InputError(self.path, "corrupt_shard", f"cannot read rows [{start}, {stop}) ({exc})") from None
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.h5 is not None:
            self.h5.close()
            self.h5 = None


class MotionDataset:
    """A dataset folder opened for reading. Cheap to create and to pickle.

    Attributes:
        path: the folder.
        manifest: ``manifest.json`` as a dict.
        clips: the clip table (list of dicts, see docs/DATASET_FORMAT.md).
        windows: the :class:`WindowTable`.
        columns: the frame column layout.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest_path = self.path / MANIFEST_NAME
        if not manifest_path.exists():
            raise InputError(self.path, "not_a_dataset",
                             f"no {MANIFEST_NAME} (not a dataset, or its writing did not finish)")
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(manifest_path, "corrupt_manifest", f"not valid JSON ({exc})") from None
        if self.manifest.get("schema") != SCHEMA:
            raise InputError(manifest_path, "wrong_schema",
                             f"schema {self.manifest.get('schema')!r}; this reader reads {SCHEMA!r}")
        index_path = self.path / INDEX_NAME
        arrays, _ = load_npz(index_path)
        try:
            self.windows = WindowTable(**{k: arrays[f"window_{k}"] for k in ("clip", "start_frame", "num_frames",
                                                                              "difficulty", "split")})
            self.clip_shard = arrays["clip_shard"].astype(np.int64)
            self.clip_row = arrays["clip_row_start"].astype(np.int64)
            self.clip_frames = arrays["clip_num_frames"].astype(np.int64)
            self.clip_fps = arrays["clip_fps"].astype(np.float64)
            self.clip_split = arrays["clip_split"].astype(np.int8)
            self.clip_difficulty = arrays["clip_difficulty"].astype(np.float32)
        except KeyError as exc:
            raise InputError(index_path, "corrupt_table", f"index lacks array {exc}") from None
        self.columns: tuple[Column, ...] = tuple(Column.from_json(c) for c in self.manifest["columns"])
        self.widths = group_widths(self.columns)
        self._field_group = {c.name: c.group for c in self.columns}
        self._columns_by_name = {c.name: c for c in self.columns}
        self._interp = Interpolator(self.columns)
        self._clips: list[dict[str, Any]] | None = None
        self._shards: dict[int, _Shard] = {}
        self._pid = os.getpid()
        self._local = threading.local()

    @property
    def clips(self) -> list[dict[str, Any]]:
        """The clip table (``clips.json``: provenance, verdicts, metrics, features), loaded on first use."""
        if self._clips is None:
            clips_path = self.path / CLIPS_NAME
            try:
                clips = json.loads(clips_path.read_text())
            except FileNotFoundError:
                raise InputError(clips_path, "missing_file", "clip table missing") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(clips_path, "corrupt_table", f"not valid JSON ({exc})") from None
            if len(clips) != len(self.clip_shard):
                raise InputError(clips_path, "corrupt_table", f"{len(clips)} clips, the index has "
                                                              f"{len(self.clip_shard)}")
            self._clips = clips
        return self._clips

    # -- pickling / processes -------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_shards"] = {}
        state["_clips"] = None          # workers reload it only if they need it
        del state["_local"]             # work buffers are per process and thread
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()
        self._local = threading.local()

    def _scratch(self) -> Scratch:
        """This thread's reusable work buffers (read buffers and interpolation temporaries)."""
        sc = getattr(self._local, "scratch", None)
        if sc is None:
            sc = self._local.scratch = Scratch()
        return sc

    def _shard(self, index: int) -> _Shard:
        if self._pid != os.getpid():     # forked: never use the parent's handles
            self._shards = {}
            self._pid = os.getpid()
        shard = self._shards.get(index)
        if shard is None:
            info = self.manifest["shards"][index]
            shard = _Shard(self.path / info["file"], info, self.widths)
            self._shards[index] = shard
        return shard

    def close(self) -> None:
        if self._pid == os.getpid():
            for shard in self._shards.values():
                shard.close()
        self._shards = {}

    def __enter__(self) -> MotionDataset:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- metadata --------------------------------------------------------------
    @property
    def robot(self) -> str:
        return str(self.manifest["robot"])

    @property
    def dof_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["dof_names"])

    @property
    def link_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["link_names"])

    @property
    def variants(self) -> tuple[str, ...]:
        """The motion variants this dataset stores (``raw`` first; ``adapted``, ``simulated`` when present)."""
        return tuple(self.manifest.get("variants", ["raw"]))

    def check_variant(self, variant: str) -> None:
        """Raise unless the dataset stores ``variant`` (ValueError: no such variant; InputError ``variant_missing``)."""
        if variant in self.variants:
            return
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; variants are {', '.join(VARIANTS)}")
        raise InputError(self.path, "variant_missing",
                         f"this dataset has no {variant!r} motion (it stores: {', '.join(self.variants)}); run the "
                         f"pipeline with the {'adapt' if variant == 'adapted' else 'simulate'} stage, or read "
                         f"variant='raw'")

    def clip_figure(self, name: str) -> np.ndarray:
        """(num_clips,) float64 of one clip-table figure (``CLIP_FIGURE_KEYS``: ``adapted_fraction``,
        ``zmp_outside_pct_raw`` / ``_adapted``, ``falls_per_min_raw`` / ``_adapted``, ...; see
        docs/DATASET_FORMAT.md), NaN where the run did not measure it (or a dataset older than the
        figures)."""
        if name not in CLIP_FIGURE_KEYS:
            raise KeyError(f"unknown clip figure {name!r}; figures are {', '.join(CLIP_FIGURE_KEYS)}")
        return np.array([np.nan if c.get(name) is None else float(c[name]) for c in self.clips], dtype=np.float64)

    def has_variant(self, clip: int, variant: str) -> bool:
        """Whether clip entry ``clip`` has its own ``variant`` motion (else reading it gives the raw rows)."""
        if variant == "raw":
            return True
        return bool(self.clips[clip].get(f"has_{variant}", False))

    @property
    def num_clips(self) -> int:
        return int(len(self.clip_shard))

    @property
    def num_windows(self) -> int:
        return len(self.windows)

    def clip_duration(self, clip: int) -> float:
        """Duration (s) from the first to the last frame of a clip entry."""
        return float((self.clip_frames[clip] - 1) / self.clip_fps[clip])

    def split_windows(self, split: str) -> np.ndarray:
        """Indices of the windows in ``split`` ("train" | "val" | "test")."""
        return np.flatnonzero(self.windows.split == SPLITS.index(split))

    def split_clips(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.clip_split == SPLITS.index(split))

    def window_time(self, window: int) -> tuple[int, float, float]:
        """``(clip, start_s, duration_s)`` of window ``window``."""
        c = int(self.windows.clip[window])
        fps = self.clip_fps[c]
        return c, float(self.windows.start_frame[window] / fps), float((self.windows.num_frames[window] - 1) / fps)

    # -- frames ------------------------------------------------------------------
    def _field_names(self, fields: Sequence[str] | None) -> list[str]:
        """Requested field names in order (all, in column order, when None); raises KeyError on unknown ones."""
        if fields is None:
            return [c.name for c in self.columns]
        if isinstance(fields, str):
            fields = (fields,)
        unknown = [f for f in fields if f not in self._field_group]
        if unknown:
            raise KeyError(f"unknown field(s) {unknown}; fields are {sorted(self._field_group)}")
        return list(dict.fromkeys(fields))

    def _groups(self, fields: Sequence[str] | None) -> list[str]:
        if fields is None:
            return list(GROUPS)
        unknown = [f for f in fields if f not in self._field_group]
        if unknown:
            raise KeyError(f"unknown field(s) {unknown}; fields are {sorted(self._field_group)}")
        return [g for g in GROUPS if any(self._field_group[f] == g for f in fields)]

    def _rows(self, clip: int, group: str, start: int, stop: int, variant: str,
              out: np.ndarray | None = None) -> np.ndarray:
        row = int(self.clip_row[clip])
        return self._shard(int(self.clip_shard[clip])).read(variant, group, row + start, row + stop, out)

    def _read_spans(self, clips: np.ndarray, lo: np.ndarray, hi: np.ndarray, offsets: np.ndarray, group: str,
                    variant: str, buf: np.ndarray) -> None:
        """Rows [lo, hi) of each clip into consecutive blocks of ``buf`` (block b starts at offsets[b]).

        Contiguous shards: one ``os.preadv`` per span, offsets computed up front.
        """
        width = self.widths[group]
        shard_ids = self.clip_shard[clips]
        fds: dict[int, int] = {}          # shard -> open file descriptor
        bases: dict[int, int] = {}        # shard -> byte offset of the group's block
        for s in np.unique(shard_ids).tolist():
            shard = self._shard(s)
            key = (variant if variant in shard.variants else "raw", group)
            if key not in shard.offsets:
                fds = {}
                break
            fds[s], bases[s] = shard.fd, shard.offsets[key]
        if not fds or width == 0:
            for b in range(len(clips)):
                self._rows(int(clips[b]), group, int(lo[b]), int(hi[b]), variant, buf[offsets[b]:offsets[b + 1]])
            return
        for s in fds:
            last = int((self.clip_row[clips] + hi)[shard_ids == s].max())
            if last > self._shards[s].num_rows:
                raise InputError(self._shards[s].path, "corrupt_index", f"row {last} outside the shard")
        row_bytes = 4 * width
        ids = shard_ids.tolist()
        file_off = ((self.clip_row[clips] + lo) * row_bytes).tolist()
        buf_off = (offsets * row_bytes).tolist()
        mv = buf.reshape(-1).data.cast("B")
        preadv = os.preadv
        for s, pos, start, stop in zip(ids, file_off, buf_off, buf_off[1:]):
            got = preadv(fds[s], [mv[start:stop]], bases[s] + pos)
            if got != stop - start:
                raise InputError(self._shards[s].path, "truncated",
                                 f"short read ({got} of {stop - start} bytes)")

    def clip(self, clip: int, start: int = 0, stop: int | None = None, variant: str = "raw",
             fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Stored frames [start, stop) of clip entry ``clip`` as named float32 arrays."""
        self.check_variant(variant)
        n = int(self.clip_frames[clip])
        stop = n if stop is None else stop
        if not 0 <= start < stop <= n:
            raise IndexError(f"frames [{start}, {stop}) outside clip {clip} of {n} frames")
        rows = {g: self._rows(clip, g, start, stop, variant) for g in self._groups(fields)}
        named = split_columns(rows, self.columns)
        names = list(named) if fields is None else list(fields)
        return {k: np.ascontiguousarray(named[k]) for k in names}

    def window(self, clip: int, t0: float, num_frames: int, dt: float, variant: str = "raw",
               fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Frames at ``t0 + k*dt`` (s), k = 0..num_frames-1, of one clip entry.

        Returns named arrays (num_frames, ...) plus ``valid`` (num_frames,) bool.
        """
        out = self.windows_batch(np.array([clip]), np.array([t0]), num_frames, dt, variant, fields)
        return {k: v[0] for k, v in out.items()}

    def windows_batch(self, clips: Sequence[int] | np.ndarray, t0: Sequence[float] | np.ndarray, num_frames: int,
                      dt: float, variant: str = "raw", fields: Sequence[str] | None = None,
                      out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """A batch of windows: named arrays (B, num_frames, ...) plus ``valid`` (B, num_frames).

        One contiguous read per window and group (the stored frames spanning
        it) into a reused buffer, then vectorised interpolation of each field
        for many windows at once (:class:`stages.dataset.interp.Interpolator`).
        Returned field arrays are float32, C-contiguous and new: views of one
        allocation per batch (see ``Interpolator.empty``), or the arrays given
        in ``out`` (``{name: (B, num_frames, *shape)}`` C-contiguous float32,
        e.g. in shared memory; one per requested field).
        """
        self.check_variant(variant)
        clips = np.asarray(clips, dtype=np.int64).reshape(-1)
        t0 = np.asarray(t0, dtype=np.float64).reshape(-1)
        if clips.shape != t0.shape:
            raise ValueError("clips and t0 must have the same length")
        if np.any((clips < 0) | (clips >= self.num_clips)):
            raise IndexError(f"clip index outside [0, {self.num_clips})")
        num_frames = int(num_frames)
        if num_frames < 0:
            raise ValueError("num_frames must be >= 0")
        names = self._field_names(fields)
        times = t0[:, None] + dt * np.arange(num_frames)[None, :]
        i0, i1, w, valid = frame_positions(times, self.clip_fps[clips][:, None], self.clip_frames[clips][:, None])
        lead = (len(clips), num_frames)
        if out is None:
            out = self._interp.empty(names, lead)
        else:
            if set(out) != set(names):
                raise ValueError(f"out must hold exactly the requested fields {names}")
            for name in names:
                shape = (*lead, *self._columns_by_name[name].shape)
                arr = out[name]
                if arr.shape != shape or arr.dtype != np.float32 or not arr.flags.c_contiguous \
                        or not arr.flags.writeable:
                    raise ValueError(f"out[{name!r}] must be a writeable C-contiguous float32 array of shape {shape}")
            out = {n: out[n] for n in names}
        if num_frames and len(clips):
            wf = w.astype(np.float32)
            sc = self._scratch()
            for group in GROUPS:
                wanted = [n for n in names if self._field_group[n] == group]
                if not wanted:
                    continue
                # windows in steps whose work buffers stay in cache (~WORK_BYTES of output per step)
                frame_bytes = 4 * sum(self._columns_by_name[n].width for n in wanted)
                step = max(1, WORK_BYTES // max(1, frame_bytes * num_frames))
                for b0 in range(0, len(clips), step):
                    b1 = min(b0 + step, len(clips))
                    lo = i0[b0:b1].min(axis=1)
                    hi = i1[b0:b1].max(axis=1) + 1
                    offsets = np.zeros(b1 - b0 + 1, dtype=np.int64)
                    np.cumsum(hi - lo, out=offsets[1:])
                    buf = sc.get(f"rows_{group}", (int(offsets[-1]) + 1, self.widths[group]))
                    buf[-1] = 0.0                             # a pad row: row j + 1 always exists
                    self._read_spans(clips[b0:b1], lo, hi, offsets, group, variant, buf)
                    j = (i0[b0:b1] + (offsets[:-1] - lo)[:, None]).reshape(-1)
                    self._interp.fill(buf, j, wf[b0:b1].reshape(-1), {n: out[n][b0:b1] for n in wanted}, sc)
        out["valid"] = valid
        return out

    def sample_windows(self, windows: Sequence[int] | np.ndarray, num_frames: int, dt: float,
                       rng: np.random.Generator | None = None, variant: str = "raw",
                       fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Windows starting inside the given window-table rows.

        The start time is uniform over the window's span (``rng`` given) or the
        window's first frame (``rng`` None). Adds ``clip``, ``window`` and ``t0``.
        """
        windows = np.asarray(windows, dtype=np.int64).reshape(-1)
        clips = self.windows.clip[windows]
        fps = self.clip_fps[clips]
        start = self.windows.start_frame[windows] / fps
        if rng is not None:
            span = (self.windows.num_frames[windows] - 1) / fps
            start = start + rng.random(len(windows)) * span
        out = self.windows_batch(clips, start, num_frames, dt, variant, fields)
        out["clip"] = clips
        out["window"] = windows
        out["t0"] = start
        return out

    def iter_clips(self, indices: Iterable[int] | None = None,
                   variant: str = "raw") -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        """Yield ``(record, frames)`` for clip entries (all by default), one at a time."""
        self.check_variant(variant)
        for i in (range(self.num_clips) if indices is None else indices):
            yield self.clips[i], self.clip(i, variant=variant)


def open_dataset(path: str | Path) -> MotionDataset:
    """Open a dataset folder for reading (lazy: shards are opened when first read)."""
    return MotionDataset(path)

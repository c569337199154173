"""Write a sharded HDF5 dataset from retargeted clips (format: docs/DATASET_FORMAT.md).

:func:`write_dataset` runs named steps, each a function of its own:

1. :func:`clear_manifest` removes an existing ``manifest.json``, so a folder
   whose writing was interrupted never looks like a valid dataset;
2. per clip: :func:`load_clip` (motions read and checked against the
   dataset's names), :func:`kept_segments`, then per kept segment
   :func:`segment_entry` (frame rows of every variant, difficulty of the entry
   and of its windows, the clip-table record) queued on the shard writer;
3. :func:`write_tables` (``clips.json``, ``index.npz``);
4. :func:`build_manifest` and :func:`write_manifest` (stale shards removed,
   the manifest written last).

Every file is written to a temporary name (mode from the umask), fsynced and
renamed. Variants: ``raw`` (retargeted), ``adapted`` (the adapt stage's
motion) and ``simulated`` (the simulate stage's tracked motion), each stored
when a clip has one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from core.errors import InputError
from core.hashing import sha256_file, sha256_json
from core.npzio import atomic_write_bytes, fsync_dir, save_npz, temporary_file
from core.progress import progress_iter
from core.records.robot_motion import RobotMotion
from core.subjects import subject_of
from stages.dataset import difficulty as diff
from stages.dataset.frames import motion_frames, split_columns
from stages.dataset.schema import (
    CLIP_FIGURE_KEYS,
    CLIPS_NAME,
    GROUPS,
    INDEX_NAME,
    MANIFEST_NAME,
    SCHEMA,
    SCHEMA_VERSION,
    SHARD_DIR,
    SPLITS,
    VARIANTS,
    Column,
    column_layout,
    group_widths,
    shard_name,
)
from stages.dataset.settings import Settings

MotionRef = RobotMotion | Path | str
#: variants beside raw, each read from the ClipInput attribute of the same name
EXTRA_VARIANTS = tuple(v for v in VARIANTS if v != "raw")


@dataclass
class ClipInput:
    """One source clip as the writer receives it.

    Attributes:
        clip_id: unique id of the source clip in the run.
        motion: the retargeted motion, or the path of its ``.npz``.
        verdict: the filter's ``Verdict.to_json()``; only ``pass`` and
            ``trimmed`` clips are stored (trimmed: each kept segment becomes a
            clip entry keeping its source frame range).
        source_path, source_sha256, dataset, license: provenance of the input file.
        subject: performer id; default: ``core.subjects.subject_of(source_path)``.
        adapted: the adapt stage's motion (or its path), same frame count, or None.
        simulated: the simulate stage's motion (or its ``.npz``, which
            ``RobotMotion.load`` reads; extra ``sim_*`` arrays are ignored), same
            frame count, or None.
        zmp_margin_m: the filter's worst ZMP margin (m, negative = outside), if measured.
        upstream_hashes: stage -> artifact hash that produced this clip.
        figures: the source clip's adapt / simulate figures, clip-table key -> value
            (:data:`stages.dataset.schema.CLIP_FIGURE_KEYS` less ``adapted_fraction``, which
            the writer measures per entry); missing keys are stored as None.
    """

    clip_id: str
    motion: MotionRef
    verdict: dict[str, Any]
    source_path: str = ""
    source_sha256: str = ""
    dataset: str = ""
    license: str = ""
    subject: str | None = None
    adapted: MotionRef | None = None
    zmp_margin_m: float | None = None
    upstream_hashes: dict[str, str] = field(default_factory=dict)
    simulated: MotionRef | None = None
    figures: dict[str, float | None] = field(default_factory=dict)


@dataclass
class LoadedClip:
    """A clip's motions, read and checked: ``extras`` maps variant -> motion (adapted, simulated)."""

    item: ClipInput
    motion: RobotMotion
    extras: dict[str, RobotMotion]


@dataclass
class WindowRows:
    """The window table being built (one entry per window)."""

    clip: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    length: list[int] = field(default_factory=list)
    difficulty: list[float] = field(default_factory=list)

    def add(self, clip: int, start: int, length: int, difficulty: float) -> None:
        self.clip.append(clip)
        self.start.append(start)
        self.length.append(length)
        self.difficulty.append(difficulty)

    def __len__(self) -> int:
        return len(self.clip)


def split_of(source_sha256: str, clip_id: str, seed: int, train: float, val: float) -> str:
    """Deterministic split of a source clip: a hash of (seed, content hash or id) mapped to [0, 1)."""
    key = f"{seed}:{source_sha256 or clip_id}".encode()
    u = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0 ** 64
    if u < train:
        return "train"
    if u < train + val:
        return "val"
    return "test"


def window_starts(num_frames: int, window_frames: int) -> list[tuple[int, int]]:
    """Evenly spaced windows ``(start, length)`` of ``window_frames`` covering a clip.

    A clip no longer than one window is one window; a longer one gets
    ``ceil(n / w)`` windows of exactly ``w`` frames, the first at 0 and the last
    ending at the clip's end.
    """
    if num_frames <= window_frames:
        return [(0, num_frames)]
    count = int(np.ceil(num_frames / window_frames))
    stride = (num_frames - window_frames) / (count - 1)
    return [(int(round(k * stride)), window_frames) for k in range(count)]


def _as_motion(value: MotionRef) -> RobotMotion:
    return value if isinstance(value, RobotMotion) else RobotMotion.load(value)


Rows = dict[str, np.ndarray]   # column group -> (n, F_group) float32


class _ShardWriter:
    """Accumulates rows of clip entries and writes a shard when it is full."""

    def __init__(self, out_dir: Path, columns: tuple[Column, ...], settings: Settings):
        self.out_dir = out_dir
        self.columns = columns
        self.settings = settings
        self.widths = group_widths(columns)
        self.target_rows = max(1, int(settings.shard_mb * 1e6 / (4 * max(1, sum(self.widths.values())))))
        self.shards: list[dict[str, Any]] = []
        self.bytes_written = 0
        self._reset()

    def _reset(self) -> None:
        self.entries: list[dict[str, Rows]] = []     # per entry: variant -> rows ("raw" always)
        self.clip_indices: list[int] = []
        self.lengths: list[int] = []
        self.rows = 0

    @property
    def index(self) -> int:
        return len(self.shards)

    def add(self, clip_index: int, rows: dict[str, Rows]) -> tuple[int, int]:
        """Queue a clip entry's rows (variant -> rows; ``raw`` required); returns (shard index, row start)."""
        n = len(rows["raw"][GROUPS[0]])
        if self.rows and self.rows + n > self.target_rows:
            self.flush()
        start = self.rows
        self.entries.append(rows)
        self.clip_indices.append(clip_index)
        self.lengths.append(n)
        self.rows += n
        return self.index, start

    def _dataset_options(self, width: int) -> dict[str, Any]:
        s = self.settings
        if s.chunk_frames <= 0:
            return {}
        opts: dict[str, Any] = {"chunks": (min(s.chunk_frames, max(self.rows, 1)), max(width, 1))}
        if s.codec == "lzf":
            opts.update(compression="lzf", shuffle=True)
        elif s.codec == "gzip":
            opts.update(compression="gzip", compression_opts=s.gzip_level, shuffle=True)
        return opts

    def flush(self) -> None:
        """Write the queued entries as one shard. A variant some entry has is stored for all of the shard's
        entries (entries without it repeat their raw rows) with ``clips/has_<variant>`` flags."""
        if not self.rows:
            return
        rel = shard_name(self.index)
        path = self.out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        present = [v for v in VARIANTS if any(v in e for e in self.entries)]
        starts = np.cumsum([0] + self.lengths[:-1]).astype(np.int64)
        fd, tmp = temporary_file(path)
        os.close(fd)
        nbytes = 0
        try:
            with h5py.File(tmp, "w") as h5:
                h5.attrs["schema"] = SCHEMA
                h5.attrs["shard"] = self.index
                h5.attrs["columns"] = json.dumps([c.to_json() for c in self.columns])
                for variant in present:
                    for group in GROUPS:
                        data = np.concatenate([e.get(variant, e["raw"])[group] for e in self.entries], axis=0)
                        nbytes += data.nbytes
                        h5.create_dataset(f"{variant}/{group}", data=data, dtype=np.float32,
                                          **self._dataset_options(self.widths[group]))
                    if variant != "raw":
                        h5.create_dataset(f"clips/has_{variant}", data=np.array([variant in e for e in self.entries]))
                h5.create_dataset("clips/index", data=np.asarray(self.clip_indices, dtype=np.int64))
                h5.create_dataset("clips/row_start", data=starts)
                h5.create_dataset("clips/num_frames", data=np.asarray(self.lengths, dtype=np.int64))
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        fsync_dir(path.parent)
        self.bytes_written += nbytes
        self.shards.append({"file": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path),
                            "rows": int(self.rows), "clips": len(self.clip_indices), "variants": present})
        self._reset()


# -- the steps ---------------------------------------------------------------------------------------------------


def clear_manifest(out_dir: Path) -> None:
    """Step 1: create ``out_dir`` and remove an existing manifest (durably) before anything is rewritten."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST_NAME
    if manifest_path.exists():
        manifest_path.unlink()
        fsync_dir(out_dir)


def load_clip(item: ClipInput, settings: Settings, names: dict[str, Any] | None) -> LoadedClip:
    """Step 2a: a clip's motions (raw and each stored variant), checked against the dataset's names.

    ``names`` None means this is the first clip (it defines the names). Raises
    :class:`InputError`: ``robot_mismatch`` (joint or link names differ),
    ``frame_mismatch`` (a variant with another frame count), or the reading
    errors of :func:`core.npzio.load_npz`.
    """
    motion = _as_motion(item.motion)
    where = str(item.motion) if not isinstance(item.motion, RobotMotion) else item.clip_id
    if names is not None:
        _check_names(where, motion, names)
    own = {"robot": motion.robot, "dof_names": list(motion.dof_names), "link_names": list(motion.link_names)}
    extras: dict[str, RobotMotion] = {}
    for variant in EXTRA_VARIANTS:
        ref = getattr(item, variant)
        if ref is None or not getattr(settings, f"include_{variant}"):
            continue
        other = _as_motion(ref)
        label = str(ref) if not isinstance(ref, RobotMotion) else f"{item.clip_id} ({variant})"
        _check_names(label, other, own)
        if other.num_frames != motion.num_frames:
            raise InputError(label, "frame_mismatch", f"{variant} motion has {other.num_frames} frames, the "
                                                      f"retargeted one {motion.num_frames}")
        extras[variant] = other
    return LoadedClip(item, motion, extras)


def dataset_names(motion: RobotMotion, robot: str | None) -> dict[str, Any]:
    """The robot and joint/link names every clip of the dataset must share (from its first clip)."""
    return {"robot": robot or motion.robot, "dof_names": list(motion.dof_names), "link_names": list(motion.link_names)}


def kept_segments(clip: LoadedClip, settings: Settings) -> tuple[list[tuple[int, int]], int]:
    """Step 2b: the verdict's kept ``[start, stop)`` frame ranges long enough to store, and how many were too short."""
    motion = clip.motion
    kept, too_short = [], 0
    for a, b in _segments(clip.item.verdict, motion.num_frames):
        if (b - a) < max(2, settings.min_clip_s * motion.fps):
            too_short += 1
        else:
            kept.append((a, b))
    return kept, too_short


def segment_entry(clip: LoadedClip, a: int, b: int, index: int, writer: _ShardWriter, windows: WindowRows,
                  settings: Settings) -> dict[str, Any]:
    """Step 2c: frames [a, b) of a clip as clip entry ``index``: rows of every variant queued on ``writer``,
    its windows and their difficulty added to ``windows``; returns the entry's clip-table record."""
    item, motion = clip.item, clip.motion
    rows = {"raw": motion_frames(motion, a, b, writer.columns)}
    for variant, other in clip.extras.items():
        rows[variant] = motion_frames(other, a, b, writer.columns)
    adapted = clip.extras.get("adapted")
    change = diff.adaptation_change(motion.dof_pos[a:b], adapted.dof_pos[a:b]) if adapted is not None else None
    shard, row = writer.add(index, rows)
    fields = split_columns(rows["raw"], writer.columns)
    sig = diff.signals(fields["root_pos"], fields["root_rot"], fields["dof_pos"], fields["contacts"], motion.fps)
    standing = float(np.percentile(motion.root_pos[:, 2], 95))
    residual = diff.retarget_residual(motion.metrics)

    def score(lo: int, hi: int) -> tuple[float, diff.Features]:
        feats = diff.aggregate(sig, lo, hi, standing_height=standing)
        feats = diff.with_extras(feats, item.zmp_margin_m, residual, change)
        return diff.difficulty(feats), feats

    clip_level, clip_feats = score(0, b - a)
    for ws, wl in window_starts(b - a, max(2, int(round(settings.window_s * motion.fps)))):
        windows.add(index, ws, wl, score(ws, ws + wl)[0])
    kind = str(item.verdict.get("verdict", ""))
    whole = kind == "pass" and (a, b) == (0, motion.num_frames)
    subject = item.subject if item.subject is not None else (
        subject_of(item.source_path) if item.source_path else str(motion.provenance.get("subject", "")))
    record = {
        "index": index,
        "id": item.clip_id if whole else f"{item.clip_id}@{a}-{b}",
        "source_clip_id": item.clip_id,
        "source_path": item.source_path,
        "source_sha256": item.source_sha256,
        "source_frames": [int(a), int(b)],
        "dataset": item.dataset,
        "subject": subject,
        "license": item.license,
        "split": split_of(item.source_sha256, item.clip_id, settings.seed, settings.split_train, settings.split_val),
        "shard": shard,
        "row_start": row,
        "num_frames": int(b - a),
        "fps": float(motion.fps),
        "duration_s": (b - a - 1) / motion.fps,
        "verdict": kind,
        "reasons": list(item.verdict.get("reasons", [])),
        "metrics": {k: float(v) for k, v in motion.metrics.items()},
        "provenance": dict(motion.provenance),
        "upstream_hashes": dict(item.upstream_hashes),
        "settings_hash": sha256_json({"dataset": _settings_json(settings), "upstream": item.upstream_hashes}),
        "difficulty": round(clip_level, 4),
        "features": clip_feats.to_json(),
        "variants": ["raw", *clip.extras],
    }
    for variant in EXTRA_VARIANTS:
        record[f"has_{variant}"] = variant in clip.extras
    record.update(clip_figures(item.figures, motion, adapted, a, b))
    return record


def clip_figures(figures: dict[str, float | None], motion: RobotMotion, adapted: RobotMotion | None,
                 a: int, b: int) -> dict[str, float | None]:
    """The clip-table figures of entry [a, b): every :data:`CLIP_FIGURE_KEYS` key, the source clip's
    measured ones from ``figures`` and ``adapted_fraction`` (share of the entry's frames where the
    adapted motion's joints or root differ from the raw ones by more than 1e-6 rad or m)."""
    out: dict[str, float | None] = {k: (None if figures.get(k) is None else float(figures[k]))  # type: ignore[arg-type]
                                    for k in CLIP_FIGURE_KEYS if k != "adapted_fraction"}
    if adapted is None:
        out["adapted_fraction"] = 0.0
    else:
        dof = np.abs(adapted.dof_pos[a:b] - motion.dof_pos[a:b]).max(axis=1) > 1e-6
        root = np.linalg.norm(adapted.root_pos[a:b] - motion.root_pos[a:b], axis=1) > 1e-6
        out["adapted_fraction"] = round(float(np.mean(dof | root)), 5) if b > a else 0.0
    return {k: out[k] for k in CLIP_FIGURE_KEYS}


def write_tables(out_dir: Path, clips: list[dict[str, Any]], windows: WindowRows) -> list[dict[str, Any]]:
    """Step 3: ``clips.json`` and ``index.npz``; returns their manifest entries (file, bytes, sha256)."""
    atomic_write_bytes(out_dir / CLIPS_NAME, json.dumps(clips, indent=0, sort_keys=True).encode())
    split_codes = {s: i for i, s in enumerate(SPLITS)}
    save_npz(out_dir / INDEX_NAME, {
        "clip_shard": np.asarray([c["shard"] for c in clips], dtype=np.int64),
        "clip_row_start": np.asarray([c["row_start"] for c in clips], dtype=np.int64),
        "clip_num_frames": np.asarray([c["num_frames"] for c in clips], dtype=np.int64),
        "clip_fps": np.asarray([c["fps"] for c in clips], dtype=np.float64),
        "clip_split": np.asarray([split_codes[c["split"]] for c in clips], dtype=np.int8),
        "clip_difficulty": np.asarray([c["difficulty"] for c in clips], dtype=np.float32),
        "window_clip": np.asarray(windows.clip, dtype=np.int64),
        "window_start_frame": np.asarray(windows.start, dtype=np.int64),
        "window_num_frames": np.asarray(windows.length, dtype=np.int64),
        "window_difficulty": np.asarray(windows.difficulty, dtype=np.float32),
        "window_split": np.asarray([split_codes[clips[c]["split"]] for c in windows.clip], dtype=np.int8),
    }, {"schema": SCHEMA, "splits": list(SPLITS)})
    return [{"file": name, "bytes": (out_dir / name).stat().st_size, "sha256": sha256_file(out_dir / name)}
            for name in (CLIPS_NAME, INDEX_NAME)]


def split_totals(clips: list[dict[str, Any]], windows: WindowRows) -> dict[str, dict[str, Any]]:
    """Per split: clip entries, source clips, windows and hours."""
    window_split = [clips[c]["split"] for c in windows.clip]
    return {s: {"clips": sum(c["split"] == s for c in clips),
                "sources": len({c["source_clip_id"] for c in clips if c["split"] == s}),
                "windows": int(sum(x == s for x in window_split)),
                "hours": round(sum(c["num_frames"] / c["fps"] for c in clips if c["split"] == s) / 3600, 6)}
            for s in SPLITS}


def build_manifest(names: dict[str, Any], shards: list[dict[str, Any]], tables: list[dict[str, Any]],
                   clips: list[dict[str, Any]], windows: WindowRows, skipped: dict[str, int], settings: Settings,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Step 4a: the ``manifest.json`` mapping (names, layout, variants, files, totals, splits, settings)."""
    settings_json = _settings_json(settings)
    frames = int(sum(c["num_frames"] for c in clips))
    seconds = float(sum(c["num_frames"] / c["fps"] for c in clips))
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "robot": names["robot"],
        "dof_names": names["dof_names"],
        "link_names": names["link_names"],
        "columns": [c.to_json() for c in column_layout(len(names["dof_names"]), len(names["link_names"]))],
        "variants": [v for v in VARIANTS if any(v in s["variants"] for s in shards)],
        "shards": shards,
        "tables": tables,
        "totals": {"clips": len(clips), "sources": len({c["source_clip_id"] for c in clips}),
                   "windows": len(windows), "frames": frames, "hours": round(seconds / 3600, 6),
                   "skipped": skipped},
        "splits": split_totals(clips, windows),
        "settings": settings_json,
        "settings_hash": sha256_json(settings_json),
        "difficulty": {"scale": [diff.LEVEL_MIN, diff.LEVEL_MAX],
                       "references": {k: vars(v) for k, v in diff.REFERENCES.items()}},
        **(extra or {}),
    }


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Step 4b: remove shards no longer listed, then write the manifest, last (the dataset is complete)."""
    _remove_stale_shards(out_dir, {s["file"] for s in manifest["shards"]})
    atomic_write_bytes(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True).encode())


def write_dataset(out_dir: str | Path, inputs: Iterable[ClipInput], settings: Settings = Settings(),
                  robot: str | None = None, extra: dict[str, Any] | None = None,
                  progress: bool = True, total: int | None = None, strict: bool = True) -> dict[str, Any]:
    """Write the dataset for ``inputs`` under ``out_dir``; returns a summary dict.

    Clips whose verdict is not ``pass``/``trimmed`` are counted and skipped.
    A clip whose motion cannot be read, whose robot or joint names differ from
    the first clip's, or whose adapted or simulated motion has another frame
    count raises :class:`InputError` (``strict``) or is left out and listed in
    the summary's ``problems`` with its reason code (``strict=False``, what the
    pipeline stage uses so one bad clip does not sink the corpus).
    ``progress``: a bar on a terminal, plain periodic lines otherwise, nothing when False.
    The summary's ``entries_per_clip`` maps each source clip id to its number of clip entries.
    """
    out_dir = Path(out_dir)
    clear_manifest(out_dir)
    clips: list[dict[str, Any]] = []
    windows = WindowRows()
    skipped: dict[str, int] = {}
    problems: list[dict[str, str]] = []
    entries_per_clip: dict[str, int] = {}
    names: dict[str, Any] | None = None
    writer: _ShardWriter | None = None
    for item in progress_iter(inputs, total=total, desc="dataset", unit="clip", enabled=progress):
        kind = str(item.verdict.get("verdict", ""))
        if kind not in ("pass", "trimmed"):
            _count(skipped, f"verdict_{kind or 'missing'}")
            continue
        try:
            loaded = load_clip(item, settings, names)
        except InputError as exc:
            if strict:
                raise
            _count(skipped, exc.code)
            problems.append({"clip": item.clip_id, "code": exc.code, "message": str(exc)})
            continue
        if names is None:
            names = dataset_names(loaded.motion, robot)
            writer = _ShardWriter(out_dir, column_layout(len(names["dof_names"]), len(names["link_names"])),
                                  settings)
        assert writer is not None
        segments, too_short = kept_segments(loaded, settings)
        if too_short:
            _count(skipped, "too_short", too_short)
        for a, b in segments:
            clips.append(segment_entry(loaded, a, b, len(clips), writer, windows, settings))
        entries_per_clip[item.clip_id] = len(segments)
    if writer is not None:
        writer.flush()
    shards = writer.shards if writer is not None else []
    if names is None:
        names = {"robot": robot or "", "dof_names": [], "link_names": []}
    tables = write_tables(out_dir, clips, windows)
    manifest = build_manifest(names, shards, tables, clips, windows, skipped, settings, extra)
    write_manifest(out_dir, manifest)
    totals = manifest["totals"]
    return {"path": str(out_dir), "clips": len(clips), "windows": len(windows), "shards": len(shards),
            "frames": totals["frames"], "hours": totals["hours"], "skipped": skipped,
            "frame_bytes": int(writer.bytes_written if writer is not None else 0),
            "splits": {k: v["clips"] for k, v in manifest["splits"].items()}, "variants": manifest["variants"],
            "entries_per_clip": entries_per_clip, "problems": problems}


def _count(counter: dict[str, int], key: str, n: int = 1) -> None:
    counter[key] = counter.get(key, 0) + n


def _settings_json(settings: Settings) -> dict[str, Any]:
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}


def _check_names(where: str, motion: RobotMotion, names: dict[str, Any]) -> None:
    if list(motion.dof_names) != names["dof_names"] or list(motion.link_names) != names["link_names"]:
        raise InputError(where, "robot_mismatch",
                         f"joint or link names differ from the dataset's (robot {motion.robot!r} vs {names['robot']!r})")


def _segments(verdict: dict[str, Any], num_frames: int) -> list[tuple[int, int]]:
    """Kept ``[start, stop)`` frame ranges: the whole clip for ``pass`` (unless segments say otherwise)."""
    segs = [(int(a), int(b)) for a, b in verdict.get("segments") or []]
    if verdict.get("verdict") == "pass" and not segs:
        segs = [(0, num_frames)]
    out = []
    for a, b in segs:
        a, b = max(0, a), min(num_frames, b)
        if b > a:
            out.append((a, b))
    return out


def _remove_stale_shards(out_dir: Path, keep: set[str]) -> None:
    folder = out_dir / SHARD_DIR
    if not folder.is_dir():
        return
    for path in folder.glob("shard-*.h5"):
        if f"{SHARD_DIR}/{path.name}" not in keep:
            path.unlink()

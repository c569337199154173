"""Write a sharded HDF5 dataset from retargeted clips (format: docs/DATASET_FORMAT.md).

Shards are written to a temporary name, fsynced and renamed; the clip table,
window table and finally ``manifest.json`` follow, each atomically. An existing
manifest is removed first, so a folder whose writing was interrupted never
looks like a valid dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm import tqdm

from core.errors import InputError
from core.hashing import sha256_file, sha256_json
from core.npzio import atomic_write_bytes, fsync_dir, save_npz
from core.records.robot_motion import RobotMotion
from core.subjects import subject_of
from stages.dataset import difficulty as diff
from stages.dataset.frames import motion_frames, split_columns
from stages.dataset.schema import (
    CLIPS_NAME,
    GROUPS,
    INDEX_NAME,
    MANIFEST_NAME,
    SCHEMA,
    SCHEMA_VERSION,
    SHARD_DIR,
    SPLITS,
    Column,
    column_layout,
    group_widths,
    shard_name,
)
from stages.dataset.settings import Settings


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
        zmp_margin_m: the filter's worst ZMP margin (m, negative = outside), if measured.
        upstream_hashes: stage -> artifact hash that produced this clip.
    """

    clip_id: str
    motion: RobotMotion | Path | str
    verdict: dict[str, Any]
    source_path: str = ""
    source_sha256: str = ""
    dataset: str = ""
    license: str = ""
    subject: str | None = None
    adapted: RobotMotion | Path | str | None = None
    zmp_margin_m: float | None = None
    upstream_hashes: dict[str, str] = field(default_factory=dict)


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


def _as_motion(value: RobotMotion | Path | str) -> RobotMotion:
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
        self.raw: list[Rows] = []
        self.adapted: list[Rows | None] = []
        self.clip_indices: list[int] = []
        self.lengths: list[int] = []
        self.rows = 0

    @property
    def index(self) -> int:
        return len(self.shards)

    def add(self, clip_index: int, raw: Rows, adapted: Rows | None) -> tuple[int, int]:
        """Queue a clip entry's rows; returns (shard index, row start)."""
        n = len(raw[GROUPS[0]])
        if self.rows and self.rows + n > self.target_rows:
            self.flush()
        start = self.rows
        self.raw.append(raw)
        self.adapted.append(adapted)
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
        if not self.rows:
            return
        rel = shard_name(self.index)
        path = self.out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        has_adapted = any(a is not None for a in self.adapted)
        variants = {"raw": self.raw}
        if has_adapted:
            variants["adapted"] = [a if a is not None else r for a, r in zip(self.adapted, self.raw)]
        starts = np.cumsum([0] + self.lengths[:-1]).astype(np.int64)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        nbytes = 0
        try:
            with h5py.File(tmp, "w") as h5:
                h5.attrs["schema"] = SCHEMA
                h5.attrs["shard"] = self.index
                h5.attrs["columns"] = json.dumps([c.to_json() for c in self.columns])
                for variant, entries in variants.items():
                    for group in GROUPS:
                        data = np.concatenate([e[group] for e in entries], axis=0)
                        nbytes += data.nbytes
                        h5.create_dataset(f"{variant}/{group}", data=data, dtype=np.float32,
                                          **self._dataset_options(self.widths[group]))
                if has_adapted:
                    h5.create_dataset("clips/has_adapted", data=np.array([a is not None for a in self.adapted]))
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
                            "rows": int(self.rows), "clips": len(self.clip_indices), "variants": list(variants)})
        self._reset()


def write_dataset(out_dir: str | Path, inputs: Iterable[ClipInput], settings: Settings = Settings(),
                  robot: str | None = None, extra: dict[str, Any] | None = None,
                  progress: bool = True, total: int | None = None, strict: bool = True) -> dict[str, Any]:
    """Write the dataset for ``inputs`` under ``out_dir``; returns a summary dict.

    Clips whose verdict is not ``pass``/``trimmed`` are counted and skipped.
    A clip whose motion cannot be read, whose robot or joint names differ from
    the first clip's, or whose adapted motion has another frame count raises
    :class:`InputError` (``strict``) or is left out and listed in the
    summary's ``problems`` with its reason code (``strict=False``, what the
    pipeline stage uses so one bad clip does not sink the corpus).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST_NAME
    if manifest_path.exists():
        manifest_path.unlink()
        fsync_dir(out_dir)
    settings_json = _settings_json(settings)
    clips: list[dict[str, Any]] = []
    win_clip, win_start, win_len, win_diff = [], [], [], []
    skipped: dict[str, int] = {}
    problems: list[dict[str, str]] = []
    names: dict[str, Any] | None = None
    writer: _ShardWriter | None = None
    frames_total = 0
    seconds_total = 0.0
    for item in tqdm(inputs, total=total, desc="dataset", unit="clip", disable=not progress):
        kind = str(item.verdict.get("verdict", ""))
        if kind not in ("pass", "trimmed"):
            skipped[f"verdict_{kind or 'missing'}"] = skipped.get(f"verdict_{kind or 'missing'}", 0) + 1
            continue
        try:
            motion, adapted = _load_checked(item, settings, names)
        except InputError as exc:
            if strict:
                raise
            skipped[exc.code] = skipped.get(exc.code, 0) + 1
            problems.append({"clip": item.clip_id, "code": exc.code, "message": str(exc)})
            continue
        if names is None:
            names = {"robot": robot or motion.robot, "dof_names": list(motion.dof_names),
                     "link_names": list(motion.link_names)}
            writer = _ShardWriter(out_dir, column_layout(len(motion.dof_names), len(motion.link_names)),
                                  settings)
        assert writer is not None
        segments = _segments(item.verdict, motion.num_frames)
        split = split_of(item.source_sha256, item.clip_id, settings.seed, settings.split_train, settings.split_val)
        subject = item.subject if item.subject is not None else (
            subject_of(item.source_path) if item.source_path else str(motion.provenance.get("subject", "")))
        standing = float(np.percentile(motion.root_pos[:, 2], 95))
        residual = diff.retarget_residual(motion.metrics)
        for a, b in segments:
            if (b - a) < max(2, settings.min_clip_s * motion.fps):
                skipped["too_short"] = skipped.get("too_short", 0) + 1
                continue
            raw_rows = motion_frames(motion, a, b, writer.columns)
            ad_rows = motion_frames(adapted, a, b, writer.columns) if adapted is not None else None
            change = diff.adaptation_change(motion.dof_pos[a:b], adapted.dof_pos[a:b]) if adapted is not None else None
            index = len(clips)
            shard, row = writer.add(index, raw_rows, ad_rows)
            fields = split_columns(raw_rows, writer.columns)
            sig = diff.signals(fields["root_pos"], fields["root_rot"], fields["dof_pos"], fields["contacts"],
                               motion.fps)

            def score(lo: int, hi: int) -> tuple[float, diff.Features]:
                feats = diff.aggregate(sig, lo, hi, standing_height=standing)
                feats = diff.with_extras(feats, item.zmp_margin_m, residual, change)
                return diff.difficulty(feats), feats

            clip_level, clip_feats = score(0, b - a)
            for ws, wl in window_starts(b - a, max(2, int(round(settings.window_s * motion.fps)))):
                win_clip.append(index)
                win_start.append(ws)
                win_len.append(wl)
                win_diff.append(score(ws, ws + wl)[0])
            whole = kind == "pass" and (a, b) == (0, motion.num_frames)
            clips.append({
                "index": index,
                "id": item.clip_id if whole else f"{item.clip_id}@{a}-{b}",
                "source_clip_id": item.clip_id,
                "source_path": item.source_path,
                "source_sha256": item.source_sha256,
                "source_frames": [int(a), int(b)],
                "dataset": item.dataset,
                "subject": subject,
                "license": item.license,
                "split": split,
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
                "settings_hash": sha256_json({"dataset": settings_json, "upstream": item.upstream_hashes}),
                "difficulty": round(clip_level, 4),
                "features": clip_feats.to_json(),
                "has_adapted": adapted is not None,
            })
            frames_total += b - a
            seconds_total += (b - a) / motion.fps
    if writer is not None:
        writer.flush()
    shards = writer.shards if writer is not None else []
    bytes_written = writer.bytes_written if writer is not None else 0
    if names is None:
        names = {"robot": robot or "", "dof_names": [], "link_names": []}
    columns = column_layout(len(names["dof_names"]), len(names["link_names"]))
    # tables, then the manifest last
    atomic_write_bytes(out_dir / CLIPS_NAME, json.dumps(clips, indent=0, sort_keys=True).encode())
    split_codes = {s: i for i, s in enumerate(SPLITS)}
    win_split = [split_codes[clips[c]["split"]] for c in win_clip]
    save_npz(out_dir / INDEX_NAME, {
        "clip_shard": np.asarray([c["shard"] for c in clips], dtype=np.int64),
        "clip_row_start": np.asarray([c["row_start"] for c in clips], dtype=np.int64),
        "clip_num_frames": np.asarray([c["num_frames"] for c in clips], dtype=np.int64),
        "clip_fps": np.asarray([c["fps"] for c in clips], dtype=np.float64),
        "clip_split": np.asarray([split_codes[c["split"]] for c in clips], dtype=np.int8),
        "clip_difficulty": np.asarray([c["difficulty"] for c in clips], dtype=np.float32),
        "window_clip": np.asarray(win_clip, dtype=np.int64),
        "window_start_frame": np.asarray(win_start, dtype=np.int64),
        "window_num_frames": np.asarray(win_len, dtype=np.int64),
        "window_difficulty": np.asarray(win_diff, dtype=np.float32),
        "window_split": np.asarray(win_split, dtype=np.int8),
    }, {"schema": SCHEMA, "splits": list(SPLITS)})
    tables = [{"file": name, "bytes": (out_dir / name).stat().st_size, "sha256": sha256_file(out_dir / name)}
              for name in (CLIPS_NAME, INDEX_NAME)]
    splits = {s: {"clips": sum(c["split"] == s for c in clips),
                  "sources": len({c["source_clip_id"] for c in clips if c["split"] == s}),
                  "windows": int(sum(x == split_codes[s] for x in win_split)),
                  "hours": round(sum(c["num_frames"] / c["fps"] for c in clips if c["split"] == s) / 3600, 6)}
              for s in SPLITS}
    manifest = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "robot": names["robot"],
        "dof_names": names["dof_names"],
        "link_names": names["link_names"],
        "columns": [c.to_json() for c in columns],
        "variants": sorted({v for s in shards for v in s["variants"]}, key=["raw", "adapted"].index),
        "shards": shards,
        "tables": tables,
        "totals": {"clips": len(clips), "sources": len({c["source_clip_id"] for c in clips}),
                   "windows": len(win_clip), "frames": int(frames_total), "hours": round(seconds_total / 3600, 6),
                   "skipped": skipped},
        "splits": splits,
        "settings": settings_json,
        "settings_hash": sha256_json(settings_json),
        "difficulty": {"scale": [diff.LEVEL_MIN, diff.LEVEL_MAX],
                       "references": {k: vars(v) for k, v in diff.REFERENCES.items()}},
        **(extra or {}),
    }
    _remove_stale_shards(out_dir, {s["file"] for s in shards})
    atomic_write_bytes(manifest_path, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return {"path": str(out_dir), "clips": len(clips), "windows": len(win_clip), "shards": len(shards),
            "frames": int(frames_total), "hours": round(seconds_total / 3600, 6), "skipped": skipped,
            "frame_bytes": int(bytes_written), "splits": {k: v["clips"] for k, v in splits.items()},
            "problems": problems}


def _settings_json(settings: Settings) -> dict[str, Any]:
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}


def _load_checked(item: ClipInput, settings: Settings, names: dict[str, Any] | None
                  ) -> tuple[RobotMotion, RobotMotion | None]:
    """The clip's motions, checked against the dataset's names (None = first clip)."""
    motion = _as_motion(item.motion)
    adapted = _as_motion(item.adapted) if (item.adapted is not None and settings.include_adapted) else None
    where = str(item.motion) if not isinstance(item.motion, RobotMotion) else item.clip_id
    if names is not None:
        _check_names(where, motion, names)
    if adapted is not None:
        _check_names(str(item.adapted), adapted, {"robot": motion.robot, "dof_names": list(motion.dof_names),
                                                  "link_names": list(motion.link_names)})
        if adapted.num_frames != motion.num_frames:
            raise InputError(str(item.adapted), "frame_mismatch", f"adapted motion has {adapted.num_frames} "
                                                                  f"frames, the retargeted one {motion.num_frames}")
    return motion, adapted


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

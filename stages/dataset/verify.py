"""Check a dataset folder: every checksum, size and index (``python -m pipeline verify DIR``).

Problems are collected (not raised one at a time) so a user sees every bad
file at once; each names the file it is about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.hashing import sha256_file
from core.npzio import load_npz
from stages.dataset.schema import CLIPS_NAME, INDEX_NAME, MANIFEST_NAME, SCHEMA, SPLITS, Column, group_widths


@dataclass
class Problem:
    """One failed check: the file (relative to the dataset) and what is wrong."""

    file: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message} [{self.code}]"


@dataclass
class VerifyReport:
    path: str
    problems: list[Problem] = field(default_factory=list)
    checked_files: int = 0
    clips: int = 0
    windows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, file: str, code: str, message: str) -> None:
        self.problems.append(Problem(file, code, message))


def verify_dataset(path: str | Path, check_values: bool = True) -> VerifyReport:
    """Verify a dataset folder.

    Checks: the manifest parses and has this schema; every listed file exists
    with the listed size and sha256; every shard opens as HDF5 with frame
    arrays of the listed rows and column count (and, with ``check_values``,
    finite values and unit quaternions); the clip table's shard/row ranges lie
    inside their shards, tile each shard without overlap, and agree with each
    shard's own index; the window table's rows lie inside their clips with
    difficulties in [1, 10] and the clip's split.
    """
    root = Path(path)
    report = VerifyReport(str(root))
    mpath = root / MANIFEST_NAME
    if not mpath.exists():
        report.add(MANIFEST_NAME, "not_a_dataset", "no manifest (not a dataset, or its writing did not finish)")
        return report
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.add(MANIFEST_NAME, "corrupt_manifest", f"not valid JSON ({exc})")
        return report
    if manifest.get("schema") != SCHEMA:
        report.add(MANIFEST_NAME, "wrong_schema", f"schema {manifest.get('schema')!r}, expected {SCHEMA!r}")
        return report
    listed = list(manifest.get("shards", [])) + list(manifest.get("tables", []))
    intact: set[str] = set()
    for info in listed:
        rel = info["file"]
        fpath = root / rel
        report.checked_files += 1
        if not fpath.exists():
            report.add(rel, "missing_file", "listed in the manifest but missing")
            continue
        size = fpath.stat().st_size
        if size != int(info["bytes"]):
            code = "truncated" if size < int(info["bytes"]) else "size_mismatch"
            report.add(rel, code, f"{size} bytes, the manifest says {info['bytes']}"
                                  + (" (truncated)" if code == "truncated" else ""))
            continue
        digest = sha256_file(fpath)
        if digest != info["sha256"]:
            report.add(rel, "checksum_mismatch", f"sha256 {digest[:16]}... differs from the manifest's "
                                                 f"{str(info['sha256'])[:16]}... (corrupted)")
            continue
        intact.add(rel)
    if CLIPS_NAME not in intact or INDEX_NAME not in intact:
        return report
    try:
        clips = json.loads((root / CLIPS_NAME).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.add(CLIPS_NAME, "corrupt_table", f"not valid JSON ({exc})")
        return report
    try:
        index, _ = load_npz(root / INDEX_NAME)
    except InputError as exc:
        report.add(INDEX_NAME, exc.code, exc.message)
        return report
    windows = {k[len("window_"):]: v for k, v in index.items() if k.startswith("window_")}
    report.clips = len(clips)
    report.windows = int(len(windows.get("clip", [])))
    _check_clip_index(index, clips, report)
    try:
        columns = tuple(Column.from_json(c) for c in manifest["columns"])
    except (KeyError, TypeError, ValueError) as exc:
        report.add(MANIFEST_NAME, "corrupt_manifest", f"bad column layout ({exc})")
        return report
    shard_rows = _check_shards(root, manifest, intact, columns, clips, report, check_values)
    _check_clips(clips, manifest, shard_rows, report)
    _check_windows(windows, clips, report)
    totals = manifest.get("totals", {})
    if totals.get("clips") != len(clips):
        report.add(MANIFEST_NAME, "totals_mismatch", f"totals.clips {totals.get('clips')} but the clip table has "
                                                     f"{len(clips)}")
    if totals.get("windows") != report.windows:
        report.add(MANIFEST_NAME, "totals_mismatch", f"totals.windows {totals.get('windows')} but the window table "
                                                     f"has {report.windows}")
    return report


def _check_shards(root: Path, manifest: dict[str, Any], intact: set[str], columns: tuple[Column, ...],
                  clips: list[dict[str, Any]], report: VerifyReport, check_values: bool) -> dict[int, int]:
    import h5py

    widths = group_widths(columns)
    rows_of: dict[int, int] = {}
    for index, info in enumerate(manifest.get("shards", [])):
        rel = info["file"]
        if rel not in intact:
            continue
        try:
            with h5py.File(root / rel, "r") as h5:
                rows = None
                for variant in info.get("variants", ["raw"]):
                    for group, width in widths.items():
                        key = f"{variant}/{group}"
                        if key not in h5:
                            report.add(rel, "missing_array", f"lacks {key}")
                            continue
                        ds = h5[key]
                        if ds.ndim != 2 or ds.shape[1] != width:
                            report.add(rel, "bad_shape", f"{key} has shape {ds.shape}, expected (N, {width})")
                            continue
                        if ds.shape[0] != int(info["rows"]):
                            report.add(rel, "bad_shape", f"{key} has {ds.shape[0]} rows, the manifest says "
                                                         f"{info['rows']}")
                        rows = int(ds.shape[0])
                        if check_values:
                            quats = [(c.start, c.stop) for c in columns if c.group == group and c.kind == "quat"]
                            _check_values(rel, key, ds, quats, report)
                if rows is not None:
                    rows_of[index] = rows
                mine = [c for c in clips if c["shard"] == index]
                idx = h5["clips/index"][()] if "clips/index" in h5 else None
                if idx is None or sorted(int(i) for i in idx) != sorted(c["index"] for c in mine):
                    report.add(rel, "index_mismatch", "the shard's own clip index disagrees with clips.json")
                else:
                    starts = dict(zip((int(i) for i in idx), (int(s) for s in h5["clips/row_start"][()])))
                    lens = dict(zip((int(i) for i in idx), (int(s) for s in h5["clips/num_frames"][()])))
                    for c in mine:
                        if starts[c["index"]] != c["row_start"] or lens[c["index"]] != c["num_frames"]:
                            report.add(rel, "index_mismatch", f"clip {c['index']} ({c['id']}) rows differ from "
                                                              f"clips.json")
        except OSError as exc:
            report.add(rel, "corrupt_shard", f"not a readable HDF5 file ({exc})")
    return rows_of


def _check_values(rel: str, key: str, ds: Any, quat_cols: list[tuple[int, int]], report: VerifyReport,
                  block: int = 1 << 16) -> None:
    for lo in range(0, ds.shape[0], block):
        rows = ds[lo:lo + block]
        if not np.all(np.isfinite(rows)):
            bad = lo + int(np.flatnonzero(~np.all(np.isfinite(rows), axis=1))[0])
            report.add(rel, "non_finite", f"{key} row {bad} has non-finite values")
            return
        for a, b in quat_cols:
            norms = np.linalg.norm(rows[:, a:b].reshape(len(rows), -1, 4), axis=-1)
            if norms.size and np.max(np.abs(norms - 1.0)) > 1e-3:
                report.add(rel, "bad_quaternion", f"{key} columns {a}-{b}: quaternion norm off 1 by "
                                                  f"{np.max(np.abs(norms - 1.0)):.3g}")
                return


def _check_clips(clips: list[dict[str, Any]], manifest: dict[str, Any], shard_rows: dict[int, int],
                 report: VerifyReport) -> None:
    nshards = len(manifest.get("shards", []))
    by_shard: dict[int, list[tuple[int, int, int]]] = {}
    for i, c in enumerate(clips):
        if c.get("index") != i:
            report.add(CLIPS_NAME, "bad_index", f"entry {i} has index {c.get('index')}")
        if not 0 <= c["shard"] < nshards:
            report.add(CLIPS_NAME, "bad_index", f"clip {i} ({c['id']}) points at shard {c['shard']} of {nshards}")
            continue
        if c["num_frames"] < 1 or c["row_start"] < 0:
            report.add(CLIPS_NAME, "bad_index", f"clip {i} ({c['id']}) has an empty or negative row range")
        if c.get("split") not in SPLITS:
            report.add(CLIPS_NAME, "bad_split", f"clip {i} ({c['id']}) has split {c.get('split')!r}")
        by_shard.setdefault(c["shard"], []).append((c["row_start"], c["row_start"] + c["num_frames"], i))
    for shard, spans in by_shard.items():
        rel = manifest["shards"][shard]["file"]
        spans.sort()
        prev = 0
        for a, b, i in spans:
            if a != prev:
                report.add(rel, "index_gap" if a > prev else "index_overlap",
                           f"clip {i} starts at row {a}, previous clip ends at {prev}")
            prev = b
        if shard in shard_rows and prev != shard_rows[shard]:
            report.add(rel, "index_mismatch", f"clips cover {prev} rows, the shard has {shard_rows[shard]}")
    sources: dict[str, str] = {}
    for c in clips:
        if sources.setdefault(c["source_clip_id"], c["split"]) != c["split"]:
            report.add(CLIPS_NAME, "split_leak", f"source {c['source_clip_id']} appears in more than one split")


def _check_clip_index(index: dict[str, np.ndarray], clips: list[dict[str, Any]], report: VerifyReport) -> None:
    """index.npz's per-clip arrays must repeat clips.json."""
    expect = {"clip_shard": [c["shard"] for c in clips], "clip_row_start": [c["row_start"] for c in clips],
              "clip_num_frames": [c["num_frames"] for c in clips], "clip_fps": [c["fps"] for c in clips],
              "clip_split": [SPLITS.index(c["split"]) if c.get("split") in SPLITS else -1 for c in clips],
              "clip_difficulty": [c["difficulty"] for c in clips]}
    for key, values in expect.items():
        if key not in index:
            report.add(INDEX_NAME, "missing_array", f"lacks {key}")
        elif len(index[key]) != len(values) or not np.allclose(index[key], np.asarray(values, dtype=np.float64),
                                                               rtol=1e-6, atol=1e-4):
            report.add(INDEX_NAME, "index_mismatch", f"{key} disagrees with {CLIPS_NAME}")


def _check_windows(windows: dict[str, np.ndarray], clips: list[dict[str, Any]], report: VerifyReport) -> None:
    try:
        clip, start, length = windows["clip"], windows["start_frame"], windows["num_frames"]
        difficulty, split = windows["difficulty"], windows["split"]
    except KeyError as exc:
        report.add(INDEX_NAME, "missing_array", f"lacks {exc}")
        return
    n = len(clips)
    if np.any((clip < 0) | (clip >= n)):
        report.add(INDEX_NAME, "bad_index", "window points at a clip outside the clip table")
        return
    frames = np.array([c["num_frames"] for c in clips], dtype=np.int64)
    bad = np.flatnonzero((start < 0) | (length < 1) | (start + length > frames[clip]))
    if bad.size:
        report.add(INDEX_NAME, "bad_index", f"{bad.size} window(s) extend outside their clip (first: {bad[0]})")
    if np.any(~np.isfinite(difficulty)) or np.any((difficulty < 1.0) | (difficulty > 10.0)):
        report.add(INDEX_NAME, "bad_difficulty", "difficulty outside [1, 10]")
    clip_split = np.array([SPLITS.index(c["split"]) if c.get("split") in SPLITS else -1 for c in clips])
    if np.any(clip_split[clip] != split):
        report.add(INDEX_NAME, "split_mismatch", "a window's split differs from its clip's")

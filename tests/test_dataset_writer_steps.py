"""The dataset writer's named steps, each on its own, and the simulated variant."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.npzio import load_npz, save_npz
from core.records.robot_motion import RobotMotion
from core.stage import ClipOutcome, ClipSource
from stages.dataset.export import ExportOptions, export_dataset
from stages.dataset.reader import open_dataset
from stages.dataset.schema import MANIFEST_NAME, column_layout
from stages.dataset.settings import Settings
from stages.dataset.stage import clip_inputs
from stages.dataset.synthetic import random_motion
from stages.dataset.writer import (
    ClipInput,
    WindowRows,
    _ShardWriter,
    build_manifest,
    clear_manifest,
    dataset_names,
    kept_segments,
    load_clip,
    segment_entry,
    write_dataset,
    write_manifest,
    write_tables,
)

PASS = {"verdict": "pass", "segments": []}


def simulate_artifact(path: Path, motion: RobotMotion) -> Path:
    """A simulate-stage artifact in the contract's layout: a RobotMotion npz plus ``sim_*`` arrays."""
    motion.save(path)
    arrays, meta = load_npz(path)
    T, D = motion.dof_pos.shape
    arrays.update(sim_fallen=np.zeros(T, dtype=bool), sim_key_body_error_m=np.full(T, 0.02),
                  sim_joint_torque=np.zeros((T, D)), sim_contact_force=np.zeros((T, 2, 3)))
    save_npz(path, arrays, meta)
    return path


def test_clear_manifest_removes_an_old_manifest(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("{}")
    clear_manifest(tmp_path)
    assert not (tmp_path / MANIFEST_NAME).exists()
    clear_manifest(tmp_path / "new")                 # creates the folder
    assert (tmp_path / "new").is_dir()


def test_load_clip_checks_names_and_variant_frame_counts():
    raw = random_motion(60, seed=1)
    loaded = load_clip(ClipInput("a", raw, PASS, simulated=random_motion(60, seed=2)), Settings(), None)
    assert set(loaded.extras) == {"simulated"}
    with pytest.raises(InputError) as exc:
        load_clip(ClipInput("a", raw, PASS, simulated=random_motion(50, seed=2)), Settings(), None)
    assert exc.value.code == "frame_mismatch" and "simulated motion has 50 frames" in str(exc.value)
    names = dataset_names(random_motion(60, num_dofs=10), None)
    with pytest.raises(InputError) as exc:
        load_clip(ClipInput("a", raw, PASS), Settings(), names)
    assert exc.value.code == "robot_mismatch"
    off = load_clip(ClipInput("a", raw, PASS, simulated=random_motion(60)), Settings(include_simulated=False), None)
    assert off.extras == {}


def test_kept_segments_leaves_out_short_ones():
    raw = random_motion(120, fps=30.0)
    verdict = {"verdict": "trimmed", "segments": [[0, 10], [20, 100], [110, 400]]}
    kept, short = kept_segments(load_clip(ClipInput("a", raw, verdict), Settings(min_clip_s=0.5), None),
                                Settings(min_clip_s=0.5))
    assert kept == [(20, 100)] and short == 2            # 10 frames = 0.33 s; [110, 120) = 0.33 s


def test_segment_entry_queues_rows_of_every_variant_and_its_windows(tmp_path):
    raw, sim = random_motion(90, seed=3), random_motion(90, seed=4)
    loaded = load_clip(ClipInput("a", raw, {"verdict": "trimmed", "segments": [[10, 90]]}, simulated=sim),
                       Settings(), None)
    columns = column_layout(raw.dof_pos.shape[1], len(raw.link_names))
    writer, windows = _ShardWriter(tmp_path, columns, Settings()), WindowRows()
    record = segment_entry(loaded, 10, 90, 0, writer, windows, Settings(window_s=1.0))
    assert record["id"] == "a@10-90" and record["num_frames"] == 80 and record["variants"] == ["raw", "simulated"]
    assert record["has_simulated"] and not record["has_adapted"]
    assert set(writer.entries[0]) == {"raw", "simulated"} and writer.rows == 80
    assert len(windows) == 3 and windows.start == [0, 25, 50] and all(1 <= d <= 10 for d in windows.difficulty)


def test_tables_and_manifest_steps_write_a_readable_dataset(tmp_path):
    raw = random_motion(60, seed=5)
    loaded = load_clip(ClipInput("a", raw, PASS), Settings(), None)
    columns = column_layout(raw.dof_pos.shape[1], len(raw.link_names))
    writer, windows = _ShardWriter(tmp_path, columns, Settings()), WindowRows()
    clips = [segment_entry(loaded, 0, 60, 0, writer, windows, Settings())]
    writer.flush()
    tables = write_tables(tmp_path, clips, windows)
    assert [t["file"] for t in tables] == ["clips.json", "index.npz"]
    manifest = build_manifest(dataset_names(raw, None), writer.shards, tables, clips, windows, {}, Settings())
    assert manifest["variants"] == ["raw"] and manifest["totals"]["frames"] == 60
    (tmp_path / "shards" / "shard-00099.h5").write_bytes(b"stale")
    write_manifest(tmp_path, manifest)
    assert not (tmp_path / "shards" / "shard-00099.h5").exists()
    ds = open_dataset(tmp_path)
    np.testing.assert_allclose(ds.clip(0)["dof_pos"], raw.dof_pos, atol=2e-6)


def test_simulated_variant_from_a_simulate_artifact(tmp_path):
    raw_a, raw_b = random_motion(90, seed=6), random_motion(90, seed=7)
    sim_a = dataclasses.replace(random_motion(90, seed=8), dof_names=raw_a.dof_names)
    artifact = simulate_artifact(tmp_path / "sim.npz", sim_a)
    items = [ClipInput("a", raw_a, PASS, simulated=artifact), ClipInput("b", raw_b, PASS)]
    summary = write_dataset(tmp_path / "ds", items, progress=False)
    assert summary["variants"] == ["raw", "simulated"] and summary["entries_per_clip"] == {"a": 1, "b": 1}
    ds = open_dataset(tmp_path / "ds")
    assert ds.variants == ("raw", "simulated")
    np.testing.assert_allclose(ds.clip(0, variant="simulated")["dof_pos"], sim_a.dof_pos, atol=2e-6)
    np.testing.assert_allclose(ds.clip(0, variant="raw")["dof_pos"], raw_a.dof_pos, atol=2e-6)
    assert ds.has_variant(0, "simulated") and not ds.has_variant(1, "simulated")
    np.testing.assert_allclose(ds.clip(1, variant="simulated")["dof_pos"], raw_b.dof_pos, atol=2e-6)  # documented
    with pytest.raises(InputError) as exc:
        ds.clip(0, variant="adapted")
    assert exc.value.code == "variant_missing"
    out = export_dataset(tmp_path / "ds", tmp_path / "csv", ExportOptions(format="csv", variant="simulated"),
                         progress=False)
    assert out["files"] == 1 and out["without_variant"] == 1
    assert json.loads((tmp_path / "ds" / MANIFEST_NAME).read_text())["variants"] == ["raw", "simulated"]


def test_clip_inputs_take_the_simulate_artifact(tmp_path):
    src = ClipSource("c", "/x/c.bvh", "ab", "bvh", "demo", "CC0")
    outcome = ClipOutcome(clip=src, status="ok",
                          artifacts={"retarget": tmp_path / "r.npz", "simulate": tmp_path / "s.npz"},
                          summaries={"filter": {"verdict": PASS}}, hashes={})
    (item,) = clip_inputs([outcome])
    assert item.simulated == tmp_path / "s.npz" and item.adapted is None

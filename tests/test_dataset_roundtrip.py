"""Dataset writer/reader: stored values, windows interpolated at any rate, splits, trimmed segments."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from core import rotations as rot
from core.errors import InputError
from core.rotations import slerp
from core.stage import ClipOutcome, ClipSource, RunGlobals
from stages.dataset.frames import motion_frames, root_velocities
from stages.dataset.reader import open_dataset
from stages.dataset.settings import Settings
from stages.dataset.synthetic import random_motion, synthetic_inputs
from stages.dataset.writer import ClipInput, split_of, window_starts, write_dataset


def quat_err(a, b):
    """Largest component difference between quaternion arrays, up to sign (well conditioned, unlike arccos)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.minimum(np.abs(a - b).max(axis=-1), np.abs(a + b).max(axis=-1))))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    inputs = synthetic_inputs(6, num_frames=400, seed=1)
    out = tmp_path_factory.mktemp("ds")
    summary = write_dataset(out, inputs, Settings(shard_mb=0.3, window_s=4.0), progress=False)
    return out, inputs, summary


def test_roundtrip_values_and_sharding(small):
    out, inputs, summary = small
    ds = open_dataset(out)
    assert summary["shards"] > 1 and ds.num_clips == 6
    assert len(ds.manifest["shards"]) == summary["shards"]
    for i, item in enumerate(inputs):
        m = item.motion
        got = ds.clip(i)
        assert ds.clips[i]["id"] == item.clip_id
        np.testing.assert_allclose(got["root_pos"], m.root_pos, atol=2e-6)
        np.testing.assert_allclose(got["dof_pos"], m.dof_pos, atol=2e-6)
        np.testing.assert_allclose(got["dof_vel"], m.dof_vel, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(got["link_pos"], m.link_pos, atol=2e-6)
        # quaternions equal up to sign
        assert quat_err(got["root_rot"], m.root_rot) < 1e-6
        assert quat_err(got["link_rot"], m.link_rot) < 1e-6
        np.testing.assert_array_equal(got["contacts"] > 0.5, m.contacts)
        lin, ang = root_velocities(m.root_pos, m.root_rot, m.fps)
        np.testing.assert_allclose(got["root_lin_vel"], lin, atol=1e-4)
        np.testing.assert_allclose(got["root_ang_vel"], ang, atol=1e-4)
    # the clip table carries provenance and the manifest totals
    rec = ds.clips[2]
    assert rec["source_sha256"] == inputs[2].source_sha256 and rec["subject"] == "subject3"
    assert rec["license"] == "CC0" and rec["verdict"] == "pass" and len(rec["settings_hash"]) == 64
    assert ds.manifest["totals"]["clips"] == 6
    assert abs(ds.manifest["totals"]["hours"] - 6 * 400 / 30 / 3600) < 1e-6


def test_windows_table_covers_clips_within_10s(small):
    out, _, _ = small
    ds = open_dataset(out)
    w = ds.windows
    assert np.all(w.num_frames <= 4.0 * 30 + 1)
    for c in range(ds.num_clips):
        rows = np.flatnonzero(w.clip == c)
        assert w.start_frame[rows].min() == 0
        assert (w.start_frame[rows] + w.num_frames[rows]).max() == 400
    assert np.all((w.difficulty >= 1) & (w.difficulty <= 10))
    assert window_starts(100, 300) == [(0, 100)]
    assert window_starts(650, 300) == [(0, 300), (175, 300), (350, 300)]


def test_window_interpolation_exact(small):
    out, inputs, _ = small
    ds = open_dataset(out)
    m = inputs[3].motion
    t_in = np.arange(m.num_frames) / m.fps
    t0, K, dt = 1.2345, 37, 0.02
    win = ds.window(3, t0, K, dt)
    times = t0 + dt * np.arange(K)
    for name, src in (("root_pos", m.root_pos), ("dof_pos", m.dof_pos)):
        expect = np.stack([np.interp(times, t_in, src[:, j]) for j in range(src.shape[1])], axis=1)
        np.testing.assert_allclose(win[name], expect, atol=3e-6)
    expect_q = Slerp(t_in, Rotation.from_quat(m.root_rot))(times).as_quat()
    assert quat_err(win["root_rot"], expect_q) < 1e-6
    for link in (0, 5):
        eq = Slerp(t_in, Rotation.from_quat(m.link_rot[:, link]))(times).as_quat()
        assert quat_err(win["link_rot"][:, link], eq) < 1e-6
    assert win["valid"].all()
    # at exact frame times the window returns the stored frames
    exact = ds.window(3, 10 / m.fps, 5, 1 / m.fps)
    np.testing.assert_array_equal(exact["dof_pos"], ds.clip(3, 10, 15)["dof_pos"])
    # past the end: last frame held, flagged invalid
    tail = ds.window(3, (m.num_frames - 3) / m.fps, 6, 1 / m.fps)
    assert tail["valid"].tolist() == [True, True, True, False, False, False]
    np.testing.assert_array_equal(tail["root_pos"][-1], tail["root_pos"][2])


def test_slerp_matches_scipy_and_takes_short_arc():
    rng = np.random.default_rng(3)
    q0 = rot.normalize(rng.normal(size=(200, 4)))
    q1 = rot.normalize(rng.normal(size=(200, 4)))
    w = rng.random(200)
    got = slerp(q0, q1, w)
    for i in range(0, 200, 17):
        ref = Slerp([0, 1], Rotation.from_quat([q0[i], q1[i]]))([w[i]]).as_quat()[0]
        assert quat_err(got[i], ref) < 1e-9
    np.testing.assert_allclose(np.abs(np.sum(slerp(q0, -q0, w) * q0, axis=-1)), 1.0, atol=1e-9)


def test_batch_equals_single_and_fields_subset(small):
    out, _, _ = small
    ds = open_dataset(out)
    rng = np.random.default_rng(0)
    wins = rng.integers(0, ds.num_windows, 16)
    batch = ds.sample_windows(wins, 25, 0.02, np.random.default_rng(5), fields=("root_pos", "root_rot"))
    assert set(batch) == {"root_pos", "root_rot", "valid", "clip", "window", "t0"}
    for b in (0, 7, 15):
        one = ds.window(int(batch["clip"][b]), float(batch["t0"][b]), 25, 0.02, fields=("root_pos", "root_rot"))
        np.testing.assert_array_equal(one["root_pos"], batch["root_pos"][b])
    with pytest.raises(KeyError, match="unknown field"):
        ds.window(0, 0.0, 3, 0.02, fields=("nope",))


def test_splits_by_source_deterministic_no_leak(tmp_path):
    motion = random_motion(600, seed=4)
    items = []
    for i in range(40):
        verdict = {"verdict": "trimmed", "segments": [[0, 200], [300, 600]], "reasons": []} if i % 2 else \
            {"verdict": "pass", "segments": [[0, 600]]}
        items.append(ClipInput(f"src{i}", motion, verdict, source_sha256=f"{i:064x}"))
    items.append(ClipInput("rejected", motion, {"verdict": "reject", "segments": []}, source_sha256="f" * 64))
    a = write_dataset(tmp_path / "a", items, Settings(split_train=0.6, split_val=0.2), progress=False)
    b = write_dataset(tmp_path / "b", items, Settings(split_train=0.6, split_val=0.2), progress=False)
    assert a["skipped"] == {"verdict_reject": 1}
    ca = json.loads((tmp_path / "a" / "clips.json").read_text())
    cb = json.loads((tmp_path / "b" / "clips.json").read_text())
    assert [c["split"] for c in ca] == [c["split"] for c in cb]
    assert a["splits"] == b["splits"]
    # deterministic bytes: same shards, same index
    ma = json.loads((tmp_path / "a" / "manifest.json").read_text())
    mb = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["sha256"] for s in ma["shards"] + ma["tables"]] == [s["sha256"] for s in mb["shards"] + mb["tables"]]
    by_source = {}
    for c in ca:
        by_source.setdefault(c["source_clip_id"], set()).add(c["split"])
    assert all(len(s) == 1 for s in by_source.values())
    assert {c["split"] for c in ca} == {"train", "val", "test"}
    # trimmed clips become one entry per kept segment with their source frame range
    seg = [c for c in ca if c["source_clip_id"] == "src1"]
    assert [c["source_frames"] for c in seg] == [[0, 200], [300, 600]]
    assert [c["id"] for c in seg] == ["src1@0-200", "src1@300-600"]
    ds = open_dataset(tmp_path / "a")
    np.testing.assert_allclose(ds.clip(seg[1]["index"])["dof_pos"], motion.dof_pos[300:600], atol=2e-6)
    # a different salt reshuffles
    assert split_of("x" * 64, "c", 0, 0.5, 0.25) == split_of("x" * 64, "c", 0, 0.5, 0.25)
    splits = [split_of(f"{i:064x}", "", 7, 0.6, 0.2) for i in range(40)]
    assert splits != [c["split"] for c in ca if c["source_frames"][0] == 0]


def test_adapted_variant_and_robot_mismatch(tmp_path):
    raw = random_motion(300, seed=8)
    adapted = random_motion(300, seed=9)
    items = [ClipInput("a", raw, {"verdict": "pass", "segments": [[0, 300]]}, adapted=adapted),
             ClipInput("b", raw, {"verdict": "pass", "segments": [[0, 300]]})]
    write_dataset(tmp_path / "d", items, progress=False)
    ds = open_dataset(tmp_path / "d")
    assert ds.manifest["variants"] == ["raw", "adapted"]
    np.testing.assert_allclose(ds.clip(0, variant="adapted")["dof_pos"], adapted.dof_pos, atol=2e-6)
    np.testing.assert_allclose(ds.clip(0)["dof_pos"], raw.dof_pos, atol=2e-6)
    np.testing.assert_allclose(ds.clip(1, variant="adapted")["dof_pos"], raw.dof_pos, atol=2e-6)
    assert ds.clips[0]["has_adapted"] and not ds.clips[1]["has_adapted"]
    assert ds.clips[0]["features"]["adaptation_change_rad"] > 0.1
    other = random_motion(300, num_dofs=23, seed=1)
    with pytest.raises(InputError) as err:
        write_dataset(tmp_path / "e", items[:1] + [ClipInput("c", other, {"verdict": "pass", "segments": []})],
                      progress=False)
    assert err.value.code == "robot_mismatch"
    # not strict (the pipeline stage): the bad clip is left out and reported, the rest is written
    summary = write_dataset(tmp_path / "f", items[:1] + [ClipInput("c", other, {"verdict": "pass", "segments": []})],
                            progress=False, strict=False)
    assert summary["clips"] == 1 and summary["skipped"] == {"robot_mismatch": 1}
    assert summary["problems"][0]["clip"] == "c"


def test_reader_survives_pickle_and_fork(small):
    out, inputs, _ = small
    ds = open_dataset(out)
    before = ds.window(1, 0.5, 10, 0.02)["dof_pos"]
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.window(1, 0.5, 10, 0.02)["dof_pos"], before)
    ds._pid = -1   # as if this object had been created in another process
    np.testing.assert_array_equal(ds.window(1, 0.5, 10, 0.02)["dof_pos"], before)


def test_stage_run_takes_keepable_clips(tmp_path):
    from stages.dataset.stage import STAGE

    m = random_motion(240, seed=2)
    npz = tmp_path / "m.npz"
    m.save(npz)
    outcomes = []
    for i, kind in enumerate(("pass", "trimmed", "reject")):
        segs = {"pass": [[0, 240]], "trimmed": [[30, 200]], "reject": []}[kind]
        src = ClipSource(clip_id=f"c{i}", path=f"/data/c{i}_subject2.bvh", sha256=f"{i:064x}", kind="bvh",
                         dataset="LAFAN1", license="CC-BY-NC-ND-4.0")
        summary = {"verdict": {"verdict": kind, "segments": segs, "reasons": [], "num_frames": 240, "fps": 30.0}}
        outcomes.append(ClipOutcome(clip=src, status="rejected" if kind == "reject" else "ok",
                                    artifacts={"retarget": npz}, summaries={"filter": summary},
                                    hashes={"retarget": "ab" * 32, "filter": "cd" * 32}))
    out = tmp_path / "dataset"
    summary = STAGE.run(outcomes, STAGE.settings_type(), RunGlobals(robot="g1"), out)
    assert summary["clips"] == 2 and summary["not_keepable"] == 1
    ds = open_dataset(out)
    assert [c["id"] for c in ds.clips] == ["c0", "c1@30-200"]
    assert ds.clips[1]["subject"] == "subject2" and ds.clips[1]["dataset"] == "LAFAN1"
    assert ds.clips[1]["upstream_hashes"]["filter"] == "cd" * 32


def test_settings_validation():
    from core.errors import ConfigError

    with pytest.raises(ConfigError):
        Settings(codec="gzip", chunk_frames=0)
    with pytest.raises(ConfigError):
        Settings(window_s=12.0)
    with pytest.raises(ConfigError):
        Settings(codec="zstd")


def test_chunked_compressed_layout_reads_same(tmp_path, small):
    out, inputs, _ = small
    write_dataset(tmp_path / "gz", inputs[:2], Settings(codec="gzip", chunk_frames=64), progress=False)
    ds = open_dataset(tmp_path / "gz")
    ref = open_dataset(out)
    np.testing.assert_array_equal(ds.window(1, 0.7, 20, 0.02)["dof_pos"], ref.window(1, 0.7, 20, 0.02)["dof_pos"])


def test_motion_frames_rejects_bad_range():
    m = random_motion(50)
    with pytest.raises(ValueError):
        motion_frames(m, 40, 60)

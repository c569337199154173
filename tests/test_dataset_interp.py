"""The reader's interpolation kernel: exact slerp (vs rotations.slerp in float64), exact holds, batching in steps,
caller-given outputs, reused work buffers that never leak into results, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core import rotations as rot
from stages.dataset import reader as reader_module
from stages.dataset.interp import Interpolator, Scratch
from stages.dataset.reader import open_dataset
from stages.dataset.schema import column_layout
from stages.dataset.settings import Settings
from stages.dataset.synthetic import synthetic_inputs
from stages.dataset.writer import ClipInput, write_dataset
from tests.conftest import require_shared

LINKS = column_layout(29, 17)


def _links_rows(link_rot: np.ndarray) -> np.ndarray:
    """Rows of the ``links`` group (link_pos zero) from (T, 17, 4) quaternions, plus the pad row."""
    t = len(link_rot)
    rows = np.zeros((t + 1, 7 * 17), dtype=np.float32)
    rows[:t, 51:] = link_rot.reshape(t, 68)
    return rows


def _kernel_vs_slerp(link_rot: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """Largest difference to float64 rotations.slerp and largest |norm - 1| over random positions."""
    rows = _links_rows(link_rot)
    j = rng.integers(0, len(link_rot) - 1, 4000)
    w = rng.random(4000).astype(np.float32)
    w[:50] = 0.0
    w[50:100] = 1.0
    got = Interpolator(LINKS)(rows, j, w, ["link_rot"], (4000,), Scratch())["link_rot"]
    q = rows.astype(np.float64)[:, 51:].reshape(-1, 17, 4)
    ref = rot.slerp(q[j], q[j + 1], np.repeat(w.astype(np.float64), 17).reshape(-1, 17))
    return float(np.abs(got - ref).max()), float(np.abs(np.linalg.norm(got, axis=-1) - 1).max())


def test_slerp_kernel_matches_slerp_on_real_neighbouring_frames():
    from core.robot import load_robot, read_unitree_csv

    path = require_shared("lafan1_g1_unitree", "fallAndGetUp3_subject1.csv")
    motion = read_unitree_csv(path, load_robot("g1"))
    link_rot = rot.make_continuous(rot.normalize(motion.link_rot)).astype(np.float32)
    # the angles that occur between neighbouring frames of real motion (30 fps), up to fast falls
    angle = rot.angle_between(link_rot[1:].astype(np.float64), link_rot[:-1].astype(np.float64))
    assert 0.1 < float(angle.max()) < 1.5 and float(np.median(angle)) < 0.05
    err, norm = _kernel_vs_slerp(link_rot, np.random.default_rng(0))
    assert err < 1e-6 and norm < 1e-6


def test_slerp_kernel_exact_at_any_angle_and_sign():
    rng = np.random.default_rng(1)
    q = rot.normalize(rng.normal(size=(600, 17, 4)))        # independent rotations: angles up to pi, dots < 0
    q[100] = q[99]                                           # identical neighbours (angle 0)
    q[201] = -q[200]                                         # same rotation, opposite sign
    q[301] = rot.normalize(q[300] + 1e-5 * rng.normal(size=(17, 4)))   # tiny angle
    q32 = q.astype(np.float32)
    err, norm = _kernel_vs_slerp(q32, rng)
    assert err < 1e-6 and norm < 1e-6
    rows = _links_rows(q32)
    w = np.full(4, 0.3, dtype=np.float32)
    got = Interpolator(LINKS)(rows, np.array([99, 200, 300, 0]), w, ["link_rot"], (4,))["link_rot"]
    np.testing.assert_allclose(got[0], q32[99], atol=1e-7)          # identical: no NaN, the same rotation
    np.testing.assert_allclose(got[1], q32[200], atol=1e-7)         # shorter arc: -q is q
    assert np.all(np.abs(np.sum(got[2] * q32[300], axis=-1)) > 1 - 1e-6)


def test_weight_zero_returns_the_stored_row_bit_for_bit():
    rng = np.random.default_rng(2)
    q = rot.make_continuous(rot.normalize(rng.normal(size=(50, 17, 4)))).astype(np.float32)
    rows = _links_rows(q)
    rows[:-1, :51] = rng.normal(size=(50, 51))
    j = np.arange(49)
    out = Interpolator(LINKS)(rows, j, np.zeros(49, dtype=np.float32), ["link_pos", "link_rot"], (49,))
    np.testing.assert_array_equal(out["link_rot"].reshape(49, 68), rows[:49, 51:])
    np.testing.assert_array_equal(out["link_pos"].reshape(49, 51), rows[:49, :51])
    assert out["link_pos"].flags.c_contiguous and out["link_rot"].flags.c_contiguous


def test_scratch_reuses_and_bounds_memory():
    sc = Scratch(max_bytes=1 << 20)
    a = sc.get("x", (100, 10))
    b = sc.get("x", (50, 10))
    assert np.shares_memory(a, b) and b.shape == (50, 10) and b.flags.c_contiguous
    big = sc.get("y", (1000, 1000))                          # 4 MB > the arena: handed out, not kept
    assert big.shape == (1000, 1000) and sc.nbytes < (1 << 20)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from core.robot import load_robot, read_unitree_csv

    folder = require_shared("lafan1_g1_unitree")
    robot = load_robot("g1")
    items = [ClipInput(p.stem, read_unitree_csv(p, robot), {"verdict": "pass", "segments": []},
                       source_sha256=f"{i:064x}", dataset="LAFAN1")
             for i, p in enumerate(sorted(folder.glob("*.csv")))]
    out = tmp_path_factory.mktemp("real")
    write_dataset(out, items, Settings(shard_mb=2.0), progress=False)
    return out


def test_steps_and_single_windows_equal_one_batch(real, monkeypatch):
    ds = open_dataset(real)
    assert ds.num_clips == 3 and len(ds.manifest["shards"]) > 1
    rng = np.random.default_rng(3)
    wins = rng.integers(0, ds.num_windows, 40)
    batch = ds.sample_windows(wins, 100, 0.02, np.random.default_rng(4))
    monkeypatch.setattr(reader_module, "WORK_BYTES", 1)      # one window per step
    stepped = ds.sample_windows(wins, 100, 0.02, np.random.default_rng(4))
    for name in ("root_pos", "root_rot", "dof_pos", "contacts", "link_pos", "link_rot", "valid"):
        np.testing.assert_array_equal(batch[name], stepped[name])
    for b in (0, 17, 39):
        one = ds.window(int(batch["clip"][b]), float(batch["t0"][b]), 100, 0.02)
        for name in ("root_rot", "dof_vel", "link_rot"):
            np.testing.assert_array_equal(one[name], batch[name][b])
    # results are new arrays: a later batch (reusing the work buffers) leaves them alone
    keep = {k: v.copy() for k, v in batch.items()}
    ds.sample_windows(rng.integers(0, ds.num_windows, 40), 100, 0.02, rng)
    for k, v in keep.items():
        np.testing.assert_array_equal(batch[k], v)


def test_reader_slerp_matches_float64_slerp_on_real_clip(real):
    ds = open_dataset(real)
    clip = 1
    stored = ds.clip(clip, fields=("link_rot", "root_rot"))
    fps = float(ds.clip_fps[clip])
    win = ds.window(clip, 3.3, 150, 0.02, fields=("link_rot", "root_rot"))
    u = (3.3 + 0.02 * np.arange(150)) * fps
    i0 = np.floor(u).astype(int)
    w = u - i0
    for name, n in (("link_rot", 17), ("root_rot", None)):
        q = stored[name].astype(np.float64)
        ww = w if n is None else np.repeat(w, n).reshape(-1, n)
        ref = rot.slerp(q[i0], q[i0 + 1], ww)
        assert np.abs(win[name] - ref).max() < 1e-6


def test_negative_dt_and_caller_outputs(real):
    ds = open_dataset(real)
    fwd = ds.window(0, 1.0, 30, 0.02, fields=("dof_pos", "link_rot"))
    back = ds.window(0, 1.0 + 29 * 0.02, 30, -0.02, fields=("dof_pos", "link_rot"))
    np.testing.assert_allclose(back["dof_pos"][::-1], fwd["dof_pos"], atol=1e-6)
    np.testing.assert_allclose(back["link_rot"][::-1], fwd["link_rot"], atol=1e-6)
    out = {"dof_pos": np.full((2, 30, 29), np.nan, dtype=np.float32)}
    res = ds.windows_batch([0, 2], [1.0, 0.5], 30, 0.02, fields=("dof_pos",), out=out)
    assert res["dof_pos"] is out["dof_pos"] and np.isfinite(out["dof_pos"]).all()
    np.testing.assert_array_equal(out["dof_pos"][0], fwd["dof_pos"])
    with pytest.raises(ValueError, match="out"):
        ds.windows_batch([0], [1.0], 30, 0.02, fields=("dof_pos",), out={"dof_pos": np.zeros((1, 29, 30), np.float32)})


def test_threads_share_a_reader(real):
    ds = open_dataset(real)
    rng = np.random.default_rng(5)
    jobs = [(rng.integers(0, ds.num_windows, 16), int(s)) for s in range(8)]
    ref = [ds.sample_windows(w, 60, 0.02, np.random.default_rng(s))["link_rot"] for w, s in jobs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda job: ds.sample_windows(job[0], 60, 0.02, np.random.default_rng(job[1]))["link_rot"],
                            jobs))
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)


def test_one_link_and_empty_requests(tmp_path):
    write_dataset(tmp_path, synthetic_inputs(2, num_frames=60, seed=4, num_links=1), progress=False)
    ds = open_dataset(tmp_path)
    win = ds.window(0, 0.1, 10, 0.02)
    assert win["link_rot"].shape == (10, 1, 4) and win["link_pos"].shape == (10, 1, 3)
    stored = ds.clip(0, 3, 5, fields=("link_rot",))["link_rot"].astype(np.float64)
    ref = rot.slerp(stored[0], stored[1], np.array([0.0]))          # t = 0.1 s is frame 3 exactly
    np.testing.assert_allclose(win["link_rot"][0], ref, atol=1e-7)
    empty = ds.windows_batch([0, 1], [0.0, 0.1], 0, 0.02)
    assert empty["dof_pos"].shape == (2, 0, 29) and empty["valid"].shape == (2, 0)

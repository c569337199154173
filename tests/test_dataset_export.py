"""Exporters: GMT pickles + YAML index loaded the way GMT's motion library does; Unitree CSV round trip."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import yaml

from core import rotations as rot
from stages.dataset.export import ExportOptions, export_dataset
from stages.dataset.reader import open_dataset
from stages.dataset.settings import Settings
from stages.dataset.synthetic import random_motion
from stages.dataset.writer import ClipInput, write_dataset
from tests.conftest import require_shared

G1_29 = ("left_hip_pitch_joint left_hip_roll_joint left_hip_yaw_joint left_knee_joint left_ankle_pitch_joint "
         "left_ankle_roll_joint right_hip_pitch_joint right_hip_roll_joint right_hip_yaw_joint right_knee_joint "
         "right_ankle_pitch_joint right_ankle_roll_joint waist_yaw_joint waist_roll_joint waist_pitch_joint "
         "left_shoulder_pitch_joint left_shoulder_roll_joint left_shoulder_yaw_joint left_elbow_joint "
         "left_wrist_roll_joint left_wrist_pitch_joint left_wrist_yaw_joint right_shoulder_pitch_joint "
         "right_shoulder_roll_joint right_shoulder_yaw_joint right_elbow_joint right_wrist_roll_joint "
         "right_wrist_pitch_joint right_wrist_yaw_joint").split()


class _PlainDataUnpickler(pickle.Unpickler):
    """Loads only numpy arrays and builtins: proves the export holds plain data (and never runs code)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")
        return super().find_class(module, name)


def gmt_style_load(index_path: Path) -> list[dict]:
    """What GMT's motion library does: YAML (root_path, motions[file, weight]) then one pickle per motion."""
    with open(index_path) as f:
        config = yaml.load(f, Loader=yaml.SafeLoader)
    motions = []
    for entry in config["motions"]:
        assert entry["weight"] >= 0
        with open(Path(config["root_path"]) / entry["file"], "rb") as f:
            motions.append(_PlainDataUnpickler(io.BytesIO(f.read())).load())
    return motions


def _g1_like(seed, frames=240):
    m = random_motion(frames, seed=seed)
    m.dof_names = tuple(G1_29)
    return m


def test_gmt_export_layout_and_values(tmp_path):
    motions = [_g1_like(1), _g1_like(2, 150)]
    items = [ClipInput(f"clip{i}", m, {"verdict": "trimmed" if i else "pass",
                                       "segments": [[0, m.num_frames]] if not i else [[10, 140]]},
                       source_sha256=f"{i:064x}", dataset="demo")
             for i, m in enumerate(motions)]
    write_dataset(tmp_path / "ds", items, Settings(), progress=False)
    summary = export_dataset(tmp_path / "ds", tmp_path / "gmt", ExportOptions(format="gmt"), progress=False)
    assert summary["files"] == 2 and len(summary["dof_names"]) == 23
    assert not any("wrist" in n for n in summary["dof_names"])
    loaded = gmt_style_load(Path(summary["index"]))
    index = yaml.safe_load(Path(summary["index"]).read_text())
    assert [e["file"] for e in index["motions"]] == ["clip0.pkl", "clip1__10-140.pkl"]
    assert all(1 <= e["difficulty"] <= 10 for e in index["motions"])
    keep = [i for i, n in enumerate(G1_29) if "wrist" not in n]
    for d, m, (a, b) in zip(loaded, motions, [(0, 240), (10, 140)]):
        # exactly the keys and types of the GMT example files (../shared/data/gmt_motions/*.pkl)
        assert set(d) == {"fps", "root_pos", "root_rot", "dof_pos", "local_body_pos", "link_body_list"}
        assert isinstance(d["fps"], float) and d["fps"] == 30.0
        assert isinstance(d["link_body_list"], list) and d["link_body_list"][0] == "pelvis"
        for k in ("root_pos", "root_rot", "dof_pos", "local_body_pos"):
            assert d[k].dtype == np.float32 and d[k].shape[0] == b - a
        np.testing.assert_allclose(d["root_pos"], m.root_pos[a:b], atol=1e-5)
        np.testing.assert_allclose(d["dof_pos"], m.dof_pos[a:b][:, keep], atol=1e-5)
        # local body positions are link positions in the root frame
        world = rot.rotate(d["root_rot"][:, None, :].astype(np.float64), d["local_body_pos"].astype(np.float64)) \
            + d["root_pos"][:, None, :]
        np.testing.assert_allclose(world, m.link_pos[a:b], atol=1e-4)
        # GMT differentiates dof_pos itself: finite differences must match the stored velocities
        vel = np.diff(d["dof_pos"], axis=0) * d["fps"]
        mid = 0.5 * (m.dof_vel[a:b][:-1] + m.dof_vel[a:b][1:])[:, keep]
        assert np.median(np.abs(vel - mid)) < 0.05


def test_gmt_export_resamples(tmp_path):
    m = _g1_like(3, 301)
    write_dataset(tmp_path / "ds", [ClipInput("c", m, {"verdict": "pass", "segments": []})], progress=False)
    summary = export_dataset(tmp_path / "ds", tmp_path / "out", ExportOptions(format="gmt", fps=50.0, dofs="all"),
                             progress=False)
    (d,) = gmt_style_load(Path(summary["index"]))
    assert d["fps"] == 50.0 and d["dof_pos"].shape == (501, 29)
    np.testing.assert_allclose(d["dof_pos"][::5], m.dof_pos[::3], atol=1e-5)   # shared instants t = k/10 s


def test_unitree_csv_round_trip_real_clip(tmp_path):
    from core.robot import load_robot, read_unitree_csv

    src = require_shared("lafan1_g1_unitree", "fallAndGetUp3_subject1.csv")
    robot = load_robot("g1")
    motion = read_unitree_csv(src, robot)
    write_dataset(tmp_path / "ds", [ClipInput("fall", motion, {"verdict": "pass", "segments": []},
                                              source_path=str(src))], progress=False)
    summary = export_dataset(tmp_path / "ds", tmp_path / "csv", ExportOptions(format="csv"), progress=False)
    assert summary["dof_names"] == list(motion.dof_names)
    out = tmp_path / "csv" / "fall.csv"
    # the way BeyondMimic's csv_to_npz reads it: a headerless float table
    table = np.loadtxt(out, delimiter=",")
    original = np.loadtxt(src, delimiter=",")
    assert table.shape == original.shape == (3066, 36)
    np.testing.assert_allclose(table[:, :3], original[:, :3], atol=2e-6)
    np.testing.assert_allclose(table[:, 7:], original[:, 7:], atol=2e-6)
    q = np.where(np.sum(table[:, 3:7] * original[:, 3:7], axis=1, keepdims=True) < 0, -1, 1) * table[:, 3:7]
    np.testing.assert_allclose(q, original[:, 3:7], atol=2e-6)
    # and our own Unitree reader accepts it
    again = read_unitree_csv(out, robot)
    np.testing.assert_allclose(again.dof_pos, motion.dof_pos, atol=2e-6)


def test_export_cli_and_split_filter(tmp_path):
    import subprocess
    import sys

    items = [ClipInput(f"c{i}", _g1_like(i, 90), {"verdict": "pass", "segments": []}, source_sha256=f"{i:064x}")
             for i in range(6)]
    write_dataset(tmp_path / "ds", items, Settings(split_train=0.5, split_val=0.25), progress=False)
    ds = open_dataset(tmp_path / "ds")
    n_train = len(ds.split_clips("train"))
    res = subprocess.run([sys.executable, "-m", "pipeline", "export", str(tmp_path / "ds"), "--format", "csv",
                          "--out", str(tmp_path / "csv"), "--split", "train", "--no-progress"],
                         cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "csv").glob("*.csv"))) == n_train > 0


def test_gmt_export_has_the_layout_of_the_real_gmt_example_files(tmp_path):
    """Our export and GMT's own example motions (read with the same code-free unpickler) agree on keys,
    types, dtypes and array ranks; the dof count is GMT's 23."""
    folder = require_shared("gmt_motions")
    examples = [_PlainDataUnpickler(io.BytesIO(p.read_bytes())).load() for p in sorted(folder.glob("*.pkl"))]
    assert len(examples) == 2
    m = _g1_like(3)
    write_dataset(tmp_path / "ds", [ClipInput("c", m, {"verdict": "pass", "segments": [[0, m.num_frames]]},
                                              source_sha256="0" * 64, dataset="demo")], Settings(), progress=False)
    summary = export_dataset(tmp_path / "ds", tmp_path / "gmt", ExportOptions(format="gmt"), progress=False)
    ours = gmt_style_load(Path(summary["index"]))[0]
    for example in examples:
        assert set(ours) == set(example)
        for key, value in example.items():
            assert type(ours[key]) is type(value), key
            if isinstance(value, np.ndarray):
                assert ours[key].dtype == value.dtype and ours[key].ndim == value.ndim, key
                assert ours[key].shape[1:] == value.shape[1:] or key == "local_body_pos", key
        assert example["dof_pos"].shape[1] == ours["dof_pos"].shape[1] == 23

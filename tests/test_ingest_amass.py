"""AMASS SMPL / SMPL-H / SMPL-X ingest with synthetic body-model files in the real layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InputError
from stages.ingest.amass import MeanShapeWarning, model_rest_joints, read_amass
from stages.ingest.api import ingest_file
from stages.ingest.smpl_tables import BODY_PARENTS, MEAN_SHAPE_REST_JOINTS

# Real model layouts: (vertices, joints, shape components, pose-blend components, faces)
LAYOUT = {
    "smpl": (6890, 24, 300, 207, 13776),
    "smplh": (6890, 52, 16, 459, 13776),
    "smplx": (10475, 55, 400, 486, 20908),
}
SMPLH_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 22, 23, 20, 25,
                 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 21, 37, 38, 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50]
SMPLX_PARENTS = SMPLH_PARENTS[:22] + [15, 15, 15] + [p + 3 if p >= 22 else p for p in SMPLH_PARENTS[22:]]
SMPL_PARENTS = list(BODY_PARENTS) + [20, 21]


def write_body_model(path: Path, model_type: str, seed: int) -> dict[str, np.ndarray]:
    """A random body model with the keys and array shapes of the real .npz files."""
    rng = np.random.default_rng(seed)
    V, J, S, P, F = LAYOUT[model_type]
    parents = {"smpl": SMPL_PARENTS, "smplh": SMPLH_PARENTS, "smplx": SMPLX_PARENTS}[model_type]
    # vertices scattered around the mean-shape joints so the regressed skeleton is human-sized
    anchor = np.concatenate([MEAN_SHAPE_REST_JOINTS, np.repeat(MEAN_SHAPE_REST_JOINTS[20:22], J, axis=0)])[:J]
    owner = rng.integers(0, J, size=V)
    v_template = anchor[owner] + rng.normal(0, 0.01, size=(V, 3))
    regressor = np.zeros((J, V))
    for j in range(J):
        idx = np.flatnonzero(owner == j)
        regressor[j, idx] = rng.random(len(idx))
        regressor[j] /= regressor[j].sum()
    kintree = np.array([[4294967295] + parents[1:], list(range(J))], dtype=np.int64)
    arrays = {
        "v_template": v_template,
        "shapedirs": rng.normal(0, 0.003, size=(V, 3, S)),
        "posedirs": rng.normal(0, 0.001, size=(V, 3, P)).astype(np.float32),
        "J_regressor": regressor,
        "weights": rng.dirichlet(np.ones(J), size=V).astype(np.float32),
        "kintree_table": kintree,
        "f": rng.integers(0, V, size=(F, 3)).astype(np.uint32),
    }
    if model_type in ("smplh", "smplx"):
        for side in "lr":
            arrays[f"hands_components{side}"] = rng.normal(size=(45, 45)).astype(np.float32)
            arrays[f"hands_mean{side}"] = rng.normal(0, 0.1, size=45).astype(np.float32)
    if model_type == "smplx":
        arrays["lmk_faces_idx"] = rng.integers(0, F, size=51).astype(np.int64)
        arrays["lmk_bary_coords"] = rng.dirichlet(np.ones(3), size=51)
        arrays["dynamic_lmk_faces_idx"] = rng.integers(0, F, size=(79, 17)).astype(np.int64)
        arrays["dynamic_lmk_bary_coords"] = rng.dirichlet(np.ones(3), size=(79, 17))
        # the real SMPL-X files carry two pickled dicts: the loader must skip them, never unpickle
        arrays["joint2num"] = np.array({"pelvis": 0}, dtype=object)
        arrays["part2num"] = np.array({"global": 0}, dtype=object)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


@pytest.fixture(scope="module")
def body_models(tmp_path_factory) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    root = tmp_path_factory.mktemp("body_models")
    models = {
        "smplh": write_body_model(root / "smplh" / "SMPLH_MALE.npz", "smplh", 1),
        "smplx": write_body_model(root / "smplx" / "female" / "model.npz", "smplx", 2),
        "smpl": write_body_model(root / "SMPL_NEUTRAL.npz", "smpl", 3),
    }
    return root, models


def motion_arrays(model_type: str, T: int, fps: float, seed: int, stageii: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    width = {"smpl": 72, "smplh": 156, "smplx": 165}[model_type]
    poses = rng.normal(0, 0.2, size=(T, width))
    poses[:, :3] = [np.pi / 2, 0, 0]                      # Y-up body standing in the Z-up world
    poses[:, :66] += np.cumsum(rng.normal(0, 0.01, size=(T, 66)), axis=0)
    trans = np.column_stack([np.linspace(0, 1, T), np.zeros(T), np.full(T, 0.9)])
    out = {"poses": poses, "trans": trans, "betas": rng.normal(0, 1.0, size=16),
           "gender": np.array({"smplx": "female", "smplh": "male"}.get(model_type, "neutral"))}
    if model_type == "smplx":
        out["mocap_frame_rate"] = np.array(fps)
        out["surface_model_type"] = np.array("smplx")
        if stageii:
            out["root_orient"] = poses[:, :3]
            out["pose_body"] = poses[:, 3:66]
            out["pose_hand"] = poses[:, 75:165]
            out["pose_jaw"] = poses[:, 66:69]
            out["pose_eye"] = poses[:, 69:75]
    else:
        out["mocap_framerate"] = np.array(fps)
        if model_type == "smplh":
            out["dmpls"] = rng.normal(size=(T, 8))
    return out


def smplx_reference_joints(model: dict[str, np.ndarray], clip: dict[str, np.ndarray], n_betas: int) -> np.ndarray:
    """Posed body joints (T, 22, 3) from smplx's own LBS on the model arrays (+ transl)."""
    from smplx.lbs import lbs

    J = model["kintree_table"].shape[1]
    T = clip["poses"].shape[0]
    full = np.zeros((T, J * 3))
    full[:, :66] = clip["poses"][:, :66]
    parents = model["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    with torch.no_grad():
        _, joints = lbs(torch.as_tensor(np.repeat(clip["betas"][None, :n_betas], T, 0)), torch.as_tensor(full),
                        torch.as_tensor(model["v_template"]), torch.as_tensor(model["shapedirs"][:, :, :n_betas]),
                        torch.as_tensor(model["posedirs"].reshape(-1, model["posedirs"].shape[-1]).T.astype(np.float64)),
                        torch.as_tensor(model["J_regressor"]), torch.as_tensor(parents),
                        torch.as_tensor(model["weights"].astype(np.float64)))
    return joints.numpy()[:, :22] + clip["trans"][:, None, :]


@pytest.mark.parametrize("model_type,n_betas", [("smplh", 16), ("smplx", 16), ("smpl", 16)])
def test_smplx_fk_matches_smplx_lbs(tmp_path, body_models, model_type, n_betas):
    root, models = body_models
    clip = motion_arrays(model_type, T=40, fps=30.0, seed=7)
    name = "clip_stageii.npz" if model_type == "smplx" else "clip_poses.npz"
    np.savez(tmp_path / name, **clip)
    m = ingest_file(tmp_path / name, fps=30.0, body_models=str(root))
    assert m.provenance["fk"] == "smplx" and m.provenance["model_type"] == model_type
    assert m.provenance["num_betas"] == str(n_betas)
    ref = smplx_reference_joints(models[model_type], clip, n_betas)
    assert m.num_frames == 40
    assert np.abs(m.positions - ref).max() < 1e-6


def test_all_16_betas_are_used(tmp_path, body_models):
    """smplx's classes keep 10 betas unless told; the last 6 must change the skeleton."""
    root, models = body_models
    betas = np.zeros(16)
    betas[10:] = 2.0
    j16, used = model_rest_joints(root / "smplh" / "SMPLH_MALE.npz", "smplh", betas)
    j10, _ = model_rest_joints(root / "smplh" / "SMPLH_MALE.npz", "smplh", betas[:10])
    assert used == 16
    assert np.abs(j16 - j10).max() > 1e-3
    ref = models["smplh"]["J_regressor"] @ (models["smplh"]["v_template"] + models["smplh"]["shapedirs"] @ betas)
    assert np.allclose(j16, ref[:22])


def test_smplx_stageii_layout_and_resampling(tmp_path, body_models):
    root, models = body_models
    clip = motion_arrays("smplx", T=121, fps=120.0, seed=3, stageii=True)
    np.savez(tmp_path / "walk_stageii.npz", **clip)
    m = ingest_file(tmp_path / "walk_stageii.npz", fps=30.0, body_models=str(root))
    assert m.fps == 30.0 and m.num_frames == 31 and m.duration == pytest.approx(1.0)
    ref = smplx_reference_joints(models["smplx"], clip, 16)
    assert np.abs(m.positions - ref[::4]).max() < 1e-6
    assert m.provenance["gender"] == "female" and "smplx" in m.provenance["body_model"]


def test_smplh_file_with_smplx_type_is_rejected(tmp_path):
    clip = motion_arrays("smplh", T=10, fps=60.0, seed=1)
    clip["surface_model_type"] = np.array("smplx")
    np.savez(tmp_path / "mixed_poses.npz", **clip)
    with pytest.raises(InputError) as err:
        read_amass(tmp_path / "mixed_poses.npz")
    assert err.value.code == "model_mismatch" and "SMPL-H and SMPL-X" in err.value.message


def test_mean_shape_fallback_warns_and_records(tmp_path):
    clip = motion_arrays("smplh", T=20, fps=60.0, seed=2)
    np.savez(tmp_path / "a_poses.npz", **clip)
    with pytest.warns(MeanShapeWarning):
        m = ingest_file(tmp_path / "a_poses.npz", fps=30.0)
    assert m.provenance["fk"] == "mean_shape_skeleton" and "approximate" in m.provenance["notes"]
    assert m.num_frames == 10   # 19/60 s at 30 fps -> frames 0..9 (duration 0.3 s within one frame of 0.3167)


def test_missing_models_error_when_required(tmp_path, body_models):
    clip = motion_arrays("smplh", T=20, fps=60.0, seed=2)
    clip["gender"] = np.array("female")      # only SMPLH_MALE exists: no neutral fallback either
    np.savez(tmp_path / "b_poses.npz", **clip)
    with pytest.raises(InputError) as err:
        ingest_file(tmp_path / "b_poses.npz", require_body_models=True)
    assert err.value.code == "missing_body_model"
    root, _ = body_models
    with pytest.raises(InputError) as err:
        ingest_file(tmp_path / "b_poses.npz", body_models=str(root), require_body_models=True)
    assert err.value.code == "missing_body_model" and "SMPLH female" in err.value.message


@pytest.mark.parametrize("name", ["s1_stagei.npz", "shape.npz"])
def test_shape_files_are_skipped(tmp_path, name):
    np.savez(tmp_path / name, betas=np.zeros(16), gender=np.array("male"))
    with pytest.raises(InputError) as err:
        ingest_file(tmp_path / name)
    assert err.value.code == "not_a_motion"


def test_real_layout_smplx_model_objects_never_unpickled(tmp_path, body_models):
    root, _ = body_models
    import stages.ingest.amass as amass

    arrays, skipped = amass.read_npz_arrays(root / "smplx" / "female" / "model.npz")
    assert sorted(skipped) == ["joint2num", "part2num"]
    assert arrays["shapedirs"].shape == (10475, 3, 400)

"""AMASS ``.npz`` (SMPL, SMPL-H, SMPL-X) -> :class:`SourceMotion`.

Detection: ``surface_model_type`` when present, otherwise the pose width
(SMPL 72, SMPL-H 156, SMPL-X 165) and the SMPL-X ``root_orient`` /
``pose_body`` keys. Frame rate from ``mocap_framerate`` or
``mocap_frame_rate``. Body-shape files (``*_stagei.npz``, ``shape.npz``) are
skipped with reason ``not_a_motion``.

Skeleton: with a body-model folder the 22 body joints come from the model
(``J_regressor @ (v_template + shapedirs @ betas)`` through ``smplx.lbs`` with
*all* of the clip's betas the model supports); otherwise from the SMPL neutral
mean shape (approximate; a warning says so). Forward kinematics is rigid, so
joint positions equal those of ``smplx``'s own forward pass (pose blend shapes
only move vertices).

World frame: AMASS is Z-up already. SMPL quirk honoured: the pelvis sits at
``trans + J_rest[0]`` (the root rotates about its own joint).
"""

from __future__ import annotations

import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import rotations as rot
from core.body_models import find_model_file
from core.errors import InputError
from stages.ingest.build import SourceMotion
from stages.ingest.skeletons import SMPL_BODY, SMPL_NATIVE_TO_Z_UP
from stages.ingest.smpl_tables import (
    BODY_JOINT_NAMES,
    BODY_PARENTS,
    MEAN_SHAPE_REST_JOINTS,
    MODEL_JOINTS,
    NUM_BODY_JOINTS,
)

_POSE_WIDTH = {3 * n: model for model, n in MODEL_JOINTS.items()}
#: Shape-space size of each model type when its shapedirs are the full ones.
_SMPLX_EXPRESSION_DIMS = 100


class MeanShapeWarning(UserWarning):
    """AMASS clip ingested on the approximate SMPL mean-shape skeleton.

    Raised from one code location with one message, so Python's default
    warning filter shows it once per process, not once per clip.
    """


@dataclass(frozen=True)
class AmassClip:
    """The motion part of an AMASS file.

    Attributes:
        model_type: "smpl" | "smplh" | "smplx".
        body_pose: (T, 22, 3) axis-angle (rad): root orientation + 21 body joints.
        trans: (T, 3) root translation (m, Z-up world).
        betas: (B,) shape coefficients.
        gender: "neutral" | "male" | "female".
        fps: capture frame rate (Hz).
    """

    model_type: str
    body_pose: np.ndarray
    trans: np.ndarray
    betas: np.ndarray
    gender: str
    fps: float


def read_npz_arrays(path: str | Path, keys: tuple[str, ...] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Arrays of an ``.npz`` (all, or ``keys``), never unpickling.

    Each member's ``.npy`` header is checked before its data is read: object
    arrays (pickled) are skipped and listed in ``skipped`` (real SMPL-X model
    files carry two such dictionaries that nothing here needs), and a header
    claiming more data than the member holds is rejected instead of
    allocating it. Raises :class:`InputError` (``unreadable``,
    ``missing_file``) for anything that is not a sound archive.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    fmt = np.lib.format
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                if keys is not None and key not in keys:
                    continue
                with archive.open(info) as member:
                    version = fmt.read_magic(member)
                    if version == (1, 0):
                        shape, fortran, dtype = fmt.read_array_header_1_0(member)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = fmt.read_array_header_2_0(member)
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                    if dtype.hasobject:
                        skipped.append(key)
                        continue
                    need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                    if need > info.file_size:
                        raise ValueError(f"array '{key}' declares {need} bytes but holds {info.file_size}")
                with archive.open(info) as member:
                    arrays[key] = fmt.read_array(member, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, "missing_file", "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "unreadable", "is a folder, not an .npz archive") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, NotImplementedError,
            struct.error, UnicodeDecodeError, RuntimeError, OverflowError, TypeError, SyntaxError) as exc:
        raise InputError(path, "unreadable",
                         f"not a readable .npz archive (truncated or corrupted: {exc.__class__.__name__}: {exc})") from None
    return arrays, skipped


def _scalar_str(value: np.ndarray | None) -> str:
    if value is None:
        return ""
    item = np.asarray(value).reshape(-1)
    if item.size == 0:
        return ""
    v = item[0]
    return (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip().lower()


def read_amass(path: str | Path) -> AmassClip:
    """Read and validate an AMASS motion file (see the module docstring)."""
    path = Path(path)
    arrays, skipped = read_npz_arrays(path)
    if "poses" in skipped or "trans" in skipped:
        raise InputError(path, "pickled_object", "pose arrays are pickled Python objects, which are never loaded")
    name = path.name.lower()
    has_pose = "poses" in arrays or ("root_orient" in arrays and "pose_body" in arrays)
    if name.endswith("_stagei.npz") or name == "shape.npz" or (not has_pose and "betas" in arrays):
        raise InputError(path, "not_a_motion", "a body-shape file (stagei / shape.npz: betas and gender only), "
                                               "not a motion; skipped")
    if not has_pose:
        raise InputError(path, "not_amass", f"no 'poses' array (keys: {', '.join(sorted(arrays)) or 'none'}); "
                                            "not an AMASS motion file")
    fps_key = "mocap_framerate" if "mocap_framerate" in arrays else "mocap_frame_rate"
    if fps_key not in arrays:
        raise InputError(path, "bad_fps", "no 'mocap_framerate' or 'mocap_frame_rate'; the frame rate is unknown")
    try:
        fps = float(np.asarray(arrays[fps_key]).reshape(-1)[0])
    except (ValueError, TypeError, IndexError):
        raise InputError(path, "bad_fps", f"'{fps_key}' is not a number") from None
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(path, "bad_fps", f"'{fps_key}' = {fps} is not a positive frame rate")

    surface = _scalar_str(arrays.get("surface_model_type"))
    if "poses" in arrays:
        poses = np.asarray(arrays["poses"])
        if poses.ndim != 2 or poses.shape[1] not in _POSE_WIDTH:
            raise InputError(path, "bad_shape", f"'poses' has shape {poses.shape}; expected (T, 72) SMPL, (T, 156) "
                                                "SMPL-H or (T, 165) SMPL-X")
        model_type = _POSE_WIDTH[poses.shape[1]]
        body = poses[:, :3 * NUM_BODY_JOINTS]
    else:
        model_type = "smplx"
        root, pose_body = np.asarray(arrays["root_orient"]), np.asarray(arrays["pose_body"])
        if root.ndim != 2 or root.shape[1] != 3 or pose_body.shape != (root.shape[0], 63):
            raise InputError(path, "bad_shape", f"'root_orient' {root.shape} / 'pose_body' {pose_body.shape}; "
                                                "expected (T, 3) and (T, 63)")
        body = np.concatenate([root, pose_body], axis=1)
    if surface and surface not in MODEL_JOINTS:
        raise InputError(path, "bad_model_type", f"unknown surface_model_type {surface!r}")
    if surface and surface != model_type:
        width = arrays["poses"].shape[1] if "poses" in arrays else 165
        raise InputError(path, "model_mismatch", f"surface_model_type says {surface!r} but the pose width ({width}) "
                                                 f"is that of {model_type!r} (SMPL-H and SMPL-X files mixed up?)")
    if not np.issubdtype(body.dtype, np.number):
        raise InputError(path, "bad_shape", f"'poses' has non-numeric dtype {body.dtype}")
    if "trans" not in arrays:
        raise InputError(path, "missing_array", "no 'trans' array (root translation)")
    trans = np.asarray(arrays["trans"])
    if trans.ndim != 2 or trans.shape != (body.shape[0], 3) or not np.issubdtype(trans.dtype, np.number):
        raise InputError(path, "bad_shape", f"'trans' has shape {trans.shape}; expected ({body.shape[0]}, 3)")
    betas = np.asarray(arrays.get("betas", np.zeros(10)), dtype=np.float64) if np.issubdtype(
        np.asarray(arrays.get("betas", np.zeros(1))).dtype, np.number) else None
    if betas is None:
        raise InputError(path, "bad_shape", "'betas' is not numeric")
    if betas.ndim == 2:
        betas = betas[0]
    if betas.ndim != 1:
        raise InputError(path, "bad_shape", f"'betas' has shape {betas.shape}; expected (B,)")
    body = body.astype(np.float64)
    trans = trans.astype(np.float64)
    for key, value in (("poses", body), ("trans", trans), ("betas", betas)):
        if not np.all(np.isfinite(value)):
            raise InputError(path, "non_finite", f"NaN or Inf in '{key}'")
    if body.shape[0] < 2:
        raise InputError(path, "too_short", f"{body.shape[0]} frame(s); a clip needs at least 2")
    gender = _scalar_str(arrays.get("gender")) or "neutral"
    if gender not in ("neutral", "male", "female"):
        gender = "neutral"
    return AmassClip(model_type=model_type, body_pose=body.reshape(-1, NUM_BODY_JOINTS, 3), trans=trans,
                     betas=betas, gender=gender, fps=fps)


def find_body_model(folder: str | Path, model_type: str, gender: str) -> Path | None:
    """The body-model ``.npz`` for a model type and gender in ``folder``.

    Looks for the smplx package layout (``smplh/SMPLH_MALE.npz``,
    ``SMPLX_NEUTRAL.npz``) and the AMASS layout (``smplh/male/model.npz``),
    falling back to the neutral model when the gendered one is missing
    (``core/body_models.py``, which the DAG also uses to key ingest).
    """
    return find_model_file(folder, model_type, gender)


_MODEL_KEYS = ("v_template", "shapedirs", "J_regressor", "kintree_table")


def model_rest_joints(model_path: str | Path, model_type: str, betas: np.ndarray) -> tuple[np.ndarray, int]:
    """Rest positions (22, 3) of the body joints of a shaped body model.

    Computed with ``smplx.lbs.blend_shapes`` / ``vertices2joints`` using as
    many of ``betas`` as the model has shape components (smplx's classes would
    silently keep 10). Returns ``(joints in the native Y-up frame (m), betas used)``.
    """
    import torch
    from smplx.lbs import blend_shapes, vertices2joints

    model_path = Path(model_path)
    arrays, _ = read_npz_arrays(model_path, _MODEL_KEYS)
    missing = [k for k in _MODEL_KEYS if k not in arrays]
    if missing:
        raise InputError(model_path, "bad_body_model", f"body-model file lacks {', '.join(missing)}")
    v_template = np.asarray(arrays["v_template"], dtype=np.float64)
    shapedirs = np.asarray(arrays["shapedirs"], dtype=np.float64)
    regressor = np.asarray(arrays["J_regressor"], dtype=np.float64)
    kintree = np.asarray(arrays["kintree_table"])
    n_joints = MODEL_JOINTS[model_type]
    V = v_template.shape[0] if v_template.ndim == 2 else -1
    if (v_template.ndim != 2 or v_template.shape[1] != 3 or shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3)
            or regressor.shape != (n_joints, V) or kintree.shape != (2, n_joints)):
        raise InputError(model_path, "bad_body_model",
                         f"not a {model_type} model: v_template {v_template.shape}, shapedirs {shapedirs.shape}, "
                         f"J_regressor {regressor.shape}, kintree_table {kintree.shape}")
    parents = kintree[0].astype(np.int64)
    parents[0] = -1
    if not np.array_equal(parents[:NUM_BODY_JOINTS], BODY_PARENTS):
        raise InputError(model_path, "bad_body_model", "kinematic tree differs from the SMPL body tree")
    n_shape = shapedirs.shape[2]
    if model_type == "smplx":
        n_shape = n_shape - _SMPLX_EXPRESSION_DIMS if n_shape >= 300 + _SMPLX_EXPRESSION_DIMS else min(n_shape, 10)
    used = min(len(betas), n_shape)
    if used < len(betas) and np.any(np.abs(betas[used:]) > 0):
        warnings.warn(f"{model_path}: the clip has {len(betas)} betas but the model only {n_shape} shape "
                      f"components; the last {len(betas) - used} are ignored", stacklevel=2)
    with torch.no_grad():
        b = torch.as_tensor(betas[None, :used], dtype=torch.float64)
        v = torch.as_tensor(v_template[None], dtype=torch.float64) + blend_shapes(
            b, torch.as_tensor(shapedirs[:, :, :used], dtype=torch.float64))
        joints = vertices2joints(torch.as_tensor(regressor, dtype=torch.float64), v)[0].numpy()
    if not np.all(np.isfinite(joints)):
        raise InputError(model_path, "bad_body_model", "body model gives non-finite joints")
    return joints[:NUM_BODY_JOINTS], used


def is_mean_shape(clip: AmassClip) -> bool:
    """Whether the clip's body is the SMPL neutral mean shape (SMPL, neutral, all betas zero), for which the
    built-in mean-shape skeleton is exact rather than an approximation."""
    return clip.model_type == "smpl" and clip.gender == "neutral" and not np.any(clip.betas)


def amass_source(path: str | Path, body_models: str | None = None,
                 require_body_models: bool = False) -> tuple[SourceMotion, dict[str, str]]:
    """AMASS file -> Z-up local transforms on the 22 SMPL body joints + provenance."""
    path = Path(path)
    clip = read_amass(path)
    if body_models and not Path(body_models).is_dir():
        raise InputError(path, "missing_body_model", f"body-model folder {body_models} does not exist")
    model_file = find_body_model(body_models, clip.model_type, clip.gender) if body_models else None
    info = {"fk": "", "model_type": clip.model_type, "gender": clip.gender, "source_fps": f"{clip.fps:g}",
            "source_frames": str(clip.body_pose.shape[0])}
    if model_file is not None:
        rest, used = model_rest_joints(model_file, clip.model_type, clip.betas)
        info.update(fk="smplx", body_model=str(model_file), num_betas=str(used),
                    notes=f"{clip.model_type} body model, {used} betas, joints via smplx.lbs")
    else:
        if require_body_models:
            where = f"in {body_models}" if body_models else "(no body-model folder configured)"
            raise InputError(path, "missing_body_model",
                             f"no {clip.model_type.upper()} {clip.gender} body-model file {where} and body models "
                             "are required")
        rest = MEAN_SHAPE_REST_JOINTS
        if is_mean_shape(clip):
            # the skeleton IS this clip's body (the demo corpus is built this way): exact, nothing to warn about
            info.update(fk="mean_shape_skeleton",
                        notes="SMPL neutral mean shape (betas zero): the built-in skeleton is exact")
        else:
            warnings.warn("AMASS clips ingested on the SMPL neutral mean-shape skeleton (no body-model files): joint "
                          "positions are approximate (betas ignored)", MeanShapeWarning, stacklevel=2)
            info.update(fk="mean_shape_skeleton",
                        notes=f"approximate shape: SMPL neutral mean-shape skeleton for a {clip.model_type} clip, "
                              "betas ignored")
    c = SMPL_NATIVE_TO_Z_UP
    c_inv = rot.conjugate(c)
    T = clip.body_pose.shape[0]
    local = rot.from_rotvec(clip.body_pose)                      # (T, 22, 4) native frame
    quats = rot.multiply(rot.multiply(c, local), c_inv)
    quats[:, 0] = rot.multiply(local[:, 0], c_inv)               # root: world <- native, then native <- Z-up rest
    offsets_native = rest - rest[BODY_PARENTS.clip(min=0)]
    offsets_native[0] = 0.0
    rest_offsets = rot.rotate(c, offsets_native)
    trans = np.broadcast_to(rest_offsets, (T, NUM_BODY_JOINTS, 3)).copy()
    trans[:, 0] = clip.trans + rest[0]                           # SMPL: pelvis at trans + J_rest[0]
    src = SourceMotion(names=BODY_JOINT_NAMES, parents=BODY_PARENTS, translations=trans, local_quats=quats,
                       rest_offsets=rest_offsets, fps=clip.fps, skeleton=SMPL_BODY)
    return src, info

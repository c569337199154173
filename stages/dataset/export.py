"""Export a dataset to the formats peer trainers read (METHODS.md §6).

* ``gmt``: one pickle dict per clip entry in the GMR/GMT layout — ``fps``
  (float), ``root_pos`` (T, 3) float32, ``root_rot`` (T, 4) float32 xyzw,
  ``dof_pos`` (T, D) float32, ``local_body_pos`` (T, B, 3) float32 (key link
  positions in the root frame), ``link_body_list`` (B names) — plus the YAML
  index GMT's motion library reads (``root_path``, ``motions`` with ``file``
  and ``weight``; we add ``description`` and ``difficulty``).
* ``csv``: Unitree / BeyondMimic CSV — no header; per row root x y z (m),
  root quaternion x y z w, joint angles (rad) in the dataset's dof order
  (URDF order for the built-in robots); 30 fps by default.
* ``beyondmimic``: one npz per clip entry as BeyondMimic's motion loader
  (HybridRobotics whole_body_tracking, mjlab) reads it, at its 50 Hz control
  rate by default: ``fps``, ``joint_pos``, ``joint_vel``, ``body_pos_w``,
  ``body_quat_w`` (w x y z), ``body_lin_vel_w``, ``body_ang_vel_w``, joints and
  bodies in Isaac Lab's breadth-first order (see :mod:`stages.dataset.beyondmimic`).

``variant`` selects raw, adapted or simulated motion; a dataset without that
variant is refused (``variant_missing``), and entries without their own
motion of that variant are left out and counted (``without_variant``), never
silently exported as raw.

These files are written for other programs; this project never reads pickles.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core import rotations as rot
from core.errors import InputError
from core.npzio import atomic_write_bytes, save_npz
from core.progress import progress_iter
from stages.dataset.reader import MotionDataset, open_dataset

FORMATS = ("gmt", "csv", "beyondmimic")
#: pickle protocol of the GMT files (readable by Python >= 3.4, as GMT's environments use)
PICKLE_PROTOCOL = 4


@dataclass(frozen=True)
class ExportOptions:
    """What to export.

    Attributes:
        format: "gmt" | "csv" | "beyondmimic".
        split: "train" | "val" | "test" | "all".
        variant: "raw" | "adapted" | "simulated" (the dataset must have it; entries without one are left out).
        fps: output frame rate, Hz; None = the stored rate (gmt), 30 (csv) or 50 (beyondmimic).
        dofs: "all", "gmt23" (the G1 23-DoF subset GMT's policies use: the
            29-DoF list without the wrist joints) or "auto" (gmt23 for a 29-DoF
            G1 in gmt format, else all).
    """

    format: str = "gmt"
    split: str = "all"
    variant: str = "raw"
    fps: float | None = None
    dofs: str = "auto"


def file_stem(clip_id: str) -> str:
    """A file name for a clip id ('@' of trimmed segments becomes '__')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", clip_id.replace("@", "__"))


def dof_selection(ds: MotionDataset, options: ExportOptions) -> list[int]:
    names = list(ds.dof_names)
    mode = options.dofs
    if mode == "auto":
        mode = "gmt23" if (options.format == "gmt" and ds.robot == "g1" and len(names) == 29) else "all"
    if mode == "all":
        return list(range(len(names)))
    if mode == "gmt23":
        keep = [i for i, n in enumerate(names) if "wrist" not in n]
        if len(keep) != 23:
            raise InputError(ds.path, "dof_mismatch", f"gmt23 needs the 29-DoF G1 joint list; dataset has {len(names)} "
                                                      f"joints, {len(keep)} without wrists")
        return keep
    raise InputError(ds.path, "bad_option", f"dofs must be all, gmt23 or auto, not {mode!r}")


def resampled(ds: MotionDataset, clip: int, fps: float | None, variant: str, fields: tuple[str, ...]
              ) -> tuple[float, dict[str, np.ndarray]]:
    """A clip entry's fields at ``fps`` (slerp for rotations); the stored frames when fps is None or equal."""
    stored = float(ds.clip_fps[clip])
    if fps is None or abs(fps - stored) < 1e-9:
        return stored, ds.clip(clip, variant=variant, fields=fields)
    count = len(rot.resample_times(int(ds.clip_frames[clip]), stored, fps))
    out = ds.window(clip, 0.0, count, 1.0 / fps, variant=variant, fields=fields)
    out.pop("valid")
    return float(fps), out


def gmt_dict(ds: MotionDataset, clip: int, options: ExportOptions, dofs: list[int]) -> dict[str, Any]:
    """The GMR/GMT pickle dict of one clip entry."""
    fps, f = resampled(ds, clip, options.fps, options.variant, ("root_pos", "root_rot", "dof_pos", "link_pos"))
    root_pos = f["root_pos"].astype(np.float64)
    root_rot = f["root_rot"].astype(np.float64)
    local = rot.rotate(rot.conjugate(root_rot)[:, None, :], f["link_pos"].astype(np.float64) - root_pos[:, None, :])
    return {
        "fps": float(fps),
        "root_pos": root_pos.astype(np.float32),
        "root_rot": root_rot.astype(np.float32),
        "dof_pos": np.ascontiguousarray(f["dof_pos"][:, dofs], dtype=np.float32),
        "local_body_pos": local.astype(np.float32),
        "link_body_list": list(ds.link_names),
    }


def export_dataset(path: str | Path, out: str | Path, options: ExportOptions = ExportOptions(),
                   progress: bool = True) -> dict[str, Any]:
    """Export dataset ``path`` into folder ``out``; returns a summary (files written, index path)."""
    if options.format not in FORMATS:
        raise InputError(None, "bad_option", f"format must be one of {', '.join(FORMATS)}, not {options.format!r}")
    ds = open_dataset(path)
    ds.check_variant(options.variant)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selected = range(ds.num_clips) if options.split == "all" else [int(i) for i in ds.split_clips(options.split)]
    clips = [c for c in selected if ds.has_variant(c, options.variant)]
    dofs = dof_selection(ds, options)
    robot = None
    if options.format == "beyondmimic":
        from core.robot import load_robot

        robot = load_robot(ds.robot)
    written = []
    entries = []
    with ds:
        for c in progress_iter(clips, desc=f"export {options.format}", unit="clip", enabled=progress):
            record = ds.clips[c]
            stem = file_stem(record["id"])
            if options.format == "gmt":
                name = f"{stem}.pkl"
                data = gmt_dict(ds, c, options, dofs)
                atomic_write_bytes(out / name, pickle.dumps(data, protocol=PICKLE_PROTOCOL))
                entries.append({"file": name, "weight": 1.0, "difficulty": float(record["difficulty"]),
                                "description": f"{record['dataset']} {record['source_clip_id']} "
                                               f"frames {record['source_frames'][0]}-{record['source_frames'][1]}"})
            elif options.format == "beyondmimic":
                from stages.dataset.beyondmimic import DEFAULT_FPS, motion_arrays

                name = f"{stem}.npz"
                fps, f = resampled(ds, c, options.fps or DEFAULT_FPS, options.variant,
                                   ("root_pos", "root_rot", "dof_pos"))
                arrays = motion_arrays(f["root_pos"], f["root_rot"], f["dof_pos"], fps, robot, ds.dof_names)
                save_npz(out / name, arrays)
            else:
                name = f"{stem}.csv"
                _, f = resampled(ds, c, options.fps or 30.0, options.variant, ("root_pos", "root_rot", "dof_pos"))
                table = np.concatenate((f["root_pos"], f["root_rot"], f["dof_pos"][:, dofs]), axis=1)
                lines = "\n".join(",".join(f"{v:.6f}" for v in row) for row in table.astype(np.float64))
                atomic_write_bytes(out / name, (lines + "\n").encode())
            written.append(name)
    summary: dict[str, Any] = {"format": options.format, "variant": options.variant, "files": len(written),
                               "out": str(out), "without_variant": len(selected) - len(clips),
                               "dof_names": [ds.dof_names[i] for i in dofs]}
    if options.format == "beyondmimic":
        from stages.dataset.beyondmimic import isaac_order

        summary["joint_names"], summary["body_names"] = isaac_order(robot)
    if options.format == "gmt":
        index = {"root_path": str(out.resolve()), "motions": entries}
        index_path = out / "motions.yaml"
        atomic_write_bytes(index_path, yaml.safe_dump(index, sort_keys=False).encode())
        summary["index"] = str(index_path)
    return summary

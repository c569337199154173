"""Robot trajectories -> :class:`RobotMotion` records, and Unitree's G1 CSV reader."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.contacts import foot_contacts
from core.errors import InputError
from core.records.robot_motion import RobotMotion
from core.robot.model import Robot
from core.rotations import make_continuous, rotate

UNITREE_CSV_FPS = 30.0
"""Frame rate of Unitree's LAFAN1_Retargeting_Dataset CSV files (Hz)."""


def sole_points(robot: Robot, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray) -> np.ndarray:
    """(T, 2, 3) world positions (m) of the left and right sole centres."""
    frames = list(robot.config.foot_frames)
    pos, rot = robot.forward_kinematics(np.atleast_2d(root_pos), np.atleast_2d(root_rot), np.atleast_2d(dof_pos), frames)
    out = np.empty_like(pos)
    for k, frame in enumerate(frames):
        try:
            centre = np.asarray(robot.config.sole(frame).center)
        except KeyError:
            centre = np.zeros(3)
        out[:, k] = pos[:, k] + rotate(rot[:, k], centre)
    return out


def robot_motion_from_trajectory(robot: Robot, fps: float, root_pos: np.ndarray, root_rot: np.ndarray,
                                 dof_pos: np.ndarray, contacts: np.ndarray | None = None,
                                 metrics: Mapping[str, float] | None = None,
                                 provenance: Mapping[str, str] | None = None) -> RobotMotion:
    """Build a :class:`RobotMotion` from a root + joint trajectory.

    Args:
        robot: the robot.
        fps: frame rate (Hz).
        root_pos: (T, 3) m; root_rot: (T, 4) xyzw (normalised and made
            sign-continuous here); dof_pos: (T, D) rad in ``robot.dof_names`` order.
        contacts: (T, 2) bool [left, right]; when None, from the sole centres'
            height above z = 0 and speed (:func:`core.contacts.foot_contacts`).
        metrics, provenance: copied into the record.

    Returns:
        The record with key-link poses (FK of ``robot.config.key_links``) and
        ``dof_vel`` by central differences (one-sided at the ends).
    """
    root_pos = np.asarray(root_pos, dtype=np.float64)
    root_rot = np.asarray(root_rot, dtype=np.float64)
    dof_pos = np.asarray(dof_pos, dtype=np.float64)
    T = root_pos.shape[0]
    if root_pos.shape != (T, 3) or root_rot.shape != (T, 4) or dof_pos.shape != (T, robot.num_dofs):
        raise ValueError(f"expected (T,3), (T,4), (T,{robot.num_dofs}); got {root_pos.shape}, {root_rot.shape}, {dof_pos.shape}")
    root_rot = make_continuous(root_rot / np.linalg.norm(root_rot, axis=-1, keepdims=True))
    links = tuple(robot.config.key_links)
    link_pos, link_rot = robot.forward_kinematics(root_pos, root_rot, dof_pos, links)
    dof_vel = np.gradient(dof_pos, 1.0 / fps, axis=0) if T > 1 else np.zeros_like(dof_pos)
    if contacts is None:
        contacts = foot_contacts(sole_points(robot, root_pos, root_rot, dof_pos), fps)
    contacts = np.asarray(contacts, dtype=bool)
    if contacts.shape != (T, 2):
        raise ValueError(f"contacts must be (T, 2), got {contacts.shape}")
    prov = {"robot_description": robot.config.description.name}
    prov.update(provenance or {})
    return RobotMotion(robot=robot.name, fps=float(fps), root_pos=root_pos, root_rot=root_rot, dof_pos=dof_pos,
                       dof_vel=dof_vel, dof_names=robot.dof_names, link_names=links, link_pos=link_pos,
                       link_rot=link_rot, contacts=contacts, metrics=dict(metrics or {}), provenance=prov)


def read_unitree_csv(path: str | Path, robot: Robot, fps: float = UNITREE_CSV_FPS) -> RobotMotion:
    """Read a Unitree LAFAN1_Retargeting_Dataset G1 CSV.

    Layout (no header, one frame per row, 30 fps): root position xyz (m, Z-up),
    root quaternion x y z w, then the 29 joint angles (rad) in G1 URDF order.

    Raises:
        InputError: unreadable, empty, wrong column count, non-finite values or
            zero quaternions.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, "unreadable", f"cannot read CSV: {exc}") from None
    rows = [line for line in text.splitlines() if line.strip()]
    if not rows:
        raise InputError(path, "empty", "CSV file has no rows")
    width = 7 + robot.num_dofs
    values = []
    for i, line in enumerate(rows):
        try:
            values.append([float(v) for v in line.split(",")])
        except ValueError:
            raise InputError(path, "bad_csv", f"row {i + 1} is not comma-separated numbers (a header?)") from None
    lengths = {len(v) for v in values}
    if len(lengths) > 1:
        raise InputError(path, "bad_csv", f"rows have different numbers of columns ({sorted(lengths)})")
    data = np.asarray(values, dtype=np.float64)
    if data.shape[1] != width:
        cols = data.shape[1]
        raise InputError(path, "wrong_columns", f"expected {width} columns (root xyz, quat xyzw, {robot.num_dofs} joints "
                         f"of {robot.name}), found {cols}")
    if not np.all(np.isfinite(data)):
        raise InputError(path, "non_finite", f"{int((~np.isfinite(data)).any(axis=1).sum())} rows hold NaN or inf")
    norms = np.linalg.norm(data[:, 3:7], axis=1)
    if np.any(norms < 1e-6):
        raise InputError(path, "bad_quaternion", f"root quaternion has zero norm at row {int(np.argmax(norms < 1e-6)) + 1}")
    return robot_motion_from_trajectory(robot, fps, data[:, :3], data[:, 3:7], data[:, 7:],
                                        provenance={"source_path": str(path), "dataset": "unitree_lafan1_g1"})


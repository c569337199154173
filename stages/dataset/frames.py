"""Turn a RobotMotion (or a frame range of it) into frame-major rows.

Rows follow :func:`stages.dataset.schema.column_layout`. Root velocities are
computed here (world frame, central differences inside the segment, one-sided
at its ends), so a trimmed segment never differentiates across a cut.
"""

from __future__ import annotations

import numpy as np

from core import rotations as rot
from core.records.robot_motion import RobotMotion
from stages.dataset.schema import GROUPS, Column, column_layout, group_widths


def root_velocities(root_pos: np.ndarray, root_rot: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """World-frame root linear (m/s) and angular (rad/s) velocity, (T, 3) each.

    Angular velocity is the rotation vector of ``q[t+1] * q[t-1]^-1`` divided by
    the time between them (central difference), one-sided at the ends.
    """
    pos = np.asarray(root_pos, dtype=np.float64)
    quat = rot.normalize(root_rot)
    n = len(pos)
    if n < 2:
        return np.zeros_like(pos), np.zeros_like(pos)
    lin = np.gradient(pos, 1.0 / fps, axis=0)
    ang = np.empty((n, 3))
    ahead = np.concatenate((quat[1:], quat[-1:]))
    behind = np.concatenate((quat[:1], quat[:-1]))
    steps = np.full(n, 2.0)
    steps[0] = steps[-1] = 1.0
    ang[:] = rot.to_rotvec(rot.multiply(ahead, rot.conjugate(behind))) * (fps / steps)[:, None]
    return lin, ang


def motion_frames(motion: RobotMotion, start: int = 0, stop: int | None = None,
                  columns: tuple[Column, ...] | None = None) -> dict[str, np.ndarray]:
    """Rows ``[start, stop)`` of ``motion`` per column group: ``{group: (n, F_group) float32}``.

    Quaternions are normalised and made sign-continuous over time so that
    readers can interpolate neighbours directly.
    """
    stop = motion.num_frames if stop is None else stop
    if not 0 <= start < stop <= motion.num_frames:
        raise ValueError(f"frame range [{start}, {stop}) outside a clip of {motion.num_frames} frames")
    num_links = len(motion.link_names)
    cols = columns or column_layout(len(motion.dof_names), num_links)
    sl = slice(start, stop)
    root_pos = np.asarray(motion.root_pos[sl], dtype=np.float64)
    root_rot = rot.make_continuous(rot.normalize(motion.root_rot[sl]))
    lin, ang = root_velocities(root_pos, root_rot, motion.fps)
    n = stop - start
    link_rot = np.asarray(motion.link_rot[sl], dtype=np.float64).reshape(n, num_links, 4)
    if num_links:
        link_rot = rot.make_continuous(rot.normalize(link_rot))
    values = {
        "root_pos": root_pos,
        "root_rot": root_rot,
        "root_lin_vel": lin,
        "root_ang_vel": ang,
        "dof_pos": motion.dof_pos[sl],
        "dof_vel": motion.dof_vel[sl],
        "link_pos": np.asarray(motion.link_pos[sl]).reshape(n, num_links, 3),
        "link_rot": link_rot,
        "contacts": np.asarray(motion.contacts[sl], dtype=np.float64).reshape(n, 2),
    }
    out = {g: np.empty((n, w), dtype=np.float32) for g, w in group_widths(cols).items()}
    for col in cols:
        out[col.group][:, col.start:col.stop] = np.asarray(values[col.name], dtype=np.float64).reshape(n, col.width)
    for group in GROUPS:
        if not np.all(np.isfinite(out[group])):
            raise ValueError("non-finite values in the motion")
    return out


def split_columns(rows: dict[str, np.ndarray], columns: tuple[Column, ...]) -> dict[str, np.ndarray]:
    """Named views of group rows ``{group: (..., F_group)}`` reshaped to each column's per-frame shape."""
    out = {}
    for c in columns:
        block = rows.get(c.group)
        if block is None:
            continue
        out[c.name] = block[..., c.start:c.stop].reshape(*block.shape[:-1], *c.shape)
    return out

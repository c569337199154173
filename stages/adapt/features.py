"""Per-frame features of a robot motion in the robot's joint space, and the way back.

Both domains of the adapter (human side: raw retargets; robot side: physically
plausible motion) are described by the same per-frame vector (METHODS.md §1):

=================  =====  ======================================================
block              size   meaning (units)
=================  =====  ======================================================
``dof``            D      joint positions, rad
``height``         1      root height above the floor, m
``lin_vel``        3      root linear velocity in the heading frame, m/s
``yaw_rate``       1      heading angular velocity about world z, rad/s
``up``             3      world up axis in the root frame (roll and pitch), unit
``link_pos``       3L     key links relative to the root, heading frame, m
=================  =====  ======================================================

The *heading frame* is the root frame turned about world z only: the root
orientation is split as ``R = Rz(yaw) @ R_tilt`` with ``R_tilt`` a rotation
about a horizontal axis (swing-twist about z). Quaternions are x y z w.
``dof``, ``height``, ``lin_vel``, ``yaw_rate`` and ``up`` rebuild the motion
(:func:`root_from_features`); the link block only shapes the training loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from core.records.robot_motion import RobotMotion


@dataclass(frozen=True)
class Layout:
    """Where each block lies in the feature vector (start, stop) for D joints and L links."""

    num_dofs: int
    num_links: int

    @property
    def blocks(self) -> dict[str, tuple[int, int]]:
        sizes = [("dof", self.num_dofs), ("height", 1), ("lin_vel", 3), ("yaw_rate", 1), ("up", 3),
                 ("link_pos", 3 * self.num_links)]
        out, start = {}, 0
        for name, size in sizes:
            out[name] = (start, start + size)
            start += size
        return out

    @property
    def size(self) -> int:
        return self.blocks["link_pos"][1]

    def take(self, features: np.ndarray, name: str) -> np.ndarray:
        a, b = self.blocks[name]
        return features[..., a:b]


def yaw_and_tilt(root_rot_xyzw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split root orientations (T, 4) xyzw into heading yaw (T,) rad and the world up axis in
    the root frame (T, 3) (``R^T e_z``, which fixes ``R_tilt``)."""
    R = Rotation.from_quat(root_rot_xyzw).as_matrix()
    up = R[:, 2, :]                                    # row 2 of R = R^T e_z
    tilt = tilt_matrix(up)
    heading = R @ np.transpose(tilt, (0, 2, 1))        # Rz(yaw) = R @ R_tilt^T
    yaw = np.arctan2(heading[:, 1, 0], heading[:, 0, 0])
    return yaw, up


def tilt_matrix(up: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations ``R_tilt`` about a horizontal axis with ``R_tilt^T e_z = up`` (unit up)."""
    u = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    # R_tilt maps u to e_z by the shortest rotation: axis u x e_z, angle acos(u_z)
    axis = np.stack([u[:, 1], -u[:, 0], np.zeros(len(u))], axis=-1)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip(u[:, 2], -1.0, 1.0)
    angle = np.arctan2(s, c)
    k = axis / np.maximum(s, 1e-12)[:, None]
    return Rotation.from_rotvec(k * angle[:, None]).as_matrix()


def _rot_z(yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.zeros((len(yaw), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1], out[:, 2, 2] = c, -s, s, c, 1.0
    return out


def _derivative(x: np.ndarray, fps: float) -> np.ndarray:
    """Central differences along axis 0 (per second; second-order at the ends when T >= 3)."""
    if x.shape[0] < 2:
        return np.zeros_like(x)
    out: np.ndarray = np.gradient(x, 1.0 / fps, axis=0, edge_order=2 if x.shape[0] >= 3 else 1)  # type: ignore[call-overload]
    return out


def motion_features(motion: RobotMotion) -> np.ndarray:
    """(T, F) features of ``motion`` (:class:`Layout` order), float32."""
    fps = float(motion.fps)
    T = motion.num_frames
    yaw, up = yaw_and_tilt(np.asarray(motion.root_rot, np.float64))
    yaw = np.unwrap(yaw)
    Rh_T = np.transpose(_rot_z(yaw), (0, 2, 1))        # world -> heading
    root = np.asarray(motion.root_pos, np.float64)
    vel = _derivative(root, fps)
    lin_vel = np.einsum("tij,tj->ti", Rh_T, vel)
    yaw_rate = _derivative(yaw, fps)
    links = np.asarray(motion.link_pos, np.float64) - root[:, None, :]
    link_pos = np.einsum("tij,tlj->tli", Rh_T, links)
    out = np.concatenate([np.asarray(motion.dof_pos, np.float64), root[:, 2:3], lin_vel, yaw_rate[:, None], up,
                          link_pos.reshape(T, -1)], axis=1)
    return out.astype(np.float32)


def lowpass(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian low-pass along axis 0 with edge reflection (sigma in frames)."""
    from scipy.ndimage import gaussian_filter1d

    if sigma_frames <= 0:
        return x.copy()
    return gaussian_filter1d(np.asarray(x, np.float64), sigma_frames, axis=0, mode="nearest")


def root_from_features(features: np.ndarray, layout: Layout, raw: RobotMotion,
                       anchor_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Root trajectory (pos (T, 3) m, rot (T, 4) xyzw) rebuilt from decoded features.

    Heading and horizontal position are integrated from the decoded yaw rate and
    heading-frame velocity, then anchored to the raw root path: the slow part
    (Gaussian low-pass, ``anchor_s`` seconds) of the difference to the raw
    trajectory is removed, so the adapted root follows the decoded motion at
    short time scales and never drifts from the raw path. Height is decoded
    directly, tilt from the decoded up axis.
    """
    fps = float(raw.fps)
    dt = 1.0 / fps
    sigma = anchor_s * fps
    raw_yaw, _ = yaw_and_tilt(np.asarray(raw.root_rot, np.float64))
    raw_yaw = np.unwrap(raw_yaw)
    yaw_rate = layout.take(features, "yaw_rate")[:, 0].astype(np.float64)
    yaw = raw_yaw[0] + np.concatenate([[0.0], np.cumsum(0.5 * (yaw_rate[1:] + yaw_rate[:-1]) * dt)])
    yaw = yaw - lowpass(yaw - raw_yaw, sigma)
    lin = layout.take(features, "lin_vel").astype(np.float64)
    world_vel = np.einsum("tij,tj->ti", _rot_z(yaw), lin)
    raw_pos = np.asarray(raw.root_pos, np.float64)
    steps = 0.5 * (world_vel[1:] + world_vel[:-1]) * dt
    pos = raw_pos[0] + np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])
    pos = pos - lowpass(pos - raw_pos, sigma)
    pos[:, 2] = layout.take(features, "height")[:, 0]
    R = _rot_z(yaw) @ tilt_matrix(layout.take(features, "up").astype(np.float64))
    quat = Rotation.from_matrix(R).as_quat()
    return pos, quat

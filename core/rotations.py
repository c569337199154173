"""Quaternion and rotation helpers on numpy arrays.

Convention everywhere in this project: quaternions are **(x, y, z, w)**
(scalar last, as scipy and the G1/GMT motion files use), unit norm, acting on
column vectors (``v_world = q * v_local``). Arrays broadcast over leading axes.
In torch code use ``roma``, which shares the xyzw order.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (xyzw); raises on zero norm."""
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n < 1e-12):
        raise ValueError("zero-norm quaternion")
    return q / n


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``), xyzw."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        (
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ),
        axis=-1,
    )


def conjugate(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion (xyzw)."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate((-q[..., :3], q[..., 3:]), axis=-1)


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4, xyzw)."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u = q[..., :3]
    w = q[..., 3:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from quaternions (..., 4, xyzw)."""
    q = np.asarray(q, dtype=np.float64)
    shape = q.shape[:-1]
    return Rotation.from_quat(q.reshape(-1, 4)).as_matrix().reshape(*shape, 3, 3)


def from_matrix(m: np.ndarray, orthonormal: bool = False) -> np.ndarray:
    """Quaternions (..., 4, xyzw) from rotation matrices (..., 3, 3).

    ``orthonormal=True`` skips scipy's orthogonalisation of each matrix (``assume_valid``): only
    for matrices that are rotations to rounding, such as products of rotations (FK output).
    """
    m = np.asarray(m, dtype=np.float64)
    shape = m.shape[:-2]
    return Rotation.from_matrix(m.reshape(-1, 3, 3), assume_valid=orthonormal).as_quat().reshape(*shape, 4)


def from_rotvec(r: np.ndarray) -> np.ndarray:
    """Quaternions (xyzw) from axis-angle vectors (..., 3) in radians."""
    r = np.asarray(r, dtype=np.float64)
    shape = r.shape[:-1]
    return Rotation.from_rotvec(r.reshape(-1, 3)).as_quat().reshape(*shape, 4)


def to_rotvec(q: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (..., 3, radians) from quaternions (xyzw)."""
    q = np.asarray(q, dtype=np.float64)
    shape = q.shape[:-1]
    return Rotation.from_quat(q.reshape(-1, 4)).as_rotvec().reshape(*shape, 3)


def from_euler(order: str, angles: np.ndarray, degrees: bool = True) -> np.ndarray:
    """Quaternions (xyzw) from Euler angles.

    ``order`` uses scipy's convention: upper case = intrinsic (e.g. BVH's
    ``"ZYX"`` channel order, applied left to right), lower case = extrinsic.
    """
    angles = np.asarray(angles, dtype=np.float64)
    shape = angles.shape[:-1]
    rot = Rotation.from_euler(order, angles.reshape(-1, len(order)), degrees=degrees)
    return rot.as_quat().reshape(*shape, 4)


def make_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along ``axis`` (time) so consecutive quaternions have dot >= 0 (vectorised; returns a copy)."""
    q = np.moveaxis(np.array(q, dtype=np.float64, copy=True), axis, 0)
    if q.shape[0] > 1:
        flips = np.sum(q[1:] * q[:-1], axis=-1) < 0.0
        q[1:] *= np.cumprod(np.where(flips, -1.0, 1.0), axis=0)[..., None]
    return np.moveaxis(q, 0, axis)


def slerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions (..., 4, xyzw) with weights ``w`` (...).

    ``w = 0`` gives ``q0``, ``w = 1`` gives ``q1`` (or ``-q1``, the same
    rotation); interpolates along the shorter arc. Below 1e-3 rad between the
    two the weights become linear (their difference is below float32 precision).
    Keeps the dtype of ``q0``.
    """
    q0 = np.asarray(q0)
    q1 = np.asarray(q1)
    w = np.asarray(w, dtype=q0.dtype)
    dot = np.einsum("...i,...i->...", q0, q1)
    neg = dot < 0
    dot = np.abs(dot)
    np.minimum(dot, 1.0, out=dot)
    theta = np.arccos(dot)
    inv = 1.0 / np.maximum(np.sqrt(1.0 - dot * dot), 1e-6)
    small = theta < 1e-3
    a = np.where(small, 1.0 - w, np.sin((1.0 - w) * theta) * inv)
    b = np.where(small, w, np.sin(w * theta) * inv)
    b = np.where(neg, -b, b)
    out = q0 * a[..., None]
    out += q1 * b[..., None]
    out /= np.sqrt(np.einsum("...i,...i->...", out, out))[..., None]
    return out


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle (radians, in [0, pi]) between unit quaternions."""
    dot = np.abs(np.sum(np.asarray(a) * np.asarray(b), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, -1.0, 1.0))


def resample_times(n_frames: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Sample times (s) at ``fps_out`` covering the clip's duration ``(n-1)/fps_in``.

    The last sample never exceeds the source duration; duration is preserved
    to within one output frame.
    """
    duration = (n_frames - 1) / fps_in
    count = int(np.floor(duration * fps_out + 1e-6)) + 1
    return np.arange(count) / fps_out


def slerp_resample(q: np.ndarray, t_in: np.ndarray, t_out: np.ndarray) -> np.ndarray:
    """Slerp quaternions (T, ..., 4, xyzw) from times ``t_in`` (increasing) to ``t_out``."""
    q = np.asarray(q, dtype=np.float64)
    idx = np.clip(np.searchsorted(t_in, t_out, side="right") - 1, 0, len(t_in) - 2)
    w = np.clip((t_out - t_in[idx]) / (t_in[idx + 1] - t_in[idx]), 0.0, 1.0)
    w = np.broadcast_to(w.reshape(-1, *([1] * (q.ndim - 2))), (len(t_out), *q.shape[1:-1]))
    return make_continuous(slerp(q[idx], q[idx + 1], w))


def linear_resample(x: np.ndarray, t_in: np.ndarray, t_out: np.ndarray) -> np.ndarray:
    """Linearly interpolate an array (T, ...) from times ``t_in`` to ``t_out``."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(x.shape[0], -1)
    idx = np.clip(np.searchsorted(t_in, t_out, side="right") - 1, 0, len(t_in) - 2)
    w = ((t_out - t_in[idx]) / (t_in[idx + 1] - t_in[idx]))[:, None]
    out = flat[idx] * (1.0 - w) + flat[idx + 1] * w
    return out.reshape(len(t_out), *x.shape[1:])


def yaw_of(q: np.ndarray) -> np.ndarray:
    """Heading angle (rad) about world +Z of the body x axis, for xyzw quats."""
    fwd = rotate(q, np.array([1.0, 0.0, 0.0]))
    return np.arctan2(fwd[..., 1], fwd[..., 0])

"""Forward kinematics of a whole trajectory at once, in numpy.

Pinocchio computes one configuration per call; for a clip of T frames this
module composes the joint transforms for all T frames together (one (T,3,3)
matrix product per joint), which is about an order of magnitude faster than a
Python loop over frames. It supports the free-flyer root and 1-DoF revolute
joints (about x, y, z or any fixed axis); :func:`batch_supported` tells whether
a model qualifies. Units: metres, radians; results are rotation matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pinocchio as pin

_AXES = {"JointModelRX": (1.0, 0.0, 0.0), "JointModelRY": (0.0, 1.0, 0.0), "JointModelRZ": (0.0, 0.0, 1.0)}


def _joint_axis(joint: pin.JointModel) -> tuple[float, float, float] | None:
    """Unit rotation axis of a revolute joint in its frame, or None for another joint type."""
    name = joint.shortname()
    if name in _AXES:
        return _AXES[name]
    if name == "JointModelRevoluteUnaligned":
        x, y, z = (float(v) for v in joint.extract().axis)
        return x, y, z
    return None


def batch_supported(model: pin.Model) -> bool:
    """True when every joint below a free-flyer root is a 1-DoF revolute joint."""
    if model.njoints < 2 or model.joints[1].shortname() != "JointModelFreeFlyer":
        return False
    return all(_joint_axis(model.joints[j]) is not None for j in range(2, model.njoints))


@dataclass(frozen=True)
class BatchFK:
    """Precomputed joint data of a model (see :func:`build_batch_fk`)."""

    parents: tuple[int, ...]
    placement_rot: np.ndarray   # (J, 3, 3)
    placement_pos: np.ndarray   # (J, 3)
    axes: np.ndarray            # (J, 3) unit axes (rows 0, 1 unused)
    idx_q: tuple[int, ...]
    frame_joint: dict[int, int]
    frame_rot: dict[int, np.ndarray]
    frame_pos: dict[int, np.ndarray]
    frame_at_joint: frozenset[int] = frozenset()   # frames placed at their joint (identity): no product needed

    def frames(self, qs: np.ndarray, frame_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """World poses of frames over a batch.

        Args:
            qs: (T, nq) pinocchio configurations (free-flyer quaternion xyzw, unit).
            frame_ids: F pinocchio frame indices.

        Returns:
            positions (T, F, 3) m and rotation matrices (T, F, 3, 3).
        """
        qs = np.asarray(qs, dtype=np.float64)
        T = qs.shape[0]
        needed: set[int] = set()
        for fid in frame_ids:
            j = self.frame_joint[fid]
            while j > 0 and j not in needed:
                needed.add(j)
                j = self.parents[j]
        rot: dict[int, np.ndarray] = {}
        pos: dict[int, np.ndarray] = {}
        for j in sorted(needed):
            if j == 1:
                rot[1] = _xyzw_to_matrix(qs[:, 3:7])
                pos[1] = qs[:, :3].copy()
                continue
            parent = self.parents[j]
            r_parent, p_parent = rot[parent], pos[parent]
            r_fixed = _times_fixed(r_parent, self.placement_rot[j])            # (T, 3, 3)
            pos[j] = p_parent + _times_fixed(r_parent, self.placement_pos[j])
            rot[j] = r_fixed @ _axis_rotation(self.axes[j], qs[:, self.idx_q[j]])
        out_pos = np.empty((T, len(frame_ids), 3))
        out_rot = np.empty((T, len(frame_ids), 3, 3))
        for k, fid in enumerate(frame_ids):
            j = self.frame_joint[fid]
            if j == 0:
                out_rot[:, k] = self.frame_rot[fid]
                out_pos[:, k] = self.frame_pos[fid]
            elif fid in self.frame_at_joint:                            # r I = r and p + r 0 = p exactly
                out_rot[:, k] = rot[j]
                out_pos[:, k] = pos[j]
            else:
                out_rot[:, k] = _times_fixed(rot[j], self.frame_rot[fid])
                out_pos[:, k] = pos[j] + _times_fixed(rot[j], self.frame_pos[fid])
        return out_pos, out_rot


def build_batch_fk(model: pin.Model) -> BatchFK:
    """Joint placements, axes and frame placements of a supported model."""
    if not batch_supported(model):
        raise ValueError("batch FK needs a free-flyer root and revolute joints only")
    J = model.njoints
    axes = np.zeros((J, 3))
    for j in range(2, J):
        a = np.asarray(_joint_axis(model.joints[j]))
        axes[j] = a / np.linalg.norm(a)
    return BatchFK(
        parents=tuple(int(model.parents[j]) for j in range(J)),
        placement_rot=np.array([model.jointPlacements[j].rotation for j in range(J)]),
        placement_pos=np.array([model.jointPlacements[j].translation for j in range(J)]),
        axes=axes,
        idx_q=tuple(int(model.joints[j].idx_q) for j in range(J)),
        frame_joint={i: int(f.parentJoint) for i, f in enumerate(model.frames)},
        frame_rot={i: np.array(f.placement.rotation) for i, f in enumerate(model.frames)},
        frame_pos={i: np.array(f.placement.translation) for i, f in enumerate(model.frames)},
        frame_at_joint=frozenset(i for i, f in enumerate(model.frames)
                                 if np.array_equal(f.placement.rotation, np.eye(3)) and not np.any(f.placement.translation)),
    )


def _times_fixed(r: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``r @ m`` for a batch of rotations r (T, 3, 3) and one fixed matrix (3, 3) or vector (3,).

    One matrix product over the T*3 stacked rows instead of numpy's T small products
    (several times faster for T in the thousands, same values)."""
    r = np.ascontiguousarray(r)
    out = r.reshape(-1, 3) @ m
    return out.reshape(r.shape[:-1] + m.shape[1:]) if m.ndim == 2 else out.reshape(r.shape[:-1])


def _xyzw_to_matrix(q: np.ndarray) -> np.ndarray:
    """(T, 3, 3) from unit quaternions (T, 4) xyzw."""
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=-1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=-1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def _axis_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by ``angle`` (T,) rad about a fixed unit ``axis`` (Rodrigues)."""
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = axis
    C = 1.0 - c
    return np.stack([
        np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], axis=-1),
        np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], axis=-1),
        np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], axis=-1),
    ], axis=-2)

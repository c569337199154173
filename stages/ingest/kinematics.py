"""Batched forward kinematics on a joint tree (numpy, quaternions x y z w)."""

from __future__ import annotations

import numpy as np

from core import rotations as rot


def forward_kinematics(parents: np.ndarray, translations: np.ndarray, local_quats: np.ndarray,
                       root_rotation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions and rotations.

    Args:
        parents: (J,) parent index per joint, -1 for the root; every parent must
            come before its children.
        translations: (T, J, 3) or (J, 3) joint origin in its parent's frame
            (the root's entry is its world position), any length unit.
        local_quats: (T, J, 4) rotation of each joint relative to its parent
            (the root's is its world rotation), xyzw.
        root_rotation: optional (4,) xyzw rotation applied in front of the
            whole tree (e.g. a change of world axes).

    Returns:
        positions (T, J, 3) in the unit of ``translations``; rotations (T, J, 4) xyzw.
    """
    parents = np.asarray(parents)
    quats = np.asarray(local_quats, dtype=np.float64)
    T, J = quats.shape[:2]
    trans = np.broadcast_to(np.asarray(translations, dtype=np.float64), (T, J, 3))
    pos = np.empty((T, J, 3))
    glob = np.empty((T, J, 4))
    for j in range(J):
        p = int(parents[j])
        if p < 0:
            if root_rotation is None:
                glob[:, j] = quats[:, j]
                pos[:, j] = trans[:, j]
            else:
                glob[:, j] = rot.multiply(root_rotation, quats[:, j])
                pos[:, j] = rot.rotate(root_rotation, trans[:, j])
        else:
            if p >= j:
                raise ValueError(f"joint {j}'s parent {p} does not come before it")
            glob[:, j] = rot.multiply(glob[:, p], quats[:, j])
            pos[:, j] = pos[:, p] + rot.rotate(glob[:, p], trans[:, j])
    return pos, glob

"""Write demo poses in the real input formats: AMASS SMPL ``.npz`` and BVH.

Both take local rotations on the 22-joint SMPL body skeleton in the Z-up rest
frame (identity = mean-shape rest pose, see :mod:`stages.ingest.demo_pose`)
and the pelvis world position (m), and undo exactly what ingest does:

- AMASS: ``poses`` (T, 72) axis-angle in the SMPL native frame (root: world
  Z-up <- native), ``trans = pelvis - J_rest[0]``, ``betas`` (16,) zeros,
  ``gender`` "neutral", ``mocap_framerate``.
- BVH: LAFAN1 joint names, centimetres, Y-up, ``Zrotation Yrotation
  Xrotation`` Euler degrees; OFFSETs are the mean-shape bones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from core import rotations as rot
from core.npzio import atomic_write_bytes
from stages.ingest.skeletons import SMPL_NATIVE_TO_Z_UP, Y_UP_TO_Z_UP_BVH
from stages.ingest.smpl_tables import BODY_JOINT_NAMES, BODY_PARENTS, MEAN_SHAPE_REST_JOINTS

#: SMPL body joint -> LAFAN1 BVH joint name (same 22-joint tree).
LAFAN1_NAMES = {
    "pelvis": "Hips", "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_foot": "LeftToe", "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "right_foot": "RightToe", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck",
    "head": "Head", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand", "right_collar": "RightShoulder", "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm", "right_wrist": "RightHand",
}


def write_amass_npz(path: str | Path, local: np.ndarray, pelvis_pos: np.ndarray, fps: float) -> None:
    """AMASS-layout SMPL ``.npz`` (as the ASAP files: float32 poses/trans, 16 betas)."""
    c = SMPL_NATIVE_TO_Z_UP
    c_inv = rot.conjugate(c)
    T = local.shape[0]
    native = rot.multiply(rot.multiply(c_inv, local), c)
    native[:, 0] = rot.multiply(local[:, 0], c)
    poses = np.zeros((T, 24, 3))
    poses[:, :22] = rot.to_rotvec(native)
    trans = pelvis_pos - MEAN_SHAPE_REST_JOINTS[0]
    import io

    buffer = io.BytesIO()
    np.savez(buffer, poses=poses.reshape(T, 72).astype(np.float32), trans=trans.astype(np.float32),
             betas=np.zeros(16), gender=np.array("neutral"), mocap_framerate=np.array(int(round(fps))))
    atomic_write_bytes(path, buffer.getvalue())


def _dfs_order() -> list[int]:
    children: dict[int, list[int]] = {}
    for j, p in enumerate(BODY_PARENTS):
        children.setdefault(int(p), []).append(j)
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for c in children.get(j, []):
            visit(c)

    visit(0)
    return order


def write_bvh(path: str | Path, local: np.ndarray, pelvis_pos: np.ndarray, fps: float) -> None:
    """BVH on the mean-shape skeleton with LAFAN1 names (cm, Y-up, ZYX Euler degrees)."""
    b = Y_UP_TO_Z_UP_BVH
    b_inv = rot.conjugate(b)
    T = local.shape[0]
    rest_z = rot.rotate(SMPL_NATIVE_TO_Z_UP, MEAN_SHAPE_REST_JOINTS)
    offsets = rot.rotate(b_inv, rest_z - rest_z[BODY_PARENTS.clip(min=0)]) * 100.0
    root_pos = rot.rotate(b_inv, pelvis_pos) * 100.0
    offsets[0] = root_pos[0]
    q = rot.multiply(rot.multiply(b_inv, local), b)
    order = _dfs_order()
    euler = Rotation.from_quat(q.reshape(-1, 4)).as_euler("ZYX", degrees=True).reshape(T, 22, 3)

    children = {j: [c for c in range(22) if BODY_PARENTS[c] == j] for j in range(22)}
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        name = LAFAN1_NAMES[BODY_JOINT_NAMES[j]]
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        o = offsets[j]
        lines.append(f"{pad}\tOFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        if j == 0:
            lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation")
        else:
            lines.append(f"{pad}\tCHANNELS 3 Zrotation Yrotation Xrotation")
        if children[j]:
            for c in children[j]:
                emit(c, depth + 1)
        else:
            lines.append(f"{pad}\tEnd Site")
            lines.append(f"{pad}\t{{")
            lines.append(f"{pad}\t\tOFFSET 0.000000 0.000000 0.000000")
            lines.append(f"{pad}\t}}")
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.6f}"]
    data = np.concatenate([root_pos[:, None, :], euler[:, order]], axis=1).reshape(T, -1)
    lines += [" ".join(f"{v:.6f}" for v in row) for row in data]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("ascii"))

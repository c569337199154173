"""Pose building for the procedural demo corpus: targets -> joint rotations.

Works on the 22-joint SMPL body skeleton (mean shape) in a *design frame*:
Z-up, the rest (T-)pose facing +x with its left along +y. A clip is described
per frame by a pelvis position and orientation (heading, pitch), ankle
targets and foot orientations, a torso lean and arm directions; legs are
solved with exact two-bone IK (so planted feet stay exactly where they are
put), arms by a swing of the upper arm plus an elbow hinge.

Output: local rotations (T, 22, 4, xyzw) relative to the parent, identity =
rest pose, in the Z-up rest frame used by :mod:`stages.ingest.amass` (rest
facing -y), plus the pelvis world position (m). The writers in
:mod:`stages.ingest.demo_writers` turn them into AMASS npz and BVH files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from core import rotations as rot
from stages.ingest.kinematics import forward_kinematics
from stages.ingest.skeletons import SMPL_NATIVE_TO_Z_UP
from stages.ingest.smpl_tables import BODY_PARENTS, MEAN_SHAPE_REST_JOINTS

#: Design frame <- Z-up rest frame: +90 deg yaw (rest facing -y -> facing +x).
DESIGN_FROM_REST = rot.from_rotvec(np.array([0.0, 0.0, np.pi / 2]))

# joint indices on the SMPL body tree
PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = range(10)
L_FOOT, R_FOOT, NECK, L_COLLAR, R_COLLAR, HEAD, L_SHOULDER, R_SHOULDER = range(10, 18)
L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = range(18, 22)


def rest_design() -> np.ndarray:
    """(22, 3) rest joint positions (m) in the design frame, pelvis at the origin."""
    c = rot.multiply(DESIGN_FROM_REST, SMPL_NATIVE_TO_Z_UP)
    p = rot.rotate(c, MEAN_SHAPE_REST_JOINTS)
    return p - p[PELVIS]


REST = rest_design()
#: Toe joint height (m) above the sole when the foot is flat (sole at z = 0).
TOE_HEIGHT = 0.04
#: Ankle height (m) above the floor for a flat planted foot.
ANKLE_HEIGHT = TOE_HEIGHT + float(REST[L_ANKLE, 2] - REST[L_FOOT, 2])
THIGH = float(np.linalg.norm(REST[L_KNEE] - REST[L_HIP]))
SHIN = float(np.linalg.norm(REST[L_ANKLE] - REST[L_KNEE]))
LEG = THIGH + SHIN


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) with columns a, b', a x b' (b orthogonalised to a)."""
    a = _unit(a)
    b = _unit(b - np.sum(a * b, axis=-1, keepdims=True) * a)
    return np.stack([a, b, np.cross(a, b)], axis=-1)


def align(rest_dir: np.ndarray, rest_ref: np.ndarray, new_dir: np.ndarray, new_ref: np.ndarray) -> np.ndarray:
    """Quaternions (T, 4) turning (rest_dir, rest_ref) onto (new_dir, new_ref)."""
    m0 = _frame(np.broadcast_to(rest_dir, new_dir.shape), np.broadcast_to(rest_ref, new_dir.shape))
    m1 = _frame(new_dir, new_ref)
    return rot.from_matrix(m1 @ np.swapaxes(m0, -1, -2))


def swing(rest_dir: np.ndarray, new_dir: np.ndarray) -> np.ndarray:
    """Minimal rotations (T, 4) taking ``rest_dir`` to each ``new_dir``."""
    a = _unit(np.broadcast_to(rest_dir, new_dir.shape))
    b = _unit(new_dir)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(s, c)
    axis = np.where(s > 1e-9, axis / np.maximum(s, 1e-12), np.array([1.0, 0.0, 0.0]))
    return rot.from_rotvec(axis * angle)


def yaw_pitch(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray | None = None) -> np.ndarray:
    """Quaternions Rz(yaw) Ry(pitch) Rx(roll) (T, 4); pitch > 0 leans forward."""
    roll = np.zeros_like(yaw) if roll is None else roll
    return Rotation.from_euler("ZYX", np.column_stack([yaw, pitch, roll])).as_quat()


@dataclass
class PoseTargets:
    """Per-frame targets in the design frame (T frames; metres, radians).

    ``arm_dirs`` (T, 2, 3) are upper-arm directions in the *torso* frame
    (left, right; the rest directions are +y / -y), ``elbow`` (T, 2) the elbow
    flexion. ``foot_pitch`` > 0 lifts the toes. ``knee_axis`` (T, 2, 3)
    optionally overrides the knee hinge axis (default: the foot's left axis).
    """

    pelvis_pos: np.ndarray          # (T, 3)
    heading: np.ndarray             # (T,)
    pelvis_pitch: np.ndarray        # (T,)
    torso_lean: np.ndarray          # (T,) extra forward lean spread over the three spine joints
    ankle_pos: np.ndarray           # (T, 2, 3) left, right
    foot_yaw: np.ndarray            # (T, 2)
    foot_pitch: np.ndarray          # (T, 2)
    arm_dirs: np.ndarray            # (T, 2, 3)
    elbow: np.ndarray               # (T, 2)
    head_pitch: np.ndarray | None = None   # (T,) relative to the torso; default cancels the lean
    pelvis_roll: np.ndarray | None = None  # (T,)
    legs_ik: bool = True            # False: legs follow the pelvis rigidly (rest pose legs)
    arm_twist: np.ndarray | None = None    # (T, 2) external rotation of the upper arms (rad)


def solve_pose(t: PoseTargets) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations (T, 22, 4) in the design frame and pelvis positions (T, 3)."""
    T = t.pelvis_pos.shape[0]
    G = np.zeros((T, 22, 4))
    G[..., 3] = 1.0
    pelvis = yaw_pitch(t.heading, t.pelvis_pitch, t.pelvis_roll)
    G[:, PELVIS] = pelvis
    for k, j in enumerate((SPINE1, SPINE2, SPINE3)):
        G[:, j] = yaw_pitch(t.heading, t.pelvis_pitch + t.torso_lean * (k + 1) / 3.0, t.pelvis_roll)
    head_pitch = -(t.pelvis_pitch + t.torso_lean) * 0.7 if t.head_pitch is None else t.head_pitch
    torso = G[:, SPINE3]
    for j in (NECK, HEAD):
        G[:, j] = rot.multiply(torso, yaw_pitch(np.zeros(T), head_pitch))
    G[:, L_COLLAR] = torso
    G[:, R_COLLAR] = torso

    # legs: exact two-bone IK to the ankle targets
    for side, (hip, knee, ankle, foot) in enumerate(((L_HIP, L_KNEE, L_ANKLE, L_FOOT),
                                                     (R_HIP, R_KNEE, R_ANKLE, R_FOOT))):
        if not t.legs_ik:
            for j in (hip, knee, ankle, foot):
                G[:, j] = pelvis
            continue
        hip_pos = t.pelvis_pos + rot.rotate(pelvis, REST[hip])
        target = t.ankle_pos[:, side]
        d = target - hip_pos
        dist = np.linalg.norm(d, axis=-1)
        if np.any(dist > LEG * 0.9995):
            raise ValueError(f"ankle target out of reach by {float(np.max(dist - LEG)):.3f} m")
        d_hat = d / dist[:, None]
        axis = rot.rotate(yaw_pitch(t.foot_yaw[:, side], np.zeros(T)), np.array([0.0, 1.0, 0.0]))
        bend = _unit(np.cross(d_hat, axis))                 # forward for a leg pointing down
        bend = _unit(bend - np.sum(bend * d_hat, axis=-1, keepdims=True) * d_hat)
        x = (THIGH ** 2 - SHIN ** 2 + dist ** 2) / (2.0 * dist)
        h = np.sqrt(np.clip(THIGH ** 2 - x ** 2, 0.0, None))
        knee_pos = hip_pos + d_hat * x[:, None] + bend * h[:, None]
        left = np.array([0.0, 1.0, 0.0])
        G[:, hip] = align(REST[knee] - REST[hip], left, knee_pos - hip_pos, axis)
        G[:, knee] = align(REST[ankle] - REST[knee], left, target - knee_pos, axis)
        G[:, ankle] = yaw_pitch(t.foot_yaw[:, side], -t.foot_pitch[:, side])
        G[:, foot] = G[:, ankle]

    # arms: swing of the upper arm in the torso frame + elbow hinge
    for side, (shoulder, elbow, wrist) in enumerate(((L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST))):
        rest_dir = _unit(REST[elbow] - REST[shoulder])
        upper_local = swing(rest_dir, t.arm_dirs[:, side])
        if t.arm_twist is not None:          # external rotation: the elbow then flexes upward from a T-pose
            angle = t.arm_twist[:, side:side + 1] * (-1.0 if side == 0 else 1.0)
            upper_local = rot.multiply(upper_local, rot.from_rotvec(rest_dir * angle))
        G[:, shoulder] = rot.multiply(torso, upper_local)
        hinge = _unit(np.cross(rest_dir, np.array([1.0, 0.0, 0.0])))   # flexion bends the forearm forward in T-pose
        G[:, elbow] = rot.multiply(G[:, shoulder], rot.from_rotvec(hinge * t.elbow[:, side:side + 1]))
        G[:, wrist] = G[:, elbow]
    return rot.normalize(G), t.pelvis_pos


def to_local(G_design: np.ndarray) -> np.ndarray:
    """Local rotations (T, 22, 4) in the Z-up rest frame (identity = rest, rest facing -y).

    ``G = G_design D`` (D = :data:`DESIGN_FROM_REST`), ``q_j = G_parent^-1 G_j``.
    """
    G = rot.multiply(G_design, DESIGN_FROM_REST)
    local = np.empty_like(G)
    local[:, 0] = G[:, 0]
    par = BODY_PARENTS[1:]
    local[:, 1:] = rot.multiply(rot.conjugate(G[:, par]), G[:, 1:])
    return rot.normalize(local)


def design_positions(local: np.ndarray, pelvis_pos: np.ndarray) -> np.ndarray:
    """(T, 22, 3) world joint positions of local rotations (checks the pose)."""
    rest_z = rot.rotate(SMPL_NATIVE_TO_Z_UP, MEAN_SHAPE_REST_JOINTS)
    offsets = rest_z - rest_z[BODY_PARENTS.clip(min=0)]
    offsets[0] = 0.0
    trans = np.broadcast_to(offsets, (local.shape[0], 22, 3)).copy()
    trans[:, 0] = pelvis_pos
    pos, _ = forward_kinematics(BODY_PARENTS, trans, local)
    return pos


#: Segment (proximal joint, distal joint, mass fraction, centre-of-mass position
#: along the segment from the proximal end), approximate adult values after
#: de Leva (1996); the trunk is split over the spine chain.
SEGMENTS: tuple[tuple[int, int, float, float], ...] = (
    (PELVIS, SPINE1, 0.142, 0.5),
    (SPINE1, SPINE3, 0.155, 0.5),
    (SPINE3, NECK, 0.163, 0.5),
    (NECK, HEAD, 0.069, 1.0),
    (L_HIP, L_KNEE, 0.1416, 0.41), (R_HIP, R_KNEE, 0.1416, 0.41),
    (L_KNEE, L_ANKLE, 0.0433, 0.44), (R_KNEE, R_ANKLE, 0.0433, 0.44),
    (L_ANKLE, L_FOOT, 0.0137, 0.5), (R_ANKLE, R_FOOT, 0.0137, 0.5),
    (L_SHOULDER, L_ELBOW, 0.0271, 0.58), (R_SHOULDER, R_ELBOW, 0.0271, 0.58),
    (L_ELBOW, L_WRIST, 0.0162, 0.46), (R_ELBOW, R_WRIST, 0.0162, 0.46),
    (L_WRIST, L_WRIST, 0.0061, 0.0), (R_WRIST, R_WRIST, 0.0061, 0.0),
)


def centre_of_mass(positions: np.ndarray) -> np.ndarray:
    """Approximate whole-body centre of mass (T, 3) from (T, 22, 3) joint positions."""
    total = np.zeros(positions.shape[:-2] + (3,))
    mass = 0.0
    for a, b, m, r in SEGMENTS:
        total = total + m * (positions[..., a, :] + r * (positions[..., b, :] - positions[..., a, :]))
        mass += m
    return total / mass


def pose_positions(t: PoseTargets) -> np.ndarray:
    """(T, 22, 3) world joint positions of a target pose."""
    G, pelvis = solve_pose(t)
    return design_positions(to_local(G), pelvis)

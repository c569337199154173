"""Retargeting quality metrics: one harness for our output and for anyone else's.

Everything is computed from the robot trajectory (root pose + joint angles)
and the human clip it came from, so a retarget from another tool (Unitree's
LAFAN1 G1 CSVs) is scored exactly like ours. Units are in the metric names.

* ``keypoint_error_m``: mean distance between robot task frames and the scaled
  human keypoints (each segment scaled to the robot's length, as the IK targets
  are built), both relative to the pelvis (translation-free).
* ``limb_direction_error_deg`` (mean) / ``_p95_deg``: angle between each robot
  limb (hip->knee, knee->ankle, shoulder->elbow, elbow->wrist frames) and the
  human limb.
* ``lock_slide_cm_s``: mean horizontal speed of the sole centre between
  consecutive frames that are both inside the retargeter's own contact mask
  (the mask passed in as ``contacts``; it judges the locks by themselves).
* The independent foot measures (:func:`independent_foot_contacts`,
  :func:`foot_measures`), computed from the human keypoints alone, with no
  code of the retargeter: ``slide_cm_s`` (mean horizontal speed of the robot's
  sole centre over the human's contact foot-frames), ``slide_ref_cm_s`` (the
  same for the human ankle/toe midpoint x the clip's scale: what a perfect
  scaled copy of the human foot scores), ``slide_ratio`` (their ratio),
  ``near_ground_speed_cm_s`` (sole centre over foot-frames whose lowest sole
  corner is within 2 cm of the floor), ``contact_frac`` (share of foot-frames
  in contact) and, when the retargeter's locks are given, ``lock_coverage``
  (share of the contact foot-frames that are locked).
* ``contact_foot_height_m``: mean height of the lowest sole corner over contact
  frames (a constant float or sink shows here).
* ``ground_penetration_frac``: fraction of frames where a sole corner or a
  collision capsule (other than the feet's, whose soles stand for them) is
  more than 1 cm below z = 0; ``ground_penetration_max_m``.
* ``self_collision_frac``: fraction of frames where a checked capsule pair
  penetrates more than 1 cm; ``self_penetration_max_m``.
* ``joint_limit_violations``: (frame, joint) entries outside the limits by more
  than 1e-6 rad; ``joint_limit_excess_max_rad``.
* ``velocity_limit_excess_max``: max over joints of |qdot| / limit - 1 (0 when
  within); ``velocity_limit_frames_frac``.
* ``jerk_mean_rad_s3``: mean |d^3 q / dt^3| of the joints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.records.keypoints import KEYPOINT_NAMES, KEYPOINT_PARENT
from core.robot.collision import CollisionModel, closest_points_segments

if TYPE_CHECKING:
    from core.robot.model import Robot

LIMB_ENDS = ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_elbow", "right_elbow",
             "left_wrist", "right_wrist")

PENETRATION_TOLERANCE = 0.01
"""Depth (m) beyond which a frame counts as penetrating (ground or self)."""

#: The independent human foot-contact rule (issue 12): a foot is in contact when its toe is
#: below floor + TOE_HEIGHT and slower than CONTACT_SPEED, or its ankle is below floor +
#: ANKLE_HEIGHT and slower than CONTACT_SPEED (m, m/s; 3-D speeds by central differences).
TOE_HEIGHT = 0.04
ANKLE_HEIGHT = 0.10
CONTACT_SPEED = 0.3
FLOOR_PERCENTILE = 5.0
"""The human floor: this percentile (%) over frames of the lowest foot joint's height."""
NEAR_GROUND = 0.02
"""A robot sole whose lowest corner is within this height (m) of the floor counts as near the ground."""
FOOT_JOINTS: tuple[tuple[str, str], ...] = (("left_ankle", "left_toe"), ("right_ankle", "right_toe"))
SLIDE_REF_MIN_CM_S = 1e-3
"""Below this human reference slide (cm/s) the ratio slide / slide_ref is undefined (NaN)."""

def independent_foot_contacts(human_keypoints: np.ndarray, fps: float) -> tuple[np.ndarray, float]:
    """Human foot contact [left, right] (T, 2) bool and the floor height (m), from the keypoints alone.

    The rule of issue 12, deliberately simple and independent of the retargeter's own
    detector: toe below floor + 4 cm and toe speed < 0.3 m/s, or ankle below floor + 10 cm
    and ankle speed < 0.3 m/s; floor = 5th percentile over frames of the lowest foot joint.

    Args:
        human_keypoints: (T, K, 3) over :data:`KEYPOINT_NAMES`, m, Z-up.
        fps: frame rate (Hz).
    """
    kp = np.asarray(human_keypoints, dtype=np.float64)
    kidx = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    joints = [kidx[n] for pair in FOOT_JOINTS for n in pair]
    floor = float(np.percentile(kp[:, joints, 2].min(axis=1), FLOOR_PERCENTILE))
    if kp.shape[0] > 1:
        speed = np.linalg.norm(np.gradient(kp[:, joints], 1.0 / fps, axis=0), axis=-1)    # (T, 4)
    else:
        speed = np.zeros((kp.shape[0], len(joints)))
    height = kp[:, joints, 2] - floor
    slow = speed < CONTACT_SPEED
    out = []
    for s in range(len(FOOT_JOINTS)):
        ankle, toe = 2 * s, 2 * s + 1
        out.append(((height[:, toe] < TOE_HEIGHT) & slow[:, toe])
                   | ((height[:, ankle] < ANKLE_HEIGHT) & slow[:, ankle]))
    return np.stack(out, axis=1), floor


def horizontal_speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(T, ...) horizontal speed (m/s, central differences) of points (T, ..., 3)."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape[0] < 2:
        return np.zeros(p.shape[:-1])
    return np.linalg.norm(np.gradient(p[..., :2], 1.0 / fps, axis=0), axis=-1)


def foot_measures(fps: float, sole_centre: np.ndarray, sole_lowest: np.ndarray, human_keypoints: np.ndarray,
                  root_scale: float, locks: np.ndarray | None = None) -> dict[str, float]:
    """The independent foot-slide measures of one robot trajectory (see the module docstring).

    Args:
        fps: frame rate (Hz).
        sole_centre: (T, 2, 3) robot sole centres [left, right], m, world, floor z = 0.
        sole_lowest: (T, 2) height (m) of each sole's lowest corner.
        human_keypoints: (T, K, 3) the human clip (m, Z-up), frame-aligned with the robot.
        root_scale: the clip's human -> robot scale.
        locks: (T, 2) bool, the retargeter's foot locks (any kind: flat, heel or toe pivot);
            gives ``lock_coverage``.
    """
    contact, _ = independent_foot_contacts(human_keypoints, fps)
    kidx = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    kp = np.asarray(human_keypoints, dtype=np.float64)
    mid = np.stack([0.5 * (kp[:, kidx[a]] + kp[:, kidx[t]]) for a, t in FOOT_JOINTS], axis=1)     # (T, 2, 3)
    robot_speed = horizontal_speed(sole_centre, fps)
    human_speed = horizontal_speed(mid, fps) * root_scale
    out: dict[str, float] = {"contact_frac": float(np.mean(contact))}
    if contact.any():
        out["slide_cm_s"] = float(100.0 * np.mean(robot_speed[contact]))
        out["slide_ref_cm_s"] = float(100.0 * np.mean(human_speed[contact]))
        # undefined where the scaled human foot does not move at all (a procedural clip's planted feet)
        out["slide_ratio"] = (out["slide_cm_s"] / out["slide_ref_cm_s"] if out["slide_ref_cm_s"] > SLIDE_REF_MIN_CM_S
                              else float("nan"))
    else:
        out["slide_cm_s"] = out["slide_ref_cm_s"] = 0.0
        out["slide_ratio"] = float("nan")
    near = np.asarray(sole_lowest) < NEAR_GROUND
    out["near_ground_frac"] = float(np.mean(near))
    out["near_ground_speed_cm_s"] = float(100.0 * np.mean(robot_speed[near])) if near.any() else 0.0
    if locks is not None:
        locks = np.asarray(locks, dtype=bool)
        out["lock_coverage"] = float(np.mean(locks[contact])) if contact.any() else float("nan")
    return out


def trajectory_poses(robot: Robot, q: np.ndarray, frames: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, F, 3) and rotation matrices (T, F, 3, 3) of ``frames`` for configurations q (T, nq).

    Batched over the frames in numpy (``Robot.frame_placements``; pinocchio frame by frame for models
    the batched FK does not support)."""
    q = np.atleast_2d(np.asarray(q, dtype=np.float64))
    return robot.frame_placements(q[:, :3], q[:, 3:7], q[:, 7:], frames)


def metric_frames(robot: Robot) -> list[str]:
    """The robot frames :func:`evaluate` needs: task frames, feet and capsule frames."""
    cfg = robot.config
    return list(dict.fromkeys([t.frame for t in cfg.keypoint_tasks] + list(cfg.foot_frames)
                              + list(robot.collision.frames)))


def self_penetration(col: CollisionModel, frame_pos: np.ndarray, frame_rot: np.ndarray | None = None,
                     offsets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(T,) deepest penetration (m, >= 0) over the checked capsule pairs of each frame.

    Same distances as ``CollisionModel.pair_distances``, evaluated only for the
    pairs whose bounding spheres overlap (the others cannot penetrate; the test
    compares squared centre distances with the squared reach).

    Args:
        col: the robot's ``CollisionModel``.
        frame_pos: (T, F, 3) positions of ``col.frames``; frame_rot: (T, F, 3, 3).
        offsets: ``col.segment_offsets(frame_rot)``, precomputed (then ``frame_rot`` is unused).
    """
    T = frame_pos.shape[0]
    worst = np.zeros(T)
    if not len(col.pairs) or T == 0:
        return worst
    a, b = col.segments(frame_pos, frame_rot, offsets)
    i, j = col.pairs[:, 0], col.pairs[:, 1]
    half = 0.5 * np.linalg.norm(col.b_local - col.a_local, axis=1)
    reach = half[i] + half[j] + col.radius[i] + col.radius[j]
    centre = 0.5 * (a + b)
    d = centre[:, j] - centre[:, i]
    t, p = np.nonzero(np.einsum("tpk,tpk->tp", d, d) < reach * reach)
    if len(t):
        # end points of the candidates, gathered from the (T N, 3) rows by np.take (several times faster
        # than fancy indexing with two index arrays)
        N = a.shape[1]
        ii, jj = t * N + i[p], t * N + j[p]
        a, b = a.reshape(-1, 3), b.reshape(-1, 3)
        ca, cb = closest_points_segments(np.take(a, ii, axis=0), np.take(b, ii, axis=0), np.take(a, jj, axis=0),
                                         np.take(b, jj, axis=0))
        depth = col.radius[i[p]] + col.radius[j[p]] - np.linalg.norm(cb - ca, axis=-1)
        np.maximum.at(worst, t, depth)
    return worst


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    nu = np.linalg.norm(u, axis=-1)
    nv = np.linalg.norm(v, axis=-1)
    cos = np.einsum("...i,...i->...", u, v) / np.maximum(nu * nv, 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def evaluate(robot: Robot, fps: float, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray,
             human_keypoints: np.ndarray, contacts: np.ndarray, root_scale: float,
             target_pos: np.ndarray | None = None,
             poses: tuple[list[str], np.ndarray, np.ndarray] | None = None,
             locks: np.ndarray | None = None,
             capsule_offsets: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """All metrics of one robot trajectory against its human clip.

    Args:
        robot: a ``core.robot.Robot``.
        fps: frame rate (Hz) of both.
        root_pos: (T, 3) m; root_rot: (T, 4) xyzw; dof_pos: (T, D) rad.
        human_keypoints: (T, K, 3) over :data:`KEYPOINT_NAMES`, m, Z-up.
        contacts: (T, 2) bool human foot contact [left, right] as the retargeter detected it
            (gives ``lock_slide_cm_s`` and ``contact_foot_height_m``; the independent
            measures detect contact themselves).
        root_scale: the human -> robot scale of the clip.
        target_pos: (T, M, 3) the scaled human keypoints of the robot's keypoint
            tasks (retarget targets, m); when None the human keypoints scaled by
            ``root_scale`` stand in.
        poses: optional precomputed FK of the trajectory: (frame names covering
            :func:`metric_frames`, positions (T, F, 3), rotation matrices (T, F, 3, 3)).
        locks: (T, 2) bool, the retargeter's foot locks (gives ``lock_coverage``).
        capsule_offsets: ``robot.collision.segment_offsets`` of the capsule frames' rotations in
            ``poses``, precomputed (only with ``poses``).
    """
    T = root_pos.shape[0]
    if human_keypoints.shape[0] != T or contacts.shape[0] != T:
        raise ValueError(f"frame counts differ: robot {T}, human {human_keypoints.shape[0]}, "
                         f"contacts {contacts.shape[0]}")
    cfg = robot.config
    tasks = list(cfg.keypoint_tasks)
    col = robot.collision
    feet = list(cfg.foot_frames)
    if poses is None:
        frames = metric_frames(robot)
        pos, rot = trajectory_poses(robot, robot.configuration(root_pos, root_rot, dof_pos), frames)
    else:
        frames, pos, rot = list(poses[0]), poses[1], poses[2]
    fi = {f: i for i, f in enumerate(frames)}
    kidx = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    out: dict[str, float] = {"frames": float(T)}

    # keypoints relative to the pelvis, after scaling
    frame_of = {t.human: t.frame for t in tasks}
    others = [m for m, t in enumerate(tasks) if t.human != "pelvis"]
    pelvis = [t.human for t in tasks].index("pelvis")
    r = pos[:, [fi[tasks[m].frame] for m in others]] - pos[:, [fi[tasks[pelvis].frame]]]
    if target_pos is not None:
        h = target_pos[:, others] - target_pos[:, [pelvis]]
    else:
        h = root_scale * (human_keypoints[:, [kidx[tasks[m].human] for m in others]]
                          - human_keypoints[:, [kidx["pelvis"]]])
    out["keypoint_error_m"] = float(np.mean(np.linalg.norm(r - h, axis=-1)))

    # limb directions
    limbs: list[tuple[str, str]] = []
    for end in LIMB_ENDS:
        start = KEYPOINT_PARENT[end]
        if start is not None and end in frame_of and start in frame_of:
            limbs.append((start, end))
    if limbs:
        hu = np.stack([human_keypoints[:, kidx[b]] - human_keypoints[:, kidx[a]] for a, b in limbs], axis=1)
        ro = np.stack([pos[:, fi[frame_of[b]]] - pos[:, fi[frame_of[a]]] for a, b in limbs], axis=1)
        ang = _angle(ro, hu)
        out["limb_direction_error_deg"] = float(np.mean(ang))
        out["limb_direction_error_p95_deg"] = float(np.percentile(ang, 95))

    # feet: slide and height in contact, ground penetration
    corners_z, centres = [], []
    for k, f in enumerate(feet):
        try:
            sole = cfg.sole(f)
            c = sole.corners()
            centre = np.asarray(sole.center)
        except KeyError:
            c = np.zeros((1, 3))
            centre = np.zeros(3)
        R = rot[:, fi[f]]
        corners_z.append(pos[:, fi[f], 2:3] + R[:, 2] @ c.T)                      # (T, C) corner heights
        centres.append(pos[:, fi[f]] + R @ centre)
    lowest_sole = np.stack([z.min(axis=1) for z in corners_z], axis=1)          # (T, 2)
    centre = np.stack(centres, axis=1)                                          # (T, 2, 3)
    contacts = np.asarray(contacts, dtype=bool)
    step = np.linalg.norm(np.diff(centre[..., :2], axis=0), axis=-1) * fps             # (T-1, 2) m/s
    both = contacts[1:] & contacts[:-1]
    out["lock_slide_cm_s"] = float(100.0 * np.mean(step[both])) if both.any() else 0.0
    out.update(foot_measures(fps, centre, lowest_sole, human_keypoints, root_scale, locks))
    out["contact_foot_height_m"] = float(np.mean(lowest_sole[contacts])) if contacts.any() else float("nan")
    cap_idx = np.array([fi[f] for f in col.frames], dtype=int)
    # feet touch the floor through their soles; their capsules are coarse bounding volumes
    not_foot = np.array([p.frame not in feet for p in col.primitives], dtype=bool)
    cap_pos = pos[:, cap_idx]
    offsets = capsule_offsets if capsule_offsets is not None else col.segment_offsets(rot[:, cap_idx])
    cap_low = col.lowest_points(cap_pos, offsets=offsets)[:, not_foot]            # (T, N')
    floor_min = np.minimum(lowest_sole.min(axis=1), cap_low.min(axis=1) if cap_low.size else np.inf)
    out["ground_penetration_frac"] = float(np.mean(floor_min < -PENETRATION_TOLERANCE))
    out["ground_penetration_max_m"] = float(max(0.0, -floor_min.min()))

    # self-collision
    worst = self_penetration(col, cap_pos, offsets=offsets)
    out["self_collision_frac"] = float(np.mean(worst > PENETRATION_TOLERANCE))
    out["self_penetration_max_m"] = float(worst.max()) if T else 0.0

    # limits and smoothness
    lo, hi = np.asarray(robot.lower), np.asarray(robot.upper)
    excess = np.maximum(dof_pos - hi, lo - dof_pos)
    out["joint_limit_violations"] = float(np.sum(excess > 1e-6))
    out["joint_limit_excess_max_rad"] = float(max(0.0, excess.max()))
    if T > 1:
        vel = np.gradient(dof_pos, 1.0 / fps, axis=0)
        ratio = np.abs(vel) / np.asarray(robot.velocity_limit)
        out["velocity_limit_excess_max"] = float(max(0.0, ratio.max() - 1.0))
        out["velocity_limit_frames_frac"] = float(np.mean((ratio > 1.0).any(axis=1)))
    else:
        out["velocity_limit_excess_max"] = 0.0
        out["velocity_limit_frames_frac"] = 0.0
    if T > 3:
        jerk = np.diff(dof_pos, n=3, axis=0) * fps ** 3
        out["jerk_mean_rad_s3"] = float(np.mean(np.abs(jerk)))
    else:
        out["jerk_mean_rad_s3"] = 0.0
    return out

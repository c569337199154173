"""What the human motion demands of the robot beyond what the IK lets it do.

The IK keeps its solution feasible (self-collision barrier rows, velocity
limits, smoothed targets), so an infeasible human motion can come out as a
clean robot motion that no longer follows the human. Two per-frame measures
tell the filter what was asked: the target penetration and the demanded joint
speed.

**Target penetration**: how deep the human's motion asks the robot's bodies to go into each other.

The IK's self-collision barrier rows keep the *solved* robot collision-free,
so a motion that demands an arm through the torso comes out clean, and only
the difference between the targets and the solution tells that the human
asked for something the robot cannot do. This module measures that demand.

Each collision capsule is moved rigidly by the position error (target -
solved) of the limb targets it hangs between: a capsule on a limb task frame
(elbow, wrist, knee, ankle) takes that task's error; a capsule between two
task frames on the kinematic chain (e.g. the wrist roll link between elbow
and wrist) takes their errors blended by its distance to each (rest
posture); the trunk, hips and shoulders (rigid-offset targets, not limbs)
stay as solved. The *target penetration* of a frame is the deepest overlap of
the robot's checked capsule pairs after that displacement (m, >= 0): the
penetration the scaled human limbs would cause against the solved body.

World frame Z-up, metres.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pinocchio as pin

from stages.retarget.metrics import self_penetration
from stages.retarget.targets import DIRECTIONAL

if TYPE_CHECKING:
    from core.robot.model import Robot


def _support(model: pin.Model, frame: str) -> tuple[int, list[int]]:
    """(parent joint id, joint ids from the root to it) of a frame."""
    j = model.frames[model.getFrameId(frame)].parentJoint
    return j, list(model.supports[j])


def capsule_frame_weights(robot: Robot, task_frames: tuple[str, ...], limb_tasks: np.ndarray) -> np.ndarray:
    """(C, M) weights of the task errors that move each capsule frame (``robot.collision.frames``).

    Args:
        robot: a ``core.robot.Robot``.
        task_frames: (M,) the IK task frames.
        limb_tasks: (M,) bool, tasks whose error moves the capsules (limb targets); the
            other tasks anchor their capsules where they were solved (weight 0).

    A capsule frame on the same joint as a task frame follows that task alone;
    otherwise it blends its nearest task-frame ancestor and nearest task-frame
    descendant by its rest distance to each (only the ancestor when it has no
    task-frame descendant).
    """
    model = robot.model
    col = robot.collision
    data = model.createData()
    q = pin.neutral(model)
    q[7:] = robot.default_pose
    pin.framesForwardKinematics(model, data, q)

    def origin(name: str) -> np.ndarray:
        return data.oMf[model.getFrameId(name)].translation

    tasks = [(m, *_support(model, f)) for m, f in enumerate(task_frames)]
    W = np.zeros((len(col.frames), len(task_frames)))
    for c, frame in enumerate(col.frames):
        joint, support = _support(model, frame)
        same = [m for m, jt, _ in tasks if jt == joint]
        if same:
            W[c, same[0]] = 1.0
            continue
        anc = [(support.index(jt), m) for m, jt, _ in tasks if jt in support]
        desc = [(float(np.linalg.norm(origin(task_frames[m]) - origin(frame))), m)
                for m, jt, sup in tasks if joint in sup]
        if not anc:
            continue
        a = max(anc)[1]
        if not desc:
            W[c, a] = 1.0
            continue
        dist_d, d = min(desc)
        dist_a = float(np.linalg.norm(origin(task_frames[a]) - origin(frame)))
        W[c, a] = dist_d / max(dist_a + dist_d, 1e-9)
        W[c, d] = 1.0 - W[c, a]
    return W * np.asarray(limb_tasks, dtype=np.float64)[None, :]


def limb_task_mask(keypoints: tuple[str, ...]) -> np.ndarray:
    """(M,) bool: the tasks whose targets are limb keypoints (placed along the human's segment)."""
    return np.array([k in DIRECTIONAL for k in keypoints], dtype=bool)


def target_penetration(robot: Robot, task_frames: tuple[str, ...], task_keypoints: tuple[str, ...],
                       target_pos: np.ndarray, frames: list[str], pos: np.ndarray, rot: np.ndarray,
                       capsule_offsets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(T,) deepest capsule overlap (m, >= 0) with every capsule moved by its limb targets' errors.

    Args:
        robot: a ``core.robot.Robot``.
        task_frames: (M,) the IK task frames; task_keypoints: (M,) their human keypoints.
        target_pos: (T, M, 3) IK target positions, m, world.
        frames: names of the solved frame poses below (must cover the task and capsule frames).
        pos: (T, F, 3) solved world positions of ``frames``, m; rot: (T, F, 3, 3).
        capsule_offsets: ``robot.collision.segment_offsets`` of the capsule frames' rotations,
            precomputed (the moved capsules keep their solved rotations).
    """
    col = robot.collision
    index = {f: i for i, f in enumerate(frames)}
    task_idx = [index[f] for f in task_frames]
    cap_idx = [index[f] for f in col.frames]
    err = np.asarray(target_pos, dtype=np.float64) - pos[:, task_idx]                   # (T, M, 3)
    W = capsule_frame_weights(robot, tuple(task_frames), limb_task_mask(tuple(task_keypoints)))
    moved = pos[:, cap_idx] + np.matmul(W, err)                                          # (T, C, 3)
    offsets = capsule_offsets if capsule_offsets is not None else col.segment_offsets(rot[:, cap_idx])
    return self_penetration(col, moved, offsets=offsets)


#: Limbs whose speed is judged: (name, kind, keypoints, robot joint name pattern).
#: ``hinge``: rate of the angle between the two segments; ``direction``: angular
#: speed of the limb segment's direction in the trunk (shoulder) or pelvis (hip) frame.
SPEED_LIMBS: tuple[tuple[str, str, tuple[str, ...], str], ...] = tuple(
    item for side in ("left", "right") for item in (
        (f"{side}_elbow", "hinge", (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist"), f"{side}_elbow"),
        (f"{side}_knee", "hinge", (f"{side}_hip", f"{side}_knee", f"{side}_ankle"), f"{side}_knee"),
        (f"{side}_shoulder", "direction", (f"{side}_shoulder", f"{side}_elbow"), f"{side}_shoulder"),
        (f"{side}_hip", "direction", (f"{side}_hip", f"{side}_knee"), f"{side}_hip"),
    )
)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _body_frame(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation whose columns are forward, left, up (from an up and a left vector)."""
    z = _unit(up)
    y = _unit(left - np.sum(left * z, axis=-1, keepdims=True) * z)
    return np.stack([np.cross(y, z), y, z], axis=-1)


def _step_speed(step: np.ndarray, dt: float) -> np.ndarray:
    """(T,) speed from the (T-1,) absolute changes between consecutive frames: at each frame the
    larger of the step before and the step after, divided by ``dt``. Unlike a central difference it
    does not cancel an oscillation that turns back within two frames."""
    before = np.concatenate([step[:1], step])
    after = np.concatenate([step, step[-1:]])
    return np.maximum(before, after) / dt


def _direction_speed(d: np.ndarray, dt: float) -> np.ndarray:
    """(T,) angular speed (rad/s) of unit directions d (T, 3), from the angle swept between
    consecutive frames (an angle, unlike a difference of unit vectors, does not saturate)."""
    return _step_speed(np.arccos(np.clip(np.sum(d[1:] * d[:-1], axis=-1), -1.0, 1.0)), dt)


def demanded_joint_speed(keypoints: np.ndarray, names: tuple[str, ...], fps: float, robot: Robot) -> np.ndarray:
    """(T,) joint speed the human motion demands / the robot's velocity limit (largest over limbs).

    Measured on the human keypoints (angles do not change with scaling):
    elbows and knees by the rate of their hinge angle; shoulders and hips by
    the angular speed of the upper arm / thigh direction in the trunk / pelvis
    frame, compared with the fastest joint of that group (exact for a
    single-axis swing, an underestimate for a diagonal one). Per frame, the
    faster of the steps to the previous and the next frame at the clip's ``fps``.

    Args:
        keypoints: (T, K, 3) human keypoint positions (m, Z-up).
        names: the K keypoint names.
        fps: frame rate (Hz).
        robot: a ``core.robot.Robot`` (joint names and velocity limits).
    """
    index = {n: i for i, n in enumerate(names)}
    p = np.asarray(keypoints, dtype=np.float64)
    T = p.shape[0]
    if T < 2:
        return np.zeros(T)
    P = lambda n: p[:, index[n]]  # noqa: E731
    trunk = _body_frame(P("neck") - P("spine"), P("left_shoulder") - P("right_shoulder"))
    pelvis = _body_frame(P("spine") - P("pelvis"), P("left_hip") - P("right_hip"))
    dt = 1.0 / fps
    ratios = []
    for limb, kind, points, pattern in SPEED_LIMBS:
        limits = [v for n, v in zip(robot.dof_names, robot.velocity_limit) if n.startswith(pattern)]
        if not limits or not all(k in index for k in points):
            continue
        if kind == "hinge":
            a, b, c = (P(k) for k in points)
            cos = np.sum(_unit(b - a) * _unit(c - b), axis=-1)
            speed = _step_speed(np.abs(np.diff(np.arccos(np.clip(cos, -1.0, 1.0)))), dt)
        else:
            frame = trunk if limb.endswith("shoulder") else pelvis
            local = np.einsum("tij,ti->tj", frame, _unit(P(points[1]) - P(points[0])))
            speed = _direction_speed(local, dt)
        ratios.append(speed / max(limits))
    return np.max(np.stack(ratios), axis=0) if ratios else np.zeros(T)

"""BeyondMimic motion files (HybridRobotics ``whole_body_tracking``, mjlab's tracking task).

What that consumer reads (its ``MotionLoader`` in
``tasks/tracking/mdp/commands.py``, files written by ``scripts/csv_to_npz.py``):
``np.load(file)`` of an npz with

* ``fps``: shape (1,), the control rate (50 Hz by default: sim dt 0.005 s x decimation 4);
* ``joint_pos``, ``joint_vel``: (T, J) rad, rad/s, in the simulator's joint order;
* ``body_pos_w`` (T, B, 3) m, ``body_quat_w`` (T, B, 4) **w x y z** (Isaac Lab's
  order), ``body_lin_vel_w`` (T, B, 3) m/s, ``body_ang_vel_w`` (T, B, 3) rad/s, world
  frame, for every body of the articulation in the simulator's body order: the
  loader picks its tracked bodies with ``robot.find_bodies(names)``, whose
  indices are positions in that order.

Isaac Lab's articulation orders joints and bodies breadth first over the
kinematic tree (the root, then every body one joint away, in the order the
description lists them, then those two joints away, ...), and its URDF
importer merges links attached by fixed joints into their parent. So the
bodies here are the root and the child link of every moving joint, and both
lists follow that breadth-first order (:func:`isaac_order`); ``joint_names``
and ``body_names`` arrays are added so a reader can check.

Velocities are finite differences of the exported frames (central, one-sided
at the ends), as ``csv_to_npz.py`` computes its own: linear velocity of each
body's origin (Isaac Lab reports the centre of mass; the difference is the
lever arm times the angular velocity, a few cm/s), angular velocity from
consecutive quaternions.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from core import rotations as rot

#: the consumer's control rate, Hz
DEFAULT_FPS = 50.0


def isaac_order(robot: Any) -> tuple[list[str], list[str]]:
    """(joint names, body names) of ``robot`` in Isaac Lab's breadth-first articulation order.

    ``robot`` is a :class:`core.robot.Robot` (pinocchio model with a free-flyer
    root). Bodies: the root body, then the body of each moving joint.
    """
    import pinocchio as pin

    model = robot.model
    children: dict[int, list[int]] = {j: [] for j in range(model.njoints)}
    for j in range(2, model.njoints):               # 0: universe, 1: the free-flyer root
        children[int(model.parents[j])].append(j)
    body_of = {}
    for frame in model.frames:
        if frame.type == pin.FrameType.BODY and frame.parentJoint not in body_of:
            body_of[int(frame.parentJoint)] = frame.name
    joints, bodies = [], [body_of[1]]
    queue = deque(children[1])
    while queue:
        j = queue.popleft()
        joints.append(model.names[j])
        bodies.append(body_of[j])
        queue.extend(children[j])
    return joints, bodies


def angular_velocity(quat_xyzw: np.ndarray, dt: float) -> np.ndarray:
    """World angular velocity (rad/s) of rotations (T, ..., 4) xyzw sampled every ``dt`` s (central differences)."""
    q = np.asarray(quat_xyzw, dtype=np.float64)
    if q.shape[0] < 2:
        return np.zeros(q.shape[:-1] + (3,))
    lo = np.concatenate([q[:1], q[:-2], q[-2:-1]], axis=0)
    hi = np.concatenate([q[1:2], q[2:], q[-1:]], axis=0)
    span = np.full(q.shape[0], 2.0 * dt)
    span[0] = span[-1] = dt
    rel = rot.multiply(hi, rot.conjugate(lo))          # world-frame increment
    return rot.to_rotvec(rel) / span.reshape((-1,) + (1,) * (q.ndim - 1))


def motion_arrays(root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray, fps: float, robot: Any,
                  dof_names: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """The BeyondMimic npz arrays of one motion sampled at ``fps``.

    Args:
        root_pos: (T, 3) m, root_rot: (T, 4) xyzw, dof_pos: (T, D) rad in ``dof_names`` order.
        robot: :class:`core.robot.Robot` the motion is for.
    """
    joints, bodies = isaac_order(robot)
    column = {n: i for i, n in enumerate(dof_names)}
    missing = [n for n in joints if n not in column]
    if missing:
        raise ValueError(f"the dataset lacks joint(s) {missing} of robot {robot.name}")
    dt = 1.0 / fps
    # FK needs the robot's own joint order
    model_order = [column[n] for n in robot.dof_names]
    pos, quat = robot.forward_kinematics(root_pos, root_rot, np.asarray(dof_pos)[:, model_order], bodies)
    joint_pos = np.asarray(dof_pos, dtype=np.float64)[:, [column[n] for n in joints]]
    return {
        "fps": np.array([int(round(fps))] if abs(fps - round(fps)) < 1e-9 else [fps]),
        "joint_pos": joint_pos.astype(np.float32),
        "joint_vel": _gradient(joint_pos, dt).astype(np.float32),
        "body_pos_w": pos.astype(np.float32),
        "body_quat_w": np.ascontiguousarray(quat[..., [3, 0, 1, 2]], dtype=np.float32),   # xyzw -> wxyz
        "body_lin_vel_w": _gradient(pos, dt).astype(np.float32),
        "body_ang_vel_w": angular_velocity(quat, dt).astype(np.float32),
        "joint_names": np.asarray(joints),
        "body_names": np.asarray(bodies),
    }


def _gradient(x: np.ndarray, dt: float) -> np.ndarray:
    return np.gradient(x, dt, axis=0) if x.shape[0] > 1 else np.zeros_like(x)

"""The robot: a pinocchio model with a free-flyer root, limits and forward kinematics.

Conventions: world Z-up, metres, radians; quaternions **x y z w**. The
pinocchio free-flyer configuration is ``q = [x y z, qx qy qz qw, joints...]``
(root position and orientation of the root body in the world, then the 1-DoF
joints in description order, ``dof_names``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pinocchio as pin

from core.errors import ConfigError
from core.robot.collision import CollisionModel, PairDistances
from core.robot.config import RobotConfig
from core.robot.fk import BatchFK, batch_supported, build_batch_fk
from core.rotations import from_matrix

_NO_LIMIT = 1e30


def build_model(config: RobotConfig) -> pin.Model:
    """Pinocchio model of ``config.description`` with a free-flyer root joint.

    URDF (``.urdf``) or MJCF (``.xml``/``.mjcf``); an MJCF whose first joint is
    already free keeps it.

    Raises:
        ConfigError: unsupported file type, parse failure or non-1-DoF joints.
    """
    path = config.description
    where = config.source or path
    suffix = path.suffix.lower()
    try:
        if suffix == ".urdf":
            model = pin.buildModelFromUrdf(str(path), pin.JointModelFreeFlyer())
        elif suffix in (".xml", ".mjcf"):
            model = pin.buildModelFromMJCF(str(path))
            if model.njoints < 2 or model.joints[1].shortname() != "JointModelFreeFlyer":
                model = pin.buildModelFromMJCF(str(path), pin.JointModelFreeFlyer())
        else:
            raise ConfigError(where, "description", f"unsupported description type {suffix!r} (use .urdf or .xml)")
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(where, "description", f"pinocchio cannot load {path}: {exc}") from None
    if model.nq != model.nv + 1 or any(model.joints[j].nq != 1 for j in range(2, model.njoints)):
        raise ConfigError(where, "description", "only 1-DoF joints below the free-flyer root are supported")
    return model


class Robot:
    """A loaded robot (immutable after construction; per-thread state lives in ``pin.Data``).

    Attributes:
        name: robot name.
        config: the :class:`RobotConfig` it was built from.
        model: pinocchio model with a free-flyer root.
        dof_names: (D,) 1-DoF joint names in description order.
        lower, upper: (D,) position limits, rad.
        velocity_limit: (D,) rad/s (description, filled/overridden by the config;
            inf where neither gives one).
        effort_limit: (D,) Nm (same rules).
    """

    def __init__(self, config: RobotConfig):
        self.config = config
        self.name = config.name
        self.model = build_model(config)
        model = self.model
        self.dof_names: tuple[str, ...] = tuple(model.names[j] for j in range(2, model.njoints))
        self.lower = np.array(model.lowerPositionLimit[7:], dtype=np.float64)
        self.upper = np.array(model.upperPositionLimit[7:], dtype=np.float64)
        vel = np.array(model.velocityLimit[6:], dtype=np.float64)
        vel[(vel <= 0) | (vel > _NO_LIMIT)] = np.inf
        for joint, value in config.velocity_limits:
            vel[self._dof_index(joint, "velocity_limits")] = value
        self.velocity_limit = vel
        effort = np.array(model.effortLimit[6:], dtype=np.float64)
        effort[(effort <= 0) | (effort > _NO_LIMIT)] = np.inf
        for joint, value in config.effort_limits:
            effort[self._dof_index(joint, "effort_limits")] = value
        self.effort_limit = effort
        for arr in (self.lower, self.upper, self.velocity_limit, self.effort_limit):
            arr.setflags(write=False)
        self._frame_ids: dict[str, int] = {}
        for fid, frame in enumerate(model.frames):
            # body frames win over joint frames of the same name
            if frame.name not in self._frame_ids or frame.type == pin.FrameType.BODY:
                self._frame_ids[frame.name] = fid
        for key, names in (("foot_frames", config.foot_frames), ("key_links", config.key_links),
                           ("keypoint_tasks", [t.frame for t in config.keypoint_tasks]),
                           ("scale_segments", [f for r in config.scale_segments for f in r.robot]),
                           ("primitives", [p.frame for p in config.primitives]),
                           ("soles", [s.frame for s in config.soles]),
                           ("root_frame", [config.root_frame])):
            for name in names:
                if name not in self._frame_ids:
                    raise ConfigError(config.source, key, f"frame {name!r} is not in {config.description.name}")
        for key, pairs in (("default_pose", config.default_pose), ("posture_weights", config.posture_weights)):
            for joint, _ in pairs:
                self._dof_index(joint, key)

    def _dof_index(self, joint: str, key: str) -> int:
        try:
            return self.dof_names.index(joint)
        except ValueError:
            raise ConfigError(self.config.source, key, f"joint {joint!r} is not a joint of {self.name}") from None

    def __repr__(self) -> str:
        return f"Robot({self.name!r}, dofs={self.num_dofs}, description={str(self.config.description)!r})"

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    @cached_property
    def total_mass(self) -> float:
        """Total mass (kg)."""
        return float(pin.computeTotalMass(self.model))

    @cached_property
    def default_pose(self) -> np.ndarray:
        """(D,) reference joint positions (rad): zeros except the config's ``default_pose``, clipped to limits."""
        q = np.zeros(self.num_dofs)
        for joint, value in self.config.default_pose:
            q[self.dof_names.index(joint)] = value
        q = np.clip(q, self.lower, self.upper)
        q.setflags(write=False)
        return q

    @cached_property
    def posture_weights(self) -> np.ndarray:
        """(D,) posture task weight per joint."""
        w = np.full(self.num_dofs, self.config.posture_default_weight)
        for joint, value in self.config.posture_weights:
            w[self.dof_names.index(joint)] = value
        w.setflags(write=False)
        return w

    def _loop_fk(self, qs: np.ndarray, fids: list[int], data: pin.Data) -> tuple[np.ndarray, np.ndarray]:
        """Pinocchio FK frame by frame: positions (T, F, 3), rotation matrices (T, F, 3, 3)."""
        model = self.model
        T, F = qs.shape[0], len(fids)
        rots = np.empty((T, F, 3, 3))
        pos = np.empty((T, F, 3))
        for t in range(T):
            pin.forwardKinematics(model, data, qs[t])
            for k, fid in enumerate(fids):
                m = pin.updateFramePlacement(model, data, fid)
                pos[t, k] = m.translation
                rots[t, k] = m.rotation
        return pos, rots

    @cached_property
    def collision(self) -> CollisionModel:
        """Capsule self-collision model (pairs on frames one joint apart are skipped).

        With no ``collision_pairs`` in the config, every non-adjacent pair is
        checked except those already overlapping in the default pose (capsules
        fitted loosely around a joint would otherwise always "collide").
        """
        model = CollisionModel.build(self.config, self.adjacent_frames())
        if self.config.collision_pairs or not len(model.pairs):
            return model
        pos, rot = self.frame_placements(np.zeros((1, 3)), np.array([[0.0, 0.0, 0.0, 1.0]]),
                                         self.default_pose[None], model.frames)
        return model.with_pairs(model.pair_distances(pos, rot).signed[0] >= 0.0)

    def adjacent_frames(self) -> set[frozenset[str]]:
        """Pairs of body frames moved by the same joint or by a joint and its parent joint."""
        model = self.model
        joint_of = {f.name: f.parentJoint for f in model.frames if f.type == pin.FrameType.BODY}
        out = set()
        names = list(joint_of)
        for i, na in enumerate(names):
            for nb in names[i + 1:]:
                ja, jb = joint_of[na], joint_of[nb]
                if ja == jb or model.parents[ja] == jb or model.parents[jb] == ja:
                    out.add(frozenset((na, nb)))
        return out

    def collision_distances(self, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray,
                            data: pin.Data | None = None) -> PairDistances:
        """Signed distances (T, P) of ``self.collision.pairs`` over a trajectory (see forward_kinematics)."""
        pos, rot = self.frame_placements(root_pos, root_rot, dof_pos, self.collision.frames, data)
        return self.collision.pair_distances(pos, rot)

    @cached_property
    def _batch_fk(self) -> BatchFK | None:
        return build_batch_fk(self.model) if batch_supported(self.model) else None

    def new_data(self) -> pin.Data:
        """Fresh pinocchio data (one per thread / solver)."""
        return self.model.createData()

    def frame_id(self, name: str) -> int:
        """Pinocchio frame index of a body/frame name (body frames preferred; KeyError if absent)."""
        try:
            return self._frame_ids[name]
        except KeyError:
            raise KeyError(f"{self.name} has no frame {name!r}") from None

    def frame_ids(self, names: Sequence[str]) -> list[int]:
        return [self.frame_id(n) for n in names]

    @cached_property
    def body_names(self) -> tuple[str, ...]:
        """Names of all body frames (links), in model order."""
        return tuple(f.name for f in self.model.frames if f.type == pin.FrameType.BODY)

    def configuration(self, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray) -> np.ndarray:
        """Pinocchio ``q`` (nq,) or (T, nq) from root position (m), root quaternion xyzw
        (normalised here) and joint positions (rad)."""
        root_pos = np.asarray(root_pos, dtype=np.float64)
        root_rot = np.asarray(root_rot, dtype=np.float64)
        root_rot = root_rot / np.linalg.norm(root_rot, axis=-1, keepdims=True)
        return np.concatenate([root_pos, root_rot, np.asarray(dof_pos, dtype=np.float64)], axis=-1)

    def split_configuration(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inverse of :meth:`configuration`: (root_pos, root_rot xyzw, dof_pos)."""
        q = np.asarray(q, dtype=np.float64)
        return q[..., :3], q[..., 3:7], q[..., 7:]

    def forward_kinematics(self, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray,
                           frames: Sequence[str], data: pin.Data | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World poses of ``frames`` over a trajectory.

        Args:
            root_pos: (T, 3) root position, m (or (3,) for one frame).
            root_rot: (T, 4) root orientation, xyzw.
            dof_pos: (T, D) joint positions, rad.
            frames: F frame names.
            data: optional pinocchio data; when given, FK runs through pinocchio
                frame by frame (otherwise batched in numpy when the model allows).

        Returns:
            pos (T, F, 3) m and rot (T, F, 4) xyzw (without the T axis for one frame).
        """
        single = np.ndim(root_pos) == 1
        pos, rot_matrices = self.frame_placements(root_pos, root_rot, dof_pos, frames, data)
        rot_xyzw = _matrix_to_xyzw(rot_matrices)
        if single:
            return pos[0], rot_xyzw[0]
        return pos, rot_xyzw

    def frame_placements(self, root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray,
                         frames: Sequence[str], data: pin.Data | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`forward_kinematics` but always batched: positions (T, F, 3) m and
        rotation matrices (T, F, 3, 3) (world <- frame)."""
        qs = np.atleast_2d(self.configuration(root_pos, root_rot, dof_pos))
        fids = self.frame_ids(frames)
        if self._batch_fk is not None and data is None:
            return self._batch_fk.frames(qs, fids)
        return self._loop_fk(qs, fids, data or self.new_data())


def _matrix_to_xyzw(m: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4, xyzw, w >= 0) from rotation matrices (..., 3, 3)."""
    q = from_matrix(m)
    return np.where(q[..., 3:4] < 0, -q, q)

"""The retargeted robot motion (output of the retarget stage).

World frame: **Z-up, metres**, floor at z = 0. Quaternions **x y z w**.
``root_rot`` is the orientation of the floating base (the robot's root body,
``pelvis`` for G1) in the world; ``root_pos`` its origin. ``dof_pos`` follows
``dof_names`` (URDF joint order for the built-in robots).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.npzio import load_npz, save_npz

SCHEMA = "robot_motion/1"


_PER_FRAME = ("root_pos", "root_rot", "dof_pos", "dof_vel", "link_pos", "link_rot", "contacts")
_OPTIONAL_PER_FRAME = ("target_penetration", "demanded_speed", "ik_infeasible")


@dataclass
class RobotMotion:
    """A robot reference motion.

    Attributes:
        robot: robot name (e.g. "g1").
        fps: frame rate (Hz).
        root_pos: (T, 3) root position, m, world Z-up.
        root_rot: (T, 4) root orientation, quaternion xyzw.
        dof_pos: (T, D) joint positions, rad.
        dof_vel: (T, D) joint velocities, rad/s (central differences).
        dof_names: (D,) joint names.
        link_names: (L,) names of the key links stored below.
        link_pos: (T, L, 3) world positions of the key links, m.
        link_rot: (T, L, 4) world orientations of the key links, xyzw.
        contacts: (T, 2) bool foot contact [left, right].
        metrics: per-clip quality metrics (floats, units in the name).
        provenance: strings copied from the human motion plus robot info.
        target_penetration: optional (T,) deepest overlap (m, >= 0) of the robot's checked
            capsule pairs when its limbs are moved onto the IK targets (the penetration the
            human motion demands; see ``stages.retarget.demand``); None when not measured
            (files written before it existed, retargets from other tools).
        demanded_speed: optional (T,) joint speed the human motion demands, as a fraction
            of the robot's velocity limit of the joint concerned (the largest over elbows,
            knees, shoulders and hips; see ``stages.retarget.demand.demanded_joint_speed``);
            the IK's velocity limits and target smoothing keep ``dof_vel`` itself within
            limits, so only this tells that the human moved faster than the robot can.
        ik_infeasible: optional (T,) bool, frames whose IK step was infeasible with its ground and
            self-collision rows (solved with the joint limits only, or not stepped); None when not
            recorded.
    """

    robot: str
    fps: float
    root_pos: np.ndarray
    root_rot: np.ndarray
    dof_pos: np.ndarray
    dof_vel: np.ndarray
    dof_names: tuple[str, ...]
    link_names: tuple[str, ...]
    link_pos: np.ndarray
    link_rot: np.ndarray
    contacts: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    target_penetration: np.ndarray | None = None
    demanded_speed: np.ndarray | None = None
    ik_infeasible: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.root_pos.shape[0])

    def frames(self, start: int, stop: int) -> RobotMotion:
        """The frames ``start .. stop - 1`` (Python slice semantics) of every per-frame array, optional ones
        included; names, fps, metrics and provenance kept."""
        cut = {name: getattr(self, name)[start:stop] for name in _PER_FRAME}
        cut.update({name: getattr(self, name)[start:stop] for name in _OPTIONAL_PER_FRAME
                    if getattr(self, name) is not None})
        return replace(self, **cut)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {
            "fps": np.asarray(self.fps, dtype=np.float64),
            "root_pos": np.asarray(self.root_pos, dtype=np.float64),
            "root_rot": np.asarray(self.root_rot, dtype=np.float64),
            "dof_pos": np.asarray(self.dof_pos, dtype=np.float64),
            "dof_vel": np.asarray(self.dof_vel, dtype=np.float64),
            "dof_names": np.asarray(self.dof_names, dtype=np.str_),
            "link_names": np.asarray(self.link_names, dtype=np.str_),
            "link_pos": np.asarray(self.link_pos, dtype=np.float64),
            "link_rot": np.asarray(self.link_rot, dtype=np.float64),
            "contacts": np.asarray(self.contacts, dtype=bool),
        }
        for name in ("target_penetration", "demanded_speed"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value, dtype=np.float64)
        if self.ik_infeasible is not None:
            arrays["ik_infeasible"] = np.asarray(self.ik_infeasible, dtype=bool)
        meta = {"schema": SCHEMA, "robot": self.robot, "metrics": dict(self.metrics),
                "provenance": dict(self.provenance)}
        return arrays, meta

    def save(self, path: str | Path) -> None:
        arrays, meta = self.to_arrays()
        save_npz(path, arrays, meta)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], path: str | Path | None = None) -> RobotMotion:
        if meta.get("schema") != SCHEMA:
            raise InputError(path, "wrong_schema", f"not a retargeted robot motion (schema {meta.get('schema')!r})")
        try:
            return cls(
                robot=str(meta["robot"]),
                fps=float(arrays["fps"]),
                root_pos=arrays["root_pos"],
                root_rot=arrays["root_rot"],
                dof_pos=arrays["dof_pos"],
                dof_vel=arrays["dof_vel"],
                dof_names=tuple(str(n) for n in arrays["dof_names"]),
                link_names=tuple(str(n) for n in arrays["link_names"]),
                link_pos=arrays["link_pos"],
                link_rot=arrays["link_rot"],
                contacts=arrays["contacts"].astype(bool),
                metrics=dict(meta.get("metrics", {})),
                provenance=dict(meta.get("provenance", {})),
                target_penetration=arrays.get("target_penetration"),
                demanded_speed=arrays.get("demanded_speed"),
                ik_infeasible=arrays["ik_infeasible"].astype(bool) if "ik_infeasible" in arrays else None,
            )
        except KeyError as exc:
            raise InputError(path, "missing_array", f"robot motion lacks array {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> RobotMotion:
        arrays, meta = load_npz(path, what="a robot motion (RobotMotion, as the retarget stage and retarget-clip write)")
        return cls.from_arrays(arrays, meta, path)

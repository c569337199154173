"""The canonical human motion every later stage reads.

Frame: world, **Z-up, right handed, metres**, never mirrored (the subject's
left stays on the subject's left). Quaternions are **x y z w**. ``fps`` is the
true frame rate of the stored frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.npzio import load_npz, save_npz
from core.records.keypoints import KEYPOINT_NAMES

SCHEMA = "human_motion/1"


@dataclass
class HumanMotion:
    """A human motion clip on a named skeleton.

    Attributes:
        joint_names: (J,) joint names of the source skeleton.
        parents: (J,) parent index per joint, -1 for the root.
        positions: (T, J, 3) global joint positions, metres, Z-up world.
        rotations: (T, J, 4) global joint orientations, quaternion xyzw, in the
            same Z-up world (relative to the skeleton's own rest pose axes).
        fps: true frame rate of the stored frames (Hz).
        floor_height: estimated floor z (m) from the lowest foot keypoints.
        standing_height: subject height (m), floor to top of head estimate.
        keypoints: canonical keypoint name -> joint index (every name in
            :data:`KEYPOINT_NAMES`).
        provenance: strings: dataset, subject, source_path, sha256, license,
            skeleton, fk ("smplx" | "mean_shape_skeleton" | "bvh"), notes.
        rest_offsets: optional (J, 3) rest offset of each joint from its
            parent (m, Z-up world axes; the root's entry is zero), such that
            ``positions[:, j] = positions[:, p] + rotate(rotations[:, p],
            rest_offsets[j])``; ``rotations`` are identity in the rest pose.
    """

    joint_names: tuple[str, ...]
    parents: np.ndarray
    positions: np.ndarray
    rotations: np.ndarray
    fps: float
    floor_height: float
    standing_height: float
    keypoints: dict[str, int]
    provenance: dict[str, str] = field(default_factory=dict)
    rest_offsets: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    def keypoint_positions(self, names: tuple[str, ...] = KEYPOINT_NAMES) -> np.ndarray:
        """(T, K, 3) positions of the named keypoints, metres, Z-up."""
        return self.positions[:, [self.keypoints[n] for n in names]]

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {
            "joint_names": np.asarray(self.joint_names, dtype=np.str_),
            "parents": np.asarray(self.parents, dtype=np.int32),
            "positions": np.asarray(self.positions, dtype=np.float64),
            "rotations": np.asarray(self.rotations, dtype=np.float64),
            "keypoint_names": np.asarray(KEYPOINT_NAMES, dtype=np.str_),
            "keypoint_index": np.asarray([self.keypoints[n] for n in KEYPOINT_NAMES], dtype=np.int32),
        }
        if self.rest_offsets is not None:
            arrays["rest_offsets"] = np.asarray(self.rest_offsets, dtype=np.float64)
        meta = {
            "schema": SCHEMA,
            "fps": float(self.fps),
            "floor_height": float(self.floor_height),
            "standing_height": float(self.standing_height),
            "provenance": dict(self.provenance),
        }
        return arrays, meta

    def save(self, path: str | Path) -> None:
        arrays, meta = self.to_arrays()
        save_npz(path, arrays, meta)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], path: str | Path | None = None) -> HumanMotion:
        if meta.get("schema") != SCHEMA:
            raise InputError(path, "wrong_schema", f"not a canonical human motion (schema {meta.get('schema')!r})")
        names = tuple(str(n) for n in arrays["keypoint_names"])
        return cls(
            joint_names=tuple(str(n) for n in arrays["joint_names"]),
            parents=arrays["parents"],
            positions=arrays["positions"],
            rotations=arrays["rotations"],
            fps=float(meta["fps"]),
            floor_height=float(meta["floor_height"]),
            standing_height=float(meta["standing_height"]),
            keypoints={n: int(i) for n, i in zip(names, arrays["keypoint_index"])},
            provenance=dict(meta.get("provenance", {})),
            rest_offsets=arrays.get("rest_offsets"),
        )

    @classmethod
    def load(cls, path: str | Path) -> HumanMotion:
        arrays, meta = load_npz(path, what="a human motion (HumanMotion, as the ingest stage and ingest-clip write)")
        return cls.from_arrays(arrays, meta, path)

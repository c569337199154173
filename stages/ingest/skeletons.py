"""Skeleton mapping tables and per-dataset unit / axis conventions.

Each :class:`SkeletonMap` maps the canonical keypoints of
:data:`core.records.human_motion.KEYPOINT_NAMES` to joint names of one source
skeleton. Semantics of the canonical keypoints (joint centres):

- ``pelvis``: root joint; ``left_hip``/``right_hip``: hip (femur head) joints;
  ``knee``, ``ankle``: knee and ankle joints; ``toe``: ball of the foot / toe base.
- ``spine``: upper spine / chest joint; ``neck``: base of the neck; ``head``:
  head joint (centre of the head, not its top).
- ``shoulder``: gleno-humeral (upper-arm) joint, not the clavicle;
  ``elbow``, ``wrist``: elbow and wrist joints.

World-axis changes: every source is converted to the project's Z-up, right
handed world with a proper rotation (never a reflection), so the subject's
left stays on the subject's left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import rotations as rot
from core.errors import InputError
from core.records.keypoints import KEYPOINT_NAMES


@dataclass(frozen=True)
class SkeletonMap:
    """Canonical keypoint -> source joint name for one skeleton.

    ``sole_offset`` (m) is how far the toe keypoint sits above the sole when
    the foot is planted (the floor estimate is the keypoints' own level); the
    standing-height estimate adds it back.
    """

    name: str
    joints: tuple[tuple[str, str], ...]     # (canonical keypoint, source joint name)
    sole_offset: float = 0.0

    def as_dict(self) -> dict[str, str]:
        return dict(self.joints)

    def missing(self, names: tuple[str, ...] | list[str]) -> list[str]:
        present = set(names)
        return [src for _, src in self.joints if src not in present]

    def keypoint_index(self, names: tuple[str, ...] | list[str]) -> dict[str, int]:
        index = {n: i for i, n in enumerate(names)}
        return {kp: index[src] for kp, src in self.joints}


def _lr(pairs: list[tuple[str, str, str]]) -> tuple[tuple[str, str], ...]:
    """Expand (canonical suffix, left name, right name) triples."""
    out: list[tuple[str, str]] = []
    for suffix, left, right in pairs:
        out.append((f"left_{suffix}", left))
        out.append((f"right_{suffix}", right))
    return tuple(out)


LAFAN1 = SkeletonMap(
    name="lafan1",
    joints=(("pelvis", "Hips"), ("spine", "Spine2"), ("neck", "Neck"), ("head", "Head"))
    + _lr([("hip", "LeftUpLeg", "RightUpLeg"), ("knee", "LeftLeg", "RightLeg"),
           ("ankle", "LeftFoot", "RightFoot"), ("toe", "LeftToe", "RightToe"),
           ("shoulder", "LeftArm", "RightArm"), ("elbow", "LeftForeArm", "RightForeArm"),
           ("wrist", "LeftHand", "RightHand")]),
    sole_offset=0.0,   # measured: LAFAN1 toe joints touch the capture floor (y = 0)
)

#: CMU cgspeed conversion, naming as in e.g. 01_01.bvh (fairmotion copy). The trunk chain is
#: Hips -> LowerBack -> Spine -> Spine1 -> Neck -> Neck1 -> Head, and Spine1 coincides with Neck
#: (zero offset, measured on 131_01/131_02 in the other naming), so ``spine`` is the mid-back
#: ``Spine`` joint: spine -> neck is then the upper back (~11 cm on subject 131), not zero.
CMU_A = SkeletonMap(
    name="cmu",
    joints=(("pelvis", "Hips"), ("spine", "Spine"), ("neck", "Neck"), ("head", "Head"))
    + _lr([("hip", "LeftUpLeg", "RightUpLeg"), ("knee", "LeftLeg", "RightLeg"),
           ("ankle", "LeftFoot", "RightFoot"), ("toe", "LeftToeBase", "RightToeBase"),
           ("shoulder", "LeftArm", "RightArm"), ("elbow", "LeftForeArm", "RightForeArm"),
           ("wrist", "LeftHand", "RightHand")]),
    sole_offset=0.03,  # measured: planted toe joints sit 3-5 cm above the capture floor
)

#: CMU cgspeed conversion, naming as in e.g. 131_01.bvh (same tree as :data:`CMU_A`: Chest =
#: Spine, Chest2 = Spine1, which coincides with lowerneck; ``spine`` is therefore ``Chest``).
CMU_B = SkeletonMap(
    name="cmu",
    joints=(("pelvis", "Hips"), ("spine", "Chest"), ("neck", "lowerneck"), ("head", "Head"))
    + _lr([("hip", "LeftHip", "RightHip"), ("knee", "LeftKnee", "RightKnee"),
           ("ankle", "LeftAnkle", "RightAnkle"), ("toe", "LeftToe", "RightToe"),
           ("shoulder", "LeftShoulder", "RightShoulder"), ("elbow", "LeftElbow", "RightElbow"),
           ("wrist", "LeftWrist", "RightWrist")]),
    sole_offset=0.03,  # measured: planted toe joints sit 3-5 cm above the capture floor
)

#: SMPL / SMPL-H / SMPL-X body joints (names of vchoutas/smplx joint_names.py).
SMPL_BODY = SkeletonMap(
    name="smpl",
    joints=(("pelvis", "pelvis"), ("spine", "spine3"), ("neck", "neck"), ("head", "head"))
    + _lr([("hip", "left_hip", "right_hip"), ("knee", "left_knee", "right_knee"),
           ("ankle", "left_ankle", "right_ankle"), ("toe", "left_foot", "right_foot"),
           ("shoulder", "left_shoulder", "right_shoulder"), ("elbow", "left_elbow", "right_elbow"),
           ("wrist", "left_wrist", "right_wrist")]),
    sole_offset=0.04,  # measured: planted SMPL foot joints sit 4.3-4.5 cm above z = 0 in the ASAP clips
)

assert all(sorted(k for k, _ in m.joints) == sorted(KEYPOINT_NAMES) for m in (LAFAN1, CMU_A, CMU_B, SMPL_BODY))

#: Rotation taking Y-up source axes (x, y, z) to the Z-up world (z, x, y):
#: world x = source z, world y = source x, world z = source y (a proper
#: rotation; used for LAFAN1 and CMU BVH).
Y_UP_TO_Z_UP_BVH = rot.from_matrix(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))

#: Rotation taking the SMPL native rest frame (Y-up, +Z forward, +X body left)
#: to the Z-up world: +90 deg about x (subject faces -y, left is +x).
SMPL_NATIVE_TO_Z_UP = rot.from_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]))


@dataclass(frozen=True)
class BvhFormat:
    """Unit and axis convention of a BVH dataset.

    ``unit`` is metres per file length unit; ``to_world`` the xyzw rotation from
    the file's axes to the Z-up world; ``maps`` the skeleton tables to try.
    """

    name: str
    unit: float
    to_world: tuple[float, float, float, float]
    maps: tuple[SkeletonMap, ...]


BVH_FORMATS: dict[str, BvhFormat] = {
    "lafan1": BvhFormat("lafan1", 0.01, tuple(Y_UP_TO_Z_UP_BVH), (LAFAN1,)),
    # CMU cgspeed conversions: ASF length units, 1 unit = 0.05644 m (FACTS.md)
    "cmu": BvhFormat("cmu", 0.05644, tuple(Y_UP_TO_Z_UP_BVH), (CMU_B, CMU_A)),
}


def resolve_bvh_format(names: tuple[str, ...], bvh_format: str, path: str | Path | None = None) -> tuple[BvhFormat, SkeletonMap]:
    """Pick the dataset convention and skeleton table for a BVH's joint names.

    ``bvh_format`` is ``"auto"`` (decided by the joint names) or a key of
    :data:`BVH_FORMATS`. Raises ``unknown_skeleton`` naming the missing joints
    of the closest table, or ``bad_format`` for an unknown format name.
    """
    if bvh_format != "auto" and bvh_format not in BVH_FORMATS:
        raise InputError(path, "bad_format", f"unknown bvh_format {bvh_format!r}; known: auto, {', '.join(BVH_FORMATS)}")
    candidates = list(BVH_FORMATS.values()) if bvh_format == "auto" else [BVH_FORMATS[bvh_format]]
    best: tuple[int, BvhFormat, SkeletonMap, list[str]] | None = None
    for fmt in candidates:
        for smap in fmt.maps:
            missing = smap.missing(names)
            if not missing:
                return fmt, smap
            if best is None or len(missing) < best[0]:
                best = (len(missing), fmt, smap, missing)
    assert best is not None
    _, fmt, smap, missing = best
    raise InputError(path, "unknown_skeleton",
                     f"unknown BVH skeleton: closest known one is {smap.name} ({fmt.name} convention) but it lacks "
                     f"joint(s) {', '.join(missing)}")

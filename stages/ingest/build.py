"""From a source skeleton's local joint transforms to a :class:`HumanMotion`.

Shared by every input format: resample the local transforms to the target
frame rate (slerp for rotations, linear for translations), run forward
kinematics in the Z-up world, estimate the floor and the standing height.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core import rotations as rot
from core.errors import InputError
from core.records.human_motion import HumanMotion
from stages.ingest.kinematics import forward_kinematics
from stages.ingest.settings import Settings
from stages.ingest.skeletons import SkeletonMap


@dataclass(frozen=True)
class SourceMotion:
    """A clip's local joint transforms, already in metres and Z-up world axes.

    Attributes:
        names: (J,) joint names; parents: (J,) parent index (-1 root), parents first.
        translations: (T, J, 3) joint origin in the parent frame (m); the
            root's entry is its world position.
        local_quats: (T, J, 4) xyzw rotation relative to the parent (the
            root's: world rotation); identity everywhere = rest pose.
        rest_offsets: (J, 3) rest offsets (m, Z-up axes), zero for the root.
        fps: true source frame rate (Hz).
        skeleton: mapping table to the canonical keypoints.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    translations: np.ndarray
    local_quats: np.ndarray
    rest_offsets: np.ndarray
    fps: float
    skeleton: SkeletonMap


def resample_local(src: SourceMotion, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Local translations and rotations at ``fps`` over the same duration."""
    n = src.local_quats.shape[0]
    if abs(src.fps - fps) < 1e-9:
        return src.translations, src.local_quats
    t_in = np.arange(n) / src.fps
    t_out = rot.resample_times(n, src.fps, fps)
    src_index = t_out * src.fps
    nearest = np.rint(src_index)
    if np.all(np.abs(src_index - nearest) < 1e-6):      # e.g. 120 -> 30 fps: every 4th frame, exactly
        idx = np.clip(nearest.astype(int), 0, n - 1)
        return src.translations[idx], src.local_quats[idx]
    trans = rot.linear_resample(src.translations, t_in, t_out)
    quats = rot.slerp_resample(src.local_quats, t_in, t_out)
    return trans, quats


def estimate_floor(pos: np.ndarray, foot_idx: list[int], fps: float, percentile: float = 50.0,
                   stance_speed: float = 0.2) -> float:
    """Floor z (m) from the lowest foot keypoints.

    Per frame, the lowest of the foot keypoints (ankles, toes); the floor is
    the ``percentile`` of its height over the frames where it is planted
    (moving slower than ``stance_speed`` m/s). With fewer than 3 planted
    frames, the 5th percentile over all frames. A robust statistic of where
    planted feet are, never a constant.
    """
    feet = pos[:, foot_idx]                                       # (T, F, 3)
    low = np.argmin(feet[..., 2], axis=1)
    rows = np.arange(feet.shape[0])
    heights = feet[rows, low, 2]
    if feet.shape[0] > 1:
        speed = np.linalg.norm(np.gradient(feet, 1.0 / fps, axis=0), axis=-1)[rows, low]
        planted = speed < stance_speed
    else:
        planted = np.zeros(1, dtype=bool)
    if planted.sum() >= 3:
        return float(np.percentile(heights[planted], percentile))
    return float(np.percentile(heights, 5.0))


#: Plausible source frame rates (Hz); outside them the file is rejected.
MIN_SOURCE_FPS, MAX_SOURCE_FPS = 1.0, 10000.0


#: Hip-joint height over standing height (Winter, Biomechanics and Motor
#: Control of Human Movement, segment-length table: greater trochanter at 0.530 H).
HIP_HEIGHT_RATIO = 0.530


#: Ankle height over standing height (same table: lateral malleolus at 0.039 H).
ANKLE_HEIGHT_RATIO = 0.039


def estimate_standing_height(pos: np.ndarray, kp: dict[str, int], floor: float, sole_offset: float,
                             fps: float = 30.0) -> float:
    """Posture-independent standing height (m), floor to top of head.

    The standing hip-joint height (ankle height above the floor with the foot
    planted flat + shin + thigh bone lengths + the skeleton's sole offset)
    divided by :data:`HIP_HEIGHT_RATIO`. The ankle height is the median over
    frames where ankle and toe are both still, the toe is on the floor and the
    shin is upright;
    clips with too few such frames (lying, crawling) use
    :data:`ANKLE_HEIGHT_RATIO` instead. Leg bones are measured the same way on
    every skeleton, unlike trunks (CMU BVH lacks the thorax bone).
    """
    def seg(a: int, b: int) -> float:
        return float(np.median(np.linalg.norm(pos[:, a] - pos[:, b], axis=-1)))

    legs, ankles = [], []
    for side in ("left", "right"):
        hip, knee, ankle, toe = (kp[f"{side}_{n}"] for n in ("hip", "knee", "ankle", "toe"))
        shin = seg(knee, ankle)
        legs.append(seg(hip, knee) + shin)
        if pos.shape[0] > 2:
            speed = np.linalg.norm(np.gradient(pos[:, [ankle, toe]], 1.0 / fps, axis=0), axis=-1).max(axis=1)
            flat = ((speed < 0.2) & (np.abs(pos[:, toe, 2] - floor) < 0.03) & (pos[:, ankle, 2] > pos[:, toe, 2])
                    & (pos[:, knee, 2] - pos[:, ankle, 2] > 0.9 * shin))       # upright shin: not kneeling
            if flat.sum() >= 10:
                ankles.append(float(np.median(pos[flat, ankle, 2])) - floor)
    leg = float(np.mean(legs))
    if ankles:
        return float((leg + float(np.mean(ankles)) + sole_offset) / HIP_HEIGHT_RATIO)
    return float(leg / (HIP_HEIGHT_RATIO - ANKLE_HEIGHT_RATIO))


def build_motion(src: SourceMotion, fps: float, settings: Settings, provenance: dict[str, str],
                 path: str | Path | None = None) -> HumanMotion:
    """Resample, run FK, estimate floor and height; validate the result."""
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(path, "bad_fps", f"target fps {fps} is not a positive number")
    if not (np.isfinite(src.fps) and src.fps > 0):
        raise InputError(path, "bad_fps", f"source frame rate {src.fps} is not a positive number")
    if not MIN_SOURCE_FPS <= src.fps <= MAX_SOURCE_FPS:
        raise InputError(path, "implausible_fps", f"source frame rate {src.fps:g} Hz is outside "
                                                  f"{MIN_SOURCE_FPS:g}..{MAX_SOURCE_FPS:g} Hz")
    n_src = src.local_quats.shape[0]
    if n_src < 2:
        raise InputError(path, "too_short", f"{n_src} frame(s); a clip needs at least 2")
    duration = (n_src - 1) / src.fps
    if settings.max_duration > 0 and duration > settings.max_duration:
        raise InputError(path, "too_long", f"{duration:.1f} s is longer than max_duration {settings.max_duration} s")
    for name, arr in (("translations", src.translations), ("rotations", src.local_quats)):
        if not np.all(np.isfinite(arr)):
            raise InputError(path, "non_finite", f"NaN or Inf in the {name}")
    norms = np.linalg.norm(src.local_quats, axis=-1)
    if np.any(norms < 1e-6):
        raise InputError(path, "bad_quaternion", "zero rotation quaternion in the source data")
    src = replace(src, local_quats=src.local_quats / norms[..., None])
    trans, quats = resample_local(src, fps)
    if quats.shape[0] < max(settings.min_frames, 2):
        raise InputError(path, "too_short",
                         f"{quats.shape[0]} frame(s) at {fps:g} fps; at least {max(settings.min_frames, 2)} needed")
    pos, glob = forward_kinematics(src.parents, trans, quats)
    glob = rot.make_continuous(glob / np.linalg.norm(glob, axis=-1, keepdims=True))
    if not np.all(np.isfinite(pos)):
        raise InputError(path, "non_finite", "forward kinematics produced NaN or Inf")
    kp = src.skeleton.keypoint_index(src.names)
    feet = [kp[k] for k in ("left_ankle", "right_ankle", "left_toe", "right_toe")]
    floor = estimate_floor(pos, feet, fps, settings.floor_percentile, settings.floor_stance_speed)
    height = estimate_standing_height(pos, kp, floor, src.skeleton.sole_offset, fps)
    return HumanMotion(
        joint_names=tuple(src.names),
        parents=np.asarray(src.parents, dtype=np.int32),
        positions=pos,
        rotations=glob,
        fps=float(fps),
        floor_height=floor,
        standing_height=height,
        keypoints=kp,
        provenance={**provenance, "skeleton": src.skeleton.name},
        rest_offsets=np.asarray(src.rest_offsets, dtype=np.float64),
    )

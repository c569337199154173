"""Per-frame IK targets (robot frame poses) from human keypoint positions.

Everything is computed from keypoint *positions*, so any skeleton works:

* orientations of the pelvis (hips + spine), torso (shoulders + spine ->
  neck) and feet (ankle -> toe, heading and pitch, no roll) are estimated as
  canonical frames (x forward, y left, z up; identity for a person standing
  facing +x);
* the root (pelvis) position is the human's scaled by
  :attr:`Scaling.root_scale` (horizontal and height above the floor);
* every other target hangs from its parent target in the keypoint tree:
  rigid offsets (hips from the pelvis, shoulders from the torso) take the
  robot's own offset rotated by the parent's estimated orientation; limbs
  (knee, ankle, elbow, wrist, head) take the robot's segment length along
  the human's segment direction, so limb directions are the human's by
  construction and every target is reachable;
* ground: a per-frame vertical shift (smooth, no constant offset) puts the
  soles of the feet in contact on z = 0; a planted foot is anchored where it
  lands, flat or pivoting on its heel or toe, a sliding one follows the scaled
  human foot, and a lifted one fades its offset over the swing
  (:mod:`stages.retarget.foot_targets`); a free foot is lifted above the floor.

World frame Z-up, metres; rotations as (…, 3, 3) matrices (frame -> world).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter1d, maximum_filter1d

from core.records.keypoints import KEYPOINT_NAMES, KEYPOINT_PARENT
from stages.retarget.contacts import FLAT, FOOT_POINTS, FootContacts
from stages.retarget.foot_targets import FootTargets, foot_targets, shifted_chain
from stages.retarget.scaling import LEG_CHAINS, RestPose, Scaling

#: Keypoints placed along the human's segment direction (the rest are rigid offsets).
DIRECTIONAL = frozenset({"left_knee", "right_knee", "left_ankle", "right_ankle", "left_elbow", "right_elbow",
                         "left_wrist", "right_wrist", "head"})

#: Which estimated orientation a keypoint's frame follows.
ORIENTATION_OF: dict[str, str] = {
    "pelvis": "pelvis", "left_hip": "pelvis", "right_hip": "pelvis",
    "spine": "torso", "neck": "torso", "head": "torso", "left_shoulder": "torso", "right_shoulder": "torso",
    "left_ankle": "left_foot", "left_toe": "left_foot", "right_ankle": "right_foot", "right_toe": "right_foot",
}


@dataclass(frozen=True)
class TargetSettings:
    """Target construction settings.

    Attributes:
        smoothing_s: Gaussian sigma (s) applied to the human keypoints over time before
            the targets are built (0: none); removes mocap jitter the robot would copy.
        ground_smoothing_s: Gaussian sigma (s) of the vertical ground shift.
        contact_blend_frames: frames over which a foot's contact weight ramps in / out.
        release_s: a foot lifting off with no later landing fades its lock offset over this (s);
            otherwise the offset fades over the whole swing, to zero at the next landing.
        pelvis_drift_gain: share (0..1) of the anchored feet's drift from the scaled chain that
            the pelvis takes (the legs take the rest); feet held on the floor under a lying or
            kneeling body count too (their drift otherwise bent the legs: limb error on
            ground2_subject2 7.2 against 6.9 deg with the other lying settings as now).
        pivot_weight: contact weight (0..1) of a foot pivoting on its heel or toe or sliding (1
            when planted flat).
        pivot_pitch_gain: factor on the human foot's pitch while a foot pivots on its heel or toe.
        heel_pivot_at, toe_pivot_at: where a heel / toe pivot holds the sole still, as a share of the
            way from the sole centre (0) to the heel / toe edge (1): where the human's heel and ball
            of the foot (the toe keypoint) map onto the robot's sole. On G1 (sole from 6.6 cm behind the
            ankle to 14.2 cm ahead, centre 3.8 cm ahead) the LAFAN1 ankle -> toe joint, 0.126 m scaled
            (about 0.12 m horizontally), puts the ball at 0.77 of the way to the toe edge; the heel
            some 4 cm behind the ankle at 0.75 to the heel edge. Pivoting on the edges turned the
            longer robot sole about its ends: slide / slide_ref mean over the 21 real clips 0.90
            (edges) -> 0.85 (0.75, 0.7), limb error unchanged.
        lying_anchor_s: where a foot's shin does not rise above it (lying, kneeling), its anchor (the
            foot frame's origin, :func:`stages.retarget.foot_targets.foot_targets`) follows the
            scaled chain's foot with this time constant (s) instead of holding. 1.5 (was 0.05, which
            all but followed the chain: a kneeling foot moved with the body, 2-3 times faster than the
            human's): with the gains below, slide / slide_ref on ground2_subject2 2.17 -> 0.78, limb
            error 5.90 -> 5.96 deg (2.0: 0.75, 6.06 deg; 1.0: 0.81, 5.81 deg).
        lying_weight_gain: factor on the position weight of a foot resting on the floor under a lying
            or kneeling body (blended like the locks; the upright locks take ``contact_weight_gain``).
            Without it the IK left such a foot 2-5 cm off its target and moving 2-4 times faster
            than it. The orientation weight is not raised: the human foot's heading and pitch are no
            pose for a robot foot on its side or instep (x5 gave limb error 8.8 deg on ground2).
        lying_limb_gain: factor on every limb task (legs of the foot's side, arms by the larger side)
            where the shin does not rise above the foot (:attr:`Targets.limb_gain`): the held lying
            feet compete with the leg directions, and the limb tasks win them back. Up to a limb weight
            of about 8 (``SolverSettings.limb_direction_weight`` 5 x 1.6): at 10 the IK objective
            of the lying stretches of fallAndGetUp2_subject3 rose enough to set off 41 reseeds
            (against 10), each drawing the whole robot, feet and all, to a new solution
            (slide / slide_ref 0.63 -> 1.13).
        contact_weight_gain: factor on a foot's position weight while in contact (blended in and
            out with the lock). 12 (was 4, for position and orientation): the IK's residual on a
            flat lock moved the sole 2-3 times faster than its anchor (dance1: 3.1 against 1.1 cm/s);
            slide / slide_ref mean over the 21 real clips 0.85 -> 0.71 (8: 0.74, 16: 0.71), limb
            error max 5.81 -> 5.90 deg. 16 with the limb weight 5: the upright locks of the kneeling
            clip ground2_subject2 still moved 3 times faster than their anchors (slide / slide_ref
            0.80 at 12, 0.78 at 16, 0.76 at 20). At 20 the demo corpus's walk_straight lifted its
            whole body through the swing clearance for 5 frames, its stance foot 4 cm off the floor
            for one (and its ZMP check failed); 12 and 16 do not.
        contact_rot_weight_gain: the orientation weight's factor in contact (None:
            ``contact_weight_gain``). 4: raised with the position's to 8 it costs limb error (ground2
            6.3 deg), the foot's orientation pulling the leg where the ankle's range ends.
        free_foot_rot_gain: factor on a free foot's orientation weight (a foot pose beyond the
            ankle's range must not twist the whole leg).
        ground_clearance: a free foot's lowest sole corner is kept at least this high (m).
        swing_hold_frames: the first and last this many frames of each swing keep the sole centre over
            where the foot left / lands (:func:`stages.retarget.foot_targets.hold_swing_ends`). 1: the
            independent measure's central differences over a contact's first and last frame reach
            one frame into the swing, where the foot skated on (dance1: 64 % of its slide); slide /
            slide_ref on dance1 0.96 -> 0.58 and near-ground speed 9.0 -> 5.6 cm/s, limb unchanged.
            (Widening the contacts by a frame instead held the foot on the floor while it caught up:
            0.73, but near-ground speed 13.3 cm/s on dance1 and 20.7 on obstacles3.)
        leg_reach: fraction of the robot's straight-leg hip -> ankle distance a target may ask for.
    """

    smoothing_s: float = 0.05
    ground_smoothing_s: float = 0.1
    contact_blend_frames: int = 3
    release_s: float = 0.5
    pelvis_drift_gain: float = 1.0
    lying_anchor_s: float = 1.5
    pivot_weight: float = 1.0
    pivot_pitch_gain: float = 0.5
    heel_pivot_at: float = 0.75
    toe_pivot_at: float = 0.7
    contact_weight_gain: float = 16.0
    contact_rot_weight_gain: float | None = 4.0
    ground_clearance: float = 0.0
    leg_reach: float = 0.99
    free_foot_rot_gain: float = 0.2
    swing_hold_frames: int = 1
    lying_weight_gain: float = 12.0
    lying_limb_gain: float = 1.6


@dataclass(frozen=True)
class Targets:
    """IK targets of one clip.

    Attributes:
        frames: (M,) robot frame names (the keypoint tasks).
        keypoints: (M,) the human keypoint of each frame.
        pos: (T, M, 3) target positions, m, world Z-up, floor z = 0.
        rot: (T, M, 3, 3) target orientations (meaningful where rot_weight > 0).
        pos_weight: (T, M) position task weights (cost / m).
        rot_weight: (T, M) orientation task weights (cost / rad).
        contacts: (T, 2) bool foot touching the floor [left, right] (human: planted or sliding).
        foot_index: (2,) index into ``frames`` of the left / right foot frame.
        ground_shift: (T,) vertical shift applied to the scaled human (m).
        lock_weight: (T, 2) contact weight of each foot [left, right] in [0, 1].
        locked: (T, 2) bool foot held on an anchor (planted flat or pivoting on heel or toe).
        limb_gain: (T, 2) factor on the limb tasks of each side [left, right] where the body lies or
            kneels (:attr:`TargetSettings.lying_limb_gain`; the arms take the larger side's), read by
            :func:`limb_weights`; None: 1.
    """

    frames: tuple[str, ...]
    keypoints: tuple[str, ...]
    pos: np.ndarray
    rot: np.ndarray
    pos_weight: np.ndarray
    rot_weight: np.ndarray
    contacts: np.ndarray
    foot_index: np.ndarray
    ground_shift: np.ndarray
    lock_weight: np.ndarray | None = None
    locked: np.ndarray | None = None
    limb_gain: np.ndarray | None = None


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > 1e-9, v / np.maximum(n, 1e-12), fallback)


def frame_from_lateral_up(lateral: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(T, 3, 3) right-handed frames with y along ``lateral`` (left) and z close to ``up``."""
    y = _unit(lateral, np.array([0.0, 1.0, 0.0]))
    x = _unit(np.cross(y, up), np.array([1.0, 0.0, 0.0]))
    z = _unit(np.cross(x, y), np.array([0.0, 0.0, 1.0]))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def _rot_z(yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.zeros(yaw.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1], out[..., 2, 2] = c, -s, s, c, 1.0
    return out


def _rot_y(pitch: np.ndarray) -> np.ndarray:
    c, s = np.cos(pitch), np.sin(pitch)
    out = np.zeros(pitch.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 2], out[..., 2, 0], out[..., 2, 2], out[..., 1, 1] = c, s, -s, c, 1.0
    return out


def estimate_orientations(kp: dict[str, np.ndarray], flat: np.ndarray) -> dict[str, np.ndarray]:
    """Canonical orientations (T, 3, 3) of the pelvis, torso and feet from keypoint positions.

    Pelvis: lateral = left hip - right hip, up = spine - pelvis. Torso: lateral =
    left shoulder - right shoulder, up = neck - spine (every skeleton table maps
    ``spine`` to a joint well below the neck; see ``stages.ingest.skeletons``).

    Feet: heading and pitch of ankle -> toe, with the clip's median pitch over the
    frames ``flat`` (T, 2) where the foot is planted flat (the flat-foot pitch of this
    skeleton) removed, no roll.
    """
    out = {
        "pelvis": frame_from_lateral_up(kp["left_hip"] - kp["right_hip"], kp["spine"] - kp["pelvis"]),
        "torso": frame_from_lateral_up(kp["left_shoulder"] - kp["right_shoulder"], kp["neck"] - kp["spine"]),
    }
    pelvis_heading = np.arctan2(out["pelvis"][:, 1, 0], out["pelvis"][:, 0, 0])
    for side, (ankle, toe) in enumerate((("left_ankle", "left_toe"), ("right_ankle", "right_toe"))):
        fwd = kp[toe] - kp[ankle]
        horiz = np.linalg.norm(fwd[:, :2], axis=-1)
        pitch = np.arctan2(fwd[:, 2], horiz)
        heading = np.where(horiz > 0.02, np.arctan2(fwd[:, 1], fwd[:, 0]), pelvis_heading)
        level = np.median(pitch[flat[:, side]]) if flat[:, side].any() else np.percentile(pitch, 50)
        out[("left_foot", "right_foot")[side]] = _rot_z(heading) @ _rot_y(-(pitch - level))
    return out


def _order(task_keypoints: list[str]) -> list[str]:
    depth = {}
    for k in task_keypoints:
        d, p = 0, KEYPOINT_PARENT[k]
        while p is not None:
            d, p = d + 1, KEYPOINT_PARENT[p]
        depth[k] = d
    return sorted(task_keypoints, key=lambda k: depth[k])


def _anchor(k: str, present: set[str]) -> str | None:
    p = KEYPOINT_PARENT[k]
    while p is not None and p not in present:
        p = KEYPOINT_PARENT[p]
    return p


def _chain(kp: dict[str, np.ndarray], est: dict[str, np.ndarray], root: np.ndarray, rest: RestPose,
           frame_of: dict[str, str], fixed: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Target positions (T, 3) of every task keypoint, hanging from ``root`` (the pelvis)."""
    present = set(frame_of)
    out: dict[str, np.ndarray] = {}
    for k in _order(list(frame_of)):
        if fixed and k in fixed:
            out[k] = fixed[k]
            continue
        a = _anchor(k, present)
        if a is None:
            out[k] = root
            continue
        offset = rest.position(frame_of[k]) - rest.position(frame_of[a])
        if k in DIRECTIONAL or a not in ORIENTATION_OF:
            length = float(np.linalg.norm(offset))
            out[k] = out[a] + length * _unit(kp[k] - kp[a], offset / max(length, 1e-9))
        else:
            out[k] = out[a] + est[ORIENTATION_OF[a]] @ offset
    return out


#: Limb end keypoints whose direction from their parent keypoint is tracked as a limb task.
LIMB_KEYPOINTS: tuple[str, ...] = ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_elbow",
                                   "right_elbow", "left_wrist", "right_wrist")


def limb_weights(task_keypoints: tuple[str, ...], pairs: np.ndarray, lock_weight: np.ndarray | None,
                 stance_gain: float, limb_gain: np.ndarray | None = None) -> np.ndarray:
    """(T, L) factors on the limb tasks of ``pairs`` (:func:`limb_pairs`): 1, and for the leg limbs
    (thigh, shin) of a foot locked in contact ``1 + (stance_gain - 1) * lock``: a locked foot's
    position is set by where it landed, and the shin and thigh directions then compete with it.

    Args:
        task_keypoints: (M,) human keypoint of each task.
        pairs: (L, 2) (parent, child) task indices.
        lock_weight: (T, 2) contact lock blend [left, right] (None: no locks; one row of 1).
        stance_gain: factor at a full lock.
        limb_gain: (T, 2) further factor per side (:attr:`Targets.limb_gain`): on that side's thigh and
            shin, and by the larger of the two on the upper arms and forearms; None: 1.
    """
    L = len(pairs)
    if lock_weight is None:
        return np.ones((1, L))
    out = np.ones((lock_weight.shape[0], L))
    for i, (_, c) in enumerate(pairs):
        k = task_keypoints[c]
        for s, side in enumerate(("left_", "right_")):
            if k in (side + "knee", side + "ankle"):
                out[:, i] = 1.0 + (stance_gain - 1.0) * lock_weight[:, s]
                if limb_gain is not None:
                    out[:, i] *= limb_gain[:, s]
            elif limb_gain is not None and k in (side + "elbow", side + "wrist"):
                out[:, i] *= limb_gain.max(axis=1)
    return out


def limb_pairs(task_keypoints: tuple[str, ...]) -> np.ndarray:
    """(L, 2) indices into ``task_keypoints`` of (parent, child) for every limb end in
    :data:`LIMB_KEYPOINTS` whose nearest task ancestor in the keypoint tree is also a task."""
    present = set(task_keypoints)
    out = []
    for k in LIMB_KEYPOINTS:
        if k in present:
            a = _anchor(k, present)
            if a is not None:
                out.append((task_keypoints.index(a), task_keypoints.index(k)))
    return np.array(out, dtype=int).reshape(-1, 2)


def two_bone(root: np.ndarray, end: np.ndarray, l1: float, l2: float, hint: np.ndarray) -> np.ndarray:
    """Middle joint (T, 3) of a two-segment chain root -> mid -> end with lengths l1, l2 (m).

    The chain bends towards ``hint`` (T, 3) (e.g. the human's knee); where the
    end is out of reach the middle joint lies on the root -> end line.
    """
    v = end - root
    d = np.linalg.norm(v, axis=1)
    u = v / np.maximum(d, 1e-9)[:, None]
    d = np.clip(d, abs(l1 - l2) + 1e-6, l1 + l2)
    x = (l1 * l1 - l2 * l2 + d * d) / (2.0 * d)
    h = np.sqrt(np.maximum(l1 * l1 - x * x, 0.0))
    w = hint - root
    w = w - np.sum(w * u, axis=1, keepdims=True) * u
    w = _unit(w, np.array([1.0, 0.0, 0.0]))
    return root + x[:, None] * u + h[:, None] * w


def _lowest_corner(pos: np.ndarray, rot: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(T,) lowest z of sole ``corners`` (C, 3, foot frame) for foot poses pos (T,3), rot (T,3,3)."""
    return pos[:, 2] + np.min(np.einsum("tij,cj->tci", rot, corners)[..., 2], axis=1)


UP = np.array([0.0, 0.0, 1.0])


def floor_relative_keypoints(keypoints: np.ndarray, fps: float, floor_height: float,
                             smoothing_s: float) -> dict[str, np.ndarray]:
    """Step 1: keypoint name -> (T, 3) positions with the floor at z = 0, smoothed over time
    by a Gaussian of sigma ``smoothing_s`` (s; 0: none)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if smoothing_s > 0 and keypoints.shape[0] > 1:
        keypoints = gaussian_filter1d(keypoints, smoothing_s * fps, axis=0, mode="nearest")
    floor = np.array([0.0, 0.0, floor_height])
    return {n: keypoints[:, i] - floor for i, n in enumerate(KEYPOINT_NAMES)}


def foot_keypoints(tasks: tuple, foot_frames: tuple[str, str]) -> list[str]:
    """The human keypoint of each robot foot frame [left, right].

    Raises:
        ValueError: the tasks lack the pelvis or a foot.
    """
    if "pelvis" not in {t.human for t in tasks}:
        raise ValueError("robot keypoint tasks must include the pelvis")
    out = []
    for f in foot_frames:
        match = [t.human for t in tasks if t.frame == f]
        if not match:
            raise ValueError(f"robot keypoint tasks must include the foot frame {f!r}")
        out.append(match[0])
    return out


def ground_shift(low: np.ndarray, contacts: np.ndarray, fps: float, smoothing_s: float) -> np.ndarray:
    """Step 2: (T,) vertical shift (m) that puts the lowest sole corner of the feet in contact on
    z = 0, interpolated between contacts and Gaussian-smoothed (sigma ``smoothing_s``, s).

    Args:
        low: (T, 2) lowest sole corner of each foot's chain target (m).
        contacts: (T, 2) bool feet touching the floor.
    """
    T = low.shape[0]
    any_contact = contacts.any(axis=1)
    if not any_contact.any():
        return np.zeros(T)
    per_frame = np.where(contacts, low, np.inf).min(axis=1)
    idx = np.flatnonzero(any_contact)
    shift = np.interp(np.arange(T), idx, per_frame[idx])
    sigma = smoothing_s * fps
    if sigma > 0 and T > 1:
        shift = gaussian_filter1d(shift, sigma, mode="nearest")
    return shift


def lock_weight(grounded: np.ndarray, blend_frames: int) -> np.ndarray:
    """(T,) contact weight of one foot in [0, 1]: 1 while grounded, ramping down linearly over
    ``blend_frames`` frames on either side."""
    grounded = np.asarray(grounded, dtype=bool)
    if not grounded.any():
        return np.zeros(grounded.shape[0])
    if grounded.all():
        return np.ones(grounded.shape[0])
    dist = distance_transform_edt(~grounded)
    return np.clip(1.0 - dist / (blend_frames + 1.0), 0.0, 1.0)


def scaled_foot_steps(kp: dict[str, np.ndarray], ankle: str, toe: str, scale: float) -> np.ndarray:
    """(T, 3) per-frame displacement of the human ankle/toe midpoint x ``scale`` (row 0 zero)."""
    mid = 0.5 * (kp[ankle] + kp[toe]) * scale
    out = np.zeros_like(mid)
    out[1:] = np.diff(mid, axis=0)
    return out


def pelvis_drift(foot_pos: list[np.ndarray], chain_pos: list[np.ndarray], weights: list[np.ndarray],
                 fps: float, smoothing_s: float) -> np.ndarray:
    """Step 3b: (T, 3) horizontal pelvis shift that absorbs the anchored feet's drift from the chain.

    The weighted mean of (foot target - chain foot), horizontal, over the feet held by an
    upright leg, Gaussian-smoothed (sigma ``smoothing_s``, s) as ``smooth(sum w d) /
    max(smooth(sum w), 1)``: the full drift under one held foot, the mean under two, fading
    to zero away from holds. With one foot down the chain's foot then lands on its anchor;
    with two the legs take the rest.

    Args:
        foot_pos: per foot (T, 3) anchored targets; chain_pos: per foot (T, 3) chain targets;
        weights: per foot (T,) lock weight.
    """
    W = np.stack(weights, axis=1)                                   # (T, 2)
    D = np.stack([f - c for f, c in zip(foot_pos, chain_pos)], axis=1)[..., :2]   # (T, 2, 2)
    num = np.einsum("ts,tsi->ti", W, D)
    den = W.sum(axis=1)
    sigma = smoothing_s * fps
    if sigma > 0 and W.shape[0] > 1:
        num = gaussian_filter1d(num, sigma, axis=0, mode="nearest")
        den = gaussian_filter1d(den, sigma, mode="nearest")
    out = np.zeros((W.shape[0], 3))
    out[:, :2] = num / np.maximum(den, 1.0)[:, None]
    return out


def fit_legs(pos: dict[str, np.ndarray], root: np.ndarray, kp: dict[str, np.ndarray], est: dict[str, np.ndarray],
             rest: RestPose, frame_of: dict[str, str], fixed: dict[str, np.ndarray], weights: list[np.ndarray],
             fps: float, settings: TargetSettings) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Step 4: lower the pelvis where a locked foot is out of the leg's reach, pull the feet into
    reach and place the knees by two-bone IK along the human's knee direction.

    Args:
        pos: keypoint -> (T, 3) targets; root: (T, 3) pelvis target; kp: the floor-relative
            keypoints; est: the estimated orientations; fixed: targets the chain keeps (the feet);
            weights: per leg the foot's lock weight (T,).

    Returns:
        The new targets, the new root and the pelvis drop (T,) m.
    """
    T = root.shape[0]
    legs = [(h, k, a) for h, k, a in LEG_CHAINS if all(n in frame_of for n in (h, k, a))]
    reach = {a: settings.leg_reach * float(np.linalg.norm(rest.position(frame_of[a]) - rest.position(frame_of[h])))
             for h, _, a in legs}
    drop = np.zeros(T)
    for (h, _, a), w in zip(legs, weights):
        v = pos[a] - pos[h]
        horiz2 = np.sum(v[:, :2] ** 2, axis=1)
        need = -v[:, 2] - np.sqrt(np.maximum(reach[a] ** 2 - horiz2, 0.0))
        helps = (w > 0) & (horiz2 < reach[a] ** 2)              # lowering the pelvis can bring it in reach
        drop = np.maximum(drop, np.where(helps, np.maximum(need, 0.0), 0.0))
    if drop.any():
        sigma = settings.ground_smoothing_s * fps
        width = max(1, int(round(2 * sigma)))
        drop = maximum_filter1d(drop, 2 * width + 1, mode="nearest")
        if sigma > 0 and T > 1:
            drop = gaussian_filter1d(drop, sigma, mode="nearest")
        root = root - drop[:, None] * UP
        pos = _chain(kp, est, root, rest, frame_of, fixed)
    for h, k, a in legs:
        v = pos[a] - pos[h]
        d = np.linalg.norm(v, axis=1)
        over = d > reach[a]
        if over.any():
            pos[a] = pos[a].copy()
            pos[a][over] = pos[h][over] + v[over] * (reach[a] / d[over])[:, None]
        L1 = float(np.linalg.norm(rest.position(frame_of[k]) - rest.position(frame_of[h])))
        L2 = float(np.linalg.norm(rest.position(frame_of[a]) - rest.position(frame_of[k])))
        pos[k] = two_bone(pos[h], pos[a], L1, L2, pos[k])
    return pos, root, drop


def lift_above_floor(pos: dict[str, np.ndarray], tasks: tuple, skip: list[str],
                     clearance: dict[str, float] | None) -> dict[str, np.ndarray]:
    """Step 5: every task target other than ``skip`` (the feet) at least its frame's clearance high."""
    for t in tasks:
        c = (clearance or {}).get(t.frame, 0.0)
        if c > 0.0 and t.human not in skip:
            pos[t.human] = pos[t.human].copy()
            pos[t.human][:, 2] = np.maximum(pos[t.human][:, 2], c)
    return pos


def assemble(pos: dict[str, np.ndarray], est: dict[str, np.ndarray], tasks: tuple, rest: RestPose,
             foot_frames: tuple[str, str], weights: list[np.ndarray], contacts: np.ndarray, shift: np.ndarray,
             settings: TargetSettings, locked: np.ndarray | None = None, lying: list[np.ndarray] | None = None,
             limb_gain: np.ndarray | None = None) -> Targets:
    """Step 6: stack the targets and weights of every task into :class:`Targets`; a foot's
    position and orientation weights rise with its lock weight, its position weight also with
    ``lying`` (per foot (T,) weight of a rest on the floor under a lying or kneeling body, by
    :attr:`TargetSettings.lying_weight_gain`). ``limb_gain`` (T, 2) goes into :attr:`Targets.limb_gain`."""
    frames = tuple(t.frame for t in tasks)
    names = tuple(t.human for t in tasks)
    T = shift.shape[0]
    M = len(tasks)
    P = np.stack([pos[n] for n in names], axis=1)
    R = np.empty((T, M, 3, 3))
    pw = np.tile(np.array([t.position_weight for t in tasks], dtype=np.float64), (T, 1))
    rw = np.tile(np.array([t.orientation_weight for t in tasks], dtype=np.float64), (T, 1))
    for m, t in enumerate(tasks):
        group = ORIENTATION_OF.get(t.human)
        if group is None:
            R[:, m] = rest.rotation(t.frame)
            rw[:, m] = 0.0
        else:
            R[:, m] = est[group] @ rest.rotation(t.frame)
    foot_index = np.array([frames.index(f) for f in foot_frames])
    for s in (0, 1):
        w = weights[s]
        gain = 1.0 + (settings.contact_weight_gain - 1.0) * w
        if lying is not None:
            gain = np.maximum(gain, 1.0 + (settings.lying_weight_gain - 1.0) * lying[s])
        pw[:, foot_index[s]] *= gain
        free = settings.free_foot_rot_gain
        rot_gain = settings.contact_weight_gain if settings.contact_rot_weight_gain is None \
            else settings.contact_rot_weight_gain
        rw[:, foot_index[s]] *= free + (rot_gain - free) * w
    return Targets(frames=frames, keypoints=names, pos=P, rot=R, pos_weight=pw, rot_weight=rw,
                   contacts=np.asarray(contacts, dtype=bool), foot_index=foot_index, ground_shift=shift,
                   lock_weight=np.stack(weights, axis=1), locked=locked, limb_gain=limb_gain)


def build_targets(keypoints: np.ndarray, fps: float, floor_height: float, contacts: FootContacts | np.ndarray,
                  tasks: tuple, rest: RestPose, scaling: Scaling, foot_frames: tuple[str, str],
                  sole_corners: tuple[np.ndarray, np.ndarray],
                  settings: TargetSettings = TargetSettings(),
                  clearance: dict[str, float] | None = None) -> Targets:
    """IK targets of every frame, in named steps: floor-relative smoothed keypoints
    (:func:`floor_relative_keypoints`), orientations (:func:`estimate_orientations`), the scaled
    chain and its :func:`ground_shift`, the foot targets of the contacts
    (:func:`stages.retarget.foot_targets.foot_targets`), :func:`fit_legs`,
    :func:`lift_above_floor` and :func:`assemble`.

    Args:
        keypoints: (T, K, 3) human keypoints over :data:`KEYPOINT_NAMES`, m, Z-up.
        fps: frame rate (Hz).
        floor_height: the clip's floor z (m); becomes z = 0.
        contacts: the human's heel and toe contacts (:class:`FootContacts`), or a (T, 2) bool
            mask [left, right] read as feet planted flat.
        tasks: the robot's ``KeypointTask`` tuples (human, frame, pos w, rot w);
            must include the pelvis and both feet (``foot_frames``).
        rest: robot rest placements of every task frame.
        scaling: the clip's scale factors.
        foot_frames: robot (left, right) foot frames.
        sole_corners: per foot, (4, 3) sole corners in the foot frame (m).
        settings: see :class:`TargetSettings`.
        clearance: robot frame -> minimum height (m) of its origin (from its
            collision capsules); non-foot targets are lifted to it.

    Raises:
        ValueError: the tasks lack the pelvis or a foot.
    """
    fc = as_foot_contacts(contacts)
    grounded = fc.grounded
    mode = fc.mode
    foot_kp = foot_keypoints(tasks, foot_frames)
    frame_of = {t.human: t.frame for t in tasks}
    kp = floor_relative_keypoints(keypoints, fps, floor_height, settings.smoothing_s)
    upright = fc.upright if fc.upright is not None else np.ones_like(grounded)
    est = estimate_orientations(kp, (mode == FLAT) & upright)
    root = kp["pelvis"] * scaling.root_scale
    pos = _chain(kp, est, root, rest, frame_of)

    rest_rot = [rest.rotation(f) for f in foot_frames]
    low = np.stack([_lowest_corner(pos[foot_kp[s]], est[ORIENTATION_OF[foot_kp[s]]] @ rest_rot[s], sole_corners[s])
                    for s in (0, 1)], axis=1)
    shift = ground_shift(low, (mode == FLAT) & upright, fps, settings.ground_smoothing_s)
    root = root - shift[:, None] * UP
    pos = _chain(kp, est, root, rest, frame_of)

    # a foot carrying an upright leg is held firmly; one under a lying or kneeling body is not
    weights = [np.maximum(lock_weight((mode[:, s] == FLAT) & upright[:, s], settings.contact_blend_frames),
                          settings.pivot_weight * lock_weight(grounded[:, s] & upright[:, s],
                                                              settings.contact_blend_frames)) for s in (0, 1)]
    steps = [scaled_foot_steps(kp, ankle, toe, scaling.root_scale) for ankle, toe in FOOT_POINTS]
    leak = np.where(upright, 0.0, 1.0 - np.exp(-1.0 / max(settings.lying_anchor_s * fps, 1e-9)))

    def anchored() -> list[FootTargets]:
        return [foot_targets(pos[foot_kp[s]], est[ORIENTATION_OF[foot_kp[s]]], mode[:, s], steps[s],
                             sole_corners[s], fps, rest_rot=rest_rot[s], release_s=settings.release_s,
                             leak=leak[:, s], pivot_pitch_gain=settings.pivot_pitch_gain,
                             pivot_at=(settings.heel_pivot_at, settings.toe_pivot_at),
                             hold_frames=settings.swing_hold_frames) for s in (0, 1)]

    feet = anchored()
    # a foot resting on the floor under a lying or kneeling body: held softly (see TargetSettings)
    lying = [lock_weight(grounded[:, s] & ~upright[:, s], settings.contact_blend_frames) for s in (0, 1)]
    if settings.pelvis_drift_gain > 0:
        held = [np.maximum(weights[s], lying[s]) for s in (0, 1)]
        drift = settings.pelvis_drift_gain * pelvis_drift([f.pos for f in feet], [pos[k] for k in foot_kp], held,
                                                          fps, settings.ground_smoothing_s)
        root = root + drift
        pos = _chain(kp, est, root, rest, frame_of)
        # the chain moved by the drift: the feet's response to it, not a second pass of the state machine
        feet = [shifted_chain(feet[s], mode[:, s], drift, fps, settings.release_s, leak[:, s],
                              settings.swing_hold_frames) for s in (0, 1)]
    fixed = {}
    for s in (0, 1):
        k = foot_kp[s]
        p = feet[s].pos
        # a free foot never goes through the floor
        deficit = settings.ground_clearance - _lowest_corner(p, feet[s].rot, sole_corners[s])
        p[:, 2] += np.where((deficit > 0) & ~grounded[:, s], deficit, 0.0)
        fixed[k] = p
        est[ORIENTATION_OF[k]] = feet[s].rot @ rest_rot[s].T
    pos = _chain(kp, est, root, rest, frame_of, fixed)
    pos, root, drop = fit_legs(pos, root, kp, est, rest, frame_of, fixed, weights, fps, settings)
    pos = lift_above_floor(pos, tasks, foot_kp, clearance)
    low_body = np.stack([lock_weight(~upright[:, s], settings.contact_blend_frames) for s in (0, 1)], axis=1)
    return assemble(pos, est, tasks, rest, foot_frames, weights, grounded, shift + drop, settings, fc.locked,
                    lying=lying, limb_gain=1.0 + (settings.lying_limb_gain - 1.0) * low_body)


def as_foot_contacts(contacts: FootContacts | np.ndarray) -> FootContacts:
    """``contacts`` as :class:`FootContacts`; a (T, 2) bool mask means both points planted."""
    if isinstance(contacts, FootContacts):
        return contacts
    mask = np.asarray(contacts, dtype=bool)
    return FootContacts(planted=np.repeat(mask[:, :, None], 2, axis=2), grounded=mask.copy(),
                        rest_height=np.zeros((2, 2)))

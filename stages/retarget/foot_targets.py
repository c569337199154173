"""Foot targets from the human's heel and toe contacts: anchors where the foot lands, pivots, releases.

One pass over the frames of each foot (:func:`foot_targets`), a small state
machine driven by :class:`stages.retarget.contacts.FootContacts`:

* landing: the foot's anchor is where its target is at the landing frame (the
  scaled chain's foot, plus what is left of the previous release offset), not
  the average of the stance;
* planted flat: the sole centre stays on its anchor, the heading is held, the
  pitch rolls flat;
* pivoting on the heel (heel strike) or the toe (toe off, kneeling): the sole's
  heel point or ball (:func:`pivot_points`: where the human's heel and toe joint
  map onto the sole) stays on its anchor while the foot pitches and turns like
  the human's (a sole edge pitched below the floor lifts the foot, not the
  pivot's horizontal place); switching pivots re-anchors at the new pivot's
  current position, so the target never jumps;
* grounded but sliding: the target moves like the scaled human foot (the human
  ankle/toe midpoint's displacement x the clip's scale), integrated from where
  the foot is;
* every anchor sinks to the floor (its height halves each frame);
* release: the difference between the foot's target and the scaled chain's
  foot at lift-off (position, heading, pitch) fades out over the following
  swing, reaching zero where the foot lands next (or after ``release_s`` when
  it never lands again), instead of snapping back within a few frames;
* lift and set down (:func:`hold_swing_ends`): the first and the last frame of
  a swing keep the sole centre over where the foot left / where it lands, so
  the foot rises and comes down instead of skating along the floor in the
  frames next to a contact (central differences over a contact's first and
  last frame reach into the swing: those frames carried 60 % of dance1's slide);
* lying or kneeling (the shin does not rise above the foot): the foot frame's
  origin is anchored, not a sole point, and the anchor follows the scaled chain
  slowly (``leak``).

Where an anchor drifts away from the scaled chain during a long stance the leg
and the pelvis absorb the difference (the IK tracks the foot with a raised
weight; :mod:`stages.retarget.targets` lowers the pelvis where the leg would
not reach).

World frame Z-up, floor z = 0, metres; rotations (…, 3, 3) foot frame -> world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.contacts import spans_of
from stages.retarget.contacts import FLAT, HEEL_PIVOT, SLIDING, SWING, TOE_PIVOT


@dataclass(frozen=True)
class FootTargets:
    """Target poses of one foot frame.

    Attributes:
        pos: (T, 3) m; rot: (T, 3, 3) (rest rotation of the robot foot included).
    """

    pos: np.ndarray
    rot: np.ndarray


def heading_pitch(rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading (yaw about z) and pitch (about the foot's y, toe down positive) of frames (T, 3, 3)
    written as ``Rz(heading) @ Ry(pitch)`` (no roll)."""
    x = rot[:, :, 0]
    return np.arctan2(x[:, 1], x[:, 0]), np.arcsin(np.clip(-x[:, 2], -1.0, 1.0))


def rot_z_y(heading: float, pitch: float) -> np.ndarray:
    """(3, 3) ``Rz(heading) @ Ry(pitch)``."""
    ch, sh, cp, sp = math.cos(heading), math.sin(heading), math.cos(pitch), math.sin(pitch)
    return np.array([[ch * cp, -sh, ch * sp], [sh * cp, ch, sh * sp], [-sp, 0.0, cp]])


def rot_z_y_batch(heading: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(T, 3, 3) ``Rz(heading) @ Ry(pitch)`` of (T,) angles."""
    ch, sh, cp, sp = np.cos(heading), np.sin(heading), np.cos(pitch), np.sin(pitch)
    out = np.zeros(np.shape(heading) + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = ch * cp, -sh, ch * sp
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = sh * cp, ch, sh * sp
    out[..., 2, 0], out[..., 2, 2] = -sp, cp
    return out


def _trig(heading: float, pitch: float) -> tuple[float, float, float, float]:
    """(sin pitch, cos pitch, sin heading, cos heading), the argument of :func:`_apply`."""
    return math.sin(pitch), math.cos(pitch), math.sin(heading), math.cos(heading)


def _apply(trig: tuple[float, float, float, float], v: tuple[float, ...]) -> tuple[float, float, float]:
    """``Rz(heading) @ Ry(pitch) @ v`` for a 3-vector of floats; ``trig`` = ``_trig(heading, pitch)``."""
    sp, cp, sh, ch = trig
    x, z = cp * v[0] + sp * v[2], -sp * v[0] + cp * v[2]
    return ch * x - sh * v[1], sh * x + ch * v[1], z


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def pivot_points(sole_corners: np.ndarray, heel_at: float = 1.0, toe_at: float = 1.0) -> dict[int, np.ndarray]:
    """Foot-frame (3,) point each contact mode holds still: the sole centre (flat, sliding), a point on
    the way from it to the heel edge's midpoint (heel pivot; ``heel_at`` 1: the edge) and to the toe
    edge's midpoint (toe pivot; ``toe_at`` 1: the edge, below 1: towards the ball of the foot).
    ``sole_corners`` (4, 3) front-left, front-right, back-right, back-left."""
    c = np.asarray(sole_corners, dtype=np.float64)
    centre = c.mean(axis=0)
    heel, toe = 0.5 * (c[2] + c[3]), 0.5 * (c[0] + c[1])
    return {FLAT: centre, SLIDING: centre, HEEL_PIVOT: centre + heel_at * (heel - centre),
            TOE_PIVOT: centre + toe_at * (toe - centre)}


ORIGIN = (0.0, 0.0, 0.0)
"""The foot frame's origin, the point a lying or kneeling foot holds (see :func:`foot_targets`)."""


def release_fade(frames: int) -> np.ndarray:
    """(frames,) cosine fade from just below 1 (first swing frame) to 0 (the landing frame after them)."""
    u = np.arange(1, frames + 1) / (frames + 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * u))


def foot_targets(chain_pos: np.ndarray, chain_rot_base: np.ndarray, mode: np.ndarray,
                 human_step: np.ndarray, sole_corners: np.ndarray, fps: float,
                 rest_rot: np.ndarray | None = None, release_s: float = 0.5, sink: float = 0.5,
                 leak: np.ndarray | None = None, pivot_pitch_gain: float = 1.0,
                 pivot_at: tuple[float, float] = (1.0, 1.0), hold_frames: int = 0) -> FootTargets:
    """Target poses of one foot from its contact modes (see the module docstring).

    Args:
        chain_pos: (T, 3) the scaled chain's foot frame position (the target of a free foot), m.
        chain_rot_base: (T, 3, 3) the human foot's orientation as ``Rz(heading) @ Ry(pitch)``
            (flat pitch removed, no roll), *without* the robot foot's rest rotation.
        mode: (T,) int contact mode (:data:`stages.retarget.contacts.SWING` ... ``SLIDING``).
        human_step: (T, 3) displacement of the scaled human foot from the previous frame (m;
            row 0 unused), the motion of a sliding foot.
        sole_corners: (4, 3) sole corners in the foot frame (m).
        fps: frame rate (Hz).
        rest_rot: (3, 3) the robot foot frame's rest orientation in the canonical foot frame
            (identity when None); targets are ``Rz @ Ry @ rest_rot``.
        release_s: fade duration (s) of a release never followed by a landing.
        sink: factor (per frame) on an anchor's height above the floor.
        pivot_pitch_gain: factor on the human foot's pitch while the foot pivots on the floor
            (heel or toe): below 1 the robot's longer sole rolls less.
        leak: (T,) share (0..1) of the way from the anchor to the chain's foot the anchor moves each
            frame (0: held; used where the body lies or kneels, so that a foot resting on the floor
            does not fight the leg directions for long); None: 0. Where it is above 0 the anchored
            point is the foot frame's origin (what the IK's foot task tracks), not a sole point:
            the human foot's heading and pitch say little about how a robot foot lies on its side
            or instep (on ground2_subject2 the solved foot turned 40-110 degrees from that target
            orientation), and a target turned about a sole point swung the tracked origin around
            it (slide / slide_ref 1.03 -> 0.79 there).
        pivot_at: (heel, toe) where on the sole a pivot holds still (:func:`pivot_points`).
        hold_frames: the first and last this many frames of a swing keep the sole centre over
            where it left / where it lands (:func:`hold_swing_ends`).

    Returns:
        Positions and orientations of the foot frame.
    """
    T = chain_pos.shape[0]
    heading, pitch = heading_pitch(chain_rot_base)
    rest = np.eye(3) if rest_rot is None else np.asarray(rest_rot, dtype=np.float64)
    # points in the canonical foot frame (rest rotation applied), as plain floats for the loop
    pts = {k: tuple(float(x) for x in rest @ v) for k, v in pivot_points(sole_corners, *pivot_at).items()}
    corners = [tuple(float(x) for x in rest @ v) for v in np.asarray(sole_corners, dtype=np.float64)]
    corner_xz = [(v[0], v[2]) for v in corners]
    pos = chain_pos.copy()
    yaw_t = heading.copy()
    pitch_t = pitch.copy()
    grounded = mode != SWING
    grounded_l = grounded.tolist()
    mode_l = np.asarray(mode).tolist()
    heading_l, pitch_l = heading.tolist(), pitch.tolist()
    leak_l = [0.0] * T if leak is None else np.asarray(leak, dtype=np.float64).tolist()
    t = 0
    while t < T:
        n = t
        while n < T and grounded_l[n] == grounded_l[t]:
            n += 1
        if not grounded_l[t]:
            # swing from t to the next landing: fade what the last stance left
            if t > 0:
                L = release_frames(n - t, n < T, fps, release_s)
                f = np.zeros(n - t)
                f[:L] = release_fade(L)
                dp = pos[t - 1] - chain_pos[t - 1]
                dyaw = _wrap(float(yaw_t[t - 1] - heading[t - 1]))
                dpitch = float(pitch_t[t - 1] - pitch[t - 1])
                pos[t:n] = chain_pos[t:n] + f[:, None] * dp
                yaw_t[t:n] = heading[t:n] + f * dyaw
                pitch_t[t:n] = pitch[t:n] + f * dpitch
            t = n
            continue
        # a grounded run [t, n): one frame at a time (each anchor comes from the previous pose), in
        # Python floats; the landing frame starts from the swing target there (chain + fade)
        px, py, pz = pos[t].tolist()
        prev_yaw, prev_pitch, prev_heading = float(yaw_t[t]), float(pitch_t[t]), heading_l[t]
        prev_trig = _trig(prev_yaw, prev_pitch)
        chain_l = chain_pos[t:n].tolist()
        step_l = human_step[t:n, :2].tolist()
        run_pos, run_yaw, run_pitch = [], [], []
        for r in range(n - t):
            u = t + r
            k = mode_l[u]
            if k == FLAT:
                yaw, pit = prev_yaw, prev_pitch * sink
            else:
                yaw, pit = prev_yaw + _wrap(heading_l[u] - prev_heading), pivot_pitch_gain * pitch_l[u]
            a = leak_l[u]
            c = ORIGIN if a > 0 else pts[k]              # a lying / kneeling foot holds its frame's origin
            ax, ay, az = _apply(prev_trig, c)
            ax, ay, az = px + ax, py + ay, pz + az
            if k == SLIDING:
                ax, ay = ax + step_l[r][0], ay + step_l[r][1]
            if a > 0:                                    # not a standing foot: follow the chain softly
                yaw, pit = yaw + a * _wrap(heading_l[u] - yaw), pitch_l[u]
            trig = _trig(yaw, pit)
            rcx, rcy, rcz = _apply(trig, c)
            if a > 0:
                cx, cy, cz = chain_l[r]
                ax += a * (cx + rcx - ax)
                ay += a * (cy + rcy - ay)
                az += a * (cz + rcz - az)
            else:
                az = max(0.0, az) * sink
            qx, qy, qz = ax - rcx, ay - rcy, az - rcz
            sp, cp = trig[0], trig[1]
            low = qz + min([-sp * v0 + cp * v2 for v0, v2 in corner_xz])
            if low < 0.0:
                qz -= low
            run_pos.append((qx, qy, qz))
            run_yaw.append(yaw)
            run_pitch.append(pit)
            px, py, pz, prev_yaw, prev_pitch, prev_heading, prev_trig = qx, qy, qz, yaw, pit, heading_l[u], trig
        pos[t:n] = run_pos
        yaw_t[t:n] = run_yaw
        pitch_t[t:n] = run_pitch
        t = n
    rot = rot_z_y_batch(yaw_t, pitch_t) @ rest
    if hold_frames > 0:
        hold_swing_ends(pos, mode, rot @ pivot_points(sole_corners, *pivot_at)[FLAT], hold_frames)
    return FootTargets(pos=pos, rot=rot)


def swing_end_holds(mode: np.ndarray, frames: int) -> list[tuple[int, int]]:
    """(frame, source frame) pairs of :func:`hold_swing_ends`: the first ``frames`` frames of every swing
    that follows a contact take the frame before it, the last ``frames`` of one before a landing take the
    landing frame (the landing wins where a short swing has both)."""
    out: dict[int, int] = {}
    T = len(mode)
    for a, b in spans_of(np.asarray(mode) == SWING):
        if a > 0:
            for t in range(a, min(b, a + frames)):
                out[t] = a - 1
        if b < T:
            for t in range(max(a, b - frames), b):
                out[t] = b
    return sorted(out.items())


def hold_swing_ends(pos: np.ndarray, mode: np.ndarray, centre_offset: np.ndarray, frames: int) -> None:
    """Hold the sole centre's horizontal place over the ends of each swing, in place.

    In the first ``frames`` frames after a lift-off the sole centre stays over where it left the floor, in
    the last ``frames`` before a landing it is already over where it lands; the height and orientation are
    the swing's. The foot lifts and sets down without skating on the floor: a foot that still slides in
    the frame after it lifts (or before it lands) moves its sole centre along the floor at its swing speed.

    Args:
        pos: (T, 3) foot frame positions (m), changed in place.
        mode: (T,) contact modes.
        centre_offset: (T, 3) sole centre minus foot frame position, world (m).
        frames: frames held at each end.
    """
    for t, src in swing_end_holds(mode, frames):
        pos[t, :2] = pos[src, :2] + centre_offset[src, :2] - centre_offset[t, :2]


def release_frames(swing_frames: int, lands: bool, fps: float, release_s: float) -> int:
    """Frames over which a release offset fades: the whole swing before a landing, else at most ``release_s``."""
    return swing_frames if lands else min(swing_frames, max(1, int(round(release_s * fps))))


def shifted_chain(targets: FootTargets, mode: np.ndarray, shift: np.ndarray, fps: float, release_s: float = 0.5,
                  leak: np.ndarray | None = None, hold_frames: int = 0) -> FootTargets:
    """:func:`foot_targets` of a chain moved by a horizontal ``shift`` (T, 3) (z = 0), from the targets
    ``targets`` of the unmoved chain (same mode, release, leak and swing-end holds), without running the state machine again.

    Heights, headings and pitches do not depend on the chain's horizontal position, and the foot's
    horizontal position is linear in it: an anchor takes the chain's shift at its landing frame and
    keeps it (a leaking anchor follows the chain's shift with the same per-frame share), a swing
    foot takes the chain's shift plus the fading difference left at lift-off. So the moved chain's
    targets are ``targets`` plus that response (equal to running :func:`foot_targets` again to
    rounding).
    """
    mode = np.asarray(mode)
    d = np.asarray(shift, dtype=np.float64)
    e = d.copy()
    T = len(mode)
    grounded = mode != SWING
    lk = None if leak is None else np.asarray(leak, dtype=np.float64)
    for a, b in spans_of(grounded):
        if lk is None or not lk[a:b].any():
            e[a:b] = d[a]                                             # held from the landing frame
            continue
        prev = d[a]
        for t in range(a, b):
            prev = prev + lk[t] * (d[t] - prev)
            e[t] = prev
    for a, b in spans_of(~grounded):
        if a == 0:
            continue
        L = release_frames(b - a, b < T, fps, release_s)
        f = np.zeros(b - a)
        f[:L] = release_fade(L)
        e[a:b] = d[a:b] + f[:, None] * (e[a - 1] - d[a - 1])
    for t, src in swing_end_holds(mode, hold_frames):                 # a held swing end moves with its source
        e[t] = e[src]
    return FootTargets(pos=targets.pos + e, rot=targets.rot)

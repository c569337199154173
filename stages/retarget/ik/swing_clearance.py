"""Swing clearance: a free foot that moves keeps its sole off the floor, and flat near it.

Issue 12: without it a swing foot hangs from the scaled chain, the floor rows clamp a penetrating
one onto z = 0 while it moves, and the pitched 21 cm sole puts a toe or heel corner on the floor:
feet skim at about 1 m/s.

Schedule (:func:`swing_clearance`, per frame and foot, from the human): the clearance grows with
the human's own foot speed scaled to the robot,

    c = min(c_max, k (v - v_0)^+) (1 - a lock) (b + (1 - b) u),     v = |d/dt (ankle + toe) / 2|_xy  x  root scale

and is 0 where the human foot is in contact (the retarget's detector: planted or sliding). ``lock`` is
the retarget's contact-lock blend in [0, 1], ``a`` = ``swing_lock_share`` how much of it is taken off
(default 0: the first and last frames of a swing, inside the blend's ramp, are where the foot leaves
and reaches the floor at up to 1 m/s, and where the near-ground speed came from: 14.3 -> 11.0 cm/s
mean over the 21 real clips, slide unchanged). ``u`` in [0, 1] says the human stands: it rises from
0 to 1 as the pelvis height above the floor goes from 0.6 to 0.8 of the clip's leg length
(hip -> knee -> ankle); ``b`` = ``swing_low_body_share`` is the share a kneeling or lying person's
moving foot keeps (default 1: a foot that drags on the floor is already in contact, so has no
clearance, and a lifted one moving fast near the floor is not dragging; measured: near-ground speed
of the fall / ground / push clips 9-16 cm/s instead of 11-24, slide and limb error unchanged).

The swing foot's target is lifted to its clearance too (:func:`lift_swing_targets`), so the foot
task agrees with the rows instead of pulling the foot (or, through the free base, the whole robot
and its stance foot) down.

Rows (:class:`SwingBarrier`, a control-barrier form of the ground rows, gain g in (0, 1]; the floor
rows z + J_z dq >= 0 stay): for each sole corner of a foot with c > 0 that is lower than
c + ``ground_activation``

    J_z dq >= g (c - z)                             (towards z >= c)

and, while that foot's lowest corner is lower than c + ``swing_pitch_height``, its pitch (front
corners' mean height less the back corners', dz, over the sole length L) stays within
``swing_pitch_max``, on the side the foot is pitched to:

    -sign(dz) (J_front - J_back)_z dq / 2 >= -g (L sin(pitch_max) - |dz|)

so the foot clears the floor flat instead of lifting a pitched sole by its lowest corner (the pitch
rows are off by default, ``swing_pitch_rows``: on the 21 real clips they cost slide and limb-direction
error and gain no near-ground speed). Each row asks for at most ``swing_max_step`` (m) of recovery
per step.
Units: metres, seconds, radians; world Z-up, floor z = 0.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from core.records.keypoints import KEYPOINT_NAMES
from stages.retarget.ik.settings import SolverSettings

SPEED_SMOOTHING_S = 0.05
"""Gaussian sigma (s) on the human foot speed (central differences amplify mocap jitter)."""


UPRIGHT_FROM, UPRIGHT_TO = 0.6, 0.8
"""Pelvis height above the floor, as a fraction of the leg length, where ``u`` leaves 0 and reaches 1."""


def upright(keypoints: np.ndarray, floor_height: float) -> np.ndarray:
    """(T,) the ``u`` of the module docstring: 0 kneeling or lying, 1 standing."""
    idx = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    legs = [np.linalg.norm(keypoints[:, idx[f"{s}_hip"]] - keypoints[:, idx[f"{s}_knee"]], axis=1)
            + np.linalg.norm(keypoints[:, idx[f"{s}_knee"]] - keypoints[:, idx[f"{s}_ankle"]], axis=1)
            for s in ("left", "right")]
    leg = float(np.median(np.concatenate(legs)))
    height = (keypoints[:, idx["pelvis"], 2] - floor_height) / max(leg, 1e-6)
    return np.clip((height - UPRIGHT_FROM) / (UPRIGHT_TO - UPRIGHT_FROM), 0.0, 1.0)


def swing_clearance(keypoints: np.ndarray, fps: float, floor_height: float, root_scale: float,
                    lock_weight: np.ndarray | None, contacts: np.ndarray, settings: SolverSettings) -> np.ndarray:
    """(T, 2) clearance (m) of the [left, right] sole per frame (see the module docstring).

    Args:
        keypoints: (T, K, 3) human keypoints over :data:`KEYPOINT_NAMES`, m, Z-up.
        fps: frame rate (Hz).
        floor_height: the clip's floor z (m).
        root_scale: the clip's scale of the human's translation onto the robot.
        lock_weight: (T, 2) contact-lock blend [left, right] in [0, 1] (None: no locks).
        contacts: (T, 2) bool human foot contact [left, right].
    """
    T = keypoints.shape[0]
    out = np.zeros((T, 2))
    st = settings
    if st.swing_clearance_max <= 0.0 or T < 2:
        return out
    u = st.swing_low_body_share + (1.0 - st.swing_low_body_share) * upright(keypoints, floor_height)
    for s, side in enumerate(("left", "right")):
        mid = 0.5 * (keypoints[:, KEYPOINT_NAMES.index(f"{side}_ankle"), :2]
                     + keypoints[:, KEYPOINT_NAMES.index(f"{side}_toe"), :2])
        speed = np.linalg.norm(np.gradient(mid, 1.0 / fps, axis=0), axis=1) * root_scale
        sigma = SPEED_SMOOTHING_S * fps
        if sigma > 0:
            speed = gaussian_filter1d(speed, sigma, mode="nearest")
        c = np.minimum(st.swing_clearance_max, st.swing_clearance_per_speed
                       * np.maximum(speed - st.swing_speed_threshold, 0.0))
        if lock_weight is not None:
            c = c * (1.0 - st.swing_lock_share * np.clip(lock_weight[:, s], 0.0, 1.0))
        out[:, s] = np.where(np.asarray(contacts[:, s], dtype=bool), 0.0, c * u)
    return out


def lift_swing_targets(pos: np.ndarray, rot: np.ndarray, foot_index: np.ndarray, sole_corners: np.ndarray,
                       clearance: np.ndarray, pitch_max: float) -> np.ndarray:
    """Target positions (T, M, 3) with each swing foot's raised so that its sole, pitched at most
    ``pitch_max`` (rad), has its lowest corner at least at its clearance (a new array).

    Args:
        pos: (T, M, 3) target positions (m); rot: (T, M, 3, 3) target orientations.
        foot_index: (2,) task index of the [left, right] foot; sole_corners: (2, C, 3) in the foot frames.
        clearance: (T, 2) m (:func:`swing_clearance`).
    """
    out = pos.copy()
    for s in (0, 1):
        c = clearance[:, s]
        lift = c > 0.0
        if not lift.any():
            continue
        m = foot_index[s]
        R = rot[lift, m]
        pitch = np.arcsin(np.clip(-R[:, 2, 0], -1.0, 1.0))               # about the foot's y (x y z frame)
        excess = pitch - np.clip(pitch, -pitch_max, pitch_max)
        Ry = np.zeros((len(R), 3, 3))
        ce, se = np.cos(excess), np.sin(excess)
        Ry[:, 0, 0], Ry[:, 0, 2], Ry[:, 1, 1], Ry[:, 2, 0], Ry[:, 2, 2] = ce, -se, 1.0, se, ce
        flat = R @ Ry                                                      # pitch brought back into the limit
        low = np.min(np.einsum("tij,cj->tci", flat, sole_corners[s])[..., 2], axis=1) + pos[lift, m, 2]
        out[lift, m, 2] += np.maximum(c[lift] - low, 0.0)
    return out


class SwingBarrier:
    """Rows of the swing clearance for soles with corners (2, C, 3) (front-left, front-right,
    back-right, back-left, as :meth:`core.robot.config.Sole.corners`) in their foot frames."""

    def __init__(self, sole_corners: np.ndarray, settings: SolverSettings):
        st = settings
        self.gain = float(st.swing_barrier_gain)
        self.step = float(st.swing_max_step)
        self.activation = float(st.ground_activation)
        self.clearance_rows = bool(st.swing_clearance_rows)
        self.pitch = bool(st.swing_pitch_rows)
        self.pitch_height = float(st.swing_pitch_height)
        corners = np.asarray(sole_corners, dtype=np.float64)
        self.four = corners.shape[1] == 4          # front-left, front-right, back-right, back-left
        length = np.abs(corners[:, 0, 0] - corners[:, 3, 0]) if corners.shape[1] == 4 else np.zeros(2)
        self.max_rise = length * np.sin(st.swing_pitch_max)          # (2,) front - back height budget, m
        self._below = np.empty((2, 1))                                # work array of :meth:`corner_lower`

    def corner_lower(self, z: np.ndarray, clearance: np.ndarray, anchored: np.ndarray | None) -> np.ndarray | None:
        """(2, C) lower bounds of the corner rows ``J_z dq >= l`` (``-z`` the floor's) with the clearance of
        every swing foot that is not ``anchored`` folded in: ``max(-z, min(g (c - z), step))`` for its
        corners lower than c + activation; None when no foot has such a clearance (then the floor's hold).

        The swing clearance row of a corner has the same Jacobian row as its floor row, so it is the
        floor row with a tighter bound: no row is added to the QP.
        """
        if not self.clearance_rows:
            return None
        c = np.asarray(clearance, dtype=np.float64)[:, None]
        # corners lower than c + activation of a swing foot (c > 0, not anchored); higher ones need no bound
        below = self._below
        below.fill(-np.inf)
        for s in (0, 1):
            cs = float(c[s, 0])
            if cs > 0.0 and not (anchored is not None and anchored[s]):
                below[s, 0] = cs + self.activation
        near = z < below
        if not near.any():
            return None
        floor = -z
        return np.where(near, np.maximum(floor, np.minimum(self.gain * (c - z), self.step)), floor)

    def rows(self, rows: np.ndarray, z: np.ndarray, clearance: np.ndarray,
             anchored: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The swing rows G dq >= l that are not corner bounds (:meth:`corner_lower`): the clearance rows of
        swing feet whose other foot is ``anchored`` (2,) and the pitch rows, from the sole corner rows
        (2, C, nv) (d z / d dq) and heights z (2, C) (m); None when there are none.

        A swing foot whose other foot is anchored (locked on the floor) gets its clearance above that
        foot's lowest corner and its pitch relative to that foot's: lifting or tilting the free base then
        gains nothing, so the swing leg moves the foot instead of the robot dragging its stance foot along.
        """
        G: list[np.ndarray] = []
        low: list[float] = []
        for s in (0, 1):
            c = float(clearance[s])
            if c <= 0.0:
                continue
            zs = z[s]
            if self.clearance_rows and anchored is not None and anchored[s]:
                o = 1 - s
                ko = int(np.argmin(z[o]))
                height, J = zs - z[o, ko], rows[s] - rows[o, ko]
                near = height < c + self.activation                  # corners higher than this need no row
                if near.any():
                    G.extend(J[near])
                    low.extend((self.gain * (c - height[near])).tolist())
            if self.pitch and self.four and float(zs.min()) <= c + self.pitch_height:
                dz = 0.5 * float(zs[0] + zs[1] - zs[2] - zs[3])                     # front - back, m
                rs = rows[s]
                J = 0.5 * (rs[0] + rs[1] - rs[2] - rs[3])
                if anchored is not None and anchored[s]:
                    # relative to the anchored foot's pitch: tilting the free base gains nothing
                    zo, ro = z[1 - s], rows[1 - s]
                    dz -= 0.5 * float(zo[0] + zo[1] - zo[2] - zo[3])
                    J = J - 0.5 * (ro[0] + ro[1] - ro[2] - ro[3])
                # h = budget - |dz| >= 0 on the side the foot is pitched to (the other has more slack)
                sign = 1.0 if dz >= 0.0 else -1.0
                G.append(-sign * J)
                low.append(-self.gain * (float(self.max_rise[s]) - sign * dz))
        if not G:
            return None
        # a deficit is recovered at most ``step`` per QP step: a hard row asking for more can only be met by
        # throwing the foot (or the free base) far through a linearisation that no longer holds
        return np.array(G), np.minimum(np.array(low), self.step)

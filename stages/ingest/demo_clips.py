"""Procedural motions of the demo corpus, as :class:`PoseTargets` (design frame).

Feasible motions are built to be physically plausible: walking follows the
linear inverted pendulum (the centre of mass passes over each planted foot
with the ZMP at that foot), planted feet are exactly still and flat on the
floor, knees stay within reach (never hyper-extended), arms swing in
opposition to the legs. Each infeasible motion breaks one thing on purpose.

All positions in metres, angles in radians, time in seconds; the floor is
z = 0 (soles), so planted ankles are at :data:`ANKLE_HEIGHT`.
"""

from __future__ import annotations

import numpy as np

from stages.ingest.demo_pose import ANKLE_HEIGHT, L_HIP, LEG, REST, PoseTargets, centre_of_mass, pose_positions

GRAVITY = 9.81
STAND_PELVIS_Z = ANKLE_HEIGHT + float(REST[0, 2] - REST[7, 2])    # straight legs, flat feet
FOOT_Y = 0.10                                                     # half the stance width (m)
HIP_DROP = float(-REST[L_HIP, 2])                                 # pelvis joint above the hip joints (m)


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend 0 -> 1 on s in [0, 1] (clipped)."""
    s = np.clip(s, 0.0, 1.0)
    return s ** 3 * (10.0 - 15.0 * s + 6.0 * s ** 2)


def bump(t: np.ndarray, start: float, rise: float, hold: float, fall: float) -> np.ndarray:
    """0 -> 1 (min-jerk, ``rise`` s) -> hold -> 0 (``fall`` s), starting at ``start``."""
    up = min_jerk((t - start) / rise)
    down = min_jerk((t - start - rise - hold) / fall)
    return up - down


def _arm(pitch: np.ndarray, side: int, abduct: float | np.ndarray = 0.12) -> np.ndarray:
    """Upper-arm direction in the torso frame: hanging, swung forward by ``pitch`` (rad), out by ``abduct``."""
    y = abduct if side == 0 else -abduct
    return np.stack([np.sin(pitch), np.full_like(pitch, y), -np.cos(pitch)], axis=-1)


def _reach_limited_height(pelvis_xy: np.ndarray, heading: np.ndarray, ankles: np.ndarray, nominal: np.ndarray,
                          margin: float = 0.985) -> np.ndarray:
    """Pelvis z no higher than ``nominal`` and low enough for both ankles to be within reach."""
    z = nominal.copy()
    c, s = np.cos(heading), np.sin(heading)
    for side in (0, 1):
        hip_local = REST[1 + side]
        hip_xy = pelvis_xy + np.stack([c * hip_local[0] - s * hip_local[1], s * hip_local[0] + c * hip_local[1]], -1)
        horiz = np.linalg.norm(ankles[:, side, :2] - hip_xy, axis=-1)
        reach = np.sqrt(np.clip((margin * LEG) ** 2 - horiz ** 2, 0.0, None))
        z = np.minimum(z, ankles[:, side, 2] + reach - hip_local[2])
    return z


def _smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma_frames, axis=0, mode="nearest")


def _path(s: np.ndarray, n: np.ndarray, curvature: float, heading0: float) -> tuple[np.ndarray, np.ndarray]:
    """Point (T, 2) and heading (T,) at arc length ``s``, left offset ``n`` on a circular path."""
    if abs(curvature) < 1e-9:
        px, py, phi = s, np.zeros_like(s), np.zeros_like(s)
    else:
        phi = curvature * s
        px, py = np.sin(phi) / curvature, (1.0 - np.cos(phi)) / curvature
    px = px - np.sin(phi) * n
    py = py + np.cos(phi) * n
    c, sn = np.cos(heading0), np.sin(heading0)
    return np.stack([c * px - sn * py, sn * px + c * py], axis=-1), phi + heading0


def walk(duration: float, fps: float, step_length: float = 0.5, step_time: float = 0.55,
         curvature: float = 0.0, heading0: float = 0.0, lift: float = 0.07, pelvis_z: float = 0.89,
         double_support: float = 0.12, arm_swing: float = 0.3) -> PoseTargets:
    """Steady walking along a straight line or circle, LIPM centre-of-mass motion.

    Per step the CoM goes from midway behind to midway ahead of the stance
    foot: ``x = L/2 sinh((tau - T/2)/Tc) / sinh(T/2Tc)``, lateral
    ``y = w (1 - cosh((tau - T/2)/Tc) / cosh(T/2Tc))`` toward the stance foot,
    ``Tc = sqrt(z/g)``: the ZMP stays on the stance foot.
    """
    T = int(round(duration * fps)) + 1
    t = np.arange(T) / fps
    tc = np.sqrt((pelvis_z + 0.03) / GRAVITY)                   # CoM sits ~3 cm above the pelvis joint
    k = np.floor(t / step_time).astype(int)
    tau = t - k * step_time
    stance = k % 2                                              # 0 left, 1 right
    sign = np.where(stance == 0, 1.0, -1.0)
    half = step_time / 2.0
    x_rel = step_length / 2.0 * np.sinh((tau - half) / tc) / np.sinh(half / tc)
    y_rel = FOOT_Y * (1.0 - np.cosh((tau - half) / tc) / np.cosh(half / tc))
    s_com = k * step_length + x_rel
    n_com = sign * y_rel
    com_xy, heading = _path(s_com, n_com, curvature, heading0)

    ankles = np.empty((T, 2, 3))
    foot_yaw = np.empty((T, 2))
    foot_pitch = np.zeros((T, 2))
    for side in (0, 1):
        n_side = FOOT_Y if side == 0 else -FOOT_Y
        own = stance == side
        # the swing foot moves from footprint k-1 to k+1 during step k (after/before double support)
        sigma = (tau - double_support / 2) / (step_time - double_support)
        s_foot = np.where(own, k * step_length, (k - 1) * step_length + 2 * step_length * min_jerk(sigma))
        z = ANKLE_HEIGHT + np.where(own, 0.0, lift * np.sin(np.pi * np.clip(sigma, 0.0, 1.0)))
        xy, yaw = _path(s_foot, np.full(T, n_side), curvature, heading0)
        ankles[:, side, :2] = xy
        ankles[:, side, 2] = z
        foot_yaw[:, side] = yaw
        foot_pitch[:, side] = np.where(own, 0.0, 0.15 * np.sin(np.pi * np.clip(sigma, 0.0, 1.0)))
    nominal = np.full(T, pelvis_z) - 0.01 * np.cos(2 * np.pi * tau / step_time)   # highest at mid-stance
    # arms swing opposite to the legs: left arm forward when the right foot is ahead
    gait_phase = np.pi * t / step_time
    arm_pitch = arm_swing * np.sin(gait_phase)
    arms = np.stack([_arm(arm_pitch, 0), _arm(-arm_pitch, 1)], axis=1)
    elbow = np.stack([0.35 + 0.2 * np.clip(arm_pitch, 0, None), 0.35 + 0.2 * np.clip(-arm_pitch, 0, None)], axis=1)
    targets = PoseTargets(pelvis_pos=np.column_stack([com_xy, nominal]), heading=heading,
                          pelvis_pitch=np.full(T, 0.04), torso_lean=np.full(T, 0.04), ankle_pos=ankles,
                          foot_yaw=foot_yaw, foot_pitch=foot_pitch, arm_dirs=arms, elbow=elbow)
    # place the pelvis so that the whole-body CoM (not the pelvis) follows the LIPM path
    pelvis_xy = com_xy.copy()
    for _ in range(3):
        z = _reach_limited_height(pelvis_xy, heading, ankles, nominal)
        z = np.minimum(_smooth(z, 2.5), _reach_limited_height(pelvis_xy, heading, ankles, nominal, margin=0.995))
        targets.pelvis_pos = np.column_stack([pelvis_xy, z])
        com = centre_of_mass(pose_positions(targets))
        pelvis_xy = pelvis_xy + (com_xy - com[:, :2])
    return targets


def _stand(T: int, heading: float = 0.0) -> PoseTargets:
    """Quiet standing: flat feet at (0, +-FOOT_Y), pelvis above mid-foot, knees slightly soft."""
    ankles = np.zeros((T, 2, 3))
    ankles[:, 0] = [0.0, FOOT_Y, ANKLE_HEIGHT]
    ankles[:, 1] = [0.0, -FOOT_Y, ANKLE_HEIGHT]
    c, s = np.cos(heading), np.sin(heading)
    ankles[..., :2] = ankles[..., :2] @ np.array([[c, s], [-s, c]])
    pelvis = np.zeros((T, 3))
    pelvis[:, :2] = np.array([0.03 * c, 0.03 * s])
    pelvis[:, 2] = STAND_PELVIS_Z - 0.02
    zeros = np.zeros(T)
    arms = np.stack([_arm(zeros + 0.05, 0), _arm(zeros + 0.05, 1)], axis=1)
    return PoseTargets(pelvis_pos=pelvis, heading=np.full(T, heading), pelvis_pitch=zeros.copy(),
                       torso_lean=zeros + 0.02, ankle_pos=ankles, foot_yaw=np.full((T, 2), heading),
                       foot_pitch=np.zeros((T, 2)), arm_dirs=arms, elbow=np.full((T, 2), 0.25))


def _times(duration: float, fps: float) -> np.ndarray:
    return np.arange(int(round(duration * fps)) + 1) / fps


def squat(duration: float, fps: float, depth: float = 0.35, heading: float = 0.0, reps: int = 2) -> PoseTargets:
    """Bodyweight squats: hips back and down, torso leans, arms forward to balance."""
    t = _times(duration, fps)
    p = _stand(len(t), heading)
    period = (duration - 0.6) / reps
    phase = np.clip((t - 0.3) / period, 0.0, reps)
    amount = 0.5 - 0.5 * np.cos(2 * np.pi * phase)           # 0 standing -> 1 bottom
    fwd = np.array([np.cos(heading), np.sin(heading)])
    p.pelvis_pos[:, 2] -= depth * amount
    p.pelvis_pos[:, :2] -= np.outer(0.12 * amount, fwd)
    p.torso_lean = 0.02 + 0.55 * amount
    p.pelvis_pitch = 0.25 * amount
    reach = 1.2 * amount + 0.05
    p.arm_dirs = np.stack([_arm(reach, 0, 0.2), _arm(reach, 1, 0.2)], axis=1)
    p.elbow = np.full((len(t), 2), 0.15)
    return p


def wave(duration: float, fps: float, side: int = 1, freq: float = 1.6, heading: float = 0.0) -> PoseTargets:
    """Standing, one arm raised to the side with the forearm waving overhead."""
    t = _times(duration, fps)
    p = _stand(len(t), heading)
    raise_ = bump(t, 0.3, 0.6, duration - 1.8, 0.6)
    lateral = 1.0 if side == 0 else -1.0
    # upper arm out to the side just above horizontal, rotated outward so the bent elbow points the
    # forearm up; the forearm swings about vertical
    up_dir = np.array([0.1, lateral * 0.95, 0.25])
    p.arm_dirs[:, side] = (1 - raise_)[:, None] * p.arm_dirs[:, side] + raise_[:, None] * up_dir
    p.arm_twist = np.zeros((len(t), 2))
    p.arm_twist[:, side] = raise_ * np.pi / 2
    p.elbow[:, side] = 0.25 + raise_ * (1.2 + 0.4 * np.sin(2 * np.pi * freq * t))
    return p


def kick(duration: float, fps: float, side: int = 1, height: float = 0.45, heading: float = 0.0) -> PoseTargets:
    """Weight shift onto the support foot, a front kick with the other leg, back to standing."""
    t = _times(duration, fps)
    p = _stand(len(t), heading)
    support = 1 - side
    shift = bump(t, 0.3, 0.8, duration - 2.2, 0.8)
    support_xy = p.ankle_pos[0, support, :2]
    mid = p.pelvis_pos[0, :2].copy()
    target = support_xy + 0.03 * np.array([np.cos(heading), np.sin(heading)])
    p.pelvis_pos[:, :2] = mid + np.outer(shift, target - mid)
    kick_amt = bump(t, 1.2, 0.45, 0.15, 0.55)
    fwd = np.array([np.cos(heading), np.sin(heading), 0.0])
    p.ankle_pos[:, side] += np.outer(kick_amt, 0.55 * fwd + np.array([0.0, 0.0, height]))
    p.foot_pitch[:, side] = -0.3 * kick_amt                   # point the toes
    p.pelvis_pos[:, :2] -= np.outer(0.06 * kick_amt, fwd[:2])  # lean back against the kick
    p.torso_lean = 0.02 - 0.12 * kick_amt
    p.pelvis_roll = np.zeros(len(t))
    p.arm_dirs[:, 0] = _arm(0.3 * kick_amt, 0, 0.12 + 0.5 * shift)
    p.arm_dirs[:, 1] = _arm(0.3 * kick_amt, 1, 0.12 + 0.5 * shift)
    return p


def jump(duration: float, fps: float, flight: float = 0.32, forward: float = 0.0, heading: float = 0.0) -> PoseTargets:
    """Counter-movement jump: crouch, push off, ballistic flight (g = 9.81), land, absorb, stand."""
    t = _times(duration, fps)
    p = _stand(len(t), heading)
    T = len(t)
    z_stand = p.pelvis_pos[0, 2]
    z_top = STAND_PELVIS_Z - 0.015                              # legs nearly straight at take-off / touch-down
    crouch = 0.22
    t_crouch, t_push = 0.9, 0.28
    t0 = t_crouch + 0.35                                         # start of the push
    t_off = t0 + t_push
    t_land = t_off + flight
    v0 = GRAVITY * flight / 2.0
    z = np.full(T, z_stand)
    dip = bump(t, 0.35, 0.55, 0.35, 0.01)                        # crouch down (held until the push)
    z = z - crouch * np.where(t < t0, dip, 0.0)
    # push: quintic from (crouch, v=0, a=0) to (z_top, v0, a=0)
    push = (t >= t0) & (t < t_off)
    s = (t[push] - t0) / t_push
    za, zb = z_stand - crouch, z_top
    h = t_push
    # Hermite quintic with end velocity v0 (start velocity and both accelerations zero)
    h00 = 1 - 10 * s ** 3 + 15 * s ** 4 - 6 * s ** 5
    h01 = 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5
    h11 = -4 * s ** 3 + 7 * s ** 4 - 3 * s ** 5
    z[push] = h00 * za + h01 * zb + h11 * h * v0
    air = (t >= t_off) & (t < t_land)
    ta = t[air] - t_off
    z[air] = z_top + v0 * ta - 0.5 * GRAVITY * ta ** 2
    # landing: from (z_top, -v0) down into a crouch and back up
    land = t >= t_land
    tl = t[land] - t_land
    absorb = 0.35
    s2 = np.clip(tl / absorb, 0, 1)
    h10 = s2 - 6 * s2 ** 3 + 8 * s2 ** 4 - 3 * s2 ** 5
    z_low = z_stand - 0.18
    h00_land = 1 - 10 * s2 ** 3 + 15 * s2 ** 4 - 6 * s2 ** 5
    z_land = h00_land * z_top + (1 - h00_land) * z_low + h10 * absorb * (-v0)
    rise = min_jerk((tl - absorb - 0.1) / 0.6)
    z[land] = np.where(tl < absorb, z_land, z_low + (z_stand - z_low) * rise)
    p.pelvis_pos[:, 2] = z
    # forward travel: the pelvis speeds up during the push, flies at constant speed, slows in the
    # landing; the feet leave behind the pelvis and land ahead of it
    fwd = np.array([np.cos(heading), np.sin(heading)])
    vx = forward / (flight + 0.5 * t_push + 0.5 * absorb)
    x = np.zeros(T)
    sp = np.clip((t - t0) / t_push, 0, 1)
    x += vx * t_push * (sp ** 4 * (2.5 - 3 * sp + sp ** 2))      # integral of min_jerk (vx t_push / 2 in all)
    x += vx * np.clip(t - t_off, 0, flight)
    sa = np.clip((t - t_land) / absorb, 0, 1)
    x += vx * absorb * (sa - sa ** 4 * (2.5 - 3 * sa + sa ** 2))  # integral of 1 - min_jerk (vx absorb / 2)
    feet_x = np.where(t < t_off, 0.0, forward * min_jerk((t - t_off) / flight))
    p.pelvis_pos[:, :2] += np.outer(x, fwd)
    p.ankle_pos[..., :2] += np.outer(feet_x, fwd)[:, None, :]
    lift = np.clip(z - z_top, 0.0, None)
    p.ankle_pos[..., 2] += lift[:, None]
    # keep feet within reach in the crouch: lean forward, arms swing back then up
    depth = (z_stand - z) / crouch
    depth = np.clip(depth, 0.0, 1.2)
    p.torso_lean = 0.02 + 0.45 * depth
    p.pelvis_pitch = 0.2 * depth
    p.pelvis_pos[:, :2] -= np.outer(0.07 * depth, fwd)
    arm = -0.5 * depth + 1.0 * bump(t, t0, 0.3, t_land - t0 - 0.3, 0.5)
    p.arm_dirs = np.stack([_arm(arm, 0), _arm(arm, 1)], axis=1)
    return p


# ---------------------------------------------------------------- infeasible motions

def flail_too_fast(duration: float, fps: float, freq: float = 6.0, heading: float = 0.0) -> PoseTargets:
    """Standing still while both arms whip ±1.6 rad at ``freq`` Hz and the elbows flap ±0.8 rad.

    At 7.5 Hz the shoulders turn at ~75 rad/s: beyond any humanoid's 20-40 rad/s
    (G1's shoulders: 37 rad/s), and still clearly so after 30 fps sampling.
    """
    t = _times(duration, fps)
    p = _stand(len(t), heading)
    ramp = bump(t, 0.3, 0.3, duration - 1.0, 0.3)
    a = ramp * 1.6 * np.sin(2 * np.pi * freq * t)
    p.arm_dirs = np.stack([_arm(0.7 * ramp + a, 0, 0.2), _arm(0.7 * ramp - a, 1, 0.2)], axis=1)
    p.elbow = np.stack([0.3 + ramp * 0.8 * (1 + np.sin(2 * np.pi * freq * t)),
                        0.3 + ramp * 0.8 * (1 - np.sin(2 * np.pi * freq * t))], axis=1)
    return p


def floating(duration: float, fps: float, height: float = 0.45, heading: float = 0.0) -> PoseTargets:
    """Standing, then the whole body rises off the floor with no push, hovers ~1.5 s, sinks back."""
    t = _times(duration, fps)
    p = _stand(len(t), heading)
    hover = bump(t, 1.4, 0.4, 1.5, 0.4) * height
    p.pelvis_pos[:, 2] += hover
    p.ankle_pos[..., 2] += hover[:, None]
    return p


def keyframes(t: np.ndarray, times: list[float], values: list) -> np.ndarray:
    """Min-jerk interpolation between keyframe ``values`` at ``times`` (held outside them)."""
    values = [np.asarray(v, dtype=np.float64) for v in values]
    out = np.empty((len(t),) + values[0].shape)
    out[:] = values[0]
    for k in range(len(times) - 1):
        seg = (t > times[k]) & (t <= times[k + 1])
        w = min_jerk((t[seg] - times[k]) / (times[k + 1] - times[k])).reshape((-1,) + (1,) * values[0].ndim)
        out[seg] = (1 - w) * values[k] + w * values[k + 1]
    out[t > times[-1]] = values[-1]
    return out


def arm_through_body(duration: float, fps: float, side: int = 1, heading: float = 0.0) -> PoseTargets:
    """Standing; one arm folds so the hand enters the chest, then sweeps across *through* the trunk
    until the hand comes out on the other side, and back."""
    t = _times(duration, fps)
    p = _stand(len(t), heading)
    lateral = 1.0 if side == 0 else -1.0
    hang = p.arm_dirs[0, side]
    forward_in = np.array([0.97, -lateral * 0.26, 0.0])       # upper arm forward, slightly inward
    across = np.array([0.0, -lateral * 0.95, -0.3])           # upper arm through the chest to the other side
    times = [0.5, 1.2, 2.0, duration - 1.8, duration - 0.6]
    p.arm_dirs[:, side] = keyframes(t, times, [hang, forward_in, across, across, hang])
    p.elbow[:, side] = keyframes(t, times, [0.25, 2.5, 0.3, 0.3, 0.25])
    return p


def lying(duration: float, fps: float, heading: float = 0.0) -> PoseTargets:
    """Lying on the back on the floor, slowly raising the arms overhead and back."""
    t = _times(duration, fps)
    T = len(t)
    p = _stand(T, heading)
    p.legs_ik = False
    p.pelvis_pitch = np.full(T, -np.pi / 2)                    # body up axis -> -x: lying face up
    p.torso_lean = np.zeros(T)
    p.head_pitch = np.zeros(T)
    p.pelvis_pos[:] = [0.0, 0.0, 0.11]
    raise_ = bump(t, 0.5, 1.2, 0.6, 1.2)
    p.arm_dirs = np.stack([_arm(0.1 + 2.6 * raise_, 0, 0.25), _arm(0.1 + 2.6 * raise_, 1, 0.25)], axis=1)
    p.elbow = np.full((T, 2), 0.2)
    return p

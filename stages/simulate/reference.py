"""The reference a rollout tracks: per-frame targets computed once with the simulator's own model.

Everything is in MuJoCo's conventions so the controller never converts:
``qpos = [root xyz, root quat w x y z, joints]``, ``qvel = [root linear
velocity (world), root angular velocity (root frame), joint rates]``. Task
targets are world-frame positions (m), rotation matrices (world <- body),
world angular velocities (rad/s) and their finite-difference rates at the
clip's frame rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.signal import savgol_filter

from core.records.robot_motion import RobotMotion
from core.rotations import make_continuous
from stages.simulate.mjcf import SimModel


def _log_rotation(r: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors of rotation matrices (..., 3, 3)."""
    cos = np.clip((np.trace(r, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    vee = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], axis=-1)
    sin = np.sin(angle)
    scale = np.where(sin > 1e-6, angle / np.maximum(2.0 * sin, 1e-12), 0.5 + angle ** 2 / 12.0)
    return vee * scale[..., None]


def rotation_error(r_target: np.ndarray, r: np.ndarray) -> np.ndarray:
    """World-frame rotation vector taking ``r`` to ``r_target`` (both world <- body)."""
    return _log_rotation(r_target @ r.swapaxes(-1, -2))


def _world_angular_velocity(rots: np.ndarray, fps: float) -> np.ndarray:
    """(T, 3) world angular velocity (rad/s) of a rotation sequence (T, 3, 3), central differences."""
    T = rots.shape[0]
    if T < 2:
        return np.zeros((T, 3))
    step = _log_rotation(rots[1:] @ rots[:-1].swapaxes(-1, -2)) * fps      # (T-1, 3) between frames
    out = np.empty((T, 3))
    out[0], out[-1] = step[0], step[-1]
    out[1:-1] = 0.5 * (step[1:] + step[:-1])
    return out


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Savitzky-Golay smoothing (order 2) along time, when the clip is long enough."""
    w = min(window, x.shape[0] - (1 - x.shape[0] % 2))
    return savgol_filter(x, w, 2, axis=0, mode="interp") if w > 2 else x


def _rate(x: np.ndarray, fps: float) -> np.ndarray:
    return np.gradient(x, 1.0 / fps, axis=0) if x.shape[0] > 1 else np.zeros_like(x)


@dataclass(frozen=True)
class Reference:
    """Per-frame targets of one clip (T frames at ``fps``).

    Attributes:
        fps: frame rate (Hz).
        qpos: (T, nq) MuJoCo configurations; qvel: (T, nv) MuJoCo velocities;
        dof_acc: (T, D) joint accelerations, rad/s².
        com, com_vel, com_acc: (T, 3) whole-body centre of mass, m, m/s, m/s².
        sole_pos, sole_vel, sole_acc: (T, 2, 3) sole centres [left, right], world.
        foot_rot: (T, 2, 3, 3) foot orientations; foot_omega: (T, 2, 3) rad/s.
        pelvis_rot, torso_rot: (T, 3, 3); pelvis_omega, torso_omega: (T, 3) rad/s.
        key_pos: (T, K, 3) key-link positions (``robot.config.key_links``).
        ang_mom_rate: (T, 3) rate of the whole-body angular momentum about the CoM, N·m (world;
            momentum smoothed over 7 frames before differentiation).
        ang_mom: (T, 3) that smoothed angular momentum about the CoM, N·m·s (world).
        mass: total mass, kg.
        load_limit: optional (T, 2) largest normal force (N) a foot may take: it falls linearly to
            zero over the frames before the reference lifts the foot (None: no limit).
        contacts: (T, 2) bool reference foot contacts [left, right].
        edge_contacts: optional (T, 2) bool: of those, the contacts on a sole edge or corner only (a foot
            rolling at heel strike or toe-off: a point contact, free to pivot; None: none).
        limb_geoms: (G,) MuJoCo geom ids of the non-sole collision primitives that touch the floor
            (:func:`limb_geoms`); limb_low: (T, G) height (m) of each one's lowest surface point in the
            reference (a knee or hand the reference puts on the floor: crawling, kneeling).
    """

    fps: float
    qpos: np.ndarray
    qvel: np.ndarray
    dof_acc: np.ndarray
    com: np.ndarray
    com_vel: np.ndarray
    com_acc: np.ndarray
    sole_pos: np.ndarray
    sole_vel: np.ndarray
    sole_acc: np.ndarray
    foot_rot: np.ndarray
    foot_omega: np.ndarray
    pelvis_rot: np.ndarray
    pelvis_omega: np.ndarray
    torso_rot: np.ndarray
    torso_omega: np.ndarray
    key_pos: np.ndarray
    contacts: np.ndarray
    ang_mom_rate: np.ndarray
    mass: float
    ang_mom: np.ndarray | None = None
    load_limit: np.ndarray | None = None
    edge_contacts: np.ndarray | None = None
    limb_geoms: np.ndarray | None = None
    limb_low: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.qpos.shape[0])


def unloading_limit(contacts: np.ndarray, weight_n: float, frames: int) -> np.ndarray:
    """(T, 2) normal-force limit (N): ``2 × weight`` in stance, ramping to 0 over ``frames`` frames before lift-off."""
    T = contacts.shape[0]
    out = np.full((T, 2), 2.0 * weight_n)
    if frames <= 0:
        return out
    for k in range(2):
        c = contacts[:, k]
        for t in range(T - 1):
            if c[t] and not c[t + 1]:              # lift-off after frame t
                for j in range(frames):
                    f = t - j
                    if f < 0 or not c[f]:
                        break
                    out[f, k] = min(out[f, k], 2.0 * weight_n * (j + 0.5) / frames)
    return out


def lowest_sole_corner(sole_pos: np.ndarray, foot_rot: np.ndarray, half_extents: np.ndarray) -> np.ndarray:
    """(T, 2) height (m) of each sole rectangle's lowest corner above the floor (z = 0)."""
    return np.stack([sole_pos[:, k, 2] - np.abs(foot_rot[:, k, 2, 0]) * half_extents[k, 0]
                     - np.abs(foot_rot[:, k, 2, 1]) * half_extents[k, 1] for k in range(2)], axis=1)


def stance_float_height(sole_pos: np.ndarray, foot_rot: np.ndarray, contacts: np.ndarray, flat_cos: float = 0.995) -> float:
    """Median height (m) of the reference's sole centres above the floor on labelled stance frames with the sole flat.

    Unitree's G1 retargets hold their stance soles 7-11 mm above the floor (this project's retargets 0.3 mm);
    the simulated soles stand on it, so a reference tracked as it is asks every stance leg to reach about
    a centimetre further (knees straighter than the reference's). 0 when no frame qualifies.
    """
    flat = np.asarray(contacts, dtype=bool) & (np.abs(foot_rot[:, :, 2, 2]) > flat_cos)
    return float(np.median(sole_pos[:, :, 2][flat])) if flat.any() else 0.0


def lowered(ref: Reference, dz: np.ndarray | float) -> Reference:
    """The reference moved down by ``dz`` metres (a float or per frame (T,)): every position target; rates,
    rotations and ``key_pos`` kept (the rollout is still judged against the reference as given)."""
    dz = np.broadcast_to(np.asarray(dz, dtype=np.float64), (ref.num_frames,))
    qpos = ref.qpos.copy()
    qpos[:, 2] -= dz
    shift = np.zeros((ref.num_frames, 3))
    shift[:, 2] = dz
    return dataclasses.replace(ref, qpos=qpos, com=ref.com - shift, sole_pos=ref.sole_pos - shift[:, None],
                               limb_low=None if ref.limb_low is None else ref.limb_low - dz[:, None])


def on_feet_share(sim: SimModel, ref: Reference, height_m: float = 0.05, window: int = 31) -> np.ndarray:
    """(T,) share in [0, 1] of the ``window`` frames around each frame on which no limb but the feet is on the floor.

    A limb is on the floor where the reference's lowest point of one of its collision primitives other
    than the shanks' and ankles' (whose capsules reach the floor in every step) is below ``height_m`` (a
    hand, hip or trunk: crawling, getting down)."""
    T = ref.num_frames
    if ref.limb_low is None or ref.limb_geoms is None or not len(ref.limb_geoms):
        return np.ones(T)
    names = [mujoco.mj_id2name(sim.model, mujoco.mjtObj.mjOBJ_GEOM, int(g)) or "" for g in ref.limb_geoms]
    cols = [i for i, n in enumerate(names) if "ankle" not in n and "knee" not in n]
    feet_only = ~(ref.limb_low[:, cols] < height_m).any(axis=1) if cols else np.ones(T, dtype=bool)
    w = max(1, min(int(window), T))
    return np.convolve(np.pad(feet_only.astype(np.float64), (w // 2, w - 1 - w // 2), mode="edge"), np.ones(w) / w,
                       mode="valid")


def sole_corner_positions(sole_pos: np.ndarray, foot_rot: np.ndarray, half_extents: np.ndarray, k: int) -> np.ndarray:
    """(T, 4, 3) world positions (m) of foot ``k``'s sole rectangle corners (front-left, front-right, back-right,
    back-left in the foot frame) from its sole centres (T, 2, 3), rotations (T, 2, 3, 3) and half-extents (2, 2)."""
    signs = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])
    offsets = np.concatenate([signs * half_extents[k], np.zeros((4, 1))], axis=1)        # (4, 3) foot frame
    return sole_pos[:, k, None, :] + np.einsum("tij,cj->tci", foot_rot[:, k], offsets)


def lowest_corner_speed(sole_pos: np.ndarray, foot_rot: np.ndarray, half_extents: np.ndarray, fps: float) -> np.ndarray:
    """(T, 2) horizontal speed (m/s, central differences) of each sole's corner that is lowest at that frame.

    A foot rolling on its toe or heel pivots about that corner (near 0 m/s while the sole centre moves); a
    foot skimming the floor moves it at swing speed.
    """
    T = sole_pos.shape[0]
    out = np.zeros((T, 2))
    for k in range(2):
        corners = sole_corner_positions(sole_pos, foot_rot, half_extents, k)
        speed = np.linalg.norm(_rate(corners[..., :2], fps), axis=-1)                          # (T, 4)
        out[:, k] = speed[np.arange(T), np.argmin(corners[..., 2], axis=1)]
    return out


def fill_support_gaps(contacts: np.ndarray, lowest_corner: np.ndarray, com_acc_z: np.ndarray, height_m: float,
                      ballistic_fraction: float = 0.5, corner_speed: np.ndarray | None = None,
                      speed_m_s: float = np.inf) -> np.ndarray:
    """(T, 2) bool contacts where the frames a label calls flight but that are not are given their support.

    A contact label from the sole centre's height and speed (``core.contacts.foot_contacts``) sees
    neither foot in contact for 1-3 frames at each step of a fast walk: the trailing foot rolls onto its
    toe and the leading one strikes with its heel, both sole centres moving faster than the label's
    speed limit, while a sole corner of each is on the floor. A real flight is ballistic: the CoM falls
    at ``g``. On a frame with no labelled contact whose CoM vertical acceleration is above
    ``-ballistic_fraction × g`` (m/s², world z) each foot whose lowest sole corner is below ``height_m``
    (m) is in contact. Frames with a labelled contact and true flights are kept.
    """
    out = np.asarray(contacts, dtype=bool).copy()
    gap = ~out.any(axis=1) & (np.asarray(com_acc_z) > -ballistic_fraction * 9.81)
    low = np.asarray(lowest_corner) < height_m
    if corner_speed is not None:
        low &= np.asarray(corner_speed) < speed_m_s
    out |= gap[:, None] & low
    return out


def corner_contacts(sole_pos: np.ndarray, foot_rot: np.ndarray, half_extents: np.ndarray, fps: float,
                    height_m: float, speed_m_s: float) -> np.ndarray:
    """(T, 2) bool: a sole corner of the foot is on the floor (below ``height_m``) and nearly still.

    A human's rear foot rolls onto its toes before it swings (toe-off): its sole centre already rises
    and moves fast, so a contact label from the sole centre calls it swing, while its toe still carries
    weight. The corners see it: the toe edge stays on the floor and pivots in place.

    Args:
        sole_pos: (T, 2, 3) sole centres, m; foot_rot: (T, 2, 3, 3); half_extents: (2, 2) m; fps: Hz.
    """
    T = sole_pos.shape[0]
    out = np.zeros((T, 2), dtype=bool)
    for k in range(2):
        corners = sole_corner_positions(sole_pos, foot_rot, half_extents, k)
        speed = np.linalg.norm(_rate(corners, fps), axis=-1)
        out[:, k] = ((corners[..., 2] < height_m) & (speed < speed_m_s)).any(axis=1)
    return out


def limb_geoms(sim: SimModel) -> np.ndarray:
    """(G,) ids of the geoms other than the soles and the floor that collide with the floor (capsules, spheres)."""
    m = sim.model
    skip = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in ("floor", "left_sole", "right_sole")}
    kinds = (int(mujoco.mjtGeom.mjGEOM_CAPSULE), int(mujoco.mjtGeom.mjGEOM_SPHERE))
    return np.array([g for g in range(m.ngeom) if g not in skip and m.geom_conaffinity[g] > 0
                     and int(m.geom_type[g]) in kinds], dtype=np.int64)


def _lowest_geom_points(m: mujoco.MjModel, centre_z: np.ndarray, axis_z: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """(..., G) height (m) of the lowest surface point of each capsule or sphere geom.

    ``centre_z`` (..., G): the geoms' centre heights (``geom_xpos[:, 2]``); ``axis_z`` (..., G): the z part of
    their local z axis (``geom_xmat[:, 8]``: a capsule's axis), both from the same kinematics.
    """
    radius, half = m.geom_size[geoms, 0], m.geom_size[geoms, 1]
    capsule = m.geom_type[geoms] == int(mujoco.mjtGeom.mjGEOM_CAPSULE)
    return (centre_z - np.where(capsule, np.abs(axis_z) * half, 0.0)) - radius


def mujoco_state(sim: SimModel, root_pos: np.ndarray, root_rot_xyzw: np.ndarray, dof_pos: np.ndarray,
                 fps: float) -> tuple[np.ndarray, np.ndarray]:
    """MuJoCo ``qpos`` (T, nq) and ``qvel`` (T, nv) of a root + joint trajectory (finite-difference velocities)."""
    T = root_pos.shape[0]
    m = sim.model
    quat = make_continuous(root_rot_xyzw / np.linalg.norm(root_rot_xyzw, axis=-1, keepdims=True))
    qpos = np.zeros((T, m.nq))
    qpos[:, 0:3] = root_pos
    qpos[:, 3] = quat[:, 3]
    qpos[:, 4:7] = quat[:, :3]
    qpos[:, sim.dof_qpos] = dof_pos
    qvel = np.zeros((T, m.nv))
    qvel[:, 0:3] = _rate(root_pos, fps)
    rots = np.empty((T, 3, 3))
    for t in range(T):
        mat = np.empty(9)
        mujoco.mju_quat2Mat(mat, qpos[t, 3:7])
        rots[t] = mat.reshape(3, 3)
    omega_world = _world_angular_velocity(rots, fps)
    qvel[:, 3:6] = np.einsum("tji,tj->ti", rots, omega_world)      # root frame
    qvel[:, sim.dof_qvel] = _rate(dof_pos, fps)
    return qpos, qvel


def build_reference(sim: SimModel, motion: RobotMotion) -> Reference:
    """Targets of ``motion`` (already checked: finite, the robot's dofs) on ``sim``."""
    m = sim.model
    d = mujoco.MjData(m)
    fps = float(motion.fps)
    T = motion.num_frames
    qpos, qvel = mujoco_state(sim, motion.root_pos, motion.root_rot, motion.dof_pos, fps)
    com = np.empty((T, 3))
    sole = np.empty((T, 2, 3))
    foot_rot = np.empty((T, 2, 3, 3))
    pelvis = np.empty((T, 3, 3))
    torso = np.empty((T, 3, 3))
    keys = np.empty((T, len(sim.key_sites), 3))
    ang_mom = np.empty((T, 3))
    torso_body = sim.torso_body if sim.torso_body is not None else sim.root_body
    limbs = limb_geoms(sim)
    limb_z = np.empty((T, len(limbs)))          # centre heights and axis z of the limb geoms per frame
    limb_axis_z = np.empty((T, len(limbs)))
    for t in range(T):
        d.qpos[:] = qpos[t]
        d.qvel[:] = qvel[t]
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        mujoco.mj_comVel(m, d)
        mujoco.mj_subtreeVel(m, d)
        ang_mom[t] = d.subtree_angmom[sim.root_body]
        com[t] = d.subtree_com[sim.root_body]
        for k, body in enumerate(sim.foot_bodies):
            r = d.xmat[body].reshape(3, 3)
            foot_rot[t, k] = r
            sole[t, k] = d.xpos[body] + r @ sim.sole_offsets[k]
        pelvis[t] = d.xmat[sim.root_body].reshape(3, 3)
        torso[t] = d.xmat[torso_body].reshape(3, 3)
        keys[t] = d.site_xpos[list(sim.key_sites)]
        limb_z[t] = d.geom_xpos[limbs, 2]
        limb_axis_z[t] = d.geom_xmat[limbs, 8]
    com_vel = _rate(com, fps)
    sole_vel = _rate(sole, fps)
    foot_omega = np.stack([_world_angular_velocity(foot_rot[:, k], fps) for k in range(2)], axis=1)
    dof_vel = qvel[:, sim.dof_qvel]
    return Reference(
        fps=fps, qpos=qpos, qvel=qvel, dof_acc=_rate(dof_vel, fps),
        com=com, com_vel=com_vel, com_acc=_rate(com_vel, fps),
        sole_pos=sole, sole_vel=sole_vel, sole_acc=_rate(sole_vel, fps),
        foot_rot=foot_rot, foot_omega=foot_omega,
        pelvis_rot=pelvis, pelvis_omega=_world_angular_velocity(pelvis, fps),
        torso_rot=torso, torso_omega=_world_angular_velocity(torso, fps),
        key_pos=keys, contacts=np.asarray(motion.contacts, dtype=bool),
        ang_mom_rate=_rate(_smooth(ang_mom, 7), fps), mass=float(np.sum(m.body_mass)), ang_mom=_smooth(ang_mom, 7),
        limb_geoms=limbs, limb_low=_lowest_geom_points(m, limb_z, limb_axis_z, limbs),
    )

"""Simulate one robot motion: ``simulate_motion(motion, robot, settings) -> Simulation``.

Protocol (PHC / H2O): the rollout starts from the reference's first state; at
every clip frame the mean key-body position error (``robot.config.key_links``)
is measured; a **fall** is a termination (error above ``fall.key_body_error_m``,
or the pelvis below ``fall.pelvis_low_m`` while the reference's is above
``fall.reference_pelvis_high_m``). A fall is counted, the frames from the
start of the tracking loss (the first frame of the run of frames with error
above ``fall.tracked_error_m`` that ends in the termination) to the fall are
marked fallen, and the robot is reset to the reference state at that frame, so
every second of a clip gets a verdict.

Frames: world Z-up, metres, floor at z = 0; quaternions x y z w in the records.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Any

import mujoco
import numpy as np

from core.errors import InputError
from core.records.robot_motion import RobotMotion
from core.records.verdict import Reason
from core.robot import Robot, robot_motion_from_trajectory
from stages.simulate.balance import BalancePlanner
from stages.simulate.controller import Controller, JointImpedance, as_slice
from stages.simulate.mjcf import SimModel, build_sim_model
from stages.simulate.reference import (
    Reference,
    build_reference,
    corner_contacts,
    fill_support_gaps,
    lowered,
    lowest_corner_speed,
    lowest_sole_corner,
    on_feet_share,
    stance_float_height,
    unloading_limit,
)
from stages.simulate.settings import Settings

FALL_CODE = "sim_fall"
"""Reason code of the frames a simulated rollout spent falling (from the tracking loss to the reset)."""

#: wall-clock keys of the summary (never stored in the artifact: same inputs give identical bytes)
TIMING_KEYS: tuple[str, ...] = ("realtime_factor", "realtime_factor_wall", "cpu_s", "wall_s", "cpu_setup_s")


@dataclass
class Simulation:
    """The recording of one rollout.

    Attributes:
        motion: the simulated motion (same robot, fps and frame count as the reference).
        fallen: (T,) bool frames from a tracking loss to the fall's reset.
        key_body_error_m: (T,) mean key-body position error to the reference, m.
        joint_torque: (T, D) applied joint torques, N·m (mean over the frame's physics steps).
        contact_force: (T, 2, 3) floor contact force on [left, right] foot, N, world (at the frame).
        floor_wrench: (T, 6) net floor wrench on the robot (every contact: soles and limbs), mean over
            the physics steps from frame t to t + 1: force (N) then moment about the world origin (N·m),
            world axes (the last frame repeats the one before). From the robot's momentum change over
            the frame minus gravity's impulse (exact for the linear part; within
            :func:`floor_wrench_about_origin`'s contact forces to about a millimetre of CoP).
        fine_motion: only with ``record_every_step``: the rollout at every physics step (frame rate
            ``fps × frame_substeps``; for checks that differentiate, e.g. re-checking the ZMP), else None.
        fine_normal_force: only with ``record_every_step``: (len(fine_motion),) total vertical floor contact
            force on the robot (N, MuJoCo's contact forces) during the physics step from each fine state (the
            last repeats the one before): which fine frames the floor really supports.
        fine_contact_wrench: only with ``record_every_step``: (len(fine_motion), 6) the floor's net contact
            wrench on the robot in that physics step from MuJoCo's contact forces (each at its contact point):
            force (N) then moment about the world origin (N·m), world axes; :func:`centre_of_pressure` of it is
            the step's true centre of pressure.
        fine_normal_force_by_part: only with ``record_every_step``: (len(fine_motion), 3) the vertical part
            of that force on the left sole, the right sole and every other geom (knees, hands, ...), N.
        cop: (T, 2) the true centre of pressure on the floor from ``floor_wrench``, world xy, m (NaN where
            the normal force is below 5 % of the robot's weight).
        summary: falls, falls_per_min, tracked_fraction, mean_body_error_m, max_torque_ratio,
            realtime_factor (simulated seconds per CPU second of this process: one core, robust to a
            shared machine), realtime_factor_wall, cpu_s, wall_s, cpu_setup_s (of cpu_s, before the first
            physics step: model, reference, balance plan), qp_failures, balance_plans_infeasible,
            reasons (Verdict reason format, code ``sim_fall``).
    """

    motion: RobotMotion
    fallen: np.ndarray
    key_body_error_m: np.ndarray
    joint_torque: np.ndarray
    contact_force: np.ndarray
    floor_wrench: np.ndarray
    cop: np.ndarray
    summary: dict[str, Any]
    fine_motion: RobotMotion | None = None
    fine_normal_force: np.ndarray | None = None
    fine_contact_wrench: np.ndarray | None = None
    fine_normal_force_by_part: np.ndarray | None = None

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The artifact: the simulated :class:`RobotMotion` arrays plus ``sim_*`` arrays, and its meta."""
        arrays, meta = self.motion.to_arrays()
        arrays["sim_fallen"] = self.fallen.astype(bool)
        arrays["sim_key_body_error_m"] = self.key_body_error_m.astype(np.float64)
        arrays["sim_joint_torque"] = self.joint_torque.astype(np.float64)
        arrays["sim_contact_force"] = self.contact_force.astype(np.float64)
        arrays["sim_floor_wrench"] = self.floor_wrench.astype(np.float64)
        arrays["sim_cop"] = self.cop.astype(np.float64)
        meta = {**meta, "simulation": {k: v for k, v in self.summary.items() if k not in TIMING_KEYS}}
        return arrays, meta


def check_motion(motion: RobotMotion, robot: Robot) -> None:
    """Raise :class:`InputError` when ``motion`` cannot be simulated on ``robot``."""
    where = motion.provenance.get("source_path")
    if motion.robot != robot.name:
        raise InputError(where, "robot_mismatch", f"motion is for robot {motion.robot!r}, simulating {robot.name!r}")
    if tuple(motion.dof_names) != tuple(robot.dof_names):
        raise InputError(where, "dof_mismatch", f"motion has {len(motion.dof_names)} joints, {robot.name} has "
                         f"{robot.num_dofs} (names must match the robot's joint order)")
    T = motion.num_frames
    shapes = {"root_pos": (T, 3), "root_rot": (T, 4), "dof_pos": (T, robot.num_dofs), "contacts": (T, 2)}
    for name, shape in shapes.items():
        if np.shape(getattr(motion, name)) != shape:
            raise InputError(where, "bad_shape", f"{name} has shape {np.shape(getattr(motion, name))}, expected {shape}")
    if T < 2:
        raise InputError(where, "too_short", f"a simulation needs at least 2 frames, the motion has {T}")
    if not np.isfinite(motion.fps) or motion.fps <= 0:
        raise InputError(where, "bad_fps", f"frame rate {motion.fps} is not a positive number")
    for name in ("root_pos", "root_rot", "dof_pos"):
        bad = ~np.isfinite(np.asarray(getattr(motion, name))).reshape(T, -1).all(axis=1)
        if bad.any():
            raise InputError(where, "non_finite", f"{name} holds NaN or inf in {int(bad.sum())} frames "
                             f"(first at frame {int(np.argmax(bad))})")
    if np.any(np.linalg.norm(motion.root_rot, axis=1) < 1e-6):
        raise InputError(where, "bad_quaternion", "root quaternion of zero norm")


def _reset(sim: SimModel, d: mujoco.MjData, ref: Reference, frame: int, clear_limbs: bool = False) -> None:
    """Set the state to the reference at ``frame``; a stance foot below the floor lifts the robot onto it.

    ``clear_limbs``: a knee, hand or other collision primitive of the reference below the floor lifts the
    robot too (a crawling reference puts hands 0.1 m into the floor: MuJoCo's contact would launch the
    reset robot off the floor, and it falls again within frames).
    """
    m = sim.model
    d.qpos[:] = ref.qpos[frame]
    d.qvel[:] = ref.qvel[frame]
    d.act[:] = 0
    lowest = []
    for k in range(2):
        if ref.contacts[frame, k]:
            rot = ref.foot_rot[frame, k]
            half = sim.sole_half_extents[k]
            lowest.append(ref.sole_pos[frame, k, 2] - abs(rot[2, 0]) * half[0] - abs(rot[2, 1]) * half[1])
    if clear_limbs and ref.limb_low is not None and ref.limb_low.shape[1]:
        lowest.append(float(ref.limb_low[frame].min()))
    if lowest and min(lowest) < 0.0:
        d.qpos[2] -= min(lowest)
    mujoco.mj_forward(m, d)


def _update_kinematics(m: mujoco.MjModel, d: mujoco.MjData) -> None:
    """Positions, CoM and subtree velocities of the current state (``mj_step2`` leaves them one step old)."""
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    mujoco.mj_comVel(m, d)
    mujoco.mj_subtreeVel(m, d)


def _replan(planner: BalancePlanner, ref: Reference, t: int, com: np.ndarray, com_vel: np.ndarray,
            stance: dict | None = None) -> None:
    """Overwrite the CoM targets of frames ``t .. t + horizon`` with a balanced plan from the current state
    (``stance``: the robot's loaded feet, see :meth:`BalancePlanner.plan`)."""
    path = planner.plan(t, com, com_vel, stance)
    n = path.shape[0]
    if n == 0:
        return
    dt = planner.dt
    xy = np.vstack([com[:2] - com_vel[:2] * dt, com[:2], path])          # frames t-1 .. t+n
    vel = np.gradient(xy, dt, axis=0)
    acc = np.gradient(vel, dt, axis=0)
    ref.com[t:t + n + 1, :2] = xy[1:]
    ref.com_vel[t:t + n + 1, :2] = vel[1:]
    ref.com_acc[t:t + n + 1, :2] = acc[1:]


def _blend_from_state(ref: Reference, t: int, com: np.ndarray, com_vel: np.ndarray, frames: int) -> None:
    """After a reset at frame ``t``: the CoM target starts at the robot's CoM and velocity and joins the plan.

    The offset (position and velocity at ``t``) decays to zero over ``frames`` frames along a cubic Hermite
    curve; the target's velocity and acceleration get the curve's derivatives (m, m/s, m/s²)."""
    n = min(frames, ref.num_frames - t)
    if n <= 1:
        return
    dt = 1.0 / ref.fps
    span = frames * dt
    dp = np.asarray(com) - ref.com[t]
    dv = np.asarray(com_vel) - ref.com_vel[t]
    s = np.arange(n)[:, None] / frames
    e = (2 * s ** 3 - 3 * s ** 2 + 1) * dp + (s ** 3 - 2 * s ** 2 + s) * span * dv
    de = (6 * s ** 2 - 6 * s) / span * dp + (3 * s ** 2 - 4 * s + 1) * dv
    dde = (12 * s - 6) / span ** 2 * dp + (6 * s - 4) / span * dv
    ref.com[t:t + n] += e
    ref.com_vel[t:t + n] += de
    ref.com_acc[t:t + n] += dde


def _plan_offline(planner: BalancePlanner, ref: Reference, commit: int = 10) -> None:
    """Replace the reference CoM by one balanced plan along the whole clip (receding windows, no feedback)."""
    t = 0
    com = ref.com[0].copy()
    vel = ref.com_vel[0].copy()
    while t < ref.num_frames - 1:
        path = planner.plan(t, com, vel)
        n = min(commit, path.shape[0])
        ref.com[t + 1:t + 1 + n, :2] = path[:n]
        t += n
        com = ref.com[t].copy()
        vel = (ref.com[t] - ref.com[t - 1]) * ref.fps
    ref.com_vel[:] = np.gradient(ref.com, 1.0 / ref.fps, axis=0)
    ref.com_acc[:] = np.gradient(ref.com_vel, 1.0 / ref.fps, axis=0)


def _cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` of two 3-vectors in Python floats (the same products and differences, without its overhead)."""
    a0, a1, a2 = float(a[0]), float(a[1]), float(a[2])
    b0, b1, b2 = float(b[0]), float(b[1]), float(b[2])
    return np.array([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0])


def _foot_contact_forces(sim: SimModel, d: mujoco.MjData, foot_geoms: tuple[int, int]) -> np.ndarray:
    """(2, 3) world force of the floor on each foot's sole, N."""
    out = np.zeros((2, 3))
    wrench = np.zeros(6)
    if d.ncon == 0:
        return out
    feet = set(foot_geoms)                                              # only the feet's contacts
    for i in [i for i, pair in enumerate(zip(d.contact.geom1.tolist(), d.contact.geom2.tolist())) if feet & set(pair)]:
        con = d.contact[i]
        for k, geom in enumerate(foot_geoms):
            if con.geom1 == geom or con.geom2 == geom:
                mujoco.mj_contactForce(sim.model, d, i, wrench)
                force = con.frame.reshape(3, 3).T @ wrench[:3]      # contact frame -> world (on geom2)
                out[k] += force if con.geom2 == geom else -force
    return out


def _floor_contact_wrench(m: mujoco.MjModel, d: mujoco.MjData, floor: int, soles: tuple[int, int],
                          out: np.ndarray) -> None:
    """The floor's contact forces on the robot in the last step (after ``mj_step2``), from MuJoCo's contacts.

    Writes ``out`` (9,): the net force (N, world) and moment about the world origin (N·m) of every floor
    contact (each force at its contact point, plus the torsional moment about the normal), then the
    vertical force on the left sole, the right sole and every other geom (a knee, hand, ...), N.
    """
    out[:] = 0.0
    if d.ncon == 0:
        return
    wrench = np.zeros(6)
    contact = d.contact
    frames, points = contact.frame, contact.pos
    for i, (g1, g2) in enumerate(zip(contact.geom1.tolist(), contact.geom2.tolist())):
        if floor != g1 and floor != g2:
            continue
        mujoco.mj_contactForce(m, d, i, wrench)
        frame = frames[i].reshape(3, 3)
        force = frame.T @ wrench[:3]                  # contact frame -> world, on geom2
        moment = _cross3(points[i], force) + frame[0] * wrench[3]
        sign, other = (1.0, g2) if g1 == floor else (-1.0, g1)
        out[:3] += sign * force
        out[3:6] += sign * moment
        slot = 6 + (soles.index(other) if other in soles else 2)
        out[slot] += sign * force[2]


def floor_wrench_about_origin(m: mujoco.MjModel, d: mujoco.MjData, root: int) -> np.ndarray:
    """(6,) net external (contact) wrench on the robot after ``mj_step2``: force N, moment about the world origin N·m.

    ``mj_rnePostConstraint`` fills ``cfrc_ext`` (moment then force per body, about the subtree CoM of the
    root body: MuJoCo's com-based frame); the robot has no other external forces.
    """
    mujoco.mj_rnePostConstraint(m, d)
    total = d.cfrc_ext[1:].sum(axis=0)
    force = total[3:]
    return np.concatenate([force, total[:3] + np.cross(d.subtree_com[root], force)])


def _momentum_about_origin(d: mujoco.MjData, root: int, mass: float) -> np.ndarray:
    """(6,) linear momentum (N s) and angular momentum about the world origin (N m s) of the robot.

    Needs ``mj_subtreeVel`` of the current state (``subtree_angmom`` is about the CoM).
    """
    linear = mass * d.subtree_linvel[root]
    return np.concatenate([linear, d.subtree_angmom[root] + _cross3(d.subtree_com[root], linear)])


def centre_of_pressure(wrench: np.ndarray, min_normal_n: float) -> np.ndarray:
    """(T, 2) floor point (z = 0) where a wrench (T, 6: force, moment about the origin) has no horizontal moment.

    ``p_x = -n_y / f_z``, ``p_y = n_x / f_z``; NaN where ``f_z < min_normal_n``.
    """
    fz = wrench[:, 2]
    ok = fz >= min_normal_n
    safe = np.where(ok, fz, 1.0)
    cop = np.stack([-wrench[:, 4] / safe, wrench[:, 3] / safe], axis=1)
    cop[~ok] = np.nan
    return cop


def simulate_motion(motion: RobotMotion, robot: Robot, settings: Settings | None = None,
                    record_every_step: bool = False) -> Simulation:
    """Track ``motion`` with the whole-body controller in MuJoCo and record the rollout.

    Args:
        motion: the reference (retargeted, adapted or a Unitree CSV read with
            ``core.robot.read_unitree_csv``) for ``robot``.
        robot: the robot (its description generates the MuJoCo model).
        settings: stage settings (defaults when None).

    Raises:
        InputError: the motion is for another robot, has the wrong joints,
            fewer than 2 frames or non-finite values.
        record_every_step: also keep the state after every physics step (``Simulation.fine_motion``).
    """
    settings = settings or Settings()
    check_motion(motion, robot)
    start = time.perf_counter()
    cpu_start = time.process_time()
    sim = build_sim_model(robot, float(motion.fps), settings.model)
    ref = build_reference(sim, motion)
    if settings.controller.ground_reference:      # its stance soles onto the floor (judged against it as given)
        lift = stance_float_height(ref.sole_pos, ref.foot_rot, ref.contacts)
        if abs(lift) >= settings.controller.ground_reference_min_m:
            ref = lowered(ref, lift * on_feet_share(sim, ref))
    if settings.controller.gap_contact_height_m > 0:
        lowest = lowest_sole_corner(ref.sole_pos, ref.foot_rot, sim.sole_half_extents)
        speed = (lowest_corner_speed(ref.sole_pos, ref.foot_rot, sim.sole_half_extents, ref.fps)
                 if np.isfinite(settings.controller.gap_contact_speed_m_s) else None)
        filled = fill_support_gaps(ref.contacts, lowest, ref.com_acc[:, 2], settings.controller.gap_contact_height_m,
                                   corner_speed=speed, speed_m_s=settings.controller.gap_contact_speed_m_s)
        ref = dataclasses.replace(ref, contacts=filled, edge_contacts=filled & ~ref.contacts)
    if settings.controller.corner_contact_height_m > 0:
        corners = corner_contacts(ref.sole_pos, ref.foot_rot, sim.sole_half_extents, ref.fps,
                                  settings.controller.corner_contact_height_m, settings.controller.corner_contact_speed_m_s)
        ref = dataclasses.replace(ref, contacts=ref.contacts | corners)
    if settings.controller.unload_frames > 0:
        weight = ref.mass * 9.81
        ref = dataclasses.replace(ref, load_limit=unloading_limit(ref.contacts, weight, settings.controller.unload_frames))
    planner = None
    if settings.controller.balance_com:
        cs0 = settings.controller
        planner = BalancePlanner(ref.com, ref.contacts, ref.sole_pos, ref.foot_rot, sim.sole_half_extents, ref.fps,
                                 cs0.balance_cop_fraction,
                                 ref.ang_mom_rate if cs0.balance_angular_momentum else None, ref.mass, cs0.balance_horizon_frames,
                                 zmp_weight=cs0.balance_zmp_weight, zmp_fraction=cs0.balance_zmp_fraction,
                                 terminal_weight=cs0.balance_terminal_weight,
                                 terminal_target=cs0.balance_terminal_target, ballistic=cs0.balance_ballistic,
                                 edge_contacts=ref.edge_contacts)
        ref = dataclasses.replace(ref, com=ref.com.copy(), com_vel=ref.com_vel.copy(), com_acc=ref.com_acc.copy())
        if cs0.balance_replan_frames == 0:
            _plan_offline(planner, ref)
            planner = None
    m = sim.model
    d = mujoco.MjData(m)
    ctrl = Controller(sim, robot.effort_limit, settings.controller, settings.model.friction)
    cs = settings.controller
    fall = settings.fall
    floor_geom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    foot_geoms = (mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "left_sole"),
                  mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "right_sole"))
    T = ref.num_frames
    D = robot.num_dofs
    substeps = sim.frame_substeps
    dt = m.opt.timestep
    qpos = np.empty((T, m.nq))
    error = np.empty(T)
    fallen = np.zeros(T, dtype=bool)
    torque = np.zeros((T, D))
    force = np.zeros((T, 2, 3))
    floor = np.zeros((T, 6))
    fine = np.empty(((T - 1) * substeps + 1, m.nq)) if record_every_step else None
    fine_contact = np.zeros(((T - 1) * substeps + 1, 9)) if record_every_step else None
    spans: list[tuple[int, int]] = []
    qp_failures = 0
    loss_start: int | None = None
    key_sites = np.asarray(sim.key_sites, dtype=np.intp)      # an index array (a list is converted every frame)
    root = sim.root_body
    dq_adr, dv_adr = sim.dof_qpos, sim.dof_qvel
    _reset(sim, d, ref, 0, settings.controller.reset_clear_limbs)
    last_plan = -10 ** 9
    mass = float(np.sum(m.body_mass))
    weight_vec = mass * m.opt.gravity
    interval = substeps * dt
    momentum0 = np.zeros(6)
    com_sum = np.zeros(3)
    # views into ``d`` (MuJoCo writes them in place) and index slices: the same numbers, fewer Python calls
    d_qpos, d_qvel, d_ctrl, subtree_com_root = d.qpos, d.qvel, d.ctrl, d.subtree_com[root]
    dq_fast, dv_fast = as_slice(dq_adr), as_slice(dv_adr)
    impedance = JointImpedance(cs.low_level_kp, cs.low_level_kd, ctrl.tau_max, dv_fast)
    cpu_setup = time.process_time() - cpu_start
    for t in range(T):
        _update_kinematics(m, d)
        if t > 0:    # the floor's mean wrench over the last frame: momentum change minus gravity's impulse
            momentum = _momentum_about_origin(d, root, mass)
            floor[t - 1, :3] = (momentum[:3] - momentum0[:3]) / interval - weight_vec
            floor[t - 1, 3:] = ((momentum[3:] - momentum0[3:]) / interval
                                - _cross3(com_sum / substeps, weight_vec))
        qpos[t] = d.qpos
        if fine is not None:
            fine[t * substeps] = d.qpos          # before a reset at t (as qpos[t]); the next step starts from the reset state
        err = float(np.linalg.norm(d.site_xpos[key_sites] - ref.key_pos[t], axis=1).mean())
        error[t] = err
        if err > fall.tracked_error_m:
            loss_start = t if loss_start is None else loss_start
        else:
            loss_start = None
        down = d.xpos[root, 2] < fall.pelvis_low_m and ref.qpos[t, 2] > fall.reference_pelvis_high_m
        if err > fall.key_body_error_m or down:
            onset = t if loss_start is None else loss_start
            fallen[onset:t + 1] = True
            spans.append((onset, t + 1))
            loss_start = None
            _reset(sim, d, ref, t, cs.reset_clear_limbs)
            _update_kinematics(m, d)
            ctrl.reset()
            if cs.reset_blend_frames > 0:
                _blend_from_state(ref, t, d.subtree_com[root], d.subtree_linvel[root], cs.reset_blend_frames)
            last_plan = -10 ** 9
        if t == T - 1:
            break
        momentum0 = _momentum_about_origin(d, root, mass)
        com_sum = np.zeros(3)
        if planner is not None and t - last_plan >= cs.balance_replan_frames:
            stance = ctrl.stance_feet(sim.sole_offsets) if cs.balance_actual_stance else None
            _replan(planner, ref, t, d.subtree_com[root].copy(), d.subtree_linvel[root].copy(), stance)
            last_plan = t
        since = 0.0
        acc = np.zeros(D)
        for sub in range(substeps):
            mujoco.mj_step1(m, d)
            com_sum += subtree_com_root
            if sub % cs.control_every == 0:
                cmd = ctrl.solve(d, ref, t, sub / substeps)
                qp_failures += int(not cmd.ok)
                impedance.start(cmd, d_qpos[dq_fast], d_qvel[dv_fast])
                since = 0.0
                tau = cmd.torque
            else:
                tau = impedance.torque(since, d_qpos[dq_fast], d_qvel[dv_fast])
            np.copyto(d_ctrl, tau)
            acc += impedance.clip(tau)
            mujoco.mj_step2(m, d)
            if fine is not None and fine_contact is not None:
                fine[t * substeps + sub + 1] = d.qpos
                _floor_contact_wrench(m, d, floor_geom, foot_geoms, fine_contact[t * substeps + sub])
            since += dt
        torque[t] = acc / substeps
        force[t + 1] = _foot_contact_forces(sim, d, foot_geoms)
    torque[T - 1] = torque[T - 2]
    floor[T - 1] = floor[T - 2]
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start

    root_pos = qpos[:, 0:3]
    root_rot = np.concatenate([qpos[:, 4:7], qpos[:, 3:4]], axis=1)      # wxyz -> xyzw
    weight = robot.total_mass * 9.81
    contacts = force[:, :, 2] > 0.05 * weight
    cop = centre_of_pressure(floor, 0.05 * weight)
    provenance = {**motion.provenance, "simulated_by": "stages.simulate (MuJoCo, task-space inverse dynamics)",
                  "mujoco_version": mujoco.__version__}
    simulated = robot_motion_from_trajectory(robot, float(motion.fps), root_pos, root_rot, qpos[:, dq_adr],
                                             contacts=contacts, provenance=provenance)
    fine_motion = None
    if fine_contact is not None and len(fine_contact) > 1:
        fine_contact[-1] = fine_contact[-2]
    if fine is not None:
        fine_rot = np.concatenate([fine[:, 4:7], fine[:, 3:4]], axis=1)
        fine_motion = robot_motion_from_trajectory(robot, float(motion.fps) * substeps, fine[:, 0:3], fine_rot,
                                                   fine[:, dq_adr], provenance=provenance)
    duration_s = (T - 1) / float(motion.fps)
    ratio = np.abs(torque) / robot.effort_limit
    reasons = []
    if spans:
        reasons.append(asdict(Reason(code=FALL_CODE, spans=[list(s) for s in spans],  # type: ignore[misc]
                                     value=round(float(error.max()), 5), threshold=fall.key_body_error_m, unit="m")))
    summary: dict[str, Any] = {
        "falls": len(spans),
        "falls_per_min": round(len(spans) / max(duration_s / 60.0, 1e-9), 4),
        "tracked_fraction": round(float(np.mean(error <= fall.tracked_error_m)), 5),
        "mean_body_error_m": round(float(error.mean()), 5),
        "max_torque_ratio": round(float(ratio.max()), 5),
        "fallen_fraction": round(float(fallen.mean()), 5),
        "qp_failures": qp_failures,
        "balance_plans_infeasible": 0 if planner is None else planner.infeasible,
        "frames": T,
        "reasons": reasons,
        "realtime_factor": round(duration_s / max(cpu, 1e-9), 3),
        "realtime_factor_wall": round(duration_s / max(wall, 1e-9), 3),
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "cpu_setup_s": round(cpu_setup, 4),
    }
    return Simulation(motion=simulated, fallen=fallen, key_body_error_m=error, joint_torque=torque,
                      contact_force=force, floor_wrench=floor, cop=cop, summary=summary,
                      fine_motion=fine_motion,
                      fine_normal_force=None if fine_contact is None else fine_contact[:, 2].copy(),
                      fine_contact_wrench=None if fine_contact is None else fine_contact[:, :6].copy(),
                      fine_normal_force_by_part=None if fine_contact is None else fine_contact[:, 6:].copy())

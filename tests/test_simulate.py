"""The simulate stage: generated MuJoCo model, whole-body tracking, fall protocol, artifact, bad input."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest

from core.errors import ConfigError, InputError
from core.records.robot_motion import RobotMotion
from core.robot import load_robot, read_unitree_csv, robot_motion_from_trajectory
from core.robot.trajectory import sole_points
from stages.simulate.api import FALL_CODE, simulate_motion
from stages.simulate.mjcf import build_sim_model
from tests.conftest import require_shared


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


def standing(robot, frames: int, lift: float = 0.0) -> RobotMotion:
    """The default pose with both soles on the floor (root raised by ``lift`` m/frame when > 0: ballistic)."""
    dof = np.tile(robot.default_pose, (frames, 1))
    root = np.zeros((frames, 3))
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 1))
    root[:, 2] = -sole_points(robot, root[:1], rot[:1], dof[:1])[0, :, 2].min()
    root[:, 2] += lift * np.arange(frames)
    contacts = np.ones((frames, 2), dtype=bool) if lift == 0.0 else np.zeros((frames, 2), dtype=bool)
    return robot_motion_from_trajectory(robot, 30.0, root, rot, dof, contacts=contacts)


def test_model_agrees_with_unitree_mjcf(robot):
    path = require_shared("robots", "g1_description", "g1_29dof_rev_1_0.xml")
    official = mujoco.MjModel.from_xml_path(str(path))
    ours = build_sim_model(robot, 30.0).model
    assert ours.nv == official.nv == 35
    for b in range(1, official.nbody):
        name = mujoco.mj_id2name(official, mujoco.mjtObj.mjOBJ_BODY, b)
        o = mujoco.mj_name2id(ours, mujoco.mjtObj.mjOBJ_BODY, name)
        assert o >= 0, name
        assert ours.body_mass[o] == pytest.approx(official.body_mass[b], rel=2e-3, abs=2e-3), name
        np.testing.assert_allclose(np.sort(ours.body_inertia[o]), np.sort(official.body_inertia[b]),
                                   rtol=2e-3, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(ours.body_ipos[o], official.body_ipos[b], atol=1e-4, err_msg=name)
    assert ours.body_mass.sum() == pytest.approx(official.body_mass.sum(), rel=1e-4)
    for j in range(1, official.njnt):
        name = mujoco.mj_id2name(official, mujoco.mjtObj.mjOBJ_JOINT, j)
        o = mujoco.mj_name2id(ours, mujoco.mjtObj.mjOBJ_JOINT, name)
        np.testing.assert_allclose(ours.jnt_range[o], official.jnt_range[j], atol=1e-4, err_msg=name)
        np.testing.assert_allclose(ours.jnt_axis[o], official.jnt_axis[j], atol=1e-6, err_msg=name)
        # force ranges: the URDF's effort limits; only ankles and waist roll/pitch differ (35 here, 50 there)
        limit = ours.actuator_ctrlrange[mujoco.mj_name2id(ours, mujoco.mjtObj.mjOBJ_ACTUATOR, name), 1]
        if "ankle" in name or name in ("waist_roll_joint", "waist_pitch_joint"):
            assert (limit, official.jnt_actfrcrange[j, 1]) == (35.0, 50.0), name
        else:
            assert limit == official.jnt_actfrcrange[j, 1], name


def test_standing_pose_held_10_s(robot):
    sim = simulate_motion(standing(robot, 301), robot)
    assert sim.summary["falls"] == 0
    assert sim.summary["tracked_fraction"] == 1.0
    assert sim.key_body_error_m.max() < 0.02
    # the feet carry the weight
    weight = robot.total_mass * 9.81
    assert sim.contact_force[-1, :, 2].sum() == pytest.approx(weight, rel=0.05)
    assert sim.summary["max_torque_ratio"] < 1.0


def test_ballistic_reference_falls(robot):
    sim = simulate_motion(standing(robot, 90, lift=0.03), robot)   # the root rises 0.9 m/s with no support
    assert sim.summary["falls"] >= 1
    assert sim.fallen.any()
    assert sim.summary["reasons"][0]["code"] == FALL_CODE
    start, stop = sim.summary["reasons"][0]["spans"][0]
    assert sim.fallen[start:stop].all()
    assert sim.summary["tracked_fraction"] < 0.9


def test_standing_centre_of_pressure_is_the_com_projection(robot):
    sim = simulate_motion(standing(robot, 31), robot)
    weight = robot.total_mass * 9.81
    assert sim.floor_wrench[5:, 2] == pytest.approx(weight, rel=0.02)      # the floor carries the robot
    assert np.abs(sim.floor_wrench[5:, :2]).max() < 0.02 * weight            # and pushes it nowhere
    # standing still: the centre of pressure lies under the CoM, between the soles
    pelvis_xy = sim.motion.root_pos[5:, :2]
    assert np.abs(sim.cop[5:] - pelvis_xy).max() < 0.05
    arrays, _ = sim.arrays()
    assert arrays["sim_cop"].shape == (31, 2) and arrays["sim_floor_wrench"].shape == (31, 6)


def test_real_walk_tracked_and_physical(robot):
    """3 s of Unitree's walk1 re-checked by the filter's ZMP check at the physics rate (the issue's target).

    Differenced as MuJoCo integrated it (``dynamics.differences = "semi_implicit"``), the recording gives the
    filter exactly MuJoCo's contact wrench, so the check's ZMP is the true centre of pressure; a supported
    step is one the filter judges (a contact point within 5 cm) and MuJoCo's contacts load with at least
    the ZMP's 10 % weight clamp. With the default central differences of 30 fps motion capture the same
    check reads millimetres off (the O(dt) mismatch with a semi-implicit Euler step)."""
    from stages.filter.body import body_of
    from stages.filter.checks import CHECKS
    from stages.filter.checks.dynamics import MIN_NORMAL_FRACTION
    from stages.filter.settings import DynamicsSettings, ZmpSettings
    from stages.filter.settings import Settings as FilterSettings
    from stages.filter.state import ClipState
    from stages.simulate.api import centre_of_pressure

    path = require_shared("lafan1_g1_unitree_extra", "walk1_subject2.csv")
    sim = simulate_motion(read_unitree_csv(path, robot).frames(0, 90), robot, record_every_step=True)
    # the first 3 s (stand, first steps) are tracked without a fall
    assert sim.summary["falls"] == 0
    assert sim.summary["tracked_fraction"] == 1.0
    fine = sim.fine_motion
    assert fine is not None and sim.fine_contact_wrench is not None and sim.fine_normal_force is not None
    substeps = (fine.num_frames - 1) // 89
    assert fine.num_frames == 89 * substeps + 1 and fine.fps == pytest.approx(30.0 * substeps)
    np.testing.assert_allclose(fine.root_pos[::substeps], sim.motion.root_pos, atol=1e-12)
    weight = robot.total_mass * 9.81
    zs = ZmpSettings(margin_m=0.0, allow_frames=0, guard_frames=1)     # unsmoothed: one step reach
    exact = FilterSettings(zmp_outside_support=zs, dynamics=DynamicsSettings(smooth_window_frames=1,
                                                                             differences="semi_implicit"))
    state = ClipState(fine, body_of(robot), exact)
    value = np.asarray(CHECKS["zmp_outside_support"](state, zs).value)
    supported = np.isfinite(value) & (sim.fine_normal_force >= MIN_NORMAL_FRACTION * weight)
    supported[:2] = supported[-2:] = False                     # differences reaching past the recording
    assert supported.mean() > 0.9
    # the filter's floor wrench from the recorded states is MuJoCo's contact wrench (recorder and model agree)
    force, _ = state.contact_wrench
    assert np.abs(force - sim.fine_contact_wrench[:, :3])[supported].max() < 1e-3 * weight
    com, _, _ = state.centroidal
    from stages.filter.checks.dynamics import zmp
    p = zmp(com, *state.contact_wrench, MIN_NORMAL_FRACTION * weight)
    cop = centre_of_pressure(sim.fine_contact_wrench, MIN_NORMAL_FRACTION * weight)
    assert np.linalg.norm(p - cop, axis=1)[supported].max() < 1e-4
    # physical: (almost) no supported step has its ZMP beyond 1 mm outside the support polygon
    assert np.mean(value[supported] > 0.001) <= 0.02
    # the default (central, smoothed) differences: the same check millimetres off
    central = ClipState(fine, body_of(robot), FilterSettings())
    force_c, _ = central.contact_wrench
    off = np.linalg.norm(force_c - sim.fine_contact_wrench[:, :3], axis=1)[supported]
    assert np.median(off) > 100 * np.median(np.linalg.norm(force - sim.fine_contact_wrench[:, :3], axis=1)[supported])


def test_real_walk_tracked_to_target(robot):
    path = require_shared("lafan1_g1_unitree_extra", "walk1_subject2.csv")
    sim = simulate_motion(read_unitree_csv(path, robot).frames(0, 240), robot)
    assert sim.summary["falls"] == 0 and sim.summary["tracked_fraction"] >= 0.9


def test_fast_walk_stretch_tracked(robot):
    """10 s of Unitree's walk1 at about 1 m/s, a third of it backwards, turning at 0.9 rad/s, 12 % of frames with
    no labelled contact: the feasible CoM plan, edge contacts on those frames and the momentum task keep it up
    (main before them: 5 falls, 0.83 tracked)."""
    path = require_shared("lafan1_g1_unitree_extra", "walk1_subject2.csv")
    motion = read_unitree_csv(path, robot)
    sim = simulate_motion(motion.frames(3300, 3600), robot)
    assert sim.summary["falls"] <= 3 and sim.summary["tracked_fraction"] >= 0.9, sim.summary


def test_demo_corpus_simulated(default_run):
    """The pipeline's demo run: every clip the filter keeps is tracked to its end with no fall: kicks (0.9 s on one
    foot), squat, waves, and the walks, turns and jumps (a 0.87 m stride in 0.33 s; jumps whose reference flies at
    -7 m/s²) that the joint-range bounds, the pelvis-height task and the flight touchdown carry (main before them:
    walk_straight 3 falls, turns 2 + 2, walk_slow 1, jump_forward 1)."""
    import json

    clips = {c["clip_id"]: c["stages"] for c in json.loads((default_run / "run.json").read_text())["clips"]}
    kept = sorted(name for name, stages in clips.items() if stages["filter"]["status"] == "ok")
    for name in ("kick_left", "kick_right", "squat", "wave_left", "wave_right", "walk_straight", "walk_slow",
                 "turn_left", "turn_right", "jump_forward", "jump_vertical"):
        assert f"demo__{name}_s0" in kept, name
    for name in kept:
        summary = clips[name]["simulate"]["summary"]
        assert summary["falls"] == 0 and summary["tracked_fraction"] >= 0.98, (name, summary)


def sunk(motion: RobotMotion) -> RobotMotion:
    """``motion`` 2 mm into the floor (MuJoCo's sole contacts penetrate, as under load) and labelled in flight."""
    return dataclasses.replace(motion, root_pos=motion.root_pos - [0.0, 0.0, 0.002],
                               contacts=np.zeros_like(motion.contacts))


def _one_solve(robot, motion, **changes):
    """The controller's first command on ``motion`` from its first reference state (after ``mj_step1``)."""
    from stages.simulate.api import _reset, _update_kinematics
    from stages.simulate.controller import Controller
    from stages.simulate.reference import build_reference
    from stages.simulate.settings import ControllerSettings, ModelSettings

    sim = build_sim_model(robot, 30.0)
    ref = build_reference(sim, motion)
    d = mujoco.MjData(sim.model)
    _reset(sim, d, ref, 0)
    _update_kinematics(sim.model, d)
    mujoco.mj_step1(sim.model, d)
    ctrl = Controller(sim, robot.effort_limit, ControllerSettings(**changes), ModelSettings().friction)
    return sim, d, ctrl, ctrl.solve(d, ref, 0, 0.0)


def test_qp_keeps_joints_inside_their_ranges(robot):
    """A free knee 0.02 rad from its straight limit, extending at 6 rad/s as the reference does: the QP plans no
    acceleration that takes it past the limit within the horizon (without the bound it follows the reference through
    it)."""
    motion = standing(robot, 4)
    knee = list(robot.dof_names).index("left_knee_joint")
    lower = robot.lower[knee]
    motion = dataclasses.replace(motion, dof_pos=motion.dof_pos.copy(), root_pos=motion.root_pos + [0.0, 0.0, 0.1],
                                 contacts=np.zeros_like(motion.contacts))      # in the air: the legs are free
    motion.dof_pos[:, knee] = lower + 0.02 - 6.0 * np.arange(4) / 30.0    # the reference extends it past the limit
    horizon = 0.1
    sim, d, _, cmd = _one_solve(robot, motion, joint_limit_horizon_s=horizon)
    v = sim.dof_qvel[knee]
    q, qd = d.qpos[sim.dof_qpos[knee]], d.qvel[v]
    bound = 2.0 * (lower - q - horizon * qd) / horizon ** 2
    assert cmd.ok and qd < -3.0
    assert cmd.qacc[v] >= bound - 1e-6
    assert q + horizon * qd + 0.5 * horizon ** 2 * cmd.qacc[v] >= lower - 1e-6
    _, _, _, free = _one_solve(robot, motion, joint_limit_horizon_s=0.0)
    assert free.qacc[v] < bound


def test_flight_touchdown_loads_feet_on_the_floor(robot):
    """A reference in flight (no contact label) while the robot stands: with the flight touchdown the soles MuJoCo has
    on the floor carry the robot; without it the QP has no support."""
    motion = sunk(standing(robot, 4))
    _, _, ctrl, cmd = _one_solve(robot, motion, flight_touchdown=True)
    assert cmd.ok and cmd.loaded.all()
    assert cmd.wrench[:, 2].sum() == pytest.approx(robot.total_mass * 9.81, rel=0.1)
    assert ctrl._flight_landing == [True, True]        # landed in the reference's flight: the stance offset counts
    _, _, _, cmd = _one_solve(robot, motion, flight_touchdown=False)
    assert not cmd.loaded.any() and np.all(cmd.wrench == 0.0)


def test_stance_offset_shifts_the_com_target_after_a_flight_landing(robot):
    """Feet that landed in the reference's flight 0.1 m behind the reference's: the CoM target moves with them (the
    balance plan's ZMP was feasible over the reference's feet), and only after a flight."""
    from stages.simulate.reference import build_reference

    motion = standing(robot, 4)
    sim, d, ctrl, _ = _one_solve(robot, sunk(motion), flight_touchdown=True, stance_offset_time_s=1e-6)
    ahead = dataclasses.replace(motion, root_pos=motion.root_pos + [0.1, 0.0, 0.0])   # the reference lands further
    ref = build_reference(sim, ahead)
    shift = ctrl._update_stance_offset(ref, 0, np.array([True, True]))
    np.testing.assert_allclose(shift, [-0.1, 0.0, 0.0], atol=1e-3)
    ctrl._flight_landing = [False, False]                # landed on a walking step: no shift
    np.testing.assert_allclose(ctrl._update_stance_offset(ref, 0, np.array([True, True])), 0.0, atol=1e-9)


def test_same_inputs_same_recording(robot, tmp_path):
    motion = standing(robot, 40)
    motion.dof_pos[:, robot.dof_names.index("left_shoulder_pitch_joint")] += np.linspace(0, 0.8, 40)
    a = simulate_motion(motion, robot)
    b = simulate_motion(motion, robot)
    for name in ("fallen", "key_body_error_m", "joint_torque", "contact_force"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.motion.dof_pos, b.motion.dof_pos)
    np.testing.assert_array_equal(a.motion.root_pos, b.motion.root_pos)


def test_artifact_loads_as_robot_motion(robot, tmp_path):
    from core.npzio import load_npz, save_npz

    sim = simulate_motion(standing(robot, 20), robot)
    arrays, meta = sim.arrays()
    save_npz(tmp_path / "sim.npz", arrays, meta)
    motion = RobotMotion.load(tmp_path / "sim.npz")          # ignores the sim_* extras
    assert motion.num_frames == 20 and motion.fps == 30.0
    back, _ = load_npz(tmp_path / "sim.npz")
    assert back["sim_fallen"].shape == (20,) and back["sim_contact_force"].shape == (20, 2, 3)
    assert back["sim_joint_torque"].shape == (20, robot.num_dofs)
    assert "realtime_factor" not in meta["simulation"]       # wall-clock figures stay out of the artifact


def test_bad_input_is_a_clear_error(robot):
    motion = standing(robot, 20)
    nan = dataclasses.replace(motion, dof_pos=motion.dof_pos.copy())
    nan.dof_pos[5, 3] = np.nan
    with pytest.raises(InputError) as err:
        simulate_motion(nan, robot)
    assert err.value.code == "non_finite" and "frame 5" in err.value.message
    short = dataclasses.replace(motion, dof_pos=motion.dof_pos[:, :23], dof_names=motion.dof_names[:23])
    with pytest.raises(InputError) as err:
        simulate_motion(short, robot)
    assert err.value.code == "dof_mismatch"
    with pytest.raises(InputError) as err:
        simulate_motion(dataclasses.replace(motion, robot="h1"), robot)
    assert err.value.code == "robot_mismatch"
    with pytest.raises(ConfigError):
        load_robot("no_such_robot")


def test_stage_rejects_bad_clip_and_can_be_off(robot, tmp_path):
    from core.stage import ClipSource, RunGlobals, StageInput
    from pipeline.config import parse_manifest
    from stages.simulate.stage import STAGE, Settings

    motion = standing(robot, 20)
    motion.root_pos[3, 0] = np.inf
    motion.save(tmp_path / "bad.npz")
    clip = ClipSource("c", str(tmp_path / "bad.npz"), "0" * 64, "bvh", "test", "CC0")
    inp = StageInput(clip=clip, globals=RunGlobals(), upstream={"retarget": tmp_path / "bad.npz"})
    with pytest.raises(InputError) as err:
        STAGE.run(inp, Settings())
    assert err.value.code == "non_finite" and "bad.npz" in str(err.value)
    assert STAGE.run(inp, Settings(mode="none")).summary == {"mode": "none"}
    rejected = StageInput(clip=clip, globals=RunGlobals(), upstream={"retarget": tmp_path / "bad.npz"},
                          upstream_summary={"filter": {"verdict": {"verdict": "reject"}}})
    assert STAGE.run(rejected, Settings()).summary["skipped"] == "filter_reject"
    manifest = parse_manifest({"name": "t", "output": str(tmp_path), "sources": [{"name": "demo", "kind": "demo"}],
                               "stages": {"simulate": "none"}})
    assert manifest.stage_settings["simulate"].mode == "none"


def test_corner_contacts_see_toe_off():
    """A foot rolling about its toe edge is on the floor (toe still, centre rising); a lifted foot is not."""
    from stages.simulate.reference import corner_contacts

    fps, T = 30.0, 12
    half = np.array([[0.10, 0.04], [0.10, 0.04]])
    pitch = np.radians(np.linspace(0.0, 90.0, T))               # heel up, pivoting about the toe edge at x = 0.10
    rot = np.zeros((T, 2, 3, 3))
    sole = np.zeros((T, 2, 3))
    for t, a in enumerate(pitch):
        r = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
        rot[t, :] = r
        sole[t, 0] = np.array([0.10, 0.0, 0.0]) - r @ np.array([0.10, 0.0, 0.0])   # toe edge fixed at (0.10, 0, 0)
    sole[:, 1] = [0.0, 0.3, 0.0]
    sole[:, 1, 2] = 0.03 + 0.01 * np.arange(T)                   # flat foot rising from 3 cm
    rot[:, 1] = np.eye(3)
    centre_speed = np.linalg.norm(np.gradient(sole[:, 0], 1.0 / fps, axis=0), axis=1)
    assert centre_speed[-4:].min() > 0.3                         # a sole-centre label calls the rolling foot swing
    got = corner_contacts(sole, rot, half, fps, height_m=0.01, speed_m_s=0.5)
    assert got[:, 0].all()
    assert not got[:, 1].any()


def _two_soles(T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sole centres (T, 2, 3) at y = +-0.1 m on the floor, level (identity rotations, (T, 2, 3, 3))
    and half sizes (2, 2) of 0.1 x 0.04 m: the planner tests' two feet."""
    sole = np.zeros((T, 2, 3))
    sole[:, 0, 1], sole[:, 1, 1] = 0.1, -0.1
    return sole, np.tile(np.eye(3), (T, 2, 1, 1)), np.array([[0.1, 0.04], [0.1, 0.04]])


def test_balance_plan_ends_capturable():
    """With a terminal DCM cost the plan's last state has its capture point at the ZMP target there."""
    from stages.simulate.balance import BalancePlanner

    T, fps = 40, 30.0
    com = np.tile([0.0, 0.08, 0.7], (T, 1))                      # the reference holds its CoM 8 cm off the sole
    sole, rot, half = _two_soles(T)
    contacts = np.zeros((T, 2), dtype=bool)
    contacts[:, 1] = True                                       # single support on the right sole (y = -0.1)
    kwargs = dict(zmp_fraction=0.5, horizon_frames=30)
    free = BalancePlanner(com, contacts, sole, rot, half, fps, 1.0, **kwargs)
    capt = BalancePlanner(com, contacts, sole, rot, half, fps, 1.0, terminal_weight=100.0, **kwargs)
    start, vel = np.array([0.0, -0.07, 0.7]), np.zeros(3)              # at rest over the sole, 1 cm in
    omega = np.sqrt(9.81 / 0.7)

    def last_dcm(path):
        return path[-1] + (path[-1] - path[-2]) * fps / omega

    assert abs(last_dcm(free.plan(0, start, vel))[1] + 0.1) > 0.05   # ZMP limits only: the plan drifts off at its end
    assert abs(last_dcm(capt.plan(0, start, vel))[1] + 0.1) < 0.03   # capturable over the sole


def test_balance_zmp_reference_inside_support():
    """The planner's ZMP target is the reference's ZMP moved into the shrunk support polygon."""
    from stages.simulate.balance import BalancePlanner

    T, fps = 40, 30.0
    t = np.arange(T) / fps
    com = np.stack([0.2 * np.sin(2 * np.pi * t), 0.1 * np.cos(2 * np.pi * t), np.full(T, 0.7)], axis=1)
    sole, rot, half = _two_soles(T)
    contacts = np.zeros((T, 2), dtype=bool)
    contacts[:20, 0] = True
    contacts[15:, 1] = True
    planner = BalancePlanner(com, contacts, sole, rot, half, fps, 0.8, zmp_weight=1.0, zmp_fraction=0.5)
    z = planner.zmp_ref
    assert z is not None
    single_left = np.arange(T) < 15
    assert np.all(np.abs(z[single_left, 0]) <= 0.05 + 1e-6) and np.all(np.abs(z[single_left, 1] - 0.1) <= 0.02 + 1e-6)
    single_right = np.arange(T) >= 20
    assert np.all(np.abs(z[single_right, 1] + 0.1) <= 0.02 + 1e-6)
    path = planner.plan(0, com[0], np.gradient(com, 1.0 / fps, axis=0)[0])
    assert path.shape == (min(planner.horizon, T - 1), 2) and np.isfinite(path).all()


def test_project_into_polygon():
    from stages.simulate.balance import project_into_polygon

    square = np.array([[0.1, 0.04], [0.1, -0.04], [-0.1, -0.04], [-0.1, 0.04], [0.0, 0.0]])
    np.testing.assert_allclose(project_into_polygon(np.array([0.05, 0.01]), square), [0.05, 0.01])   # inside: itself
    np.testing.assert_allclose(project_into_polygon(np.array([0.3, 0.0]), square), [0.1, 0.0])       # to the edge
    np.testing.assert_allclose(project_into_polygon(np.array([0.3, 0.2]), square), [0.1, 0.04])      # to a corner
    line = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    np.testing.assert_allclose(project_into_polygon(np.array([0.5, 1.0]), line), [0.5, 0.0])         # degenerate


def test_support_gaps_filled_only_where_not_ballistic():
    """A labelled flight with a sole corner on the floor and the CoM held up is support; a true flight is not."""
    from stages.simulate.reference import fill_support_gaps

    contacts = np.array([[1, 0], [0, 0], [0, 0], [0, 1], [0, 0], [0, 0]], dtype=bool)
    lowest = np.array([[0.0, 0.05], [0.005, 0.04], [0.03, 0.01], [0.1, 0.0], [0.001, 0.002], [0.2, 0.2]])
    com_acc_z = np.array([0.0, 1.0, -2.0, 0.0, -9.81, 0.5])
    got = fill_support_gaps(contacts, lowest, com_acc_z, height_m=0.02)
    np.testing.assert_array_equal(got, [[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]])
    # frames 1, 2: not ballistic, a low corner -> that foot; 4: free fall stays flight; 5: both feet high
    fast = np.zeros((6, 2))
    fast[2, 1] = 1.5                     # frame 2: the right foot's low corner skims the floor at 1.5 m/s (a swing)
    got = fill_support_gaps(contacts, lowest, com_acc_z, height_m=0.02, corner_speed=fast, speed_m_s=0.5)
    np.testing.assert_array_equal(got, [[1, 0], [1, 0], [0, 0], [0, 1], [0, 0], [0, 0]])


def test_lowest_corner_speed_pivot_and_skim():
    """A foot rolling on its toe pivots about that corner (about 0 m/s while the sole centre moves); a flat foot
    sliding at 1 m/s moves its lowest corner at 1 m/s."""
    from stages.simulate.reference import lowest_corner_speed

    T, fps = 9, 30.0
    half = np.array([[0.1, 0.04], [0.1, 0.04]])
    angle = np.linspace(0.0, 0.8, T)                    # the left heel rises: pitch about the toe edge (x = +0.1)
    rot = np.tile(np.eye(3), (T, 2, 1, 1))
    rot[:, 0, 0, 0], rot[:, 0, 0, 2], rot[:, 0, 2, 0], rot[:, 0, 2, 2] = np.cos(angle), np.sin(angle), -np.sin(angle), np.cos(angle)
    sole = np.zeros((T, 2, 3))
    sole[:, 0, 0] = 0.1 - 0.1 * np.cos(angle)           # the toe edge stays at x = 0.1, z = 0
    sole[:, 0, 2] = 0.1 * np.sin(angle)
    sole[:, 1, 0] = np.arange(T) / fps                  # the right foot slides flat at 1 m/s
    speed = lowest_corner_speed(sole, rot, half, fps)
    assert np.all(speed[:, 0] < 0.05) and np.linalg.norm(np.gradient(sole[:, 0, :2], 1 / fps, axis=0), axis=1)[-1] > 0.15
    np.testing.assert_allclose(speed[:, 1], 1.0, atol=1e-9)


def test_balance_plan_ballistic_without_support():
    """Frames the plan has no support on keep the CoM's horizontal velocity (the controller loads no foot there)."""
    from stages.simulate.balance import BalancePlanner

    T, fps = 40, 30.0
    t = np.arange(T) / fps
    com = np.stack([0.05 * np.sin(4 * np.pi * t), 0.1 * np.sin(2 * np.pi * t), np.full(T, 0.7)], axis=1)
    sole, rot, half = _two_soles(T)
    contacts = np.ones((T, 2), dtype=bool)
    contacts[10:14] = False                                     # a 4-frame gap in the label
    kwargs = dict(zmp_weight=10.0, zmp_fraction=0.5, horizon_frames=30)
    vel0 = np.gradient(com, 1.0 / fps, axis=0)[0]
    for ballistic in (False, True):
        planner = BalancePlanner(com, contacts, sole, rot, half, fps, 1.0, ballistic=ballistic, **kwargs)
        path = np.vstack([com[0, :2] - vel0[:2] / fps, com[0, :2], planner.plan(0, com[0], vel0)])   # frames -1 .. 30
        acc = (path[2:] - 2 * path[1:-1] + path[:-2]) * fps * fps                                  # frames 0 .. 29
        gap = np.abs(acc[10:14]).max()
        assert (gap < 1e-6) if ballistic else (gap > 0.05), (ballistic, gap)


def test_balance_plan_uses_the_robots_stance_foot():
    """Given the robot's stance foot where it landed, the plan's ZMP keeps to that sole, not the reference's."""
    from stages.simulate.balance import BalancePlanner

    T, fps = 40, 30.0
    com = np.tile([0.0, -0.1, 0.7], (T, 1))                     # the reference stands over its right sole
    sole, rot, half = _two_soles(T)
    contacts = np.zeros((T, 2), dtype=bool)
    contacts[:, 1] = True
    planner = BalancePlanner(com, contacts, sole, rot, half, fps, 1.0, horizon_frames=20)
    landed = {1: (np.array([0.0, -0.2, 0.0]), np.eye(3))}       # the robot's right foot landed 10 cm further out
    start, vel = np.array([0.0, -0.1, 0.7]), np.zeros(3)
    h = 0.7 / 9.81

    def zmp_y(path):
        y = np.concatenate([[start[1], start[1]], path[:, 1]])          # frames -1 .. n (at rest before)
        return y[1:-1] - h * (y[2:] - 2 * y[1:-1] + y[:-2]) * fps * fps   # frames 0 .. n-1

    on_ref = planner.plan(0, start, vel)
    on_robot = planner.plan(0, start, vel, landed)
    np.testing.assert_allclose(on_ref[:, 1], -0.1, atol=1e-3)  # over the reference's sole: stays
    assert np.all(zmp_y(on_robot) <= -0.16 + 1e-6)             # the robot's sole spans y = -0.2 +- 0.04
    assert np.any(zmp_y(on_ref) > -0.16)


def test_fine_normal_force_is_the_weight_standing(robot):
    """The per-physics-step floor force (the re-check's 'really supported' steps) carries the robot standing."""
    sim = simulate_motion(standing(robot, 16), robot, record_every_step=True)
    assert sim.fine_normal_force is not None and sim.fine_motion is not None
    assert sim.fine_normal_force.shape == (sim.fine_motion.num_frames,)
    weight = robot.total_mass * 9.81
    assert np.median(sim.fine_normal_force) == pytest.approx(weight, rel=0.02)
    # the contact wrench's vertical force is that normal force, all of it on the two soles, half each
    assert sim.fine_contact_wrench is not None and sim.fine_normal_force_by_part is not None
    np.testing.assert_allclose(sim.fine_contact_wrench[:, 2], sim.fine_normal_force)
    np.testing.assert_allclose(sim.fine_normal_force_by_part.sum(axis=1), sim.fine_normal_force, atol=1e-9)
    assert np.all(sim.fine_normal_force_by_part[:, 2] == 0.0)
    np.testing.assert_allclose(np.median(sim.fine_normal_force_by_part[:, :2], axis=0), weight / 2, rtol=0.1)
    # its centre of pressure: between the soles, under the CoM (the clip-rate recorder's, to a millimetre)
    from stages.simulate.api import centre_of_pressure
    cop = centre_of_pressure(sim.fine_contact_wrench, 0.1 * weight)
    np.testing.assert_allclose(np.nanmedian(cop, axis=0), np.nanmedian(sim.cop, axis=0), atol=1e-3)
    assert simulate_motion(standing(robot, 4), robot).fine_normal_force is None


def test_reset_lifts_a_reference_with_limbs_below_the_floor(robot):
    """Limb heights of the reference, and a reset that clears the floor of every limb (a crawl's hands)."""
    from stages.simulate.api import _reset
    from stages.simulate.reference import build_reference, limb_geoms

    motion = standing(robot, 4)
    sim = build_sim_model(robot, 30.0)
    ref = build_reference(sim, motion)
    names = [sim.model.geom(int(g)).name for g in limb_geoms(sim)]
    assert "left_knee_link" in names and not any(n.endswith("_sole") or n == "floor" for n in names)
    pelvis = names.index("pelvis")
    assert 0.5 < ref.limb_low[0, pelvis] < 0.8                 # standing: the pelvis capsule well above the floor
    assert ref.limb_low[0].min() > 0.0                         # and no limb in it
    sunk = dataclasses.replace(motion, root_pos=motion.root_pos - [0.0, 0.0, 0.45])
    low_ref = build_reference(sim, sunk)
    np.testing.assert_allclose(low_ref.limb_low, ref.limb_low - 0.45, atol=1e-9)
    low_ref = dataclasses.replace(low_ref, contacts=np.zeros_like(low_ref.contacts))   # no stance sole to lift onto
    d = mujoco.MjData(sim.model)
    _reset(sim, d, low_ref, 0, clear_limbs=False)
    assert d.qpos[2] == pytest.approx(low_ref.qpos[0, 2])
    _reset(sim, d, low_ref, 0, clear_limbs=True)
    assert d.qpos[2] == pytest.approx(low_ref.qpos[0, 2] - low_ref.limb_low[0].min())


def test_ground_reference_keeps_the_knees_of_a_floating_reference(robot):
    """A standing reference whose soles float 1 cm above the floor (as Unitree's CSVs hold theirs, 7-11 mm): tracked
    as given, the robot straightens its knees by about 0.18 rad to reach the reference's height; lowered onto the
    floor (``ground_reference``, the default) it keeps the reference's knees, and is still judged against the
    reference as given (its key bodies 1 cm above the rollout's)."""
    from stages.simulate.settings import Settings

    base = standing(robot, 60)
    floating = robot_motion_from_trajectory(robot, 30.0, base.root_pos + np.array([0.0, 0.0, 0.01]), base.root_rot,
                                            base.dof_pos, contacts=base.contacts)
    knees = [list(robot.dof_names).index(f"{side}_knee_joint") for side in ("left", "right")]
    deviation = {}
    for on in (False, True):
        settings = Settings()
        settings = dataclasses.replace(settings, controller=dataclasses.replace(settings.controller, ground_reference=on))
        sim = simulate_motion(floating, robot, settings)
        assert sim.summary["falls"] == 0
        deviation[on] = float(np.abs(sim.motion.dof_pos[30:, knees] - floating.dof_pos[30:, knees]).mean())
        if on:
            assert sim.summary["mean_body_error_m"] >= 0.009      # judged against the floating reference
    assert deviation[False] > 0.1 and deviation[True] < 0.02, deviation


def test_unitree_reference_lowered_only_where_it_stands_on_its_feet(robot):
    """Unitree's walk3 floats its flat stance soles about a centimetre; a project reference standing on the floor
    does not (left exactly as it is); the lowering fades out where a hand or the trunk is on the floor (walk3's
    get-down and crawl from frame 5400), and the key bodies the rollout is judged against are kept."""
    from stages.simulate.reference import build_reference, lowered, on_feet_share, stance_float_height

    path = require_shared("lafan1_g1_unitree_extra", "walk3_subject1.csv")
    motion = read_unitree_csv(path, robot)
    sim_model = build_sim_model(robot, 30.0)
    ref = build_reference(sim_model, motion.frames(5000, 6200))
    lift = stance_float_height(ref.sole_pos, ref.foot_rot, ref.contacts)
    assert 0.005 < lift < 0.015
    share = on_feet_share(sim_model, ref)
    assert np.all(share[:300] > 0.999)                 # frames 5000-5300: walking
    assert np.mean(share[400:1200] < 0.001) > 0.2       # hands on the floor
    low = lowered(ref, lift * share)
    np.testing.assert_allclose(ref.com[:, 2] - low.com[:, 2], lift * share, atol=1e-12)
    np.testing.assert_allclose(ref.qpos[:, 2] - low.qpos[:, 2], lift * share, atol=1e-12)
    np.testing.assert_allclose(ref.sole_pos[:, :, 2] - low.sole_pos[:, :, 2], np.repeat((lift * share)[:, None], 2, axis=1),
                               atol=1e-12)
    np.testing.assert_array_equal(low.key_pos, ref.key_pos)
    standing_ref = build_reference(sim_model, standing(robot, 10))
    assert abs(stance_float_height(standing_ref.sole_pos, standing_ref.foot_rot, standing_ref.contacts)) < 0.002

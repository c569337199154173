"""Each filter check on constructed motions: one case where it must fire, one where it must not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pinocchio as pin
import pytest

from core.robot import load_robot
from stages.filter import synthetic
from stages.filter.body import body_of
from stages.filter.checks import CHECKS
from stages.filter.checks.dynamics import convex_hull, joint_torques, signed_distance_to_polygon, support_distance, zmp
from stages.filter.checks.ground import ballistic_duration
from stages.filter.settings import Settings
from stages.filter.state import GRAVITY, ClipState

S = Settings()


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


@pytest.fixture(scope="module")
def body(robot):
    return body_of(robot)


@pytest.fixture(scope="module")
def stand(robot):
    return synthetic.standing(robot, seconds=2.0)


def run(code, motion, body, settings=S):
    state = ClipState(motion, body, settings)
    return CHECKS[code](state, getattr(settings, code)), state


def dof(robot, name):
    return robot.dof_names.index(name)


def with_dofs(robot, motion, changes):
    """Copy of ``motion`` with joint values replaced: {(joint, start, stop): value or (T',) array}."""
    q = motion.dof_pos.copy()
    for (joint, a, b), value in changes.items():
        q[a:b, dof(robot, joint)] = value
    return synthetic.motion(robot, motion.root_pos, q, motion.root_rot, motion.fps)


# ---------------------------------------------------------------- clean clip: nothing fires
def test_standing_still_passes_every_check(stand, body):
    state = ClipState(stand, body, S)
    for code, check in CHECKS.items():
        result = check(state, getattr(S, code))
        assert not result.failed, (code, result.worst)


# ---------------------------------------------------------------- kinematic checks
def test_non_finite_fires_on_nan(robot, stand, body):
    root = stand.root_pos.copy()
    root[7, 0] = np.nan
    m = dataclasses.replace(stand, root_pos=root)
    result, _ = run("non_finite", m, body)
    assert result.fail.tolist() == [t == 7 for t in range(stand.num_frames)]


def test_too_short_fires_below_min_duration(robot, body):
    short = synthetic.standing(robot, seconds=0.5)
    result, _ = run("too_short", short, body)
    assert result.fail.all() and result.worst == pytest.approx(0.5)
    ok, _ = run("too_short", synthetic.standing(robot, seconds=1.5), body)
    assert not ok.failed


def test_joint_position_limit(robot, stand, body):
    upper = robot.upper[dof(robot, "left_knee_joint")]
    bad = with_dofs(robot, stand, {("left_knee_joint", 10, 20): upper + 0.1})
    result, _ = run("joint_position_limit", bad, body)
    assert [tuple(s) for s in _spans(result.fail)] == [(10, 20)]
    assert result.worst == pytest.approx(0.1, abs=1e-9)
    inside = with_dofs(robot, stand, {("left_knee_joint", 10, 20): upper - 0.01})
    assert not run("joint_position_limit", inside, body)[0].failed


def test_joint_velocity_against_limit(robot, stand, body):
    j = dof(robot, "left_elbow_joint")
    limit = robot.velocity_limit[j]
    T = stand.num_frames
    ramp = np.zeros(T)
    ramp[20:24] = (np.arange(1, 5)) * 2.0 * limit / stand.fps        # 4 frames at 2x the limit
    ramp[24:] = ramp[23]
    fast = with_dofs(robot, stand, {("left_elbow_joint", 0, T): stand.dof_pos[:, j] + ramp})
    result, _ = run("joint_velocity", fast, body)
    assert result.failed and result.worst == pytest.approx(2.0, rel=1e-6)
    slow = with_dofs(robot, stand, {("left_elbow_joint", 0, T): stand.dof_pos[:, j] + ramp / 4.0})
    assert not run("joint_velocity", slow, body)[0].failed


def test_root_linear_speed(robot, stand, body):
    for speed, fires in ((8.0, True), (1.0, False)):
        root = stand.root_pos.copy()
        root[:, 0] = speed * np.arange(stand.num_frames) / stand.fps
        m = synthetic.motion(robot, root, stand.dof_pos)
        result, _ = run("root_linear_speed", m, body)
        assert result.failed is fires
        assert np.nanmax(result.value) == pytest.approx(speed, rel=1e-6)


def test_root_angular_speed(robot, stand, body):
    from scipy.spatial.transform import Rotation
    for rate, fires in ((15.0, True), (2.0, False)):
        yaw = rate * np.arange(stand.num_frames) / stand.fps
        rot = Rotation.from_euler("z", yaw[:, None]).as_quat()
        m = synthetic.motion(robot, stand.root_pos, stand.dof_pos, rot)
        result, _ = run("root_angular_speed", m, body)
        assert result.failed is fires
        assert np.nanmedian(result.value) == pytest.approx(rate, rel=1e-6)


def test_root_vertical_jump(robot, stand, body):
    root = stand.root_pos.copy()
    root[30:, 2] += 0.3                                    # teleport up 0.3 m in one frame: 9 m/s
    result, _ = run("root_vertical_jump", synthetic.motion(robot, root, stand.dof_pos), body)
    assert _spans(result.fail) == [(29, 31)] and result.worst == pytest.approx(9.0)
    smooth = stand.root_pos.copy()
    smooth[:, 2] += 0.1 * np.sin(np.arange(stand.num_frames) / stand.fps * 2 * np.pi)   # 0.63 m/s peak
    assert not run("root_vertical_jump", synthetic.motion(robot, smooth, stand.dof_pos), body)[0].failed


# ---------------------------------------------------------------- floor
def test_ground_penetration(robot, stand, body):
    root = stand.root_pos.copy()
    root[10:20, 2] -= 0.08
    result, _ = run("ground_penetration", synthetic.motion(robot, root, stand.dof_pos), body)
    assert _spans(result.fail) == [(10, 20)] and result.worst == pytest.approx(0.08, abs=1e-6)
    assert not run("ground_penetration", stand, body)[0].failed


def test_ground_penetration_sees_non_foot_bodies(robot, body):
    lying = synthetic.lying(robot)
    dof_pos = lying.dof_pos.copy()
    for leg in ("left", "right"):           # legs raised (hips flexed) so the feet are off the floor
        dof_pos[:, dof(robot, f"{leg}_hip_pitch_joint")] = -0.8
    root = lying.root_pos.copy()
    root[:, 2] -= 0.06                      # the back sinks into the floor
    m = synthetic.motion(robot, root, dof_pos, lying.root_rot)
    state = ClipState(m, body, S)
    assert state.sole_points[..., 2].min() > -0.04
    result = CHECKS["ground_penetration"](state, S.ground_penetration)
    assert result.fail.all() and result.worst == pytest.approx(0.06, abs=1e-6)


def test_non_foot_ground_contact(robot, body, stand):
    result, _ = run("non_foot_ground_contact", synthetic.lying(robot), body)
    assert result.fail.all() and result.worst == pytest.approx(0.0, abs=1e-6)
    ok, _ = run("non_foot_ground_contact", stand, body)
    assert not ok.failed and np.nanmin(ok.value) > 0.05


def test_ballistic_duration_formula():
    # up 0.3 m and down 0.3 m: 2 sqrt(2 * 0.3 / g)
    assert ballistic_duration(1.0, 1.3, 1.0) == pytest.approx(2 * np.sqrt(0.6 / GRAVITY))
    assert ballistic_duration(1.0, 1.0, 1.0) == 0.0


def test_floating_fires_when_hovering_not_when_jumping(robot, body):
    hover, _ = run("floating", synthetic.hovering(robot, 0.2, 1.0, 2.0), body)
    assert hover.failed
    # airborne 1 s; a ballistic flight rising and falling the 0.2 m lift lasts 2 sqrt(2 * 0.2 / g)
    assert hover.worst == pytest.approx(1.0 - 2 * np.sqrt(0.4 / GRAVITY), abs=0.1)
    jump, state = run("floating", synthetic.jumping(robot, flight_s=0.5), body)
    assert (~state.any_contact).sum() >= 8                   # it is airborne
    assert not jump.failed and abs(np.nanmax(jump.value)) < 0.1


def test_flight_momentum(robot, body):
    jump, state = run("flight_momentum", synthetic.jumping(robot, flight_s=0.6), body)
    assert np.isfinite(jump.value).sum() >= 8 and not jump.failed
    hover, _ = run("flight_momentum", synthetic.hovering(robot, 0.2, 1.0, 2.0), body)
    # hovering: the CoM does not accelerate, so |c_ddot - g| = g away from the lift/drop
    assert hover.failed
    assert np.nanmedian(hover.value) == pytest.approx(GRAVITY / S.flight_momentum.linear_tolerance_mps2, rel=0.02)


# ---------------------------------------------------------------- self-collision
def test_self_collision_arm_through_torso(robot, stand, body):
    # left arm swung across the chest (shoulder roll inwards, elbow bent): forearm inside the torso
    bad = with_dofs(robot, stand, {("left_shoulder_roll_joint", 20, 40): -1.2,
                                   ("left_shoulder_pitch_joint", 20, 40): -0.8,
                                   ("left_elbow_joint", 20, 40): 1.6})
    result, _ = run("self_collision", bad, body)
    assert result.failed and result.worst > S.self_collision.max_depth_m
    spans = _spans(result.fail)
    assert spans and spans[0][0] >= 20 and spans[-1][1] <= 40
    assert not run("self_collision", stand, body)[0].failed


# ---------------------------------------------------------------- dynamics
def test_zmp_formula_by_hand():
    com = np.array([[0.1, -0.2, 0.8]])
    m, a = 30.0, 2.0
    force = np.array([[m * a, 0.0, m * GRAVITY]])
    p = zmp(com, force, np.zeros((1, 3)))
    assert p[0] == pytest.approx([0.1 - 0.8 * a / GRAVITY, -0.2])


def test_zmp_formula_with_a_moment_about_the_com():
    # Place the floor force at a known point p on the floor with a torsion about z only: the moment
    # about the CoM is (p - c) x f + tau_z; the ZMP must give p back, both signs of n_x and n_y.
    com = np.array([[0.10, -0.20, 0.80], [-0.05, 0.30, 0.70]])
    force = np.array([[40.0, -25.0, 300.0], [-60.0, 15.0, 250.0]])
    point = np.array([[0.25, -0.10, 0.0], [-0.30, 0.12, 0.0]])
    moment = np.cross(point - com, force) + np.array([0.0, 0.0, 3.0])
    assert np.abs(moment[:, :2]).min() > 5.0              # a real moment about both horizontal axes
    assert zmp(com, force, moment) == pytest.approx(point[:, :2], abs=1e-12)


def test_zmp_of_swinging_arms_matches_inverse_dynamics(robot, stand, body):
    # Arms swinging about the shoulders' pitch axes change the angular momentum about the CoM
    # (n_y != 0). The ZMP from the centroidal wrench must equal the centre of pressure of the floor
    # wrench pinocchio's inverse dynamics asks of the free-flyer root, computed independently.
    t = np.arange(stand.num_frames) / stand.fps
    swing = 0.9 * np.sin(2 * np.pi * 1.5 * t)
    motion = with_dofs(robot, stand, {("left_shoulder_pitch_joint", 0, None): swing,
                                      ("right_shoulder_pitch_joint", 0, None): swing})
    state = ClipState(motion, body, S)
    com, _, _ = state.centroidal
    force, moment = state.contact_wrench
    p = zmp(com, force, moment)
    model, data = state.body.model, state.body.model.createData()
    v, a = state.va
    expected = np.empty((state.num_frames, 2))
    for k, q in enumerate(state.q_smooth):
        tau = pin.rnea(model, data, q, v[k], a[k])       # tau[:6]: root wrench, root frame, about its origin
        root = pin.XYZQUATToSE3(q[:7])                   # free-flyer frame in the world
        f_world = root.rotation @ tau[:3]
        n_origin = root.rotation @ tau[3:6] + np.cross(root.translation, f_world)   # about the world origin
        assert f_world == pytest.approx(force[k], rel=1e-9, abs=1e-6)
        expected[k] = [-n_origin[1] / f_world[2], n_origin[0] / f_world[2]]
    inner = slice(3, -3)
    assert np.abs(moment[inner, 1]).max() > 5.0          # N·m: the swing's moment is not negligible
    assert np.abs(p[inner, 0] - com[inner, 0]).max() > 0.02   # and it moves the ZMP off the CoM (m)
    assert p[inner] == pytest.approx(expected[inner], abs=1e-9)


def test_polygon_distance():
    hull = convex_hull(np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]))
    assert len(hull) == 4
    assert signed_distance_to_polygon(np.array([0.5, 0.5]), hull) == pytest.approx(-0.5)
    assert signed_distance_to_polygon(np.array([2.0, 0.5]), hull) == pytest.approx(1.0)
    assert signed_distance_to_polygon(np.array([0.5, 0.2]), convex_hull(np.array([[0, 0], [1, 0]]))) == \
        pytest.approx(0.2)


def test_static_zmp_is_com_projection(robot, stand, body):
    state = ClipState(stand, body, S)
    com, _, dh = state.centroidal
    data = robot.model.createData()
    expected = pin.centerOfMass(robot.model, data, state.q[0])
    assert com[0] == pytest.approx(expected, abs=1e-9)
    force, moment = state.contact_wrench
    assert force[:, 2] == pytest.approx(body.mass * GRAVITY, rel=1e-9)
    p = zmp(com, force, moment)
    assert np.abs(p - com[:, :2]).max() < 1e-9
    # inside both feet's support polygon
    assert np.nanmax(support_distance(state)) < 0


def test_constant_acceleration_zmp_offset(robot, body):
    a = 3.0
    m = synthetic.accelerating(robot, a)
    state = ClipState(m, body, S)
    com, _, _ = state.centroidal
    force, moment = state.contact_wrench
    p = zmp(com, force, moment)
    inner = slice(6, -6)
    expected = com[inner, 0] - com[inner, 2] * a / GRAVITY
    assert p[inner, 0] == pytest.approx(expected, abs=1e-6)
    assert p[inner, 1] == pytest.approx(com[inner, 1], abs=1e-6)
    # 3 m/s² puts the ZMP ~0.2 m behind the CoM: outside the feet
    result = CHECKS["zmp_outside_support"](state, S.zmp_outside_support)
    assert result.failed and result.worst > S.zmp_outside_support.margin_m
    gentle = ClipState(synthetic.accelerating(robot, 0.3), body, S)
    assert not CHECKS["zmp_outside_support"](gentle, S.zmp_outside_support).failed


def test_static_torques_are_gravity_torques(robot, stand, body):
    state = ClipState(stand, body, S)
    tau, residual = joint_torques(state, S.joint_torque)
    g = pin.computeGeneralizedGravity(robot.model, robot.model.createData(), state.q[0])
    # the floor carries the robot: nothing is left for the unactuated root
    assert np.abs(residual).max() < 1e-2 * body.mass * GRAVITY
    # joints above the pelvis do not see the foot forces: their torque is the gravity torque
    upper = [i for i, n in enumerate(robot.dof_names) if not ("hip" in n or "knee" in n or "ankle" in n)]
    assert tau[:, upper] == pytest.approx(np.tile(g[6:][upper], (len(tau), 1)), abs=1e-6)


def test_elbow_gravity_torque_by_hand(robot, body):
    """Forearm horizontal (upper arm down, G1's elbow at 0 points the forearm forward):
    elbow torque = minus gravity's moment of the forearm links about the elbow axis."""
    q = robot.default_pose.copy()
    q[dof(robot, "left_shoulder_pitch_joint")] = 0.0
    q[dof(robot, "left_shoulder_roll_joint")] = 0.0
    q[dof(robot, "left_elbow_joint")] = 0.0
    m = synthetic.standing(robot, seconds=1.0, dof_pos=q)
    state = ClipState(m, body, S)
    tau, _ = joint_torques(state, S.joint_torque)
    model = robot.model
    data = model.createData()
    pin.forwardKinematics(model, data, state.q[0])
    elbow = model.getJointId("left_elbow_joint")
    axis = data.oMi[elbow].rotation @ np.array([0.0, 1.0, 0.0])
    origin = data.oMi[elbow].translation
    moment = 0.0
    for j in range(elbow, model.njoints):            # the elbow's subtree (the forearm and the hand)
        k = j
        while k > elbow:
            k = model.parents[k]
        if k != elbow:
            continue
        inertia = model.inertias[j]
        c = data.oMi[j].act(inertia.lever)
        weight = np.array([0.0, 0.0, -inertia.mass * GRAVITY])
        moment += np.cross(c - origin, weight) @ axis
    # joint torque balances gravity's moment about the axis
    assert tau[0, dof(robot, "left_elbow_joint")] == pytest.approx(-moment, abs=1e-6)
    assert abs(moment) > 0.3                          # the forearm is really loaded


def test_joint_torque_fires_on_weak_robot(robot, stand, body):
    weak = dataclasses.replace(body, effort_limit=body.effort_limit * 0.02)
    result, _ = run("joint_torque", stand, weak)
    assert result.failed and result.worst > 1.0
    ok, _ = run("joint_torque", stand, body)
    assert not ok.failed and np.nanmax(ok.value) < 0.5


def _spans(mask):
    from core.contacts import spans_of
    return spans_of(mask)


def test_batched_and_pinocchio_forward_kinematics_agree(robot, body):
    m = synthetic.jumping(robot, flight_s=0.4, seconds=1.5)
    q = m.dof_pos.copy()
    q[:, dof(robot, "left_shoulder_pitch_joint")] = np.linspace(-1.0, 1.0, len(q))
    m = synthetic.motion(robot, m.root_pos, q)
    batched = ClipState(m, body, S).frame_poses
    looped = ClipState(m, dataclasses.replace(body, robot=None), S).frame_poses
    assert np.abs(batched[0] - looped[0]).max() < 1e-9 and np.abs(batched[1] - looped[1]).max() < 1e-9


def _single_support_pose(robot, body):
    """Right foot lifted, left leg adducted (hip roll) with the ankle roll keeping the sole flat, so that the
    CoM sits over the left sole: returns the joint positions and the static motion."""
    best = None
    for delta in np.linspace(0.0, 0.3, 31):
        q = robot.default_pose.copy()
        q[dof(robot, "right_hip_pitch_joint")] = -0.8
        q[dof(robot, "right_knee_joint")] = 1.4
        q[dof(robot, "right_ankle_pitch_joint")] = -0.6            # right sole level, lifted
        q[dof(robot, "left_hip_roll_joint")] = -delta
        q[dof(robot, "left_ankle_roll_joint")] = delta
        m = synthetic.standing(robot, seconds=1.0, dof_pos=q)
        state = ClipState(m, body, S)
        com = state.centroidal[0][0]
        sole = state.sole_points[0, 0].mean(axis=0)
        err = abs(com[1] - sole[1])
        if best is None or err < best[0]:
            best = (err, q, m, abs(com[0] - sole[0]))
    return best


def test_single_support_leg_torques_by_hand(robot, body):
    """One foot on the floor, static: the floor wrench on it is fixed (weight through the CoM), so
    tau = g(q) - J_foot^T [m g e_z; (c - o_foot) x m g e_z] exactly, whatever the corner forces."""
    err, q, m, err_x = _single_support_pose(robot, body)
    assert err < 0.02 and err_x < 0.06                            # the CoM is over the left sole
    state = ClipState(m, body, S)
    points, _, touching = state.contact_points
    assert touching[0, :4].all() and not touching[0, 4:8].any()     # left sole down, right lifted
    tau, residual = joint_torques(state, S.joint_torque)
    assert np.abs(residual[0]).max() < 1e-3 * body.mass * GRAVITY
    model = robot.model
    data = model.createData()
    qf = state.q[0]
    g = pin.computeGeneralizedGravity(model, data, qf)
    pin.computeJointJacobians(model, data, qf)
    pin.updateFramePlacements(model, data)
    fid = robot.frame_id(robot.config.foot_frames[0])
    J = pin.getFrameJacobian(model, data, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
    origin = data.oMf[fid].translation
    force = np.array([0.0, 0.0, body.mass * GRAVITY])
    com = pin.centerOfMass(model, data, qf)
    wrench = np.concatenate([force, np.cross(com - origin, force)])
    expected = (g - J.T @ wrench)[6:]
    assert np.abs(expected[:6]).max() > 1.0                      # the stance leg is really loaded
    assert tau[0] == pytest.approx(expected, abs=1e-3)


def test_other_robot_h1():
    """Nothing in the filter is G1-specific: H1 standing passes, H1 hovering floats."""
    h1 = load_robot("h1")
    from stages.filter.api import filter_motion
    assert filter_motion(synthetic.standing(h1, seconds=2.0), h1).verdict == "pass"
    verdict = filter_motion(synthetic.hovering(h1, 0.3, 0.2, 1.8, seconds=2.0), h1)
    assert verdict.verdict == "reject"
    # lifted within one frame: a root teleport first, and floating while up
    assert [r.code for r in verdict.reasons][:2] == ["root_vertical_jump", "floating"]


def test_self_collision_judges_the_demanded_penetration(stand, body):
    """A clean robot whose targets demanded 5 cm of penetration on frames 20-39 fails there (the value is the
    demand less its allowance); 3.5 cm demanded passes; a file without the array is judged on the robot alone."""
    T = stand.num_frames
    s = S.self_collision
    for depth, fires in ((0.05, True), (0.035, False)):
        demand = np.zeros(T)
        demand[20:40] = depth
        m = dataclasses.replace(stand, target_penetration=demand)
        result, _ = run("self_collision", m, body)
        assert result.failed == fires
        assert np.nanmax(result.value) == pytest.approx(depth - s.demanded_allowance_m, abs=1e-9)
        if fires:
            assert _spans(result.fail) == [(20, 40)]
    off = Settings(self_collision=dataclasses.replace(s, demanded=False))
    result, _ = run("self_collision", dataclasses.replace(stand, target_penetration=np.full(T, 0.2)), body, off)
    assert not result.failed
    result, _ = run("self_collision", dataclasses.replace(stand, target_penetration=None), body)
    assert not result.failed and np.nanmax(result.value) < 0.0

"""Unit tests of the retarget stage's pieces (geometry helpers, solver, metrics)."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest
from scipy.spatial.transform import Rotation

from core.robot import load_robot
from stages.retarget.contacts import fill_gaps
from stages.retarget.ik import DiffIK, FrameTargets, SolverSettings, converge_pink, log3
from stages.retarget.metrics import evaluate
from stages.retarget.targets import frame_from_lateral_up, two_bone


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def _ik(robot, settings=SolverSettings()):
    frames = tuple(t.frame for t in robot.config.keypoint_tasks)
    feet = np.array([frames.index(f) for f in robot.config.foot_frames])
    corners = np.stack([robot.config.sole(f).corners() for f in robot.config.foot_frames])
    return DiffIK(robot, frames, feet, corners, settings), frames


def _random_q(robot, rng, spread=0.4):
    q = pin.neutral(robot.model)
    q[:3] = [0.3, -0.2, 0.9]
    q[3:7] = Rotation.from_euler("zyx", rng.uniform(-0.3, 0.3, 3)).as_quat()
    q[7:] = np.clip(robot.default_pose + rng.uniform(-spread, spread, robot.num_dofs), robot.lower, robot.upper)
    return q


def _targets_at(ik, q, weights=1.0):
    ik.placements(q)
    M = ik.M
    return FrameTargets(ik.Hm[:, :3, 3].copy(), ik.Hm[:, :3, :3].copy(), np.full(M, weights), np.full(M, weights))


def test_log3_matches_scipy():
    rng = np.random.default_rng(1)
    rv = rng.normal(size=(50, 3))
    rv *= (rng.uniform(0.0, 3.0, 50) / np.linalg.norm(rv, axis=1))[:, None]
    mats = Rotation.from_rotvec(rv).as_matrix()
    np.testing.assert_allclose(log3(mats), rv, atol=1e-7)


def test_frame_from_lateral_up_is_a_rotation_keeping_lateral():
    rng = np.random.default_rng(2)
    lat = rng.normal(size=(20, 3))
    up = rng.normal(size=(20, 3))
    R = frame_from_lateral_up(lat, up)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    np.testing.assert_allclose(R[:, :, 1], lat / np.linalg.norm(lat, axis=1, keepdims=True), atol=1e-12)
    # z is on the side of "up"
    assert np.all(np.einsum("ti,ti->t", R[:, :, 2], up) > 0)


def test_two_bone_keeps_lengths_and_bends_towards_hint():
    root = np.zeros((3, 3))
    end = np.array([[0.0, 0.0, -0.5], [0.0, 0.0, -0.7], [0.1, 0.0, -0.2]])
    hint = np.array([[1.0, 0.0, -0.3]] * 3)
    mid = two_bone(root, end, 0.35, 0.3, hint)
    np.testing.assert_allclose(np.linalg.norm(mid - root, axis=1), 0.35, atol=1e-9)
    reachable = np.linalg.norm(end, axis=1) <= 0.65
    np.testing.assert_allclose(np.linalg.norm(end - mid, axis=1)[reachable], 0.3, atol=1e-9)
    assert np.all(mid[:, 0] >= -1e-12)                 # bends towards +x like the hint


def test_fill_gaps_only_fills_short_gaps():
    m = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    out = fill_gaps(m, 2)
    assert out.tolist() == [True, True, True, True, True, False, False, False, True, False]


def test_stacked_solver_reaches_reachable_targets_like_pink(g1):
    """Targets from FK of a random configuration: both the stacked QP and pink itself converge."""
    rng = np.random.default_rng(3)
    st = SolverSettings(ground=False, self_collision=False, first_frame_iterations=300)
    ik, frames = _ik(g1, st)
    goal = _random_q(g1, rng)
    tg = _targets_at(ik, goal)
    start = goal.copy()
    start[7:] = np.clip(goal[7:] + rng.uniform(-0.2, 0.2, g1.num_dofs), g1.lower, g1.upper)
    q = start
    for _ in range(30):
        q = ik.integrate(q, ik.step(q, tg, None, 1.0, constraints=False))
    ik.placements(q)
    assert np.max(np.linalg.norm(ik.Hm[:, :3, 3] - tg.pos, axis=1)) < 2e-3
    q_pink = converge_pink(g1, frames, tg, start, st)
    ik.placements(q_pink)
    assert np.max(np.linalg.norm(ik.Hm[:, :3, 3] - tg.pos, axis=1)) < 2e-3


def test_limits_hold_for_unreachable_targets(g1):
    """Targets far out of reach: joints stay in their limits and within the velocity limit per frame."""
    rng = np.random.default_rng(4)
    ik, _ = _ik(g1)
    q = _random_q(g1, rng, 0.1)
    tg = _targets_at(ik, q)
    far = FrameTargets(tg.pos + rng.normal(scale=0.8, size=tg.pos.shape), tg.rot, tg.pos_w, tg.rot_w)
    dt = 1.0 / 30.0
    for _ in range(20):
        q_new = ik.solve_frame(q, far, dt)
        assert np.all(q_new[7:] >= g1.lower - 1e-9) and np.all(q_new[7:] <= g1.upper + 1e-9)
        assert np.all(np.abs(q_new[7:] - q[7:]) <= g1.velocity_limit * dt + 1e-6)
        q = q_new


def test_ground_rows_keep_soles_above_floor(g1):
    """A foot target 10 cm below the floor: the sole corners stop at z = 0."""
    rng = np.random.default_rng(5)
    ik, frames = _ik(g1)
    q = _random_q(g1, rng, 0.05)
    q[3:7] = [0, 0, 0, 1]
    ik.placements(q)
    lowest = min(float((ik.Hm[m, :3, :3] @ c + ik.Hm[m, :3, 3])[2])
                 for m in ik.foot_index for c in ik.sole_corners[list(ik.foot_index).index(m)])
    q[2] -= lowest                                          # lowest sole corner on the floor
    tg = _targets_at(ik, q)
    pos = tg.pos.copy()
    pos[ik.foot_index, 2] -= 0.1
    tg = FrameTargets(pos, tg.rot, tg.pos_w, tg.rot_w)
    for _ in range(10):
        q = ik.solve_frame(q, tg, 1.0 / 30.0)
    ik.placements(q)
    z = [float((ik.Hm[m, :3, :3] @ c + ik.Hm[m, :3, 3])[2]) for s, m in enumerate(ik.foot_index)
         for c in ik.sole_corners[s]]
    assert min(z) > -2e-3


def test_metrics_count_limit_violations_and_slide(g1):
    T = 40
    fps = 30.0
    root_pos = np.tile([0.0, 0.0, 0.8], (T, 1))
    root_pos[:, 0] = np.linspace(0.0, 0.4, T)               # the whole robot glides 0.3 m/s
    root_rot = np.tile([0.0, 0.0, 0.0, 1.0], (T, 1))
    dof = np.tile(g1.default_pose, (T, 1))
    dof[5, 19] = g1.upper[19] + 0.1                          # one wrist beyond its limit
    human = np.zeros((T, 18, 3))
    human[..., 2] = np.linspace(0.0, 1.7, 18)
    contacts = np.ones((T, 2), dtype=bool)
    m = evaluate(g1, fps, root_pos, root_rot, dof, human, contacts, 0.75)
    assert m["joint_limit_violations"] == 1.0
    assert m["joint_limit_excess_max_rad"] == pytest.approx(0.1, abs=1e-9)
    assert m["lock_slide_cm_s"] == pytest.approx(100 * 0.4 / (T - 1) * fps, rel=1e-6)
    assert m["velocity_limit_excess_max"] == 0.0              # 0.1 rad in one frame is slow enough
    dof[20:, 3] += 2.0                                        # knee jumps 2 rad in one frame: 30 rad/s
    m = evaluate(g1, fps, root_pos, root_rot, dof, human, contacts, 0.75)
    assert m["velocity_limit_excess_max"] == pytest.approx(30.0 / g1.velocity_limit[3] - 1.0, rel=1e-6)
    assert m["velocity_limit_frames_frac"] == pytest.approx(2 / T)


def test_self_penetration_matches_all_pairs(g1):
    """The broad-phase shortcut of the metric gives the same depths as checking every pair."""
    from stages.retarget.metrics import self_penetration, trajectory_poses

    rng = np.random.default_rng(7)
    qs = np.stack([_random_q(g1, rng, 1.5) for _ in range(200)])
    col = g1.collision
    pos, rot = trajectory_poses(g1, qs, list(col.frames))
    ref = np.maximum(0.0, -col.pair_distances(pos, rot).signed.min(axis=1))
    got = self_penetration(col, pos, rot)
    assert (ref > 0.01).sum() > 10                             # the random poses do collide
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_foot_contact_marks_a_lying_shin_and_rejects_a_fast_foot():
    """Both feet rest on the floor; the left shin is upright, the right lies flat: both touch the
    floor, only the left stands upright (the targets hold it firmly); a fast foot is no contact."""
    from stages.retarget.contacts import detect_foot_contacts, human_foot_contacts

    T = 30
    kp = {
        "left_ankle": np.tile([0.0, 0.1, 0.08], (T, 1)), "left_toe": np.tile([0.15, 0.1, 0.02], (T, 1)),
        "left_knee": np.tile([0.02, 0.1, 0.5], (T, 1)),
        "right_ankle": np.tile([0.0, -0.1, 0.08], (T, 1)), "right_toe": np.tile([0.15, -0.1, 0.02], (T, 1)),
        "right_knee": np.tile([-0.42, -0.1, 0.1], (T, 1)),
    }
    fc = detect_foot_contacts(kp, 30.0, 0.0)
    assert fc.locked.all() and fc.upright[:, 0].all() and not fc.upright[:, 1].any()
    kp["left_ankle"] = kp["left_ankle"] + np.linspace(0, 1, T)[:, None] * [3.0, 0.0, 0.0]   # sliding fast: no contact
    kp["left_toe"] = kp["left_toe"] + np.linspace(0, 1, T)[:, None] * [3.0, 0.0, 0.0]
    assert not human_foot_contacts(kp, 30.0, 0.0)[:, 0].any()


def test_capsule_weights_follow_limb_targets_only(g1):
    """Limb capsules move with their limb targets (weights summing to 1, blended between elbow and wrist);
    the trunk, hips and shoulders stay where they were solved, the upper arm moves part of the elbow's way."""
    from stages.retarget.demand import capsule_frame_weights, limb_task_mask

    tasks = g1.config.keypoint_tasks
    frames = tuple(t.frame for t in tasks)
    W = capsule_frame_weights(g1, frames, limb_task_mask(tuple(t.human for t in tasks)))
    cap = {f: W[i] for i, f in enumerate(g1.collision.frames)}
    for f in ("pelvis", "torso_link", "head_link", "left_shoulder_roll_link", "left_hip_pitch_link"):
        assert not cap[f].any(), f
    upper_arm = cap["left_shoulder_yaw_link"]                 # between the (fixed) shoulder and the elbow
    assert upper_arm.sum() == pytest.approx(upper_arm[frames.index("left_elbow_link")]) and 0 < upper_arm.sum() < 1
    assert cap["left_elbow_link"][frames.index("left_elbow_link")] == 1.0
    assert cap["left_rubber_hand"][frames.index("left_wrist_yaw_link")] == 1.0
    roll = cap["left_wrist_roll_link"]
    assert roll.sum() == pytest.approx(1.0) and 0.0 < roll[frames.index("left_elbow_link")] < 1.0
    assert cap["right_knee_link"][frames.index("right_knee_link")] == 1.0


def test_target_penetration_measures_the_demand_not_the_solution(g1):
    """Standing robot, targets at its own frames: no demand. Moving the left wrist target 20 cm towards the torso
    core demands a penetration equal to the overlap of the moved hand capsules with the torso capsules."""
    from stages.retarget.demand import capsule_frame_weights, limb_task_mask, target_penetration
    from stages.retarget.metrics import metric_frames, self_penetration, trajectory_poses

    tasks = g1.config.keypoint_tasks
    task_frames = tuple(t.frame for t in tasks)
    keypoints = tuple(t.human for t in tasks)
    q = pin.neutral(g1.model)
    q[2] = 0.78
    q[7:] = g1.default_pose
    frames = metric_frames(g1)
    pos, rot = trajectory_poses(g1, q[None], frames)
    fi = {f: i for i, f in enumerate(frames)}
    tgt = pos[:, [fi[f] for f in task_frames]].copy()
    assert target_penetration(g1, task_frames, keypoints, tgt, frames, pos, rot)[0] == pytest.approx(0.0)
    w = task_frames.index("left_wrist_yaw_link")
    torso = pos[0, fi["torso_link"]]
    shift = np.array([torso[0], torso[1], tgt[0, w, 2]]) - tgt[0, w]
    tgt[0, w] += shift * min(1.0, 0.2 / np.linalg.norm(shift))
    got = target_penetration(g1, task_frames, keypoints, tgt, frames, pos, rot)[0]
    W = capsule_frame_weights(g1, task_frames, limb_task_mask(keypoints))
    cap = [fi[f] for f in g1.collision.frames]
    moved = pos[:, cap] + np.einsum("cm,tmi->tci", W, tgt - pos[:, [fi[f] for f in task_frames]])
    assert got > 0.03 and got == pytest.approx(self_penetration(g1.collision, moved, rot[:, cap])[0])


def test_robot_motion_round_trip_with_and_without_target_penetration(g1, tmp_path):
    """``target_penetration`` survives save/load; files written without it load with None."""
    import dataclasses

    from core.npzio import load_npz, save_npz
    from core.records.robot_motion import RobotMotion
    from stages.filter.synthetic import standing

    m = standing(g1, seconds=1.0)
    demand = np.linspace(0.0, 0.05, m.num_frames)
    with_demand = dataclasses.replace(m, target_penetration=demand)
    arrays, meta = with_demand.to_arrays()
    assert np.array_equal(RobotMotion.from_arrays(arrays, meta).target_penetration, demand)
    with_demand.save(tmp_path / "a.npz")
    assert np.array_equal(RobotMotion.load(tmp_path / "a.npz").target_penetration, demand)
    arrays, meta = dataclasses.replace(m, target_penetration=None).to_arrays()
    assert "target_penetration" not in arrays
    save_npz(tmp_path / "old.npz", arrays, meta)
    old = RobotMotion.load(tmp_path / "old.npz")
    assert old.target_penetration is None and np.array_equal(old.dof_pos, m.dof_pos)
    assert set(load_npz(tmp_path / "old.npz")[0]) == set(arrays)


def test_demanded_joint_speed_of_a_hand_made_elbow_swing():
    """An elbow opening and closing by 1 rad every frame at 30 fps demands 30 rad/s: 30/37 of G1's elbow limit;
    a still pose demands nothing."""
    from core.records.keypoints import KEYPOINT_NAMES
    from core.robot import load_robot
    from stages.retarget.demand import demanded_joint_speed

    robot = load_robot("g1")
    T = 12
    kp = {n: np.zeros((T, 3)) for n in KEYPOINT_NAMES}
    for side, y in (("left", 0.2), ("right", -0.2)):
        kp[f"{side}_hip"][:] = (0, y / 2, 0.9)
        kp[f"{side}_knee"][:] = (0, y / 2, 0.5)
        kp[f"{side}_ankle"][:] = (0, y / 2, 0.1)
        kp[f"{side}_shoulder"][:] = (0, y, 1.4)
        kp[f"{side}_elbow"][:] = (0, y, 1.1)
        kp[f"{side}_wrist"][:] = (0, y, 0.8)
    kp["pelvis"][:] = (0, 0, 0.95)
    kp["spine"][:] = (0, 0, 1.15)
    kp["neck"][:] = (0, 0, 1.45)
    still = np.stack([kp[n] for n in KEYPOINT_NAMES], axis=1)
    assert demanded_joint_speed(still, KEYPOINT_NAMES, 30.0, robot).max() == pytest.approx(0.0, abs=1e-6)
    bent = np.arange(T) % 2 == 1              # forearm swings forward by 1 rad on odd frames
    kp["left_wrist"][bent] = (0.3 * np.sin(1.0), 0.2, 1.1 - 0.3 * np.cos(1.0))
    swing = np.stack([kp[n] for n in KEYPOINT_NAMES], axis=1)
    demand = demanded_joint_speed(swing, KEYPOINT_NAMES, 30.0, robot)
    assert demand == pytest.approx(np.full(T, 30.0 / 37.0), rel=1e-6)


def test_limb_pairs_and_stance_weights(g1):
    from stages.retarget.targets import limb_pairs, limb_weights

    names = tuple(t.human for t in g1.config.keypoint_tasks)
    pairs = limb_pairs(names)
    got = {(names[p], names[c]) for p, c in pairs}
    assert got == {(f"{s}_{a}", f"{s}_{b}") for s in ("left", "right")
                   for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"))}
    lock = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]])
    w = limb_weights(names, pairs, lock, 0.5)
    for limb, (p, c) in enumerate(pairs):
        child = names[c]
        if child in ("left_knee", "left_ankle"):
            np.testing.assert_allclose(w[:, limb], [1.0, 0.5, 0.75])
        elif child in ("right_knee", "right_ankle"):
            np.testing.assert_allclose(w[:, limb], [1.0, 1.0, 0.5])
        else:
            np.testing.assert_allclose(w[:, limb], 1.0)
    # where the body lies or kneels (Targets.limb_gain): each leg by its side, the arms by the larger side
    gain = np.array([[1.0, 1.0], [1.6, 1.0], [1.3, 1.6]])
    g = limb_weights(names, pairs, lock, 0.5, gain)
    for limb, (p, c) in enumerate(pairs):
        child = names[c]
        if child in ("left_knee", "left_ankle"):
            np.testing.assert_allclose(g[:, limb], [1.0, 0.8, 0.975])
        elif child in ("right_knee", "right_ankle"):
            np.testing.assert_allclose(g[:, limb], [1.0, 1.0, 0.8])
        else:
            np.testing.assert_allclose(g[:, limb], [1.0, 1.6, 1.6])


def test_limb_tasks_keep_limb_directions_when_a_parent_is_out_of_reach(g1):
    """Targets of a pose bent 0.5 rad beyond the waist's pitch limit: the torso and shoulders cannot follow.
    With position tasks only the arms reach for their displaced elbow and wrist targets and tilt; the limb
    tasks keep the upper arm and forearm directions of the targets."""
    from stages.retarget.targets import limb_pairs

    frames = tuple(t.frame for t in g1.config.keypoint_tasks)
    names = tuple(t.human for t in g1.config.keypoint_tasks)
    pairs = limb_pairs(names)
    waist = 7 + list(g1.dof_names).index("waist_pitch_joint")
    errors = {}
    for weight in (0.0, 2.0):
        ik, _ = _ik(g1, SolverSettings(limb_direction_weight=weight))
        ik = DiffIK(g1, frames, ik.foot_index, ik.sole_corners, ik.settings, limbs=pairs)
        q_true = _random_q(g1, np.random.default_rng(5), spread=0.2)
        q_true[waist] = g1.upper[waist - 7] + 0.5                       # beyond the limit
        tg = _targets_at(ik, q_true)
        tg = FrameTargets(tg.pos, tg.rot, np.array([t.position_weight for t in g1.config.keypoint_tasks]),
                          np.array([t.orientation_weight for t in g1.config.keypoint_tasks]))
        q = q_true.copy()
        q[7:] = np.clip(q[7:], g1.lower, g1.upper)
        for _ in range(30):
            q = ik.integrate(q, ik.step(q, tg, None, 1.0, constraints=False))
        ik.placements(q)
        x = ik.Hm[:, :3, 3]
        ang = []
        for p, c in pairs:
            if names[c].endswith(("elbow", "wrist")):
                u, v = x[c] - x[p], tg.pos[c] - tg.pos[p]
                ang.append(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))
        errors[weight] = float(np.mean(ang))
    assert errors[2.0] < 0.5 * errors[0.0] and errors[0.0] > 2.0, errors

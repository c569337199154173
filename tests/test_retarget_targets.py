"""The named steps of stages/retarget/targets.py:build_targets, each on its own, and the whole on the G1."""

from __future__ import annotations

import numpy as np
import pytest

from core.records.keypoints import KEYPOINT_NAMES
from stages.retarget import targets as tg
from stages.retarget.contacts import FLAT, SWING, FootContacts

FPS = 30.0


@pytest.fixture(scope="module")
def g1():
    from core.robot import load_robot

    return load_robot("g1")


def test_floor_relative_keypoints_put_the_floor_at_zero_and_smooth():
    T = 41
    kp = np.zeros((T, len(KEYPOINT_NAMES), 3))
    kp[..., 2] = 0.3
    kp[20, 0, 2] = 1.3                                   # a one-frame spike on the pelvis
    out = tg.floor_relative_keypoints(kp, FPS, 0.3, smoothing_s=0.0)
    assert out["pelvis"][20, 2] == pytest.approx(1.0) and out["left_toe"][0, 2] == 0.0
    smooth = tg.floor_relative_keypoints(kp, FPS, 0.3, smoothing_s=0.05)
    assert 0.0 < smooth["pelvis"][20, 2] < 0.5            # spread over its neighbours
    assert smooth["pelvis"][:, 2].sum() == pytest.approx(1.0, abs=1e-9)


def test_foot_keypoints_need_the_pelvis_and_both_feet(g1):
    tasks = g1.config.keypoint_tasks
    feet = tuple(g1.config.foot_frames)
    assert tg.foot_keypoints(tasks, feet) == ["left_ankle", "right_ankle"]
    with pytest.raises(ValueError, match="pelvis"):
        tg.foot_keypoints(tuple(t for t in tasks if t.human != "pelvis"), feet)
    with pytest.raises(ValueError, match="foot frame"):
        tg.foot_keypoints(tuple(t for t in tasks if t.frame != feet[1]), feet)


def test_ground_shift_puts_contact_soles_on_the_floor_and_bridges_flights():
    T = 60
    low = np.full((T, 2), 0.05)
    low[:, 1] = 0.30                                     # the right foot is up in the air
    contacts = np.zeros((T, 2), dtype=bool)
    contacts[:20, 0] = contacts[40:, 0] = True
    low[40:, 0] = 0.07
    shift = tg.ground_shift(low, contacts, FPS, smoothing_s=0.0)
    np.testing.assert_allclose(shift[:20], 0.05)
    np.testing.assert_allclose(shift[40:], 0.07)
    assert np.all(np.diff(shift[19:41]) > 0)              # interpolated across the flight
    assert np.all(tg.ground_shift(low, np.zeros((T, 2), dtype=bool), FPS, 0.1) == 0.0)


def test_lock_weight_ramps_around_contact():
    g = np.zeros(12, dtype=bool)
    g[4:8] = True
    w = tg.lock_weight(g, 3)
    np.testing.assert_allclose(w, [0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0])
    assert tg.lock_weight(np.ones(5, dtype=bool), 3).tolist() == [1.0] * 5
    assert tg.lock_weight(np.zeros(5, dtype=bool), 3).tolist() == [0.0] * 5


def test_pelvis_drift_takes_one_held_foot_fully_and_two_on_average():
    T = 200
    chain = [np.zeros((T, 3)), np.zeros((T, 3))]
    feet = [np.zeros((T, 3)), np.zeros((T, 3))]
    feet[0][:, 0] = 0.10                                 # left anchor 10 cm ahead of its chain foot
    feet[1][:, 0] = -0.02
    w_left = np.ones(T)
    w_right = np.zeros(T)
    w_right[100:] = 1.0
    d = tg.pelvis_drift(feet, chain, [w_left, w_right], FPS, smoothing_s=0.0)
    np.testing.assert_allclose(d[:100, 0], 0.10)
    np.testing.assert_allclose(d[100:, 0], 0.04)
    assert np.all(d[:, 1:] == 0.0)
    far = tg.pelvis_drift(feet, chain, [np.zeros(T), w_right], FPS, smoothing_s=0.1)
    assert abs(far[10, 0]) < 1e-9 and far[150, 0] == pytest.approx(-0.02)


def test_lift_above_floor_skips_the_feet(g1):
    tasks = g1.config.keypoint_tasks
    pos = {t.human: np.zeros((3, 3)) for t in tasks}
    clearance = {t.frame: 0.1 for t in tasks}
    out = tg.lift_above_floor(pos, tasks, ["left_ankle", "right_ankle"], clearance)
    assert out["pelvis"][:, 2].tolist() == [0.1] * 3
    assert out["left_ankle"][:, 2].tolist() == [0.0] * 3


def test_build_targets_on_a_standing_human(g1):
    """A still, standing human: feet planted flat, soles on the floor, the foot weights raised,
    the knees bent towards the human's and every target finite; the steps compose."""
    from stages.retarget.api import frame_clearance
    from stages.retarget.scaling import compute_scaling, rest_pose

    cfg = g1.config
    T = 30
    frames = list(dict.fromkeys([t.frame for t in cfg.keypoint_tasks] + list(cfg.foot_frames)
                                + [f for rule in cfg.scale_segments for f in rule.robot]))
    rest = rest_pose(g1.model, {f: g1.frame_id(f) for f in frames}, np.zeros(g1.num_dofs))
    frame_of = {t.human: t.frame for t in cfg.keypoint_tasks}
    # the human: the robot's own rest pose scaled by 1/0.75, standing on z = 0
    one = np.zeros((len(KEYPOINT_NAMES), 3))
    for i, n in enumerate(KEYPOINT_NAMES):
        if n in frame_of:
            one[i] = rest.position(frame_of[n])
    one[KEYPOINT_NAMES.index("left_toe")] = one[KEYPOINT_NAMES.index("left_ankle")] + [0.15, 0.0, -0.05]
    one[KEYPOINT_NAMES.index("right_toe")] = one[KEYPOINT_NAMES.index("right_ankle")] + [0.15, 0.0, -0.05]
    one = one / 0.75
    one[:, 2] -= one[:, 2].min()
    kp = np.tile(one, (T, 1, 1))
    scaling = compute_scaling(kp, rest, frame_of, cfg.scale_segments)
    planted = np.ones((T, 2, 2), dtype=bool)
    fc = FootContacts(planted=planted, grounded=np.ones((T, 2), dtype=bool), rest_height=np.zeros((2, 2)),
                      upright=np.ones((T, 2), dtype=bool))
    assert (fc.mode == FLAT).all()
    corners = tuple(cfg.sole(f).corners() for f in cfg.foot_frames)
    out = tg.build_targets(kp, FPS, 0.0, fc, cfg.keypoint_tasks, rest, scaling, tuple(cfg.foot_frames), corners,
                           clearance=frame_clearance(g1))
    assert np.all(np.isfinite(out.pos)) and out.locked.all()
    for s in (0, 1):
        m = out.foot_index[s]
        low = tg._lowest_corner(out.pos[:, m], out.rot[:, m], corners[s])
        np.testing.assert_allclose(low, 0.0, atol=1e-6)                     # soles on the floor
        np.testing.assert_allclose(np.diff(out.pos[:, m], axis=0), 0.0, atol=1e-9)   # and still
    base = np.array([t.position_weight for t in cfg.keypoint_tasks])
    st = tg.TargetSettings()
    assert out.pos_weight[0, out.foot_index[0]] == pytest.approx(st.contact_weight_gain * base[out.foot_index[0]])
    rot_base = np.array([t.orientation_weight for t in cfg.keypoint_tasks])
    assert out.rot_weight[0, out.foot_index[0]] == pytest.approx(st.contact_rot_weight_gain * rot_base[out.foot_index[0]])
    # a (T, 2) mask is read as both points planted; nothing planted = swing everywhere
    none = tg.as_foot_contacts(np.zeros((T, 2), dtype=bool))
    assert (none.mode == SWING).all()


def test_fit_legs_lowers_the_pelvis_to_a_held_foot_and_keeps_segment_lengths(g1):
    """A held foot 10 cm below the straight leg's reach: the pelvis comes down (smoothly) so the
    foot is reached; the knee lies at the robot's thigh length from the hip."""
    from stages.retarget.scaling import rest_pose

    cfg = g1.config
    frame_of = {t.human: t.frame for t in cfg.keypoint_tasks}
    frames = list(dict.fromkeys(frame_of.values()))
    rest = rest_pose(g1.model, {f: g1.frame_id(f) for f in frames}, np.zeros(g1.num_dofs))
    T = 30
    kp = {n: np.tile(rest.position(frame_of[n]) if n in frame_of else np.zeros(3), (T, 1)) for n in KEYPOINT_NAMES}
    est = {k: np.tile(np.eye(3), (T, 1, 1)) for k in ("pelvis", "torso", "left_foot", "right_foot")}
    root = kp["pelvis"].copy()
    fixed = {"left_ankle": kp["left_ankle"] - [0.0, 0.0, 0.10], "right_ankle": kp["right_ankle"].copy()}
    pos = tg._chain(kp, est, root, rest, frame_of, fixed)
    weights = [np.ones(T), np.zeros(T)]
    out, new_root, drop = tg.fit_legs(pos, root, kp, est, rest, frame_of, fixed, weights, FPS, tg.TargetSettings())
    leg = float(np.linalg.norm(rest.position(frame_of["left_ankle"]) - rest.position(frame_of["left_hip"])))
    assert np.all(drop > 0.09) and np.allclose(new_root[:, 2], root[:, 2] - drop)
    reach = np.linalg.norm(out["left_ankle"] - out["left_hip"], axis=1)
    assert np.all(reach <= 0.99 * leg + 1e-9)
    np.testing.assert_allclose(out["left_ankle"], fixed["left_ankle"], atol=0.01)   # the held foot is (nearly) kept
    thigh = float(np.linalg.norm(rest.position(frame_of["left_knee"]) - rest.position(frame_of["left_hip"])))
    np.testing.assert_allclose(np.linalg.norm(out["left_knee"] - out["left_hip"], axis=1), thigh, atol=1e-9)

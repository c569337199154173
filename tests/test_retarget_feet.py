"""Feet (issue 12): the heel/toe contact detector on constructed trajectories, the foot targets
(anchors, pivots, release) and the independent measure of stages/retarget/metrics.py."""

from __future__ import annotations

import numpy as np
import pytest

from stages.retarget.contacts import FLAT, HEEL_PIVOT, SLIDING, SWING, TOE_PIVOT, ContactSettings, detect_foot_contacts, hysteresis
from stages.retarget.foot_targets import foot_targets, pivot_points, rot_z_y, shifted_chain

FPS = 30.0
ANKLE_REST, TOE_REST = 0.08, 0.02        # a standing foot: ankle joint 8 cm up, toe joint 2 cm up
FOOT = 0.15                               # ankle -> toe, m


def _standing(T: int) -> dict[str, np.ndarray]:
    """Both feet flat and still, shins upright, for T frames."""
    kp = {}
    for side, y in (("left", 0.1), ("right", -0.1)):
        kp[f"{side}_ankle"] = np.tile([0.0, y, ANKLE_REST], (T, 1))
        kp[f"{side}_toe"] = np.tile([FOOT, y, TOE_REST], (T, 1))
        kp[f"{side}_knee"] = np.tile([0.02, y, 0.5], (T, 1))
    return kp


def _foot_pitched(kp: dict[str, np.ndarray], t: slice, pivot: str, pitch: np.ndarray) -> None:
    """Pitch the left foot about its heel ("heel": toe up) or toe ("toe": heel up) over frames t."""
    a = np.array([0.0, 0.1, ANKLE_REST])
    b = np.array([FOOT, 0.1, TOE_REST])
    d = b - a
    L = np.hypot(d[0], d[2])
    base = np.arctan2(d[2], d[0])
    if pivot == "heel":                       # ankle fixed, toe rises
        ang = base + pitch
        kp["left_toe"][t] = a + np.stack([L * np.cos(ang), np.zeros_like(ang), L * np.sin(ang)], axis=1)
    else:                                     # toe fixed, heel rises
        ang = base - pitch
        kp["left_ankle"][t] = b - np.stack([L * np.cos(ang), np.zeros_like(ang), L * np.sin(ang)], axis=1)


def test_heel_strike_pivots_on_the_heel_then_plants_flat():
    """The heel lands with the toe up, the foot rolls flat: heel pivot first, then flat."""
    T = 60
    kp = _standing(T)
    # frames 0-19 the foot swings in (heel descending fast, toe high), 20-29 it rolls down about the heel
    kp["left_ankle"][:20, 2] = ANKLE_REST + np.linspace(0.25, 0.0, 20)
    kp["left_ankle"][:20, 0] = np.linspace(-0.6, 0.0, 20)
    kp["left_toe"][:20] = kp["left_ankle"][:20] + [FOOT * 0.8, 0.0, 0.09]
    _foot_pitched(kp, slice(20, 30), "heel", np.radians(np.linspace(35.0, 0.0, 10)))
    fc = detect_foot_contacts(kp, FPS, 0.0)
    mode = fc.mode[:, 0]
    assert (mode[:15] == SWING).all()
    assert (mode[20:25] == HEEL_PIVOT).all(), mode[15:35]         # until the toe is within 5 cm of its rest
    assert (mode[32:] == FLAT).all(), mode[25:40]
    assert fc.rest_height[0] == pytest.approx([ANKLE_REST, TOE_REST], abs=1e-9)
    assert (fc.mode[:, 1] == FLAT).all()                  # the other foot stands throughout


def test_toe_off_pivots_on_the_toe_then_swings():
    T = 60
    kp = _standing(T)
    _foot_pitched(kp, slice(30, 40), "toe", np.radians(np.linspace(0.0, 45.0, 10)))
    kp["left_ankle"][40:] = kp["left_ankle"][39] + np.linspace(0.0, 1.0, 20)[:, None] * [0.8, 0.0, 0.3]
    kp["left_toe"][40:] = kp["left_toe"][39] + np.linspace(0.0, 1.0, 20)[:, None] * [0.8, 0.0, 0.3]
    fc = detect_foot_contacts(kp, FPS, 0.0)
    mode = fc.mode[:, 0]
    assert (mode[:37] == FLAT).all()                     # the heel stays planted while it is barely up
    assert (mode[37:40] == TOE_PIVOT).all(), mode[28:45]     # (within 7 cm of its rest: height_off)
    assert (mode[45:] == SWING).all(), mode[38:]


def test_kneeling_toe_is_planted_and_rest_heights_come_from_standing():
    """Stand 30 frames, then kneel: shin on the floor, toe down, the ankle joint lower than when
    standing (foot on its back). The toe is planted; the ankle rest stays the standing one."""
    T = 90
    kp = _standing(T)
    kneel = slice(40, T)
    kp["left_knee"][kneel] = [-0.40, 0.1, 0.05]
    kp["left_ankle"][kneel] = [0.0, 0.1, 0.03]            # 5 cm lower than standing: foot lies on its back
    kp["left_toe"][kneel] = [0.04, 0.1, 0.0]
    kp["left_ankle"][30:40] = np.linspace(kp["left_ankle"][29], kp["left_ankle"][40], 10)
    kp["left_toe"][30:40] = np.linspace(kp["left_toe"][29], kp["left_toe"][40], 10)
    kp["left_knee"][30:40] = np.linspace(kp["left_knee"][29], kp["left_knee"][40], 10)
    fc = detect_foot_contacts(kp, FPS, 0.0)
    assert fc.rest_height[0] == pytest.approx([ANKLE_REST, TOE_REST], abs=1e-9)
    assert fc.planted[45:, 0, 1].all()                    # toe planted while kneeling
    assert fc.locked[45:, 0].all()
    # a whole-clip low percentile would have taken the kneeling ankle as the rest
    lying_only = {k: v[40:] for k, v in kp.items()}
    assert detect_foot_contacts(lying_only, FPS, 0.0).rest_height[0, 0] == pytest.approx(0.03, abs=1e-9)


def test_hysteresis_keeps_a_flickering_stance():
    on = np.array([0, 1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    keep = np.array([0, 1, 1, 1, 1, 1, 0, 0, 1, 1], dtype=bool)
    assert hysteresis(on, keep).tolist() == [False, True, True, True, True, True, False, False, False, False]
    # a heel whose height hovers around height_on stays planted (it stays below height_off)
    T = 40
    kp = _standing(T)
    kp["left_ankle"][:, 2] = ANKLE_REST + 0.04 + 0.01 * np.sin(np.arange(T))
    kp["left_ankle"][:3, 2] = ANKLE_REST
    fc = detect_foot_contacts(kp, FPS, 0.0, ContactSettings(rest_percentile=0.0))
    assert fc.planted[:, 0, 0].all()


def test_a_fast_foot_is_not_planted():
    T = 30
    kp = _standing(T)
    glide = np.linspace(0.0, 1.0, T)[:, None] * [3.0, 0.0, 0.0]          # 3 m/s along the floor
    kp["left_ankle"] = kp["left_ankle"] + glide
    kp["left_toe"] = kp["left_toe"] + glide
    fc = detect_foot_contacts(kp, FPS, 0.0)
    assert not fc.locked[:, 0].any() and not fc.grounded[:, 0].any()


CORNERS = np.array([[0.12, 0.04, -0.03], [0.12, -0.04, -0.03], [-0.08, -0.04, -0.03], [-0.08, 0.04, -0.03]])


def _chain(T: int) -> tuple[np.ndarray, np.ndarray]:
    pos = np.zeros((T, 3))
    pos[:, 0] = np.linspace(0.0, 0.3, T)                  # the chain's foot drifts 0.3 m forward
    pos[:, 2] = 0.03
    return pos, np.tile(np.eye(3), (T, 1, 1))


def test_anchor_is_where_the_foot_lands_and_holds():
    T = 40
    pos, rot = _chain(T)
    mode = np.full(T, FLAT)
    mode[:10] = SWING
    ft = foot_targets(pos, rot, mode, np.zeros((T, 3)), CORNERS, FPS)
    np.testing.assert_allclose(ft.pos[:10], pos[:10])
    np.testing.assert_allclose(ft.pos[10:, :2], np.broadcast_to(pos[10, :2], (30, 2)), atol=1e-12)
    assert ft.pos[-1, 2] == pytest.approx(0.03, abs=1e-9)    # sole on the floor (corners 3 cm below)


def test_toe_pivot_keeps_the_toe_edge_still_and_release_fades_over_the_swing():
    T = 60
    pos, rot = _chain(T)
    pitch = np.zeros(T)
    pitch[10:20] = np.radians(np.linspace(0.0, 40.0, 10))       # heel rises: the foot pitches toe-down
    rot = np.stack([rot_z_y(0.0, p) for p in pitch])
    mode = np.full(T, FLAT)
    mode[10:20] = TOE_PIVOT
    mode[20:50] = SWING
    ft = foot_targets(pos, rot, mode, np.zeros((T, 3)), CORNERS, FPS)
    toe = pivot_points(CORNERS)[TOE_PIVOT]
    edge = ft.pos[10:20] + ft.rot[10:20] @ toe
    np.testing.assert_allclose(edge, np.broadcast_to(edge[0], edge.shape), atol=1e-9)
    # the offset from the chain at lift-off fades out over the 30 swing frames, monotonically
    off = np.linalg.norm(ft.pos[19:51, :2] - pos[19:51, :2], axis=1)
    assert off[0] > 0.03 and off[-1] < 1e-9
    assert np.all(np.diff(off) <= 1e-12)
    steps = np.linalg.norm(np.diff(ft.pos[18:52], axis=0), axis=1)
    assert steps.max() < 0.05                                    # no snap back


def test_a_pivot_on_the_ball_holds_that_point_and_turns_about_it():
    """Toe pivot at 0.7 of the way from the sole centre (x 0.02) to the toe edge (x 0.12): the ball (x 0.09)
    stays still horizontally while the foot turns 30 degrees and pitches; the centre swings about it
    (0.07 m away); the toe edge, pitched below the floor, lifts the foot instead."""
    T = 20
    pos, _ = _chain(T)
    heading = np.radians(np.linspace(0.0, 30.0, T))
    rot = np.stack([rot_z_y(h, 0.4) for h in heading])
    mode = np.full(T, TOE_PIVOT)
    ft = foot_targets(pos, rot, mode, np.zeros((T, 3)), CORNERS, FPS, pivot_pitch_gain=1.0, pivot_at=(1.0, 0.7))
    ball = pivot_points(CORNERS, 1.0, 0.7)[TOE_PIVOT]
    np.testing.assert_allclose(ball, [0.09, 0.0, -0.03], atol=1e-12)
    held = ft.pos + ft.rot @ ball
    np.testing.assert_allclose(held[:, :2], np.broadcast_to(held[0, :2], (T, 2)), atol=1e-12)
    centre = ft.pos + ft.rot @ CORNERS.mean(axis=0)
    swept = np.linalg.norm(centre[-1, :2] - centre[0, :2])
    assert swept == pytest.approx(2 * 0.07 * np.cos(0.4) * np.sin(np.radians(15.0)), rel=1e-9)
    corners_z = ft.pos[:, None, 2] + (ft.rot @ CORNERS.T)[:, 2]
    assert corners_z.min() > -1e-12                                       # nothing below the floor


def test_sliding_foot_moves_like_the_scaled_human_foot():
    T = 20
    pos, rot = _chain(T)
    mode = np.full(T, SLIDING)
    step = np.zeros((T, 3))
    step[1:, 1] = 0.01                                           # the scaled human foot slides 1 cm/frame sideways
    ft = foot_targets(pos, rot, mode, step, CORNERS, FPS)
    np.testing.assert_allclose(np.diff(ft.pos[:, 1]), 0.01, atol=1e-12)
    np.testing.assert_allclose(ft.pos[:, 0], pos[0, 0], atol=1e-12)   # not the chain's drift


def test_swing_ends_keep_the_sole_centre_where_the_foot_left_and_lands():
    """hold_frames=1: the first swing frame keeps the sole centre over the last stance frame's, the last one
    is already over the landing's (the foot lifts and sets down), while height and orientation are the
    swing's; without the hold the sole centre moves with the chain in both frames."""
    T = 40
    pos, _ = _chain(T)
    pos[10:30, 2] = 0.03 + 0.05 * np.sin(np.linspace(0.0, np.pi, 20))           # the chain's foot lifts
    rot = np.stack([rot_z_y(0.02 * t, 0.2 * np.sin(t / 5.0)) for t in range(T)])
    mode = np.full(T, FLAT)
    mode[10:30] = SWING
    centre = CORNERS.mean(axis=0)
    held = foot_targets(pos, rot, mode, np.zeros((T, 3)), CORNERS, FPS, hold_frames=1)
    free = foot_targets(pos, rot, mode, np.zeros((T, 3)), CORNERS, FPS)
    c_held = held.pos + held.rot @ centre
    c_free = free.pos + free.rot @ centre
    np.testing.assert_allclose(c_held[10, :2], c_held[9, :2], atol=1e-12)
    np.testing.assert_allclose(c_held[29, :2], c_held[30, :2], atol=1e-12)
    assert np.linalg.norm(c_free[10, :2] - c_free[9, :2]) > 0.005
    assert np.linalg.norm(c_free[29, :2] - c_free[30, :2]) > 0.005
    np.testing.assert_array_equal(held.rot, free.rot)
    np.testing.assert_array_equal(held.pos[:, 2], free.pos[:, 2])
    np.testing.assert_array_equal(held.pos[11:29], free.pos[11:29])    # the rest of the swing is untouched


def test_a_lying_foot_holds_its_frame_origin_while_it_turns():
    """Where the foot leaks (the shin does not rise above it) the anchor is the foot frame's origin, which
    the IK's foot task tracks: turning and pitching the foot (here 60 and 90 degrees) does not move the target,
    where an upright toe pivot swings it about the ball."""
    T = 30
    pos = np.tile([0.0, 0.0, 0.03], (T, 1))
    rot = np.stack([rot_z_y(h, p) for h, p in zip(np.radians(np.linspace(0.0, 60.0, T)),
                                                   np.radians(np.linspace(0.0, 90.0, T)))])
    mode = np.full(T, TOE_PIVOT)
    lying = foot_targets(pos, rot, mode, np.zeros((T, 3)), CORNERS, FPS, leak=np.full(T, 0.02))
    np.testing.assert_allclose(lying.pos[:, :2], np.zeros((T, 2)), atol=1e-12)
    upright = foot_targets(pos, rot, mode, np.zeros((T, 3)), CORNERS, FPS)
    assert np.linalg.norm(upright.pos[-1, :2] - upright.pos[0, :2]) > 0.05


@pytest.mark.parametrize("hold", [0, 1])
def test_shifted_chain_equals_a_second_pass_of_the_state_machine(hold):
    """Every mode (flat, pivots, sliding, swing with and without a later landing), a leaking stretch, a
    pitching and turning foot: the response to a horizontal chain shift equals running foot_targets again."""
    rng = np.random.default_rng(5)
    T = 120
    pos, _ = _chain(T)
    pos[:, 1] = 0.05 * np.sin(np.arange(T) / 9.0)
    rot = np.stack([rot_z_y(0.3 * np.sin(t / 15.0), 0.4 * np.sin(t / 7.0)) for t in range(T)])
    mode = np.full(T, FLAT)
    mode[:6], mode[20:28], mode[28:35], mode[35:50], mode[70:80], mode[100:] = (
        SWING, HEEL_PIVOT, TOE_PIVOT, SWING, SLIDING, SWING)
    leak = np.zeros(T)
    leak[55:68] = 0.3
    step = np.zeros((T, 3))
    step[1:, :2] = rng.normal(scale=0.005, size=(T - 1, 2))
    shift = np.zeros((T, 3))
    shift[:, :2] = np.cumsum(rng.normal(scale=0.01, size=(T, 2)), axis=0)
    kw = dict(release_s=0.5, leak=leak, hold_frames=hold)
    first = foot_targets(pos, rot, mode, step, CORNERS, FPS, **kw)
    again = foot_targets(pos + shift, rot, mode, step, CORNERS, FPS, **kw)
    moved = shifted_chain(first, mode, shift, FPS, **kw)
    assert np.abs(again.pos - first.pos).max() > 0.05                 # the shift matters
    np.testing.assert_allclose(moved.pos, again.pos, atol=1e-12)
    np.testing.assert_array_equal(moved.rot, again.rot)


def test_independent_measure_scores_a_copy_of_the_human_foot_one():
    """slide of a robot sole that moves exactly like the scaled human ankle/toe midpoint = slide_ref."""
    from core.records.keypoints import KEYPOINT_NAMES
    from stages.retarget.metrics import foot_measures, independent_foot_contacts

    T = 90
    rng = np.random.default_rng(3)
    kp = np.zeros((T, len(KEYPOINT_NAMES), 3))
    kp[..., 2] = 0.5
    idx = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    for name, y, z in (("left_ankle", 0.1, 0.08), ("left_toe", 0.1, 0.02), ("right_ankle", -0.1, 0.08),
                       ("right_toe", -0.1, 0.02)):
        kp[:, idx[name]] = [0.0, y, z]
    drift = np.cumsum(rng.normal(0.0, 0.002, (T, 2)), axis=0)      # slow wander: stays in contact
    for name in ("left_ankle", "left_toe"):
        kp[:, idx[name], :2] += drift
    kp[40:60, idx["right_ankle"], 2] += 0.3                          # right foot lifted: no contact
    kp[40:60, idx["right_toe"], 2] += 0.3
    contact, floor = independent_foot_contacts(kp, FPS)
    assert floor == pytest.approx(0.02)
    assert contact[:, 0].all() and not contact[42:58, 1].any() and contact[:35, 1].all()
    scale = 0.7
    mid = 0.5 * (kp[:, [idx["left_ankle"], idx["right_ankle"]]] + kp[:, [idx["left_toe"], idx["right_toe"]]])
    m = foot_measures(FPS, mid * scale, np.zeros((T, 2)), kp, scale, locks=contact)
    assert m["slide_cm_s"] == pytest.approx(m["slide_ref_cm_s"], rel=1e-12) and m["slide_ratio"] == pytest.approx(1.0)
    assert m["lock_coverage"] == 1.0
    still = foot_measures(FPS, np.zeros((T, 2, 3)), np.full((T, 2), 0.05), kp, scale)
    assert still["slide_cm_s"] == 0.0 and still["near_ground_frac"] == 0.0


def test_slide_ratio_is_undefined_when_the_human_foot_never_moves():
    # a procedural clip's planted feet: slide_ref is 0, so any robot motion would give an absurd ratio
    from core.records.keypoints import KEYPOINT_NAMES
    from stages.retarget.metrics import foot_measures

    T = 60
    kp = np.zeros((T, len(KEYPOINT_NAMES), 3))
    for name, y, z in (("left_ankle", 0.1, 0.08), ("left_toe", 0.1, 0.02), ("right_ankle", -0.1, 0.08),
                       ("right_toe", -0.1, 0.02)):
        kp[:, KEYPOINT_NAMES.index(name)] = [0.0, y, z]
    sole = np.zeros((T, 2, 3))
    sole[:, :, 0] = np.linspace(0.0, 0.01, T)[:, None]               # the robot's soles creep 1 cm
    m = foot_measures(FPS, sole, np.zeros((T, 2)), kp, 1.0)
    assert m["slide_ref_cm_s"] == 0.0 and m["slide_cm_s"] > 0.0
    assert np.isnan(m["slide_ratio"])

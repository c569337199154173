"""Swing clearance (issue 12): the schedule from the human's foot speed, the corner and pitch rows
against hand cases and finite differences, and a swing foot kept off the floor by the solver."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from ik_helpers import make_ik, random_q, tangent_step, targets_at

from core.records.keypoints import KEYPOINT_NAMES
from core.robot import load_robot
from stages.retarget.ik import FrameTargets, SolverSettings
from stages.retarget.ik.qp import INF
from stages.retarget.ik.swing_clearance import SwingBarrier, lift_swing_targets, swing_clearance

EPS = 1e-6


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_schedule_grows_with_the_scaled_human_foot_speed():
    """Left foot moving at 1 m/s, right foot still: with scale 0.75 the left's speed is 0.75 m/s, its clearance
    k (0.75 - v0) = 0.05 x 0.6 = 3 cm (below the 4 cm cap), scaled by 1 - lock, zero in human contact."""
    T, fps = 40, 30.0
    kp = np.zeros((T, len(KEYPOINT_NAMES), 3))
    t = np.arange(T) / fps
    for name, z in (("pelvis", 0.95), ("left_hip", 0.9), ("right_hip", 0.9), ("left_knee", 0.5),
                    ("right_knee", 0.5), ("left_ankle", 0.1), ("right_ankle", 0.1)):
        kp[:, KEYPOINT_NAMES.index(name), 2] = z                        # standing: legs 0.8 m, pelvis 0.95 m
    for name in ("left_ankle", "left_toe"):
        kp[:, KEYPOINT_NAMES.index(name), 0] = t * 1.0
    st = SolverSettings(swing_clearance_per_speed=0.05, swing_speed_threshold=0.15, swing_clearance_max=0.04,
                        swing_lock_share=1.0, swing_low_body_share=0.0)
    lock = np.zeros((T, 2))
    lock[30:, 0] = 0.5
    contacts = np.zeros((T, 2), dtype=bool)
    contacts[35:, 0] = True
    c = swing_clearance(kp, fps, 0.0, 0.75, lock, contacts, st)
    np.testing.assert_allclose(c[5:30, 0], 0.03, atol=1e-9)
    np.testing.assert_allclose(c[30:35, 0], 0.015, atol=1e-9)
    assert np.all(c[35:, 0] == 0.0) and np.all(c[:, 1] == 0.0)
    fast = kp.copy()
    fast[..., 0] *= 3.0
    free = np.zeros((T, 2), dtype=bool)
    np.testing.assert_allclose(swing_clearance(fast, fps, 0.0, 0.75, None, free, st)[5:-5, 0], 0.04)   # capped
    assert not swing_clearance(kp, fps, 0.0, 0.75, None, contacts, dataclasses.replace(st, swing_clearance_max=0.0)).any()
    # kneeling (pelvis 0.4 m: half the leg length) or lying: the feet drag, no clearance; halfway up: half of it
    low = kp.copy()
    low[:, KEYPOINT_NAMES.index("pelvis"), 2] = 0.4
    assert not swing_clearance(low, fps, 0.0, 0.75, None, contacts, st).any()
    low[:, KEYPOINT_NAMES.index("pelvis"), 2] = 0.56                    # 0.7 of the leg length
    np.testing.assert_allclose(swing_clearance(low, fps, 0.0, 0.75, None, contacts, st)[5:30, 0], 0.015, atol=1e-9)
    # the defaults take neither the lock blend nor a low body off a swing foot's clearance (not in contact)
    full = dataclasses.replace(st, swing_lock_share=0.0, swing_low_body_share=1.0)
    np.testing.assert_allclose(swing_clearance(low, fps, 0.0, 0.75, lock, contacts, full)[5:35, 0], 0.03, atol=1e-9)
    assert np.all(swing_clearance(low, fps, 0.0, 0.75, lock, contacts, full)[35:, 0] == 0.0)
    half = dataclasses.replace(st, swing_lock_share=0.5, swing_low_body_share=0.5)
    np.testing.assert_allclose(swing_clearance(low, fps, 0.0, 0.75, lock, contacts, half)[30:35, 0],
                               0.03 * 0.75 * 0.75, atol=1e-9)          # (1 - 0.5 x 0.5) (0.5 + 0.5 x 0.5)


def test_swing_rows_by_hand():
    """Gain 0.5, step cap 1 cm, 4 cm clearance on the left foot: a corner 3.6 cm up must rise 0.2 cm, one 6 cm up
    may sink 1 cm (bounds folded into the corners' floor rows, which share the Jacobian rows: no row added);
    anchored on the right foot (lowest corner 1 mm up) the rows are the left corners' less the right's lowest,
    heights relative to it; a corner on the floor is asked 1 cm (half its 4 cm deficit, capped), one 2 cm
    below it the floor's 2 cm; corners higher than clearance + 3 cm keep the floor bound. Pitch: front 2.3 cm
    above back, a budget of L sin(0.3): one row, on the toe-up side."""
    corners = np.array([[[0.1, 0.05, 0.0], [0.1, -0.05, 0.0], [-0.05, -0.05, 0.0], [-0.05, 0.05, 0.0]]] * 2)
    st = SolverSettings(swing_barrier_gain=0.5, swing_max_step=0.01, swing_pitch_height=0.05, swing_pitch_max=0.3,
                        swing_pitch_rows=True)
    sb = SwingBarrier(corners, dataclasses.replace(st, swing_pitch_rows=False))
    nv = 8
    rows = np.arange(2 * 4 * nv, dtype=float).reshape(2, 4, nv)
    z = np.array([[0.036, 0.06, 0.032, 0.05], [0.003, 0.001, 0.002, 0.004]])
    clearance = np.array([0.04, 0.0])
    assert sb.rows(rows, z, clearance, None) is None                                   # no extra row
    np.testing.assert_allclose(sb.corner_lower(z, clearance, None), [[0.002, -0.01, 0.004, -0.005], -z[1]])
    G, low = sb.rows(rows, z, clearance, np.array([True, False]))
    np.testing.assert_array_equal(G, rows[0] - rows[1, 1])
    np.testing.assert_allclose(low, [0.0025, -0.0095, 0.0045, -0.0045])
    assert sb.corner_lower(z, clearance, np.array([True, False])) is None               # anchored: rows instead
    on_floor = z.copy()
    on_floor[0, 2], on_floor[0, 3] = 0.0, -0.02
    np.testing.assert_allclose(sb.corner_lower(on_floor, clearance, None)[0], [0.002, -0.01, 0.01, 0.02])
    partly = z.copy()
    partly[0, 1] = 0.09
    np.testing.assert_allclose(sb.corner_lower(partly, clearance, None)[0], [0.002, -0.09, 0.004, -0.005])
    assert sb.corner_lower(z, np.zeros(2), None) is None and sb.rows(rows, z, np.zeros(2), None) is None
    assert sb.corner_lower(z + np.array([[0.08], [0.0]]), clearance, None) is None      # high enough: floor only
    with_pitch = SwingBarrier(corners, st)
    G, low = with_pitch.rows(rows, z, clearance, None)
    dz = 0.5 * ((0.036 + 0.06) - (0.032 + 0.05))
    J = 0.5 * (rows[0, 0] + rows[0, 1] - rows[0, 2] - rows[0, 3])
    np.testing.assert_array_equal(G[0], -J)
    np.testing.assert_allclose(low[0], -0.5 * (0.15 * np.sin(0.3) - dz))
    assert with_pitch.rows(rows, z + np.array([[0.2], [0.0]]), clearance, None) is None


def test_pitch_rows_predict_the_front_back_height_difference(g1):
    """The clearance row is the lowest corner's height Jacobian, the pitch row -sign(dz) d(front - back mean
    height)/d(dq), both against finite differences, with their control-barrier bounds."""
    rng = np.random.default_rng(31)
    st = SolverSettings(swing_pitch_max=0.3, swing_barrier_gain=0.5, swing_pitch_height=0.05, swing_pitch_rows=True)
    ik = make_ik(g1, st)
    q = random_q(g1, rng, height=0.78)
    ik.kin.update(q)
    kin, fi = ik.kin, ik.ground.foot_index

    def corner_z(qq):
        kin.placements(qq)
        Hf = kin.Hm[fi]
        return (np.einsum("sij,scj->sci", Hf[:, :3, :3], ik.ground.sole_corners) + Hf[:, None, :3, 3])[..., 2]

    z0 = corner_z(q)
    kin.update(q)
    clearance = z0[0].min() + 0.01                                          # left foot near its clearance
    G, low, hard = ik.ground.sole_rows(np.array([clearance, 0.0]))
    C = ik.ground.sole_corners.shape[1]
    near = z0[0] < clearance + st.ground_activation
    assert G.shape[0] == 2 * C + 1 and hard is not None                     # floor rows (clearance folded in), pitch
    assert np.all(hard[2 * C:] == -INF) and np.array_equal(hard[:2 * C], -z0.ravel())
    swing = np.where(near, np.maximum(-z0[0], np.minimum(0.5 * (clearance - z0[0]), st.swing_max_step)), -z0[0])
    np.testing.assert_allclose(low[:2 * C], np.concatenate([swing, -z0[1]]), atol=1e-15)
    dz0 = 0.5 * (z0[0, :2].sum() - z0[0, 2:].sum())
    budget = ik.ground.swing.max_rise[0]
    sign = 1.0 if dz0 >= 0 else -1.0
    np.testing.assert_allclose(low[-1], min(-0.5 * (budget - sign * dz0), 0.01), atol=1e-12)
    dq = rng.normal(size=ik.nv)
    z1 = corner_z(tangent_step(g1, q, EPS * dq))
    ddz = (0.5 * (z1[0, :2].sum() - z1[0, 2:].sum()) - dz0) / EPS
    np.testing.assert_allclose(G[-1] @ dq, -sign * ddz, atol=1e-4)
    np.testing.assert_allclose(G[:2 * C] @ dq, (z1 - z0).ravel() / EPS, atol=1e-4)


def _floor_pose(g1, ik):
    rng = np.random.default_rng(32)
    q = random_q(g1, rng, 0.05)
    q[3:7] = [0, 0, 0, 1]
    ik.placements(q)
    z = [float((ik.Hm[m, :3, :3] @ c + ik.Hm[m, :3, 3])[2]) for s, m in enumerate(ik.foot_index)
         for c in ik.sole_corners[s]]
    q[2] -= min(z)
    return q


def _lowest(ik, q, side):
    ik.placements(q)
    m = ik.foot_index[side]
    return min(float((ik.Hm[m, :3, :3] @ c + ik.Hm[m, :3, 3])[2]) for c in ik.sole_corners[side])


def test_swing_foot_moving_below_the_floor_is_lifted_to_its_clearance(g1):
    """The left foot's target slides forward 20 cm in 20 frames, 5 cm below the floor: without clearance the sole is
    clamped onto the floor (lowest corner ~0); with a 3 cm clearance it settles at 3 cm, flat within the
    pitch limit."""
    ik0 = make_ik(g1)
    q0 = _floor_pose(g1, ik0)
    tg0 = targets_at(ik0, q0)
    stance = ik0.foot_index[1]
    knee = [t.human for t in g1.config.keypoint_tasks].index("left_knee")
    tg0.pos_w[stance] = tg0.rot_w[stance] = 4.0                        # a locked foot's weight (TargetSettings)
    lowest = {}
    for clearance in (0.0, 0.03):
        ik = make_ik(g1)
        q = q0.copy()
        for k in range(20):
            pos = tg0.pos.copy()
            pos[ik.foot_index[0], 0] += 0.01 * k
            pos[ik.foot_index[0], 2] -= 0.05
            c = np.array([clearance, 0.0])
            lifted = lift_swing_targets(pos[None], tg0.rot[None], ik.foot_index, ik.sole_corners, c[None],
                                        ik.settings.swing_pitch_max)[0]
            pos[knee, 2] += lifted[ik.foot_index[0], 2] - pos[ik.foot_index[0], 2]    # the leg's chain follows
            pos = lifted if not clearance else np.where(np.arange(len(pos))[:, None] == knee, pos, lifted)
            tg = FrameTargets(pos, tg0.rot, tg0.pos_w, tg0.rot_w, foot_clearance=c)
            q = ik.solve_frame(q, tg, 1.0 / 30.0)
            assert ik.status == 0
        lowest[clearance] = (_lowest(ik, q, 0), _lowest(ik, q, 1))
        if clearance:
            ik.placements(q)
            R = ik.Hm[ik.foot_index[0], :3, :3]
            assert abs(np.arcsin(R[2, 0])) <= ik.settings.swing_pitch_max + 0.02
    assert abs(lowest[0.0][0]) < 3e-3
    assert lowest[0.03][0] == pytest.approx(0.03, abs=3e-3)
    # the straight swing leg of this standing pose must shorten by 3 cm; the stance foot (weight 4, no lock
    # rows) gives part of it but stays on the floor side of the clearance
    assert -2e-3 < lowest[0.03][1] < 0.5 * 0.03

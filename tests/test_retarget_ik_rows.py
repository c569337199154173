"""IK limits, ground rows and self-collision barrier, against finite differences and hand cases."""

from __future__ import annotations

import numpy as np
import pytest
from ik_helpers import make_ik, random_q, tangent_step

from core.robot import load_robot
from core.robot.collision import closest_points_segments, closest_segment_parameters
from stages.retarget.ik import SolverSettings
from stages.retarget.ik.limits import ConfigurationLimit, VelocityLimit
from stages.retarget.ik.qp import INF

EPS = 1e-6


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_configuration_and_velocity_limits_by_hand():
    lim = ConfigurationLimit(np.array([-1.0, -1.0]), np.array([1.0, 0.5]), gain=0.5)
    lo, hi = lim.bounds(np.array([0.0, 0.4]))
    np.testing.assert_allclose(lo, [-0.5, -0.7])
    np.testing.assert_allclose(hi, [0.5, 0.05])
    # 2 rad/s at 10 Hz: 0.2 rad per frame, less what the joint already moved this frame
    VelocityLimit(np.array([2.0, 2.0])).narrow(lo, hi, np.array([0.1, -0.3]), 0.1)
    # joint 2 already moved -0.3 (beyond its -0.2 budget): it must come back by 0.1, more than its
    # position bound allows (0.05), so hi is raised to lo and the bounds stay feasible
    np.testing.assert_allclose(lo, [-0.3, 0.1])
    np.testing.assert_allclose(hi, [0.1, 0.1])
    assert np.all(hi >= lo)
    q = np.array([2.0, -3.0])
    lim.clip(q)
    np.testing.assert_array_equal(q, [1.0, -1.0])


def test_limits_in_place_forms_match_the_definitions():
    """What the solver calls per step (pre-scaled position limits, the frame's velocity window) gives the
    bounds of ``bounds`` and ``narrow`` to round-off."""
    rng = np.random.default_rng(20)
    lower, upper = -rng.uniform(0.5, 2.0, 6), rng.uniform(0.5, 2.0, 6)
    lim, vel = ConfigurationLimit(lower, upper, gain=0.3), VelocityLimit(rng.uniform(1.0, 5.0, 6))
    q_prev = rng.uniform(-0.4, 0.4, 6)
    qj = q_prev + rng.normal(scale=0.1, size=6)
    lo, hi = lim.bounds(qj)
    vel.narrow(lo, hi, qj - q_prev, 1.0 / 30.0)
    lo2, hi2 = np.empty(6), np.empty(6)
    lim.bounds_into(qj, lo2, hi2)
    vel.narrow_window(lo2, hi2, qj, vel.window(q_prev, 1.0 / 30.0))
    np.testing.assert_allclose(lo2, lo, rtol=0, atol=1e-15)
    np.testing.assert_allclose(hi2, hi, rtol=0, atol=1e-15)
    assert np.any(hi < 0.3 * (upper - qj) - 1e-3)                   # the velocity window narrowed some bound


def test_closest_segment_parameters_beat_a_dense_search():
    """The one closest-point routine: its distance is the minimum of a dense grid over both segments
    (within the grid's resolution) for random, point and parallel segments."""
    rng = np.random.default_rng(21)
    p1, q1, p2, q2 = (rng.normal(size=(60, 3)) * 0.2 for _ in range(4))
    q1[:10] = p1[:10]                                                 # points
    q2[10:20] = p2[10:20] + 0.5 * (q1[10:20] - p1[10:20])            # parallel
    c1, c2 = closest_points_segments(p1, q1, p2, q2)
    dist = np.linalg.norm(c1 - c2, axis=1)
    u = np.linspace(0.0, 1.0, 401)
    for k in range(60):
        A = p1[k] + u[:, None] * (q1[k] - p1[k])
        B = p2[k] + u[:, None] * (q2[k] - p2[k])
        brute = np.linalg.norm(A[:, None] - B[None], axis=-1).min()
        assert brute - 2e-3 <= dist[k] <= brute + 1e-9
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    s, t = closest_segment_parameters(*(np.einsum("ki,ki->k", x, y) for x, y in
                                        ((d1, d1), (d2, d2), (d1, d2), (d1, r), (d2, r))))
    assert np.all((s >= 0) & (s <= 1) & (t >= 0) & (t <= 1))
    np.testing.assert_allclose(p1 + s[:, None] * d1, c1, atol=1e-15)


def test_sole_rows_predict_the_corner_heights(g1):
    """Each sole row is d(corner z)/d(dq); its bound is -z: row dq >= -z keeps the corner above the floor."""
    rng = np.random.default_rng(22)
    ik = make_ik(g1)
    q = random_q(g1, rng, height=0.75)
    ik.kin.update(q)
    G, low, hard = ik.ground.sole_rows()
    assert hard is None                                             # no swing clearance asked for

    def heights(qq):
        ik.kin.placements(qq)
        Hf = ik.kin.Hm[ik.ground.foot_index]
        return (np.einsum("sij,scj->sci", Hf[:, :3, :3], ik.ground.sole_corners) + Hf[:, None, :3, 3])[..., 2].ravel()

    z0 = heights(q)
    np.testing.assert_allclose(low, -z0, atol=1e-12)
    for _ in range(3):
        dq = rng.normal(size=ik.nv)
        np.testing.assert_allclose(G @ dq, (heights(tangent_step(g1, q, EPS * dq)) - z0) / EPS, atol=1e-4)


def test_capsule_ground_rows_predict_the_end_point_heights(g1):
    """A robot lowered until its knees and hands are near the floor: the capsule rows are the end points'
    height Jacobians, bounds minus their lowest surface heights."""
    rng = np.random.default_rng(23)
    ik = make_ik(g1, SolverSettings(ground_activation=0.6))
    q = random_q(g1, rng, height=0.45)
    ik.kin.update(q)
    ik.capsules.update()
    rows = ik.ground.capsule_rows()
    assert rows is not None
    G, low = rows
    i, e = ik.ground.active
    assert len(i) == len(low) > 4
    radius = g1.collision.radius[i]
    z0 = ik.capsules.ends[i, 2, e].copy()
    np.testing.assert_allclose(low, -(z0 - radius), atol=1e-12)
    dq = rng.normal(size=ik.nv)
    ik.kin.update(tangent_step(g1, q, EPS * dq))
    ik.capsules.update()
    np.testing.assert_allclose(G @ dq, (ik.capsules.ends[i, 2, e] - z0) / EPS, atol=1e-4)


def _close_pose(g1, ik, rng):
    for _ in range(200):
        q = random_q(g1, rng, spread=1.2)
        ik.kin.update(q)
        ik.capsules.update()
        rows = ik.barrier.rows()
        if rows is not None and len(rows[1]) >= 3:
            return q, rows
    raise AssertionError("no random pose with close capsule pairs")


def test_barrier_rows_predict_the_pair_distances(g1):
    """Barrier rows are d(signed distance)/d(dq) of the closest pairs; bounds margin - distance."""
    rng = np.random.default_rng(24)
    ik = make_ik(g1)
    q, (G, low) = _close_pose(g1, ik, rng)
    pairs = ik.barrier.active

    def signed(qq):
        return g1.collision_distances(qq[None, :3], qq[None, 3:7], qq[None, 7:]).signed[0, pairs]

    d0 = signed(q)
    st = ik.settings
    assert np.all(d0 < st.collision_activation)
    np.testing.assert_allclose(low, st.collision_margin - d0, atol=1e-9)
    dq = rng.normal(size=ik.nv)
    np.testing.assert_allclose(G @ dq, (signed(tangent_step(g1, q, EPS * dq)) - d0) / EPS, atol=2e-3)


def test_barrier_bounds_the_steps_of_joints_moving_a_near_pair(g1):
    """A pair closer than ``collision_step_distance``: the joints that move its capsules get |dq| <= step,
    the others stay free; without a near pair no bound applies."""
    rng = np.random.default_rng(25)
    ik = make_ik(g1, SolverSettings(collision_step_distance=1.0))   # every active pair counts as near
    q, (G, _) = _close_pose(g1, ik, rng)
    assert ik.barrier.near
    moving = np.abs(G[:, 6:]).max(axis=0) > 1e-9
    lo, hi = np.full(ik.nv - 6, -5.0), np.full(ik.nv - 6, 5.0)
    ik.barrier.narrow(lo, hi)
    step = ik.settings.collision_step
    np.testing.assert_allclose(hi[moving], step)
    np.testing.assert_allclose(lo[moving], -step)
    np.testing.assert_allclose(hi[~moving], 5.0)
    assert moving.any() and (~moving).any()
    assert np.all(ik.barrier.step_hi[~moving] == INF)
    ik.barrier.near = False
    lo2, hi2 = np.full(ik.nv - 6, -5.0), np.full(ik.nv - 6, 5.0)
    ik.barrier.narrow(lo2, hi2)
    assert np.all(hi2 == 5.0)


@pytest.mark.parametrize("pitch_rows", [False, True])
def test_stacked_rows_are_the_modules_rows(g1, pitch_rows):
    """``DiffIK.rows`` stacks every point's direction and mask and multiplies by the world Jacobian once: the
    same rows, bounds and step bounds as the sole, capsule-ground and barrier modules each give alone (a
    low robot with close pairs and a swing foot near its clearance; with pitch rows the swing's own rows
    follow the corners')."""
    rng = np.random.default_rng(26)
    ik = make_ik(g1, SolverSettings(ground_activation=0.6, swing_pitch_rows=pitch_rows, collision_step_distance=1.0))
    for _ in range(200):
        q = random_q(g1, rng, spread=1.2, height=0.55)
        ik.kin.update(q)
        ik.capsules.update()
        if ik.barrier.rows() is not None and ik.ground.capsule_rows() is not None:
            break
    else:
        raise AssertionError("no random pose with close pairs and low capsules")
    ik.kin.update(q)
    Hf = ik.kin.Hm[ik.ground.foot_index]
    z = (np.einsum("sij,scj->sci", Hf[:, :3, :3], ik.ground.sole_corners) + Hf[:, None, :3, 3])[..., 2]
    clearance = np.array([max(z[0].min(), 0.0) + 0.01, 0.0])
    stacked = ik.rows(clearance, np.zeros(2, dtype=bool))
    near, step_hi = ik.barrier.near, ik.barrier.step_hi.copy()
    G_s, low_s, hard_s = ik.ground.sole_rows(clearance, np.zeros(2, dtype=bool))
    ik.capsules.update()
    G_c, low_c = ik.ground.capsule_rows()
    G_b, low_b = ik.barrier.rows()
    np.testing.assert_allclose(stacked.G, np.concatenate([G_s, G_c, G_b]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(stacked.lower, np.concatenate([low_s, low_c, low_b]))
    assert hard_s is not None and len(G_s) == 2 * ik.sole_corners.shape[1] + (1 if pitch_rows else 0)
    np.testing.assert_array_equal(stacked.hard, np.concatenate([hard_s, low_c, low_b]))
    assert near == ik.barrier.near and np.array_equal(step_hi, ik.barrier.step_hi)

"""IK tasks and regularisers, each against a finite difference or a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest
from ik_helpers import make_ik, random_q, tangent_step, targets_at

from core.robot import load_robot
from stages.retarget.ik import FrameTargets, SolverSettings, log3
from stages.retarget.ik.damping import Damping
from stages.retarget.ik.low_acceleration import LowAccelerationTask
from stages.retarget.ik.posture import Attraction, PostureTask
from stages.retarget.targets import limb_pairs

EPS = 1e-6


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_frame_task_rows_are_the_weighted_jacobian_of_the_errors(g1):
    """A (frame task block) dq predicts the change of the weighted position error and rotation log."""
    rng = np.random.default_rng(11)
    ik = make_ik(g1)
    q = random_q(g1, rng)
    tg = targets_at(ik, random_q(g1, rng))
    tg = FrameTargets(tg.pos, tg.rot, rng.uniform(0.5, 2.0, ik.M), rng.uniform(0.5, 2.0, ik.M))
    ik.kin.update(q)
    ik.frame_tasks.fill_jacobian(ik.kin, tg)
    A = ik.stack.block(0)[0].copy()
    ep0, er0 = ik.frame_tasks.errors(ik.kin, tg)
    dq = rng.normal(size=ik.nv)
    ik.kin.placements(tangent_step(g1, q, EPS * dq))
    p1 = ik.kin.Hm[:, :3, 3].copy()
    R1 = ik.kin.Hm[:, :3, :3].copy()
    ik.kin.placements(q)
    p0, R0 = ik.kin.Hm[:, :3, 3], ik.kin.Hm[:, :3, :3]
    M3 = 3 * ik.M
    dp = (A[:M3] @ dq).reshape(ik.M, 3) / tg.pos_w[:, None]
    np.testing.assert_allclose(dp, (p1 - p0) / EPS, atol=1e-4)
    w = (A[M3:] @ dq).reshape(-1, 3) / tg.rot_w[:, None]
    np.testing.assert_allclose(w, log3(R1 @ np.swapaxes(R0, 1, 2)) / EPS, atol=1e-4)
    # errors: target minus current, and the stack's b holds them weighted
    ik.frame_tasks.fill_error(tg, ep0, er0)
    b = ik.stack.block(0)[1]
    np.testing.assert_allclose(b[:M3].reshape(-1, 3), tg.pos_w[:, None] * (tg.pos - p0), atol=1e-12)
    assert ik.frame_tasks.cost(tg, ep0, er0) == pytest.approx(float(b @ b), rel=1e-12)


def test_limb_task_rows_follow_the_limb_vectors(g1):
    """Rows of the limb block predict the change of (child - parent) times the limb weight; the error
    is the target limb vector minus the current one."""
    rng = np.random.default_rng(12)
    names = tuple(t.human for t in g1.config.keypoint_tasks)
    pairs = limb_pairs(names)
    ik = make_ik(g1, SolverSettings(limb_direction_weight=2.0), limbs=pairs)
    q = random_q(g1, rng)
    limb_w = rng.uniform(0.2, 1.0, len(pairs))
    tg = targets_at(ik, random_q(g1, rng), limb_w=limb_w)
    ik.kin.update(q)
    ik.limb_tasks.fill_jacobian(ik.kin, tg)
    A = ik.stack.block(1)[0].copy()
    np.testing.assert_allclose(ik.limb_tasks.current_w, 2.0 * limb_w)
    dq = rng.normal(size=ik.nv)
    x0 = ik.kin.Hm[:, :3, 3].copy()
    ik.kin.placements(tangent_step(g1, q, EPS * dq))
    x1 = ik.kin.Hm[:, :3, 3].copy()
    p, c = pairs[:, 0], pairs[:, 1]
    fd = ((x1[c] - x1[p]) - (x0[c] - x0[p])) / EPS * (2.0 * limb_w)[:, None]
    np.testing.assert_allclose((A @ dq).reshape(-1, 3), fd, atol=1e-4)
    ep = tg.pos - x0
    err = ik.limb_tasks.errors(ep)
    np.testing.assert_allclose(err, (tg.pos[c] - tg.pos[p]) - (x0[c] - x0[p]), atol=1e-12)
    assert ik.limb_tasks.cost(tg, ep) == pytest.approx(float(np.sum(((2.0 * limb_w)[:, None] * err) ** 2)))


def test_no_limb_rows_at_zero_weight(g1):
    pairs = limb_pairs(tuple(t.human for t in g1.config.keypoint_tasks))
    ik = make_ik(g1, SolverSettings(limb_direction_weight=0.0), limbs=pairs)
    assert ik.limb_tasks.rows == 0 and ik.stack.A.shape[0] == ik.frame_tasks.rows




def test_posture_task_hessian_and_gradient_are_the_cost_derivatives(g1):
    """cost(qj + d) = cost(qj) + 2 f'd + d'H d for the posture task (hand-computed quadratic)."""
    rng = np.random.default_rng(13)
    D = g1.num_dofs
    w = rng.uniform(0.0, 1.0, D)
    task = PostureTask(g1.default_pose, w)
    qj = g1.default_pose + rng.normal(scale=0.3, size=D)
    H = np.zeros((D + 6, D + 6))
    task.add_hessian(H)
    f = np.zeros(D)
    task.add_gradient(f, qj)
    np.testing.assert_allclose(np.diag(H)[6:], w * w)
    assert not H[:6].any() and not H[:, :6].any()
    d = rng.normal(scale=0.1, size=D)
    np.testing.assert_allclose(task.cost(qj + d), task.cost(qj) + 2 * f @ d + d @ H[6:, 6:] @ d, rtol=1e-10)


def test_attraction_is_a_posture_task_while_active():
    a = Attraction(3)
    assert not a.active
    a.start(np.array([0.1, 0.2, 0.3]), 2.0, frames=2)
    H = np.zeros((9, 9))
    a.add_hessian(H)
    np.testing.assert_allclose(np.diag(H), [0] * 6 + [4.0] * 3)
    f = np.zeros(3)
    a.add_gradient(f, np.zeros(3))
    np.testing.assert_allclose(f, [-0.4, -0.8, -1.2])
    a.tick()
    assert a.active
    a.tick()
    assert not a.active


def test_low_acceleration_pulls_towards_the_last_step():
    """w = 0.5: H += 0.25 I on the joints, f = 0.25 (moved - last_step): the minimiser of
    0.25 |moved + d - last|^2 alone is d = last - moved."""
    task = LowAccelerationTask(3, 0.5)
    task.last_step = np.array([0.1, -0.2, 0.0])
    H = np.zeros((9, 9))
    task.add_hessian(H)
    f = np.zeros(3)
    moved = np.array([0.05, 0.0, 0.3])
    task.add_gradient(f, moved)
    d = -np.linalg.solve(H[6:, 6:], f)
    np.testing.assert_allclose(d, task.last_step - moved)
    zero = LowAccelerationTask(3, 0.0)
    g = np.ones(3)
    zero.add_gradient(g, moved)
    np.testing.assert_array_equal(g, 1.0)


def test_regulariser_gradients_in_linear_form_match_their_definitions(g1):
    """The solver adds c qj - o once per step (``gradient_terms``, set up once per frame): the same gradient
    as ``add_gradient`` of the posture, low-acceleration and attraction terms."""
    rng = np.random.default_rng(14)
    D = g1.num_dofs
    qj, q_prev = rng.normal(size=D), rng.normal(size=D)
    posture = PostureTask(g1.default_pose, rng.uniform(0.0, 1.0, D))
    low = LowAccelerationTask(D, 0.3)
    low.last_step = rng.normal(scale=0.1, size=D)
    attraction = Attraction(D)
    attraction.start(rng.normal(size=D), 1.5, frames=3)
    for term, args, linear in ((posture, (qj,), posture.gradient_terms()),
                               (low, (qj - q_prev,), low.gradient_terms(q_prev)),
                               (attraction, (qj,), attraction.gradient_terms())):
        f = np.zeros(D)
        term.add_gradient(f, *args)
        c, o = linear
        np.testing.assert_allclose(c * qj - o, f, rtol=1e-12, atol=1e-12)


def test_damping_adds_tikhonov_and_levenberg_marquardt():
    d = Damping(1e-3, 0.5)
    H = d.hessian(4)
    np.testing.assert_allclose(H, 1e-3 * np.eye(4))
    d.add_lm(H, np.array([1.0, 2.0]))                       # 0.5 * |b|^2 = 2.5
    np.testing.assert_allclose(np.diag(H), 1e-3 + 2.5)

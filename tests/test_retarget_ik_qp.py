"""The stacked QP: the daqp call by hand, infeasible rows never a silent zero step, and their
record through the retarget metrics, the robot motion and the filter's ``ik_infeasible`` check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import require_shared

from core.robot import load_robot
from stages.retarget.ik.qp import QPSolver, QPStatus, TaskStack


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_task_stack_blocks_and_normal_equations():
    stack = TaskStack(3, (2, 1))
    A0, b0 = stack.block(0)
    A1, b1 = stack.block(1)
    A0[:] = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    b0[:] = [1.0, 1.0]
    A1[:] = [[0.0, 0.0, 3.0]]
    b1[:] = [3.0]
    np.testing.assert_allclose(stack.hessian(), np.diag([1.0, 4.0, 9.0]))
    np.testing.assert_allclose(stack.gradient(), [-1.0, -2.0, -9.0])


def test_qp_solves_bounds_and_rows_by_hand():
    """min 1/2 |x - (1, 2, 0.5, 3)|^2 with x_3 <= 1 (a joint bound; the first two entries are the free base)
    and x_0 + x_1 >= 4 (a row)."""
    solver = QPSolver(4, free=2, max_rows=1)
    H, f = np.eye(4), -np.array([1.0, 2.0, 0.5, 3.0])
    x, status = solver.solve(H, f, np.array([[1.0, 1.0, 0.0, 0.0]]), np.array([4.0]),
                             np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    assert status == QPStatus.OK
    np.testing.assert_allclose(x, [1.5, 2.5, 0.5, 1.0], atol=1e-9)


def test_a_solve_with_the_same_matrices_reuses_them_and_matches_a_fresh_one():
    """The chord step's solve (``same=True``: H and G unchanged, new f and bounds) gives the minimiser a fresh
    solver gives; rows it makes infeasible still fall back to the bounds-only solution."""
    rng = np.random.default_rng(3)
    n = 8
    B = rng.normal(size=(n, n))
    H = B @ B.T + n * np.eye(n)
    G = rng.normal(size=(5, n))
    solver, fresh = QPSolver(n, free=2, max_rows=5), QPSolver(n, free=2, max_rows=5)
    lo, hi = np.full(n - 2, -0.3), np.full(n - 2, 0.3)
    x0, status = solver.solve(H, rng.normal(size=n), G, rng.normal(size=5) - 1.0, lo, hi, keep=True)
    assert status == QPStatus.OK
    for _ in range(5):
        f, g = rng.normal(size=n), rng.normal(size=5) - 1.0
        x, status = solver.solve(H, f, G, g, lo, hi, same=True)
        y, status_fresh = fresh.solve(H, f, G, g, lo, hi)
        assert status == status_fresh == QPStatus.OK
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)
    # contradictory bounds on the same rows: x.G0 >= 1 and -x.G0 >= 0 (rows 0 and 1 made opposite)
    G2 = np.vstack([G[0], -G[0], G[2:]])
    solver.solve(H, rng.normal(size=n), G2, np.full(5, -10.0), lo, hi, keep=True)
    x, status = solver.solve(H, np.zeros(n), G2, np.array([1.0, 0.0, -10.0, -10.0, -10.0]), lo, hi, same=True)
    assert status == QPStatus.ROWS_DROPPED


def test_infeasible_rows_are_dropped_and_reported():
    """Rows x_0 >= 1 and -x_0 >= 0 contradict each other: the bounds-only solution comes back, marked."""
    solver = QPSolver(3, free=1, max_rows=2)
    H, f = np.eye(3), -np.array([0.5, 0.2, -0.2])
    G = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    x, status = solver.solve(H, f, G, np.array([1.0, 0.0]), np.array([-0.1, -0.1]), np.array([0.1, 0.1]))
    assert status == QPStatus.ROWS_DROPPED and solver.fallbacks == 1
    np.testing.assert_allclose(x, [0.5, 0.1, -0.1], atol=1e-9)


def test_infeasible_steps_reach_the_metrics_and_the_filter(g1, monkeypatch):
    """Every QP with rows made infeasible (daqp's flag forced): every frame is counted in
    ``ik_infeasible_frames``, flagged in ``RobotMotion.ik_infeasible`` and fails the filter's check; with
    the bounds-only QP failing too the steps are zero and counted in ``ik_no_step_frames``."""
    from stages.filter.api import run_checks
    from stages.filter.body import body_of
    from stages.filter.settings import Settings as FilterSettings
    from stages.ingest.api import ingest_file
    from stages.retarget.api import retarget_motion
    from stages.retarget.ik import qp

    human = ingest_file(require_shared("lafan1", "walk4_subject1.bvh"))
    human = dataclasses.replace(human, positions=human.positions[:30], rotations=human.rotations[:30])
    clean = retarget_motion(human, g1)
    assert clean.metrics["ik_infeasible_frames"] == 0.0 and not clean.ik_infeasible.any()
    real = qp.QPSolver._daqp

    def rows_infeasible(H, f, G, upper, lower, sense, model=None):
        x, flag = real(H, f, G, upper, lower, sense, model)
        return (x, -1) if G.shape[0] else (x, flag)

    monkeypatch.setattr(qp.QPSolver, "_daqp", staticmethod(rows_infeasible))
    bad = retarget_motion(human, g1)
    assert bad.metrics["ik_infeasible_frames"] == 30.0 and bad.metrics["ik_no_step_frames"] == 0.0
    assert bad.ik_infeasible.all() and bad.metrics["qp_fallbacks"] >= 29
    fs = FilterSettings()
    body = body_of(g1)
    result = {r.code: r for r in run_checks(bad, body, fs)}["ik_infeasible"]
    assert result.fail.all()
    assert not {r.code: r for r in run_checks(clean, body, fs)}["ik_infeasible"].failed
    # a short run is tolerated, a motion without the record passes
    brief = np.zeros(30, dtype=bool)
    brief[10:12] = True
    assert not {r.code: r for r in run_checks(dataclasses.replace(clean, ik_infeasible=brief), body, fs)}[
        "ik_infeasible"].failed
    assert not {r.code: r for r in run_checks(dataclasses.replace(clean, ik_infeasible=None), body, fs)}[
        "ik_infeasible"].failed
    monkeypatch.setattr(qp.QPSolver, "_daqp", staticmethod(lambda H, f, G, u, lo, s, model=None: (np.zeros(len(f)), -1)))
    stuck = retarget_motion(human, g1)
    assert stuck.metrics["ik_no_step_frames"] == 30.0          # every frame (the first: its polishing steps)
    assert np.all(stuck.dof_pos == stuck.dof_pos[0])           # zero steps, but counted


def test_ik_infeasible_survives_save_and_load(g1, tmp_path):
    from core.records.robot_motion import RobotMotion
    from stages.filter.synthetic import standing

    m = standing(g1, seconds=1.0)
    flags = np.zeros(m.num_frames, dtype=bool)
    flags[3:5] = True
    dataclasses.replace(m, ik_infeasible=flags).save(tmp_path / "a.npz")
    assert np.array_equal(RobotMotion.load(tmp_path / "a.npz").ik_infeasible, flags)
    m.save(tmp_path / "b.npz")
    assert RobotMotion.load(tmp_path / "b.npz").ik_infeasible is None

"""The adapter's (and the filter's) faster paths give the values of the plain ones.

Each speed-up of the apply path (benchmarks/bench_adapt.py) is checked here against the code
it replaced or the general computation it shortcuts, on real clips where the data is there:
the lowest non-foot points, the deepest self-penetration, the batched hull projection of the
balance step's ZMP targets, the batched SE(3) exponential, the lockstep correction of several
spans and the windowed raw-motion check of the hard-check guard.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.robot import load_robot
from core.robot.trajectory import read_unitree_csv
from stages.filter.body import body_of
from stages.filter.settings import Settings as FilterSettings
from stages.filter.state import ClipState
from tests.conftest import require_shared


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


@pytest.fixture(scope="module")
def dance(robot):
    """The first 20 s of Unitree's own G1 dance1 (self-contact, deep stances, fast arms)."""

    m = read_unitree_csv(require_shared("lafan1_g1_unitree", "dance1_subject1.csv"), robot)
    return m.frames(0, 600)


def test_lowest_nonfoot_points_equal_the_candidate_search(robot, dance):
    from stages.filter.state import _lowest_outside_spheres, _lowest_outside_spheres_full

    body = body_of(robot)
    state = ClipState(dance, body, FilterSettings())
    a, b = state.capsules
    keep = ~body.prim_is_foot
    ankles = state.frame_poses[0][:, body.foot_frame]
    region = state.settings.contact.foot_region_m
    args = (a[:, keep], b[:, keep], body.prim_radius[keep], ankles, region)
    fast, full = _lowest_outside_spheres(*args), _lowest_outside_spheres_full(*args)
    assert np.array_equal(fast, full)
    # the shins come near the ankles: there the lowest point is not an axis end (both paths are taken)
    lo, hi = a[:, keep], b[:, keep]
    end = np.where((hi[..., 2] < lo[..., 2])[..., None], hi, lo)
    assert (np.abs(fast[..., 2] + body.prim_radius[keep] - end[..., 2]) > 1e-6).any()


def test_deepest_penetration_equals_every_pair(robot, dance):
    from stages.filter.checks.collision import deepest_penetration, penetration_depths

    state = ClipState(dance, body_of(robot), FilterSettings())
    full = penetration_depths(state).max(axis=1)
    assert np.array_equal(deepest_penetration(state), full)
    assert (full > -0.01).any()                     # the dance has near-contact frames: the bound is tested


def test_batched_projection_equals_plain_float_hulls():
    from core.polygon import convex_hull
    from stages.adapt.balance import _hull_batch, _project_batch, _project_xy

    rng = np.random.default_rng(3)
    N, K = 3000, 8
    xy = rng.normal(0.0, 0.1, (N, K, 2))
    xy[: N // 3] = np.round(xy[: N // 3] * 20.0) / 20.0            # collinear and repeated points
    dup = rng.random((N, K)) < 0.15
    xy[dup] = xy[np.nonzero(dup)[0], 0]
    on = rng.random((N, K)) < 0.7
    on[:, 0] = True
    point = rng.normal(0.0, 0.12, (N, 2))
    hull, H = _hull_batch(xy, on)
    got = _project_batch(xy, on, point, 0.02)
    for i in range(N):
        ring = convex_hull([(float(x), float(y)) for (x, y), o in zip(xy[i].tolist(), on[i].tolist(), strict=True) if o])
        assert H[i] == len(ring) and np.array_equal(hull[i, :H[i]], np.array(ring).reshape(-1, 2))
        assert tuple(got[i]) == _project_xy((float(point[i, 0]), float(point[i, 1])), ring, 0.02)


def test_batched_exp6_is_pinocchios():
    import pinocchio as pin

    from stages.adapt.balance import exp6_batch

    rng = np.random.default_rng(1)
    twist = rng.normal(0.0, 1.0, (300, 6))
    twist[:100, 3:] *= 1e-6                                          # the small-angle branch
    rot, pos = exp6_batch(twist)
    for i in range(len(twist)):
        m = pin.exp6(pin.Motion(twist[i]))
        assert np.abs(m.rotation - rot[i]).max() < 1e-12 and np.abs(m.translation - pos[i]).max() < 1e-12


def test_spans_in_lockstep_equal_each_alone(robot, dance):
    from stages.adapt.balance import BalanceSettings, correct_balance, correct_balance_spans

    parts = [(0, 200), (260, 600)]
    crops = [_crop(dance, a, b) for a, b in parts]
    bs = BalanceSettings(rounds=2)
    together = correct_balance_spans(crops, robot, bs, None, crops, [None, None], [(0, 5), (5, 0)])
    for crop, hold, (q, shift) in zip(crops, [(0, 5), (5, 0)], together, strict=True):
        q1, shift1 = correct_balance(crop, robot, bs, feet_of=crop, hold=hold)
        assert np.abs(q - q1).max() < 1e-12 and np.abs(shift - shift1).max() < 1e-12
        assert np.abs(shift).max() > 1e-3                           # the dance is moved: something is compared


def test_windowed_raw_check_equals_the_whole_crop(robot, dance):
    """The guard's raw-motion check computed in windows around the asked frames equals the check
    on the whole crop there, with failing runs that cross the first windows' edges."""
    from stages.adapt.apply import _raw_fails
    from stages.adapt.balance import state_record
    from stages.filter.api import run_checks

    body, fs = body_of(robot), FilterSettings()
    a, b = 20, 580
    q = robot.configuration(dance.root_pos[a:b], dance.root_rot[a:b], dance.dof_pos[a:b])
    whole = {r.code: r.fail for r in run_checks(state_record(robot, dance.fps, q, dance.contacts[a:b]), body, fs,
                                                only=("self_collision", "joint_velocity"))}
    assert whole["self_collision"].sum() >= 5                       # the dance's arms cross its body
    rng = np.random.default_rng(0)
    for code, fail in whole.items():
        for _ in range(3):
            at = rng.random(b - a) < 0.03
            at |= fail & (rng.random(b - a) < 0.5)
            got = _raw_fails(dance, robot, body, fs, code, a, b, at)
            assert np.array_equal(got[at], fail[at])


def _crop(m, a, b):
    from core.records.robot_motion import RobotMotion

    return RobotMotion(robot=m.robot, fps=m.fps, root_pos=m.root_pos[a:b], root_rot=m.root_rot[a:b],
                       dof_pos=m.dof_pos[a:b], dof_vel=m.dof_vel[a:b], dof_names=m.dof_names, link_names=(),
                       link_pos=np.zeros((b - a, 0, 3)), link_rot=np.zeros((b - a, 0, 4)), contacts=m.contacts[a:b])

"""The simulate stage's fast paths give the same numbers, bit for bit, as the computations they replace.

The rollout is chaotic (one rounding difference in the QP's Hessian moves walk1's qpos by metres within
1,800 frames), so every fast path keeps the reference computation's floating-point operations; these tests
compare them with ``np.array_equal`` (exact), each alone and all together in a rollout of a real walk.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from core.robot import load_robot, read_unitree_csv
from stages.simulate import api, controller
from stages.simulate.controller import Command, Controller, FrameInterpolator, JointImpedance, as_slice
from stages.simulate.mjcf import build_sim_model
from stages.simulate.reference import build_reference
from stages.simulate.settings import Settings, TaskGains
from tests.conftest import require_shared


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


@pytest.fixture(scope="module")
def walk(robot):
    """The first 60 frames of Unitree's walk1 (30 fps)."""
    motion = read_unitree_csv(require_shared("lafan1_g1_unitree_extra", "walk1_subject2.csv"), robot)
    return motion.frames(0, 60)


def _naive_lerp_at(self, ref, frame, alpha, i1=None):
    i1 = min(frame + 1, ref.num_frames - 1)
    return lambda x: (1.0 - alpha) * x[frame] + alpha * x[i1]


def _naive_rotation_error(r_target, r):
    e = r_target @ r.T
    return 0.5 * np.array([e[2, 1] - e[1, 2], e[0, 2] - e[2, 0], e[1, 0] - e[0, 1]])


def _naive_pd(self, g, err, verr, acc_ref):
    return acc_ref + g.kp * err + g.kd * verr


def _naive_clip(self, torque):
    return np.clip(torque, -self.tau_max, self.tau_max)


def _naive_torque(self, since, q, qd):
    q_plan = self._q0 + self._qd0 * since + 0.5 * self._qdd * since * since
    qd_plan = self._qd0 + self._qdd * since
    return self._tau + self._inertia * (self.kp * (q_plan - q) + self.kd * (qd_plan - qd))


def _naive_cross3(a, b):
    return np.cross(a, b)


def _naive_foot_jacobians(self, d, k):
    m = self.sim.model
    body = self.sim.foot_bodies[k]
    rot = d.xmat[body].reshape(3, 3)
    point = d.xpos[body] + rot @ self.sim.sole_offsets[k]
    mujoco.mj_jac(m, d, self._jp, self._jr, point, body)
    mujoco.mj_jacDot(m, d, self._jdp, self._jdr, point, body)
    jac = np.vstack([self._jp, self._jr])
    bias = np.concatenate([self._jdp @ d.qvel, self._jdr @ d.qvel])
    return jac, bias, point, rot.copy()


def _naive_foot_contact_forces(sim, d, foot_geoms):
    out = np.zeros((2, 3))
    wrench = np.zeros(6)
    for i in range(d.ncon):
        con = d.contact[i]
        for k, geom in enumerate(foot_geoms):
            if con.geom1 == geom or con.geom2 == geom:
                mujoco.mj_contactForce(sim.model, d, i, wrench)
                force = con.frame.reshape(3, 3).T @ wrench[:3]
                out[k] += force if con.geom2 == geom else -force
    return out


def test_rollout_with_fast_paths_equals_reference_computations(robot, walk, monkeypatch):
    """60 frames of walk1 (about 1,000 physics steps, 180 QPs): qpos, torques and forces identical."""
    fast = api.simulate_motion(walk, robot)
    with monkeypatch.context() as patch:
        patch.setattr(FrameInterpolator, "lerp_at", _naive_lerp_at)
        patch.setattr(controller, "rotation_error", _naive_rotation_error)
        patch.setattr(Controller, "_pd", _naive_pd)
        patch.setattr(Controller, "_clip_torque", _naive_clip)
        patch.setattr(JointImpedance, "torque", _naive_torque)
        patch.setattr(api, "_cross3", _naive_cross3)
        patch.setattr(Controller, "_foot_jacobians", _naive_foot_jacobians)
        patch.setattr(api, "_foot_contact_forces", _naive_foot_contact_forces)
        slow = api.simulate_motion(walk, robot)
    assert np.array_equal(fast.motion.root_pos, slow.motion.root_pos)
    assert np.array_equal(fast.motion.dof_pos, slow.motion.dof_pos)
    assert np.array_equal(fast.joint_torque, slow.joint_torque)
    assert np.array_equal(fast.contact_force, slow.contact_force)
    assert np.array_equal(fast.floor_wrench, slow.floor_wrench)
    assert fast.summary["tracked_fraction"] > 0.9               # a real walk, tracked (not a trivial rollout)
    assert np.abs(fast.contact_force[:, :, 2]).max() > 100.0     # with the feet loaded


def test_frame_interpolator_equals_lerp(robot, walk):
    sim = build_sim_model(robot, float(walk.fps))
    ref = build_reference(sim, walk)
    interp = FrameInterpolator()
    T = ref.num_frames
    for frame, alpha in ((0, 0.0), (5, 6 / 17), (5, 12 / 17), (T - 1, 0.5)):
        lerp = interp.lerp_at(ref, frame, alpha)
        i1 = min(frame + 1, T - 1)
        for name in FrameInterpolator.FIELDS:
            x = getattr(ref, name)
            got = lerp(x)
            assert got.shape == x.shape[1:] and not got.flags.writeable
            assert np.array_equal(got, (1.0 - alpha) * x[frame] + alpha * x[i1]), name
        view = ref.sole_pos[:, 1]                               # not a packed array: interpolated directly
        assert np.array_equal(lerp(view), (1.0 - alpha) * view[frame] + alpha * view[i1])
    lerp = interp.lerp_at(ref, 7, 0.25)
    before = lerp(ref.com).copy()
    ref.com[7:9] += 1.0                                         # the rollout changes targets in place (re-plans)
    assert np.array_equal(interp.lerp_at(ref, 7, 0.25)(ref.com), before)    # same frame: the gathered rows
    interp.forget()
    assert np.allclose(interp.lerp_at(ref, 7, 0.25)(ref.com), before + 1.0)
    assert np.allclose(interp.lerp_at(ref, 8, 0.0)(ref.com), ref.com[8])   # a new frame gathers again


def test_joint_impedance_equals_expression():
    rng = np.random.default_rng(3)
    D, nv = 29, 35
    tau_max = rng.uniform(20.0, 120.0, D)
    cmd = Command(rng.normal(0, 80, D), rng.normal(0, 30, nv), np.zeros((2, 6)), np.ones(2, bool), True,
                  rng.uniform(0.01, 1.0, D))
    imp = JointImpedance(100.0, 20.0, tau_max, as_slice(np.arange(6, nv)))
    q0, qd0 = rng.normal(0, 1, D), rng.normal(0, 3, D)
    imp.start(cmd, q0, qd0)
    qdd = cmd.qacc[6:]
    since = 0.0
    for _ in range(5):
        since += 1.0 / 510.0
        q, qd = q0 + rng.normal(0, 0.01, D), qd0 + rng.normal(0, 0.1, D)
        q_plan = q0 + qd0 * since + 0.5 * qdd * since * since
        qd_plan = qd0 + qdd * since
        expected = cmd.torque + cmd.joint_inertia * (100.0 * (q_plan - q) + 20.0 * (qd_plan - qd))
        got = imp.torque(since, q, qd)
        assert np.array_equal(got, expected)
        assert np.array_equal(imp.clip(got), np.clip(expected, -tau_max, tau_max))
    assert as_slice(np.arange(7, 36)) == slice(7, 36)
    assert isinstance(as_slice(np.array([1, 3, 4])), np.ndarray)


def test_small_helpers_equal_numpy(robot):
    rng = np.random.default_rng(7)
    for _ in range(50):
        a, b = rng.normal(size=3), rng.normal(size=3)
        assert np.array_equal(api._cross3(a, b), np.cross(a, b))
        q = rng.normal(size=(2, 4))
        r = np.empty((2, 9))
        for k in range(2):
            mujoco.mju_quat2Mat(r[k], q[k] / np.linalg.norm(q[k]))
        r_target, rot = r.reshape(2, 3, 3)
        assert np.array_equal(controller.rotation_error(r_target, rot), _naive_rotation_error(r_target, rot))
    for nrow in (3, 6):                 # the solve's task products: np.dot gives @'s numbers (the same BLAS call)
        rows, target, qvel = rng.normal(size=(nrow, 35)), rng.normal(size=nrow), rng.normal(size=35)
        weighted = 3000.0 * rows.T
        assert np.array_equal(np.dot(weighted, rows), weighted @ rows)
        assert np.array_equal(np.dot(weighted, target), weighted @ target)
        assert np.array_equal(np.dot(rows, qvel), rows @ qvel)
    sim = build_sim_model(robot, 30.0)
    ctrl = Controller(sim, robot.effort_limit, Settings().controller, 0.9)
    g = TaskGains(kp=200.0, kd=28.0, weight=1.0)
    err, verr, acc = rng.normal(size=29), rng.normal(size=29), rng.normal(size=29)
    assert np.array_equal(ctrl._pd(g, err, verr, acc), acc + 200.0 * err + 28.0 * verr)
    torque = rng.normal(0, 200, 29)
    assert np.array_equal(ctrl._clip_torque(torque), np.clip(torque, -ctrl.tau_max, ctrl.tau_max))
    rot = r.reshape(2, 3, 3)[0]
    cone, lo, hi = ctrl._cone(rot, sim.sole_half_extents[0])
    lo[0] = hi[0] = 123.0                                       # callers change the bounds: copies
    again, lo2, hi2 = ctrl._cone(rot, sim.sole_half_extents[0])
    assert np.array_equal(cone, again) and lo2[0] != 123.0 and hi2[0] != 123.0
    local = ctrl._cone_parts[(float(sim.sole_half_extents[0, 0]), float(sim.sole_half_extents[0, 1]))][0]
    assert np.array_equal(cone, np.hstack([local[:, :3] @ rot.T, local[:, 3:] @ rot.T]))

"""The first frame of a clip: pink to convergence from several starts, the best kept.

Each start (the default posture, then seeded perturbations of it, each with the root at its target
pose) runs through pink itself (``FrameTask``, ``PostureTask``, ``ConfigurationLimit``,
``solve_ik(..., solver="daqp")``) to convergence, then is polished by a few constrained steps of the
stacked solver (which has the limb tasks, ground rows and barrier pink lacks here); the starts are
compared on the full objective (:meth:`DiffIK.cost`), so no clip starts in a local minimum
(mirrored or twisted limbs).
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from core.robot import Robot
from stages.retarget.ik.qp import QPStatus
from stages.retarget.ik.settings import FrameTargets, SolverSettings
from stages.retarget.ik.solver import DiffIK

POLISH_STEPS = 5
"""Constrained stacked-solver steps after pink on each start."""


def converge_pink(robot: Robot, frames: tuple[str, ...], tg: FrameTargets, q0: np.ndarray,
                  settings: SolverSettings) -> np.ndarray:
    """Run pink (FrameTask, PostureTask, ConfigurationLimit, daqp) from ``q0`` to convergence.

    Returns the final configuration (nq,).
    """
    import pink
    from pink.limits import ConfigurationLimit
    from pink.tasks import FrameTask, PostureTask

    model = robot.model
    q = q0.copy()
    q[7:] = np.clip(q[7:], robot.lower, robot.upper)
    config = pink.Configuration(model, model.createData(), q)
    tasks = []
    for m, frame in enumerate(frames):
        task = FrameTask(frame, position_cost=float(tg.pos_w[m]), orientation_cost=float(tg.rot_w[m]))
        task.set_target(pin.SE3(tg.rot[m], tg.pos[m]))
        tasks.append(task)
    weights = np.asarray(robot.posture_weights, dtype=np.float64) * settings.posture_scale
    posture = PostureTask(cost=weights)
    q_ref = pin.neutral(model)
    q_ref[7:] = robot.default_pose
    posture.set_target(q_ref)
    tasks.append(posture)
    limits = [ConfigurationLimit(model, config_limit_gain=settings.config_limit_gain)]
    for _ in range(settings.first_frame_iterations):
        v = pink.solve_ik(config, tasks, 1.0, solver="daqp", damping=settings.damping, limits=limits,
                          safety_break=False)
        config.integrate_inplace(v, 1.0)
        if np.max(np.abs(v)) < settings.first_frame_tolerance:
            break
    q = np.array(config.q)
    q[7:] = np.clip(q[7:], robot.lower, robot.upper)
    return q


def default_start(ik: DiffIK, tg: FrameTargets, root_index: int) -> np.ndarray:
    """The robot's default posture with its root at the root task's target pose (nq,)."""
    q = pin.neutral(ik.model)
    q[:3] = tg.pos[root_index]
    q[3:7] = pin.Quaternion(tg.rot[root_index]).coeffs()           # x y z w
    q[7:] = ik.robot.default_pose
    return q


def solve_first_frame(ik: DiffIK, tg: FrameTargets, root_index: int) -> tuple[np.ndarray, dict]:
    """First frame to convergence from several starts; returns (q, info).

    Starts: the default posture and ``first_frame_starts - 1`` seeded uniform
    perturbations of it, each with the root at its target pose. Once a start fits better than
    ``first_frame_good_cost`` the remaining starts are skipped. ``info["first_frame_status"]`` is the
    worst :class:`QPStatus` of the winning start's polishing steps.
    """
    st = ik.settings
    robot = ik.robot
    rng = np.random.default_rng(st.seed)
    base = default_start(ik, tg, root_index)
    starts = [base]
    for _ in range(max(0, st.first_frame_starts - 1)):
        q = base.copy()
        q[7:] = np.clip(q[7:] + rng.uniform(-st.start_noise, st.start_noise, size=len(robot.lower)),
                        robot.lower, robot.upper)
        starts.append(q)
    best, best_cost, best_status, costs = None, np.inf, QPStatus.OK, []
    for q0 in starts:
        q = converge_pink(robot, ik.frames, tg, q0, st)
        ik.status = QPStatus.OK
        for _ in range(POLISH_STEPS):
            q = ik.integrate(q, ik.step(q, tg, None, 1.0))
        c = ik.cost(q, tg)
        costs.append(c)
        if c < best_cost:
            best, best_cost, best_status = q, c, ik.status
        if best_cost < st.first_frame_good_cost:
            break                                               # a fit this close is not a local minimum
    assert best is not None
    return best, {"first_frame_costs": [round(c, 6) for c in costs], "first_frame_best": int(np.argmin(costs)),
                  "first_frame_status": int(best_status)}

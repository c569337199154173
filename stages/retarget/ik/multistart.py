"""The first frame of a clip: pink to convergence from several starts, the best kept.

Each start (the default posture, then seeded perturbations of it, each with the root at its target
pose) runs through pink itself (``FrameTask``, ``PostureTask``, ``ConfigurationLimit``,
``solve_ik(..., solver="daqp")``) to convergence, then is polished by a few constrained steps of the
stacked solver (which has the limb tasks, ground rows and barrier pink lacks here); the starts are
compared on the full objective (:meth:`DiffIK.cost`), so no clip starts in a local minimum
(mirrored or twisted limbs). A start that self-penetrates loses to any that does not: pink has no
collision rows, so every start can converge into the same penetrating pose (a hand inside the
pelvis when the scaled human's hand rests on its hip), which the barrier rows of the later frames
only keep from growing. When every pink start penetrates, the default posture is also solved by the
stacked solver itself, barrier and ground rows on, in bounded steps (:func:`converge_constrained`).
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


def self_penetration_depth(robot: Robot, q: np.ndarray) -> float:
    """Deepest penetration (m, 0 when none) over the robot's checked capsule pairs at ``q`` (nq,)."""
    col = robot.collision
    if not len(col.pairs):
        return 0.0
    q = np.atleast_2d(q)
    pos, rot = robot.frame_placements(q[:, :3], q[:, 3:7], q[:, 7:], list(col.frames))
    return max(0.0, -float(col.pair_distances(pos, rot).signed.min()))


def converge_constrained(ik: DiffIK, tg: FrameTargets, q0: np.ndarray) -> np.ndarray:
    """Stacked-solver steps (ground and barrier rows on) from ``q0`` to convergence, each scaled to
    |dq|_inf <= ``first_frame_max_step``; returns the final configuration (nq,).

    From a collision-free ``q0`` the result stays collision-free: the rows hold at dq = 0 and at the
    QP's dq, so at every step between, and the bounded step keeps their linearisation valid.
    """
    st = ik.settings
    q = q0.copy()
    for _ in range(st.first_frame_iterations):
        dq = ik.step(q, tg, None, 1.0)
        size = float(np.max(np.abs(dq)))
        q = ik.integrate(q, dq * min(1.0, st.first_frame_max_step / max(size, 1e-12)))
        if size < st.first_frame_tolerance:
            break
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
    perturbations of it, each with the root at its target pose. They are ranked by whether they
    self-penetrate deeper than ``first_frame_penetration``, then by cost. Once a collision-free
    start fits better than ``first_frame_good_cost`` the remaining starts are skipped; when none is
    collision-free, :func:`converge_constrained` from the default posture is one more start.
    ``info["first_frame_status"]`` is the worst :class:`QPStatus` of the winning start's steps.
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
    best: np.ndarray | None = None
    best_key, best_status, best_depth, best_index = (True, np.inf), QPStatus.OK, 0.0, 0
    costs: list[float] = []

    def consider(q: np.ndarray) -> None:
        nonlocal best, best_key, best_status, best_depth, best_index
        c = ik.cost(q, tg)
        depth = self_penetration_depth(robot, q)
        costs.append(c)
        key = (depth > st.first_frame_penetration, c)
        if key < best_key:
            best, best_key, best_status, best_depth, best_index = q, key, ik.status, depth, len(costs) - 1

    for q0 in starts:
        q = converge_pink(robot, ik.frames, tg, q0, st)
        ik.status = QPStatus.OK
        for _ in range(POLISH_STEPS):
            q = ik.integrate(q, ik.step(q, tg, None, 1.0))
        consider(q)
        if not best_key[0] and best_key[1] < st.first_frame_good_cost:
            break                                               # a fit this close is not a local minimum
    if best_key[0] and st.self_collision:
        ik.status = QPStatus.OK
        consider(converge_constrained(ik, tg, base))
    assert best is not None
    return best, {"first_frame_costs": [round(c, 6) for c in costs], "first_frame_best": best_index,
                  "first_frame_status": int(best_status),
                  "first_frame_penetration_m": round(best_depth, 6)}

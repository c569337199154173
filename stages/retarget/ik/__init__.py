"""Differential inverse kinematics of the retarget stage: pink's task/limit formulation as small
terms stacked into one QP solved with daqp (see :mod:`stages.retarget.ik.solver`).

Modules: ``settings`` (SolverSettings, FrameTargets), ``kinematics`` (task frame placements and
Jacobians), one module per task, limit or barrier (``frame_tasks``, ``limb_tasks``, ``posture``,
``low_acceleration``, ``damping``, ``limits``, ``ground``, ``self_collision``; ``capsules`` holds
the capsule placements the last two share), ``qp`` (the stack and the daqp call), ``solver``
(DiffIK), ``multistart`` (first frame), ``reseed``, ``track`` (the loop over a clip's frames).
"""

from stages.retarget.ik.kinematics import log3
from stages.retarget.ik.multistart import converge_pink, default_start, solve_first_frame
from stages.retarget.ik.qp import QPStatus
from stages.retarget.ik.settings import FrameTargets, SolverSettings
from stages.retarget.ik.solver import DiffIK

__all__ = ["DiffIK", "FrameTargets", "QPStatus", "SolverSettings", "converge_pink", "default_start", "log3",
           "solve_first_frame"]

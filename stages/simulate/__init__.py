"""The simulate stage: every clip tracked by a model-based whole-body controller in MuJoCo and recorded.

``api.simulate_motion(motion, robot, settings) -> Simulation``. The pieces:
``mjcf.py`` writes the MuJoCo model from the project's robot description
(same kinematics, inertias, limits; capsules and sole boxes on a flat floor),
``reference.py`` turns the reference into per-frame targets in MuJoCo's
conventions, ``balance.py`` plans a CoM path whose ZMP stays in the support
(re-planned from the robot's state), ``controller.py`` is the task-space
inverse-dynamics QP (daqp) run every few physics steps, ``api.py`` the
rollout with the fall / reset protocol, ``stage.py`` and ``tool.py`` the
pipeline stage and the ``simulate-clip`` command.
"""

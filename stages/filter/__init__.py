"""The filter stage: physically infeasible clips and segments out, with reason codes.

``api.filter_motion(motion, robot, settings) -> Verdict``; the checks live in
``checks/`` (one small module per family), their settings in ``settings.py``,
the shared per-clip quantities in ``state.py`` and the verdict logic in
``decide.py``.
"""

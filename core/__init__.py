"""The bottom layer every stage and ``pipeline/`` build on; it imports no stage.

- ``core.records``: the records stages exchange (``HumanMotion``, ``RobotMotion``,
  ``Verdict``), keypoint names and tree.
- ``core.errors``, ``core.reasons``: errors a user can cause and the registry of
  reason codes.
- ``core.npzio``, ``core.hashing``: atomic npz I/O without pickles, content hashes.
- ``core.rotations``, ``core.contacts``: numpy helpers (quaternions **x y z w**).
- ``core.robot``: robot descriptions and models (``load_robot``).
- ``core.stage``, ``core.settings``: the stage contract and typed settings.
"""

"""Interactive 3-D viewer on viser: ``python -m pipeline view OUT_OR_FILE``.

``viz.viewer.bodies`` builds the robot's drawable bodies (official visual meshes
from a URDF that has them, else the capsules of the robot config) and their
poses over a clip; ``viz.viewer.app`` serves the scene and the controls
(clip picker, timeline, play, raw / adapted / simulated toggles).
"""

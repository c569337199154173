"""The canonical human keypoints every skeleton provides, and their tree.

Retargeting, metrics and plots only ever use these names; each ingest skeleton maps
its own joints onto them (``stages/ingest/skeletons.py``).
"""

from __future__ import annotations

#: Named keypoints every skeleton provides (retargeting only ever uses these).
KEYPOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip", "right_hip",
    "left_knee", "right_knee",
    "left_ankle", "right_ankle",
    "left_toe", "right_toe",
    "spine", "neck", "head",
    "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)

#: Keypoint tree of :data:`KEYPOINT_NAMES` (child -> parent).
KEYPOINT_PARENT: dict[str, str | None] = {
    "pelvis": None,
    "left_hip": "pelvis", "right_hip": "pelvis",
    "left_knee": "left_hip", "right_knee": "right_hip",
    "left_ankle": "left_knee", "right_ankle": "right_knee",
    "left_toe": "left_ankle", "right_toe": "right_ankle",
    "spine": "pelvis", "neck": "spine", "head": "neck",
    "left_shoulder": "neck", "right_shoulder": "neck",
    "left_elbow": "left_shoulder", "right_elbow": "right_shoulder",
    "left_wrist": "left_elbow", "right_wrist": "right_elbow",
}

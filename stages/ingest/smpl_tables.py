"""SMPL-family body skeleton: joint names, parents and the neutral mean shape.

Values from ``../shared/data/FACTS.md`` (SMPL neutral model, betas = 0;
names as in vchoutas/smplx ``joint_names.py``). The 22 body joints are shared
by SMPL (24 joints), SMPL-H (52) and SMPL-X (55): the models differ only after
joint 21 (hands, face).
"""

from __future__ import annotations

import numpy as np

BODY_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)

BODY_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19], dtype=np.int32)

NUM_BODY_JOINTS = len(BODY_JOINT_NAMES)   # 22, including the pelvis

#: Rest joint positions (m) of the SMPL neutral mean shape in the SMPL native
#: frame (Y-up, +Z forward, +X = body left), joints 0-21.
MEAN_SHAPE_REST_JOINTS = np.array([
    [-0.0018, -0.2233, 0.0282],
    [0.0677, -0.3147, 0.0214],
    [-0.0695, -0.3138, 0.0239],
    [-0.0043, -0.1143, 0.0015],
    [0.1020, -0.6899, 0.0169],
    [-0.1078, -0.6964, 0.0150],
    [0.0012, 0.0209, 0.0026],
    [0.0884, -1.0879, -0.0268],
    [-0.0920, -1.0948, -0.0273],
    [0.0027, 0.0738, 0.0280],
    [0.1148, -1.1437, 0.0925],
    [-0.1174, -1.1429, 0.0960],
    [-0.0001, 0.2877, -0.0149],
    [0.0815, 0.1955, -0.0061],
    [-0.0791, 0.1926, -0.0106],
    [0.0051, 0.3527, 0.0364],
    [0.1725, 0.2260, -0.0150],
    [-0.1751, 0.2252, -0.0197],
    [0.4321, 0.2132, -0.0425],
    [-0.4288, 0.2119, -0.0411],
    [0.6813, 0.2222, -0.0437],
    [-0.6841, 0.2197, -0.0467],
])

#: Number of joints and axis-angle pose width of each AMASS model type.
MODEL_JOINTS = {"smpl": 24, "smplh": 52, "smplx": 55}

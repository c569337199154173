"""Human -> robot scaling from the clip's own measured segment lengths.

No fixed human height is assumed: every human segment length is the median,
over the clip's frames, of the distance between its two keypoints (m); every
robot segment length is the distance between its two frames in the robot's
reference posture (m). The root translation is scaled by one factor, the
ratio of the robot's leg length to the human's (hip -> knee -> ankle), so that
steps and jumps keep their proportion to the legs that make them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from core.records.keypoints import KEYPOINT_NAMES

LEG_CHAINS: tuple[tuple[str, str, str], ...] = (("left_hip", "left_knee", "left_ankle"),
                                                ("right_hip", "right_knee", "right_ankle"))


@dataclass(frozen=True)
class RestPose:
    """World placements of robot frames in the reference posture (root at the origin, identity).

    Attributes:
        frames: frame names.
        pos: (F, 3) positions, m.
        rot: (F, 3, 3) rotation matrices (frame -> world).
    """

    frames: tuple[str, ...]
    pos: np.ndarray
    rot: np.ndarray

    def position(self, frame: str) -> np.ndarray:
        return self.pos[self.frames.index(frame)]

    def rotation(self, frame: str) -> np.ndarray:
        return self.rot[self.frames.index(frame)]


def rest_pose(model: pin.Model, frame_ids: dict[str, int], dof_pos: np.ndarray) -> RestPose:
    """Placements of the named frames at joint positions ``dof_pos`` (rad), root at identity."""
    q = pin.neutral(model)
    q[7:] = dof_pos
    data = model.createData()
    pin.framesForwardKinematics(model, data, q)
    names = tuple(frame_ids)
    pos = np.array([data.oMf[frame_ids[n]].translation for n in names])
    rot = np.array([data.oMf[frame_ids[n]].rotation for n in names])
    return RestPose(names, pos, rot)


def segment_lengths(keypoints: np.ndarray, pairs: list[tuple[str, str]],
                    names: tuple[str, ...] = KEYPOINT_NAMES) -> np.ndarray:
    """Median length (m) over frames of each keypoint pair; keypoints (T, K, 3) over ``names``."""
    idx = {n: i for i, n in enumerate(names)}
    a = np.array([idx[p[0]] for p in pairs], dtype=int)
    b = np.array([idx[p[1]] for p in pairs], dtype=int)
    return np.median(np.linalg.norm(keypoints[:, b] - keypoints[:, a], axis=-1), axis=0)


@dataclass(frozen=True)
class Scaling:
    """Scale factors of one clip onto one robot.

    Attributes:
        root_scale: robot leg length / human leg length; multiplies the root
            translation (x, y and height above the floor).
        human_leg: human hip-knee-ankle length, m (clip median, mean of both legs).
        robot_leg: the robot's, m.
        segments: name -> (human length m, robot length m, robot/human) for the
            robot config's scale rules.
    """

    root_scale: float
    human_leg: float
    robot_leg: float
    segments: dict[str, tuple[float, float, float]]

    def summary(self) -> dict[str, float]:
        out = {"root_scale": round(self.root_scale, 5), "human_leg_m": round(self.human_leg, 5),
               "robot_leg_m": round(self.robot_leg, 5)}
        for name, (_, _, s) in self.segments.items():
            out[f"scale_{name}"] = round(s, 5)
        return out


def compute_scaling(keypoints: np.ndarray, rest: RestPose, keypoint_frame: dict[str, str],
                    scale_rules: tuple = ()) -> Scaling:
    """Scale factors from the clip's measured lengths and the robot's rest lengths.

    Args:
        keypoints: (T, K, 3) human keypoints over :data:`KEYPOINT_NAMES`, m.
        rest: robot rest placements (must contain the frames used below).
        keypoint_frame: human keypoint -> robot frame (the IK correspondences);
            must cover the hip, knee and ankle of both legs.
        scale_rules: the robot config's ``ScaleRule`` tuples (reported only).

    Raises:
        ValueError: the correspondences lack a leg keypoint, or a length is zero.
    """
    human_leg, robot_leg = [], []
    for chain in LEG_CHAINS:
        missing = [k for k in chain if k not in keypoint_frame]
        if missing:
            raise ValueError(f"robot keypoint tasks lack {missing}; needed to scale the root")
        pairs = [(chain[0], chain[1]), (chain[1], chain[2])]
        human_leg.append(float(segment_lengths(keypoints, pairs).sum()))
        robot_leg.append(sum(float(np.linalg.norm(rest.position(keypoint_frame[b]) - rest.position(keypoint_frame[a])))
                             for a, b in pairs))
    h, r = float(np.mean(human_leg)), float(np.mean(robot_leg))
    if h < 1e-3 or r < 1e-3:
        raise ValueError(f"degenerate leg length (human {h:.4f} m, robot {r:.4f} m)")
    segments = {}
    for rule in scale_rules:
        hl = float(segment_lengths(keypoints, [tuple(rule.human)])[0])
        if rule.robot[0] in rest.frames and rule.robot[1] in rest.frames:
            rl = float(np.linalg.norm(rest.position(rule.robot[1]) - rest.position(rule.robot[0])))
            segments[rule.name] = (hl, rl, rl / hl if hl > 1e-6 else float("nan"))
    return Scaling(root_scale=r / h, human_leg=h, robot_leg=r, segments=segments)

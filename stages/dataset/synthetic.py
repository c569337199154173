"""Random smooth robot motions for tests and benchmarks (not used by the pipeline).

Deterministic for a seed. Trajectories are sums of a few sinusoids, so
velocities are smooth and quaternions continuous.
"""

from __future__ import annotations

import numpy as np

from core import rotations as rot
from core.records.robot_motion import RobotMotion

G1_LINKS = ("pelvis", "left_ankle_roll_link", "right_ankle_roll_link", "torso_link", "left_wrist_yaw_link",
            "right_wrist_yaw_link", "left_knee_link", "right_knee_link")


def _smooth(rng: np.random.Generator, t: np.ndarray, dims: int, amp: float, max_hz: float) -> np.ndarray:
    out = np.zeros((len(t), dims))
    for _ in range(3):
        f = rng.uniform(0.1, max_hz, dims)
        p = rng.uniform(0, 2 * np.pi, dims)
        a = rng.uniform(0.2, 1.0, dims) * amp
        out += a * np.sin(2 * np.pi * f * t[:, None] + p)
    return out


def random_motion(num_frames: int, fps: float = 30.0, num_dofs: int = 29, num_links: int = len(G1_LINKS),
                  seed: int = 0, speed: float = 1.0, robot: str = "g1") -> RobotMotion:
    """A random smooth RobotMotion; ``speed`` scales every frequency (harder when larger)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    root_pos = _smooth(rng, t, 3, 0.5, 0.5 * speed)
    root_pos[:, :2] += rng.uniform(-0.5, 0.5, 2) * speed * t[:, None]
    root_pos[:, 2] = 0.78 + 0.03 * np.sin(2 * np.pi * 0.7 * speed * t)
    root_rot = rot.from_rotvec(_smooth(rng, t, 3, 0.3, 0.4 * speed) * np.array([0.3, 0.3, 3.0]))
    dof_pos = _smooth(rng, t, num_dofs, 0.6, 1.5 * speed)
    dof_vel = np.gradient(dof_pos, 1.0 / fps, axis=0)
    link_pos = root_pos[:, None, :] + _smooth(rng, t, num_links * 3, 0.3, 1.0 * speed).reshape(-1, num_links, 3)
    link_rot = rot.from_rotvec(_smooth(rng, t, num_links * 3, 1.0, 0.8 * speed).reshape(-1, num_links, 3))
    phase = np.sin(2 * np.pi * 0.9 * speed * t)
    contacts = np.stack((phase > -0.3, phase < 0.3), axis=1)
    names = tuple(f"joint_{i}" for i in range(num_dofs))
    links = tuple(G1_LINKS[i] if i < len(G1_LINKS) else f"link_{i}" for i in range(num_links))
    return RobotMotion(robot=robot, fps=fps, root_pos=root_pos, root_rot=root_rot, dof_pos=dof_pos, dof_vel=dof_vel,
                       dof_names=names, link_names=links, link_pos=link_pos, link_rot=link_rot, contacts=contacts,
                       metrics={"keypoint_error_mean_m": 0.03}, provenance={"source": f"synthetic-{seed}"})


def synthetic_inputs(count: int, num_frames: int = 300, fps: float = 30.0, seed: int = 0, num_dofs: int = 29,
                     num_links: int = len(G1_LINKS)) -> list:
    """``count`` :class:`~stages.dataset.writer.ClipInput` of random motions, each with a ``pass`` verdict."""
    from stages.dataset.writer import ClipInput

    out = []
    for i in range(count):
        motion = random_motion(num_frames, fps, num_dofs, num_links, seed=seed * 100003 + i)
        out.append(ClipInput(clip_id=f"synthetic_{seed}_{i:04d}", motion=motion,
                             verdict={"verdict": "pass", "segments": [[0, num_frames]], "reasons": []},
                             source_path=f"/synthetic/clip_{i:04d}_subject{i % 3 + 1}.bvh",
                             source_sha256=f"{seed:08x}{i:056x}", dataset="synthetic", license="CC0"))
    return out

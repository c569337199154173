"""The adapter's training data: human-side and robot-side segments from a run's clips.

- **human** side: every clip's raw retarget (artifact ``retarget``).
- **robot** side: motion known to be physically plausible, from every source the run has:
  ``simulated`` (artifact ``simulate``: the simulated motion, frames where ``sim_fallen``
  is false), ``passing`` (the kept segments of retargets whose filter verdict on *every*
  check is pass/trimmed), ``rollouts`` (a folder of RobotMotion .npz files, or .npz files
  with ``root_pos``/``root_rot`` (xyzw)/``dof_pos``/``fps`` arrays as the dataset's clip
  schema stores them) and ``unitree_csv`` (Unitree G1 CSV files).

Every segment is a (T, F) feature array (:mod:`stages.adapt.features`) with the name of its
source and an identity (artifact hash or file sha256) that keys the trained model.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.contacts import spans_of
from core.errors import InputError
from core.hashing import sha256_file
from core.npzio import load_npz
from core.records.robot_motion import RobotMotion
from core.stage import ClipOutcome
from stages.adapt.features import motion_features
from stages.adapt.settings import Settings

if TYPE_CHECKING:
    from core.robot import Robot
    from core.stage import ClipSource


@dataclass(frozen=True)
class Segment:
    """A run of frames of one domain: features (T, F) float32, source name, identity."""

    features: np.ndarray
    source: str
    identity: str

    @property
    def frames(self) -> int:
        return int(self.features.shape[0])


def _resampled(motion: RobotMotion, fps: float, robot: Robot) -> RobotMotion:
    """``motion`` at ``fps`` (joint and root interpolation, FK for links) when it differs."""
    if abs(float(motion.fps) - fps) < 1e-6 or motion.num_frames < 2:
        return motion
    from scipy.spatial.transform import Rotation, Slerp

    from core.robot.trajectory import robot_motion_from_trajectory

    t_src = np.arange(motion.num_frames) / float(motion.fps)
    t = np.arange(0.0, t_src[-1] + 1e-9, 1.0 / fps)
    pos = np.stack([np.interp(t, t_src, motion.root_pos[:, i]) for i in range(3)], axis=1)
    rot = Slerp(t_src, Rotation.from_quat(motion.root_rot))(t).as_quat()
    dof = np.stack([np.interp(t, t_src, motion.dof_pos[:, i]) for i in range(motion.dof_pos.shape[1])], axis=1)
    return robot_motion_from_trajectory(robot, fps, pos, rot, dof)


def _spans_features(motion: RobotMotion, spans: list[tuple[int, int]], min_frames: int) -> list[np.ndarray]:
    feats = motion_features(motion)
    return [feats[a:b] for a, b in spans if b - a >= min_frames]


def _compatible(motion: RobotMotion, robot: Robot) -> bool:
    return motion.robot == robot.name and tuple(motion.dof_names) == tuple(robot.dof_names) and \
        tuple(motion.link_names) == tuple(robot.config.key_links)


def split_of(clip: ClipSource, settings: Settings) -> str:
    """The dataset's split of a source clip ("train" / "val" / "test"; the same hash as the writer)."""
    key = f"{settings.split_seed}:{clip.sha256 or clip.clip_id}".encode()
    u = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0 ** 64
    if u < settings.split_train:
        return "train"
    return "val" if u < settings.split_train + settings.split_val else "test"


def gather(clips: list[ClipOutcome], settings: Settings, robot: Robot, fps: float, min_frames: int) -> tuple[list[Segment], list[Segment], list[str]]:
    """(human segments, robot segments, warnings) of a run's clips and the configured extra sources
    (clips of the val / test split left out when ``settings.hold_out``)."""
    human: list[Segment] = []
    robot_side: list[Segment] = []
    notes: list[str] = []
    for outcome in sorted(clips, key=lambda c: c.clip.clip_id):
        if settings.hold_out and split_of(outcome.clip, settings) != "train":
            continue
        path = outcome.artifacts.get("retarget")
        if path is None:
            continue
        try:
            raw = RobotMotion.load(path)
        except InputError as exc:
            notes.append(str(exc))
            continue
        if not _compatible(raw, robot) or raw.num_frames < min_frames:
            continue
        ident = outcome.hashes.get("retarget", outcome.clip.sha256)
        human.append(Segment(motion_features(raw), "retarget", ident))
        verdict = (outcome.summaries.get("filter") or {}).get("verdict")
        if settings.use_passing and verdict and verdict.get("verdict") in ("pass", "trimmed"):
            for feats in _spans_features(raw, [tuple(s) for s in verdict["segments"]], min_frames):
                robot_side.append(Segment(feats, "passing", ident + ":" + outcome.hashes.get("filter", "")))
        sim_path = outcome.artifacts.get("simulate")
        if settings.use_simulated and sim_path is not None:
            try:
                arrays, _ = load_npz(sim_path)
                sim = RobotMotion.load(sim_path)
                fallen = np.asarray(arrays.get("sim_fallen", np.zeros(sim.num_frames, bool)), dtype=bool)
                if _compatible(sim, robot):
                    for feats in _spans_features(sim, spans_of(~fallen), min_frames):
                        robot_side.append(Segment(feats, "simulated", outcome.hashes.get("simulate", str(sim_path))))
            except (InputError, OSError, ValueError) as exc:
                notes.append(f"simulate artifact {sim_path}: {exc}")
    if settings.rollouts:
        for file in sorted(Path(settings.rollouts).expanduser().glob("**/*.npz")):
            try:
                motion = _rollout(file, robot)
            except InputError as exc:
                notes.append(str(exc))
                continue
            motion = _resampled(motion, fps, robot)
            if _compatible(motion, robot) and motion.num_frames >= min_frames:
                robot_side.append(Segment(motion_features(motion), "rollouts", sha256_file(file)))
    for pattern in settings.unitree_csv:
        from core.robot.trajectory import read_unitree_csv

        for name in sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True)):
            try:
                motion = _resampled(read_unitree_csv(name, robot), fps, robot)
            except InputError as exc:
                notes.append(str(exc))
                continue
            if motion.num_frames >= min_frames:
                robot_side.append(Segment(motion_features(motion), "unitree_csv", sha256_file(name)))
    return human, robot_side, notes


def _rollout(file: Path, robot: Robot) -> RobotMotion:
    """A rollout file: a RobotMotion .npz, or root_pos / root_rot (xyzw) / dof_pos / fps arrays."""
    arrays, meta = load_npz(file)
    if meta.get("schema") == "robot_motion/1":
        return RobotMotion.from_arrays(arrays, meta, file)
    missing = [k for k in ("root_pos", "root_rot", "dof_pos", "fps") if k not in arrays]
    if missing:
        raise InputError(file, "missing_array", f"rollout lacks {', '.join(missing)} (and is no RobotMotion)")
    from core.robot.trajectory import robot_motion_from_trajectory

    dof = np.asarray(arrays["dof_pos"], np.float64)
    if dof.ndim != 2 or dof.shape[1] != robot.num_dofs:
        raise InputError(file, "wrong_columns", f"dof_pos has shape {dof.shape}, robot has {robot.num_dofs} joints")
    return robot_motion_from_trajectory(robot, float(arrays["fps"]), np.asarray(arrays["root_pos"], np.float64),
                                        np.asarray(arrays["root_rot"], np.float64), dof)


def frames_per_source(segments: list[Segment]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in segments:
        out[s.source] = out.get(s.source, 0) + s.frames
    return dict(sorted(out.items()))

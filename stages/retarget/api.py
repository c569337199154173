"""Retarget one human motion onto one robot: ``retarget_motion(human, robot, settings)``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import InputError
from core.records.human_motion import HumanMotion
from core.records.keypoints import KEYPOINT_NAMES
from core.records.robot_motion import RobotMotion
from core.robot import Robot
from core.rotations import from_matrix, make_continuous
from stages.retarget.contacts import FootContacts, detect_foot_contacts
from stages.retarget.demand import demanded_joint_speed, target_penetration
from stages.retarget.ik import DiffIK, FrameTargets, QPStatus, SolverSettings
from stages.retarget.ik.swing_clearance import lift_swing_targets, swing_clearance
from stages.retarget.ik.track import track
from stages.retarget.metrics import PENETRATION_TOLERANCE, evaluate, metric_frames, trajectory_poses
from stages.retarget.scaling import Scaling, compute_scaling, rest_pose
from stages.retarget.settings import Settings
from stages.retarget.targets import Targets, build_targets, limb_pairs, limb_weights

if TYPE_CHECKING:
    from core.robot.model import Robot


@dataclass(frozen=True)
class Prepared:
    """Everything computed before the IK loop: keypoints (T, K, 3), contacts (T, 2) (feet standing
    on the floor, :attr:`FootContacts.standing`), the heel / toe contact detail, scaling, targets."""

    keypoints: np.ndarray
    contacts: np.ndarray
    scaling: Scaling
    targets: Targets
    sole_corners: np.ndarray
    floor_height: float = 0.0
    foot_contacts: FootContacts | None = None


def _check(human: HumanMotion) -> np.ndarray:
    where = human.provenance.get("source_path")
    kp = np.asarray(human.keypoint_positions(), dtype=np.float64)
    if kp.shape[0] < 2:
        raise InputError(where, "too_short", f"{kp.shape[0]} frame(s); retargeting needs at least 2")
    if not np.all(np.isfinite(kp)):
        raise InputError(where, "non_finite", "keypoint positions hold NaN or inf")
    if not np.isfinite(human.fps) or human.fps <= 0:
        raise InputError(where, "bad_fps", f"frame rate {human.fps!r} is not a positive number")
    return kp


def frame_clearance(robot: Robot) -> dict[str, float]:
    """Frame -> lowest height (m) its origin may take so that none of its capsules is below z = 0.

    Orientation-free bound: capsule radius plus the distance from the frame
    origin to the capsule's core segment, the largest over the frame's capsules.
    """
    col = robot.collision
    out: dict[str, float] = {}
    for p, a, b, r in zip(col.primitives, col.a_local, col.b_local, col.radius):
        d = b - a
        s = float(np.clip(-(a @ d) / max(d @ d, 1e-12), 0.0, 1.0))
        out[p.frame] = max(out.get(p.frame, 0.0), float(r + np.linalg.norm(a + s * d)))
    return out


def prepare(human: HumanMotion, robot: Robot, settings: Settings = Settings()) -> Prepared:
    """Contacts, scaling and per-frame targets of a clip (no IK)."""
    kp = _check(human)
    cfg = robot.config
    kp_by_name = {n: kp[:, i] for i, n in enumerate(KEYPOINT_NAMES)}
    foot_contacts = detect_foot_contacts(kp_by_name, human.fps, human.floor_height, settings.contacts)
    contacts = foot_contacts.standing
    frames = list(dict.fromkeys([t.frame for t in cfg.keypoint_tasks] + list(cfg.foot_frames)
                                + [f for rule in cfg.scale_segments for f in rule.robot]))
    rest = rest_pose(robot.model, {f: robot.frame_id(f) for f in frames}, np.zeros(robot.num_dofs))
    frame_of = {t.human: t.frame for t in cfg.keypoint_tasks}
    try:
        scaling = compute_scaling(kp, rest, frame_of, cfg.scale_segments)
    except ValueError as exc:
        raise InputError(human.provenance.get("source_path"), "degenerate_skeleton", str(exc)) from None
    sole_list = []
    for f in cfg.foot_frames:
        try:
            sole_list.append(cfg.sole(f).corners())
        except KeyError:
            sole_list.append(np.zeros((4, 3)))
    corners = np.stack(sole_list)
    targets = build_targets(kp, human.fps, human.floor_height, foot_contacts, cfg.keypoint_tasks, rest, scaling,
                            cfg.foot_frames, (corners[0], corners[1]), settings.targets,
                            frame_clearance(robot))
    return Prepared(kp, contacts, scaling, targets, corners, float(human.floor_height), foot_contacts)


def solve(prep: Prepared, robot: Robot, fps: float, settings: SolverSettings = SolverSettings(),
          progress: bool = False) -> tuple[np.ndarray, dict]:
    """IK over every frame; returns configurations q (T, nq) and solver info (its ``qp_status`` is
    the (T,) per-frame QP outcome, see :class:`stages.retarget.ik.track.Track`)."""
    tg = prep.targets
    T = tg.pos.shape[0]
    limbs = limb_pairs(tg.keypoints)
    ik = DiffIK(robot, tg.frames, tg.foot_index, prep.sole_corners, settings,
                rot_tasks=np.flatnonzero(tg.rot_weight.max(axis=0) > 0), limbs=limbs)
    lw = limb_weights(tg.keypoints, limbs, tg.lock_weight, settings.limb_stance_gain, tg.limb_gain)
    root_index = tg.frames.index(robot.config.root_frame) if robot.config.root_frame in tg.frames else 0

    clearance = swing_clearance(prep.keypoints, fps, prep.floor_height, prep.scaling.root_scale, tg.lock_weight,
                                tg.contacts, settings)
    pos = lift_swing_targets(tg.pos, tg.rot, tg.foot_index, prep.sole_corners, clearance, settings.swing_pitch_max)
    anchored = (np.zeros((T, 2), dtype=bool) if tg.lock_weight is None
                else tg.lock_weight[:, ::-1] >= settings.swing_anchor_lock)     # the other foot is locked

    def frame(t: int) -> FrameTargets:
        return FrameTargets(pos[t], tg.rot[t], tg.pos_weight[t], tg.rot_weight[t], lw[min(t, len(lw) - 1)],
                            clearance[t], anchored[t])

    result = track(ik, frame, T, fps, root_index, progress)
    return result.q, {**result.info, "qp_status": result.qp_status}


def retarget_motion(human: HumanMotion, robot: Robot, settings: Settings = Settings(),
                    progress: bool = False) -> RobotMotion:
    """Retarget ``human`` onto ``robot``.

    Args:
        human: the canonical human motion (Z-up, metres).
        robot: a ``core.robot.Robot``.
        settings: see :class:`Settings`.
        progress: show a tqdm bar over frames.

    Returns:
        The robot motion (same frames and fps as ``human``), with the metrics
        of :func:`stages.retarget.metrics.evaluate`, the solver timings and the
        scale factors in ``metrics``.

    Raises:
        InputError: too few frames, non-finite keypoints, bad fps or a
            degenerate skeleton.
    """
    start = time.perf_counter()
    prep = prepare(human, robot, settings)
    q, info = solve(prep, robot, human.fps, settings.solver, progress)
    info["solve_s"] = time.perf_counter() - start
    return record(human, robot, settings, prep, q, info)


def locked_feet(targets: Targets) -> np.ndarray:
    """(T, 2) bool: feet the targets hold locked (flat or pivoting), for ``lock_coverage``."""
    if targets.locked is None:
        return np.zeros_like(targets.contacts, dtype=bool)
    return np.asarray(targets.locked, dtype=bool)


def record(human: HumanMotion, robot: Robot, settings: Settings, prep: Prepared, q: np.ndarray, info: dict) -> RobotMotion:
    """The :class:`RobotMotion` of solved configurations q (T, nq): one FK pass for the key
    links, the target penetration (:mod:`stages.retarget.demand`) and the metrics; solver
    timings and scale factors go into ``metrics``."""
    elapsed = info["solve_s"]
    T = q.shape[0]
    links = tuple(robot.config.key_links)
    frames = list(dict.fromkeys(list(links) + metric_frames(robot)))
    pos, rot = trajectory_poses(robot, q, frames)                 # one FK pass for metrics and record
    tg = prep.targets
    cap_offsets = robot.collision.segment_offsets(rot[:, [frames.index(f) for f in robot.collision.frames]])
    demanded = target_penetration(robot, tg.frames, tg.keypoints, tg.pos, frames, pos, rot, cap_offsets)
    speed_demand = demanded_joint_speed(prep.keypoints, KEYPOINT_NAMES, human.fps, robot)   # the clip's keypoints
    metrics: dict[str, float] = {}
    if settings.metrics:
        metrics.update(evaluate(robot, human.fps, q[:, :3], q[:, 3:7], q[:, 7:], prep.keypoints, prep.contacts,
                                prep.scaling.root_scale, prep.targets.pos, poses=(frames, pos, rot),
                                locks=locked_feet(prep.targets), capsule_offsets=cap_offsets))
        metrics["target_collision_frac"] = float(np.mean(demanded > PENETRATION_TOLERANCE))
        metrics["target_penetration_max_m"] = float(demanded.max())
        metrics["demanded_speed_max"] = float(speed_demand.max())
    metrics.update({k: float(v) for k, v in prep.scaling.summary().items()})
    metrics.update({"solve_s": round(elapsed, 4), "frames_per_s": round(T / max(elapsed, 1e-9), 1),
                    "first_frame_s": info["first_frame_s"], "ik_frames_per_s": info["ik_frames_per_s"],
                    "qp_fallbacks": float(info["qp_fallbacks"]), "first_frame_start": float(info["first_frame_best"]),
                    "reseeds": float(info["reseeds"]),
                    "ik_infeasible_frames": float(info["ik_infeasible_frames"]),
                    "ik_no_step_frames": float(info["ik_no_step_frames"]),
                    "swing_dropped_frames": float(info["swing_dropped_frames"])})
    provenance = {"robot_description": robot.config.description.name}
    provenance.update({k: str(v) for k, v in human.provenance.items()})
    provenance["retarget"] = "pink-formulation differential IK (daqp)"
    idx = [frames.index(f) for f in links]
    link_rot = from_matrix(rot[:, idx], orthonormal=True) if links else np.zeros((T, 0, 4))     # FK rotations
    link_rot = np.where(link_rot[..., 3:4] < 0, -link_rot, link_rot)          # w >= 0, as the robot's FK
    return RobotMotion(robot=robot.name, fps=float(human.fps), root_pos=q[:, :3].copy(),
                       root_rot=make_continuous(q[:, 3:7] / np.linalg.norm(q[:, 3:7], axis=1, keepdims=True)),
                       dof_pos=q[:, 7:].copy(), dof_vel=np.gradient(q[:, 7:], 1.0 / human.fps, axis=0),
                       dof_names=robot.dof_names, link_names=links, link_pos=pos[:, idx], link_rot=link_rot,
                       contacts=np.asarray(prep.contacts, dtype=bool), metrics=metrics, provenance=provenance,
                       target_penetration=demanded, demanded_speed=speed_demand,
                       ik_infeasible=np.asarray(info["qp_status"]) >= QPStatus.ROWS_DROPPED)

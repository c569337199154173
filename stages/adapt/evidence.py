"""Raw vs adapted, measured: dynamic violations, contacts, penetration, smoothness, fidelity.

``measure(motion, raw, robot)`` gives one block of figures for a motion (the raw retarget or
its adaptation) of the same clip:

- ``zmp_outside_pct`` (% frames the filter's ZMP check fails), ``zmp_outside_mean_m`` (mean
  distance of the ZMP outside the support polygon over the frames it is outside, m),
  ``torque_over_pct`` (% frames of the joint-torque check), ``flight_momentum_pct``;
- ``joint_velocity_pct`` (% frames a joint exceeds 0.9 x its velocity limit),
  ``joint_limit_pct``, ``ground_penetration_pct``, ``self_collision_pct`` (% frames failing
  the filter's checks of those names);
- ``foot_slide_cm_s`` mean horizontal speed of a foot while the raw clip has it in contact;
- ``jerk_rad_s3`` mean |third derivative| of the joint positions;
- fidelity to the raw retarget (itself within a few degrees of the human): ``limb_change_deg``
  mean angle between corresponding limb directions (parent -> child key link),
  ``keypoint_change_m`` mean key-link distance, ``root_path_change_m`` mean horizontal root
  distance (all 0 for the raw block);
- fidelity to the human (when the clip's ingested human motion is given, :func:`human_fidelity`):
  ``limb_error_deg`` and ``keypoint_error_m`` by the retarget stage's own metric code
  (:func:`stages.retarget.metrics.evaluate`, human keypoints scaled by the clip's root scale,
  relative to the pelvis; the keypoint error includes the robot's body proportions, ~0.1 m on
  LAFAN1 for the raw retarget, so compare raw with adapted) and ``root_path_error_m`` mean horizontal distance of the root from the
  scaled human pelvis path (both taken relative to their first frame);
- simulation (SMAP's Table 1): ``falls_per_min`` and ``tracked_fraction`` of the simulate
  stage's rollout of the motion, with ``sim_falls``, ``sim_mean_body_error_m`` and
  ``simulation_source`` (``simulate stage`` for the raw retarget's recording the DAG made,
  ``simulated here`` for an adapted motion the adapt stage simulated, ``same as raw`` for an
  adapted motion the gate left unchanged: identical motion, identical figures). Absent when
  nothing was simulated (the simulate stage off or the clip rejected before it).

Every figure is computed here or by the filter / simulate stages, never by the adapter: joint
speeds are finite differences of the joint angles and link positions come from forward
kinematics of the root and joints (:func:`link_positions`), not from the arrays a producer
stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from core.records.robot_motion import RobotMotion

if TYPE_CHECKING:
    from core.robot import Robot
    from stages.filter.settings import Settings as FilterSettings

LIMBS = (("pelvis", "torso_link"), ("torso_link", "head_link"),
         ("left_hip_roll_link", "left_knee_link"), ("left_knee_link", "left_ankle_roll_link"),
         ("right_hip_roll_link", "right_knee_link"), ("right_knee_link", "right_ankle_roll_link"),
         ("left_shoulder_roll_link", "left_elbow_link"), ("left_elbow_link", "left_wrist_yaw_link"),
         ("right_shoulder_roll_link", "right_elbow_link"), ("right_elbow_link", "right_wrist_yaw_link"))

DYNAMIC_FIGURES = ("zmp_outside_pct", "torque_over_pct")


def _pct(mask: Any) -> float:
    """% of true entries of a boolean mask (0 for an empty one)."""
    mask = np.asarray(mask)
    return round(100.0 * float(np.mean(mask)) if mask.size else 0.0, 4)


def link_positions(motion: RobotMotion, robot: Robot) -> np.ndarray:
    """(T, L, 3) world positions (m) of ``motion.link_names`` by forward kinematics of its root and
    joints: the evidence never reads the link poses a producer stored (the adapter's own)."""
    return robot.forward_kinematics(motion.root_pos, motion.root_rot, motion.dof_pos, tuple(motion.link_names))[0]


def limb_change_deg(motion: RobotMotion, raw: RobotMotion, motion_links: np.ndarray | None = None,
                    raw_links: np.ndarray | None = None) -> float:
    """Mean angle (deg) between the limb directions (parent -> child key link, :data:`LIMBS`) of
    ``motion`` and ``raw``; link positions (T, L, 3) as given, else the stored ones."""
    names = list(raw.link_names)
    pairs = [(names.index(a), names.index(b)) for a, b in LIMBS if a in names and b in names]
    if not pairs:
        return 0.0
    p, c = np.array(pairs).T
    rl = raw.link_pos if raw_links is None else raw_links
    ml = motion.link_pos if motion_links is None else motion_links
    u = rl[:, c] - rl[:, p]
    v = ml[:, c] - ml[:, p]
    cos = np.sum(u * v, axis=-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())


def human_fidelity(motion: RobotMotion, robot: Robot, human_keypoints: np.ndarray, root_scale: float) -> dict[str, float]:
    """Limb-direction error (deg), keypoint error (m) and root path error (m) of ``motion`` against
    the human keypoints (T, K, 3) over ``KEYPOINT_NAMES`` (m, Z-up) it was retargeted from."""
    from stages.retarget.metrics import evaluate

    m = evaluate(robot, float(motion.fps), motion.root_pos, motion.root_rot, motion.dof_pos, human_keypoints,
                 np.asarray(motion.contacts, bool), root_scale)
    from core.records.keypoints import KEYPOINT_NAMES

    pelvis = root_scale * human_keypoints[:, KEYPOINT_NAMES.index("pelvis"), :2]
    root = np.asarray(motion.root_pos)[:, :2]
    path = np.linalg.norm((root - root[0]) - (pelvis - pelvis[0]), axis=-1)
    return {"limb_error_deg": round(float(m.get("limb_direction_error_deg", float("nan"))), 4),
            "keypoint_error_m": round(float(m["keypoint_error_m"]), 5),
            "root_path_error_m": round(float(path.mean()), 5)}


def measure(motion: RobotMotion, raw: RobotMotion, robot: Robot, filter_settings: FilterSettings | None = None,
            simulate: bool = True, simulation: dict[str, Any] | None = None,
            human: tuple[np.ndarray, float] | None = None, dynamic: list[Any] | None = None) -> dict[str, Any]:
    """The evidence block of ``motion`` (see the module docstring); ``raw`` gives the contacts
    and the reference of the fidelity figures. ``simulation``: figures of a rollout already
    made (:func:`sim_block`), used as they are; else with ``simulate`` the motion is simulated
    here (:func:`simulation_figures`). ``human``: (keypoints (T, K, 3), root scale) of the clip's
    human motion for the fidelity-to-the-human figures. ``dynamic``: the filter's dynamic check
    results of ``motion`` when already computed (:func:`stages.filter.api.dynamic_verdict`)."""
    from stages.filter.api import dynamic_verdict, run_checks
    from stages.filter.body import body_of
    from stages.filter.settings import Settings as FilterSettings

    fs = filter_settings or FilterSettings()
    body = body_of(robot)
    dyn = dynamic if dynamic is not None else dynamic_verdict(motion, body, fs)[1]
    by = {r.code: r for r in dyn}
    hard = {r.code: r for r in run_checks(motion, body, fs, only=("joint_position_limit", "ground_penetration",
                                                                    "self_collision"))}
    T = motion.num_frames
    none = np.zeros(T, dtype=bool)
    out: dict[str, Any] = {"frames": T}
    zmp = by.get("zmp_outside_support")
    out["zmp_outside_pct"] = _pct(zmp.fail) if zmp else 0.0
    if zmp is not None:
        d = np.asarray(zmp.value, np.float64)
        d = d[np.isfinite(d) & (d > 0)]
        out["zmp_outside_mean_m"] = round(float(d.mean()), 5) if d.size else 0.0
    out["torque_over_pct"] = _pct(by["joint_torque"].fail) if "joint_torque" in by else 0.0
    out["flight_momentum_pct"] = _pct(by["flight_momentum"].fail) if "flight_momentum" in by else 0.0
    # joint speeds and link positions from the motion's own joint angles and root, not from what it stored
    dof_pos = np.asarray(motion.dof_pos, np.float64)
    dof_vel: np.ndarray = np.gradient(dof_pos, 1.0 / motion.fps, axis=0) if T > 1 else np.zeros_like(dof_pos)
    links = link_positions(motion, robot)
    raw_links = links if motion is raw else link_positions(raw, robot)
    ratio = np.abs(dof_vel) / np.maximum(np.asarray(robot.velocity_limit, np.float64), 1e-9)
    out["joint_velocity_pct"] = _pct((ratio > 0.9).any(axis=1))
    for code, key in (("joint_position_limit", "joint_limit_pct"), ("ground_penetration", "ground_penetration_pct"),
                      ("self_collision", "self_collision_pct")):
        out[key] = _pct(hard[code].fail if code in hard else none)
    feet = [list(motion.link_names).index(f) for f in robot.config.foot_frames]
    speed = np.linalg.norm(np.gradient(links[:, feet, :2], 1.0 / motion.fps, axis=0), axis=-1)
    contact = np.asarray(raw.contacts, bool)
    out["foot_slide_cm_s"] = round(100.0 * float(speed[contact].mean()), 4) if contact.any() else 0.0
    if T > 3:
        jerk = np.diff(motion.dof_pos, n=3, axis=0) * float(motion.fps) ** 3
        out["jerk_rad_s3"] = round(float(np.abs(jerk).mean()), 4)
    else:
        out["jerk_rad_s3"] = 0.0
    out["limb_change_deg"] = round(limb_change_deg(motion, raw, links, raw_links), 4)
    out["keypoint_change_m"] = round(float(np.linalg.norm(links - raw_links, axis=-1).mean()), 5)
    out["root_path_change_m"] = round(float(np.linalg.norm(motion.root_pos[:, :2] - raw.root_pos[:, :2],
                                                           axis=-1).mean()), 5)
    if human is not None and human[0].shape[0] == T:
        out.update(human_fidelity(motion, robot, human[0], human[1]))
    if simulation is None and simulate:
        simulation = simulation_figures(motion, robot)
    if simulation is not None:
        out.update(simulation)
    return out


#: simulate-stage summary key -> evidence key
SIM_FIGURES = (("falls_per_min", "falls_per_min"), ("tracked_fraction", "tracked_fraction"), ("falls", "sim_falls"),
               ("mean_body_error_m", "sim_mean_body_error_m"))


def sim_block(summary: dict[str, Any], source: str) -> dict[str, Any] | None:
    """The evidence's simulation figures of a simulate-stage summary (None when it holds no
    rollout: the stage off or the clip skipped), tagged with where they come from."""
    if summary.get("falls_per_min") is None or summary.get("tracked_fraction") is None:
        return None
    out: dict[str, Any] = {dst: summary.get(src) for src, dst in SIM_FIGURES}
    out["simulation_source"] = source
    return out


def simulation_figures(motion: RobotMotion, robot: Robot, settings: Any = None,
                       source: str = "simulated here") -> dict[str, Any] | None:
    """Falls per minute and tracked fraction of a rollout of ``motion`` by the simulate stage's
    API (``settings``: its :class:`stages.simulate.settings.Settings`, None: defaults)."""
    from stages.simulate.api import simulate_motion

    return sim_block(simulate_motion(motion, robot, settings).summary, source)


SUMMED = ("zmp_outside_pct", "torque_over_pct", "flight_momentum_pct", "joint_velocity_pct", "joint_limit_pct",
          "ground_penetration_pct", "self_collision_pct")
MEANED = ("foot_slide_cm_s", "jerk_rad_s3", "limb_change_deg", "keypoint_change_m", "root_path_change_m",
          "zmp_outside_mean_m")
#: frame-weighted over the clips that have them (the human motion given)
HUMAN = ("limb_error_deg", "keypoint_error_m", "root_path_error_m")


def totals(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """Frame-weighted totals of evidence blocks (percentages over all frames, means over clips
    weighted by frames)."""
    frames = np.array([b.get("frames", 0) for b in blocks], dtype=np.float64)
    out: dict[str, Any] = {"clips": len(blocks), "frames": int(frames.sum())}
    if not blocks or frames.sum() == 0:
        return out
    w = frames / frames.sum()
    for key in SUMMED + MEANED:
        vals = np.array([float(b.get(key, 0.0)) for b in blocks])
        out[key] = round(float((vals * w).sum()), 5)
    for key in HUMAN:
        have = [b for b in blocks if b.get(key) is not None and np.isfinite(float(b[key]))]
        if have:
            hf = np.array([b.get("frames", 0) for b in have], dtype=np.float64)
            out[key] = round(float(sum(float(b[key]) * f for b, f in zip(have, hf)) / max(hf.sum(), 1.0)), 5)
    simulated = [b for b in blocks if b.get("falls_per_min") is not None and b.get("tracked_fraction") is not None]
    if simulated:                  # over the simulated clips: falls per simulated minute, frame-weighted tracking
        sf = np.array([b.get("frames", 0) for b in simulated], dtype=np.float64)
        sw = sf / max(sf.sum(), 1.0)
        out["simulated_clips"] = len(simulated)
        out["falls_per_min"] = round(float(sum(float(b["falls_per_min"]) * w for b, w in zip(simulated, sw))), 4)
        out["tracked_fraction"] = round(float(sum(float(b["tracked_fraction"]) * w for b, w in zip(simulated, sw))), 5)
        out["sim_falls"] = int(sum(int(b.get("sim_falls") or 0) for b in simulated))
    return out

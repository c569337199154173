"""Figures of one retargeted clip: what the solver made of the human motion.

``plot_retarget(motion, human, path)`` writes one PNG with, over time (s):
root height, the lowest sole point of each foot with the foot-contact spans
shaded, the per-frame limb-direction error against the human (when the human
motion is given), a selection of joint angles against their limits, and a
text box with the clip's metrics. ``plot_human(human, path)`` draws the
canonical human motion the retargeter reads (stick figures and keypoint
heights).

matplotlib is imported inside the functions (the CLI stays fast) and figures
are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state), so
any process, display or not, can call them. Sizes are fixed: a PNG is
``figsize * dpi`` pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.contacts import spans_of
from core.records.human_motion import HumanMotion
from core.records.keypoints import KEYPOINT_NAMES, KEYPOINT_PARENT
from core.records.robot_motion import RobotMotion
from core.rotations import rotate
from stages.retarget.metrics import LIMB_ENDS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from core.robot.model import Robot

DPI = 100
RETARGET_FIGSIZE = (14.0, 11.0)        # inches -> 1400 x 1100 px at DPI

HUMAN_FIGSIZE = (14.0, 7.0)            # inches -> 1400 x 700 px at DPI
FOOT_COLOURS = ("tab:blue", "tab:orange")
NUM_JOINT_PANELS = 6

#: metrics shown in the text box: (key, label, format, scale)
METRIC_ROWS: tuple[tuple[str, str, str, float], ...] = (
    ("keypoint_error_m", "keypoint error", "{:.1f} cm", 100.0),
    ("limb_direction_error_deg", "limb dir. error", "{:.1f} deg", 1.0),
    ("limb_direction_error_p95_deg", "limb dir. p95", "{:.1f} deg", 1.0),
    ("lock_slide_cm_s", "slide in locks", "{:.2f} cm/s", 1.0),
    ("contact_foot_height_m", "contact foot z", "{:.1f} mm", 1000.0),
    ("ground_penetration_frac", "ground penetr.", "{:.1%} frames", 1.0),
    ("self_collision_frac", "self collision", "{:.1%} frames", 1.0),
    ("self_penetration_max_m", "self penetr. max", "{:.1f} mm", 1000.0),
    ("joint_limit_violations", "limit violations", "{:.0f} entries", 1.0),
    ("velocity_limit_excess_max", "vel. limit excess", "{:.0%}", 1.0),
    ("jerk_mean_rad_s3", "jerk mean", "{:.0f} rad/s^3", 1.0),
    ("root_scale", "root scale", "{:.3f}", 1.0),
    ("frames_per_s", "solver speed", "{:.0f} frames/s", 1.0),
)


def clip_label(provenance: dict[str, str]) -> str:
    """A short name for a clip: its clip id or source file name."""
    if provenance.get("clip_id"):
        return provenance["clip_id"]
    source = provenance.get("source_path", "")
    return Path(source).name if source else "clip"


def limb_direction_errors(motion: RobotMotion, human: HumanMotion, robot: Robot) -> tuple[list[str], np.ndarray]:
    """Per-frame angle (deg) between each robot limb and the human limb, (T, L).

    Limbs are the ``LIMB_ENDS`` segments of :mod:`stages.retarget.metrics`
    (hip->knee, knee->ankle, shoulder->elbow, elbow->wrist), robot side from the
    stored key-link positions of the keypoint-task frames; the mean over all is
    the clip's ``limb_direction_error_deg``. Limbs whose frames are not stored
    key links are left out. Returns (limb names "start->end", angles).
    """
    if human.num_frames != motion.num_frames:
        raise ValueError(f"frame counts differ: robot {motion.num_frames}, human {human.num_frames}")
    frame_of = {t.human: t.frame for t in robot.config.keypoint_tasks}
    link = {n: i for i, n in enumerate(motion.link_names)}
    kp = human.keypoint_positions()
    kidx = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    names, angles = [], []
    for end in LIMB_ENDS:
        start = KEYPOINT_PARENT[end]
        if start is None or start not in frame_of or end not in frame_of:
            continue
        if frame_of[start] not in link or frame_of[end] not in link:
            continue
        ro = motion.link_pos[:, link[frame_of[end]]] - motion.link_pos[:, link[frame_of[start]]]
        hu = kp[:, kidx[end]] - kp[:, kidx[start]]
        cos = np.sum(ro * hu, axis=-1) / np.maximum(np.linalg.norm(ro, axis=-1) * np.linalg.norm(hu, axis=-1), 1e-12)
        names.append(f"{start}->{end}")
        angles.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    if not angles:
        return [], np.zeros((motion.num_frames, 0))
    return names, np.stack(angles, axis=1)


def sole_heights(motion: RobotMotion, robot: Robot) -> np.ndarray:
    """(T, 2) height (m above z = 0) of the lowest sole corner of each foot [left, right].

    Uses the stored key-link poses of the robot's foot frames and the sole
    rectangles of its config; a foot without a configured sole gives its frame
    origin's height.
    """
    link = {n: i for i, n in enumerate(motion.link_names)}
    out = np.zeros((motion.num_frames, 2))
    for k, frame in enumerate(robot.config.foot_frames[:2]):
        if frame not in link:
            raise ValueError(f"foot frame {frame!r} is not among the stored key links")
        pos = motion.link_pos[:, link[frame]]
        try:
            corners = robot.config.sole(frame).corners()
        except KeyError:
            corners = np.zeros((1, 3))
        rot = motion.link_rot[:, link[frame]]
        world = pos[:, None, :] + rotate(rot[:, None, :], corners[None, :, :])
        out[:, k] = world[..., 2].min(axis=1)
    return out


def pick_joints(motion: RobotMotion, lower: np.ndarray, upper: np.ndarray, count: int = NUM_JOINT_PANELS) -> list[int]:
    """The ``count`` joints that come closest to a limit (smallest margin / range), in DoF order."""
    rng = np.maximum(upper - lower, 1e-9)
    margin = np.minimum(motion.dof_pos - lower, upper - motion.dof_pos).min(axis=0) / rng
    return sorted(np.argsort(margin, kind="stable")[:count].tolist())


def _shade_spans(ax: Axes, mask: np.ndarray, fps: float, colour: str, label: str | None = None) -> None:
    first = True
    for a, b in spans_of(mask):
        ax.axvspan(a / fps, (b - 1) / fps if b - 1 > a else (a + 0.5) / fps, color=colour, alpha=0.15, lw=0,
                   label=label if first else None)
        first = False


def _metrics_text(motion: RobotMotion, joints_note: str) -> str:
    m = motion.metrics
    lines = [f"{clip_label(motion.provenance)}", f"robot {motion.robot}, {motion.num_frames} frames",
             f"{motion.fps:g} Hz, {(motion.num_frames - 1) / motion.fps:.2f} s", ""]
    for key, label, fmt, scale in METRIC_ROWS:
        if key in m and np.isfinite(m[key]):
            lines.append(f"{label:<17} {fmt.format(m[key] * scale)}")
    return "\n".join(lines + ["", joints_note])


def plot_retarget(motion: RobotMotion, human: HumanMotion | None, path: str | Path, *, robot: Robot | None = None,
                  joints: list[str] | None = None, dpi: int = DPI) -> Path:
    """Write the retarget figure of one clip to ``path`` (PNG, 1400 x 1100 px at the default dpi).

    Args:
        motion: the retargeted clip (Z-up, m, floor at z = 0).
        human: the human motion it came from (same frames) or None; with it the
            third panel is the per-frame limb-direction error, without it the
            root's horizontal speed.
        path: output .png path (parent folders are created).
        robot: the ``Robot`` (limits, soles, keypoint tasks); default
            ``load_robot(motion.robot)``.
        joints: DoF names for the joint-angle panels; default the
            ``NUM_JOINT_PANELS`` joints closest to a limit.
        dpi: pixels per inch.

    Returns:
        ``path`` as a Path.
    """
    from matplotlib.figure import Figure

    if robot is None:
        from core.robot import load_robot

        robot = load_robot(motion.robot)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    T, fps = motion.num_frames, float(motion.fps)
    t = np.arange(T) / fps
    lower, upper = np.asarray(robot.lower), np.asarray(robot.upper)
    if joints is None:
        picked = pick_joints(motion, lower, upper)
    else:
        unknown = [j for j in joints if j not in motion.dof_names]
        if unknown:
            raise ValueError(f"unknown joint(s) {unknown}")
        picked = [motion.dof_names.index(j) for j in joints]

    fig = Figure(figsize=RETARGET_FIGSIZE, dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(5, 6, height_ratios=(1.0, 1.0, 1.0, 0.9, 0.9))
    ax_root = fig.add_subplot(grid[0, :4])
    ax_feet = fig.add_subplot(grid[1, :4], sharex=ax_root)
    ax_err = fig.add_subplot(grid[2, :4], sharex=ax_root)
    ax_text = fig.add_subplot(grid[0:3, 4:])
    fig.suptitle(f"Retargeted to {motion.robot}: {clip_label(motion.provenance)}", fontsize=13)

    ax_root.plot(t, motion.root_pos[:, 2], color="black", lw=1.4, label="root (pelvis) height")
    ax_root.set_ylabel("height (m)")
    ax_root.set_title("Root height", fontsize=10, loc="left")
    ax_root.grid(alpha=0.3)

    soles = sole_heights(motion, robot)
    for k, side in enumerate(("left", "right")):
        ax_feet.plot(t, soles[:, k] * 100.0, color=FOOT_COLOURS[k], lw=1.3, label=f"{side} sole (lowest corner)")
        _shade_spans(ax_feet, motion.contacts[:, k], fps, FOOT_COLOURS[k], f"{side} contact")
    ax_feet.axhline(0.0, color="grey", lw=0.8, ls="--")
    low, high = float(min(0.0, soles.min())) * 100.0, float(soles.max()) * 100.0
    ax_feet.set_ylim(low - 0.05 * (high - low + 1e-6), high + 0.45 * (high - low + 1e-6))   # room for the legend
    ax_feet.set_ylabel("height (cm)")
    ax_feet.set_title("Foot heights, contact spans shaded", fontsize=10, loc="left")
    ax_feet.legend(loc="upper right", fontsize=8, ncol=4)
    ax_feet.grid(alpha=0.3)

    if human is not None:
        names, err = limb_direction_errors(motion, human, robot)
        if err.shape[1]:
            worst = int(np.argmax(err.mean(axis=0)))
            ax_err.plot(t, err.mean(axis=1), color="tab:green", lw=1.4, label=f"mean over {len(names)} limbs")
            ax_err.plot(t, err.max(axis=1), color="tab:red", lw=0.9, alpha=0.8, label="worst limb per frame")
            ax_err.plot(t, err[:, worst], color="tab:purple", lw=0.9, alpha=0.8,
                        label=f"{names[worst]} (worst on average)")
            ax_err.set_ylim(0.0, 1.35 * float(err.max()) + 1e-6)                          # room for the legend
            ax_err.legend(loc="upper right", fontsize=8, ncol=3, framealpha=0.9)
        ax_err.set_ylabel("angle (deg)")
        ax_err.set_title("Limb-direction error, robot vs human", fontsize=10, loc="left")
    else:
        speed = np.linalg.norm(np.gradient(motion.root_pos[:, :2], 1.0 / fps, axis=0), axis=1) if T > 1 else np.zeros(T)
        ax_err.plot(t, speed, color="tab:green", lw=1.3)
        ax_err.set_ylabel("speed (m/s)")
        ax_err.set_title("Root horizontal speed (no human motion given)", fontsize=10, loc="left")
    ax_err.set_xlabel("time (s)")
    ax_err.grid(alpha=0.3)
    for ax in (ax_root, ax_feet):
        ax.tick_params(labelbottom=False)

    ax_text.axis("off")
    note = ("bottom: the joints closest to\na limit (limits dashed red)" if joints is None
            else "bottom: joint angles\n(limits dashed red)")
    ax_text.text(0.02, 0.98, _metrics_text(motion, note), va="top", ha="left", family="monospace", fontsize=9,
                 transform=ax_text.transAxes,
                 bbox={"boxstyle": "round", "facecolor": "whitesmoke", "edgecolor": "grey"})

    for n, j in enumerate(picked[:NUM_JOINT_PANELS]):
        ax = fig.add_subplot(grid[3 + n // 3, 2 * (n % 3): 2 * (n % 3) + 2])
        ax.plot(t, motion.dof_pos[:, j], color="black", lw=1.1)
        ax.axhline(lower[j], color="tab:red", ls="--", lw=0.9)
        ax.axhline(upper[j], color="tab:red", ls="--", lw=0.9)
        span = upper[j] - lower[j]
        ax.set_ylim(lower[j] - 0.08 * span, upper[j] + 0.08 * span)
        ax.set_title(motion.dof_names[j].removesuffix("_joint"), fontsize=9, loc="left")
        ax.set_ylabel("angle (rad)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if n // 3 == 1 or len(picked) <= 3:
            ax.set_xlabel("time (s)", fontsize=8)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def _side_axes(human: HumanMotion) -> tuple[np.ndarray, np.ndarray]:
    """Unit horizontal axes (forward, lateral) of the clip's mean facing direction (from the hips)."""
    kp = human.keypoint_positions()
    lat = np.mean(kp[:, KEYPOINT_NAMES.index("left_hip")] - kp[:, KEYPOINT_NAMES.index("right_hip")], axis=0)
    lat[2] = 0.0
    norm = np.linalg.norm(lat)
    lat = lat / norm if norm > 1e-9 else np.array([0.0, 1.0, 0.0])
    forward = np.cross(lat, [0.0, 0.0, 1.0])
    return forward, lat


def plot_human(human: HumanMotion, path: str | Path, *, frames: int = 6, dpi: int = DPI) -> Path:
    """Write the canonical human motion to ``path`` (PNG, 1400 x 700 px at the default dpi).

    Top: ``frames`` stick figures at evenly spaced times, seen from the side
    (horizontal axis: the clip's mean facing direction, m, each figure centred
    on its pelvis and spread apart; vertical: height above the floor, m).
    Bottom: keypoint heights above the floor (m) over time (s).
    """
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kp = human.keypoint_positions()
    T, fps = human.num_frames, float(human.fps)
    z = kp[..., 2] - human.floor_height
    forward, _ = _side_axes(human)
    along = kp @ forward
    pelvis = KEYPOINT_NAMES.index("pelvis")
    bones = [(KEYPOINT_NAMES.index(p), KEYPOINT_NAMES.index(c)) for c, p in KEYPOINT_PARENT.items() if p]
    left = {i for i, n in enumerate(KEYPOINT_NAMES) if n.startswith("left_")}
    right = {i for i, n in enumerate(KEYPOINT_NAMES) if n.startswith("right_")}

    fig = Figure(figsize=HUMAN_FIGSIZE, dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=(1.3, 1.0))
    ax = fig.add_subplot(grid[0])
    ax2 = fig.add_subplot(grid[1])
    fig.suptitle(f"Human motion: {clip_label(human.provenance)} ({T} frames, {fps:g} Hz, "
                 f"{human.duration:.2f} s, height {human.standing_height:.2f} m)", fontsize=12)
    picks = np.linspace(0, T - 1, max(1, frames)).round().astype(int)
    spacing = 1.0
    top = float(z[picks].max()) + 0.08
    for k, f in enumerate(picks):
        x = along[f] - along[f, pelvis] + k * spacing
        for a, b in bones:
            colour = "tab:blue" if b in left else "tab:orange" if b in right else "black"
            ax.plot([x[a], x[b]], [z[f, a], z[f, b]], color=colour, lw=2)
        ax.text(k * spacing, top, f"t = {f / fps:.2f} s", ha="center", va="bottom", fontsize=9)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.plot([-0.5 * spacing, (len(picks) - 0.5) * spacing], [top + 0.2, top + 0.2], alpha=0.0)   # room for labels
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_ylabel("height above floor (m)")
    ax.set_title("Side view at evenly spaced times (left side blue, right orange)", fontsize=10, loc="left")
    t = np.arange(T) / fps
    for name, colour in (("head", "black"), ("pelvis", "tab:green"), ("left_wrist", "tab:cyan"),
                         ("right_wrist", "tab:pink"), ("left_ankle", "tab:blue"), ("right_ankle", "tab:orange")):
        ax2.plot(t, z[:, KEYPOINT_NAMES.index(name)], color=colour, lw=1.2, label=name)
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("height above floor (m)")
    ax2.set_title("Keypoint heights", fontsize=10, loc="left")
    ax2.legend(loc="best", fontsize=8, ncol=6, framealpha=0.9)
    ax2.grid(alpha=0.3)
    fig.savefig(path, dpi=dpi, format="png")
    return path

"""The filter's verdict on one clip as a timeline.

``plot_verdict(verdict, motion, path)`` writes one PNG: the kept segments on
the top row, then one row per failing reason code with its failing spans,
each row labelled with the worst value against the threshold (with unit);
time in seconds below, frames above. With the robot motion given, a context
panel underneath shows the root height and the foot-contact spans.

matplotlib is imported inside the function and the figure is a
``matplotlib.figure.Figure`` (Agg canvas, no pyplot state). A PNG is
``figsize * dpi`` pixels: 1400 px wide, 300 + 50 px per reason row (+ 220 px
with the motion panel) high at the default dpi.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from core.contacts import spans_of
from core.records.robot_motion import RobotMotion
from core.records.verdict import Reason, Verdict

DPI = 100
WIDTH_IN = 14.0
BASE_HEIGHT_IN = 3.0            # title, kept row, axes
ROW_HEIGHT_IN = 0.5             # per reason row
MOTION_HEIGHT_IN = 2.2          # context panel
VERDICT_COLOURS = {"pass": "tab:green", "trimmed": "tab:orange", "reject": "tab:red"}
FOOT_COLOURS = ("tab:blue", "tab:orange")


def figure_size(verdict: Verdict, with_motion: bool) -> tuple[float, float]:
    """(width, height) in inches of the verdict figure."""
    rows = max(1, len(verdict.reasons))
    return WIDTH_IN, BASE_HEIGHT_IN + ROW_HEIGHT_IN * rows + (MOTION_HEIGHT_IN if with_motion else 0.0)


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return str(x)
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


def reason_label(reason: Reason) -> str:
    """``code`` and ``worst value vs threshold unit`` on two lines."""
    unit = f" {reason.unit}" if reason.unit else ""
    return f"{reason.code}\nworst {_fmt(reason.value)} vs {_fmt(reason.threshold)}{unit}"


def _bars(spans: list[tuple[int, int]], fps: float) -> list[tuple[float, float]]:
    """Half-open frame spans as (start s, width s) bars; a frame lasts 1/fps."""
    return [(a / fps, (b - a) / fps) for a, b in spans]


def plot_verdict(verdict: Verdict, motion: RobotMotion | None, path: str | Path, *, title: str | None = None,
                 dpi: int = DPI) -> Path:
    """Write the verdict timeline of one clip to ``path`` (PNG).

    Args:
        verdict: the filter's verdict (frame spans half-open, into the clip).
        motion: the retargeted clip it judged, or None; with it a panel of
            root height (m) and foot contacts is added, and its clip name is
            used in the title.
        path: output .png path (parent folders are created).
        title: figure title (default: verdict, clip name, length).
        dpi: pixels per inch.

    Returns:
        ``path`` as a Path.
    """
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    T = verdict.num_frames or (motion.num_frames if motion is not None else 0)
    fps = verdict.fps or (float(motion.fps) if motion is not None else 0.0)
    if fps <= 0:
        fps = 1.0                       # no frame rate known: the time axis counts frames
        time_unit = "frames"
    else:
        time_unit = "s"
    duration = T / fps
    reasons = list(verdict.reasons)
    rows = ["kept"] + [r.code for r in reasons]
    colour = VERDICT_COLOURS.get(verdict.verdict, "grey")

    fig = Figure(figsize=figure_size(verdict, motion is not None), dpi=dpi, layout="constrained")
    if motion is not None:
        grid = fig.add_gridspec(2, 1, height_ratios=(BASE_HEIGHT_IN - 1.0 + ROW_HEIGHT_IN * max(1, len(reasons)),
                                                     MOTION_HEIGHT_IN))
        ax = fig.add_subplot(grid[0])
        ax_m = fig.add_subplot(grid[1], sharex=ax)
    else:
        ax = fig.add_subplot(1, 1, 1)
        ax_m = None
    name = title
    if name is None:
        clip = ""
        if motion is not None:
            prov = motion.provenance
            clip = prov.get("clip_id") or Path(prov.get("source_path", "")).name
        kept = sum(b - a for a, b in verdict.segments)
        name = (f"Filter verdict: {verdict.verdict.upper()}" + (f" - {clip}" if clip else "")
                + f"  ({T} frames, {duration:.2f} {time_unit}; kept {kept} frames = {kept / max(T, 1):.0%})")
    fig.suptitle(name, fontsize=12, color=colour)

    y = np.arange(len(rows))[::-1]                  # kept row on top
    ax.broken_barh(_bars(verdict.segments, fps), (y[0] - 0.35, 0.7), facecolors=colour, alpha=0.8)
    for a, b in verdict.segments:
        ax.text((a + b) / 2 / fps, y[0], f"[{a}, {b})", ha="center", va="center", fontsize=8, color="white",
                clip_on=True)
    if not verdict.segments:
        ax.text(duration / 2, y[0], "nothing kept", ha="center", va="center", fontsize=9, color=colour)
    for k, reason in enumerate(reasons, start=1):
        ax.broken_barh(_bars(reason.spans, fps), (y[k] - 0.3, 0.6), facecolors="tab:red", alpha=0.75)
        if not reason.spans:
            ax.text(duration / 2, y[k], "whole clip", ha="center", va="center", fontsize=8, color="tab:red")
    labels = [f"kept segments\n{verdict.verdict}"] + [reason_label(r) for r in reasons]
    if not reasons:
        rows.append("none")
        y = np.arange(len(rows))[::-1]
        labels.append("no failing checks")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0.0, max(duration, 1e-9))
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(f"time ({time_unit})")
    if time_unit == "s":
        def to_frames(seconds: ArrayLike) -> np.ndarray:
            return np.asarray(seconds) * fps

        def to_seconds(frames: ArrayLike) -> np.ndarray:
            return np.asarray(frames) / fps

        top = ax.secondary_xaxis("top", functions=(to_frames, to_seconds))
        top.set_xlabel("frame", fontsize=9)
        top.tick_params(labelsize=8)

    if ax_m is not None and motion is not None:
        t = np.arange(motion.num_frames) / fps
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
        ax_m.plot(t, motion.root_pos[:, 2], color="black", lw=1.2, label="root height")
        ax_m.set_ylabel("root height (m)")
        ax_m.set_xlabel(f"time ({time_unit})")
        ax_m.grid(alpha=0.3)
        lo, hi = ax_m.get_ylim()
        band = 0.08 * (hi - lo)
        lo -= 2.5 * band                                # contact bars below the curve
        for k, side in enumerate(("left", "right")):
            bars = _bars(spans_of(motion.contacts[:, k]), fps)
            ax_m.broken_barh(bars, (lo + (1 - k) * 1.1 * band, band), facecolors=FOOT_COLOURS[k], alpha=0.7,
                             label=f"{side} foot contact")
        ax_m.set_ylim(lo, hi)
        for a, b in verdict.segments:
            ax_m.axvspan(a / fps, b / fps, color=colour, alpha=0.08, lw=0)
        ax_m.legend(loc="upper right", fontsize=8, ncol=3, framealpha=0.9)
        ax_m.set_title("Clip context (kept segments tinted)", fontsize=9, loc="left")
    fig.savefig(path, dpi=dpi, format="png")
    return path

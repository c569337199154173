"""Figures of a written dataset and of what training code reads from it.

* ``plot_dataset(dataset_dir, path)``: prior difficulty histogram per clip
  and per window, hours per split, clip difficulty against duration, and the
  dataset's totals.
* ``plot_window(dataset, clip, t0, num_frames, dt, path)``: a window read at
  the control rate (e.g. 50 Hz) over the stored frames it was interpolated
  from.
* ``plot_sampler_picks(probabilities, picks, difficulty, path)``: how often a
  sampler chose each item against its probability and prior difficulty.

matplotlib is imported inside the functions; figures are
``matplotlib.figure.Figure`` objects (Agg canvas, no pyplot state). A PNG is
``figsize * dpi`` pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stages.dataset.schema import SPLITS

if TYPE_CHECKING:
    from stages.dataset.reader import MotionDataset

DPI = 100
DATASET_FIGSIZE = (14.0, 9.0)          # 1400 x 900 px at DPI
WINDOW_FIGSIZE = (14.0, 7.0)           # 1400 x 700 px at DPI
PICKS_FIGSIZE = (14.0, 5.0)            # 1400 x 500 px at DPI
SPLIT_COLOURS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}
DIFFICULTY_BINS = np.arange(1.0, 10.5, 0.5)      # prior difficulty is on the 1-10 scale


def _open(dataset: Any) -> MotionDataset:
    from stages.dataset.reader import MotionDataset, open_dataset

    return dataset if isinstance(dataset, MotionDataset) else open_dataset(dataset)


def plot_dataset(dataset_dir: Any, path: str | Path, *, dpi: int = DPI) -> Path:
    """Write the dataset overview figure (PNG, 1400 x 900 px at the default dpi).

    Args:
        dataset_dir: a dataset folder (or an open ``MotionDataset``).
        path: output .png path (parent folders are created).
        dpi: pixels per inch.

    Returns:
        ``path`` as a Path.
    """
    from matplotlib.figure import Figure

    ds = _open(dataset_dir)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = (ds.clip_frames - 1) / ds.clip_fps                   # s
    hours = {s: float(ds.manifest.get("splits", {}).get(s, {}).get("hours", 0.0)) for s in SPLITS}
    totals = ds.manifest.get("totals", {})

    fig = Figure(figsize=DATASET_FIGSIZE, dpi=dpi, layout="constrained")
    axes = fig.subplots(2, 2)
    fig.suptitle(f"Dataset {ds.path.parent.name}/{ds.path.name} - robot {ds.robot}: {ds.num_clips} clips, "
                 f"{ds.num_windows} windows, {sum(hours.values()):.3f} h", fontsize=12)

    ax = axes[0, 0]
    ax.hist(ds.clip_difficulty, bins=DIFFICULTY_BINS, histtype="stepfilled", alpha=0.35, color="tab:blue",
            label=f"per clip ({ds.num_clips})")
    ax.hist(ds.windows.difficulty, bins=DIFFICULTY_BINS, histtype="step", lw=1.8, color="tab:red",
            label=f"per window ({ds.num_windows})")
    ax.set_xlim(1, 10)
    ax.set_xlabel("prior difficulty (1 = easy, 10 = hard)")
    ax.set_ylabel("count")
    ax.set_title("Difficulty", fontsize=10, loc="left")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)

    ax = axes[0, 1]
    values = [hours[s] for s in SPLITS]
    bars = ax.bar(SPLITS, values, color=[SPLIT_COLOURS[s] for s in SPLITS])
    for bar, s in zip(bars, SPLITS):
        n = int(np.sum(ds.clip_split == SPLITS.index(s)))
        ax.annotate(f"{hours[s]:.3f} h\n{n} clips", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, max(values + [1e-6]) * 1.3)
    ax.set_ylabel("hours")
    ax.set_title("Hours per split", fontsize=10, loc="left")
    ax.grid(axis="y", alpha=0.3)

    ax = axes[1, 0]
    for s in SPLITS:
        sel = ds.clip_split == SPLITS.index(s)
        if sel.any():
            ax.scatter(durations[sel], ds.clip_difficulty[sel], s=22, alpha=0.75, color=SPLIT_COLOURS[s],
                       label=f"{s} ({int(sel.sum())})")
    ax.set_xlabel("clip duration (s)")
    ax.set_ylabel("prior difficulty (1-10)")
    ax.set_ylim(0.5, 10.5)
    ax.set_title("Clip difficulty vs duration", fontsize=10, loc="left")
    ax.legend(fontsize=9, title="split", title_fontsize=9)
    ax.grid(alpha=0.3)

    ax = axes[1, 1]
    ax.axis("off")
    settings = ds.manifest.get("settings", {})
    lines = [f"robot            {ds.robot} ({len(ds.dof_names)} DoF, {len(ds.link_names)} key links)",
             f"clips            {ds.num_clips}",
             f"windows          {ds.num_windows} (window_s {settings.get('window_s', '?')} s)",
             f"frames           {int(totals.get('frames', int(ds.clip_frames.sum())))}",
             f"hours            {float(totals.get('hours', 0.0)):.4f}",
             f"shards           {len(ds.manifest.get('shards', []))}",
             f"variants         {', '.join(ds.manifest.get('variants', []))}",
             f"frame rate       {', '.join(f'{f:g}' for f in np.unique(ds.clip_fps))} Hz",
             f"duration         {durations.min():.2f} - {durations.max():.2f} s per clip" if ds.num_clips else "",
             f"difficulty       median {np.median(ds.clip_difficulty):.2f} per clip" if ds.num_clips else ""]
    skipped = totals.get("skipped") or {}
    if skipped:
        lines.append("skipped          " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    ax.text(0.02, 0.98, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=10,
            transform=ax.transAxes, bbox={"boxstyle": "round", "facecolor": "whitesmoke", "edgecolor": "grey"})
    fig.savefig(path, dpi=dpi, format="png")
    return path


def plot_window(dataset: Any, clip: int, t0: float, num_frames: int, dt: float, path: str | Path, *,
                joints: Sequence[str] | None = None, variant: str = "raw", dpi: int = DPI) -> Path:
    """Write a window read at period ``dt`` (s) over the stored frames of its clip (PNG, 1400 x 700 px).

    Top: a few joint angles (rad): the stored frames as dots, the window's
    interpolated frames as a line. Bottom: root height (m) and foot contacts
    of the window; frames past the clip end (``valid`` False) are greyed.

    Args:
        dataset: a dataset folder or an open ``MotionDataset``.
        clip: clip entry index; t0: start (s from the clip's first frame);
        num_frames: frames in the window; dt: control period (s), 0.02 = 50 Hz.
        path: output .png path.
        joints: DoF names to draw (default: the four that move most in the window).
    """
    from matplotlib.figure import Figure

    ds = _open(dataset)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    win = ds.window(clip, t0, num_frames, dt, variant=variant, fields=("root_pos", "dof_pos", "contacts"))
    times = t0 + dt * np.arange(num_frames)
    fps = float(ds.clip_fps[clip])
    first = max(0, int(np.floor(t0 * fps)))
    last = min(int(ds.clip_frames[clip]), int(np.ceil(times[-1] * fps)) + 1)
    stored = ds.clip(clip, first, max(last, first + 1), variant=variant, fields=("root_pos", "dof_pos"))
    stored_t = np.arange(first, first + stored["dof_pos"].shape[0]) / fps
    names = list(ds.dof_names)
    if joints is None:
        picked = np.argsort(-np.ptp(win["dof_pos"], axis=0), kind="stable")[:4].tolist()
    else:
        unknown = [j for j in joints if j not in names]
        if unknown:
            raise ValueError(f"unknown joint(s) {unknown}")
        picked = [names.index(j) for j in joints]
    record = ds.clips[clip] if clip < len(ds.clips) else {}

    fig = Figure(figsize=WINDOW_FIGSIZE, dpi=dpi, layout="constrained")
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(1.4, 1.0))
    fig.suptitle(f"Window of {record.get('id', f'clip {clip}')}: {num_frames} frames at {1 / dt:g} Hz from "
                 f"t0 = {t0:.2f} s (stored at {fps:g} Hz)", fontsize=12)
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")
    for k, j in enumerate(picked):
        c = colours[k % len(colours)]
        ax.plot(times, win["dof_pos"][:, j], color=c, lw=1.4, label=f"{names[j].removesuffix('_joint')}")
        ax.plot(stored_t, stored["dof_pos"][:, j], "o", color=c, ms=3.5, alpha=0.7)
    ax.set_ylabel("joint angle (rad)")
    ax.set_title(f"Joint angles: line = window at {1 / dt:g} Hz, dots = stored frames at {fps:g} Hz",
                 fontsize=10, loc="left")
    ax.legend(fontsize=8, ncol=len(picked), loc="best", framealpha=0.9)
    ax.grid(alpha=0.3)
    ax2.plot(times, win["root_pos"][:, 2], color="black", lw=1.4, label="root height (window)")
    ax2.plot(stored_t, stored["root_pos"][:, 2], "o", color="black", ms=3, alpha=0.5, label="stored frames")
    ax2.set_ylabel("root height (m)")
    ax2.set_xlabel("time in clip (s)")
    ax2.grid(alpha=0.3)
    lo, hi = ax2.get_ylim()
    band = 0.08 * (hi - lo)
    lo -= 2.5 * band
    for k, (side, c) in enumerate((("left", "tab:blue"), ("right", "tab:orange"))):
        on = win["contacts"][:, k] > 0.5
        ax2.fill_between(times, lo + (1 - k) * 1.1 * band, lo + (1 - k) * 1.1 * band + band, where=on, step="mid",
                         color=c, alpha=0.6, lw=0, label=f"{side} contact")
    invalid = ~win["valid"]
    if invalid.any():
        ax2.axvspan(times[invalid][0], times[-1], color="grey", alpha=0.2, lw=0, label="past clip end")
        ax.axvspan(times[invalid][0], times[-1], color="grey", alpha=0.2, lw=0)
    ax2.set_ylim(lo, hi)
    ax2.legend(fontsize=8, ncol=5, loc="best", framealpha=0.9)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def plot_sampler_picks(probabilities: np.ndarray, picks: np.ndarray, difficulty: np.ndarray | None,
                       path: str | Path, *, title: str = "Sampler picks", item: str = "window",
                       dpi: int = DPI) -> Path:
    """Write how often a sampler picked each item (PNG, 1400 x 500 px at the default dpi).

    Left: per item, the share of ``picks`` (bars) against the sampler's
    probability (dots). Right: picks per item against the item's prior
    difficulty (1-10), when given.

    Args:
        probabilities: (N,) the sampler's probabilities when it drew.
        picks: (n,) item indices it drew.
        difficulty: (N,) prior difficulty per item, or None.
        path: output .png path.
        title: figure title; item: what an item is ("window", "clip").
    """
    from matplotlib.figure import Figure

    probabilities = np.asarray(probabilities, dtype=np.float64)
    picks = np.asarray(picks, dtype=np.int64).reshape(-1)
    n_items = probabilities.size
    counts = np.bincount(picks, minlength=n_items)[:n_items]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=PICKS_FIGSIZE, dpi=dpi, layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=(1.6, 1.0))
    fig.suptitle(f"{title}: {picks.size} draws over {n_items} {item}s", fontsize=12)
    x = np.arange(n_items)
    share = counts / max(picks.size, 1)
    ax.bar(x, share, color="tab:blue", alpha=0.6, label="share of draws")
    ax.plot(x, probabilities, "o", color="tab:red", ms=4, label="sampler probability")
    ax.set_xlabel(f"{item} index")
    ax.set_ylabel("probability / share")
    ax.set_title("Drawn share vs probability", fontsize=10, loc="left")
    ax.legend(fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    if difficulty is not None:
        difficulty = np.asarray(difficulty, dtype=np.float64)
        ax2.scatter(difficulty, counts, s=20, alpha=0.75, color="tab:purple")
        ax2.set_xlabel("prior difficulty (1-10)")
        ax2.set_ylabel(f"draws per {item}")
        ax2.set_title("Draws vs prior difficulty", fontsize=10, loc="left")
        ax2.grid(alpha=0.3)
    else:
        ax2.axis("off")
    fig.savefig(path, dpi=dpi, format="png")
    return path

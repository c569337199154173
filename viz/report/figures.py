"""The report's figures as PNG bytes (matplotlib ``Figure`` on the Agg canvas, no pyplot state)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from viz.report.collect import Metric, lower_is_worse

DPI = 100
COLUMNS = 4


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def histograms(metrics: Sequence[Metric], title: str) -> bytes:
    """Small multiples: one histogram per metric (clip count per bin), the median marked."""
    from matplotlib.figure import Figure

    n = len(metrics)
    cols = min(COLUMNS, max(1, n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.4 * cols, 2.3 * rows + 0.5), layout="constrained")
    fig.suptitle(title, fontsize=11)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        values = np.array(list(metric.values.values()), dtype=float)
        ax.hist(values, bins=min(20, max(5, len(values) // 2)), color="tab:blue", alpha=0.8)
        ax.axvline(float(np.median(values)), color="black", lw=1, ls="--")
        arrow = "(low = worse)" if lower_is_worse(metric.name) else ""
        ax.set_title(f"{metric.name} {arrow}".strip(), fontsize=8.5)
        ax.tick_params(labelsize=7)
        ax.set_ylabel("clips", fontsize=7)
    return _png(fig)


def before_after(keys: Sequence[str], raw: Sequence[float], adapted: Sequence[float], title: str) -> bytes:
    """Paired bars of the corpus medians of each measure, raw vs adapted (normalised by the raw value)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.7 * len(keys) + 2.0), 3.6), layout="constrained")
    ax = fig.subplots()
    raw_a, ad_a = np.asarray(raw, float), np.asarray(adapted, float)
    scale = np.where(np.abs(raw_a) > 1e-12, np.abs(raw_a), 1.0)
    x = np.arange(len(keys))
    ax.bar(x - 0.2, raw_a / scale, 0.4, label="raw", color="tab:gray")
    ax.bar(x + 0.2, ad_a / scale, 0.4, label="adapted", color="tab:green")
    ax.set_xticks(x, keys, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("median / |raw median|")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def stage_counts(per_stage: dict[str, dict[str, int]]) -> bytes:
    """Stacked bars: clips per status (ok / rejected / error) for each clip stage."""
    from matplotlib.figure import Figure

    names = list(per_stage)
    fig = Figure(figsize=(max(4.0, 1.3 * len(names) + 1.5), 2.8), layout="constrained")
    ax = fig.subplots()
    bottom = np.zeros(len(names))
    for status, colour in (("ok", "tab:green"), ("rejected", "tab:red"), ("error", "black")):
        counts = np.array([per_stage[n].get(status, 0) for n in names], dtype=float)
        if counts.any():
            ax.bar(names, counts, bottom=bottom, color=colour, label=status)
            bottom += counts
    ax.set_ylabel("clips")
    ax.legend(fontsize=8)
    ax.set_title("clips per stage and status", fontsize=10)
    return _png(fig)

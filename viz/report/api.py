"""``write_report(OUT)``: the run report of a run folder, ``OUT/report/index.html``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from core.npzio import atomic_write_bytes
from viz.report import figures
from viz.report.collect import Metric, ReportData, collect, is_descriptive
from viz.report.html import comparison_rows, render_html
from viz.report.media import ClipMedia, clip_media
from viz.runs import RunFolder

REPORT_DIR = "report"


@dataclass(frozen=True)
class ReportSettings:
    """Attributes:
        max_clips: clips that get a preview and plots (the worst per metric first, round-robin over metrics).
        worst_per_metric: clips listed per metric in the "worst clips" table.
        previews: render animated previews (plots are made either way).
        workers: processes making the clips' media at once (1: in this process).
    """

    max_clips: int = 12
    worst_per_metric: int = 3
    previews: bool = True
    workers: int = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class ReportResult:
    path: Path
    seconds: float
    clips_with_media: int
    render_fps: float | None         # median preview drawing speed, frames/s (None: no preview made)


def worst_lists(d: ReportData, count: int) -> list[tuple[Metric, list[tuple[str, float]]]]:
    """Worst ``count`` clips of every metric that varies across clips."""
    metrics = [m for m in d.metrics if m.varies and not is_descriptive(m.name)]
    if d.difficulty is not None and d.difficulty.varies:
        metrics.append(d.difficulty)
    for key in ("falls_per_min", "tracked_fraction"):
        values = {c: s[key] for c, s in d.simulation.items() if key in s}
        m = Metric("simulate", key, values)
        if m.varies and all(x.key != m.key for x in metrics):
            metrics.append(m)
    return [(m, m.worst(count)) for m in metrics]


def pick_clips(d: ReportData, worst: list[tuple[Metric, list[tuple[str, float]]]], viewable: set[str], limit: int) -> list[str]:
    """Round-robin over the worst lists (rejected clips first), at most ``limit`` clip ids."""
    chosen: list[str] = []
    for row in d.clips:
        if row.status != "ok" and row.clip_id in viewable and row.clip_id not in chosen and len(chosen) < limit // 2:
            chosen.append(row.clip_id)
    depth = max((len(items) for _, items in worst), default=0)
    for rank in range(depth):
        for _, items in worst:
            if rank < len(items):
                clip = d.entry_source.get(items[rank][0], items[rank][0])
                if clip in viewable and clip not in chosen and len(chosen) < limit:
                    chosen.append(clip)
    return chosen


def write_report(out: str | Path, settings: ReportSettings | None = None, *, log: Callable[[str], None] | None = None) -> ReportResult:
    """Write ``OUT/report/index.html`` (and the linked media under ``OUT/report/clips/``)."""
    settings = settings or ReportSettings()
    start = time.perf_counter()
    run = RunFolder(out)
    data = collect(run.out, run.data)
    report_dir = run.out / REPORT_DIR
    report_dir.mkdir(parents=True, exist_ok=True)

    groups: dict[str, list[Metric]] = {}
    for m in data.metrics:
        groups.setdefault(m.group, []).append(m)
    metric_pngs = {g: figures.histograms(varying, f"{g}: per-clip metrics (dashed: median)")
                   for g, ms in groups.items() if (varying := [m for m in ms if m.varies])}
    difficulty_png = None
    dataset_png = None
    if data.difficulty is not None:
        varying = [m for m in [data.difficulty] + data.dataset_features if m.varies]
        if varying:
            difficulty_png = figures.histograms(varying, "dataset: difficulty and its features, per dataset entry (dashed: median)")
        ds_dir = run.out / str(data.corpus.get("dataset", {}).get("output") or "dataset")
        try:
            from stages.dataset.plot import plot_dataset

            tmp = report_dir / ".dataset.png"
            plot_dataset(ds_dir, tmp)
            dataset_png = tmp.read_bytes()
            tmp.unlink()
        except Exception as exc:   # noqa: BLE001 - the report goes on without this figure
            if log:
                log(f"report: no dataset figure ({type(exc).__name__}: {exc})")
    comparison_pngs = {}
    for c in data.comparisons:
        rows = comparison_rows(c)
        if rows:
            comparison_pngs[c.stage] = figures.before_after([r[0] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                                                            f"{c.stage}: corpus medians, raw vs adapted")

    worst = worst_lists(data, settings.worst_per_metric)
    chosen = pick_clips(data, worst, set(run.viewable()), settings.max_clips)
    media: dict[str, ClipMedia] = {}
    if settings.workers > 1 and len(chosen) > 1:
        with ProcessPoolExecutor(min(settings.workers, len(chosen)), mp_context=get_context("spawn")) as pool:
            futures = {c: pool.submit(clip_media, run, c, report_dir, settings.previews) for c in chosen}
            for i, clip_id in enumerate(chosen):
                media[clip_id] = futures[clip_id].result()
                if log:
                    log(f"report: media {i + 1}/{len(chosen)} {clip_id}")
    else:
        for i, clip_id in enumerate(chosen):
            if log:
                log(f"report: media {i + 1}/{len(chosen)} {clip_id}")
            media[clip_id] = clip_media(run, clip_id, report_dir, settings.previews)
    notes = []
    if len(run.viewable()) > len(chosen):
        notes.append(f"Previews and plots were made for {len(chosen)} of {len(run.viewable())} clips (rejected clips and "
                     f"the worst per metric); `python -m pipeline preview {run.out} --clip ID --out FILE.mp4` makes any other.")
    page = render_html(data, counts_png=figures.stage_counts(data.per_stage), metric_pngs=metric_pngs,
                       difficulty_png=difficulty_png, dataset_png=dataset_png, comparison_pngs=comparison_pngs,
                       media=media, worst=worst, notes=notes)
    path = report_dir / "index.html"
    atomic_write_bytes(path, page.encode("utf-8"))
    path.chmod(0o644)
    fps = [m.render_fps for m in media.values() if m.render_fps]
    return ReportResult(path, time.perf_counter() - start, len(media), float(np.median(fps)) if fps else None)

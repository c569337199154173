"""Preview rendering speed and run-report time.

Pinned to one core (``os.sched_setaffinity``; ffmpeg, a child process, inherits
it and runs with ``-threads 1``). Input: the default manifest (demo corpus) run
in a scratch folder, in-process; and Unitree's G1 retarget of LAFAN1 dance1
(robot panel only) from ``../shared/data`` when present.

Figures: preview frames per second drawn (the per-frame composition, no
encoding) and end to end (drawing + H.264 encoding to MP4), median over clips;
report seconds cold (every preview and plot made) and warm (media reused).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))


def run(quick: bool = False) -> dict:
    from core.robot import load_robot, read_unitree_csv
    from pipeline.cli import main
    from viz.preview.api import render_preview
    from viz.report.api import write_report
    from viz.runs import ClipMotions, RunFolder

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    out: dict = {"cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    with tempfile.TemporaryDirectory(prefix="bench-viz-") as tmp:
        run_dir = Path(tmp) / "default"
        assert main(["run", "--manifest", str(REPO / "manifests" / "default.yaml"), "--out", str(run_dir), "--workers", "0",
                     "--no-progress", "--quiet", "--no-report"]) == 0
        folder = RunFolder(run_dir)
        ids = folder.viewable()[:4] if quick else folder.viewable()
        drawn, total = [], []
        for clip_id in ids:
            result = render_preview(folder.load(clip_id), Path(tmp) / f"{clip_id}.mp4")
            drawn.append(result.frames / result.render_s)
            total.append(result.frames_per_s)
        out["preview_demo"] = {"clips": len(ids), "panels": 2, "size": list(result.size),
                               "frames_per_s_drawn_median": round(statistics.median(drawn), 1),
                               "frames_per_s_with_mp4_median": round(statistics.median(total), 1)}
        csv = SHARED / "lafan1_g1_unitree" / "dance1_subject1.csv"
        if csv.is_file():
            motion = read_unitree_csv(csv, load_robot("g1"))
            if quick:
                motion = motion.frames(0, 600)
            r = render_preview(ClipMotions(csv.stem, None, {"raw": motion}), Path(tmp) / "dance.mp4")
            out["preview_unitree_dance1"] = {"frames": r.frames, "panels": 1,
                                             "frames_per_s_drawn": round(r.frames / r.render_s, 1),
                                             "frames_per_s_with_mp4": round(r.frames_per_s, 1)}
        cold = write_report(run_dir)
        warm = write_report(run_dir)
        out["report_default"] = {"clips": len(folder.clip_ids), "clips_with_media": cold.clips_with_media,
                                 "cold_s": round(cold.seconds, 2), "warm_s": round(warm.seconds, 2)}
    return out

"""Per-clip media the report links to: the animated preview and the stage plots.

Files go to ``OUT/report/clips/<clip id>/`` (``preview.mp4``, ``retarget.png``,
``verdict.png``) with a ``stamp.json`` of the artifact keys they were made
from; a later report reuses them while the keys are unchanged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from viz.runs import RunFolder

MEDIA_VERSION = "2"


@dataclass
class ClipMedia:
    """Paths relative to the report folder (None / absent: not made)."""

    preview: str | None = None
    plots: dict[str, str] = field(default_factory=dict)
    render_fps: float | None = None
    problem: str | None = None


def safe_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", clip_id)[:150] or "clip"


def clip_media(run: RunFolder, clip_id: str, report_dir: Path, previews: bool = True) -> ClipMedia:
    """Make (or reuse) ``clip_id``'s preview and plots; a failure is reported, not raised."""
    folder = report_dir / "clips" / safe_name(clip_id)
    rel = folder.relative_to(report_dir)
    stages = run.clip(clip_id)["stages"]
    stamp = {"version": MEDIA_VERSION, "previews": previews,
             "keys": {name: rec.get("key") for name, rec in sorted(stages.items())}}
    stamp_path = folder / "stamp.json"
    try:
        old = json.loads(stamp_path.read_text())
    except (OSError, json.JSONDecodeError):
        old = None
    if old is not None and old.get("stamp") == stamp and all((folder / f).is_file() for f in old.get("files", [])):
        media = ClipMedia(**old["media"])
        return media
    media = ClipMedia()
    files: list[str] = []
    try:
        clip = run.load(clip_id)
        folder.mkdir(parents=True, exist_ok=True)
        if previews and clip.robots:
            from viz.preview.api import render_preview

            result = render_preview(clip, folder / "preview.mp4")
            media.preview, media.render_fps = str(rel / "preview.mp4"), round(result.frames / max(result.render_s, 1e-9), 1)
            files.append("preview.mp4")
        raw = clip.robots.get("raw")
        if raw is not None:
            from stages.retarget.plot import plot_retarget

            plot_retarget(raw, clip.human if clip.human is not None and clip.human.num_frames == raw.num_frames else None,
                          folder / "retarget.png")
            media.plots["retarget"] = str(rel / "retarget.png")
            files.append("retarget.png")
        if clip.verdict is not None:
            from stages.filter.plot import plot_verdict

            plot_verdict(clip.verdict, raw, folder / "verdict.png")
            media.plots["verdict"] = str(rel / "verdict.png")
            files.append("verdict.png")
    except Exception as exc:   # noqa: BLE001 - one clip's media must not stop the report
        media.problem = f"{type(exc).__name__}: {exc}"
        return media
    stamp_path.write_text(json.dumps({"stamp": stamp, "files": files, "media": media.__dict__}, indent=1))
    return media

"""Render a clip preview to a file.

``render_preview(clip, path)``: one video frame per clip frame at the clip's
frame rate, so the video plays in real time and decodes to ``clip.num_frames``
frames. ``preview_target(target, out)`` does it for a clip id of a run folder
or for any human / robot motion npz.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from viz.preview.render import FrameRenderer, PreviewSettings
from viz.preview.video import video_writer
from viz.runs import ClipMotions, RunFolder, load_file


@dataclass(frozen=True)
class PreviewResult:
    """Attributes: path written, frames, render_s (drawing only), total_s (drawing + encoding), size (w, h)."""

    path: Path
    frames: int
    render_s: float
    total_s: float
    size: tuple[int, int]

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.total_s if self.total_s > 0 else float("inf")


def render_preview(clip: ClipMotions, path: str | Path, settings: PreviewSettings | None = None) -> PreviewResult:
    """Write ``clip``'s preview to ``path`` (.mp4 or .gif)."""
    start = time.perf_counter()
    renderer = FrameRenderer(clip, settings)
    drawing = 0.0
    with video_writer(path, (renderer.width, renderer.height), clip.fps) as sink:
        for t in range(renderer.num_frames):
            t0 = time.perf_counter()
            frame = renderer.render(t)
            drawing += time.perf_counter() - t0
            sink.send(frame)
    return PreviewResult(Path(path), renderer.num_frames, drawing + 0.0, time.perf_counter() - start,
                         (renderer.width, renderer.height))


def load_target(target: str | Path, clip_id: str | None = None) -> ClipMotions:
    """A clip from ``target``: a run folder (with ``clip_id``), ``RUN/clip_id``, or a motion npz."""
    path = Path(target)
    if path.is_dir():
        if clip_id is None:
            raise ValueError(f"{path} is a run folder: name the clip (--clip ID); clips: "
                             + ", ".join(RunFolder(path).viewable()[:8]) + " ...")
        return RunFolder(path).load(clip_id)
    if not path.exists() and path.parent.is_dir() and (path.parent / "run.json").is_file():
        return RunFolder(path.parent).load(path.name)            # OUT/clip_id
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such clip file or run folder")
    return load_file(path)

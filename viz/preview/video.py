"""Write RGB frames to an MP4 (H.264, imageio-ffmpeg's bundled ffmpeg) or a GIF (Pillow)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".gif")


class FrameSink(Protocol):
    def send(self, frame: np.ndarray) -> None: ...


class _Mp4:
    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        import imageio_ffmpeg

        self._gen = imageio_ffmpeg.write_frames(
            str(path), size, fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=16,
            ffmpeg_log_level="error", quality=None,
            output_params=["-preset", "veryfast", "-tune", "animation", "-crf", "28", "-threads", "1",
                           "-movflags", "+faststart"])
        self._gen.send(None)

    def send(self, frame: np.ndarray) -> None:
        self._gen.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        self._gen.close()


class _Gif:
    def __init__(self, path: Path, fps: float):
        self.path, self.fps = path, fps
        self.frames: list = []

    def send(self, frame: np.ndarray) -> None:
        from PIL import Image

        self.frames.append(Image.fromarray(frame).quantize(colors=128, method=Image.Quantize.FASTOCTREE))

    def close(self) -> None:
        if not self.frames:
            return
        self.frames[0].save(self.path, save_all=True, append_images=self.frames[1:], loop=0,
                            duration=int(round(1000.0 / self.fps)), optimize=False, disposal=1)


@contextmanager
def video_writer(path: str | Path, size: tuple[int, int], fps: float) -> Iterator[FrameSink]:
    """A sink for (H, W, 3) uint8 frames; the file appears complete when the block ends.

    ``size`` is (width, height) in pixels (multiples of 16 for MP4). The file is
    written under a temporary name and renamed at the end, so a failed render leaves none.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"{path}: preview must end in .mp4 or .gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{suffix}")
    sink: _Mp4 | _Gif = _Mp4(tmp, size, fps) if suffix == ".mp4" else _Gif(tmp, fps)
    try:
        yield sink
        sink.close()
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def count_frames(path: str | Path) -> int:
    """Frames of a written preview (decoded, not read from the header)."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    next(reader)                                    # metadata
    return sum(1 for _ in reader)

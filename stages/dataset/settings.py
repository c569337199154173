"""Settings of the dataset stage (the manifest's ``stages.dataset`` section)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError

CODECS = ("none", "lzf", "gzip")


@dataclass(frozen=True)
class Settings:
    """How the dataset is written.

    The defaults were chosen by ``benchmarks/bench_dataset.py``: contiguous,
    uncompressed frame arrays read random 2 s windows 20-60x faster than any
    chunked/compressed layout (which saves only ~10-30 % of the bytes of
    float32 motion data). Chunked layouts remain available for archives.
    """

    shard_mb: float = 256.0        # target shard size, MB (10^6 bytes) of frame data
    codec: str = "none"            # "none" | "lzf" | "gzip" (HDF5 filters; compression needs chunk_frames > 0)
    gzip_level: int = 4            # 1-9, for codec "gzip"
    chunk_frames: int = 0          # frames per HDF5 chunk; 0 = contiguous (fastest random reads)
    window_s: float = 10.0         # window length, s (<= 10, GMT's clip length); clips longer get several windows
    min_clip_s: float = 0.5        # clip entries (kept segments) shorter than this, s, are left out
    split_train: float = 0.9       # fraction of source clips in train
    split_val: float = 0.05        # fraction in val; the rest is test
    seed: int = 0                  # salt of the split hash
    include_adapted: bool = True   # store the adapt stage's motion beside the raw one when present
    include_simulated: bool = True  # store the simulate stage's tracked motion beside the raw one when present

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ConfigError(None, "codec", f"must be one of {', '.join(CODECS)}, not {self.codec!r}")
        if self.codec != "none" and self.chunk_frames <= 0:
            raise ConfigError(None, "chunk_frames", "compression needs chunked storage: set chunk_frames > 0")
        if not 1 <= self.gzip_level <= 9:
            raise ConfigError(None, "gzip_level", "must be 1-9")
        if self.shard_mb <= 0:
            raise ConfigError(None, "shard_mb", "must be > 0")
        if not 0 < self.window_s <= 10.0:
            raise ConfigError(None, "window_s", "must be in (0, 10] seconds")
        if self.min_clip_s < 0:
            raise ConfigError(None, "min_clip_s", "must be >= 0")
        if not (0 <= self.split_train <= 1 and 0 <= self.split_val <= 1 and self.split_train + self.split_val <= 1):
            raise ConfigError(None, "split_train", "split fractions must be in [0, 1] and sum to at most 1")

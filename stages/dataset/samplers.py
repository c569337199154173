"""Samplers that choose what a training run tracks next (METHODS.md §4).

All are deterministic for a seed and keep their whole state (curriculum and
random generator) in ``state_dict()`` so a run can stop and resume exactly.
States are plain dicts of numbers, lists and numpy arrays (``torch.save`` and
``json`` after ``tolist`` both work).

* :class:`UniformSampler` — every item with probability ∝ its weight.
* :class:`AdaptiveSampler` — GMT/TWIST-style completion level per window,
  starting from the dataset's stored prior difficulty (instead of the maximum)
  and updated from episode results.
* :class:`FailureBinSampler` — BeyondMimic-style: clips cut into time bins,
  an exponential moving average of failures per bin, failures spread to the
  preceding bins, a uniform share mixed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stages.dataset.difficulty import LEVEL_MAX, LEVEL_MIN


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return dict(rng.bit_generator.state)


def _check(state: dict[str, Any], kind: str, n: int) -> None:
    if state.get("kind") != kind:
        raise ValueError(f"state is for a {state.get('kind')!r} sampler, not {kind!r}")
    if int(state.get("num_items", -1)) != n:
        raise ValueError(f"state has {state.get('num_items')} items, this sampler {n}")


class UniformSampler:
    """Items drawn with probability ∝ ``weights`` (default: equal)."""

    kind = "uniform"

    def __init__(self, num_items: int, weights: np.ndarray | None = None, seed: int = 0):
        if num_items <= 0:
            raise ValueError("nothing to sample from")
        self.num_items = num_items
        w = np.ones(num_items) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (num_items,) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights must be (num_items,), non-negative, not all zero")
        self.weights = w
        self.rng = np.random.default_rng(seed)

    def probabilities(self) -> np.ndarray:
        return self.weights / self.weights.sum()

    def sample(self, n: int) -> np.ndarray:
        """``n`` item indices (with replacement)."""
        return self.rng.choice(self.num_items, size=n, p=self.probabilities())

    def update(self, items: np.ndarray, completion: np.ndarray) -> None:
        """Episode results are ignored by the uniform sampler."""

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_items": self.num_items, "rng": _rng_state(self.rng),
                "weights": self.weights.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check(state, self.kind, self.num_items)
        self.weights = np.asarray(state["weights"], dtype=np.float64).copy()
        self.rng.bit_generator.state = state["rng"]


class AdaptiveSampler:
    """Per-window completion level ``c`` on GMT's 1-10 scale; P(i) ∝ weight_i * c_i.

    ``c`` starts at the stored prior difficulty. After an episode on window i
    with completion fraction ``f`` (0 = failed at once, 1 = tracked to the
    end): ``f >= success`` → ``c *= decay`` (GMT: 0.99 per completion);
    ``f <= failure`` → ``c *= growth`` (TWIST: 1.01 when mean completion
    <= 0.5); clamped to [1, 10]. ``termination_distance`` maps ``c`` to a
    tracking-error threshold (m) that tightens as a window gets easier,
    0.1 + 0.6 (c - 1) / 9 (TWIST's rule moved to the 1-10 scale).
    """

    kind = "adaptive"

    def __init__(self, prior: np.ndarray, weights: np.ndarray | None = None, seed: int = 0, decay: float = 0.99,
                 growth: float = 1.01, success: float = 0.95, failure: float = 0.5, uniform_fraction: float = 0.0):
        prior = np.asarray(prior, dtype=np.float64)
        if prior.ndim != 1 or prior.size == 0:
            raise ValueError("prior must be a non-empty 1-d array")
        self.num_items = prior.size
        self.levels = np.clip(prior, LEVEL_MIN, LEVEL_MAX)
        self.weights = np.ones(self.num_items) if weights is None else np.asarray(weights, dtype=np.float64)
        self.decay, self.growth, self.success, self.failure = decay, growth, success, failure
        self.uniform_fraction = uniform_fraction
        self.episodes = np.zeros(self.num_items, dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    def probabilities(self) -> np.ndarray:
        p = self.weights * self.levels
        p = p / p.sum()
        if self.uniform_fraction > 0:
            p = (1 - self.uniform_fraction) * p + self.uniform_fraction / self.num_items
        return p

    def sample(self, n: int) -> np.ndarray:
        return self.rng.choice(self.num_items, size=n, p=self.probabilities())

    def update(self, items: np.ndarray, completion: np.ndarray) -> None:
        """Apply episode results: ``completion`` fractions in [0, 1] for ``items`` (repeats allowed)."""
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        completion = np.asarray(completion, dtype=np.float64).reshape(-1)
        if items.shape != completion.shape:
            raise ValueError("items and completion must have the same length")
        factor = np.where(completion >= self.success, self.decay, np.where(completion <= self.failure, self.growth, 1.0))
        np.multiply.at(self.levels, items, factor)
        np.clip(self.levels, LEVEL_MIN, LEVEL_MAX, out=self.levels)
        np.add.at(self.episodes, items, 1)

    def termination_distance(self, items: np.ndarray) -> np.ndarray:
        """Tracking-error threshold (m) per item from its current level."""
        c = self.levels[np.asarray(items, dtype=np.int64)]
        return 0.1 + 0.6 * (c - LEVEL_MIN) / (LEVEL_MAX - LEVEL_MIN)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_items": self.num_items, "rng": _rng_state(self.rng),
                "levels": self.levels.copy(), "episodes": self.episodes.copy(), "weights": self.weights.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check(state, self.kind, self.num_items)
        self.levels = np.asarray(state["levels"], dtype=np.float64).copy()
        self.episodes = np.asarray(state["episodes"], dtype=np.int64).copy()
        self.weights = np.asarray(state["weights"], dtype=np.float64).copy()
        self.rng.bit_generator.state = state["rng"]


class FailureBinSampler:
    """Start times drawn from per-bin failure rates over all clips.

    Every clip is cut into bins of ``bin_s`` seconds. The failure rate of a
    bin is an exponential moving average (``alpha``) of the failures counted
    in it per update; failures are spread to the preceding bins with
    ``kernel`` (kernel[0] for the bin itself, kernel[k] for k bins before).
    Sampling: P(bin) ∝ smoothed rate, mixed with ``uniform_fraction`` of
    uniform samples. Initial rates come from the prior difficulty of each bin
    (``prior`` on the 1-10 scale) times ``prior_scale``.
    """

    kind = "failure_bins"

    def __init__(self, clip_durations_s: np.ndarray, bin_s: float = 1.0, prior: np.ndarray | None = None,
                 alpha: float = 0.001, uniform_fraction: float = 0.1, kernel: tuple[float, ...] = (1.0, 0.5, 0.25),
                 prior_scale: float = 0.01, seed: int = 0):
        durations = np.asarray(clip_durations_s, dtype=np.float64)
        counts = np.maximum(1, np.ceil(durations / bin_s - 1e-9).astype(np.int64))
        self.bin_s = bin_s
        self.bin_count = counts
        self.clip_durations = durations
        self.bin_clip = np.repeat(np.arange(len(durations)), counts)
        self.bin_first = np.concatenate(([0], np.cumsum(counts)[:-1]))
        self.bin_start = (np.arange(len(self.bin_clip)) - self.bin_first[self.bin_clip]) * bin_s
        self.num_items = int(len(self.bin_clip))
        self.alpha, self.uniform_fraction = alpha, uniform_fraction
        self.kernel = np.asarray(kernel, dtype=np.float64)
        if prior is None:
            self.rates = np.zeros(self.num_items)
        else:
            prior = np.asarray(prior, dtype=np.float64)
            if prior.shape != (self.num_items,):
                raise ValueError(f"prior must have one value per bin ({self.num_items})")
            self.rates = prior_scale * (prior - LEVEL_MIN) / (LEVEL_MAX - LEVEL_MIN)
        self.rng = np.random.default_rng(seed)

    def bin_of(self, clips: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Global bin index of (clip, time s)."""
        clips = np.asarray(clips, dtype=np.int64)
        local = np.floor(np.asarray(times, dtype=np.float64) / self.bin_s).astype(np.int64)
        return self.bin_first[clips] + np.clip(local, 0, self.bin_count[clips] - 1)

    def probabilities(self) -> np.ndarray:
        smoothed = np.zeros(self.num_items)
        for k, weight in enumerate(self.kernel):
            # failures in bin j raise bin j - k of the same clip
            src = np.arange(k, self.num_items)
            dst = src - k
            ok = self.bin_clip[src] == self.bin_clip[dst]
            np.add.at(smoothed, dst[ok], weight * self.rates[src[ok]])
        total = smoothed.sum()
        p = smoothed / total if total > 0 else np.full(self.num_items, 1.0 / self.num_items)
        return (1 - self.uniform_fraction) * p + self.uniform_fraction / self.num_items

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(clips, start_times_s)`` of ``n`` episodes; start uniform inside the drawn bin."""
        bins = self.rng.choice(self.num_items, size=n, p=self.probabilities())
        clips = self.bin_clip[bins]
        start = self.bin_start[bins] + self.rng.random(n) * self.bin_s
        return clips, np.minimum(start, self.clip_durations[clips])

    def update(self, clips: np.ndarray, fail_times: np.ndarray) -> None:
        """Episode results: the time (s) each episode failed, NaN when it did not fail."""
        fail_times = np.asarray(fail_times, dtype=np.float64).reshape(-1)
        clips = np.asarray(clips, dtype=np.int64).reshape(-1)
        counts = np.zeros(self.num_items)
        failed = np.isfinite(fail_times)
        if failed.any():
            np.add.at(counts, self.bin_of(clips[failed], fail_times[failed]), 1.0)
        self.rates = (1 - self.alpha) * self.rates + self.alpha * counts

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_items": self.num_items, "rng": _rng_state(self.rng),
                "rates": self.rates.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check(state, self.kind, self.num_items)
        self.rates = np.asarray(state["rates"], dtype=np.float64).copy()
        self.rng.bit_generator.state = state["rng"]


def bin_prior(dataset: Any, bin_s: float = 1.0) -> np.ndarray:
    """Per-bin prior difficulty for :class:`FailureBinSampler` from a dataset's window table.

    A bin takes the largest difficulty of the windows that overlap it (the
    clip's difficulty when none does).
    """
    out = []
    w = dataset.windows
    for c in range(dataset.num_clips):
        dur = dataset.clip_duration(c)
        n = max(1, int(np.ceil(dur / bin_s - 1e-9)))
        fps = dataset.clip_fps[c]
        rows = np.flatnonzero(w.clip == c)
        lo = w.start_frame[rows] / fps
        hi = (w.start_frame[rows] + w.num_frames[rows] - 1) / fps
        vals = np.full(n, float(dataset.clip_difficulty[c]))
        for b in range(n):
            hit = (lo < (b + 1) * bin_s) & (hi >= b * bin_s)
            if hit.any():
                vals[b] = float(w.difficulty[rows[hit]].max())
        out.append(vals)
    return np.concatenate(out) if out else np.zeros(0)

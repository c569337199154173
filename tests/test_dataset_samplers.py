"""Samplers: prior start, updates in the right direction, exact resume from state_dict."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from stages.dataset.samplers import AdaptiveSampler, FailureBinSampler, UniformSampler, bin_prior


def _resumes(make, drive):
    """Run a sampler, snapshot, keep going; a fresh sampler loaded with the snapshot must repeat exactly."""
    a = make()
    drive(a, 3)
    state = copy.deepcopy(a.state_dict())
    tail_a = drive(a, 4)
    b = make(seed=999)
    b.load_state_dict(state)
    tail_b = drive(b, 4)
    for x, y in zip(tail_a, tail_b):
        np.testing.assert_array_equal(x, y)
    return a, b


def test_uniform_resume_and_weights():
    def drive(s, n):
        return [s.sample(64) for _ in range(n)]
    _resumes(lambda seed=0: UniformSampler(10, seed=seed), drive)
    s = UniformSampler(4, weights=np.array([0.0, 1.0, 0.0, 3.0]), seed=1)
    draws = s.sample(4000)
    assert set(np.unique(draws)) == {1, 3}
    assert 0.70 < np.mean(draws == 3) < 0.80


def test_adaptive_starts_from_prior_and_updates():
    prior = np.array([2.0, 8.0, 5.0, 12.0])
    s = AdaptiveSampler(prior, seed=0)
    np.testing.assert_allclose(s.levels, [2.0, 8.0, 5.0, 10.0])     # clamped to the 1-10 scale
    np.testing.assert_allclose(s.probabilities(), np.array([2, 8, 5, 10]) / 25)
    draws = s.sample(20000)
    assert abs(np.mean(draws == 1) - 8 / 25) < 0.015
    s.update(np.array([1, 1, 2, 0]), np.array([1.0, 0.97, 0.1, 0.7]))
    np.testing.assert_allclose(s.levels, [2.0, 8.0 * 0.99 * 0.99, 5.0 * 1.01, 10.0])
    for _ in range(2000):
        s.update(np.array([0]), np.array([1.0]))
    assert s.levels[0] == 1.0            # floor
    np.testing.assert_allclose(s.termination_distance(np.array([0, 3])), [0.1, 0.7])


def test_adaptive_resume():
    def drive(s, n):
        out = []
        for _ in range(n):
            items = s.sample(32)
            s.update(items, (items % 3) / 2.0)
            out += [items, s.levels.copy()]
        return out
    a, b = _resumes(lambda seed=0: AdaptiveSampler(np.linspace(1, 10, 50), seed=seed), drive)
    np.testing.assert_array_equal(a.episodes, b.episodes)
    # states survive JSON (lists) as well
    state = a.state_dict()
    text = json.dumps({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in state.items()})
    c = AdaptiveSampler(np.ones(50))
    c.load_state_dict(json.loads(text))
    np.testing.assert_array_equal(c.sample(10), a.sample(10))
    with pytest.raises(ValueError):
        AdaptiveSampler(np.ones(3)).load_state_dict(state)
    with pytest.raises(ValueError):
        UniformSampler(50).load_state_dict(state)


def test_failure_bins_focus_on_failures_and_spread_backwards():
    s = FailureBinSampler(np.array([3.5, 2.0]), bin_s=1.0, alpha=0.5, uniform_fraction=0.1, kernel=(1.0, 0.5),
                          seed=0)
    assert s.num_items == 6
    np.testing.assert_allclose(s.probabilities(), np.full(6, 1 / 6))
    s.update(np.array([0, 0, 1]), np.array([2.5, 2.7, np.nan]))    # clip 0 fails twice in bin 2
    p = s.probabilities()
    assert np.argmax(p) == 2
    assert p[1] > p[0] and p[1] > p[3]                         # spread to the preceding bin only
    np.testing.assert_allclose(p[4:], 0.1 / 6)                 # other clip: uniform share only
    clips, times = s.sample(5000)
    in_bin2 = (clips == 0) & (times >= 2.0) & (times < 3.0)
    assert in_bin2.mean() > 0.5
    assert np.all(times <= np.array([3.5, 2.0])[clips])


def test_failure_bins_resume_and_prior():
    def drive(s, n):
        out = []
        for _ in range(n):
            clips, times = s.sample(16)
            s.update(clips, np.where(times > 1.0, times, np.nan))
            out += [clips, times, s.rates.copy()]
        return out
    prior = np.linspace(1, 10, 7)
    _resumes(lambda seed=0: FailureBinSampler(np.array([4.0, 2.5]), prior=prior, seed=seed), drive)
    s = FailureBinSampler(np.array([4.0, 2.5]), prior=prior, uniform_fraction=0.0, kernel=(1.0,))
    assert np.argmax(s.probabilities()) == 6 and s.probabilities()[0] == 0.0


def test_bin_prior_from_dataset(tmp_path):
    from stages.dataset.reader import open_dataset
    from stages.dataset.settings import Settings
    from stages.dataset.synthetic import synthetic_inputs
    from stages.dataset.writer import write_dataset

    write_dataset(tmp_path, synthetic_inputs(2, num_frames=200), Settings(window_s=2.0), progress=False)
    ds = open_dataset(tmp_path)
    prior = bin_prior(ds)
    durations = [ds.clip_duration(c) for c in range(ds.num_clips)]
    s = FailureBinSampler(np.array(durations), prior=prior)
    assert len(prior) == s.num_items == 2 * 7
    assert prior.min() >= ds.windows.difficulty.min() - 1e-6 and prior.max() <= ds.windows.difficulty.max() + 1e-6

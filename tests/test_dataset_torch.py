"""torch wrappers: DataLoader workers (forked processes) read the same windows as the main process."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from stages.dataset.reader import open_dataset
from stages.dataset.samplers import AdaptiveSampler, UniformSampler
from stages.dataset.settings import Settings
from stages.dataset.synthetic import synthetic_inputs
from stages.dataset.torch_data import SampledWindows, SamplerIndices, WindowDataset, item_uniform
from stages.dataset.writer import write_dataset


def test_dataloader_workers_match_main_process(tmp_path):
    write_dataset(tmp_path, synthetic_inputs(8, num_frames=200, seed=3),
                  Settings(shard_mb=0.2, window_s=2.0, split_train=1.0, split_val=0.0), progress=False)
    ds = WindowDataset(tmp_path, num_frames=20, dt=0.02, split="train", seed=1,
                       fields=("root_pos", "root_rot", "dof_pos"))
    ds.data.window(0, 0.0, 2, 0.02)            # open shards in the parent before forking
    n = len(ds)
    assert n == open_dataset(tmp_path).num_windows
    loader = DataLoader(ds, batch_size=8, num_workers=2, collate_fn=WindowDataset.collate,
                        multiprocessing_context="fork")
    batches = list(loader)
    got = torch.cat([b["dof_pos"] for b in batches])
    ref = torch.stack([ds[i]["dof_pos"] for i in range(n)])
    assert got.shape == (n, 20, 29) and torch.equal(got, ref)
    assert batches[0]["valid"].dtype == torch.bool
    # the same item gets a new start time in a new epoch, the same one again in the same epoch
    t_before = ds[3]["t0"].item()
    assert ds[3]["t0"].item() == t_before
    ds.set_epoch(1)
    assert ds[3]["t0"].item() != t_before


def test_curriculum_sampler_feeds_dataloader(tmp_path):
    write_dataset(tmp_path, synthetic_inputs(4, num_frames=120, seed=4), Settings(window_s=1.0, split_train=1.0,
                                                                                   split_val=0.0), progress=False)
    ds = WindowDataset(tmp_path, num_frames=10, split="train")
    prior = ds.data.windows.difficulty[ds.indices]
    sampler = AdaptiveSampler(prior, seed=0)
    loader = DataLoader(ds, batch_size=16, sampler=SamplerIndices(sampler, 16), collate_fn=WindowDataset.collate)
    it = iter(loader)
    batch = next(it)
    assert batch["root_pos"].shape == (16, 10, 3)
    stream = SampledWindows(tmp_path, lambda n, seed: UniformSampler(n, seed=seed), batch=4, num_frames=5,
                            num_batches=3)
    out = list(DataLoader(stream, batch_size=None, num_workers=0))
    assert len(out) == 3 and out[0]["dof_pos"].shape == (4, 5, 29)
    assert np.all(np.isfinite(out[2]["root_rot"].numpy()))


def test_item_uniform_is_uniform_and_keyed():
    u = item_uniform(3, 0, np.arange(20000))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(np.mean(u < 0.25) - 0.25) < 0.01
    np.testing.assert_array_equal(u[[5, 7]], item_uniform(3, 0, np.array([5, 7])))
    assert not np.allclose(u[:100], item_uniform(3, 1, np.arange(100)))
    assert not np.allclose(u[:100], item_uniform(4, 0, np.arange(100)))

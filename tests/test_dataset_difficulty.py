"""Prior difficulty: ordering on Unitree's real G1 retargets, scale, extras."""

from __future__ import annotations

import numpy as np
import pytest

from stages.dataset import difficulty as diff
from stages.dataset.synthetic import random_motion
from tests.conftest import require_shared


@pytest.fixture(scope="module")
def real_dataset(tmp_path_factory):
    from core.robot import load_robot, read_unitree_csv
    from stages.dataset.reader import open_dataset
    from stages.dataset.writer import ClipInput, write_dataset

    folder = require_shared("lafan1_g1_unitree")
    robot = load_robot("g1")
    items = []
    for name in ("walk4_subject1", "dance1_subject1", "fallAndGetUp3_subject1"):
        path = folder / f"{name}.csv"
        items.append(ClipInput(name, read_unitree_csv(path, robot), {"verdict": "pass", "segments": []},
                               source_path=str(path), dataset="LAFAN1"))
    out = tmp_path_factory.mktemp("real")
    write_dataset(out, items, progress=False)
    return open_dataset(out)


def test_walk_below_dance_below_fall(real_dataset):
    ds = real_dataset
    level = {c["id"]: c["difficulty"] for c in ds.clips}
    assert level["walk4_subject1"] < level["dance1_subject1"] < level["fallAndGetUp3_subject1"]
    # measured: walk 2.5, dance 4.9, fall and get up 6.7 -- clear gaps, not ties
    assert level["dance1_subject1"] - level["walk4_subject1"] > 1.0
    assert level["fallAndGetUp3_subject1"] - level["dance1_subject1"] > 1.0
    med = {c["id"]: float(np.median(ds.windows.difficulty[ds.windows.clip == c["index"]])) for c in ds.clips}
    assert med["walk4_subject1"] < med["dance1_subject1"] < med["fallAndGetUp3_subject1"]
    # what drives the fall clip: the root going low for a good part of it
    fall = ds.clips[2]["features"]
    assert fall["low_posture_frac"] > 0.1 and fall["height_range_m"] > 0.4
    assert ds.clips[0]["features"]["low_posture_frac"] == 0.0


def test_standing_is_level_one_and_scale_bounded():
    t = np.arange(300)
    still = diff.measure(np.tile([0.0, 0.0, 0.79], (300, 1)), np.tile([0, 0, 0, 1.0], (300, 1)), np.zeros((300, 29)),
                         np.ones((300, 2)), 30.0)
    assert diff.difficulty(still) == pytest.approx(1.0)
    wild = random_motion(300, speed=8.0, seed=1)
    wild.root_pos[:, 2] = np.where(t < 150, 0.8, 0.2)        # half the clip on the floor
    f = diff.measure(wild.root_pos, wild.root_rot, wild.dof_pos, np.zeros((300, 2)), 30.0, standing_height=0.8)
    f = diff.with_extras(f, zmp_margin_m=-0.2, retarget_residual_m=0.5, adaptation_change_rad=1.0)
    subs = diff.sub_scores(f)
    assert subs["single_support_frac"] == 0.0 and sum(v == 1.0 for v in subs.values()) == len(subs) - 1
    total = sum(r.weight for r in diff.REFERENCES.values())
    assert diff.difficulty(f) == pytest.approx(1 + 9 * (total - 0.5) / total)


def test_extras_raise_difficulty_and_residual_metric():
    m = random_motion(300, seed=2)
    base = diff.measure(m.root_pos, m.root_rot, m.dof_pos, m.contacts, 30.0)
    worse = diff.with_extras(base, zmp_margin_m=-0.1)
    better = diff.with_extras(base, zmp_margin_m=0.2)
    assert diff.difficulty(better) < diff.difficulty(base) < diff.difficulty(worse)
    assert diff.retarget_residual({"keypoint_error_mean_m": 0.04, "keypoint_error_max_m": 0.2}) == 0.04
    assert diff.retarget_residual({"foo_error_max_m": 0.2, "bar_residual_m": 0.1}) == 0.2
    assert diff.retarget_residual({"speed_mps": 1.0}) is None
    # the retarget stage's own metric wins over other distances
    assert diff.retarget_residual({"keypoint_error_m": 0.013, "ground_penetration_max_m": 0.5}) == 0.013

"""verify: passes on a fresh dataset, names a truncated or corrupted shard; the reader names it too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from stages.dataset.reader import open_dataset
from stages.dataset.settings import Settings
from stages.dataset.synthetic import synthetic_inputs
from stages.dataset.verify import verify_dataset
from stages.dataset.writer import write_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    out = tmp_path_factory.mktemp("pristine")
    write_dataset(out, synthetic_inputs(5, num_frames=300, seed=2), Settings(shard_mb=0.25), progress=False)
    return out


@pytest.fixture()
def dataset(pristine, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(pristine, copy)
    return copy


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_verify_passes_and_cli_exit_code(dataset):
    report = verify_dataset(dataset)
    assert report.ok, report.problems
    assert report.clips == 5 and report.checked_files == len(json.loads((dataset / "manifest.json").read_text())
                                                             ["shards"]) + 2
    res = _cli("verify", str(dataset))
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout


def test_truncated_shard_is_named(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    victim = manifest["shards"][1]["file"]
    path = dataset / victim
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    report = verify_dataset(dataset)
    assert not report.ok
    assert [p.file for p in report.problems] == [victim]
    assert report.problems[0].code == "truncated"
    res = _cli("verify", str(dataset))
    assert res.returncode == 1
    assert victim in res.stderr and "truncated" in res.stderr
    # the reader refuses the shard by name as soon as it is touched; other shards still read
    ds = open_dataset(dataset)
    bad_clip = next(c["index"] for c in ds.clips if c["shard"] == 1)
    good_clip = next(c["index"] for c in ds.clips if c["shard"] == 0)
    assert ds.window(good_clip, 0.0, 5, 0.02)["valid"].all()
    with pytest.raises(InputError) as err:
        ds.window(bad_clip, 0.0, 5, 0.02)
    assert err.value.code == "truncated" and err.value.path.endswith(victim)


def test_flipped_byte_and_index_errors(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    victim = manifest["shards"][0]["file"]
    path = dataset / victim
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify_dataset(dataset)
    assert [(p.file, p.code) for p in report.problems] == [(victim, "checksum_mismatch")]


def test_index_tampering_detected(dataset):
    clips = json.loads((dataset / "clips.json").read_text())
    clips[1]["row_start"] += 3
    text = json.dumps(clips).encode()
    (dataset / "clips.json").write_bytes(text)
    # re-sign the table so only the index check can catch it
    import hashlib

    manifest = json.loads((dataset / "manifest.json").read_text())
    for t in manifest["tables"]:
        if t["file"] == "clips.json":
            t["bytes"], t["sha256"] = len(text), hashlib.sha256(text).hexdigest()
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    report = verify_dataset(dataset)
    codes = {p.code for p in report.problems}
    assert "index_mismatch" in codes
    assert any(p.file == manifest["shards"][clips[1]["shard"]]["file"] for p in report.problems)


def test_missing_manifest_is_not_a_dataset(tmp_path):
    report = verify_dataset(tmp_path)
    assert not report.ok and report.problems[0].code == "not_a_dataset"
    with pytest.raises(InputError) as err:
        open_dataset(tmp_path)
    assert err.value.code == "not_a_dataset"


def test_rewrite_replaces_shards_atomically(dataset):
    write_dataset(dataset, synthetic_inputs(2, num_frames=100, seed=5), Settings(shard_mb=1), progress=False)
    assert verify_dataset(dataset).ok
    assert sorted(p.name for p in (dataset / "shards").iterdir()) == ["shard-00000.h5"]
    assert not list(dataset.rglob("*.tmp"))
    assert np.isclose(open_dataset(dataset).manifest["totals"]["frames"], 200)


def test_empty_corpus_is_a_valid_empty_dataset(tmp_path):
    summary = write_dataset(tmp_path, [], progress=False)
    assert summary["clips"] == 0 and summary["shards"] == 0
    assert verify_dataset(tmp_path).ok
    ds = open_dataset(tmp_path)
    assert ds.num_clips == 0 and ds.num_windows == 0 and len(ds.split_windows("train")) == 0

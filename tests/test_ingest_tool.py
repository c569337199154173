"""The ingest stage contract and the ``ingest-clip`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, require_shared

from core.errors import InputError
from core.records.human_motion import HumanMotion
from core.stage import ClipSource, RunGlobals, StageInput
from stages.ingest.demo import write_demo_corpus
from stages.ingest.stage import STAGE, Settings


def clip(path: Path, **kw) -> ClipSource:
    return ClipSource(clip_id="c", path=str(path), sha256="0" * 64, kind=kw.pop("kind", "bvh"), dataset="d",
                      license="CC0-1.0", **kw)


def test_stage_run_returns_canonical_arrays(tmp_path):
    paths = write_demo_corpus(tmp_path, seed=1)
    bvh = next(p for p in paths if p.name.startswith("walk_slow"))
    result = STAGE.run(StageInput(clip=clip(bvh), globals=RunGlobals(fps=60.0)), Settings())
    assert STAGE.name == "ingest" and STAGE.settings_type is Settings
    m = HumanMotion.from_arrays(result.arrays, result.meta)
    assert m.fps == 60.0 and result.summary["fps"] == 60.0
    assert result.summary["frames"] == m.num_frames == 271          # 4.5 s at 60 fps
    assert result.summary["skeleton"] == "lafan1"
    assert m.provenance["license"] == "CC0-1.0" and m.provenance["clip_id"] == "c"
    json.dumps(result.summary), json.dumps(result.meta)


def test_stage_settings_change_floor(tmp_path):
    paths = write_demo_corpus(tmp_path, seed=1)
    npz = next(p for p in paths if p.name.startswith("jump_vertical"))
    inp = StageInput(clip=clip(npz, kind="amass"), globals=RunGlobals())
    a = STAGE.run(inp, Settings()).summary["floor_height"]
    b = STAGE.run(inp, Settings(floor_percentile=95.0, floor_stance_speed=5.0)).summary["floor_height"]
    assert b > a + 0.03          # airborne frames count as "planted" with a huge speed threshold


def test_stage_requires_body_models_switch(tmp_path):
    paths = write_demo_corpus(tmp_path, seed=1)
    npz = next(p for p in paths if p.suffix == ".npz")
    inp = StageInput(clip=clip(npz, kind="amass"), globals=RunGlobals())
    with pytest.raises(InputError) as err:
        STAGE.run(inp, Settings(require_body_models=True))
    assert err.value.code == "missing_body_model"
    with pytest.raises(InputError):
        STAGE.run(StageInput(clip=clip(npz, kind="amass", require_body_models=True), globals=RunGlobals()),
                  Settings())


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_cli_ingest_cmu_prints_summary(tmp_path):
    src = require_shared("cmu", "131_01.bvh")
    out = tmp_path / "o.npz"
    proc = run_cli("ingest-clip", str(src), "--fps", "30", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["frames"] == 249 and summary["fps"] == 30.0 and summary["skeleton"] == "cmu"
    assert 1.5 < summary["standing_height"] < 1.95 and abs(summary["duration"] - 248 / 30) < 1e-6
    m = HumanMotion.load(out)
    assert m.num_frames == 249 and np.isclose(m.floor_height, summary["floor_height"], atol=1e-4)


def test_cli_bad_input_exit_code_2(tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n")
    proc = run_cli("ingest-clip", str(bad), "--out", str(tmp_path / "o.npz"))
    assert proc.returncode == 2
    assert "bad.bvh" in proc.stderr and "truncated" in proc.stderr
    assert not (tmp_path / "o.npz").exists()


def test_cli_help():
    proc = run_cli("ingest-clip", "--help")
    assert proc.returncode == 0 and "--body-models" in proc.stdout and "--fps" in proc.stdout


def test_handler_called_directly(tmp_path, capsys):
    import argparse

    from stages.ingest.tool import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    paths = write_demo_corpus(tmp_path / "d", seed=0)
    args = parser.parse_args(["ingest-clip", str(paths[0]), "--out", str(tmp_path / "x.npz")])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["frames"] > 2
    args = parser.parse_args(["ingest-clip", str(tmp_path / "nope.bvh"), "--out", str(tmp_path / "y.npz")])
    assert args.func(args) == 2
    assert "file not found" in capsys.readouterr().err

"""The real stages inside the DAG: the built-in default manifest (demo corpus) and
the real clips of ../shared/data, through the CLI as users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require_shared

from pipeline import open_dataset
from pipeline.config import load_manifest
from pipeline.dag import RunOptions, run_pipeline
from pipeline.run_manifest import build_run_manifest

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("default") / "out"
    proc = cli("run", "--manifest", "manifests/default.yaml", "--out", str(out), "--workers", "2", "--no-progress")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_default_manifest_runs_every_stage_and_writes_a_verified_dataset(default_run):
    data = json.loads((default_run / "run.json").read_text())
    assert data["stages"] == ["ingest", "retarget", "filter", "simulate", "adapt_model", "adapt", "dataset"]
    totals = data["totals"]
    assert totals["clips"] == 15 and totals["errors"] == 0
    by_id = {c["clip_id"]: c for c in data["clips"]}
    feasible = [cid for cid in by_id if not cid.startswith("demo__infeasible")]
    assert len(feasible) == 11
    assert all(by_id[cid]["status"] == "ok" for cid in feasible), {c: by_id[c]["status"] for c in feasible}
    built_to_fail = {"floating": "floating", "lying_on_floor": "non_foot_ground_contact",
                     "limbs_through_body": "self_collision", "too_fast": "joint_velocity"}
    for name, reason in built_to_fail.items():
        record = by_id[f"demo__infeasible_{name}_s0"]
        assert record["status"] == "rejected" and record["stages"]["filter"]["reason"] == reason, name
    assert totals["filter"]["verdicts"] == {"pass": 11, "reject": 4}
    assert totals["rejected_by_reason"] == {f"filter:{r}": 1 for r in built_to_fail.values()}
    for cid in feasible:
        assert by_id[cid]["stages"]["retarget"]["summary"]["joint_limit_violations"] == 0
        sim = by_id[cid]["stages"]["simulate"]["summary"]      # every kept clip is simulated
        assert sim["frames"] > 0 and 0.0 <= sim["tracked_fraction"] <= 1.0 and sim["falls"] >= 0
    assert by_id["demo__squat_s0"]["stages"]["simulate"]["summary"]["falls"] == 0
    assert data["corpus"]["dataset"]["status"] == "ok"
    verify = cli("verify", str(default_run / "dataset"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = cli("status", str(default_run))
    assert status.returncode == 0 and "demo__walk_straight_s0" in status.stdout


def test_dataset_of_the_default_run_reads_windows_at_50hz(default_run):
    ds = open_dataset(default_run / "dataset")
    assert len(ds.clips) >= 11
    assert "left_knee_joint" in ds.dof_names
    win = ds.window(0, 0.0, 100, 0.02)
    dof = win["dof_pos"]
    assert dof.shape == (100, len(ds.dof_names)) and np.isfinite(dof).all()


def test_second_run_reuses_everything(default_run):
    proc = cli("run", "--manifest", "manifests/default.yaml", "--out", str(default_run), "--workers", "0",
               "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((default_run / "run.json").read_text())
    assert all(rec["cached"] for c in data["clips"] for rec in c["stages"].values())
    assert data["corpus"]["dataset"]["cached"] is True


def test_every_command_has_help():
    top = cli("--help")
    assert top.returncode == 0
    for command in ("run", "status", "ingest-clip", "retarget-clip", "filter-clip", "adapt-clip", "verify", "export"):
        proc = cli(command, "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout, command


def test_real_clips_through_the_dag(tmp_path):
    require_shared("lafan1")
    manifest = load_manifest(REPO / "manifests" / "shared_real.yaml", output_override=tmp_path / "out")
    result = run_pipeline(manifest, RunOptions(until="dataset", workers=0, progress=False))
    data = build_run_manifest(result)
    by_id = {c["clip_id"]: c for c in data["clips"]}
    assert data["totals"]["clips"] == 14 and data["totals"]["errors"] == 0
    for cid, clip in by_id.items():
        assert clip["stages"]["ingest"]["status"] == "ok", cid
        assert clip["stages"]["retarget"]["status"] == "ok", cid
    walk = by_id["lafan1__walk4_subject1"]["stages"]["filter"]["summary"]["verdict"]["verdict"]
    assert walk in ("pass", "trimmed")
    ground = by_id["lafan1__ground1_subject1"]["stages"]["filter"]["summary"]
    assert "non_foot_ground_contact" in ground["reason_codes"]
    assert data["corpus"]["dataset"]["status"] == "ok"
    assert data["corpus"]["dataset"]["summary"]["clips"] >= 10

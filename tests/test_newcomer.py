"""Issue 14: what a newcomer trips over (status, messages, validation, logs, files, shared folders)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import cloudpickle
import fake_stages
import numpy as np
import pytest
import yaml
from test_ingest_badinput import small_bvh

from core.errors import ConfigError
from core.npzio import save_npz
from core.progress import Progress
from core.stage import ClipSource, RunGlobals
from pipeline.cli import build_parser, default_manifest, main
from pipeline.config import load_manifest
from pipeline.dag import RunOptions, run_pipeline
from pipeline.lock import run_lock
from pipeline.run_manifest import build_run_manifest, format_table, merge_previous, stage_cell, totals
from pipeline.sources import discover
from pipeline.tasks import ClipState, ClipTask, run_clip_task
from stages.dataset.settings import Settings as DatasetSettings
from stages.dataset.synthetic import random_motion, synthetic_inputs
from stages.dataset.writer import write_dataset

cloudpickle.register_pickle_by_value(fake_stages)
REPO = Path(__file__).resolve().parents[1]
PASS = {"verdict": "pass", "segments": []}


def clip_record(clip_id, stages, status="ok"):
    return {"clip_id": clip_id, "source": f"/d/{clip_id}", "sha256": clip_id, "dataset": "d", "status": status,
            "stages": stages}


def run_data(clips, corpus=None):
    corpus = corpus or {}
    return {"schema": "run_manifest/1", "stages": ["ingest", "retarget", "filter", *corpus], "clips": clips,
            "corpus": corpus, "output": "/tmp/x", "finished": "T0",
            "totals": totals(clips, None, corpus, 1.0)}


def filter_rec(verdict, reasons, total=4.0, kept=4.0, status="ok"):
    return {"status": status, "reason": reasons[0]["code"] if status == "rejected" else None,
            "summary": {"verdict": {"verdict": verdict, "reasons": reasons}, "seconds_total": total,
                        "seconds_kept": kept, "reason_codes": [r["code"] for r in reasons]}}


# -- status and messages ----------------------------------------------------------------------------------------

def test_status_shows_full_codes_verdict_dataset_entries_and_fits_width():
    long_code = {"code": "non_foot_ground_contact_with_a_long_name", "spans": [[3, 9]], "value": 0.1,
                 "threshold": 0.03, "unit": "m"}
    clips = [
        clip_record("a", {"ingest": {"status": "ok"}, "retarget": {"status": "ok"},
                          "filter": filter_rec("trimmed", [long_code], total=4.0, kept=3.0)}),
        clip_record("b", {"ingest": {"status": "ok"}, "retarget": {"status": "ok"},
                          "filter": filter_rec("reject", [{"code": "self_collision", "value": 0.09,
                                                           "threshold": 0.03, "unit": "m", "spans": [[1, 5]]}],
                                               status="rejected")}, status="rejected"),
        clip_record("c", {"ingest": {"status": "ok"}, "retarget": {"status": "ok"}, "filter": filter_rec("pass", [])}),
    ]
    dataset = {"status": "ok", "summary": {"clips": 3, "entries_per_clip": {"a": 2, "c": 1}}}
    table = format_table(run_data(clips, {"dataset": dataset}), width=90)
    assert all(len(line) <= 90 for line in table.splitlines())
    assert "non_foot_ground_contact_with_a_long_name" in table and "self_collision" in table
    assert re.search(r"^a\s+ok\s+ok\s+ok\s+trimmed 75 % kept\s+2\s", table, re.M)
    assert re.search(r"^b\s+ok\s+ok\s+rejected\s+rejected\s+0\s+self_collision", table, re.M)
    assert re.search(r"^c\s+ok\s+ok\s+ok\s+pass\s+1$", table, re.M)
    assert "dataset" in table.splitlines()[0]


def test_first_message_of_each_reason_code_in_summary():
    msg = "g2: no robot config here; built-in robots are g1, h1"
    clips = [clip_record(f"c{i}", {"ingest": {"status": "ok"},
                                   "retarget": {"status": "rejected", "reason": "bad_robot", "message": msg}},
                         status="rejected") for i in range(3)]
    table = format_table(run_data(clips), width=120)
    assert "retarget:bad_robot" in table and f"c0: {msg}" in table and "c1: " not in table


def test_salvaged_input_is_marked_and_strict_input_rejects(tmp_path):
    from stages.ingest.settings import Settings as IngestSettings
    from stages.ingest.stage import STAGE

    text = small_bvh().replace("Frames: 31", "Frames: 40")
    path = tmp_path / "t.bvh"
    path.write_text(text[: len(text) - 200])             # last line cut and the header's count wrong
    src = ClipSource("t", str(path), "x", "bvh", "d", "CC0")

    def ingest(strict: bool):
        task = ClipTask("ingest", f"k{strict}", src, STAGE, IngestSettings(strict_input=strict), RunGlobals(),
                        tmp_path / "out")
        return run_clip_task(task, ClipState(src)).records["ingest"]

    rec = ingest(False)
    assert rec["status"] == "ok" and len(rec["warnings"]) == 2
    assert stage_cell(rec) == "ok (2 warnings)"
    assert any("incomplete" in w for w in rec["warnings"]) and any("declares 40" in w for w in rec["warnings"])
    strict = ingest(True)
    assert strict["status"] == "rejected" and strict["reason"] == "salvaged_input"
    assert "incomplete" in strict["message"]
    args = build_parser().parse_args(["run", "--strict-input"])
    assert args.strict_input


def test_filter_clip_on_a_bvh_says_what_is_wrong(tmp_path, capsys):
    path = tmp_path / "some.bvh"
    path.write_text(small_bvh())
    assert main(["filter-clip", str(path)]) == 2
    err = capsys.readouterr().err
    assert "BVH motion-capture file" in err and "not an .npz archive of a robot motion" in err
    assert "retarget-clip" in err and "pickled" not in err


def test_verify_on_a_run_folder_finds_its_dataset(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "dataset").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    assert main(["verify", str(run)]) == 2
    assert f"its dataset would be {run / 'dataset'}" in capsys.readouterr().err
    write_dataset(run / "dataset", synthetic_inputs(2, num_frames=60), progress=False)
    assert main(["verify", str(run)]) == 0
    out = capsys.readouterr().out
    assert "verifying its dataset" in out and "OK" in out


# -- validation before work --------------------------------------------------------------------------------------

def write_manifest(tmp_path: Path, **changes) -> Path:
    root = tmp_path / "data"
    root.mkdir(exist_ok=True)
    (root / "a.bvh").write_text("x")
    data = {"name": "t", "output": str(tmp_path / "out"), "robot": "g1",
            "sources": [{"name": "s", "kind": "bvh", "root": str(root)}]}
    for key, value in changes.items():
        if key.startswith("source_"):
            data["sources"][0][key[7:]] = value
        else:
            data[key] = value
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("changes, key, words", [
    ({"robot": "g2"}, "robot", "unknown robot 'g2'; built-in robots are g1, h1"),
    ({"robot": "nope/robot.yaml"}, "robot", "robot YAML not found"),
    ({"source_bvh_format": "vicon"}, "sources[0] (s).bvh_format", "unknown BVH format 'vicon'"),
    ({"source_body_models": "missing_models"}, "sources[0] (s).body_models", "body-model folder not found"),
    ({"source_root": "elsewhere"}, "sources[0] (s).root", "folder not found"),
    ({"stages": {"dataset": {"codec": "zstd"}}}, "stages.dataset.codec", "must be one of none, lzf, gzip"),
])
def test_values_a_stage_would_refuse_are_rejected_at_load(tmp_path, changes, key, words):
    path = write_manifest(tmp_path, **changes)
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert exc.value.key == key and exc.value.file == str(path) and words in str(exc.value)


def test_a_source_without_matching_files_is_reported(tmp_path):
    path = write_manifest(tmp_path, source_include=["**/*.BVH2"])
    with pytest.raises(ConfigError) as exc:
        discover(load_manifest(path))
    text = str(exc.value)
    assert exc.value.key == "sources.s" and str(tmp_path / "data") in text and "**/*.BVH2" in text


# -- logs and progress --------------------------------------------------------------------------------------------

def test_progress_is_plain_lines_off_a_terminal_and_silent_when_disabled():
    stream = io.StringIO()
    bar = Progress(3, "retarget", "clip", stream=stream, every_s=0.0)
    for _ in range(3):
        bar.update()
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text and text.splitlines()[-1] == "retarget: 3/3 clip(s)"
    quiet = io.StringIO()
    with Progress(3, "x", enabled=False, stream=quiet) as off:
        off.update(3)
    assert quiet.getvalue() == ""


def test_no_progress_silences_every_bar_including_the_dataset_writer(tmp_path, capfd):
    write_dataset(tmp_path / "ds", synthetic_inputs(2, num_frames=60), progress=False)
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.txt").write_text("1 2")
    manifest = {"name": "t", "output": str(tmp_path / "out"), "sources": [{"name": "s", "root": str(root),
                                                                           "include": ["*.txt"]}],
                "stages": {"ingest": {"log": str(tmp_path / "log")}, "retarget": {"log": str(tmp_path / "log")},
                           "dataset": {"log": str(tmp_path / "log")}}}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(manifest))
    run_pipeline(load_manifest(path, stages=fake_stages.STAGES), RunOptions(workers=0, progress=False),
                 fake_stages.STAGES)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    write_dataset(tmp_path / "ds2", synthetic_inputs(1, num_frames=60), progress=True)   # not a terminal
    assert "\r" not in capfd.readouterr().err


def test_dataset_stage_writes_without_a_bar_of_its_own(tmp_path, capfd):
    from core.stage import ClipOutcome
    from stages.dataset.stage import run

    motion = random_motion(60)
    motion.save(tmp_path / "r.npz")
    outcome = ClipOutcome(ClipSource("c", "/c.bvh", "s", "bvh", "d", "l"), "ok", {"retarget": tmp_path / "r.npz"},
                          {"filter": {"verdict": PASS}}, {})
    run([outcome], DatasetSettings(), RunGlobals(), tmp_path / "ds")
    assert capfd.readouterr().err == ""


def test_demo_corpus_does_not_warn_mean_shape(tmp_path):
    from stages.ingest.api import ingest_file
    from stages.ingest.demo_writers import write_amass_npz

    T = 20
    local = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (T, 22, 1))
    pelvis = np.tile([0.0, 0.0, 0.9], (T, 1)) + np.linspace(0, 0.5, T)[:, None] * [1, 0, 0]
    write_amass_npz(tmp_path / "demo.npz", local, pelvis, 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        motion = ingest_file(tmp_path / "demo.npz", fps=30.0)
    assert motion.provenance["fk"] == "mean_shape_skeleton" and "exact" in motion.provenance["notes"]


# -- files and runs -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        save_npz(tmp_path / "a.npz", {"x": np.zeros(3)})
        write_dataset(tmp_path / "ds", synthetic_inputs(1, num_frames=60), progress=False)
    finally:
        os.umask(old)
    files = [tmp_path / "a.npz", *sorted((tmp_path / "ds").rglob("*.*"))]
    assert len(files) >= 5
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: mode for f in files}


def fake_manifest(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir(exist_ok=True)
    (root / "a.txt").write_text("1 2")
    log = str(tmp_path / "log")
    data = {"name": "t", "output": str(tmp_path / "out"),
            "sources": [{"name": "s", "root": str(root), "include": ["*.txt"]}],
            "stages": {"ingest": {"log": log}, "retarget": {"log": log}, "dataset": {"log": log}}}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_manifest_keeps_the_dataset_after_an_earlier_until(tmp_path):
    manifest = load_manifest(fake_manifest(tmp_path), stages=fake_stages.STAGES)

    def run(until):
        result = run_pipeline(manifest, RunOptions(until=until, workers=0, progress=False), fake_stages.STAGES)
        return build_run_manifest(result)

    first = run("dataset")
    second = merge_previous(run("retarget"), first)
    assert second["corpus"]["dataset"]["status"] == "ok" and second["corpus"]["dataset"]["from_run"]
    assert "dataset" in second["stages"]
    assert "from the run of" in format_table(second, width=120)


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from pipeline.lock import run_lock\n"
        f"with run_lock(Path({str(out)!r})):\n    print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = subprocess.run([sys.executable, "-m", "pipeline", "run", "--out", str(out), "--no-progress"],
                                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert second.returncode == 2
        assert f"is in use by run pid {holder.pid}" in second.stderr and ".run.lock" in second.stderr
    finally:
        holder.kill()
        holder.wait()
    with run_lock(out, wait_s=5.0):          # released when its holder died
        assert (out / ".run.lock").exists()


def test_the_default_manifest_is_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert build_parser().parse_args(["run"]).manifest is None
    path = default_manifest()
    assert path.is_absolute() and path == REPO / "manifests" / "default.yaml" and path.is_file()
    assert load_manifest(path).output == REPO / "out" / "default"


def test_export_refuses_a_variant_the_dataset_lacks(tmp_path, capsys):
    write_dataset(tmp_path / "ds", synthetic_inputs(2, num_frames=60), progress=False)
    assert main(["export", str(tmp_path / "ds"), "--format", "csv", "--variant", "adapted",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "has no 'adapted' motion (it stores: raw)" in err
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").iterdir())


def test_plot_dataset_command(tmp_path, capsys):
    write_dataset(tmp_path / "ds", synthetic_inputs(4, num_frames=200), progress=False)
    assert main(["plot-dataset", str(tmp_path / "ds"), "--out", str(tmp_path / "d.png")]) == 0
    png = (tmp_path / "d.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_export_options_have_help_texts():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["export"]
    helps = {a.dest: a.help or "" for a in sub._actions}
    assert "GMT" in helps["format"] or "gmt" in helps["format"]
    assert "split" in helps["split"] and "simulated" in helps["variant"] and "refused" in helps["variant"]


def test_a_fresh_demo_run_log_reads_cleanly(tmp_path):
    """`run` redirected to a file: no cursor escapes or carriage returns, no warnings, a table."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(tmp_path / "log.txt", "w") as log:
        done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--out", str(tmp_path / "out"),
                               "--until", "ingest", "--workers", "0"], stdout=log, stderr=subprocess.STDOUT,
                              env=env, cwd=tmp_path, timeout=300)
    text = (tmp_path / "log.txt").read_text()
    assert done.returncode == 0, text
    assert "\x1b" not in text and "\r" not in text and "Warning" not in text
    assert "ingest: 15/15 clip(s)" in text and "clips in: 15" in text
    data = json.loads((tmp_path / "out" / "run.json").read_text())
    assert data["totals"]["warnings"] == {}

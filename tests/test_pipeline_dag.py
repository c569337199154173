"""The DAG machinery on its own: manifests, caching, selective re-runs, errors,
clip ids, dask (local cluster and a real scheduler on loopback), kill-and-resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import fake_stages
import pytest
import yaml

from core.errors import ConfigError
from pipeline.cli import run_problems
from pipeline.config import load_manifest
from pipeline.dag import RunOptions, run_pipeline
from pipeline.run_manifest import build_run_manifest, format_table, read_run_manifest, write_run_manifest
from pipeline.sources import sanitize_clip_id

cloudpickle.register_pickle_by_value(fake_stages)
REPO = Path(__file__).resolve().parents[1]


def make_corpus(folder: Path, contents: dict[str, str]) -> Path:
    for name, text in contents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def manifest_dict(root: Path, out: Path, log: Path, scale: float = 2.0, sleep_s: float = 0.0) -> dict:
    return {
        "name": "test",
        "output": str(out),
        "fps": 30,
        "sources": [{"name": "src", "kind": "auto", "root": str(root), "include": ["**/*.txt"]}],
        "stages": {
            "ingest": {"log": str(log), "sleep_s": sleep_s},
            "retarget": {"log": str(log), "scale": scale},
            "dataset": {"log": str(log)},
        },
    }


def run(tmp_path: Path, data: dict, workers: int = 0, until: str = "dataset", scheduler: str | None = None):
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    manifest = load_manifest(path, stages=fake_stages.STAGES)
    result = run_pipeline(manifest, RunOptions(until=until, workers=workers, scheduler=scheduler, progress=False),
                          fake_stages.STAGES)
    report = build_run_manifest(result)
    write_run_manifest(manifest.output, report)
    return report


def executions(log: Path, prefix: str) -> int:
    return len(list(log.glob(f"{prefix}*"))) if log.exists() else 0


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "data", {"a.txt": "1 2 3", "b.txt": "4 5", "sub/c.txt": "6", "bad.txt": "BAD",
                                           "boom.txt": "BOOM 1"})


# -- manifests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, key, words", [
    (lambda d: d.update(colour="red"), "colour", "unknown key"),
    (lambda d: d["stages"]["retarget"].update(scael=3), "stages.retarget.scael", "unknown key"),
    (lambda d: d["stages"]["retarget"].update(scale="big"), "stages.retarget.scale", "expected a number"),
    (lambda d: d.update(fps=0), None, "'fps' must be between"),
    (lambda d: d["sources"][0].update(kind="mp4"), "sources[0].kind", "expected one of"),
    (lambda d: d.pop("sources"), "sources", "missing required key"),
    (lambda d: d["stages"].update(teleport={}), "stages.teleport", "unknown stage"),
])
def test_invalid_manifest_names_key_and_file(tmp_path, corpus, mutate, key, words):
    data = manifest_dict(corpus, tmp_path / "out", tmp_path / "log")
    mutate(data)
    path = tmp_path / "bad_manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_manifest(path, stages=fake_stages.STAGES)
    message = str(info.value)
    assert str(path) in message and words in message
    if key:
        assert f"'{key}'" in message


def test_cli_rejects_invalid_manifest_with_exit_code_2(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("name: x\noutput: out\nsources: [{name: s, kind: demo}]\nrobt: g1\n")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", "--manifest", str(path)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "'robt': unknown key" in proc.stderr and str(path) in proc.stderr


def test_missing_manifest_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="manifest file not found"):
        load_manifest(tmp_path / "nope.yaml", stages=fake_stages.STAGES)


# -- runs, cache, selective re-runs ---------------------------------------------------------------

def test_run_records_every_clip_and_goes_on_after_bad_ones(tmp_path, corpus):
    log = tmp_path / "log"
    report = run(tmp_path, manifest_dict(corpus, tmp_path / "out", log))
    by_id = {c["clip_id"]: c for c in report["clips"]}
    assert set(by_id) == {"src__a", "src__b", "src__sub__c", "src__bad", "src__boom"}
    assert by_id["src__bad"]["status"] == "rejected"
    assert by_id["src__bad"]["stages"]["ingest"]["reason"] == "bad_numbers"
    assert "file says BAD" in by_id["src__bad"]["stages"]["ingest"]["message"]
    assert by_id["src__boom"]["status"] == "error"
    assert by_id["src__boom"]["stages"]["ingest"]["reason"] == "exception:RuntimeError"
    assert "retarget" not in by_id["src__boom"]["stages"]
    assert by_id["src__a"]["stages"]["retarget"]["summary"]["total"] == pytest.approx((1 + 2 + 3) * 30 * 2)
    assert by_id["src__a"]["sha256"] and by_id["src__a"]["source"].endswith("a.txt")
    t = report["totals"]
    assert (t["clips"], t["ok"], t["rejected"], t["errors"]) == (5, 3, 1, 1)
    assert t["rejected_by_reason"] == {"ingest:bad_numbers": 1}
    total = (tmp_path / "out" / "dataset" / "total.txt").read_text().split("\n")[0]
    assert float(total) == pytest.approx((1 + 2 + 3 + 4 + 5 + 6) * 60)
    assert run_problems(report, strict=False) == []
    assert run_problems(report, strict=True) == ["1 clip(s) raised errors (--strict)"]
    table = format_table(read_run_manifest(tmp_path / "out"))
    assert re.search(r"src__bad\s+rejected\s.*bad_numbers", table)


def test_second_run_is_all_cache_hits(tmp_path, corpus):
    log = tmp_path / "log"
    data = manifest_dict(corpus, tmp_path / "out", log)
    first = run(tmp_path, data)
    counts = {p: executions(log, p) for p in ("ingest", "retarget", "dataset")}
    assert counts == {"ingest": 5, "retarget": 3, "dataset": 1}
    second = run(tmp_path, data)
    # errors are never cached: only the clip that raised runs again
    assert executions(log, "ingest") == 6
    assert executions(log, "retarget") == 3 and executions(log, "dataset") == 1
    ok_stages = [s for c in second["clips"] for s in c["stages"].values() if s["status"] != "error"]
    assert ok_stages and all(s["cached"] for s in ok_stages)
    assert second["corpus"]["dataset"]["cached"] is True
    assert [c["stages"].get("retarget", {}).get("key") for c in first["clips"]] == \
           [c["stages"].get("retarget", {}).get("key") for c in second["clips"]]


def test_changing_a_stage_setting_reruns_that_stage_and_later_only(tmp_path, corpus):
    log = tmp_path / "log"
    run(tmp_path, manifest_dict(corpus, tmp_path / "out", log, scale=2.0))
    report = run(tmp_path, manifest_dict(corpus, tmp_path / "out", log, scale=3.0))
    assert executions(log, "ingest") == 6          # 5 + the erroring clip again
    assert executions(log, "retarget") == 6        # 3 ok clips re-run
    assert executions(log, "dataset") == 2
    total = (tmp_path / "out" / "dataset" / "total.txt").read_text().split("\n")[0]
    assert float(total) == pytest.approx(21 * 90)
    assert report["clips"][0]["stages"]["ingest"]["cached"] is True


def test_changing_an_input_file_reruns_only_that_clip(tmp_path, corpus):
    log = tmp_path / "log"
    data = manifest_dict(corpus, tmp_path / "out", log)
    run(tmp_path, data)
    (corpus / "b.txt").write_text("4 5 10")
    run(tmp_path, data)
    assert len(list(log.glob("ingest-src__b-*"))) == 2
    assert len(list(log.glob("ingest-src__a-*"))) == 1
    assert len(list(log.glob("retarget-src__a-*"))) == 1


def test_until_stops_early(tmp_path, corpus):
    log = tmp_path / "log"
    report = run(tmp_path, manifest_dict(corpus, tmp_path / "out", log), until="ingest")
    assert report["stages"] == ["ingest"]
    assert executions(log, "retarget") == 0 and not (tmp_path / "out" / "dataset").exists()


# -- clip ids and output confinement ----------------------------------------------------------------

@pytest.mark.parametrize("relative, expected", [
    ("walk 01.bvh", "src__walk_01"),
    ("../../etc/passwd.npz", "src__etc__passwd"),
    ("a/b/ç€x.npz", "src__a__b__x"),
    ("..hidden.bvh", "src__hidden"),
])
def test_clip_ids_are_sanitised(relative, expected):
    assert sanitize_clip_id("src", relative) == expected


def test_hostile_file_names_never_write_outside_output(tmp_path):
    root = make_corpus(tmp_path / "data", {"escape?*.txt": "1", "we ird/name;rm -rf ..txt": "2",
                                           "ç/€\\x.txt": "3"})
    out = tmp_path / "out"
    before = {p for p in tmp_path.rglob("*")}
    report = run(tmp_path, manifest_dict(root, out, tmp_path / "log"))
    assert report["totals"]["ok"] == 3
    created = {p for p in tmp_path.rglob("*")} - before
    allowed = (out, tmp_path / "log", tmp_path / "manifest.yaml")
    assert all(any(p == a or a in p.parents for a in allowed) for p in created)


# -- dask ------------------------------------------------------------------------------------------

def test_local_cluster_matches_sequential(tmp_path, corpus):
    seq = run(tmp_path / "s", manifest_dict(corpus, tmp_path / "s" / "out", tmp_path / "s" / "log")) \
        if (tmp_path / "s").mkdir() is None else None
    par = run(tmp_path / "p", manifest_dict(corpus, tmp_path / "p" / "out", tmp_path / "p" / "log"), workers=2) \
        if (tmp_path / "p").mkdir() is None else None
    assert [(c["clip_id"], c["status"]) for c in seq["clips"]] == [(c["clip_id"], c["status"]) for c in par["clips"]]
    assert (tmp_path / "s/out/dataset/total.txt").read_text() == (tmp_path / "p/out/dataset/total.txt").read_text()


def test_real_scheduler_on_loopback(tmp_path, corpus):
    """Start a dask scheduler and a worker as separate processes on 127.0.0.1 and run through them."""
    dask_bin = Path(sys.executable).parent / "dask"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([str(dask_bin), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.time() + 60
        while not scheduler_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen([str(dask_bin), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report = run(tmp_path, manifest_dict(corpus, tmp_path / "out", tmp_path / "log"), scheduler=address)
        assert report["totals"]["ok"] == 3
        assert float((tmp_path / "out/dataset/total.txt").read_text().split()[0]) == pytest.approx(21 * 60)
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


# -- SIGKILL and resume -----------------------------------------------------------------------------

RUNNER = """
import sys, yaml
sys.path[:0] = [{repo!r}, {tests!r}]
import fake_stages
from pipeline.config import load_manifest
from pipeline.dag import RunOptions, run_pipeline
m = load_manifest(sys.argv[1], stages=fake_stages.STAGES)
run_pipeline(m, RunOptions(workers=0, progress=False), fake_stages.STAGES)
print("finished")
"""


def _snapshot(out: Path) -> dict[str, bytes]:
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "run.json" and not p.name.endswith(".json"):
            files[str(p.relative_to(out))] = p.read_bytes()
    return files


@pytest.mark.parametrize("kill_fraction", [0.2, 0.45, 0.7])
def test_sigkill_then_resume_gives_identical_results(tmp_path, kill_fraction):
    """Kill a run at a fraction of an uninterrupted run's duration, start it again, compare every artifact."""
    root = make_corpus(tmp_path / "data", {f"clip{i:02d}.txt": " ".join(str(i + k) for k in range(50))
                                           for i in range(12)})
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(repo=str(REPO), tests=str(REPO / "tests")))

    def manifest(name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest_dict(root, tmp_path / name, tmp_path / "log", sleep_s=0.1)))
        return path

    start = time.perf_counter()
    clean = subprocess.run([sys.executable, str(script), str(manifest("clean"))], capture_output=True, text=True)
    clean_s = time.perf_counter() - start
    assert clean.returncode == 0, clean.stderr

    killed = subprocess.Popen([sys.executable, str(script), str(manifest("killed"))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(kill_fraction * clean_s)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    partial = list((tmp_path / "killed" / "artifacts").rglob("*.npz"))
    assert len(partial) < 24
    resumed = subprocess.run([sys.executable, str(script), str(manifest("killed"))], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert _snapshot(tmp_path / "clean") == _snapshot(tmp_path / "killed")
    assert not list((tmp_path / "killed").rglob("*.tmp"))

"""Dataset benchmark: layouts (codec/chunking), write throughput, window reads/s, memory vs GMT-style loading.

Motions are Unitree's G1 retargets of LAFAN1 (../shared/data, turned into
RobotMotions by core.robot) copied with random yaw turns and offsets
to reach the sizes needed; synthetic smooth motions when the shared data is
absent. Everything is written to a temporary folder and deleted afterwards.

Reported:
* ``layouts``: per codec/chunking, write MB/s, bytes on disk vs raw, random
  2 s / 50 Hz window reads per second (one process, batches of 256).
* ``write_mb_s``: frame bytes per second of the default layout, for the big
  dataset (includes difficulty scoring and sha256 of every shard).
* ``reads``: windows/s from one process (tracking fields, + link positions,
  all fields; best of 3 runs, the machine being shared) and from 2 DataLoader
  workers (tracking fields and all fields).
* ``memory``: peak RSS (MB) of a fresh process sampling windows (tracking
  fields, and all fields) from a small and from the big (> 1 GB) dataset,
  against a process that loads the same motions the way GMT's motion library
  does (one pickled dict per clip, all in RAM, concatenated).
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TRACKING = ("root_pos", "root_rot", "root_lin_vel", "root_ang_vel", "dof_pos", "dof_vel")
WINDOW_FRAMES = 100        # 2 s at 50 Hz
DT = 0.02


def _base_motions() -> list:
    from stages.dataset.synthetic import random_motion

    folder = REPO.parent / "shared" / "data" / "lafan1_g1_unitree"
    try:
        from core.robot import load_robot, read_unitree_csv

        robot = load_robot("g1")
        paths = sorted(folder.glob("*.csv"))
        if paths:
            return [read_unitree_csv(p, robot) for p in paths]
    except Exception as exc:  # no shared data or robot: fall back to synthetic motions
        print(f"bench_dataset: using synthetic motions ({exc})", file=sys.stderr)
    return [random_motion(3000, seed=i, num_links=17) for i in range(3)]


def _variant(motion: Any, seed: int) -> Any:
    """A copy turned about +Z by a random yaw and shifted, so copies are not byte-identical."""
    from dataclasses import replace

    from core import rotations as rot

    rng = np.random.default_rng(seed)
    yaw = rot.from_rotvec(np.array([0.0, 0.0, rng.uniform(-np.pi, np.pi)]))
    shift = np.array([rng.uniform(-5, 5), rng.uniform(-5, 5), 0.0])
    n = motion.num_frames
    return replace(motion, root_pos=rot.rotate(yaw, motion.root_pos) + shift,
                   root_rot=rot.multiply(np.broadcast_to(yaw, (n, 4)), motion.root_rot),
                   link_pos=rot.rotate(yaw, motion.link_pos) + shift,
                   link_rot=rot.multiply(np.broadcast_to(yaw, motion.link_rot.shape), motion.link_rot))


def _inputs(base: list, target_bytes: float, seed: int = 0) -> list:
    from stages.dataset.writer import ClipInput

    width = 4 * (3 + 4 + 3 + 3 + 2 * len(base[0].dof_names) + 7 * len(base[0].link_names) + 2)
    items, total, i = [], 0, 0
    while total < target_bytes:
        m = _variant(base[i % len(base)], seed * 100000 + i)
        items.append(ClipInput(f"clip_{i:05d}", m, {"verdict": "pass", "segments": []},
                               source_sha256=f"{seed:08x}{i:056x}", dataset="bench"))
        total += m.num_frames * width
        i += 1
    return items


def _write(folder: Path, items: list, settings: Any) -> tuple[dict, float]:
    from stages.dataset.writer import write_dataset

    start = time.perf_counter()
    summary = write_dataset(folder, items, settings, progress=False)
    return summary, time.perf_counter() - start


def _reads_per_s(folder: Path, fields: tuple[str, ...] | None, batches: int, batch: int = 256, seed: int = 0,
                 repeats: int = 3) -> float:
    """Best of ``repeats`` timed runs (the machine is shared: the best run is the least disturbed one)."""
    from stages.dataset.reader import open_dataset

    ds = open_dataset(folder)
    rng = np.random.default_rng(seed)
    ds.sample_windows(rng.integers(0, ds.num_windows, batch), WINDOW_FRAMES, DT, rng, fields=fields)  # warm-up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            ds.sample_windows(rng.integers(0, ds.num_windows, batch), WINDOW_FRAMES, DT, rng, fields=fields)
        best = max(best, batches * batch / (time.perf_counter() - start))
    return best


def _dataloader_reads_per_s(folder: Path, batches: int, workers: int = 2, batch: int = 256,
                            fields: tuple[str, ...] | None = TRACKING) -> float:
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from stages.dataset.torch_data import WindowDataset

    ds = WindowDataset(folder, num_frames=WINDOW_FRAMES, dt=DT, split=None, fields=fields)
    sampler = RandomSampler(ds, replacement=True, num_samples=batch * (batches + 2 * workers),
                            generator=torch.Generator().manual_seed(0))
    loader = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=WindowDataset.collate,
                        multiprocessing_context="fork", prefetch_factor=4, persistent_workers=False)
    it = iter(loader)
    for _ in range(2 * workers):      # warm-up: workers started, shards opened
        next(it)
    start = time.perf_counter()
    count = 0
    for b in it:
        count += b["dof_pos"].shape[0]
    return count / (time.perf_counter() - start)


# -- child processes for the memory comparison ---------------------------------------------------

def _status_mb(key: str) -> float:
    """VmHWM (peak resident set) or VmRSS of this process, MB, from /proc (reset at exec, unlike ru_maxrss,
    which a child inherits from its parent on Linux); falls back to getrusage elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_reader(folder: str, batches: int, all_fields: bool = False) -> None:
    """Sample windows (tracking fields, or all fields) from the dataset; print peak RSS (MB) as JSON."""
    from stages.dataset.reader import open_dataset

    base = _status_mb("VmRSS")
    ds = open_dataset(folder)
    rng = np.random.default_rng(0)
    fields = None if all_fields else TRACKING
    start = time.perf_counter()
    for _ in range(batches):
        ds.sample_windows(rng.integers(0, ds.num_windows, 256), WINDOW_FRAMES, DT, rng, fields=fields)
    rate = batches * 256 / (time.perf_counter() - start)
    peak = _status_mb("VmHWM")
    print(json.dumps({"peak_rss_mb": round(peak, 1), "after_imports_mb": round(base, 1),
                      "windows_per_s": round(rate)}))


class _PlainUnpickler(pickle.Unpickler):
    """Only numpy arrays and builtins: the benchmark's own files, loaded without running code."""

    def find_class(self, module: str, name: str) -> Any:
        if name in ("_reconstruct", "ndarray", "dtype", "scalar") and module.startswith("numpy"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")


def child_gmt(folder: str, batches: int) -> None:
    """Load every pickled motion into RAM and concatenate (GMT's motion library), then sample; print peak RSS."""
    import torch
    import yaml

    base = _status_mb("VmRSS")
    config = yaml.safe_load((Path(folder) / "motions.yaml").read_text())
    stored = ("root_pos", "root_rot", "dof_pos", "local_body_pos")
    fields: dict[str, list] = {k: [] for k in (*stored, "dof_vel", "root_vel")}
    lengths = []
    for entry in config["motions"]:
        with open(Path(config["root_path"]) / entry["file"], "rb") as f:
            d = _PlainUnpickler(io.BytesIO(f.read())).load()
        for k in stored:
            fields[k].append(torch.tensor(d[k]))
        fps = d["fps"]
        # GMT differentiates velocities itself when loading
        fields["dof_vel"].append(torch.tensor(np.gradient(d["dof_pos"], 1 / fps, axis=0)))
        fields["root_vel"].append(torch.tensor(np.gradient(d["root_pos"], 1 / fps, axis=0)))
        lengths.append(len(d["dof_pos"]))
    cat = {k: torch.cat(v) for k, v in fields.items()}
    fields.clear()
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(batches):
        clip = rng.integers(0, len(lengths), 256)
        t = rng.random(256) * (np.asarray(lengths)[clip] - 1) / fps
        times = t[:, None] + DT * np.arange(WINDOW_FRAMES)
        u = np.minimum(times * fps, np.asarray(lengths)[clip][:, None] - 1)
        i0 = torch.as_tensor(starts[clip][:, None] + np.floor(u).astype(np.int64))
        _ = cat["dof_pos"][i0], cat["root_pos"][i0], cat["root_rot"][i0]
    rate = batches * 256 / (time.perf_counter() - start)
    peak = _status_mb("VmHWM")
    print(json.dumps({"peak_rss_mb": round(peak, 1), "after_imports_mb": round(base, 1),
                      "windows_per_s_nearest_frame": round(rate)}))


def _child(func: str, folder: Path, batches: int, *args: Any) -> dict:
    extra = "".join(f", {a!r}" for a in args)
    code = f"from benchmarks.bench_dataset import {func}; {func}({str(folder)!r}, {batches}{extra})"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(f"{func} failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(quick: bool = False) -> dict:
    from stages.dataset.export import ExportOptions, export_dataset
    from stages.dataset.settings import Settings

    base = _base_motions()
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    result: dict[str, Any] = {"motions": "unitree_lafan1_g1" if len(base[0].link_names) else "synthetic",
                              "window": {"frames": WINDOW_FRAMES, "dt_s": DT}, "batch": 256}
    try:
        # 1. layouts
        layout_items = _inputs(base, 30e6 if quick else 150e6, seed=1)
        layouts = [("none", 0), ("none", 64), ("lzf", 64), ("gzip", 64), ("lzf", 512)]
        result["layouts"] = []
        for codec, chunk in layouts:
            folder = tmp / f"layout_{codec}_{chunk}"
            summary, secs = _write(folder, layout_items, Settings(codec=codec, chunk_frames=chunk))
            shard_bytes = sum(p.stat().st_size for p in (folder / "shards").glob("*.h5"))
            result["layouts"].append({
                "codec": codec, "chunk_frames": chunk,
                "write_mb_s": round(summary["frame_bytes"] / 1e6 / secs, 1),
                "disk_vs_raw": round(shard_bytes / summary["frame_bytes"], 3),
                "reads_per_s": round(_reads_per_s(folder, TRACKING, 10 if quick else 40)),
            })
            shutil.rmtree(folder)
        # 2. big dataset, default layout
        big_target = 0.3e9 if quick else 1.1e9
        items = _inputs(base, big_target, seed=2)
        big = tmp / "big"
        summary, secs = _write(big, items, Settings())
        del items
        result["big"] = {"bytes_on_disk": _dir_bytes(big), "clips": summary["clips"], "hours": summary["hours"],
                         "windows": summary["windows"], "shards": summary["shards"]}
        result["write_mb_s"] = round(summary["frame_bytes"] / 1e6 / secs, 1)
        # 3. reads
        nb = 20 if quick else 80
        result["reads"] = {
            "one_process_tracking_fields": round(_reads_per_s(big, TRACKING, nb)),
            "one_process_tracking_plus_link_pos": round(_reads_per_s(big, TRACKING + ("link_pos",), nb)),
            "one_process_all_fields": round(_reads_per_s(big, None, nb)),
            "dataloader_2_workers_tracking_fields": round(_dataloader_reads_per_s(big, nb)),
            "dataloader_2_workers_all_fields": round(_dataloader_reads_per_s(big, nb, fields=None)),
            "fields_tracking": list(TRACKING),
        }
        # 4. memory: small vs big dataset with our reader, and GMT-style loading of the big one
        small = tmp / "small"
        _write(small, _inputs(base, 50e6, seed=3), Settings())
        mem_batches = 20 if quick else 100
        gmt = tmp / "gmt"
        start = time.perf_counter()
        export_dataset(big, gmt, ExportOptions(format="gmt"), progress=False)
        export_s = time.perf_counter() - start
        result["memory"] = {
            "reader_small_dataset": {**_child("child_reader", small, mem_batches), "bytes_on_disk": _dir_bytes(small)},
            "reader_big_dataset": {**_child("child_reader", big, mem_batches), "bytes_on_disk": _dir_bytes(big)},
            "reader_small_dataset_all_fields": {**_child("child_reader", small, mem_batches, True),
                                                "bytes_on_disk": _dir_bytes(small)},
            "reader_big_dataset_all_fields": {**_child("child_reader", big, mem_batches, True),
                                              "bytes_on_disk": _dir_bytes(big)},
            "gmt_style_big_dataset": {**_child("child_gmt", gmt, mem_batches), "bytes_on_disk": _dir_bytes(gmt)},
            "gmt_export_s": round(export_s, 1),
        }
        mem = result["memory"]
        result["targets"] = {
            "windows_per_s_one_process_ge_20000": result["reads"]["one_process_tracking_fields"] >= 20000,
            "windows_per_s_one_process_all_fields_ge_20000": result["reads"]["one_process_all_fields"] >= 20000,
            "reader_peak_growth_mb_small_to_big": round(mem["reader_big_dataset"]["peak_rss_mb"]
                                                        - mem["reader_small_dataset"]["peak_rss_mb"], 1),
            "reader_peak_growth_mb_small_to_big_all_fields": round(
                mem["reader_big_dataset_all_fields"]["peak_rss_mb"]
                - mem["reader_small_dataset_all_fields"]["peak_rss_mb"], 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))

"""Ingest throughput: source frames per second for BVH (LAFAN1, CMU) and AMASS SMPL npz.

Uses the real clips in ../shared/data when present, otherwise the demo corpus.
Reports medians over repetitions (frames of the *source* file per wall second,
for parse + convert + resample + FK + floor/height).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(quick: bool = False) -> dict:
    from stages.ingest.api import ingest_file
    from stages.ingest.bvh import read_bvh

    repeats = 2 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        if SHARED.is_dir():
            groups = {
                "bvh_lafan1": [SHARED / "lafan1" / "walk4_subject1.bvh"],
                "bvh_cmu_120fps": [SHARED / "cmu" / "131_02.bvh"],
                "smpl_npz": sorted((SHARED / "smpl_asap").glob("*.npz")),
            }
            source = "shared"
        else:
            from stages.ingest.demo import write_demo_corpus

            paths = write_demo_corpus(Path(tmp), seed=0)
            groups = {"bvh_demo": [p for p in paths if p.suffix == ".bvh"],
                      "smpl_npz": [p for p in paths if p.suffix == ".npz"]}
            source = "demo"
        result: dict = {"source": source, "repeats": repeats}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, files in groups.items():
                frames = 0
                for f in files:
                    frames += int(ingest_file(f).provenance["source_frames"])
                seconds = _time(lambda: [ingest_file(f, fps=30.0) for f in files], repeats)
                result[f"{name}_frames_per_s"] = round(frames / seconds, 1)
                result[f"{name}_source_frames"] = frames
                if name.startswith("bvh"):
                    parse = _time(lambda: [read_bvh(f) for f in files], repeats)
                    result[f"{name}_parse_frames_per_s"] = round(frames / parse, 1)
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=False), indent=2))

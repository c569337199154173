"""The dataset stage: a corpus (reduce) stage writing sharded HDF5 reference datasets.

Receives every clip's outcome; stores the clips whose filter verdict is
``pass`` or ``trimmed`` (trimmed: only the kept segments) with their
provenance, verdict, metrics and prior difficulty. Format:
docs/DATASET_FORMAT.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.stage import ClipOutcome, CorpusStage, RunGlobals
from stages.dataset.settings import Settings
from stages.dataset.writer import ClipInput, write_dataset

__all__ = ["Settings", "STAGE", "run", "clip_inputs"]


def zmp_margin(filter_summary: dict[str, Any]) -> float | None:
    """Worst ZMP margin (m, negative = outside the support) from the filter's summary, if it has one.

    Uses ``zmp_margin_m`` when the filter reports it, else the worst value of a
    ``zmp*`` reason (a distance outside the support polygon, m) negated.
    """
    if "zmp_margin_m" in filter_summary:
        return float(filter_summary["zmp_margin_m"])
    verdict = filter_summary.get("verdict", {})
    for reason in verdict.get("reasons", []):
        if str(reason.get("code", "")).startswith("zmp") and reason.get("unit", "m") == "m":
            return -abs(float(reason["value"]))
    return None


def clip_inputs(clips: list[ClipOutcome]) -> Iterator[ClipInput]:
    """The writer's inputs for the clips that reached the filter with a keepable verdict."""
    for outcome in clips:
        summary = outcome.summaries.get("filter") or {}
        verdict = summary.get("verdict")
        if verdict is None or "retarget" not in outcome.artifacts:
            continue
        if verdict.get("verdict") not in ("pass", "trimmed"):
            continue
        src = outcome.clip
        yield ClipInput(
            clip_id=src.clip_id,
            motion=Path(outcome.artifacts["retarget"]),
            verdict=verdict,
            source_path=src.path,
            source_sha256=src.sha256,
            dataset=src.dataset,
            license=src.license,
            adapted=Path(outcome.artifacts["adapt"]) if "adapt" in outcome.artifacts else None,
            simulated=outcome.artifacts.get("simulate"),
            zmp_margin_m=zmp_margin(summary),
            upstream_hashes=dict(outcome.hashes),
        )


def run(clips: list[ClipOutcome], settings: Settings, globals: RunGlobals, out_dir: Path) -> dict[str, Any]:
    """Write the dataset for ``clips`` under ``out_dir``; returns the writer's summary.

    No progress bar of its own: the DAG's counter covers this step (a bar from a
    worker process would interleave with the DAG's, and ``--no-progress`` must
    silence everything).
    """
    inputs = list(clip_inputs(clips))
    summary = write_dataset(out_dir, inputs, settings, robot=globals.robot, total=len(inputs), strict=False,
                            progress=False,
                            extra={"run": {"robot": globals.robot, "seed": globals.seed, "fps": globals.fps}})
    summary.pop("path", None)          # out_dir is a temporary folder the DAG renames when the stage succeeds
    summary["offered"] = len(clips)
    summary["not_keepable"] = len(clips) - len(inputs)
    return summary


STAGE = CorpusStage(name="dataset", version="1", settings_type=Settings, run=run, needs=("retarget", "filter"))

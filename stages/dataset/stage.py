"""The dataset stage: a corpus (reduce) stage writing sharded HDF5 reference datasets.

Receives every clip's outcome; stores the clips whose final verdict is
``pass`` or ``trimmed`` (trimmed: only the kept segments; the final verdict is the
filter's hard checks and the dynamic checks on the stored variant, composed by
``stages/filter/compose.py``; the adapted motion is stored beside the raw one when
the adapt stage ran) with their
provenance, verdict, metrics and prior difficulty. Format:
docs/DATASET_FORMAT.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.records.verdict import Verdict
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


def final_verdicts(outcome: ClipOutcome) -> tuple[Verdict, Verdict, bool] | None:
    """(verdict with the stored variant, verdict of the raw motion alone, adapted motion stored?)
    of one clip, composed by :func:`stages.filter.compose.compose` from the filter's hard and
    dynamic verdicts, the adapt stage's dynamic verdict on the adapted motion and the simulate
    stage's ``sim_fall`` reasons; None when the clip has no filter verdict."""
    from stages.filter.compose import ComposeSettings, compose

    summary = outcome.summaries.get("filter") or {}
    if summary.get("verdict") is None:
        return None
    if "hard_verdict" not in summary:               # a filter from before the hard/dynamic split
        full = Verdict.from_json(summary["verdict"])
        return full, full, False
    hard = Verdict.from_json(summary["hard_verdict"])
    raw_dynamic = Verdict.from_json(summary["dynamic_verdict"])
    settings = ComposeSettings.from_json(summary.get("compose"))
    sim = outcome.summaries.get("simulate") or {}
    sim_reasons = Verdict.from_json({"verdict": "pass", "segments": [], "reasons": sim.get("reasons", [])}).reasons
    raw = compose(hard, raw_dynamic, settings, "raw", sim_reasons)
    adapt = outcome.summaries.get("adapt") or {}
    if "adapt" in outcome.artifacts and adapt.get("method", "none") != "none" and "dynamic_verdict" in adapt:
        adapted = compose(hard, Verdict.from_json(adapt["dynamic_verdict"]), settings, "adapted", sim_reasons)
        return adapted, raw, True
    return raw, raw, False


def kept_hours(clips: list[ClipOutcome]) -> dict[str, Any]:
    """Kept frames per clip and hours in total: passing the hard checks, kept with the raw motion
    (dynamic checks on raw), kept with the stored variant (adapted when adapt ran)."""
    rows = []
    tot = {"hard": 0.0, "raw": 0.0, "stored": 0.0}
    for outcome in clips:
        composed = final_verdicts(outcome)
        if composed is None:
            continue
        stored, raw, adapted = composed
        summary = outcome.summaries.get("filter") or {}
        hard = Verdict.from_json(summary.get("hard_verdict", summary["verdict"]))
        fps = hard.fps or 1.0
        frames = {"hard": sum(b - a for a, b in hard.segments), "raw": sum(b - a for a, b in raw.segments),
                  "stored": sum(b - a for a, b in stored.segments)}
        rows.append({"clip_id": outcome.clip.clip_id, **{f"frames_{k}": n for k, n in frames.items()},
                     "variant": stored.variant or "raw", "adapted": adapted})
        for k, n in frames.items():
            tot[k] += n / fps / 3600.0
    out: dict[str, Any] = {f"hours_{k}": round(v, 5) for k, v in tot.items()}
    out["kept_fraction_raw"] = round(tot["raw"] / tot["hard"], 4) if tot["hard"] else None
    out["kept_fraction_stored"] = round(tot["stored"] / tot["hard"], 4) if tot["hard"] else None
    out["clips"] = rows
    return out


def clip_figures(outcome: ClipOutcome) -> dict[str, float | None]:
    """The source clip's adapt and simulate figures for the clip table
    (:data:`stages.dataset.schema.CLIP_FIGURES`): from the adapt stage's ``raw`` / ``adapted``
    evidence blocks; the simulation figures of the raw motion from the simulate stage's summary
    when the adapt stage did not report them (no adapt stage: the adapted ones stay None)."""
    from stages.dataset.schema import CLIP_FIGURES

    adapt = outcome.summaries.get("adapt") or {}
    sim = outcome.summaries.get("simulate") or {}
    out: dict[str, float | None] = {}
    for measure in CLIP_FIGURES:
        if measure == "adapted_fraction":
            continue
        for variant in ("raw", "adapted"):
            value = (adapt.get(variant) or {}).get(measure)
            if value is None and variant == "raw" and measure in ("falls_per_min", "tracked_fraction"):
                value = sim.get(measure)
            out[f"{measure}_{variant}"] = None if value is None else float(value)
    return out


def clip_inputs(clips: list[ClipOutcome]) -> Iterator[ClipInput]:
    """The writer's inputs for the clips whose final verdict (:func:`final_verdicts`) keeps frames."""
    for outcome in clips:
        composed = final_verdicts(outcome)
        if composed is None or "retarget" not in outcome.artifacts:
            continue
        verdict, _, adapted = composed
        if verdict.verdict not in ("pass", "trimmed"):
            continue
        summary = outcome.summaries.get("filter") or {}
        src = outcome.clip
        yield ClipInput(
            clip_id=src.clip_id,
            motion=Path(outcome.artifacts["retarget"]),
            verdict=verdict.to_json(),
            source_path=src.path,
            source_sha256=src.sha256,
            dataset=src.dataset,
            license=src.license,
            adapted=Path(outcome.artifacts["adapt"]) if adapted else None,
            simulated=outcome.artifacts.get("simulate"),
            zmp_margin_m=zmp_margin(summary),
            upstream_hashes=dict(outcome.hashes),
            figures=clip_figures(outcome),
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
    summary["kept_hours"] = kept_hours(clips)
    return summary


STAGE = CorpusStage(name="dataset", version="1", settings_type=Settings, run=run, needs=("retarget", "filter"))

"""What the report shows, gathered from a run manifest (pure: dicts in, dataclasses out).

Stage summaries are read generically: every numeric key of a clip stage's
summary is a per-clip metric (bookkeeping such as frame counts and timings
aside); a summary holding both a ``raw`` and an ``adapted`` mapping is a
before/after comparison; a ``simulate`` stage's summary feeds the simulation
table (keys per the simulate contract: falls, falls_per_min, tracked_fraction,
mean_body_error_m, max_torque_ratio, realtime_factor, reasons).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.dataset.schema import CLIP_FIGURE_KEYS

#: Summary keys that describe bookkeeping or compute speed, not the motion.
BOOKKEEPING = frozenset({"fps", "frames", "frames_total", "frames_kept", "first_frame_s", "solve_s", "frames_per_s",
                         "ik_frames_per_s", "wall_s", "seconds_total", "seconds_kept", "duration", "source_fps",
                         "realtime_factor", "standing_height", "floor_height"})
#: Metric name fragments for which a *lower* value is worse.
LOWER_IS_WORSE = ("tracked_fraction", "margin", "kept", "stability")
#: Metric name fragments of descriptive measures (scales, lengths): distributions shown, no "worst" list.
DESCRIPTIVE = ("root_scale", "scale_", "_leg_m")
SIM_KEYS = ("falls", "falls_per_min", "tracked_fraction", "mean_body_error_m", "max_torque_ratio", "realtime_factor")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def is_descriptive(metric: str) -> bool:
    return any(part in metric for part in DESCRIPTIVE)


def lower_is_worse(metric: str) -> bool:
    return any(part in metric for part in LOWER_IS_WORSE)


@dataclass
class ReasonRow:
    """Clips stopped (rejected or error) with one reason code, and the first message seen."""

    stage: str
    code: str
    status: str
    clips: int
    first_clip: str
    first_message: str


@dataclass
class CutRow:
    """A filter reason code: clips it appears in, frames it flags, and its first occurrence."""

    code: str
    clips: int
    frames: int
    first_clip: str
    first_detail: str


@dataclass
class Metric:
    """One per-clip metric: ``values`` clip id (or dataset entry id) -> value."""

    group: str
    name: str
    values: dict[str, float]

    @property
    def key(self) -> str:
        return f"{self.group}.{self.name}"

    def worst(self, count: int) -> list[tuple[str, float]]:
        """Up to ``count`` (id, value) worst first, leaving out ties with the best value (nothing to look at)."""
        low_bad = lower_is_worse(self.name)
        best = max(self.values.values()) if low_bad else min(self.values.values())
        items = sorted(self.values.items(), key=lambda kv: kv[1], reverse=not low_bad)
        return [kv for kv in items if kv[1] != best][:count]

    @property
    def varies(self) -> bool:
        vals = list(self.values.values())
        return len(vals) > 1 and max(vals) - min(vals) > 1e-12 * max(1.0, abs(max(vals)))


@dataclass
class Comparison:
    """Before/after table of one stage whose summaries hold ``raw`` and ``adapted`` blocks."""

    stage: str
    keys: list[str]
    clips: dict[str, tuple[dict[str, float], dict[str, float]]]      # clip -> (raw, adapted)


@dataclass
class ClipRow:
    clip_id: str
    status: str
    last_stage: str
    reason: str
    seconds: float
    verdict: str
    seconds_kept: float | None
    difficulty: float | None


@dataclass
class ReportData:
    name: str
    out: str
    finished: str
    manifest: str
    stages: list[str]
    missing: list[str]
    clip_stages: list[str]
    per_stage: dict[str, dict[str, int]]
    corpus: dict[str, dict[str, Any]]
    totals: dict[str, Any]
    hours: dict[str, float]
    stops: list[ReasonRow]
    cuts: list[CutRow]
    warnings: dict[str, int]
    metrics: list[Metric]
    difficulty: Metric | None
    dataset_features: list[Metric]
    comparisons: list[Comparison]
    simulation: dict[str, dict[str, float]]                          # clip -> sim summary numbers
    sim_reasons: dict[str, int]                                      # sim reason code -> frames
    clips: list[ClipRow] = field(default_factory=list)
    entry_source: dict[str, str] = field(default_factory=dict)        # dataset entry id -> clip id
    #: dataset entry id -> its clip-table adaptation / simulation figures (every key of stages.dataset.schema.CLIP_FIGURE_KEYS; the page shows a few)
    entry_figures: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def has_dataset(self) -> bool:
        return self.difficulty is not None


def _dataset_entries(out: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    corpus = data.get("corpus", {}).get("dataset", {})
    if corpus.get("status") != "ok":
        return []
    path = out / str(corpus.get("output") or "dataset") / "clips.json"
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return entries if isinstance(entries, list) else []


def last_stage(clip: dict[str, Any], order: list[str]) -> str | None:
    """The last stage (in DAG order) with a record for ``clip`` (run.json stores stages sorted by name)."""
    done = [s for s in order if s in clip["stages"]] or list(clip["stages"])
    return done[-1] if done else None


def _seconds(clip: dict[str, Any]) -> float:
    """Length of the clip, s (frames / fps as the filter counts it; else the ingest duration)."""
    ingest = clip["stages"].get("ingest", {}).get("summary") or {}
    if ingest.get("frames") and ingest.get("fps"):
        return float(ingest["frames"]) / float(ingest["fps"])
    return float(ingest.get("duration", 0.0) or 0.0)


def collect(out: str | Path, data: dict[str, Any]) -> ReportData:
    """Everything the report shows, from the run manifest ``data`` of run folder ``out``."""
    out = Path(out)
    corpus = dict(data.get("corpus", {}))
    stages = list(data.get("stages", []))
    clip_stages = [s for s in stages if s not in corpus]
    clips = list(data.get("clips", []))
    totals = dict(data.get("totals", {}))

    per_stage: dict[str, dict[str, int]] = {s: {} for s in clip_stages}
    for clip in clips:
        for name, rec in clip["stages"].items():
            counts = per_stage.setdefault(name, {})
            counts[rec.get("status", "?")] = counts.get(rec.get("status", "?"), 0) + 1

    stops: dict[tuple[str, str, str], ReasonRow] = {}
    for clip in clips:
        if clip.get("status") not in ("rejected", "error"):
            continue
        stage = last_stage(clip, stages) or "-"
        rec = clip["stages"].get(stage, {})
        key = (stage, str(rec.get("reason") or "unknown"), clip["status"])
        if key in stops:
            stops[key].clips += 1
        else:
            stops[key] = ReasonRow(stage, key[1], key[2], 1, clip["clip_id"], str(rec.get("message") or ""))

    cuts: dict[str, CutRow] = {}
    for clip in clips:
        verdict = (clip["stages"].get("filter", {}).get("summary") or {}).get("verdict")
        if not isinstance(verdict, dict):
            continue
        for reason in verdict.get("reasons", []):
            frames = sum(int(b) - int(a) for a, b in reason.get("spans", []))
            detail = (f"{verdict.get('verdict')}: worst {reason.get('value'):.4g} vs threshold {reason.get('threshold'):.4g} "
                      f"{reason.get('unit', '')} over {len(reason.get('spans', []))} span(s)")
            row = cuts.get(reason["code"])
            if row is None:
                cuts[reason["code"]] = CutRow(reason["code"], 1, frames, clip["clip_id"], detail)
            else:
                row.clips += 1
                row.frames += frames

    metrics: list[Metric] = []
    comparisons: list[Comparison] = []
    simulation: dict[str, dict[str, float]] = {}
    sim_reasons: dict[str, int] = {}
    for stage in clip_stages:
        values: dict[str, dict[str, float]] = {}
        pairs: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
        for clip in clips:
            summary = (clip["stages"].get(stage) or {}).get("summary") or {}
            for k, v in summary.items():
                num = _number(v)
                if num is not None and k not in BOOKKEEPING:
                    values.setdefault(k, {})[clip["clip_id"]] = num
            raw, adapted = summary.get("raw"), summary.get("adapted")
            if isinstance(raw, dict) and isinstance(adapted, dict):
                pairs[clip["clip_id"]] = ({k: n for k, v in raw.items() if (n := _number(v)) is not None},
                                          {k: n for k, v in adapted.items() if (n := _number(v)) is not None})
            if stage == "simulate" and summary:
                simulation[clip["clip_id"]] = {k: n for k in SIM_KEYS if (n := _number(summary.get(k))) is not None}
                for reason in summary.get("reasons", []) or []:
                    if isinstance(reason, dict):
                        frames = sum(int(b) - int(a) for a, b in reason.get("spans", []))
                        sim_reasons[str(reason.get("code"))] = sim_reasons.get(str(reason.get("code")), 0) + frames
        metrics += [Metric(stage, k, v) for k, v in sorted(values.items())]
        if pairs:
            keys = sorted({k for r, a in pairs.values() for k in r if k in a})
            comparisons.append(Comparison(stage, keys, pairs))

    entries = _dataset_entries(out, data)
    difficulty = None
    features: list[Metric] = []
    if entries:
        difficulty = Metric("dataset", "difficulty", {str(e["id"]): float(e["difficulty"]) for e in entries
                                                      if _number(e.get("difficulty")) is not None})
        feats: dict[str, dict[str, float]] = {}
        for e in entries:
            for k, v in (e.get("features") or {}).items():
                if (num := _number(v)) is not None:
                    feats.setdefault(k, {})[str(e["id"])] = num
        features = [Metric("dataset", k, v) for k, v in sorted(feats.items())]

    filt = totals.get("filter", {})
    hours = {"ingested": float(totals.get("hours_ingested", 0.0)),
             "kept": float(filt.get("hours_kept", 0.0)),
             "trimmed_away": float(filt.get("hours_trimmed_away", 0.0)),
             "rejected_by_filter": float(filt.get("hours_rejected", 0.0))}
    seconds_by_clip = {c["clip_id"]: _seconds(c) for c in clips}
    if "adapt" in clip_stages:
        # clips whose adapted motion was made (not passed through) and, with a dataset, stored
        stored = {str(e.get("source_clip_id", e.get("id"))) for e in entries if e.get("has_adapted")}
        adapted = 0.0
        for clip in clips:
            rec = clip["stages"].get("adapt") or {}
            summary = rec.get("summary") or {}
            if rec.get("status") != "ok" or summary.get("method") == "none" or summary.get("passthrough"):
                continue
            if summary.get("change_rad_rms") == 0:        # the adapter left the raw motion as it was
                continue
            if entries and clip["clip_id"] not in stored:
                continue
            adapted += seconds_by_clip[clip["clip_id"]]
        hours["adapted"] = round(adapted / 3600.0, 4)
    stopped_s = sum(seconds_by_clip[c["clip_id"]] for c in clips
                    if c.get("status") in ("rejected", "error") and "filter" not in c["stages"])
    hours["stopped_before_filter"] = round(stopped_s / 3600.0, 4)

    diff_by_source: dict[str, float] = {}
    for e in entries:
        src = str(e.get("source_clip_id", e.get("id")))
        if _number(e.get("difficulty")) is not None:
            diff_by_source[src] = max(diff_by_source.get(src, -math.inf), float(e["difficulty"]))
    rows = []
    for clip in clips:
        last = last_stage(clip, stages) or "-"
        rec = clip["stages"].get(last, {})
        fsum = clip["stages"].get("filter", {}).get("summary") or {}
        verdict = fsum.get("verdict", {}).get("verdict", "") if isinstance(fsum.get("verdict"), dict) else ""
        rows.append(ClipRow(clip["clip_id"], clip.get("status", "?"), last, str(rec.get("reason") or ""),
                            seconds_by_clip[clip["clip_id"]], verdict,
                            float(fsum["seconds_kept"]) if "seconds_kept" in fsum else None,
                            diff_by_source.get(clip["clip_id"])))

    return ReportData(
        name=str(data.get("name", "")), out=str(out), finished=str(data.get("finished", "")),
        manifest=str(data.get("manifest") or ""), stages=stages, missing=list(data.get("missing_stages", [])),
        clip_stages=clip_stages, per_stage=per_stage, corpus=corpus, totals=totals, hours=hours,
        stops=sorted(stops.values(), key=lambda r: (-r.clips, r.stage, r.code)),
        cuts=sorted(cuts.values(), key=lambda r: (-r.clips, r.code)),
        warnings=dict(totals.get("warnings", {})), metrics=metrics, difficulty=difficulty,
        dataset_features=features, comparisons=comparisons, simulation=simulation, sim_reasons=sim_reasons,
        clips=rows, entry_source={str(e["id"]): str(e.get("source_clip_id", e["id"])) for e in entries},
        entry_figures={str(e["id"]): {k: _number(e.get(k)) for k in CLIP_FIGURE_KEYS} for e in entries
                       if any(e.get(k) is not None for k in CLIP_FIGURE_KEYS)})

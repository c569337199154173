"""The run manifest (``OUT/run.json``): what happened to every clip, and totals.

Per clip: source path and sha256, and per stage ``status`` (ok, rejected,
error), reason code, message, artifact hash and wall time. Totals: clips in,
ok, rejected by reason, errors, hours of motion, time.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from core.settings import to_plain
from pipeline.store import write_json

SCHEMA = "run_manifest/1"
RUN_FILE = "run.json"


def build_run_manifest(result) -> dict[str, Any]:
    """JSON-able run manifest from a :class:`pipeline.dag.RunResult`."""
    manifest = result.manifest
    last_clip_stage = None
    for name in result.stages:
        if name not in result.corpus:
            last_clip_stage = name
    clips = []
    for state in result.clips:
        stages = {}
        for name, rec in state.records.items():
            stages[name] = {k: rec.get(k) for k in ("status", "reason", "message", "key", "artifact_sha256",
                                                   "wall_s", "cached", "summary", "artifact", "traceback",
                                                   "warnings")
                            if rec.get(k) is not None}
        clips.append({"clip_id": state.clip.clip_id, "source": state.clip.path, "sha256": state.clip.sha256,
                      "dataset": state.clip.dataset, "status": state.status, "stages": stages})
    corpus = {name: {k: v for k, v in rec.items() if k != "traceback" or rec.get("status") == "error"}
              for name, rec in result.corpus.items()}
    extra: dict[str, Any] = {}
    if "adapt" in result.stages:
        from stages.adapt.report import report

        full = report(clips)
        extra["adapt"] = {k: v for k, v in full.items() if k != "clips"}
    return {**extra,
        "schema": SCHEMA,
        "name": manifest.name,
        "manifest": None if manifest.path is None else str(manifest.path),
        "output": str(manifest.output),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stages": result.stages,
        "missing_stages": result.missing,
        "globals": to_plain(manifest.globals),
        "settings": {k: to_plain(v) for k, v in manifest.stage_settings.items()},
        "clips": clips,
        "corpus": corpus,
        "totals": totals(clips, last_clip_stage, corpus, result.wall_s),
    }


def totals(clips: list[dict[str, Any]], last_stage: str | None, corpus: dict[str, Any], wall_s: float) -> dict[str, Any]:
    rejected: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    per_stage: dict[str, Counter[str]] = {}
    ok = 0
    for clip in clips:
        for name, rec in clip["stages"].items():
            per_stage.setdefault(name, Counter())[rec["status"]] += 1
        if clip["status"] == "ok":
            ok += 1
        elif clip["status"] == "rejected":
            last = list(clip["stages"].values())[-1]
            rejected[f"{list(clip['stages'])[-1]}:{last.get('reason')}"] += 1
        elif clip["status"] == "error":
            last = list(clip["stages"].values())[-1]
            errors[f"{list(clip['stages'])[-1]}:{last.get('reason')}"] += 1
    warned: Counter[str] = Counter()
    for clip in clips:
        for rec in clip["stages"].values():
            warned.update(rec.get("warnings", []))
    seconds = 0.0
    for clip in clips:
        ingest = clip["stages"].get("ingest", {})
        if ingest.get("status") == "ok":
            seconds += float(ingest.get("summary", {}).get("duration", 0.0))
    return {
        "clips": len(clips),
        "filter": filter_totals(clips),
        "ok": ok,
        "rejected": sum(rejected.values()),
        "rejected_by_reason": dict(sorted(rejected.items())),
        "errors": sum(errors.values()),
        "errors_by_reason": dict(sorted(errors.items())),
        "per_stage": {k: dict(v) for k, v in per_stage.items()},
        "warnings": dict(sorted(warned.items())),
        "corpus_errors": sorted(n for n, r in corpus.items() if r.get("status") == "error"),
        "hours_ingested": round(seconds / 3600.0, 4),
        "wall_s": round(wall_s, 2),
    }


def filter_totals(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Verdict counts, clips per failing reason code, and hours kept / trimmed away / rejected."""
    verdicts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    kept = trimmed_away = rejected = 0.0
    for clip in clips:
        summary = clip["stages"].get("filter", {}).get("summary")
        if not summary or "verdict" not in summary:
            continue
        verdict = summary["verdict"]["verdict"]
        verdicts[verdict] += 1
        for code in set(summary.get("reason_codes", [])):
            reasons[code] += 1
        total, keep = float(summary.get("seconds_total", 0.0)), float(summary.get("seconds_kept", 0.0))
        if verdict == "reject":
            rejected += total
        else:
            kept += keep
            trimmed_away += total - keep
    return {
        "verdicts": dict(sorted(verdicts.items())),
        "clips_per_reason": dict(sorted(reasons.items())),
        "hours_kept": round(kept / 3600.0, 4),
        "hours_trimmed_away": round(trimmed_away / 3600.0, 4),
        "hours_rejected": round(rejected / 3600.0, 4),
    }


def write_run_manifest(out: Path, data: dict[str, Any]) -> Path:
    path = out / RUN_FILE
    write_json(path, data)
    if "adapt" in data:               # raw vs adapted per clip and in total: OUT/adapt/evidence.{json,png}
        from stages.adapt.report import report, write_report

        write_report(report(data["clips"]), out / "adapt")
    return path


def read_run_manifest(out: Path) -> dict[str, Any]:
    path = Path(out) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no run manifest here (run `python -m pipeline run` first)")
    return json.loads(path.read_text())


def format_table(data: dict[str, Any], per_clip: bool = True) -> str:
    """Human-readable summary of a run manifest."""
    lines = []
    stages = data["stages"]
    if per_clip:
        width = max([len("clip")] + [len(c["clip_id"]) for c in data["clips"]])
        header = f"{'clip':<{width}}  " + "  ".join(f"{s:<22}" for s in stages if s not in data["corpus"])
        lines.append(header)
        lines.append("-" * len(header))
        for clip in data["clips"]:
            cells = []
            for s in stages:
                if s in data["corpus"]:
                    continue
                rec = clip["stages"].get(s)
                if rec is None:
                    cells.append(f"{'-':<22}")
                    continue
                text = rec["status"] + (f" ({rec['reason']})" if rec.get("reason") else "")
                cells.append(f"{text[:22]:<22}")
            lines.append(f"{clip['clip_id']:<{width}}  " + "  ".join(cells))
        lines.append("")
    t = data["totals"]
    lines.append(f"clips in: {t['clips']}   ok: {t['ok']}   rejected: {t['rejected']}   errors: {t['errors']}   "
                 f"hours ingested: {t['hours_ingested']}   time: {t['wall_s']} s")
    for reason, n in t["rejected_by_reason"].items():
        lines.append(f"  rejected  {reason:<40} {n}")
    for reason, n in t["errors_by_reason"].items():
        lines.append(f"  error     {reason:<40} {n}")
    for text, n in t.get("warnings", {}).items():
        lines.append(f"  warning   {text} ({n} clip(s))")
    f = t.get("filter", {})
    if f.get("verdicts"):
        lines.append("filter: " + "   ".join(f"{k}: {v}" for k, v in f["verdicts"].items())
                     + f"   hours kept: {f['hours_kept']}   trimmed away: {f['hours_trimmed_away']}"
                     f"   rejected: {f['hours_rejected']}")
        for code, n in f["clips_per_reason"].items():
            lines.append(f"  reason    {code:<40} {n} clip(s)")
    for name, rec in data["corpus"].items():
        summary = rec.get("summary", {})
        brief = ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str)))[:160]
        lines.append(f"  {name}: {rec.get('status')}{' (cached)' if rec.get('cached') else ''} {brief}")
    if data.get("missing_stages"):
        lines.append(f"  not in this version: {', '.join(data['missing_stages'])}")
    return "\n".join(lines)

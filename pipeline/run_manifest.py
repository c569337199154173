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
from typing import TYPE_CHECKING, Any

from core.reasons import meaning
from core.settings import to_plain
from pipeline.registry import STAGE_ORDER
from pipeline.store import write_json

if TYPE_CHECKING:
    from pipeline.dag import RunResult

SCHEMA = "run_manifest/1"
RUN_FILE = "run.json"


def build_run_manifest(result: RunResult) -> dict[str, Any]:
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


def failing_stage(clip: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The (stage, record) that rejected or failed a clip: its first stage whose status is not ok."""
    for name, rec in clip["stages"].items():
        if rec.get("status") not in ("ok", None):
            return name, rec
    return None


def totals(clips: list[dict[str, Any]], last_stage: str | None, corpus: dict[str, Any], wall_s: float) -> dict[str, Any]:
    rejected: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    messages: dict[str, str] = {}
    per_stage: dict[str, Counter[str]] = {}
    ok = 0
    for clip in clips:
        for name, rec in clip["stages"].items():
            per_stage.setdefault(name, Counter())[rec["status"]] += 1
        if clip["status"] == "ok":
            ok += 1
            continue
        failed = failing_stage(clip)
        if failed is None:
            continue
        name, rec = failed
        code = f"{name}:{rec.get('reason')}"
        (rejected if clip["status"] == "rejected" else errors)[code] += 1
        if code not in messages and rec.get("message"):
            detail = [reason_text(r) for r in verdict_reasons(rec.get("summary") or {})
                      if r.get("code") == rec.get("reason")]
            messages[code] = f"{clip['clip_id']}: {detail[0] if detail else rec['message']}"
    warned: Counter[str] = Counter()
    warned_clip: dict[str, str] = {}
    for clip in clips:
        for rec in clip["stages"].values():
            warned.update(rec.get("warnings", []))
            for text in rec.get("warnings", []):
                warned_clip.setdefault(text, clip["clip_id"])
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
        "first_message": dict(sorted(messages.items())),
        "per_stage": {k: dict(v) for k, v in per_stage.items()},
        "warnings": dict(sorted(warned.items())),
        "warning_first_clip": dict(sorted(warned_clip.items())),
        "corpus_errors": sorted(n for n, r in corpus.items() if r.get("status") == "error"),
        "hours_ingested": round(seconds / 3600.0, 4),
        "wall_s": round(wall_s, 2),
    }


def filter_totals(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Verdict counts, clips per failing reason code, and hours kept / trimmed away / rejected."""
    verdicts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    first: dict[str, str] = {}
    kept = trimmed_away = rejected = 0.0
    for clip in clips:
        summary = clip["stages"].get("filter", {}).get("summary")
        if not summary or "verdict" not in summary:
            continue
        verdict = summary["verdict"]["verdict"]
        verdicts[verdict] += 1
        for code in set(summary.get("reason_codes", [])):
            reasons[code] += 1
        for reason in verdict_reasons(summary):
            first.setdefault(str(reason.get("code")), f"{clip['clip_id']}: {reason_text(reason)}")
        total, keep = float(summary.get("seconds_total", 0.0)), float(summary.get("seconds_kept", 0.0))
        if verdict == "reject":
            rejected += total
        else:
            kept += keep
            trimmed_away += total - keep
    return {
        "verdicts": dict(sorted(verdicts.items())),
        "clips_per_reason": dict(sorted(reasons.items())),
        "first_message": dict(sorted(first.items())),
        "hours_kept": round(kept / 3600.0, 4),
        "hours_trimmed_away": round(trimmed_away / 3600.0, 4),
        "hours_rejected": round(rejected / 3600.0, 4),
    }


def verdict_reasons(filter_summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The reasons of a filter summary's verdict (code, spans, value, threshold, unit)."""
    return list((filter_summary.get("verdict") or {}).get("reasons", []))


def reason_text(reason: dict[str, Any]) -> str:
    """One filter reason in words: worst value against the threshold and where."""
    unit = f" {reason['unit']}" if reason.get("unit") else ""
    spans = reason.get("spans") or []
    where = ""
    if spans:
        where = " at frames " + ", ".join(f"{a}-{b}" for a, b in spans[:3]) + (" ..." if len(spans) > 3 else "")
    value, threshold = reason.get("value"), reason.get("threshold")
    if value is None:
        return f"{reason.get('code')}{where}"
    against = f" against a threshold of {float(threshold):.4g}{unit}" if threshold is not None else ""
    return f"worst {float(value):.4g}{unit}{against}{where}"


def merge_previous(data: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Keep the latest result of every stage that ran for this output folder.

    A run up to an earlier stage (``--until adapt`` after a full run) does not
    make the manifest forget later stages' results that are still on disk:
    stage records of ``previous`` (the run manifest before this run) for stages
    this run did not run are carried over, marked ``"from_run": <when that run
    finished>``, for clips that are still part of the run. Totals are recomputed.
    """
    if not previous or previous.get("schema") != SCHEMA or previous.get("output") != data.get("output"):
        return data
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    when = previous.get("finished")
    ran = set(data["stages"])
    old_clips = {c["clip_id"]: c for c in previous.get("clips", [])}
    for clip in data["clips"]:
        old = old_clips.get(clip["clip_id"])
        if old is None or old.get("sha256") != clip.get("sha256"):
            continue
        stages = dict(clip["stages"])
        for name, rec in old["stages"].items():
            if name not in ran and name not in stages:
                stages[name] = {**rec, "from_run": rec.get("from_run", when)}
        clip["stages"] = dict(sorted(stages.items(), key=lambda kv: order.get(kv[0], len(order))))
    out = Path(data["output"])
    for name, rec in previous.get("corpus", {}).items():
        if name in ran or name in data["corpus"] or rec.get("status") != "ok":
            continue
        marker = out / str(rec.get("output") or name) / ".stage.json"
        try:
            on_disk = json.loads(marker.read_text()).get("key") == rec.get("key")
        except (OSError, json.JSONDecodeError):
            on_disk = False
        if on_disk:
            data["corpus"][name] = {**rec, "from_run": rec.get("from_run", when)}
    data["corpus"] = dict(sorted(data["corpus"].items(), key=lambda kv: order.get(kv[0], len(order))))
    data["stages"] = sorted(ran | {n for c in data["clips"] for n in c["stages"]} | set(data["corpus"]),
                            key=lambda n: order.get(n, len(order)))
    data["totals"] = totals(data["clips"], None, data["corpus"], float(data["totals"]["wall_s"]))
    return data


def read_previous(out: Path) -> dict[str, Any] | None:
    """The run manifest already in ``out`` (None when there is none or it is unreadable)."""
    try:
        return json.loads((Path(out) / RUN_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


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


def _meaning_of(stage_code: str) -> str:
    """Meaning of the code in a ``stage:code`` key (``core/reasons.py``)."""
    return meaning(stage_code.split(":", 1)[-1])


def verdict_cell(clip: dict[str, Any]) -> str:
    """``pass``, ``trimmed NN % kept`` or ``rejected`` from the clip's filter summary ('-' when not filtered)."""
    summary = clip["stages"].get("filter", {}).get("summary") or {}
    verdict = (summary.get("verdict") or {}).get("verdict")
    if verdict is None:
        return "-"
    if verdict == "trimmed":
        total = float(summary.get("seconds_total") or 0.0)
        kept = float(summary.get("seconds_kept") or 0.0)
        return f"trimmed {100.0 * kept / total:.0f} % kept" if total > 0 else "trimmed"
    return "rejected" if verdict == "reject" else str(verdict)


def stage_cell(rec: dict[str, Any] | None) -> str:
    """A stage's status in a table cell: ``ok``, ``ok (2 warnings)``, ``rejected``, ``error``; '-' if not run."""
    if rec is None:
        return "-"
    text = str(rec["status"])
    n = len(rec.get("warnings") or [])
    if n:
        text += f" ({n} warning{'s' if n > 1 else ''})"
    if rec.get("from_run"):
        text += " *"
    return text


def clip_reasons(clip: dict[str, Any]) -> list[str]:
    """Every reason code of a clip, full length: the failing stage's, then the filter's verdict reasons."""
    codes = []
    failed = failing_stage(clip)
    if failed is not None and failed[1].get("reason"):
        codes.append(str(failed[1]["reason"]))
    for reason in verdict_reasons(clip["stages"].get("filter", {}).get("summary") or {}):
        if str(reason.get("code")) not in codes:
            codes.append(str(reason.get("code")))
    return codes


def terminal_width(default: int = 120) -> int:
    """Columns of the terminal (``COLUMNS`` or ``default`` when output is not a terminal)."""
    import shutil

    return max(60, shutil.get_terminal_size((default, 24)).columns)


def format_table(data: dict[str, Any], per_clip: bool = True, width: int | None = None) -> str:
    """Human-readable summary of a run manifest, at most ``width`` columns (default: the terminal's).

    Per clip: each clip stage's status (``ok (N warnings)`` for salvaged inputs),
    the verdict (``pass`` / ``trimmed NN % kept`` / ``rejected``), the number of
    dataset entries and every reason code in full (wrapped onto continuation
    lines rather than cut). Then totals, the first message of each reason code
    and the warnings. ``*``: a result kept from an earlier run on this folder.
    """
    import textwrap

    width = terminal_width() if width is None else width
    lines = []
    stages = data["stages"]
    clip_stages = [s for s in stages if s not in data["corpus"]]
    dataset = data["corpus"].get("dataset", {})
    entries = (dataset.get("summary") or {}).get("entries_per_clip") if dataset.get("status") == "ok" else None
    if per_clip:
        rows = []
        for clip in data["clips"]:
            cells = [clip["clip_id"]] + [stage_cell(clip["stages"].get(s)) for s in clip_stages]
            cells.append(verdict_cell(clip))
            if entries is not None:
                cells.append(str(entries.get(clip["clip_id"], 0)))
            rows.append((cells, ", ".join(clip_reasons(clip))))
        header = ["clip", *clip_stages, "verdict"] + (["dataset"] if entries is not None else [])
        widths = [max([len(h)] + [len(r[0][i]) for r in rows]) for i, h in enumerate(header)]
        fixed = sum(widths) + 2 * len(widths)
        reason_width = width - fixed
        wrap_at, indent = reason_width, " " * fixed

        def line(cells: list[str], reasons: str) -> list[str]:
            head = "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths)) + "  "
            beside = reason_width >= 20 and all(len(code) <= reason_width for code in reasons.split(", "))
            at, pad = (wrap_at, indent) if beside else (width - 4, " " * 4)
            parts = textwrap.wrap(reasons, at, break_long_words=False, break_on_hyphens=False) or [""]
            if beside:
                return [(head + parts[0]).rstrip()] + [pad + p for p in parts[1:]]
            return [head.rstrip()] + [pad + p for p in parts if p]

        lines.extend(line(header, "reasons"))
        lines.append("-" * min(width, fixed + max(len("reasons"), min(reason_width, 40))))
        for cells, reasons in rows:
            lines.extend(line(cells, reasons))
        if any(rec.get("from_run") for c in data["clips"] for rec in c["stages"].values()):
            lines.append("* kept from an earlier run on this folder (this run did not run that stage)")
        lines.append("")
    t = data["totals"]
    lines.extend(textwrap.wrap(f"clips in: {t['clips']}   ok: {t['ok']}   rejected: {t['rejected']}   errors: "
                               f"{t['errors']}   hours ingested: {t['hours_ingested']}   time: {t['wall_s']} s",
                               width, subsequent_indent="  ", break_long_words=False))
    messages = t.get("first_message", {})

    def with_message(kind: str, code: str, n: int, message: str | None) -> None:
        head = f"  {kind:<9} {code:<40} {n:<4} "      # then what the code means (core/reasons.py)
        lines.extend(textwrap.wrap(_meaning_of(code), max(len(head) + 20, width), initial_indent=head,
                                   subsequent_indent=" " * len(head), break_long_words=False) or [head.rstrip()])
        if message:
            lines.extend(textwrap.wrap(message, width - 14, initial_indent=" " * 14, subsequent_indent=" " * 16,
                                       break_long_words=False))

    for reason, n in t["rejected_by_reason"].items():
        with_message("rejected", reason, n, messages.get(reason))
    for reason, n in t["errors_by_reason"].items():
        with_message("error", reason, n, messages.get(reason))
    first_clip = t.get("warning_first_clip", {})
    for text, n in t.get("warnings", {}).items():
        who = f"{n} clip(s)" if n > 1 else f"clip {first_clip.get(text, '?')}"
        lines.extend(textwrap.wrap(f"warning   {text} ({who})", width - 2, initial_indent="  ",
                                   subsequent_indent=" " * 12, break_long_words=False))
    f = t.get("filter", {})
    if f.get("verdicts"):
        lines.extend(textwrap.wrap("filter: " + "   ".join(f"{k}: {v}" for k, v in f["verdicts"].items())
                                   + f"   hours kept: {f['hours_kept']}   trimmed away: {f['hours_trimmed_away']}"
                                   f"   rejected: {f['hours_rejected']}", width, subsequent_indent="  ",
                                   break_long_words=False))
        for code, n in f["clips_per_reason"].items():
            with_message("reason", code, n, f.get("first_message", {}).get(code))
    for name, rec in data["corpus"].items():
        summary = rec.get("summary", {})
        brief = ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str)))
        when = f" (from the run of {rec['from_run']})" if rec.get("from_run") else ""
        cached = " (cached)" if rec.get("cached") else ""
        lines.extend(textwrap.wrap(f"{name}: {rec.get('status')}{cached}{when} {brief}", width - 2,
                                   initial_indent="  ", subsequent_indent="    ", break_long_words=False))
        if rec.get("status") == "error" and rec.get("message"):
            lines.extend(textwrap.wrap(str(rec["message"]), width - 4, initial_indent="    ",
                                       subsequent_indent="    "))
    if data.get("missing_stages"):
        lines.append(f"  not in this version: {', '.join(data['missing_stages'])}")
    return "\n".join(lines)

"""The report page: HTML with inline CSS and every figure embedded as a ``data:image/png`` URI.

Each section is a ``<section id=... data-section=...>``; the adaptation and
simulation sections appear only when those stages ran.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence

import numpy as np

from viz.report.collect import Comparison, Metric, ReportData, lower_is_worse
from viz.report.media import ClipMedia

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:0 24px 48px;color:#222}
h1{margin:18px 0 4px} h2{margin-top:34px;border-bottom:2px solid #ddd;padding-bottom:4px} h3{margin:18px 0 6px}
table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f0} td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:6px 0} .muted{color:#777} .bad{color:#b22} .good{color:#282}
nav a{margin-right:12px} .note{background:#fafaf2;border-left:3px solid #cc9;padding:6px 10px;margin:8px 0;font-size:13px}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(png: bytes, alt: str) -> str:
    return f'<img src="{data_uri(png)}" alt="{esc(alt)}">'


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.001:
        return f"{value:.3g}"
    return f"{value:.4g}"


def table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """Cells are HTML already (escape text with :func:`esc`)."""
    out = ["<table>" + ("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>" if any(head) else "")]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}" data-section="{key}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def clip_links(clip_id: str, media: dict[str, ClipMedia]) -> str:
    m = media.get(clip_id)
    if m is None:
        return ""
    links = []
    if m.preview:
        links.append(f'<a href="{esc(m.preview)}">preview</a>')
    for name, path in m.plots.items():
        links.append(f'<a href="{esc(path)}">{esc(name)} plot</a>')
    if m.problem:
        links.append(f'<span class="bad" title="{esc(m.problem)}">media failed</span>')
    return " · ".join(links)


def _overview(d: ReportData) -> str:
    t = d.totals
    rows = [("run", esc(d.name)), ("output", esc(d.out)), ("manifest", esc(d.manifest)), ("finished", esc(d.finished)),
            ("stages run", esc(" → ".join(d.stages))),
            ("clips in / ok / rejected / errors",
             f"{t.get('clips', 0)} / <b class='good'>{t.get('ok', 0)}</b> / <span class='bad'>{t.get('rejected', 0)}</span>"
             f" / {t.get('errors', 0)}"),
            ("wall time", f"{fmt(t.get('wall_s'))} s")]
    if d.missing:
        rows.append(("not in this version", esc(", ".join(d.missing))))
    return table(("", ""), rows)


def _stages(d: ReportData, counts_png: bytes) -> str:
    statuses = sorted({s for c in d.per_stage.values() for s in c}, key=lambda s: ("ok", "rejected", "error").index(s)
                      if s in ("ok", "rejected", "error") else 9)
    rows = [[esc(name)] + [str(counts.get(s, 0)) for s in statuses] for name, counts in d.per_stage.items()]
    body = table(["clip stage"] + statuses, rows, numeric=range(1, len(statuses) + 1))
    if d.corpus:
        crow = []
        for name, rec in d.corpus.items():
            summary = rec.get("summary") or {}
            brief = ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool))
            crow.append((esc(name), esc(rec.get("status")) + (" (cached)" if rec.get("cached") else ""), esc(brief[:400]),
                         esc(rec.get("message") or "")))
        body += "<h3>Corpus stages</h3>" + table(("stage", "status", "summary", "message"), crow)
    return body + img(counts_png, "clips per stage")


def _hours(d: ReportData) -> str:
    labels = {"ingested": "ingested (all clips read)", "kept": "kept by the filter (whole + trimmed clips)",
              "trimmed_away": "trimmed away (cut out of kept clips)", "rejected_by_filter": "rejected by the filter",
              "stopped_before_filter": "rejected or failed before the filter", "adapted": "adapted (adapt stage made a new motion)"}
    total = d.hours.get("ingested") or 0.0
    rows = [(esc(labels.get(k, k)), f"{v:.4f}", f"{100.0 * v / total:.1f} %" if total else "–") for k, v in d.hours.items()]
    return table(("", "hours", "of ingested"), rows, numeric=(1, 2))


def _rejections(d: ReportData) -> str:
    body = "<h3>Clips stopped, per stage and reason code</h3>"
    if d.stops:
        body += table(("stage", "reason code", "status", "clips", "first clip", "first message"),
                      [(esc(r.stage), f"<b>{esc(r.code)}</b>", esc(r.status), str(r.clips), esc(r.first_clip), esc(r.first_message))
                       for r in d.stops], numeric=(3,))
    else:
        body += '<p class="muted">No clip was rejected or failed.</p>'
    body += "<h3>Filter reason codes (rejected and trimmed clips)</h3>"
    if d.cuts:
        body += table(("reason code", "clips", "frames flagged", "first clip", "first occurrence"),
                      [(f"<b>{esc(r.code)}</b>", str(r.clips), str(r.frames), esc(r.first_clip), esc(r.first_detail)) for r in d.cuts],
                      numeric=(1, 2))
    else:
        body += '<p class="muted">The filter flagged nothing (or did not run).</p>'
    if d.sim_reasons:
        body += "<h3>Simulation reason codes</h3>" + table(("reason code", "frames"),
                                                           [(esc(k), str(v)) for k, v in sorted(d.sim_reasons.items())], numeric=(1,))
    if d.warnings:
        body += "<h3>Warnings</h3>" + table(("warning", "clips"), [(esc(k), str(v)) for k, v in d.warnings.items()], numeric=(1,))
    return body


def _metric_table(metrics: Sequence[Metric]) -> str:
    rows = []
    for m in metrics:
        v = np.array(list(m.values.values()))
        rows.append((esc(m.key), str(len(v)), fmt(float(v.min())), fmt(float(np.median(v))), fmt(float(np.percentile(v, 95))),
                     fmt(float(v.max())), "lower" if lower_is_worse(m.name) else "higher"))
    return table(("metric", "clips", "min", "median", "p95", "max", "worse when"), rows, numeric=(1, 2, 3, 4, 5))


def constants_note(metrics: Sequence[Metric]) -> str:
    same = [f"{m.name} = {fmt(next(iter(m.values.values())))}" for m in metrics if not m.varies and m.values]
    return f'<p class="muted">Same for every clip (not drawn): {esc(", ".join(same))}.</p>' if same else ""


def _metrics(d: ReportData, figures: dict[str, bytes]) -> str:
    if not d.metrics:
        return '<p class="muted">No per-clip metrics in this run.</p>'
    body = _metric_table(d.metrics) + constants_note(d.metrics)
    for group, png in figures.items():
        body += f"<h3>{esc(group)}</h3>" + img(png, f"distributions of the {group} metrics")
    return body


def _difficulty(d: ReportData, diff_png: bytes | None, dataset_png: bytes | None) -> str:
    if d.difficulty is None:
        return '<p class="muted">No dataset in this run (the dataset stage did not run or failed): no difficulty scores.</p>'
    body = _metric_table([d.difficulty] + d.dataset_features) + constants_note([d.difficulty] + d.dataset_features)
    if diff_png:
        body += img(diff_png, "difficulty and its features")
    if dataset_png:
        body += "<h3>The dataset</h3>" + img(dataset_png, "dataset overview")
    return body


def comparison_rows(c: Comparison) -> list[tuple[str, int, float, float, int, int]]:
    """Per measure: (key, clips, raw median, adapted median, clips better, clips worse)."""
    out = []
    for key in c.keys:
        pairs = [(r[key], a[key]) for r, a in c.clips.values() if key in r and key in a]
        if not pairs:
            continue
        raw = np.array([p[0] for p in pairs])
        ad = np.array([p[1] for p in pairs])
        sign = -1.0 if lower_is_worse(key) else 1.0              # better = lower, unless lower is worse
        tol = 1e-9 * np.maximum(1.0, np.maximum(np.abs(raw), np.abs(ad)))   # float noise is no change
        better = int(np.sum(sign * (ad - raw) < -tol))
        worse = int(np.sum(sign * (ad - raw) > tol))
        out.append((key, len(pairs), float(np.median(raw)), float(np.median(ad)), better, worse))
    return out


def _adaptation(d: ReportData, pngs: dict[str, bytes]) -> str:
    body = ""
    for c in d.comparisons:
        rows = comparison_rows(c)
        body += f"<h3>{esc(c.stage)}: raw vs adapted ({len(c.clips)} clips)</h3>"
        body += table(("measure", "clips", "raw median", "adapted median", "change", "clips better", "clips worse"),
                      [(esc(k), str(n), fmt(r), fmt(a), f"{100.0 * (a - r) / abs(r):+.0f} %" if abs(r) > 1e-12 else "–",
                        f"<span class='good'>{b}</span>", f"<span class='bad'>{w}</span>") for k, n, r, a, b, w in rows],
                      numeric=(1, 2, 3, 4, 5, 6))
        if c.stage in pngs:
            body += img(pngs[c.stage], f"{c.stage} raw vs adapted")
        keys = [k for k, *_ in rows][:8]
        per_clip = [[esc(cid)] + [f"{fmt(r.get(k))} → {fmt(a.get(k))}" for k in keys] for cid, (r, a) in sorted(c.clips.items())]
        body += "<details><summary>per clip</summary>" + table(["clip"] + keys, per_clip) + "</details>"
    return body


def _dataset_figures(d: ReportData) -> str:
    """The dataset clip table's adaptation and simulation figures, per stored entry (most adapted first)."""
    if not d.entry_figures:
        return ""
    pairs = (("zmp_outside_pct", "ZMP outside %"), ("torque_over_pct", "torque over %"),
             ("falls_per_min", "falls / min"), ("tracked_fraction", "tracked fraction"))
    order = sorted(d.entry_figures, key=lambda e: (-(d.entry_figures[e].get("adapted_fraction") or 0.0), e))
    rows = [[esc(e), fmt(d.entry_figures[e].get("adapted_fraction"))]
            + [f"{fmt(d.entry_figures[e].get(k + '_raw'))} → {fmt(d.entry_figures[e].get(k + '_adapted'))}"
               for k, _ in pairs] for e in order]
    return ("<h3>Dataset clip table: adaptation and simulation (raw → adapted, per stored entry)</h3>"
            + table(["entry", "adapted fraction"] + [t for _, t in pairs], rows, numeric=(1,)))


def _simulation(d: ReportData, media: dict[str, ClipMedia]) -> str:
    sims = d.simulation
    falls = sum(s.get("falls", 0.0) for s in sims.values())
    with_fall = sum(1 for s in sims.values() if s.get("falls", 0.0) > 0)
    tracked = [s["tracked_fraction"] for s in sims.values() if "tracked_fraction" in s]
    seconds = {r.clip_id: r.seconds for r in d.clips}
    minutes = sum(seconds.get(c, 0.0) for c in sims) / 60.0
    body = table(("", ""), [("clips simulated", str(len(sims))), ("falls (all clips)", fmt(falls)),
                            ("clips with a fall", str(with_fall)),
                            ("falls per minute (corpus)", fmt(falls / minutes) if minutes > 0 else "–"),
                            ("mean tracked fraction", fmt(float(np.mean(tracked))) if tracked else "–")])
    keys = [k for k in ("falls", "falls_per_min", "tracked_fraction", "mean_body_error_m", "max_torque_ratio", "realtime_factor")
            if any(k in s for s in sims.values())]
    order = sorted(sims, key=lambda c: (-sims[c].get("falls", 0.0), sims[c].get("tracked_fraction", 1.0)))
    rows = [[esc(c)] + [fmt(sims[c].get(k)) for k in keys] + [clip_links(c, media)] for c in order]
    return body + table(["clip"] + keys + ["look"], rows, numeric=range(1, len(keys) + 1))


def _worst(d: ReportData, worst: list[tuple[Metric, list[tuple[str, float]]]], media: dict[str, ClipMedia]) -> str:
    rows = []
    for metric, items in worst:
        cells = []
        for entry, value in items:
            clip = d.entry_source.get(entry, entry)
            links = clip_links(clip, media)
            cells.append(f"<b>{esc(entry)}</b> {fmt(value)}" + (f"<br><small>{links}</small>" if links else ""))
        rows.append([esc(metric.key)] + cells + [""] * (3 - len(cells)))
    if not rows:
        return '<p class="muted">No metric varies across clips.</p>'
    return table(("metric", "worst", "2nd", "3rd"), rows)


def _clips(d: ReportData, media: dict[str, ClipMedia]) -> str:
    rows = []
    for r in d.clips:
        cls = "good" if r.status == "ok" else "bad"
        rows.append((esc(r.clip_id), f"<span class='{cls}'>{esc(r.status)}</span>", esc(r.last_stage), esc(r.reason),
                     fmt(r.seconds), esc(r.verdict), fmt(r.seconds_kept), fmt(r.difficulty), clip_links(r.clip_id, media)))
    return table(("clip", "status", "last stage", "reason", "seconds", "verdict", "seconds kept", "difficulty", "look"), rows,
                 numeric=(4, 6, 7))


def render_html(d: ReportData, *, counts_png: bytes, metric_pngs: dict[str, bytes], difficulty_png: bytes | None,
                dataset_png: bytes | None, comparison_pngs: dict[str, bytes], media: dict[str, ClipMedia],
                worst: list[tuple[Metric, list[tuple[str, float]]]], notes: Sequence[str] = ()) -> str:
    sections = [("overview", "Overview", _overview(d)), ("stages", "Clips per stage", _stages(d, counts_png)),
                ("hours", "Hours", _hours(d)), ("rejections", "Rejections and cuts", _rejections(d)),
                ("metrics", "Per-clip metrics", _metrics(d, metric_pngs)),
                ("difficulty", "Difficulty", _difficulty(d, difficulty_png, dataset_png))]
    if d.comparisons or d.entry_figures:
        sections.append(("adaptation", "Adaptation: before and after", _adaptation(d, comparison_pngs) + _dataset_figures(d)))
    if d.simulation:
        sections.append(("simulation", "Simulation", _simulation(d, media)))
    sections += [("worst", "Worst clips per metric", _worst(d, worst, media)), ("clips", "All clips", _clips(d, media))]
    nav = "<nav>" + "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t, _ in sections) + "</nav>"
    note_html = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    body = "\n".join(section(k, t, b) for k, t, b in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Run report: {esc(d.name)}</title>'
            f"<style>{CSS}</style></head><body>\n<h1>Run report: {esc(d.name)}</h1>{nav}{note_html}\n{body}\n"
            '<p class="muted">Written by <code>python -m pipeline report</code>. Previews: human and robot side by side; '
            "green discs mark feet in contact, a red frame and caption mark frames the filter cut.</p></body></html>\n")

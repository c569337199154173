"""The adaptation report of a run: raw vs adapted per clip and in total, kept hours.

``report(clips)`` reads the run manifest's clip records (the adapt stage's ``raw`` /
``adapted`` evidence blocks, the filter's hard / dynamic verdicts, the simulate stage's
fall reasons) and gives

- ``clips``: per clip the two evidence blocks, its split, and kept frames with and without
  adaptation (composed by ``stages/filter/compose.py`` exactly as the dataset stage does);
- ``total`` and ``held_out`` (clips of the val / test split, left out of training):
  frame-weighted totals of both blocks (falls per minute and tracked fraction over the
  simulated clips), the relative change of the summed ZMP-outside and torque-excess frames
  and the differences (adapted - raw) of falls per minute and tracked fraction;
- ``kept_hours``: hours passing the hard checks, kept with the raw motion, kept with the
  adapted one, and the kept fractions.

``write_report(data, folder)`` writes it as ``evidence.json`` and ``evidence.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from core.records.verdict import Verdict
from stages.adapt.evidence import totals
from stages.filter.compose import ComposeSettings, compose


def _kept(clip: dict[str, Any]) -> dict[str, Any] | None:
    stages = clip["stages"]
    f = (stages.get("filter") or {}).get("summary") or {}
    if "hard_verdict" not in f:
        return None
    hard = Verdict.from_json(f["hard_verdict"])
    settings = ComposeSettings.from_json(f.get("compose"))
    sim = ((stages.get("simulate") or {}).get("summary") or {}).get("reasons", [])
    sim_reasons = Verdict.from_json({"verdict": "pass", "segments": [], "reasons": sim}).reasons
    raw = compose(hard, Verdict.from_json(f["dynamic_verdict"]), settings, "raw", sim_reasons)
    a = (stages.get("adapt") or {}).get("summary") or {}
    adapted = compose(hard, Verdict.from_json(a["dynamic_verdict"]), settings, "adapted", sim_reasons) \
        if "dynamic_verdict" in a else raw
    fps = hard.fps or 1.0

    def frames(v: Verdict) -> int:
        return int(sum(b - e for e, b in v.segments))

    return {"fps": fps, "frames_hard": frames(hard), "frames_raw": frames(raw), "frames_adapted": frames(adapted)}


def _change(raw: dict[str, Any], adapted: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    before = sum(float(raw.get(k, 0.0)) for k in keys)
    after = sum(float(adapted.get(k, 0.0)) for k in keys)
    return round((after - before) / before, 4) if before > 0 else None


def report(clips: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    hours = {"hard": 0.0, "raw": 0.0, "adapted": 0.0}
    for clip in clips:
        a = (clip["stages"].get("adapt") or {})
        summary = a.get("summary") or {}
        kept = _kept(clip)
        if kept is not None:
            for k in hours:
                hours[k] += kept[f"frames_{k}"] / kept["fps"] / 3600.0
        if "raw" not in summary:
            continue
        rows.append({"clip_id": clip["clip_id"], "split": summary.get("split"), "method": summary.get("method"),
                     "raw": summary["raw"], "adapted": summary["adapted"], "kept": kept})
    out: dict[str, Any] = {"clips": rows}
    for name, subset in (("total", rows), ("held_out", [r for r in rows if r["split"] in ("val", "test")])):
        raw_t = totals([r["raw"] for r in subset])
        ad_t = totals([r["adapted"] for r in subset])
        out[name] = {"raw": raw_t, "adapted": ad_t,
                     "zmp_outside_change": _change(raw_t, ad_t, ("zmp_outside_pct",)),
                     "torque_over_change": _change(raw_t, ad_t, ("torque_over_pct",))}
        if "falls_per_min" in raw_t and "falls_per_min" in ad_t:       # SMAP's Table 1: adapted minus raw
            out[name]["falls_per_min_difference"] = round(ad_t["falls_per_min"] - raw_t["falls_per_min"], 4)
            out[name]["tracked_fraction_difference"] = round(ad_t["tracked_fraction"] - raw_t["tracked_fraction"], 5)
    out["kept_hours"] = {f"hours_{k}": round(v, 5) for k, v in hours.items()}
    if hours["hard"] > 0:
        out["kept_hours"].update(kept_fraction_raw=round(hours["raw"] / hours["hard"], 4),
                                 kept_fraction_adapted=round(hours["adapted"] / hours["hard"], 4))
    return out


#: every measure of the evidence, drawn per clip (raw grey, adapted blue), in the issue's order
FIGURES = (("zmp_outside_pct", "ZMP outside support, % frames"), ("zmp_outside_mean_m", "ZMP outside: mean distance, m"),
           ("torque_over_pct", "torque over limit, % frames"), ("flight_momentum_pct", "flight momentum, % frames"),
           ("joint_velocity_pct", "joint velocity > 0.9 limit, % frames"),
           ("foot_slide_cm_s", "foot slide in contact, cm/s"), ("ground_penetration_pct", "ground penetration, % frames"),
           ("self_collision_pct", "self-penetration, % frames"), ("jerk_rad_s3", "joint jerk, rad/s^3"),
           ("limb_error_deg", "limb-direction error vs human, deg"), ("keypoint_error_m", "keypoint error vs human, m"),
           ("root_path_error_m", "root path error vs human, m"), ("limb_change_deg", "limb-direction change vs raw, deg"),
           ("falls_per_min", "falls per minute (simulated)"), ("tracked_fraction", "tracked fraction (simulated)"))
COLUMNS = 5


def _total_line(data: dict[str, Any], name: str) -> str:
    block = data.get(name) or {}
    raw, ad = block.get("raw") or {}, block.get("adapted") or {}
    if not raw.get("clips"):
        return ""
    parts = [f"{name.replace('_', '-')} ({raw['clips']} clips): ZMP-outside {raw.get('zmp_outside_pct')} -> "
             f"{ad.get('zmp_outside_pct')} %, torque {raw.get('torque_over_pct')} -> {ad.get('torque_over_pct')} %"]
    if "falls_per_min" in raw and "falls_per_min" in ad:
        parts.append(f"falls/min {raw['falls_per_min']} -> {ad['falls_per_min']}, tracked "
                     f"{raw['tracked_fraction']} -> {ad['tracked_fraction']}")
    return "; ".join(parts)


def write_report(data: dict[str, Any], folder: Path) -> Path:
    """``evidence.json`` and ``evidence.png`` (every measure, raw vs adapted per clip; clips held
    out of training marked *) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "evidence.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
    rows = data["clips"]
    if not rows:
        return path
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = [(k, t) for k, t in FIGURES if any(k in r["raw"] or k in r["adapted"] for r in rows)]
    names = [r["clip_id"].split("__")[-1][:22] + (" *" if r["split"] in ("val", "test") else "") for r in rows]
    y = np.arange(len(rows))
    ncols = min(COLUMNS, len(figures))
    nrows = -(-len(figures) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, nrows * (0.2 * len(rows) + 1.2) + 0.8),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(figures):
            ax.set_visible(False)
            continue
        key, title = figures[i]
        raw = [float(r["raw"].get(key, np.nan)) for r in rows]
        ad = [float(r["adapted"].get(key, np.nan)) for r in rows]
        ax.barh(y - 0.2, raw, height=0.4, label="raw", color="0.6")
        ax.barh(y + 0.2, ad, height=0.4, label="adapted", color="C0")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_yticks(y, names if i % ncols == 0 else [""] * len(rows))
        ax.invert_yaxis()
    axes.flat[0].legend(fontsize=7)
    kept = data.get("kept_hours", {})
    lines = [f"adapt evidence (* held out of training) - kept of hard-passing hours: raw "
             f"{kept.get('kept_fraction_raw')}, adapted {kept.get('kept_fraction_adapted')}"]
    lines += [line for line in (_total_line(data, "total"), _total_line(data, "held_out")) if line]
    fig.suptitle("\n".join(lines), fontsize=9)
    fig.tight_layout()
    fig.savefig(folder / "evidence.png", dpi=90)
    plt.close(fig)
    return path

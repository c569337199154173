"""Synthetic adapt / simulate results in the contracts' layout, added to a copy of a real run.

The adapt and simulate stages are built elsewhere; the viewers read them
generically from ``run.json`` and their artifacts. This writes what those
stages will write (per the cross-helper contracts) so the report's and the
viewers' handling of them is tested now:

- ``simulate`` artifact: a ``RobotMotion`` npz plus ``sim_fallen`` (T,) bool,
  ``sim_key_body_error_m`` (T,), ``sim_joint_torque`` (T, D), ``sim_contact_force``
  (T, 2, 3); summary keys falls, falls_per_min, tracked_fraction,
  mean_body_error_m, max_torque_ratio, realtime_factor and ``reasons``
  (Verdict reason format, code ``sim_fall``).
- ``adapt`` artifact: a ``RobotMotion`` npz plus ``adapt_*`` extras; summary with
  ``raw`` and ``adapted`` evidence blocks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from core.hashing import sha256_json
from core.npzio import save_npz
from core.records.robot_motion import RobotMotion

EVIDENCE_KEYS = ("zmp_outside_frac", "torque_over_limit_frac", "foot_slide_cm_s", "limb_direction_error_deg", "jerk_mean_rad_s3")


def add_adapt_and_simulate(run: Path, dest: Path, fall_clip: str) -> Path:
    """Copy run folder ``run`` to ``dest`` and add adapt and simulate records (and artifacts) to its ok clips.

    ``fall_clip`` falls once in simulation (frames 20..40). Returns ``dest``.
    """
    shutil.copytree(run, dest, symlinks=False, ignore=shutil.ignore_patterns("report"))
    data = json.loads((dest / "run.json").read_text())
    rng = np.random.default_rng(0)
    stages = list(data["stages"])
    data["stages"] = stages[:stages.index("filter") + 1] + ["simulate", "adapt"] + stages[stages.index("filter") + 1:]
    data["missing_stages"] = []
    for clip in data["clips"]:
        if clip["status"] != "ok":
            continue
        raw = RobotMotion.load(dest / clip["stages"]["retarget"]["artifact"])
        T, D = raw.dof_pos.shape
        for stage in ("adapt", "simulate"):
            motion = RobotMotion(**{**raw.__dict__})
            motion.dof_pos = raw.dof_pos + (0.05 if stage == "adapt" else -0.05) * np.sin(np.linspace(0, 6, T))[:, None]
            arrays, meta = motion.to_arrays()
            key = sha256_json({"stage": stage, "clip": clip["clip_id"]})
            rel = f"artifacts/{stage}/{key[:2]}/{key}.npz"
            if stage == "simulate":
                fallen = np.zeros(T, bool)
                if clip["clip_id"] == fall_clip:
                    fallen[20:40] = True
                arrays.update(sim_fallen=fallen, sim_key_body_error_m=rng.uniform(0.02, 0.1, T),
                              sim_joint_torque=rng.normal(0, 10, (T, D)), sim_contact_force=rng.normal(0, 50, (T, 2, 3)))
                falls = int(fallen.any())
                summary = {"falls": falls, "falls_per_min": falls / (T / raw.fps / 60.0),
                           "tracked_fraction": float(1.0 - fallen.mean()), "mean_body_error_m": 0.05,
                           "max_torque_ratio": float(rng.uniform(0.3, 0.9)), "realtime_factor": 12.5,
                           "reasons": [{"code": "sim_fall", "spans": [[20, 40]], "value": 1.0, "threshold": 0.0,
                                        "unit": "falls"}] if falls else []}
            else:
                arrays["adapt_change_rad"] = np.abs(motion.dof_pos - raw.dof_pos).max(axis=1)
                rawb = {k: float(rng.uniform(0.1, 1.0)) for k in EVIDENCE_KEYS}
                summary = {"raw": rawb, "adapted": {k: v * (0.5 if "error" not in k else 1.05) for k, v in rawb.items()},
                           "model": "synthetic"}
            save_npz(dest / rel, arrays, meta)
            clip["stages"][stage] = {"status": "ok", "artifact": rel, "key": key, "summary": summary, "wall_s": 0.1}
    (dest / "run.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    return dest

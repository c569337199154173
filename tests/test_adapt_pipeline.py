"""The adapt stages inside the pipeline: verdict composition, dataset clip selection, the
robot-side sources (a simulate artifact in the contract's layout), the ablation switch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.npzio import save_npz
from core.records.verdict import Reason, Verdict
from core.robot import load_robot
from core.stage import ClipOutcome, ClipSource, RunGlobals, StageInput
from pipeline.config import parse_manifest
from stages.adapt.data import gather
from stages.adapt.settings import Settings
from stages.adapt.synthetic import plausible
from stages.dataset.stage import clip_inputs, final_verdicts, kept_hours
from stages.filter.checks import CHECKS, KINDS
from stages.filter.compose import ComposeSettings, compose

FPS = 30.0


def _v(kind, segments, reasons=(), n=300):
    return Verdict(kind, list(segments), list(reasons), n, FPS)


def test_every_check_has_a_kind():
    assert set(KINDS) == set(CHECKS)
    assert {c for c, k in KINDS.items() if k == "dynamic"} == {"zmp_outside_support", "joint_torque", "flight_momentum"}


def test_compose_cuts_dynamic_failures_of_the_stored_variant_only():
    hard = _v("trimmed", [(0, 250)], [Reason("joint_velocity", [(250, 300)], 2.0, 0.9)])
    zmp = _v("trimmed", [], [Reason("zmp_outside_support", [(100, 130)], 0.2, 0.02, "m")])
    settings = ComposeSettings(pad_s=0.1, min_segment_s=2.0)
    raw = compose(hard, zmp, settings, "raw")
    assert raw.verdict == "trimmed" and raw.segments == [(0, 97), (133, 250)] and raw.variant == "raw"
    adapted = compose(hard, _v("pass", [(0, 300)]), settings, "adapted")
    assert adapted.segments == [(0, 250)] and adapted.variant == "adapted"
    assert [r.code for r in raw.reasons] == ["joint_velocity", "zmp_outside_support"]
    assert compose(_v("reject", [], [Reason("non_finite", [(0, 1)], 1, 0)]), None, settings).verdict == "reject"
    fall = [Reason("sim_fall", [(10, 200)], 1.0, 0.0)]
    reported = compose(hard, None, settings, "raw", fall)
    assert reported.segments == [(0, 250)] and reported.reasons[-1].code == "sim_fall"
    dropped = compose(hard, None, ComposeSettings(drop_sim_fall=True), "raw", fall)
    assert dropped.segments == [(200, 250)] or dropped.verdict == "reject"
    assert Verdict.from_json(adapted.to_json()).variant == "adapted"


def _outcome(tmp: Path, clip_id: str, filter_summary: dict, adapt_summary: dict | None = None,
             artifacts: dict | None = None) -> ClipOutcome:
    src = ClipSource(clip_id, str(tmp / f"{clip_id}.bvh"), clip_id * 2, "bvh", "test", "CC0")
    arts = {"retarget": tmp / f"{clip_id}.npz", **(artifacts or {})}
    summaries = {"filter": filter_summary}
    if adapt_summary is not None:
        summaries["adapt"] = adapt_summary
        arts["adapt"] = tmp / f"{clip_id}_adapted.npz"
    return ClipOutcome(src, "ok", arts, summaries, {k: f"{k}-{clip_id}" for k in arts})


def test_dataset_selects_frames_by_the_adapted_motion_and_reports_kept_hours(tmp_path):
    zmp = _v("reject", [], [Reason("zmp_outside_support", [(0, 300)], 0.3, 0.02, "m")])
    filt = {"verdict": zmp.to_json(), "hard_verdict": _v("pass", [(0, 300)]).to_json(),
            "dynamic_verdict": zmp.to_json(), "compose": ComposeSettings().to_json()}
    adapted = _outcome(tmp_path, "a", filt, {"method": "smap", "dynamic_verdict": _v("pass", [(0, 300)]).to_json()})
    ablation = _outcome(tmp_path, "b", filt, {"method": "none"})
    stored, raw, is_adapted = final_verdicts(adapted)
    assert stored.verdict == "pass" and stored.variant == "adapted" and is_adapted and raw.verdict == "reject"
    assert final_verdicts(ablation)[0].verdict == "reject"
    inputs = list(clip_inputs([adapted, ablation]))
    assert [i.clip_id for i in inputs] == ["a"] and inputs[0].adapted is not None
    assert inputs[0].verdict["variant"] == "adapted"
    hours = kept_hours([adapted, ablation])
    assert hours["hours_hard"] == pytest.approx(600 / FPS / 3600, abs=1e-5)
    assert hours["kept_fraction_raw"] == 0.0 and hours["kept_fraction_stored"] == 0.5


def test_robot_side_takes_simulated_frames_not_fallen(tmp_path):
    robot = load_robot("g1")
    motion = plausible(robot, 4.0, FPS)
    motion.save(tmp_path / "c.npz")
    arrays, meta = motion.to_arrays()
    T = motion.num_frames
    fallen = np.zeros(T, dtype=bool)
    fallen[60:] = True
    save_npz(tmp_path / "sim.npz", {**arrays, "sim_fallen": fallen, "sim_key_body_error_m": np.zeros(T),
                                    "sim_joint_torque": np.zeros((T, 29)), "sim_contact_force": np.zeros((T, 2, 3))},
             meta)
    verdict = _v("pass", [(0, T)], n=T).to_json()
    outcome = _outcome(tmp_path, "c", {"verdict": verdict}, artifacts={"simulate": tmp_path / "sim.npz"})
    human, plaus, notes = gather([outcome], Settings(hold_out=False), robot, FPS, min_frames=15)
    assert notes == [] and len(human) == 1 and human[0].frames == T
    assert {s.source: s.frames for s in plaus} == {"passing": T, "simulated": 60}
    only_sim = gather([outcome], Settings(hold_out=False, use_passing=False), robot, FPS, 15)[1]
    assert [s.frames for s in only_sim] == [60]


def test_adapt_none_passes_raw_through(tmp_path):
    from core.records.robot_motion import RobotMotion
    from stages.adapt.stage import STAGE

    robot = load_robot("g1")
    motion = plausible(robot, 2.0, FPS)
    motion.save(tmp_path / "r.npz")
    src = ClipSource("r", str(tmp_path / "r.bvh"), "x", "bvh", "test", "CC0")
    result = STAGE.run(StageInput(src, RunGlobals(), {"retarget": tmp_path / "r.npz"}), Settings(method="none"))
    back = RobotMotion.from_arrays(result.arrays, result.meta)
    assert np.array_equal(back.dof_pos, motion.dof_pos) and result.summary["method"] == "none"
    assert result.summary["raw"] == result.summary["adapted"]
    manifest = parse_manifest({"name": "x", "output": str(tmp_path), "sources": [{"name": "d", "kind": "demo"}],
                               "stages": {"adapt": "none"}})
    assert manifest.stage_settings["adapt"].method == "none" == manifest.stage_settings["adapt_model"].method

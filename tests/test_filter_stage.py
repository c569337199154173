"""The filter stage contract, its settings and the filter-clip tool."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from core.errors import ConfigError, InputError
from core.records.verdict import Verdict
from core.robot import load_robot
from core.settings import build
from core.stage import ClipSource, RunGlobals, StageInput
from stages.filter import synthetic
from stages.filter.api import filter_motion
from stages.filter.checks.base import CheckResult, drop_short_runs
from stages.filter.decide import decide, dilate
from stages.filter.settings import Settings
from stages.filter.stage import STAGE


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


def _input(path):
    clip = ClipSource(clip_id="c", path=str(path), sha256="0" * 64, kind="bvh", dataset="test", license="test")
    return StageInput(clip=clip, globals=RunGlobals(robot="g1"), upstream={"retarget": path})


def _result(code, fail, value=None, threshold=1.0):
    fail = np.asarray(fail, dtype=bool)
    value = np.where(fail, 2.0, 0.0) if value is None else value
    return CheckResult(code, fail, value, threshold, "u")


def test_every_check_has_a_code_and_a_settings_section():
    from stages.filter.checks import CHECKS
    from stages.filter.settings import CODES
    assert tuple(CHECKS) == CODES
    for code in CODES:
        assert getattr(Settings(), code).enabled


def test_settings_from_manifest_mapping():
    s = build(Settings, {"min_segment_s": 1.5, "flag_only": ["non_foot_ground_contact"],
                         "zmp_outside_support": {"margin_m": 0.1, "allow_frames": 3}})
    assert s.min_segment_s == 1.5 and s.flag_only == ("non_foot_ground_contact",)
    assert s.zmp_outside_support.margin_m == 0.1 and s.zmp_outside_support.allow_frames == 3
    assert s.joint_torque == Settings().joint_torque
    with pytest.raises(ConfigError, match="zmp_outside_support.margn_m"):
        build(Settings, {"zmp_outside_support": {"margn_m": 0.1}})
    with pytest.raises(ConfigError):
        build(Settings, {"dynamics": {"smooth_window_frames": 4}})
    with pytest.raises(ConfigError, match="unknown reason code"):
        build(Settings, {"flag_only": ["lying"]})


def test_short_runs_are_tolerated_and_padding_grows_cuts():
    mask = np.array([0, 1, 1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert drop_short_runs(mask, 2).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]
    # short runs that keep coming back (gaps <= allow_frames // 2) are one long violation
    flicker = np.array([0, 1, 0, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
    assert drop_short_runs(flicker, 4).tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert not drop_short_runs(flicker, 3).any()
    assert dilate(np.array([0, 0, 0, 1, 0, 0, 0], dtype=bool), 2).tolist() == [0, 1, 1, 1, 1, 1, 0]


def test_decide_trims_into_long_enough_segments():
    T, fps = 300, 30.0
    fail = np.zeros(T, dtype=bool)
    fail[100:110] = True          # leaves [0, 97) and [113, 300) with pad 0.1 s = 3 frames
    fail[250:252] = True          # leaves [113, 247) and [255, 300): the last is 45 frames < 60
    settings = Settings(min_segment_s=2.0, pad_s=0.1)
    verdict, keep = decide([_result("joint_velocity", fail)], T, fps, settings)
    assert verdict.verdict == "trimmed"
    assert verdict.segments == [(0, 97), (113, 247)]
    assert keep.sum() == 97 + 134
    reason = verdict.reasons[0]
    assert reason.code == "joint_velocity" and reason.spans == [(100, 110), (250, 252)] and reason.value == 2.0


def test_decide_rejects_whole_and_passes_flag_only():
    T, fps = 90, 30.0
    fail = np.zeros(T, dtype=bool)
    fail[5] = True
    verdict, keep = decide([_result("non_finite", fail)], T, fps, Settings())
    assert verdict.verdict == "reject" and verdict.segments == [] and not keep.any()
    verdict, keep = decide([_result("non_foot_ground_contact", fail)], T, fps,
                           Settings(flag_only=("non_foot_ground_contact",)))
    assert verdict.verdict == "pass" and verdict.segments == [(0, T)] and keep.all()
    assert [r.code for r in verdict.reasons] == ["non_foot_ground_contact"]
    everywhere = np.ones(T, dtype=bool)
    verdict, _ = decide([_result("joint_torque", everywhere)], T, fps, Settings())
    assert verdict.verdict == "reject" and verdict.reasons[0].code == "joint_torque"


def test_verdict_json_round_trip(robot):
    verdict = filter_motion(synthetic.hovering(robot, 0.3, 0.5, 2.5, seconds=3.0), robot)
    data = json.loads(json.dumps(verdict.to_json()))
    assert Verdict.from_json(data) == verdict


def test_stage_passes_standing(tmp_path, robot):
    path = tmp_path / "stand.npz"
    synthetic.standing(robot, seconds=3.0).save(path)
    result = STAGE.run(_input(path), Settings())
    assert result.status == "ok" and result.reason is None
    assert result.summary["verdict"]["verdict"] == "pass"
    assert result.summary["verdict"]["segments"] == [[0, 90]]
    assert result.summary["seconds_kept"] == pytest.approx(3.0)
    assert result.arrays["keep"].all() and result.arrays["segments"].tolist() == [[0, 90]]
    json.dumps(result.summary)
    json.dumps(result.meta)


def test_stage_rejects_infeasible_with_reason(tmp_path, robot):
    stand = synthetic.standing(robot, seconds=3.0)
    root = stand.root_pos.copy()
    root[40, 2] = np.nan
    path = tmp_path / "nan.npz"
    dataclasses.replace(stand, root_pos=root).save(path)
    result = STAGE.run(_input(path), Settings())
    assert result.status == "rejected" and result.reason == "non_finite"
    assert result.summary["verdict"]["reasons"][0]["spans"] == [[40, 41]]

    path = tmp_path / "hover.npz"
    synthetic.hovering(robot, 0.3, 0.3, 2.7, seconds=3.0).save(path)      # floats nearly the whole clip
    result = STAGE.run(_input(path), Settings())
    assert result.status == "rejected"
    assert "floating" in result.summary["reason_codes"]
    assert result.arrays["fail_floating"].sum() > 60


def test_stage_rejects_other_robot(tmp_path, robot):
    path = tmp_path / "h1.npz"
    dataclasses.replace(synthetic.standing(robot, seconds=2.0), robot="h1").save(path)
    with pytest.raises(InputError) as info:
        STAGE.run(_input(path), Settings())
    assert info.value.code == "robot_mismatch"


def test_filter_clip_tool(tmp_path, robot, capsys):
    from pipeline.cli import main

    path = tmp_path / "jump.npz"
    synthetic.hovering(robot, 0.3, 3.0, 4.0, seconds=7.0).save(path)
    assert main(["filter-clip", str(path)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    out = json.loads(line)
    assert out["verdict"] == "trimmed"
    assert out["segments"] and all(b - a >= 60 for a, b in out["segments"])
    floating = next(r for r in out["reasons"] if r["code"] == "floating")
    assert floating["spans"] and floating["value"] > floating["threshold"]

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    assert main(["filter-clip", str(bad)]) == 2
    assert "bad.npz" in capsys.readouterr().err


@pytest.mark.parametrize("frames", [1, 2, 3, 5])
def test_very_short_clips_are_rejected_without_crashing(robot, frames):
    stand = synthetic.standing(robot, seconds=frames / 30.0)
    assert stand.num_frames == frames
    verdict = filter_motion(stand, robot)
    assert verdict.verdict == "reject" and verdict.reasons[0].code == "too_short"


def test_zero_quaternion_is_non_finite(robot):
    stand = synthetic.standing(robot, seconds=2.0)
    rot = stand.root_rot.copy()
    rot[10] = 0.0
    verdict = filter_motion(dataclasses.replace(stand, root_rot=rot), robot)
    assert verdict.verdict == "reject" and verdict.reasons[0].code == "non_finite"
    assert verdict.reasons[0].spans == [(10, 11)]


def test_missing_joint_is_an_input_error(robot):
    stand = synthetic.standing(robot, seconds=2.0)
    cut = dataclasses.replace(stand, dof_pos=stand.dof_pos[:, :-1], dof_names=stand.dof_names[:-1])
    with pytest.raises(InputError) as info:
        filter_motion(cut, robot)
    assert info.value.code == "dof_mismatch" and stand.dof_names[-1] in str(info.value)


def test_disabled_check_does_not_run(robot):
    hover = synthetic.hovering(robot, 0.3, 0.3, 2.7, seconds=3.0)
    settings = build(Settings, {"floating": {"enabled": False}, "root_vertical_jump": {"enabled": False},
                                "flight_momentum": {"enabled": False}})
    verdict = filter_motion(hover, robot, settings)
    codes = {r.code for r in verdict.reasons}
    assert not codes & {"floating", "root_vertical_jump", "flight_momentum"}
    assert "floating" in {r.code for r in filter_motion(hover, robot).reasons}


def test_zmp_margin_is_the_worst_over_kept_judged_frames():
    import numpy as np

    from stages.filter.checks.base import CheckResult
    from stages.filter.stage import zmp_margin_kept

    value = np.array([-0.05, -0.02, 0.04, np.nan, -0.03])     # signed distance, > 0 outside
    result = CheckResult("zmp_outside_support", np.zeros(5, bool), value, 0.02, "m", True)
    keep = np.array([True, True, False, True, True])
    assert zmp_margin_kept([result], keep) == 0.02            # frame 2 (outside) is not kept
    assert zmp_margin_kept([result], np.ones(5, bool)) == -0.04
    assert zmp_margin_kept([], keep) is None

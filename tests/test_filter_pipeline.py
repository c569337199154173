"""The filter on our own retargets: LAFAN1 ground1_subject1 and the demo corpus."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from core.contacts import spans_of
from core.robot import load_robot
from stages.filter.api import evaluate
from stages.filter.settings import Settings
from stages.ingest.api import ingest_file
from stages.ingest.demo import write_demo_corpus
from stages.retarget.api import retarget_motion
from stages.retarget.settings import Settings as RetargetSettings
from tests.conftest import require_shared

#: demo clip stem -> the reason code it was built to fail
BUILT_TO_FAIL = {
    "infeasible_too_fast": "joint_velocity",
    "infeasible_floating": "floating",
    "infeasible_lying_on_floor": "non_foot_ground_contact",
    "infeasible_limbs_through_body": "self_collision",
}


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


def _retarget(path, robot, settings=RetargetSettings()):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # mean-shape skeleton warning of the AMASS-layout demo clips
        return retarget_motion(ingest_file(path), robot, settings)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, robot):
    folder = tmp_path_factory.mktemp("demo")
    out = {}
    for path in write_demo_corpus(folder, seed=0):
        stem = path.stem.rsplit("_s", 1)[0]
        motion = _retarget(path, robot)
        out[stem] = (path, motion, evaluate(motion, robot, Settings()))
    return out


def test_demo_feasible_clips_pass(demo):
    feasible = {k: v for k, v in demo.items() if not k.startswith("infeasible_")}
    assert len(feasible) >= 8
    for stem, (_, motion, outcome) in feasible.items():
        verdict = outcome.verdict
        assert verdict.verdict == "pass", (stem, [(r.code, r.spans, r.value) for r in verdict.reasons])
        assert verdict.segments == [(0, motion.num_frames)]


@pytest.mark.parametrize("stem", sorted(BUILT_TO_FAIL))
def test_demo_infeasible_clips_rejected_for_their_reason(demo, stem):
    _, _, outcome = demo[stem]
    verdict = outcome.verdict
    assert verdict.verdict == "reject" and verdict.segments == []
    main = verdict.reasons[0]
    assert main.code == BUILT_TO_FAIL[stem], [(r.code, r.value) for r in verdict.reasons]
    assert (main.value > main.threshold) if main.code != "non_foot_ground_contact" else (main.value < main.threshold)


def test_demo_too_fast_is_judged_on_the_speed_the_human_demanded(demo, robot):
    """The retargeter's velocity rows and target smoothing keep the robot itself under the limit; the human's
    7-8 Hz arm whip demands far more, and that is what rejects the clip."""
    _, motion, outcome = demo["infeasible_too_fast"]
    s = Settings().joint_velocity
    robot_ratio = (abs(motion.dof_vel) / robot.velocity_limit).max()
    assert robot_ratio < s.limit_factor
    assert motion.demanded_speed.shape == (motion.num_frames,) and motion.demanded_speed.max() > 1.5
    reason = outcome.verdict.reasons[0]
    assert reason.code == "joint_velocity" and reason.value == pytest.approx(motion.demanded_speed.max())
    robot_only = Settings(joint_velocity=dataclasses.replace(s, demanded=False))
    assert "joint_velocity" not in {r.code for r in evaluate(motion, robot, robot_only).verdict.reasons}
    for stem, (_, feasible, _) in demo.items():
        if not stem.startswith("infeasible"):
            assert feasible.demanded_speed.max() < 0.75, stem


def test_demo_limbs_through_body(demo, robot):
    """The retargeter's collision rows keep the robot's forearm out of its torso, so the robot alone is clean;
    the targets demand the arm through the chest for over a second, and that is what rejects the clip. Judged
    on the robot alone it would pass; retargeted without the collision rows, the robot itself collides."""
    path, motion, outcome = demo["infeasible_limbs_through_body"]
    s = Settings().self_collision
    assert motion.metrics["self_penetration_max_m"] < s.max_depth_m
    demand = motion.target_penetration
    assert demand.shape == (motion.num_frames,)
    deep = demand > s.max_depth_m + s.demanded_allowance_m
    assert deep.sum() >= 15 and demand[:10].max() < 0.01 and demand[-10:].max() < 0.01
    reason = outcome.verdict.reasons[0]
    assert reason.code == "self_collision" and reason.value == pytest.approx(demand.max() - s.demanded_allowance_m,
                                                                              abs=1e-5)
    robot_only = Settings(self_collision=dataclasses.replace(s, demanded=False))
    assert "self_collision" not in {r.code for r in evaluate(motion, robot, robot_only).verdict.reasons}
    raw_settings = RetargetSettings(solver=dataclasses.replace(RetargetSettings().solver, self_collision=False))
    raw = _retarget(path, robot, raw_settings)
    verdict = evaluate(raw, robot, robot_only).verdict
    assert verdict.verdict == "reject"
    assert verdict.reasons[0].code == "self_collision", [(r.code, r.value) for r in verdict.reasons]


def test_feasible_demo_clips_demand_no_penetration(demo):
    s = Settings().self_collision
    for stem, (_, motion, _) in demo.items():
        if not stem.startswith("infeasible_"):
            demand = motion.target_penetration
            assert np.percentile(demand, 95) < 0.01 and demand.max() < s.max_depth_m + s.demanded_allowance_m, stem


def test_ground1_flagged_for_non_foot_contact_where_it_lies(robot):
    path = require_shared("lafan1", "ground1_subject1.bvh")
    motion = _retarget(path, robot)
    outcome = evaluate(motion, robot, Settings())
    reason = next(r for r in outcome.verdict.reasons if r.code == "non_foot_ground_contact")
    flagged = np.zeros(motion.num_frames, dtype=bool)
    for a, b in reason.spans:
        flagged[a:b] = True
    z = motion.root_pos[:, 2]
    down = [s for s in spans_of(z < 0.45) if s[1] - s[0] >= 10]
    assert sum(b - a for a, b in down) > 0.6 * motion.num_frames       # the subject spends most of the clip low
    for a, b in down:
        assert flagged[a:b].mean() > 0.9, (a, b)
    assert not flagged[z > 0.7].any()                   # standing at the start and the end is not flagged
    assert not flagged[:200].any() and not flagged[-50:].any()

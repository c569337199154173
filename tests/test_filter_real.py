"""The filter on Unitree's own G1 retargets of LAFAN1 clips (../shared/data/lafan1_g1_unitree)."""

from __future__ import annotations

import numpy as np
import pytest

from core.contacts import spans_of
from core.robot import load_robot, read_unitree_csv
from stages.filter.api import evaluate
from stages.filter.settings import Settings
from tests.conftest import require_shared

CLIPS = ("walk4_subject1", "dance1_subject1", "fallAndGetUp3_subject1")


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


@pytest.fixture(scope="module")
def outcomes(robot):
    out = {}
    for name in CLIPS:
        path = require_shared("lafan1_g1_unitree", f"{name}.csv")
        motion = read_unitree_csv(path, robot)
        out[name] = (motion, evaluate(motion, robot, Settings()))
    return out


@pytest.mark.parametrize("name", ["walk4_subject1", "dance1_subject1"])
def test_walking_and_dancing_pass_or_are_trimmed(outcomes, name):
    motion, outcome = outcomes[name]
    verdict = outcome.verdict
    assert verdict.verdict in ("pass", "trimmed")
    assert verdict.segments, "a feasible segment must remain"
    codes = {r.code for r in verdict.reasons}
    # nothing in these clips is broken kinematically or lies on the floor for long
    assert not codes & {"non_finite", "too_short", "joint_position_limit", "joint_velocity", "root_linear_speed",
                        "root_vertical_jump", "ground_penetration", "floating"}
    contact = [r for r in verdict.reasons if r.code == "non_foot_ground_contact"]
    assert sum(b - a for r in contact for a, b in r.spans) < 0.01 * motion.num_frames
    # segments are source frame ranges of at least min_segment_s, inside the clip, in order
    min_len = Settings().min_segment_s * motion.fps
    for (a, b), (c, _) in zip(verdict.segments, verdict.segments[1:] + [(motion.num_frames + 1, 0)]):
        assert 0 <= a < b <= motion.num_frames and b - a >= min_len and b < c
    assert outcome.keep.sum() == sum(b - a for a, b in verdict.segments)


def test_walking_keeps_its_dynamics(outcomes):
    """Walking is dynamically plain: the ZMP, flight and torque checks find nothing to cut."""
    _, outcome = outcomes["walk4_subject1"]
    codes = {r.code for r in outcome.verdict.reasons}
    assert not codes & {"zmp_outside_support", "flight_momentum", "joint_torque", "floating"}
    zmp = next(r for r in outcome.results if r.code == "zmp_outside_support")
    assert np.nanmedian(zmp.value) < 0.0          # the ZMP is inside the support polygon most of the time


def test_fall_and_get_up_flagged_for_non_foot_contact_where_it_lies(outcomes):
    motion, outcome = outcomes["fallAndGetUp3_subject1"]
    verdict = outcome.verdict
    reason = next(r for r in verdict.reasons if r.code == "non_foot_ground_contact")
    flagged = np.zeros(motion.num_frames, dtype=bool)
    for a, b in reason.spans:
        flagged[a:b] = True
    z = motion.root_pos[:, 2]
    down = [s for s in spans_of(z < 0.45) if s[1] - s[0] >= 10]     # the pelvis near the floor: lying / kneeling
    assert len(down) >= 8
    for a, b in down:
        assert flagged[a:b].mean() > 0.8, (a, b)
    # and not while standing
    assert (z[flagged] < 0.65).all()
    assert flagged[z > 0.7].sum() == 0
    assert reason.value < 0.0 and reason.threshold == Settings().non_foot_ground_contact.height_m
    # those frames are cut from the kept segments
    assert not (outcome.keep & flagged).any()
    assert verdict.verdict == "trimmed"


def test_flag_only_keeps_ground_contact_frames(robot, outcomes):
    motion, _ = outcomes["fallAndGetUp3_subject1"]
    settings = Settings(flag_only=("non_foot_ground_contact", "ground_penetration"))
    outcome = evaluate(motion, robot, settings)
    codes = [r.code for r in outcome.verdict.reasons]
    assert "non_foot_ground_contact" in codes
    kept_default = outcomes["fallAndGetUp3_subject1"][1].keep.sum()
    assert outcome.keep.sum() > kept_default


def test_walk4_self_collision_is_real_on_the_official_meshes(robot, outcomes):
    """Where the capsules of the two hands overlap most, the official hand meshes intersect too (coal)."""
    import coal

    from core.robot.stl import read_stl
    from stages.filter.body import body_of
    from stages.filter.checks.collision import penetration_depths
    from stages.filter.state import ClipState

    motion, outcome = outcomes["walk4_subject1"]
    assert "self_collision" in {r.code for r in outcome.verdict.reasons}
    body = body_of(robot)
    state = ClipState(motion, body, Settings())
    depth = penetration_depths(state)
    pairs = [(body.prim_names[i], body.prim_names[j]) for i, j in body.pairs]
    k = pairs.index(("left_rubber_hand", "right_rubber_hand"))
    worst = np.argsort(-depth[:, k])[:3]
    assert depth[worst, k].min() > Settings().self_collision.max_depth_m

    def mesh(name):
        tris = read_stl(require_shared("robots", "g1_description", "meshes", f"{name}.STL"))
        verts = tris.reshape(-1, 3)
        model = coal.BVHModelOBBRSS()
        model.beginModel(len(tris), len(verts))
        model.addVertices(verts)
        model.addTriangles(np.arange(len(verts)).reshape(-1, 3))
        model.endModel()
        return model

    left, right = mesh("left_rubber_hand"), mesh("right_rubber_hand")
    pos, rot = state.frame_poses
    fl, fr = body.frame_names.index("left_rubber_hand"), body.frame_names.index("right_rubber_hand")
    for t in worst:
        result = coal.CollisionResult()
        coal.collide(left, coal.Transform3s(rot[t, fl], pos[t, fl]), right, coal.Transform3s(rot[t, fr], pos[t, fr]),
                     coal.CollisionRequest(), result)
        assert result.isCollision(), t

"""The first frame's multistart: a start that self-penetrates loses to one that does not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import require_shared

from core.robot import load_robot
from stages.retarget.ik.multistart import self_penetration_depth


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def test_self_penetration_depth_matches_the_metric(g1):
    """On random joint configurations (many penetrate) the depth equals the metric's deepest
    penetration (stages/retarget/metrics.py: self_penetration, its own broad phase)."""
    from stages.retarget.metrics import self_penetration

    rng = np.random.default_rng(3)
    T = 40
    q = np.zeros((T, 7 + g1.num_dofs))
    q[:, 2], q[:, 6] = 0.8, 1.0
    q[:, 7:] = rng.uniform(g1.lower, g1.upper, size=(T, g1.num_dofs))
    q[0, 7:] = g1.default_pose
    col = g1.collision
    pos, rot = g1.frame_placements(q[:, :3], q[:, 3:7], q[:, 7:], list(col.frames))
    ref = self_penetration(col, pos, rot)
    ours = np.array([self_penetration_depth(g1, x) for x in q])
    assert ours[0] == 0.0 and np.count_nonzero(ref > 0.01) >= 5
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_squat_first_frame_starts_collision_free(g1):
    """smpl_asap squat: pink converges every start to a pose with the left hand 4.8 cm inside the
    hip; the collision-free start from the default posture (stacked solver, barrier rows on) wins."""
    from stages.ingest.api import ingest_file
    from stages.retarget.api import retarget_motion

    human = ingest_file(require_shared("smpl_asap", "video_squat_level1_filter_amass.npz"))
    human = dataclasses.replace(human, positions=human.positions[:3], rotations=human.rotations[:3])
    motion = retarget_motion(human, g1)
    assert motion.metrics["first_frame_start"] == 4.0          # the fifth, constrained start
    q = g1.configuration(motion.root_pos, motion.root_rot, motion.dof_pos)
    assert max(self_penetration_depth(g1, x) for x in q) <= 0.002

"""Capsule self-collision: closed-form distances, fitted primitives, known poses."""

from __future__ import annotations

import coal
import numpy as np
import pytest

from core.robot import load_robot
from core.robot.collision import closest_points_segments
from core.robot.fit import fit_capsule, fit_twin_capsules, link_meshes
from core.robot.stl import read_stl
from tests.conftest import require_shared

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def g1():
    return load_robot("g1")


def _coal_capsule_distance(p, r):
    """Capsule distance with coal (capsules along local z, centred)."""
    objs = []
    for (a, b), rad in zip(p, r):
        axis = b - a
        length = np.linalg.norm(axis)
        z = axis / length
        x = np.cross(z, [1.0, 0, 0]) if abs(z[0]) < 0.9 else np.cross(z, [0, 1.0, 0])
        x /= np.linalg.norm(x)
        rot = np.column_stack([x, np.cross(z, x), z])
        objs.append(coal.CollisionObject(coal.Capsule(rad, length), coal.Transform3s(rot, 0.5 * (a + b))))
    req, res = coal.DistanceRequest(), coal.DistanceResult()
    return coal.distance(objs[0], objs[1], req, res)


def test_segment_distance_matches_coal_and_brute_force():
    rng = np.random.default_rng(3)
    n = 300
    p1, q1, p2, q2 = (rng.normal(size=(n, 3)) * 0.3 for _ in range(4))
    q2[:20] = p2[:20] + (q1[:20] - p1[:20]) * 0.7          # parallel segments
    c1, c2 = closest_points_segments(p1, q1, p2, q2)
    dist = np.linalg.norm(c1 - c2, axis=1)
    s = np.linspace(0, 1, 201)
    for k in range(40):
        A = p1[k] + s[:, None] * (q1[k] - p1[k])
        B = p2[k] + s[:, None] * (q2[k] - p2[k])
        brute = np.min(np.linalg.norm(A[:, None] - B[None], axis=-1))
        assert dist[k] <= brute + 1e-12
        assert dist[k] >= brute - 5e-3
    for k in range(40, 80):
        r = (0.02, 0.03)
        d_coal = _coal_capsule_distance([(p1[k], q1[k]), (p2[k], q2[k])], r)
        assert dist[k] - sum(r) == pytest.approx(d_coal, abs=1e-6) or (dist[k] - sum(r) < 0 and d_coal < 0)


def test_point_segments_are_spheres():
    p = np.array([0.0, 0.0, 0.0])
    c1, c2 = closest_points_segments(p, p, np.array([1.0, -1, 0.5]), np.array([1.0, 1, 0.5]))
    # atol: the routine regularises the Gram entries by 1e-12 (a bias of ~1e-13 m here)
    np.testing.assert_allclose(c2, [1.0, 0.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(c1, p, atol=1e-12)


def test_zero_and_default_pose_have_no_self_penetration(g1):
    for pose in (np.zeros(g1.num_dofs), g1.default_pose):
        d = g1.collision_distances(np.array([0, 0, 0.8]), IDENTITY, pose)
        assert d.signed.shape == (1, len(g1.collision.pairs))
        assert d.signed.min() > -0.01, g1.collision.pair_names[int(np.argmin(d.signed))]


def test_h1_zero_pose_has_no_self_penetration():
    require_shared("robots", "h1_description", "h1.urdf")
    h1 = load_robot("h1")
    d = h1.collision_distances(np.array([0, 0, 1.0]), IDENTITY, np.zeros(h1.num_dofs))
    assert d.signed.shape[1] >= 20
    assert d.signed.min() > -0.01


def test_known_touching_and_separated_poses(g1):
    c = g1.collision
    names = list(c.pair_names)
    k_hands = names.index(("left_rubber_hand", "right_rubber_hand"))
    k_torso = names.index(("torso_link_1", "left_elbow_link"))
    apart = np.zeros(g1.num_dofs)
    crossed = np.zeros(g1.num_dofs)
    # arms forward (shoulder pitch -90 deg) and turned inward (shoulder roll) so the hands meet
    crossed[g1.dof_names.index("left_shoulder_pitch_joint")] = -np.pi / 2
    crossed[g1.dof_names.index("right_shoulder_pitch_joint")] = -np.pi / 2
    crossed[g1.dof_names.index("left_shoulder_roll_joint")] = -0.2
    crossed[g1.dof_names.index("right_shoulder_roll_joint")] = 0.2
    # left arm rolled inward into the chest
    hug = np.zeros(g1.num_dofs)
    hug[g1.dof_names.index("left_shoulder_roll_joint")] = -0.6
    d = g1.collision_distances(np.zeros((3, 3)), np.tile(IDENTITY, (3, 1)), np.stack([apart, crossed, hug]))
    assert d.signed[0, k_hands] > 0.1           # hands hanging at the sides
    assert d.signed[1, k_hands] < -0.05         # hands through each other
    assert d.signed[0, k_torso] > 0.02
    assert d.signed[2, k_torso] < -0.04
    # witness points lie on the surfaces: their gap equals the signed distance when separated
    gap = np.linalg.norm(d.point_a[0, k_hands] - d.point_b[0, k_hands])
    assert gap == pytest.approx(d.signed[0, k_hands], abs=1e-9)


def test_adjacent_links_are_not_paired(g1):
    adjacent = g1.adjacent_frames()
    frames = {p.name: p.frame for p in g1.collision.primitives}
    for a, b in g1.collision.pair_names:
        assert frames[a] != frames[b]
        assert frozenset((frames[a], frames[b])) not in adjacent
    assert frozenset(("left_knee_link", "left_ankle_pitch_link")) in adjacent


def test_lowest_points_on_the_floor(g1):
    root_z = 0.7935
    pos, rot = g1.forward_kinematics(np.array([[0, 0, root_z]]), IDENTITY[None], np.zeros((1, 29)), g1.collision.frames)
    low = g1.collision.lowest_points(pos, rot)[0]
    names = [p.name for p in g1.collision.primitives]
    foot = low[names.index("left_ankle_roll_link")]
    assert abs(foot) < 0.02                     # the foot capsule reaches about the sole
    assert low[names.index("torso_link_0")] > 0.7


def test_fitted_capsules_cover_the_meshes():
    urdf = require_shared("robots", "g1_description", "g1_29dof_rev_1_0.urdf")
    meshes = link_meshes(urdf)
    for link in ("left_knee_link", "left_hip_yaw_link", "left_elbow_link"):
        v = meshes[link]
        a, b, r = fit_capsule(v)
        (c, _) = closest_points_segments(v, v, np.broadcast_to(a, v.shape), np.broadcast_to(b, v.shape))
        inside = np.linalg.norm(v - c, axis=1) <= r + 1e-9
        assert inside.mean() > 0.9              # radius is the 95th percentile
    shin = fit_capsule(meshes["left_knee_link"])
    assert np.linalg.norm(shin[1] - shin[0]) == pytest.approx(0.29, abs=0.03)   # knee to ankle ~30 cm
    twins = fit_twin_capsules(meshes["torso_link"])
    assert len(twins) == 2 and twins[0][0][1] < 0 < twins[1][0][1]


def test_stl_reader_reads_binary_meshes_and_rejects_bad_files(tmp_path):
    path = require_shared("robots", "g1_description", "meshes", "left_knee_link.STL")
    tris = read_stl(path)
    assert tris.ndim == 3 and tris.shape[1:] == (3, 3) and len(tris) > 100
    assert np.abs(tris).max() < 0.5             # metres
    bad = tmp_path / "bad.stl"
    bad.write_bytes(path.read_bytes()[:500])
    from core.errors import InputError
    with pytest.raises(InputError) as err:
        read_stl(bad)
    assert err.value.code == "truncated" and "bad.stl" in str(err.value)
    ascii_stl = tmp_path / "tri.stl"
    ascii_stl.write_text("solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
                         "endloop\nendfacet\nendsolid t\n")
    np.testing.assert_array_equal(read_stl(ascii_stl)[0], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])


def test_distance_cost_is_microseconds_per_pair(g1):
    import time
    rng = np.random.default_rng(0)
    T = 500
    dofs = rng.uniform(g1.lower, g1.upper, size=(T, g1.num_dofs))
    pos, rot = g1.forward_kinematics(np.zeros((T, 3)), np.tile(IDENTITY, (T, 1)), dofs, g1.collision.frames)
    start = time.perf_counter()
    d = g1.collision.pair_distances(pos, rot)
    per_pair = (time.perf_counter() - start) / d.signed.size
    assert per_pair < 5e-6


def test_config_without_pairs_checks_every_non_adjacent_pair_clear_in_the_default_pose(g1):
    """A user robot that lists no collision pairs gets one pair set, shared by retargeter and filter:
    every pair of capsules on non-adjacent frames, less those already overlapping in the default pose."""
    import dataclasses

    from core.robot.model import Robot
    from stages.filter.body import body_of

    bare = Robot(dataclasses.replace(g1.config, collision_pairs=()))
    model = bare.collision
    adjacent = g1.adjacent_frames()
    n = len(model.primitives)
    candidates = sum(1 for i in range(n) for j in range(i + 1, n)
                     if model.primitives[i].frame != model.primitives[j].frame
                     and frozenset((model.primitives[i].frame, model.primitives[j].frame)) not in adjacent)
    pos, rot = bare.frame_placements(np.zeros((1, 3)), np.array([[0.0, 0.0, 0.0, 1.0]]),
                                     bare.default_pose[None], model.frames)
    signed = model.pair_distances(pos, rot).signed[0]
    assert 0 < len(model.pairs) < candidates and (signed >= 0).all()
    configured = g1.collision
    cpos, crot = g1.frame_placements(np.zeros((1, 3)), np.array([[0.0, 0.0, 0.0, 1.0]]),
                                     g1.default_pose[None], configured.frames)
    clear = configured.pairs[configured.pair_distances(cpos, crot).signed[0] >= 0]
    assert {tuple(p) for p in clear} <= {tuple(p) for p in model.pairs}   # the hand-picked pairs are all in
    np.testing.assert_array_equal(body_of(bare).pairs, np.array(sorted(map(tuple, model.pairs))))

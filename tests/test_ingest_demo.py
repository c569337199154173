"""The procedural demo corpus: real formats, deterministic, plausible, and infeasible where named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from core import rotations as rot
from core.records.human_motion import HumanMotion
from stages.ingest.api import ingest_file
from stages.ingest.demo import write_demo_corpus
from stages.ingest.demo_pose import centre_of_mass
from stages.ingest.demo_writers import LAFAN1_NAMES
from stages.ingest.smpl_tables import BODY_JOINT_NAMES

FEASIBLE = ("walk_", "turn_", "squat_", "wave_", "kick_", "jump_")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, HumanMotion]:
    folder = tmp_path_factory.mktemp("demo")
    paths = write_demo_corpus(folder, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {p.name: ingest_file(p, fps=30.0, dataset="demo") for p in paths}


def smpl_order(m: HumanMotion) -> np.ndarray:
    """(T, 22, 3) positions in SMPL body-joint order (BVH files use LAFAN1 names)."""
    names = list(m.joint_names)
    to_bvh = {v: k for k, v in LAFAN1_NAMES.items()}
    names = [to_bvh.get(n, n) for n in names]
    return m.positions[:, [names.index(n) for n in BODY_JOINT_NAMES]]


def pick(corpus, prefix):
    found = {k: v for k, v in corpus.items() if k.startswith(prefix)}
    assert found, prefix
    return found


def test_corpus_layout_and_determinism(tmp_path, corpus):
    a = write_demo_corpus(tmp_path / "a", seed=3)
    b = write_demo_corpus(tmp_path / "b", seed=3)
    c = write_demo_corpus(tmp_path / "c", seed=4)
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    assert any(x.read_bytes() != y.read_bytes() for x, y in zip(a, c))
    names = [p.name for p in a]
    assert 12 <= len(names) <= 16
    assert {n.rsplit(".", 1)[1] for n in names} == {"npz", "bvh"}
    for kind in FEASIBLE + ("infeasible_too_fast", "infeasible_floating", "infeasible_limbs_through_body",
                            "infeasible_lying_on_floor"):
        assert any(n.startswith(kind) for n in names), kind
    for m in corpus.values():
        assert m.fps == 30.0 and 2.0 <= m.duration <= 6.0


def test_demo_npz_is_amass_layout(tmp_path):
    paths = write_demo_corpus(tmp_path, seed=0)
    npz = [p for p in paths if p.suffix == ".npz"][0]
    with np.load(npz, allow_pickle=False) as f:
        assert f["poses"].shape[1] == 72 and f["trans"].shape[1] == 3 and f["betas"].shape == (16,)
        assert str(f["gender"]) == "neutral" and int(f["mocap_framerate"]) == 30
    bvh = [p for p in paths if p.suffix == ".bvh"][0]
    text = bvh.read_text()
    assert text.startswith("HIERARCHY") and "Frame Time: 0.033333" in text


def test_feet_planted_and_still_in_stance(corpus):
    for name, m in corpus.items():
        if not name.startswith(FEASIBLE):
            continue
        kp, p = m.keypoints, m.positions
        for side in ("left", "right"):
            toe = p[:, kp[f"{side}_toe"]]
            planted = toe[:, 2] - m.floor_height < 0.005
            assert planted.mean() > 0.3, name
            speed = np.linalg.norm(np.gradient(toe, 1.0 / m.fps, axis=0), axis=-1)
            inner = planted & np.roll(planted, 1) & np.roll(planted, -1)
            assert np.percentile(speed[inner], 95) < 0.05, (name, side)
        # nothing but the feet comes near the floor
        feet = [kp[k] for k in ("left_ankle", "right_ankle", "left_toe", "right_toe")]
        others = np.delete(p[..., 2], feet, axis=1) - m.floor_height
        assert others.min() > 0.25, name


def test_joint_ranges_humanlike(corpus):
    for name, m in corpus.items():
        if not name.startswith(FEASIBLE):
            continue
        p = smpl_order(m)
        for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
            thigh, shin = p[:, knee] - p[:, hip], p[:, ankle] - p[:, knee]
            cos = np.sum(thigh * shin, -1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shin, axis=-1)
            flex = np.degrees(np.arccos(np.clip(cos, -1, 1)))
            assert flex.max() < 140.0 and np.percentile(flex, 50) > 1.0, name
        for sh, el, wr in ((16, 18, 20), (17, 19, 21)):
            upper, fore = p[:, el] - p[:, sh], p[:, wr] - p[:, el]
            cos = np.sum(upper * fore, -1) / np.linalg.norm(upper, axis=-1) / np.linalg.norm(fore, axis=-1)
            assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 150.0, name


def zmp_outside(m: HumanMotion) -> np.ndarray:
    """Per contact frame, how far (m) the ZMP of an approximate CoM is outside the support polygon."""
    p = smpl_order(m)
    com = centre_of_mass(p)
    acc = np.gradient(np.gradient(com, 1 / m.fps, axis=0), 1 / m.fps, axis=0)
    h = com[:, 2] - m.floor_height
    zmp = com[:, :2] - h[:, None] * acc[:, :2] / (9.81 + acc[:, 2:3])
    out = []
    for t in range(len(p)):
        pts = []
        for ankle, toe in ((7, 10), (8, 11)):
            if p[t, toe, 2] - m.floor_height > 0.02:
                continue
            fw = p[t, toe, :2] - p[t, ankle, :2]
            fw /= np.linalg.norm(fw)
            side = np.array([-fw[1], fw[0]])
            heel, tip = p[t, ankle, :2] - 0.07 * fw, p[t, toe, :2] + 0.06 * fw
            pts += [heel + 0.045 * side, heel - 0.045 * side, tip + 0.045 * side, tip - 0.045 * side]
        if pts:
            eq = ConvexHull(np.array(pts)).equations
            out.append(max(0.0, float((eq[:, :2] @ zmp[t] + eq[:, 2]).max())))
    return np.array(out)


def test_feasible_zmp_inside_support(corpus):
    for name, m in corpus.items():
        if name.startswith(FEASIBLE):
            out = zmp_outside(m)
            assert np.mean(out < 0.03) > 0.9 and np.percentile(out, 95) < 0.06, (name, np.percentile(out, 95))


def upper_limb_speed(m: HumanMotion) -> float:
    """Max angular speed (rad/s) of the upper arms relative to the chest and forearms relative to upper arms."""
    kp, q = m.keypoints, m.rotations
    speeds = []
    for parent, child in (("spine", "left_shoulder"), ("spine", "right_shoulder"),
                          ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")):
        rel = rot.multiply(rot.conjugate(q[:, kp[parent]]), q[:, kp[child]])
        speeds.append(rot.angle_between(rel[1:], rel[:-1]).max() * m.fps)
    return float(max(speeds))


def longest_airborne(m: HumanMotion, clearance: float = 0.3) -> float:
    low = m.positions[..., 2].min(axis=1) - m.floor_height
    best = run = 0
    for v in low > clearance:
        run = run + 1 if v else 0
        best = max(best, run)
    return best / m.fps


def arm_to_trunk(m: HumanMotion) -> float:
    """Closest approach (m) of a forearm midpoint or wrist to the pelvis-chest-neck line."""
    kp, p = m.keypoints, m.positions

    def seg(pt, a, b):
        ab = b - a
        u = np.clip(np.sum((pt - a) * ab, -1) / np.sum(ab * ab, -1), 0, 1)
        return np.linalg.norm(pt - (a + u[:, None] * ab), axis=-1)

    best = np.inf
    for s in ("left", "right"):
        for pt in (0.5 * (p[:, kp[f"{s}_elbow"]] + p[:, kp[f"{s}_wrist"]]), p[:, kp[f"{s}_wrist"]]):
            d = np.minimum(seg(pt, p[:, kp["pelvis"]], p[:, kp["spine"]]), seg(pt, p[:, kp["spine"]], p[:, kp["neck"]]))
            best = min(best, float(d.min()))
    return best


def test_each_infeasible_clip_fails_its_check(corpus):
    feasible = [m for n, m in corpus.items() if n.startswith(FEASIBLE)]
    # too fast: joint speeds far beyond any feasible clip (and any humanoid's 37 rad/s limit)
    (fast,) = pick(corpus, "infeasible_too_fast").values()
    assert upper_limb_speed(fast) > 45.0
    assert max(upper_limb_speed(m) for m in feasible) < 15.0
    assert longest_airborne(fast) == 0.0 and arm_to_trunk(fast) > 0.15
    # floating: the whole body 0.3 m above the floor for over a second; jumps stay below that
    (floating,) = pick(corpus, "infeasible_floating").values()
    assert longest_airborne(floating) > 1.0
    assert max(longest_airborne(m) for m in feasible) == 0.0
    assert upper_limb_speed(floating) < 15.0
    # limbs through the body: a hand inside the trunk
    (through,) = pick(corpus, "infeasible_limbs_through_body").values()
    assert arm_to_trunk(through) < 0.05
    assert min(arm_to_trunk(m) for m in feasible) > 0.15
    # lying: pelvis and head on the floor the whole clip; feasible clips keep the head high
    (lying,) = pick(corpus, "infeasible_lying_on_floor").values()
    kp = lying.keypoints
    z = lying.positions[..., 2] - lying.floor_height
    assert z[:, kp["head"]].max() < 0.15 and z[:, kp["pelvis"]].max() < 0.15
    assert min((m.positions[:, m.keypoints["head"], 2] - m.floor_height).min() for m in feasible) > 0.9


def test_npz_and_bvh_writers_round_trip(tmp_path):
    """Ingest returns exactly the designed pose from either format."""
    from stages.ingest import demo_clips
    from stages.ingest.demo_pose import design_positions, solve_pose, to_local
    from stages.ingest.demo_writers import write_amass_npz, write_bvh

    targets = demo_clips.walk(2.0, 30.0, heading0=0.7)
    G, pelvis = solve_pose(targets)
    local = to_local(G)
    want = design_positions(local, pelvis)
    write_amass_npz(tmp_path / "w.npz", local, pelvis, 30.0)
    write_bvh(tmp_path / "w.bvh", local, pelvis, 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ingest_file(tmp_path / "w.npz")
        b = ingest_file(tmp_path / "w.bvh")
    assert np.abs(smpl_order(a) - want).max() < 1e-5          # float32 storage
    assert np.abs(smpl_order(b) - want).max() < 1e-5          # 6 decimals of cm / degrees
    assert b.provenance["skeleton"] == "lafan1"

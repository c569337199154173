"""The adapt stage's evidence plumbing and the IK pass's speed-ups (behaviour, not timing):
raw simulation figures come from the simulate stage's summary (never simulated twice), the
adapted motion is simulated only where it differs from raw and with the simulate stage's
settings, fidelity to the human is measured from the ingested keypoints, totals are
frame-weighted, and the fast IK pass gives exactly what a fresh per-frame solver gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.records.keypoints import KEYPOINT_NAMES
from core.robot import load_robot
from core.settings import to_plain
from core.stage import ClipSource, RunGlobals, StageInput
from stages.adapt import evidence, ik_pass
from stages.adapt.settings import Settings
from stages.adapt.stage import STAGE, _adapted_sim, changed_frames
from stages.adapt.synthetic import perturbed, plausible

FPS = 30.0
SIM = {"mode": "track", "falls": 2, "falls_per_min": 3.5, "tracked_fraction": 0.8125, "mean_body_error_m": 0.07,
       "frames": 60}


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


def _no_simulation(*args, **kwargs):
    raise AssertionError("the simulation must not run here")


def test_raw_simulation_figures_come_from_the_simulate_stage(robot, tmp_path, monkeypatch):
    import stages.simulate.api as sim_api

    monkeypatch.setattr(sim_api, "simulate_motion", _no_simulation)
    motion = plausible(robot, 2.0, FPS)
    motion.save(tmp_path / "r.npz")
    src = ClipSource("r", str(tmp_path / "r.bvh"), "x", "bvh", "test", "CC0")
    inp = StageInput(src, RunGlobals(), {"retarget": tmp_path / "r.npz"}, {"simulate": SIM})
    summary = STAGE.run(inp, Settings(method="none")).summary
    raw = summary["raw"]
    assert raw["falls_per_min"] == 3.5 and raw["tracked_fraction"] == 0.8125 and raw["sim_falls"] == 2
    assert raw["simulation_source"] == "simulate stage" and summary["unchanged"] is True
    assert summary["adapted"] == raw and summary["adapted_fraction"] == 0.0
    # the simulate stage off (or the clip skipped before it): no simulation figures at all
    off = STAGE.run(StageInput(src, RunGlobals(), {"retarget": tmp_path / "r.npz"}, {"simulate": {"mode": "none"}}),
                    Settings(method="none")).summary
    assert "falls_per_min" not in off["raw"] and "tracked_fraction" not in off["adapted"]


def test_adapted_motion_is_simulated_only_where_it_differs_and_with_the_stage_settings(robot, monkeypatch):
    import stages.simulate.api as sim_api
    from stages.simulate.settings import Settings as SimSettings

    raw = plausible(robot, 2.0, FPS)
    raw_sim = evidence.sim_block(SIM, "simulate stage")
    monkeypatch.setattr(sim_api, "simulate_motion", _no_simulation)
    same = _adapted_sim(raw, robot, raw_sim, SIM, changed=False)
    assert same["falls_per_min"] == 3.5 and same["simulation_source"] == "same as raw"
    assert _adapted_sim(raw, robot, None, {}, changed=True) is None

    seen = []

    class Rollout:
        summary = {"falls": 0, "falls_per_min": 0.0, "tracked_fraction": 1.0, "mean_body_error_m": 0.02}

    def fake(motion, robot_, settings=None):
        seen.append(settings)
        return Rollout()

    monkeypatch.setattr(sim_api, "simulate_motion", fake)
    custom = dataclasses.replace(SimSettings(), mode=SimSettings().mode)
    plain = to_plain(custom)
    plain["model"]["friction"] = 0.7
    adapted = _adapted_sim(raw, robot, raw_sim, {**SIM, "settings": plain}, changed=True)
    assert adapted == {"falls_per_min": 0.0, "tracked_fraction": 1.0, "sim_falls": 0, "sim_mean_body_error_m": 0.02,
                       "simulation_source": "simulated here"}
    assert len(seen) == 1 and seen[0].model.friction == 0.7


def test_changed_frames_ignore_round_off_and_see_a_real_change(robot):
    raw = plausible(robot, 2.0, FPS)
    copy = dataclasses.replace(raw, dof_pos=raw.dof_pos + 1e-9, root_rot=-raw.root_rot)
    assert not changed_frames(raw, copy).any()
    dof = raw.dof_pos.copy()
    dof[10:20, 3] += 0.01
    moved = changed_frames(raw, dataclasses.replace(raw, dof_pos=dof))
    assert np.flatnonzero(moved).tolist() == list(range(10, 20))


def _own_keypoints(robot, motion) -> np.ndarray:
    """Human keypoints that are exactly the robot's task frames (scale 1): zero fidelity error."""
    tasks = robot.config.keypoint_tasks
    pos, _ = robot.forward_kinematics(motion.root_pos, motion.root_rot, motion.dof_pos, [t.frame for t in tasks])
    keypoints = np.zeros((motion.num_frames, len(KEYPOINT_NAMES), 3))
    for m, task in enumerate(tasks):
        keypoints[:, KEYPOINT_NAMES.index(task.human)] = pos[:, m]
    return keypoints


def test_fidelity_to_the_human_is_zero_on_the_human_and_grows_with_a_change(robot):
    motion = plausible(robot, 2.0, FPS)
    keypoints = _own_keypoints(robot, motion)
    exact = evidence.human_fidelity(motion, robot, keypoints, 1.0)
    assert exact["limb_error_deg"] < 1e-3 and exact["keypoint_error_m"] < 1e-6 and exact["root_path_error_m"] < 1e-9
    dof = motion.dof_pos.copy()
    knee = list(motion.dof_names).index("left_knee_joint")
    dof[:, knee] += 0.3                                      # 17 degrees at one knee
    pos = motion.root_pos.copy()
    pos[:, 0] += np.linspace(0.0, 0.2, motion.num_frames)    # the root drifts 20 cm forward
    bent = dataclasses.replace(motion, dof_pos=dof, root_pos=pos)
    off = evidence.human_fidelity(bent, robot, keypoints, 1.0)
    assert 0.5 < off["limb_error_deg"] < 17.2 and off["keypoint_error_m"] > 0.005
    assert off["root_path_error_m"] == pytest.approx(0.1, abs=0.005)


def test_totals_weight_by_frames_and_count_only_simulated_clips():
    blocks = [{"frames": 300, "zmp_outside_pct": 10.0, "falls_per_min": 2.0, "tracked_fraction": 0.5, "sim_falls": 1,
               "limb_error_deg": 4.0},
              {"frames": 100, "zmp_outside_pct": 0.0, "falls_per_min": 6.0, "tracked_fraction": 1.0, "sim_falls": 1,
               "limb_error_deg": 8.0},
              {"frames": 600, "zmp_outside_pct": 0.0}]
    total = evidence.totals(blocks)
    assert total["zmp_outside_pct"] == pytest.approx(3.0)
    assert total["simulated_clips"] == 2 and total["sim_falls"] == 2
    assert total["falls_per_min"] == pytest.approx(3.0) and total["tracked_fraction"] == pytest.approx(0.625)
    assert total["limb_error_deg"] == pytest.approx(5.0)


def test_fast_ik_pass_equals_a_fresh_solver_frame_by_frame(robot):
    """The kept solver, partial forward kinematics and batched targets change no number."""
    from scipy.spatial.transform import Rotation

    from core.contacts import spans_of
    from stages.retarget.ik import FrameTargets

    raw = perturbed(robot, 3.0, FPS, seed=3)
    T = raw.num_frames
    gate = np.zeros(T)
    gate[20:50] = 1.0
    gate[50:60] = np.linspace(1.0, 0.1, 10)
    rng = np.random.default_rng(0)
    dof = raw.dof_pos + 0.02 * rng.standard_normal(raw.dof_pos.shape)
    root = raw.root_pos + [0.01, 0.0, 0.0]
    fast = ik_pass.refine(robot, raw, root, raw.root_rot, dof, gate=gate)
    again = ik_pass.refine(robot, raw, root, raw.root_rot, dof, gate=gate)      # the kept solver, reset
    assert np.array_equal(fast, again)
    assert np.array_equal(fast[:20], np.concatenate([root, raw.root_rot, dof], axis=1)[:20])

    # the reference: a fresh solver, full-clip forward kinematics, targets frame by frame
    ik, frames, feet = ik_pass._new_ik(robot, 1)
    pos, quat = robot.forward_kinematics(root, raw.root_rot, dof, frames)
    rot = Rotation.from_quat(quat.reshape(-1, 4)).as_matrix().reshape(*quat.shape[:2], 3, 3)
    contacts = np.asarray(raw.contacts, bool)
    planted_pos, planted_rot = pos[:, feet].copy(), rot[:, feet].copy()
    for side in range(2):
        for a, b in spans_of(contacts[:, side]):
            planted_pos[a:b, side] = pos[a:b, feet[side]].mean(axis=0)
            planted_rot[a:b, side] = rot[(a + b) // 2, feet[side]]
    rot_w = np.zeros(len(frames))
    rot_w[[0, *feet]] = 0.3
    for t in np.flatnonzero(gate > 0):
        p, r, w, rw = pos[t].copy(), rot[t].copy(), np.ones(len(frames)), rot_w.copy()
        for side in range(2):
            if contacts[t, side]:
                k = feet[side]
                p[k] = p[k] + gate[t] * (planted_pos[t, side] - p[k])
                if gate[t] >= 0.5:
                    r[k] = planted_rot[t, side]
                w[k] = rw[k] = 10.0
        seed = np.concatenate([root[t], raw.root_rot[t], dof[t]])
        assert np.array_equal(fast[t], ik.solve_frame(seed, FrameTargets(p, r, w, rw), 1.0 / FPS)), t


def test_clip_table_carries_adaptation_and_simulation_figures(tmp_path):
    """The dataset's clip table holds the adapt / simulate figures of each clip, the reader reads them."""
    from core.stage import ClipOutcome
    from stages.dataset.reader import open_dataset
    from stages.dataset.schema import CLIP_FIGURE_KEYS
    from stages.dataset.stage import clip_inputs
    from stages.dataset.synthetic import random_motion
    from stages.dataset.writer import write_dataset

    raw = random_motion(90, seed=2)
    dof = raw.dof_pos.copy()
    dof[30:60] += 0.05                                            # the adapter changed a third of the frames
    adapted = dataclasses.replace(raw, dof_pos=dof)
    raw.save(tmp_path / "a.npz")
    adapted.save(tmp_path / "a_adapted.npz")
    raw.save(tmp_path / "b.npz")
    whole = {"verdict": "pass", "segments": [[0, 90]], "reasons": [], "num_frames": 90, "fps": raw.fps}
    filt = {"verdict": whole, "hard_verdict": whole, "dynamic_verdict": whole}
    block = {"zmp_outside_pct": 12.5, "torque_over_pct": 4.0, "falls_per_min": 2.0, "tracked_fraction": 0.9}
    better = {"zmp_outside_pct": 1.5, "torque_over_pct": 0.5, "falls_per_min": 0.0, "tracked_fraction": 1.0}
    adapt = {"method": "smap", "raw": block, "adapted": better, "dynamic_verdict": whole}
    src = [ClipSource(c, str(tmp_path / f"{c}.bvh"), c * 2, "bvh", "test", "CC0") for c in "ab"]
    outcomes = [ClipOutcome(src[0], "ok", {"retarget": tmp_path / "a.npz", "adapt": tmp_path / "a_adapted.npz"},
                            {"filter": filt, "adapt": adapt, "simulate": SIM}, {}),
                ClipOutcome(src[1], "ok", {"retarget": tmp_path / "b.npz"}, {"filter": filt, "simulate": SIM}, {})]
    write_dataset(tmp_path / "ds", clip_inputs(outcomes), progress=False)
    ds = open_dataset(tmp_path / "ds")
    a, b = (next(c for c in ds.clips if c["source_clip_id"] == k) for k in "ab")
    assert set(CLIP_FIGURE_KEYS) <= set(a)
    assert a["adapted_fraction"] == pytest.approx(1 / 3, abs=1e-5) and b["adapted_fraction"] == 0.0
    assert (a["zmp_outside_pct_raw"], a["zmp_outside_pct_adapted"]) == (12.5, 1.5)
    assert (a["falls_per_min_raw"], a["falls_per_min_adapted"], a["tracked_fraction_adapted"]) == (2.0, 0.0, 1.0)
    # without an adapt stage the raw simulation figures come from the simulate stage, the adapted ones are null
    assert (b["falls_per_min_raw"], b["tracked_fraction_raw"], b["falls_per_min_adapted"]) == (3.5, 0.8125, None)
    order = [c["source_clip_id"] for c in ds.clips]
    falls = ds.clip_figure("falls_per_min_adapted")
    assert falls[order.index("a")] == 0.0 and np.isnan(falls[order.index("b")])
    with pytest.raises(KeyError, match="unknown clip figure"):
        ds.clip_figure("falls")


def test_report_lists_the_clip_table_figures_most_adapted_first():
    from types import SimpleNamespace

    from viz.report.html import _dataset_figures

    figures = {"a@0-90": {"adapted_fraction": 0.25, "falls_per_min_raw": 4.0, "falls_per_min_adapted": 1.0},
               "b": {"adapted_fraction": 0.75, "tracked_fraction_raw": 0.5, "tracked_fraction_adapted": 0.9}}
    html = _dataset_figures(SimpleNamespace(entry_figures=figures))
    assert "Dataset clip table" in html and html.index(">b<") < html.index(">a@0-90<")
    assert "4 → 1" in html and "0.5 → 0.9" in html
    assert _dataset_figures(SimpleNamespace(entry_figures={})) == ""

"""The figures (stages/*/plot.py), the ``--plot`` CLI options and notebooks/walkthrough.ipynb.

Figures are drawn for a real LAFAN1 clip (../shared/data, cropped to 3 s); the
notebook's code cells are executed in order in a temporary folder, so it
cannot rot; its run also provides the dataset the dataset figures draw.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, require_shared

from core.records.verdict import Reason, Verdict

NOTEBOOK = REPO / "notebooks" / "walkthrough.ipynb"
CROP = (1200, 1290)          # frames of walk4_subject1 (3 s at 30 Hz): a walk with one torque-limited step


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def ink_fraction(path: Path) -> float:
    """Fraction of pixels that are not (near) white: a blank or empty figure has almost none."""
    import matplotlib.image

    rgb = matplotlib.image.imread(str(path))[..., :3]
    return float(np.mean(rgb.min(axis=-1) < 0.9))


@pytest.fixture(scope="module")
def robot():
    from core.robot import load_robot

    return load_robot("g1")


@pytest.fixture(scope="module")
def clip(robot):
    """(human crop, its retargeted motion, the filter outcome)."""
    from stages.filter.api import evaluate
    from stages.ingest.api import ingest_file
    from stages.retarget.api import retarget_motion

    human = ingest_file(require_shared("lafan1", "walk4_subject1.bvh"))
    a, b = CROP
    human = dataclasses.replace(human, positions=human.positions[a:b], rotations=human.rotations[a:b])
    motion = retarget_motion(human, robot)
    return human, motion, evaluate(motion, robot)


# -- retarget -----------------------------------------------------------------------------------------------------

def test_limb_direction_errors_reproduce_the_clip_metric(clip, robot):
    from stages.retarget.plot import limb_direction_errors

    human, motion, _ = clip
    names, err = limb_direction_errors(motion, human, robot)
    assert len(names) == 8 and err.shape == (motion.num_frames, 8)
    assert "left_hip->left_knee" in names and "right_elbow->right_wrist" in names
    assert err.mean() == pytest.approx(motion.metrics["limb_direction_error_deg"], abs=1e-6)
    assert np.percentile(err, 95) == pytest.approx(motion.metrics["limb_direction_error_p95_deg"], abs=1e-6)
    with pytest.raises(ValueError, match="frame counts differ"):
        limb_direction_errors(motion, dataclasses.replace(human, positions=human.positions[:-1]), robot)


def test_sole_heights_reproduce_contact_foot_height(clip, robot):
    from stages.retarget.plot import sole_heights

    _, motion, _ = clip
    soles = sole_heights(motion, robot)
    assert soles.shape == (motion.num_frames, 2)
    assert soles[motion.contacts].mean() == pytest.approx(motion.metrics["contact_foot_height_m"], abs=1e-9)
    # a walking foot in swing is higher than in stance, and never far below the floor
    for k in range(2):
        assert soles[~motion.contacts[:, k], k].mean() > soles[motion.contacts[:, k], k].mean()
    assert soles.min() > -0.01


def test_plot_retarget_writes_a_full_figure(clip, robot, tmp_path):
    from stages.retarget.plot import pick_joints, plot_retarget

    human, motion, _ = clip
    out = plot_retarget(motion, human, tmp_path / "sub" / "retarget.png", robot=robot)
    assert out == tmp_path / "sub" / "retarget.png"
    assert png_size(out) == (1400, 1100)
    assert ink_fraction(out) > 0.05
    # without the human motion, and with chosen joints and another dpi
    out2 = plot_retarget(motion, None, tmp_path / "no_human.png", robot=robot,
                         joints=["left_knee_joint", "right_knee_joint"], dpi=50)
    assert png_size(out2) == (700, 550)
    with pytest.raises(ValueError, match="unknown joint"):
        plot_retarget(motion, None, tmp_path / "bad.png", robot=robot, joints=["no_such_joint"])
    # the default joint panels are the joints closest to a limit
    lower, upper = np.asarray(robot.lower), np.asarray(robot.upper)
    picked = pick_joints(motion, lower, upper)
    margin = np.minimum(motion.dof_pos - lower, upper - motion.dof_pos).min(axis=0) / (upper - lower)
    others = np.setdiff1d(np.arange(len(lower)), picked)
    assert len(picked) == 6 and margin[picked].max() <= margin[others].min()


def test_plot_human(clip, tmp_path):
    from stages.retarget.plot import plot_human

    human, _, _ = clip
    out = plot_human(human, tmp_path / "human.png")
    assert png_size(out) == (1400, 700)
    assert ink_fraction(out) > 0.02


# -- filter -------------------------------------------------------------------------------------------------------

def test_plot_verdict_rows_grow_with_reasons(clip, tmp_path):
    from stages.filter.plot import figure_size, plot_verdict, reason_label

    _, motion, outcome = clip
    verdict = outcome.verdict
    assert verdict.num_frames == motion.num_frames
    rows = max(1, len(verdict.reasons))
    out = plot_verdict(verdict, motion, tmp_path / "verdict.png")
    assert png_size(out) == (1400, round(100 * (3.0 + 0.5 * rows + 2.2)))
    assert ink_fraction(out) > 0.02
    # a rejected clip with three reasons and no motion: three rows, no context panel
    rejected = Verdict("reject", [], [Reason("floating", [(46, 108)], 1.55, 0.15, "s"),
                                      Reason("flight_momentum", [(54, 100)], 2.45, 1.0, "x tolerance"),
                                      Reason("too_short", [], 0.5, 1.0, "s")], num_frames=166, fps=30.0)
    out2 = plot_verdict(rejected, None, tmp_path / "reject.png")
    assert png_size(out2) == (1400, 450)
    assert figure_size(rejected, False) == (14.0, 4.5)
    assert reason_label(rejected.reasons[0]) == "floating\nworst 1.55 vs 0.15 s"


# -- command line -------------------------------------------------------------------------------------------------

def test_cli_plot_options(clip, tmp_path, capsys):
    from pipeline.cli import main

    human, _, _ = clip
    human_npz = tmp_path / "walk_crop_human.npz"
    human.save(human_npz)
    robot_npz, retarget_png, filter_png = tmp_path / "walk.npz", tmp_path / "r.png", tmp_path / "f.png"
    assert main(["retarget-clip", str(human_npz), "--out", str(robot_npz), "--plot", str(retarget_png)]) == 0
    assert png_size(retarget_png) == (1400, 1100)
    capsys.readouterr()
    assert main(["filter-clip", str(robot_npz), "--plot", str(filter_png)]) == 0
    printed = json.loads(capsys.readouterr().out)
    rows = max(1, len(printed["reasons"]))
    assert png_size(filter_png) == (1400, round(100 * (3.0 + 0.5 * rows + 2.2)))
    # without --plot no figure is written
    assert main(["filter-clip", str(robot_npz)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["f.png", "r.png"]


# -- the notebook, and the dataset it writes ------------------------------------------------------------------------

def _code_cells(notebook: dict) -> list[dict]:
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def test_notebook_is_valid_nbformat4():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] >= 5
    assert nb["metadata"]["kernelspec"]["language"] == "python"
    ids = [c["id"] for c in nb["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["source"], list)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None   # stored without outputs
    assert sum("parameters" in c["metadata"].get("tags", []) for c in _code_cells(nb)) == 1


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory):
    """Every code cell of the notebook, in order, in a fresh folder; returns its namespace.

    The parameters cell is overridden to take two demo clips besides the
    followed clip (the whole demo corpus adds minutes of nothing new).
    """
    import os

    work = tmp_path_factory.mktemp("notebook")
    nb = json.loads(NOTEBOOK.read_text())
    namespace: dict = {"__name__": "__walkthrough__"}
    overrides = {"DEMO_INCLUDE": ["**/walk_slow*", "**/infeasible_floating*"], "WORK": work / "walkthrough_out"}
    previous = Path.cwd()
    os.chdir(work)
    try:
        for cell in _code_cells(nb):
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}:{cell['id']}", "exec"), namespace)
            if "parameters" in cell["metadata"].get("tags", []):
                namespace.update(overrides)
    finally:
        os.chdir(previous)
    return namespace


def test_notebook_follows_one_clip_to_the_shards(notebook_run):
    from core.records.human_motion import HumanMotion
    from core.records.robot_motion import RobotMotion
    from core.records.verdict import Verdict as VerdictType
    from stages.dataset.reader import MotionDataset

    ns = notebook_run
    human, motion, verdict, ds = ns["human"], ns["motion"], ns["verdict"], ns["ds"]
    assert isinstance(human, HumanMotion) and isinstance(motion, RobotMotion) and isinstance(verdict, VerdictType)
    assert motion.num_frames == human.num_frames == verdict.num_frames >= 60
    assert motion.metrics["limb_direction_error_deg"] < 10.0
    # the run: the followed clip went through every stage and is stored, with its source frames
    assert ns["result"].stages == ["ingest", "retarget", "filter", "simulate", "adapt_model", "adapt", "dataset"]
    states = {s.clip.clip_id: s.status for s in ns["result"].clips}
    assert states[ns["clip_id"]] == "ok"
    assert isinstance(ds, MotionDataset) and ns["entries"]
    assert all(ds.clips[i]["source_clip_id"] == ns["clip_id"] for i in ns["entries"])
    assert ns["entry"] in ns["entries"]
    # a 2 s window at 50 Hz, inside the clip
    window = ns["window"]
    assert ns["dt"] == pytest.approx(0.02)
    assert window["dof_pos"].shape == (100, len(ds.dof_names)) and window["valid"].all()
    # the sampler's picks and the batch built from them
    picks, train = ns["picks"], ns["train"]
    assert picks.shape == (4096,) and picks.min() >= 0 and picks.max() < len(train)
    assert ns["batch"]["dof_pos"].shape == (16, 50, len(ds.dof_names))
    for name, size in (("1_human", (1400, 700)), ("2_retarget", (1400, 1100)), ("4_dataset", (1400, 900)),
                       ("5_window", (1400, 700)), ("6_sampler", (1400, 500))):
        assert png_size(ns["FIGURES"] / f"{name}.png") == size, name
    assert png_size(ns["FIGURES"] / "3_verdict.png")[0] == 1400


def test_plot_dataset_and_window_on_the_notebooks_dataset(notebook_run, tmp_path):
    from stages.dataset.plot import plot_dataset, plot_sampler_picks, plot_window

    ds = notebook_run["ds"]
    out = plot_dataset(ds.path, tmp_path / "dataset.png")                  # a folder path works as well
    assert png_size(out) == (1400, 900) and ink_fraction(out) > 0.02
    # a window running past the end of the shortest entry: drawn, with invalid frames
    shortest = int(np.argmin(ds.clip_frames))
    t0 = ds.clip_duration(shortest) - 0.5
    window = ds.window(shortest, t0, 50, 0.02)
    assert (~window["valid"]).sum() > 0
    out2 = plot_window(ds, shortest, t0, 50, 0.02, tmp_path / "window.png", joints=["left_knee_joint"])
    assert png_size(out2) == (1400, 700)
    with pytest.raises(ValueError, match="unknown joint"):
        plot_window(ds, shortest, 0.0, 10, 0.02, tmp_path / "bad.png", joints=["no_such_joint"])
    out3 = plot_sampler_picks(np.full(4, 0.25), np.array([0, 1, 1, 3]), None, tmp_path / "picks.png", dpi=50)
    assert png_size(out3) == (700, 250)

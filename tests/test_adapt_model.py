"""The SMAP adapter on constructed data: it removes what a robot cannot do, keeps the rest,
trains deterministically, resumes after a stop, and refuses bad model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.robot import load_robot
from stages.adapt.apply import Bundle, adapt_motion
from stages.adapt.data import Segment
from stages.adapt.evidence import measure
from stages.adapt.features import motion_features
from stages.adapt.settings import Settings
from stages.adapt.stage import net_config
from stages.adapt.synthetic import perturbed, plausible
from stages.adapt.train import CHECKPOINT, load_model, save_model, train

GAITS = ((0.7, 0.0), (0.8, 1.0), (0.9, 2.0))


@pytest.fixture(scope="module")
def robot():
    return load_robot("g1")


@pytest.fixture(scope="module")
def domains(robot):
    clean = [plausible(robot, 8.0, 30.0, hz, ph) for hz, ph in GAITS]
    noisy = [perturbed(robot, 8.0, 30.0, hz, ph, seed=i) for i, (hz, ph) in enumerate(GAITS)]
    human = [Segment(motion_features(m), "retarget", f"h{i}") for i, m in enumerate(noisy)]
    plaus = [Segment(motion_features(m), "passing", f"r{i}") for i, m in enumerate(clean)]
    return human, plaus


def _train(domains, tmp: Path, settings: Settings, stop_after=None):
    human, plaus = domains
    cfg = net_config(settings, human[0].features.shape[1], 30.0)
    return train(human, plaus, cfg, settings, 0, tmp, stop_after=stop_after)


@pytest.fixture(scope="module")
def model_dir(domains, robot, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("adapter")
    model, curves = _train(domains, folder / "work", Settings(steps=160))
    save_model(folder / "model", model, curves, {"fps": 30.0, "dof_names": list(robot.dof_names),
                                                 "link_names": list(robot.config.key_links)})
    return folder / "model"


def _knee_minima(motion, robot) -> np.ndarray:
    knee = motion.dof_pos[:, list(robot.dof_names).index("left_knee_joint")]
    return np.flatnonzero((knee[1:-1] < knee[:-2]) & (knee[1:-1] <= knee[2:]) & (knee[1:-1] < np.median(knee))) + 1


def test_adapter_removes_sway_and_jitter_and_keeps_phase_and_stride(model_dir, robot):
    clean = plausible(robot, 8.0, 30.0, 0.75, 0.5)
    human = perturbed(robot, 8.0, 30.0, 0.75, 0.5, seed=7)                 # a gait not seen in training
    adapted = adapt_motion(human, Bundle.load(model_dir), robot, Settings()).motion
    raw, out = measure(human, human, robot, simulate=False), measure(adapted, human, robot, simulate=False)
    assert raw["zmp_outside_pct"] > 50 and out["zmp_outside_pct"] < 0.5 * raw["zmp_outside_pct"]
    assert out["foot_slide_cm_s"] < 0.2 * raw["foot_slide_cm_s"]
    assert out["jerk_rad_s3"] < 0.2 * raw["jerk_rad_s3"]
    assert out["limb_change_deg"] < 7.0
    assert out["ground_penetration_pct"] <= raw["ground_penetration_pct"]
    assert out["joint_limit_pct"] <= raw["joint_limit_pct"]
    # phase: the squat cycle's lowest points stay where the clean motion has them (+-2 frames);
    # stride: the cycle length within 5 %
    ref, got = _knee_minima(clean, robot), _knee_minima(adapted, robot)
    assert len(got) == len(ref) >= 5
    assert np.abs(got - ref).max() <= 2
    assert abs(np.diff(got).mean() / np.diff(ref).mean() - 1.0) <= 0.05
    assert np.array_equal(adapted.contacts, human.contacts) and adapted.num_frames == human.num_frames
    # the network's own part: without its change (bound 0: balance, planted feet and smoothing
    # only) the injected jitter stays, about 4 times the jerk left with it
    ablated = adapt_motion(human, Bundle.load(model_dir), robot, Settings(max_change_rad=0.0)).motion
    assert out["jerk_rad_s3"] < 0.5 * measure(ablated, human, robot, simulate=False)["jerk_rad_s3"]


def test_gate_leaves_the_raw_motion_exactly_where_it_is_closed(model_dir, robot):
    """Gated to the first 2 s of an 8 s clip: from 1 s after the gate has closed (its fade and
    the balance step's margin) the adapted motion is the raw one to the bit (not the float32
    features' round trip), so the guard checks only what changed."""
    human = perturbed(robot, 8.0, 30.0, 0.75, 0.5, seed=7)
    fail = np.zeros(human.num_frames, dtype=bool)
    fail[:60] = True
    adapted = adapt_motion(human, Bundle.load(model_dir), robot, Settings(), fail).motion
    late = slice(60 + 15 + 15 + 30 + 1, None)      # gate pad 0.5 s, its fade 0.5 s, the balance margin 1 s
    assert np.array_equal(adapted.dof_pos[late], human.dof_pos[late])
    assert np.array_equal(adapted.root_pos[late], human.root_pos[late])
    assert np.abs(adapted.dof_pos[:60] - human.dof_pos[:60]).max() > 1e-3      # and it adapts where it is open


def test_training_is_deterministic_and_resumes_after_a_stop(domains, tmp_path):
    tiny = Settings(steps=12, batch=8, hidden=16, checkpoint_every=4, log_every=4)
    a, _ = _train(domains, tmp_path / "a", tiny)
    b, _ = _train(domains, tmp_path / "b", tiny)
    _, partial = _train(domains, tmp_path / "c", tiny, stop_after=6)          # "killed" after step 6
    assert not partial["finished"] and (tmp_path / "c" / CHECKPOINT).is_file()
    c, resumed = _train(domains, tmp_path / "c", tiny)                          # resumes from step 4
    assert resumed["finished"] and resumed["step"][-1] == 12
    for (name, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(x, y), name
        assert torch.equal(x, z), name


def test_bad_model_files_give_a_clear_error(model_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError) as err:
        load_model(broken)
    assert err.value.code == "bad_checkpoint" and "model.pt" in str(err.value)
    torch.save({"model": {}, "hook": Settings()}, broken / "model.pt")          # an arbitrary object
    with pytest.raises(InputError) as err:                                    # refuses to unpickle objects
        load_model(broken)
    assert err.value.code == "bad_checkpoint"
    with pytest.raises(InputError) as err:
        load_model(tmp_path / "nowhere")
    assert err.value.code == "missing_model"


def test_curves_beside_the_model(model_dir):
    import json

    curves = json.loads((model_dir / "curves.json").read_text())
    for key in ("recon_human", "recon_robot", "vq_loss", "codebook_usage", "perplexity", "dead_codes"):
        assert len(curves[key]) == len(curves["step"]) >= 5, key
    assert curves["recon_robot"][-1] < curves["recon_robot"][0]
    assert 1.0 <= curves["perplexity"][-1] <= 32.0
    assert (model_dir / "curves.png").stat().st_size > 10_000


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from core.robot import load_robot
from stages.adapt.data import Segment
from stages.adapt.features import motion_features
from stages.adapt.settings import Settings
from stages.adapt.stage import net_config
from stages.adapt.synthetic import perturbed, plausible
from stages.adapt.train import train
robot = load_robot("g1")
human = [Segment(motion_features(perturbed(robot, 4.0, 30.0, 0.8, 0.0)), "retarget", "h")]
plaus = [Segment(motion_features(plausible(robot, 4.0, 30.0, 0.8, 0.0)), "passing", "r")]
s = Settings(steps=400, batch=4, hidden=8, phase_channels=2, code_dim=4, checkpoint_every=10, log_every=10)
model, _ = train(human, plaus, net_config(s, human[0].features.shape[1], 30.0), s, 0, Path(sys.argv[1]))
import torch
torch.save(model.state_dict(), Path(sys.argv[1]) / "final.pt")
"""


def test_training_resumes_after_a_kill(tmp_path):
    """A training process killed (SIGKILL) after a checkpoint continues from it and ends with the
    weights of an uninterrupted run."""
    import subprocess
    import sys
    import time

    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(repo=str(Path(__file__).resolve().parents[1])))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(killed)])
    deadline = time.time() + 120
    while not (killed / CHECKPOINT).is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert (killed / CHECKPOINT).is_file() and not (killed / "final.pt").exists()
    step = torch.load(killed / CHECKPOINT, weights_only=True)["step"]
    assert 0 < step < 400
    subprocess.run([sys.executable, str(script), str(killed)], check=True, timeout=300)
    subprocess.run([sys.executable, str(script), str(tmp_path / "whole")], check=True, timeout=300)
    a = torch.load(killed / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "whole" / "final.pt", weights_only=True)
    for name in b:
        assert torch.equal(a[name], b[name]), name

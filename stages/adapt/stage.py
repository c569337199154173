"""The adapt stages: ``adapt_model`` (corpus node: trains the SMAP adapter) and ``adapt``
(clip stage: applies it).

``adapt_model`` gathers the human side (every clip's raw retarget) and the robot side
(:mod:`stages.adapt.data`), trains (:mod:`stages.adapt.train`) and writes the model folder
(model.pt, meta.json with sources and frames per source, curves.json, curves.png). The
DAG keys the node by the clips' artifacts, the settings and this code's version, so a
second run reuses the model; checkpoints live in ``OUT/.adapt_checkpoints/<key>/`` so a
killed training resumes where it stopped.

``adapt`` reads the retarget artifact and the model (``StageInput.corpus``), writes the
adapted motion as a RobotMotion .npz (extras ``adapt_code``, ``adapt_change_rad``) and
judges the dynamic filter checks on it; the summary has ``raw`` and ``adapted`` evidence
blocks (:mod:`stages.adapt.evidence`), ``dynamic_verdict`` (of the adapted motion),
``adapted_fraction`` (share of frames the adaptation changed) and ``unchanged`` (the gate
left the whole clip raw). Simulation figures (``evidence_sim``): the raw block takes the
simulate stage's own rollout of the raw retarget (its summary in ``StageInput``; nothing is
simulated twice); the adapted motion is simulated here with the simulate stage's settings
(recorded in its summary) only where it differs from raw, else it takes the raw figures.
With ``method: none`` (the ablation) the raw motion passes through.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.hashing import sha256_json
from core.settings import to_plain
from core.stage import ClipOutcome, ClipStage, CorpusStage, RunGlobals, StageInput, StageResult
from stages.adapt.settings import Settings, kernel_frames, window_frames

if TYPE_CHECKING:
    from core.records.robot_motion import RobotMotion
    from core.robot import Robot
    from stages.adapt.apply import Bundle
    from stages.adapt.model import NetConfig

__all__ = ["Settings", "STAGE", "TRAIN_STAGE", "train_run", "run"]

TRAIN_VERSION = "1"
APPLY_VERSION = "1"


def net_config(settings: Settings, features: int, fps: float) -> NetConfig:
    from stages.adapt.model import NetConfig

    return NetConfig(features=features, window=window_frames(settings, fps), fps=float(fps), hidden=settings.hidden,
                     phase_channels=settings.phase_channels, kernel=kernel_frames(settings, fps),
                     code_dim=settings.code_dim, codebook_size=settings.codebook_size, commitment=settings.commitment,
                     ema_decay=settings.ema_decay, kmeans_init=settings.kmeans_init,
                     dead_code_threshold=settings.dead_code_threshold)


def train_model(clips: list[ClipOutcome], settings: Settings, globals: RunGlobals, model_dir: Path,
                work_root: Path, progress: bool = False, stop_after: int | None = None) -> dict[str, Any]:
    """Gather, train (resuming from ``work_root/<key>/``) and write the model to ``model_dir``."""
    from core.errors import InputError
    from core.robot import load_robot
    from stages.adapt.data import frames_per_source, gather
    from stages.adapt.train import save_model, train

    robot = load_robot(globals.robot)
    fps = float(globals.fps)
    window = window_frames(settings, fps)
    seed = settings.seed or globals.seed
    human, robot_side, notes = gather(clips, settings, robot, fps, max(2, window // 2))
    robot_frames = sum(s.frames for s in robot_side)
    if not human:
        raise InputError(None, "no_training_data", "no clip has a retarget artifact to train the adapter on")
    if robot_frames < settings.min_robot_frames:
        raise InputError(None, "no_robot_data", f"only {robot_frames} robot-side frames (physically plausible "
                         f"motion); need {settings.min_robot_frames}")
    cfg = net_config(settings, human[0].features.shape[1], fps)
    key = sha256_json({"settings": to_plain(settings), "seed": seed, "version": TRAIN_VERSION, "robot": globals.robot,
                       "fps": fps, "human": [s.identity for s in human], "robot_side": [s.identity for s in robot_side]})
    work = work_root / key[:24]
    model, curves = train(human, robot_side, cfg, settings, seed, work, progress, stop_after)
    if not curves["finished"]:
        return {"finished": False, "key": key}
    meta = {"key": key, "robot": robot.name, "fps": fps, "dof_names": list(robot.dof_names),
            "link_names": list(robot.config.key_links), "seed": seed,
            "sources": {"human": frames_per_source(human), "robot": frames_per_source(robot_side)},
            "windows": curves["windows"], "notes": notes[:20], "quantizer": "vector_quantize_pytorch.VectorQuantize "
            "(EMA, k-means init, dead-code expiry)"}
    save_model(model_dir, model, curves, meta)
    shutil.rmtree(work, ignore_errors=True)
    last = {k: curves[k][-1] for k in ("recon_human", "recon_robot", "vq_loss", "perplexity", "dead_codes",
                                       "codebook_usage") if curves.get(k)}
    return {"finished": True, "key": key, "sources": meta["sources"], "windows": curves["windows"],
            "train_s": curves["train_s_this_call"], "final": last, "notes": notes[:20]}


def train_run(clips: list[ClipOutcome], settings: Settings, globals: RunGlobals, out_dir: Path) -> dict[str, Any]:
    """Corpus node ``adapt_model``: the trained model in ``out_dir`` (nothing for ``method: none``)."""
    if settings.method == "none":
        (out_dir / "NONE").write_text("adapt: none (ablation): no model trained\n")
        return {"method": "none"}
    summary = train_model(clips, settings, globals, out_dir, out_dir.parent / ".adapt_checkpoints")
    return {"method": settings.method, **summary}


def _extras(arrays: dict[str, np.ndarray], code: np.ndarray, change: np.ndarray) -> dict[str, np.ndarray]:
    return {**arrays, "adapt_code": np.asarray(code, np.int64), "adapt_change_rad": np.asarray(change, np.float64)}


def run(inp: StageInput, settings: Settings) -> StageResult:
    """Adapt one clip (``inp.upstream["retarget"]``) with the model of ``inp.corpus["adapt_model"]``."""
    from core.errors import InputError
    from core.records.robot_motion import RobotMotion
    from core.robot import load_robot
    from stages.adapt.evidence import measure, sim_block

    path = inp.upstream["retarget"]
    raw = RobotMotion.load(path)
    robot = load_robot(inp.globals.robot)
    sim_summary = inp.upstream_summary.get("simulate") or {}
    raw_sim = sim_block(sim_summary, "simulate stage") if settings.evidence_sim else None
    human = _human(inp.upstream.get("ingest"), raw)
    raw_block = measure(raw, raw, robot, simulate=False, simulation=raw_sim, human=human)
    if settings.method == "none":
        arrays, meta = raw.to_arrays()
        T = raw.num_frames
        return StageResult(arrays=_extras(arrays, np.full(T, -1), np.zeros(T)), meta=meta,
                           summary={"method": "none", "raw": raw_block, "adapted": raw_block,
                                    "adapted_fraction": 0.0, "unchanged": True})
    model_dir = inp.corpus.get("adapt_model")
    if model_dir is None:
        raise InputError(path, "missing_model", "the adapt stage needs the adapt_model node's output")
    from stages.adapt.apply import adapt_motion
    from stages.filter.api import dynamic_verdict

    bundle = _bundle(Path(model_dir))
    raw_dynamic = _dynamic_failures(inp.upstream.get("filter"), raw.num_frames)
    fail = None if raw_dynamic is None else np.logical_or.reduce([np.zeros(raw.num_frames, dtype=bool),
                                                                  *raw_dynamic.values()])
    try:
        adapted = adapt_motion(raw, bundle, robot, settings, fail, raw_dynamic)
    except InputError as exc:
        raise InputError(path, exc.code, exc.message) from None
    verdict, dynamic = dynamic_verdict(adapted.motion, robot)        # judged once: the verdict and the evidence
    arrays, meta = adapted.motion.to_arrays()
    from stages.adapt.data import split_of

    changed = changed_frames(raw, adapted.motion)
    summary = {"method": settings.method, "model_key": bundle.meta.get("key"),
               "split": split_of(inp.clip, settings),
               "raw": raw_block,
               "adapted": measure(adapted.motion, raw, robot, simulate=False, human=human, dynamic=dynamic,
                                  simulation=_adapted_sim(adapted.motion, robot, raw_sim, sim_summary, bool(changed.any()))),
               "adapted_fraction": round(float(changed.mean()) if changed.size else 0.0, 5),
               "unchanged": not bool(changed.any()),
               "dynamic_verdict": verdict.to_json(),
               "change_rad_rms": round(float(np.sqrt(np.mean(adapted.change_rad ** 2))), 5),
               "codes_used": int(len(np.unique(adapted.code)))}
    return StageResult(arrays=_extras(arrays, adapted.code, adapted.change_rad), meta=meta, summary=summary)


#: a frame counts as changed by the adaptation beyond these (float round-off of the gate's blend is below)
CHANGE_TOLERANCE_RAD = 1e-6
CHANGE_TOLERANCE_M = 1e-6


def changed_frames(raw: RobotMotion, adapted: RobotMotion) -> np.ndarray:
    """(T,) frames where ``adapted`` differs from ``raw``: a joint angle by more than
    ``CHANGE_TOLERANCE_RAD``, the root position by more than ``CHANGE_TOLERANCE_M`` or its
    orientation by more than ``CHANGE_TOLERANCE_RAD`` (rad, either quaternion sign)."""
    dof = np.abs(np.asarray(adapted.dof_pos) - np.asarray(raw.dof_pos)).max(axis=1) > CHANGE_TOLERANCE_RAD
    pos = np.linalg.norm(np.asarray(adapted.root_pos) - np.asarray(raw.root_pos), axis=1) > CHANGE_TOLERANCE_M
    dot = np.abs(np.sum(np.asarray(adapted.root_rot) * np.asarray(raw.root_rot), axis=1))
    rot = 2.0 * np.arccos(np.clip(dot, -1.0, 1.0)) > CHANGE_TOLERANCE_RAD
    return dof | pos | rot


def _human(ingest_artifact: Path | None, raw: RobotMotion) -> tuple[np.ndarray, float] | None:
    """(human keypoints (T, K, 3), root scale) of the clip for the fidelity-to-the-human figures;
    None without an ingest artifact, a root scale in the retarget's metrics or equal frame counts."""
    scale = raw.metrics.get("root_scale")
    if ingest_artifact is None or scale is None or not np.isfinite(float(scale)):
        return None
    from core.records.human_motion import HumanMotion

    keypoints = HumanMotion.load(ingest_artifact).keypoint_positions()
    return (keypoints, float(scale)) if keypoints.shape[0] == raw.num_frames else None


def _adapted_sim(motion: RobotMotion, robot: Robot, raw_sim: dict[str, Any] | None, sim_summary: dict[str, Any],
                 changed: bool) -> dict[str, Any] | None:
    """Simulation figures of the adapted motion: none when the raw motion was not simulated,
    the raw ones when the adaptation changed nothing, else a rollout with the simulate stage's
    settings (its summary's ``settings``; defaults when it has none)."""
    if raw_sim is None:
        return None
    if not changed:
        return {**raw_sim, "simulation_source": "same as raw"}
    from core.settings import build
    from stages.adapt.evidence import simulation_figures
    from stages.simulate.settings import Settings as SimSettings

    sim_settings = build(SimSettings, sim_summary["settings"]) if isinstance(sim_summary.get("settings"), dict) \
        else SimSettings()
    return simulation_figures(motion, robot, sim_settings)


def _dynamic_failures(filter_artifact: Path | None, num_frames: int) -> dict[str, np.ndarray] | None:
    """Code -> (T,) frames where the filter found that dynamic check failing on the raw motion
    (its ``fail_<code>`` arrays; a check it did not record is left out), None when there is no
    filter artifact to read."""
    if filter_artifact is None:
        return None
    from core.npzio import load_npz
    from stages.filter.checks import DYNAMIC

    arrays, _ = load_npz(filter_artifact)
    out = {}
    for code in DYNAMIC:
        mask = arrays.get(f"fail_{code}")
        if mask is not None and mask.shape == (num_frames,):
            out[code] = mask.astype(bool)
    return out


_CACHE: dict[tuple[str, float], Any] = {}


def _bundle(model_dir: Path) -> Bundle:
    """The model of ``model_dir``, loaded once per process (keyed by path and file time)."""
    from stages.adapt.apply import Bundle
    from stages.adapt.train import MODEL_FILE

    stamp = (model_dir / MODEL_FILE).stat().st_mtime if (model_dir / MODEL_FILE).exists() else 0.0
    key = (str(model_dir.resolve()), stamp)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = Bundle.load(model_dir)
    return _CACHE[key]


TRAIN_STAGE = CorpusStage(name="adapt_model", version=TRAIN_VERSION, settings_type=Settings, run=train_run,
                          needs=("retarget", "filter"))
STAGE = ClipStage(name="adapt", version=APPLY_VERSION, settings_type=Settings, run=run)


def model_info(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / "meta.json").read_text())

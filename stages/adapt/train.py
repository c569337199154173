"""Training the adapter: windows of both domains, reconstruction + VQ loss, checkpoints, curves.

``train(human, robot, cfg, settings, work_dir)`` is resumable: every
``checkpoint_every`` steps the weights, optimiser and torch RNG state go to
``work_dir/checkpoint.pt`` (atomically); a new call with the same ``work_dir``
continues from there. Batches are drawn with ``numpy.random.default_rng([seed,
step])``, the learning rate is a function of the step, so a resumed run gives
the same weights as an uninterrupted one (CPU, same thread count).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import InputError
from stages.adapt.data import Segment
from stages.adapt.model import Adapter, NetConfig
from stages.adapt.settings import Settings

MODEL_FILE = "model.pt"
META_FILE = "meta.json"
CURVES_JSON = "curves.json"
CURVES_PNG = "curves.png"
CHECKPOINT = "checkpoint.pt"


class Windows:
    """Every window of a domain's segments: frames concatenated, (N, W) frame indices
    (centred on every ``stride``-th frame, indices clamped to the segment, as DeepPhase)."""

    def __init__(self, segments: list[Segment], window: int, stride: int):
        self.frames = np.concatenate([s.features for s in segments], axis=0).astype(np.float32)
        half = window // 2
        rows, start = [], 0
        offsets = np.arange(-half, half + 1)
        for s in segments:
            centres = np.arange(0, s.frames, stride)
            rows.append(start + np.clip(centres[:, None] + offsets, 0, s.frames - 1))
            start += s.frames
        self.index = np.concatenate(rows, axis=0)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def batch(self, rows: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
        x = (self.frames[self.index[rows]] - mean) / std                 # (B, W, F)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))


def normalisation(human: Windows, robot: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Shared z-score (mean, std per feature) over the frames of both domains (std >= 1e-2)."""
    frames = np.concatenate([human.frames, robot.frames], axis=0).astype(np.float64)
    return frames.mean(axis=0).astype(np.float32), np.maximum(frames.std(axis=0), 1e-2).astype(np.float32)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _save_torch(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _usage(codes: np.ndarray, size: int) -> tuple[float, float, int]:
    counts = np.bincount(codes, minlength=size).astype(np.float64)
    p = counts / max(counts.sum(), 1.0)
    nz = p[p > 0]
    return float((counts > 0).mean()), float(np.exp(-(nz * np.log(nz)).sum())), int((counts == 0).sum())


def train(human: list[Segment], robot: list[Segment], cfg: NetConfig, settings: Settings, seed: int,
          work_dir: Path, progress: bool = False, stop_after: int | None = None) -> tuple[Adapter, dict[str, Any]]:
    """Train (or resume training) the adapter; returns it and the curves.

    ``stop_after``: return after this many steps of this call (tests simulate a kill).
    """
    from tqdm.auto import tqdm

    work_dir.mkdir(parents=True, exist_ok=True)
    hw = Windows(human, cfg.window, settings.window_stride)
    rw = Windows(robot, cfg.window, settings.window_stride)
    mean, std = normalisation(hw, rw)
    dev = device()
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(seed)
    model = Adapter(cfg).to(dev)
    model.robot.load_state_dict(model.human.state_dict())      # same start: the domains differ by data only
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    curves: dict[str, list[float]] = {k: [] for k in ("step", "recon_human", "recon_robot", "vq_loss",
                                                     "codebook_usage", "perplexity", "dead_codes")}
    start = 0
    ckpt = work_dir / CHECKPOINT
    if ckpt.is_file():
        state = load_checkpoint(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start = int(state["step"])
        curves = json.loads((work_dir / CURVES_JSON).read_text()) if (work_dir / CURVES_JSON).is_file() else curves
    model.train()
    acc = {"recon_human": 0.0, "recon_robot": 0.0, "vq_loss": 0.0}
    codes: list[np.ndarray] = []
    n_acc = 0
    began = time.perf_counter()
    done_here = 0
    bar = tqdm(total=settings.steps, initial=start, desc="adapt train", unit="step", disable=not progress, leave=False)
    for step in range(start, settings.steps):
        rng = np.random.default_rng([seed, step])
        xh = hw.batch(rng.integers(0, len(hw), settings.batch), mean, std).to(dev)
        xr = rw.batch(rng.integers(0, len(rw), settings.batch), mean, std).to(dev)
        lr = settings.lr * 0.5 * (1.0 + math.cos(math.pi * step / settings.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        yh, lh, vh = model.reconstruct("human", xh)
        yr, lr_, vr = model.reconstruct("robot", xr)
        rec_h = torch.mean((yh - xh) ** 2)
        rec_r = torch.mean((yr - xr) ** 2)
        loss = rec_h + rec_r + vh + vr
        if settings.cross_weight > 0:
            # plausible motion seen through the human encoder: both decoders give it back, so the
            # human -> robot transfer is the identity on motion that needs no adaptation
            lat = model.human.encode(xr, model.vq)
            cross = torch.mean((model.robot.decode(lat) - xr) ** 2) + torch.mean((model.human.decode(lat) - xr) ** 2)
            loss = loss + settings.cross_weight * (cross + lat.vq_loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc["recon_human"] += float(rec_h.detach())
        acc["recon_robot"] += float(rec_r.detach())
        acc["vq_loss"] += float((vh + vr).detach())
        codes.append(torch.cat([lh.code, lr_.code]).cpu().numpy())
        n_acc += 1
        bar.update(1)
        if (step + 1) % settings.log_every == 0 or step + 1 == settings.steps:
            usage, perplexity, dead = _usage(np.concatenate(codes), cfg.codebook_size)
            curves["step"].append(step + 1)
            for k in acc:
                curves[k].append(round(acc[k] / n_acc, 6))
            curves["codebook_usage"].append(round(usage, 4))
            curves["perplexity"].append(round(perplexity, 4))
            curves["dead_codes"].append(dead)
            acc = dict.fromkeys(acc, 0.0)
            codes, n_acc = [], 0
        if (step + 1) % settings.checkpoint_every == 0 and step + 1 < settings.steps:
            (work_dir / CURVES_JSON).write_text(json.dumps(curves))
            _save_torch({"step": step + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                         "torch_rng": torch.get_rng_state()}, ckpt)
        done_here += 1
        if stop_after is not None and done_here >= stop_after:
            break
    bar.close()
    curves_out: dict[str, Any] = dict(curves)
    curves_out["train_s_this_call"] = round(time.perf_counter() - began, 3)
    curves_out["finished"] = step + 1 >= settings.steps if settings.steps > start else True
    curves_out["norm"] = {"mean": mean.tolist(), "std": std.tolist()}
    curves_out["windows"] = {"human": len(hw), "robot": len(rw)}
    return model, curves_out


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint or model file, read with ``weights_only=True``; InputError when it is not one."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(path, "missing_model", "no adapter model file here") from None
    except Exception as exc:  # corrupt zip, pickle with code objects, truncated file
        raise InputError(path, "bad_checkpoint", f"not a readable adapter checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def save_model(model_dir: Path, model: Adapter, curves: dict[str, Any], meta: dict[str, Any]) -> None:
    """model.pt (weights + z-score), meta.json (config, layout, sources), curves.json / .png."""
    model_dir.mkdir(parents=True, exist_ok=True)
    norm = curves["norm"]
    _save_torch({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "mean": torch.tensor(norm["mean"]), "std": torch.tensor(norm["std"])}, model_dir / MODEL_FILE)
    (model_dir / META_FILE).write_text(json.dumps({**meta, "net": asdict(model.cfg)}, indent=1))
    plain = {k: v for k, v in curves.items() if k != "norm"}
    (model_dir / CURVES_JSON).write_text(json.dumps(plain, indent=1))
    plot_curves(plain, model_dir / CURVES_PNG)


def plot_curves(curves: dict[str, Any], path: Path) -> None:
    """Reconstruction per domain, VQ loss, codebook usage / perplexity and dead codes over steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = curves["step"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, curves["recon_human"], label="human reconstruction")
    axes[0].plot(steps, curves["recon_robot"], label="robot reconstruction")
    axes[0].plot(steps, curves["vq_loss"], label="VQ commitment")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("MSE (z-scored features)")
    axes[0].legend(fontsize=8)
    axes[1].plot(steps, curves["perplexity"], color="C3")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("code perplexity", color="C3")
    twin = axes[1].twinx()
    twin.plot(steps, np.asarray(curves["codebook_usage"]) * 100, color="C4")
    twin.set_ylabel("codes used per log interval, %", color="C4")
    twin.set_ylim(0, 105)
    axes[2].plot(steps, curves["dead_codes"], color="C5")
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("codes unused in the interval")
    fig.suptitle("adapter training (shared codebook of both domains)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def load_model(model_dir: str | Path) -> tuple[Adapter, np.ndarray, np.ndarray, dict[str, Any]]:
    """(model in eval mode, z-score mean, std, meta) of a model folder; InputError naming the
    file when it is missing or not a model."""
    model_dir = Path(model_dir)
    meta_path = model_dir / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
        cfg = NetConfig(**meta["net"])
    except FileNotFoundError:
        raise InputError(meta_path, "missing_model", "no adapter model here (meta.json missing)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(meta_path, "bad_model", f"not an adapter model description ({exc})") from None
    state = load_checkpoint(model_dir / MODEL_FILE)
    model = Adapter(cfg)
    try:
        model.load_state_dict(state["model"])
        mean, std = state["mean"].numpy(), state["std"].numpy()
    except (KeyError, RuntimeError, AttributeError, TypeError) as exc:
        raise InputError(model_dir / MODEL_FILE, "bad_checkpoint",
                         f"weights do not fit the model described in meta.json ({str(exc).splitlines()[0]})") from None
    model.eval()
    return model, mean.astype(np.float32), std.astype(np.float32), meta

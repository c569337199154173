"""SMAP's adapter network: one DeepPhase periodic autoencoder per domain, one shared codebook.

Per domain (:class:`PhaseAutoencoder`, after Starke et al. 2022 and Li et al. 2024;
written for this project, METHODS.md §2–3):

- encoder: Conv1d(F -> H, kernel k) -> layer norm over time -> ELU ->
  Conv1d(H -> M phase channels, kernel k), over a window of W frames;
- FFT layer per channel: frequency f = sum f_k P_k / sum P_k (DC dropped),
  amplitude a = 2 sqrt(sum P_k) / W, offset b = Re(X_0) / W;
- phase: a per-channel linear map of the latent curve to (v0, v1),
  phi = atan2(v1, v0) / 2 pi;
- parametric latent: a sin(2 pi (f t + phi)) + b for t over the window (s);
- a discrete *state*: an MLP of the latent's time mean, amplitude and
  frequency to a ``code_dim`` vector, quantised by the **shared** codebook;
- decoder: Conv1d(M + code_dim -> H) -> layer norm -> ELU -> Conv1d(H -> F)
  of the parametric latent with the quantised state broadcast over time.

The quantiser is ``vector_quantize_pytorch.VectorQuantize`` (EMA codebook,
k-means initialisation, dead-code expiry), shared by both domains: a human
window and a robot window with the same code share a discrete motion state.
Tensors are (batch, channels, frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from vector_quantize_pytorch import VectorQuantize


@dataclass(frozen=True)
class NetConfig:
    """Architecture of the adapter (every field is stored beside the weights).

    Attributes:
        features: F, per-frame feature size.
        window: W, frames per window (odd).
        fps: frame rate of the windows (Hz).
        hidden: H, encoder/decoder hidden channels.
        phase_channels: M, latent phase channels.
        kernel: convolution kernel (frames, odd).
        code_dim: dimension of a codebook vector.
        codebook_size: number of codes (SMAP: 32).
        commitment: commitment weight beta.
        ema_decay: EMA decay of the codebook.
        kmeans_init: initialise the codebook by k-means on the first batch.
        dead_code_threshold: codes used fewer times than this (EMA count) are re-initialised
            from random encoder outputs of the batch (0: never).
    """

    features: int
    window: int = 31
    fps: float = 30.0
    hidden: int = 64
    phase_channels: int = 8
    kernel: int = 11
    code_dim: int = 16
    codebook_size: int = 32
    commitment: float = 0.25
    ema_decay: float = 0.9
    kmeans_init: bool = True
    dead_code_threshold: float = 1.0


@dataclass
class Latent:
    """A window's latent: (B, M) frequency (Hz), amplitude, offset, phase (cycles); (B, C) state
    before and after quantisation; (B,) code index."""

    freq: torch.Tensor
    amp: torch.Tensor
    offset: torch.Tensor
    phase: torch.Tensor
    state: torch.Tensor
    quantized: torch.Tensor
    code: torch.Tensor
    vq_loss: torch.Tensor


class PhaseAutoencoder(nn.Module):
    """One domain's encoder and decoder around the shared quantiser."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        k, pad = cfg.kernel, cfg.kernel // 2
        M, H, W = cfg.phase_channels, cfg.hidden, cfg.window
        self.enc1 = nn.Conv1d(cfg.features, H, k, padding=pad)
        self.enc2 = nn.Conv1d(H, M, k, padding=pad)
        self.phase = nn.Conv1d(M, 2 * M, W, groups=M)           # per-channel Linear(W -> 2)
        self.state = nn.Sequential(nn.Linear(3 * M, H), nn.ELU(), nn.Linear(H, cfg.code_dim))
        self.dec1 = nn.Conv1d(M + cfg.code_dim, H, k, padding=pad)
        self.dec2 = nn.Conv1d(H, cfg.features, k, padding=pad)
        self.t: torch.Tensor
        self.freqs: torch.Tensor
        self.register_buffer("t", (torch.arange(W, dtype=torch.float32) - (W - 1) / 2) / cfg.fps, persistent=False)
        self.register_buffer("freqs", torch.fft.rfftfreq(W, d=1.0 / cfg.fps)[1:].to(torch.float32), persistent=False)

    def encode(self, x: torch.Tensor, vq: VectorQuantize) -> Latent:
        W = self.cfg.window
        h = F.elu(F.layer_norm(self.enc1(x), (W,)))
        z = self.enc2(h)                                              # (B, M, W)
        spec = torch.fft.rfft(z, dim=2)
        power = spec[:, :, 1:].abs() ** 2
        total = power.sum(dim=2).clamp_min(1e-8)
        freq = (power * self.freqs).sum(dim=2) / total
        amp = 2.0 * torch.sqrt(total) / W
        offset = spec[:, :, 0].real / W
        v = self.phase(z).view(z.shape[0], -1, 2)                     # (B, M, 2)
        phase = torch.atan2(v[..., 1], v[..., 0]) / (2 * math.pi)
        state = self.state(torch.cat([z.mean(dim=2), amp, freq], dim=1))
        quantized, code, loss = vq(state.unsqueeze(1))
        return Latent(freq, amp, offset, phase, state, quantized.squeeze(1), code.squeeze(1), loss.sum())

    def decode(self, lat: Latent) -> torch.Tensor:
        arg = 2 * math.pi * (lat.freq[..., None] * self.t + lat.phase[..., None])
        curve = lat.amp[..., None] * torch.sin(arg) + lat.offset[..., None]       # (B, M, W)
        state = lat.quantized[..., None].expand(-1, -1, curve.shape[2])
        h = F.elu(F.layer_norm(self.dec1(torch.cat([curve, state], dim=1)), (self.cfg.window,)))
        return self.dec2(h)


class Adapter(nn.Module):
    """Human and robot phase autoencoders sharing one vector quantiser."""

    DOMAINS = ("human", "robot")

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.vq = VectorQuantize(dim=cfg.code_dim, codebook_size=cfg.codebook_size, decay=cfg.ema_decay,
                                 commitment_weight=cfg.commitment, kmeans_init=cfg.kmeans_init, kmeans_iters=10,
                                 threshold_ema_dead_code=cfg.dead_code_threshold)
        self.human = PhaseAutoencoder(cfg)
        self.robot = PhaseAutoencoder(cfg)

    def domain(self, name: str) -> PhaseAutoencoder:
        return self.human if name == "human" else self.robot

    def reconstruct(self, name: str, x: torch.Tensor) -> tuple[torch.Tensor, Latent, torch.Tensor]:
        """Decode ``x`` (B, F, W) through its own domain; returns (reconstruction, latent, VQ loss)."""
        ae = self.domain(name)
        lat = ae.encode(x, self.vq)
        return ae.decode(lat), lat, lat.vq_loss

    def transfer(self, x_human: torch.Tensor, residual: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Human windows (B, F, W) -> robot-domain windows and code indices (B,).

        ``residual``: return ``x + robot_decoder(z) - human_decoder(z)`` (the change the robot
        decoder makes to the same latent; the human decoder's reconstruction error cancels)
        instead of ``robot_decoder(z)`` alone.
        """
        lat = self.human.encode(x_human, self.vq)
        robot = self.robot.decode(lat)
        if residual:
            robot = x_human + robot - self.human.decode(lat)
        return robot, lat.code

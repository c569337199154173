"""Settings of the adapt stages (the manifest's ``stages.adapt`` section; both the training node
``adapt_model`` and the clip stage ``adapt`` read it). ``stages: {adapt: none}`` is short for
``{method: none}``: the ablation, raw motion passed through."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError

METHODS = ("smap", "none")


@dataclass(frozen=True)
class Settings:
    """How the adapter is trained and applied.

    Model (:class:`stages.adapt.model.NetConfig`): ``window_s`` window length (s, at the run's
    fps; odd frame count), ``hidden`` channels, ``phase_channels`` M, ``kernel_s`` convolution
    kernel (s), ``codebook_size`` (SMAP Table 3: 32), ``code_dim``, ``commitment`` beta,
    ``ema_decay`` of the codebook, ``kmeans_init``, ``dead_code_threshold`` (EMA use count
    below which a code is re-initialised from encoder outputs; 0 never).

    Training: ``steps`` optimiser steps of ``batch`` windows per domain, ``lr`` (AdamW, cosine
    decay), ``weight_decay``, ``window_stride`` frames between training windows,
    ``checkpoint_every`` steps between checkpoints (resume after a kill), ``log_every`` steps
    per point of the curves, ``seed`` (0: the run's seed), ``threads`` torch CPU threads
    (0: torch's default; 1 is fastest on a shared 2-core machine and keeps results identical),
    ``cross_weight`` weight of the cross term: robot-side windows through the human encoder
    and both decoders (the transfer is then the identity on motion that needs no change).

    Robot-side data (physically plausible motion): ``use_simulated`` frames of the simulate
    stage not fallen, ``use_passing`` clips and segments passing every filter check,
    ``rollouts`` a folder of RobotMotion .npz files or dataset clip .npz (None: none),
    ``unitree_csv`` glob patterns of Unitree G1 CSV files (absolute or relative to the
    working directory), ``min_robot_frames`` fewer robot-side frames than this is an error. ``hold_out``: clips
    of the val / test split (the dataset's split hash with ``split_train`` / ``split_val`` /
    ``split_seed``, the dataset stage's defaults) are left out of training on both sides, so the evidence on them is held out.

    Applying: ``hop_s`` seconds between window centres, ``transfer`` "decode" (the robot
    decoder's output, SMAP's adapter) or "residual" (raw + robot decoding - human decoding of
    the same latent; measured: it also keeps what should go, the human decoder reproduces
    the sway and jitter of the constructed test, so it is not the default),
    ``decoded_smooth_s`` sigma (s) of a Gaussian low-pass of the decoder's cross-faded output
    (its window seams and code switches put new high-frequency content into it: on the
    held-out real clips joint jerk +60 % without it),
    ``root`` "raw" (the body's place is the raw root moved by the balance correction) or
    "decoded" (rebuilt from the decoded velocities, ``anchor_s`` time scale (s) of anchoring
    it to the raw path; measured on 7 held-out real clips: the decoder's root wobbles by
    several cm, feet slide 2x and new flight frames appear, so not the default),
    ``max_change_rad`` largest change of a joint angle the decoder may make (rad, a soft bound
    ``b tanh(change / b)``; the fidelity bound: at 0.05 the limb-direction error on the
    held-out real clips grows by < 1 deg, at 0.15 by 9 deg on an unseen dance, where the
    network trained on 21 clips reconstructs poorly; it bounds the root tilt change too),
    ``gate`` apply the adapter only where the raw motion fails a dynamic
    check, grown by ``gate_pad_s`` s and cross-faded (elsewhere the raw motion passes
    already and stays as it is), ``smooth_s`` sigma
    (s) of the Gaussian low-pass of the change (decoded - raw features), ``ik_pass``
    a short pass of the retarget stage's IK (limits, ground, the raw foot contacts,
    self-collision; off by default: the balance pass re-solves the legs to the planted feet
    and the hard-check guard keeps ground, collisions and limits, measured with less slide
    and jerk), ``ik_iterations`` QP steps per frame of it, ``output_smooth_s`` sigma (s) of a
    low-pass of root and joints where the gate is open (the robot-domain motion carries no
    mocap jitter; root and joints together so the feet stay), ``balance`` the balance
    correction (:mod:`stages.adapt.balance`: the body moved over the raw clip's feet, planted
    over its contact runs, so the filter's ZMP lies in the support polygon shrunk by
    ``balance_margin_m`` m and within what the ankles can carry,
    ``balance_ankle_fraction`` of their effort limit (0.55; measured on the 7 held-out clips
    of ``manifests/shared_all.yaml``: torque-excess frames -53 % at 0.65, -56 % at 0.55 with
    ZMP, jerk, joint speed and limb error no worse; at 0.4 joint-speed violations rise);
    ``balance_smooth``
    weight of the shift's third difference, ``balance_size_m`` scale of its size penalty,
    ``balance_rounds`` measure-and-correct rounds, ``balance_max_shift_m`` largest shift),
    ``hard_guard`` return to the raw motion around frames where the adapted one fails a hard
    check (ground, self-collision, joint limits or speed) the raw one passes, over ``guard_pad_s``
    s around them and a raised-cosine ramp of as long (0.1; it was 0.25, half ``gate_pad_s``:
    on the 7 held-out clips of ``manifests/shared_all.yaml`` with the feet-holding retarget, the
    guard's wide returns to raw around a few penetrating or colliding frames undid a third of
    ground1_subject1's and a tenth of dance1_subject1's correction), ``guard_dynamic`` the guard
    also returns to raw where the adapted motion exceeds the joint torque or has its ZMP outside
    the support on frames where the raw one does not (off by default: on those clips the narrower
    guard alone gives torque-excess frames -52.8 %, ZMP outside -66.6 %; with ``guard_dynamic``
    -57.2 % and -68.2 %, limb error and jerk no worse, but applying costs a third more: dance1
    5,600 -> 3,700 frames/s on one core, the torque and ZMP checks of every changed span),
    ``evidence_sim`` run the
    simulate stage's API on raw and adapted for the evidence when it exists.
    """

    method: str = "smap"
    window_s: float = 1.0
    hidden: int = 32
    phase_channels: int = 8
    kernel_s: float = 0.23
    codebook_size: int = 32
    code_dim: int = 16
    commitment: float = 0.25
    ema_decay: float = 0.9
    kmeans_init: bool = True
    dead_code_threshold: float = 1.0
    steps: int = 400
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    window_stride: int = 4
    checkpoint_every: int = 100
    log_every: int = 20
    seed: int = 0
    threads: int = 1
    cross_weight: float = 1.0
    use_simulated: bool = True
    use_passing: bool = True
    rollouts: str | None = None
    unitree_csv: tuple[str, ...] = ()
    min_robot_frames: int = 60
    hold_out: bool = True
    split_train: float = 0.9
    split_val: float = 0.05
    split_seed: int = 0
    hop_s: float = 0.2
    transfer: str = "decode"
    root: str = "raw"
    anchor_s: float = 0.5
    max_change_rad: float = 0.05
    gate: bool = True
    gate_pad_s: float = 0.5
    smooth_s: float = 0.0
    decoded_smooth_s: float = 0.05
    ik_pass: bool = False
    ik_iterations: int = 1
    balance: bool = True
    balance_margin_m: float = 0.02
    balance_smooth: float = 300.0
    balance_size_m: float = 0.5
    balance_rounds: int = 3
    balance_max_shift_m: float = 0.12
    balance_ankle_fraction: float = 0.55
    output_smooth_s: float = 0.033
    hard_guard: bool = True
    guard_pad_s: float = 0.1
    guard_dynamic: bool = False
    evidence_sim: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(None, "method", f"must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.transfer not in ("residual", "decode"):
            raise ConfigError(None, "transfer", f"must be 'residual' or 'decode', not {self.transfer!r}")
        if self.root not in ("decoded", "raw"):
            raise ConfigError(None, "root", f"must be 'decoded' or 'raw', not {self.root!r}")
        if self.window_s <= 0 or self.hop_s <= 0 or self.kernel_s <= 0:
            raise ConfigError(None, "window_s", "window_s, hop_s and kernel_s must be > 0")
        if self.hop_s > self.window_s:
            raise ConfigError(None, "hop_s", "must not exceed window_s (windows must overlap)")
        if self.codebook_size < 2 or self.code_dim < 1 or self.phase_channels < 1 or self.hidden < 1:
            raise ConfigError(None, "codebook_size", "codebook_size >= 2, code_dim, phase_channels, hidden >= 1")
        if self.steps < 1 or self.batch < 1 or self.window_stride < 1 or self.checkpoint_every < 1:
            raise ConfigError(None, "steps", "steps, batch, window_stride and checkpoint_every must be >= 1")


def window_frames(settings: Settings, fps: float) -> int:
    """Odd frame count of a window at ``fps``."""
    n = int(round(settings.window_s * fps))
    return n + 1 if n % 2 == 0 else n


def kernel_frames(settings: Settings, fps: float) -> int:
    """Odd convolution kernel (frames) at ``fps``, at least 3."""
    n = max(3, int(round(settings.kernel_s * fps)))
    return n + 1 if n % 2 == 0 else n

"""Applying a trained adapter to one raw retarget.

Overlapping windows (centred every ``hop`` frames, indices clamped at the
ends) -> human encoder -> shared codebook -> robot decoder -> cross-fade (Hann
weights) -> low-pass -> gated where the raw motion fails a dynamic check ->
joint change soft-bounded and clipped to the limits; root the raw one (or rebuilt
from the decoded velocities, :func:`features.root_from_features`) -> optional IK
pass (:mod:`stages.adapt.ik_pass`) -> gated low-pass of root and joints ->
balance correction (:mod:`stages.adapt.balance`: feet planted over the raw
contact runs, body moved so the filter's ZMP is inside the support and within
the ankles' torque) -> hard-check guard (back to raw around frames where a hard
check, the joint torque or the ZMP fails that the raw motion passes) -> :class:`RobotMotion` with the raw
clip's contacts, frame count and fps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import InputError
from core.records.robot_motion import RobotMotion
from core.rotations import make_continuous
from stages.adapt.balance import BalanceSettings, correct_balance_spans, state_record
from stages.adapt.features import Layout, motion_features, root_from_features
from stages.adapt.model import Adapter
from stages.adapt.settings import Settings
from stages.adapt.train import load_model

if TYPE_CHECKING:
    from core.robot import Robot
    from stages.filter.body import Body
    from stages.filter.settings import Settings as FilterSettings


@dataclass
class Bundle:
    """A loaded model: network, z-score, metadata."""

    model: Adapter
    mean: np.ndarray
    std: np.ndarray
    meta: dict

    @classmethod
    def load(cls, model_dir: str | Path) -> Bundle:
        return cls(*load_model(model_dir))


@dataclass
class Adapted:
    """The adapted motion and, per frame, the code of the window centred nearest and the
    RMS joint change (rad) the adaptation made."""

    motion: RobotMotion
    code: np.ndarray
    change_rad: np.ndarray


def _centres(T: int, hop: int) -> np.ndarray:
    return np.unique(np.concatenate([np.arange(0, T, hop), [T - 1]]))


def decode_features(bundle: Bundle, feats: np.ndarray, hop: int, residual: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cross-faded robot-domain features (T, F) of human features (T, F), and per-frame codes.

    Windows are centred every ``hop`` frames (and on the last frame); frames beyond the clip
    repeat its first / last frame (as in training). Each output frame is the Hann-weighted
    mean of the windows covering it."""
    cfg = bundle.model.cfg
    T, W = feats.shape[0], cfg.window
    half = W // 2
    centres = _centres(T, hop)
    x = (feats - bundle.mean) / bundle.std
    padded = np.concatenate([np.repeat(x[:1], half, axis=0), x, np.repeat(x[-1:], half, axis=0)])
    view = np.lib.stride_tricks.sliding_window_view(padded, W, axis=0)          # (T, F, W), window t centred on t
    batch = torch.from_numpy(np.ascontiguousarray(view[centres]))
    with torch.no_grad():
        decoded, codes = bundle.model.transfer(batch, residual=residual)
    y = decoded.numpy().transpose(0, 2, 1)                             # (N, W, F)
    weight = np.hanning(W + 2)[1:-1]
    acc = np.zeros((T + 2 * half, x.shape[1]))
    wsum = np.zeros(T + 2 * half)
    for i, c in enumerate(centres):
        acc[c:c + W] += y[i] * weight[:, None]
        wsum[c:c + W] += weight
    out = acc[half:half + T] / np.maximum(wsum[half:half + T], 1e-9)[:, None]
    nearest = np.clip(np.searchsorted(centres, np.arange(T)), 0, len(centres) - 1)
    return out * bundle.std + bundle.mean, codes.numpy()[nearest]


def soft_bound(change: np.ndarray, bound: float) -> np.ndarray:
    """``bound * tanh(change / bound)``: the change kept within +-``bound`` without the kinks a
    clip puts into a trajectory (0 when ``bound`` is 0)."""
    if bound <= 0:
        return np.zeros_like(change)
    return bound * np.tanh(np.asarray(change, np.float64) / bound)


def gate_weights(fail: np.ndarray, fps: float, pad_s: float) -> np.ndarray:
    """(T,) weight in [0, 1] of the adapted motion: 1 on failing frames and ``pad_s`` s around
    them, falling to 0 over another ``pad_s`` s (raised cosine)."""
    from scipy.ndimage import distance_transform_edt

    fail = np.asarray(fail, dtype=bool)
    if not fail.any():
        return np.zeros(fail.shape)
    if fail.all():
        return np.ones(fail.shape)
    d = distance_transform_edt(~fail) / fps                       # s to the nearest failing frame
    x = np.clip((d - pad_s) / max(pad_s, 1e-9), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def balance_settings(settings: Settings) -> BalanceSettings:
    """The :class:`BalanceSettings` of the adapt settings' ``balance_*`` fields."""
    return BalanceSettings(margin_m=settings.balance_margin_m, size_m=settings.balance_size_m,
                           smooth=settings.balance_smooth, rounds=settings.balance_rounds,
                           max_shift_m=settings.balance_max_shift_m,
                           ankle_torque_fraction=settings.balance_ankle_fraction)


def _balanced(raw: RobotMotion, robot: Robot, settings: Settings, root_pos: np.ndarray, root_rot: np.ndarray,
              dof: np.ndarray, gate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decoded motion with the raw clip's feet and the body over them (:mod:`stages.adapt.balance`),
    solved on the spans where the gate is open and 1 s around them (elsewhere the motion is the
    raw one, which passes; the ends of a span inside the clip are held)."""
    from scipy.ndimage import binary_dilation

    from core.contacts import spans_of

    fps = float(raw.fps)
    T = raw.num_frames
    contacts = np.asarray(raw.contacts, dtype=bool)
    active = binary_dilation(gate > 0, iterations=max(1, int(round(fps))))
    q = robot.configuration(root_pos, root_rot, dof)
    spans = spans_of(active)
    parts = [_trajectory_record(robot, fps, root_pos[a:b], root_rot[a:b], dof[a:b], contacts[a:b]) for a, b in spans]
    feet = [_trajectory_record(robot, fps, raw.root_pos[a:b], raw.root_rot[a:b], raw.dof_pos[a:b], contacts[a:b])
            for a, b in spans]
    holds = [(5 if a > 0 else 0, 5 if b < T else 0) for a, b in spans]
    solved = correct_balance_spans(parts, robot, balance_settings(settings), None, feet, [gate[a:b] for a, b in spans],
                                   holds)
    for (a, b), (qs, _) in zip(spans, solved, strict=True):
        q[a:b] = qs
    return q[:, :3], q[:, 3:7], q[:, 7:]


def _trajectory_record(robot: Robot, fps: float, root_pos: np.ndarray, root_rot: np.ndarray, dof: np.ndarray,
                       contacts: np.ndarray) -> RobotMotion:
    """The root and joint trajectory as :func:`core.robot.trajectory.robot_motion_from_trajectory`
    builds it (quaternion normalised and sign-continuous, central-difference joint speeds), without
    its key-link forward kinematics: the balance correction reads only the root, joints and contacts."""
    root_pos = np.asarray(root_pos, dtype=np.float64)
    root_rot = np.asarray(root_rot, dtype=np.float64)
    dof = np.asarray(dof, dtype=np.float64)
    root_rot = make_continuous(root_rot / np.linalg.norm(root_rot, axis=-1, keepdims=True))
    T = len(dof)
    return RobotMotion(robot=robot.name, fps=float(fps), root_pos=root_pos, root_rot=root_rot, dof_pos=dof,
                       dof_vel=np.gradient(dof, 1.0 / fps, axis=0) if T > 1 else np.zeros_like(dof),
                       dof_names=robot.dof_names, link_names=(), link_pos=np.zeros((T, 0, 3)),
                       link_rot=np.zeros((T, 0, 4)), contacts=np.asarray(contacts, dtype=bool))


GUARDED = ("ground_penetration", "self_collision", "joint_position_limit", "joint_velocity")
"""Hard checks the adaptation must not make fail where the raw motion passes."""

GUARDED_DYNAMIC = ("joint_torque", "zmp_outside_support")
"""Dynamic checks the guard also keeps from failing where the raw motion passes (``guard_dynamic``)."""


def _raw_fails(raw: RobotMotion, robot: Robot, body: Body, fs: FilterSettings, code: str, a: int, b: int,
               at: np.ndarray) -> np.ndarray:
    """(b - a,) the hard check ``code`` (:data:`GUARDED`: a per-frame value, joint speeds by central
    differences) of the raw motion's frames ``a:b`` as one crop, valid on the frames ``at`` (b - a,):
    computed on windows around them only, each grown until its first and last
    ``allow_frames // 2 + 1`` frames pass (no failing run crosses or merges across its edge), with one
    frame more on each side for the differences; there it equals the check on the whole crop."""
    from scipy.ndimage import binary_dilation

    from core.contacts import spans_of
    from stages.filter.api import run_checks
    from stages.filter.checks.base import drop_short_runs

    n = b - a
    check = getattr(fs, code)
    allow = int(getattr(check, "allow_frames", 0))
    edge = allow // 2 + 1
    out = np.zeros(n, dtype=bool)
    want = binary_dilation(np.asarray(at, dtype=bool), iterations=edge + 1) if n > 1 else np.asarray(at, dtype=bool)
    contacts = np.asarray(raw.contacts, dtype=bool)
    while want.any():
        grow = np.zeros(n, dtype=bool)
        windows = spans_of(want)
        # the windows, each with one frame more on both sides, checked as one record (values are
        # per frame; a joint speed at a window's frame reads only its own neighbours)
        padded = [(max(0, lo - 1), min(n, hi + 1)) for lo, hi in windows]
        frames = a + np.concatenate([np.arange(lo_x, hi_x) for lo_x, hi_x in padded])
        part = state_record(robot, float(raw.fps), robot.configuration(raw.root_pos[frames], raw.root_rot[frames],
                                                                      raw.dof_pos[frames]), contacts[frames])
        (result,) = run_checks(part, body, fs, only=(code,))
        start = 0
        for (lo, hi), (lo_x, hi_x) in zip(windows, padded, strict=True):
            value = result.value[start + lo - lo_x:start + hi - lo_x]
            start += hi_x - lo_x
            with np.errstate(invalid="ignore"):
                over = (value > result.threshold) & np.isfinite(value)
            if (lo > 0 and over[:edge].any()) or (hi < n and over[-edge:].any()):
                reach = max(4 * edge, hi - lo)                                 # a run may go on: a window
                grow[max(0, lo - reach):min(n, hi + reach)] = True             # three times as wide
                continue
            out[lo:hi] = drop_short_runs(over, allow)
        want = grow
    return out


def _raw_dynamic_failures(raw: RobotMotion, robot: Robot, body: Body, fs: FilterSettings) -> dict[str, np.ndarray]:
    """(T,) failure masks of :data:`GUARDED_DYNAMIC` on the whole raw clip, as the filter stage
    computes them (its ``fail_<code>`` arrays)."""
    from stages.filter.api import run_checks

    record = state_record(robot, float(raw.fps), robot.configuration(raw.root_pos, raw.root_rot, raw.dof_pos),
                          np.asarray(raw.contacts, dtype=bool))
    return {r.code: np.asarray(r.fail, dtype=bool) for r in run_checks(record, body, fs, only=GUARDED_DYNAMIC)}


def _hard_guard(raw: RobotMotion, robot: Robot, settings: Settings, root_pos: np.ndarray, root_rot: np.ndarray,
                dof: np.ndarray, raw_dynamic: Mapping[str, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The adapted trajectory returned to the raw one (raised-cosine blend over
    ``guard_pad_s``) around frames where it fails a hard check (:data:`GUARDED`) the raw motion
    passes: the adaptation never makes a hard check worse. With ``guard_dynamic`` also where it
    fails a dynamic check of :data:`GUARDED_DYNAMIC` (torque, ZMP) the raw crop passes: where
    the balance step cannot carry the decoded change (a knee on the floor holds the body), the
    raw motion stays. ``raw_dynamic``: those checks' (T,) failure masks of the whole raw clip
    (the filter stage's ``fail_<code>`` arrays); None: computed here, once, when needed."""
    from scipy.ndimage import binary_dilation

    from core.contacts import spans_of
    from stages.filter.api import run_checks
    from stages.filter.body import body_of
    from stages.filter.settings import Settings as FilterSettings

    body = body_of(robot)
    fs = FilterSettings()
    fps = float(raw.fps)
    contacts = np.asarray(raw.contacts, dtype=bool)
    changed = (np.abs(dof - raw.dof_pos).max(axis=1) > 1e-9) | (np.abs(root_pos - raw.root_pos).max(axis=1) > 1e-9)
    worse = np.zeros(raw.num_frames, dtype=bool)
    for a, b in spans_of(binary_dilation(changed, iterations=5)):      # checked where the motion changed
        adapted = state_record(robot, fps, robot.configuration(root_pos[a:b], root_rot[a:b], dof[a:b]),
                               contacts[a:b])
        only = GUARDED + (GUARDED_DYNAMIC if settings.guard_dynamic else ())
        failing = {r.code: r.fail for r in run_checks(adapted, body, fs, only=only) if r.fail.any()}
        if not failing:                     # nothing fails: nothing can be worse than the raw motion
            continue
        for code, fail in failing.items():
            if code in GUARDED_DYNAMIC:     # not per frame (smoothed accelerations): the whole raw clip's
                if raw_dynamic is None or code not in raw_dynamic:
                    raw_dynamic = {**(raw_dynamic or {}), **_raw_dynamic_failures(raw, robot, body, fs)}
                worse[a:b] |= fail & ~np.asarray(raw_dynamic[code], dtype=bool)[a:b]
                continue
            worse[a:b] |= fail & ~_raw_fails(raw, robot, body, fs, code, a, b, fail)
    if not worse.any():
        return root_pos, root_rot, dof
    back = gate_weights(worse, float(raw.fps), settings.guard_pad_s)[:, None]
    raw_rot = make_continuous(np.asarray(raw.root_rot, np.float64))
    rot = np.where(np.sum(root_rot * raw_rot, axis=1, keepdims=True) < 0, -root_rot, root_rot)
    rot = rot + back * (raw_rot - rot)
    return (root_pos + back * (raw.root_pos - root_pos), rot / np.linalg.norm(rot, axis=1, keepdims=True),
            dof + back * (raw.dof_pos - dof))


def adapt_motion(raw: RobotMotion, bundle: Bundle, robot: Robot, settings: Settings = Settings(),
                 fail: np.ndarray | None = None, raw_dynamic: Mapping[str, np.ndarray] | None = None) -> Adapted:
    """The adapted motion of ``raw`` (same frames, fps, contacts; world Z-up, xyzw).

    ``fail``: (T,) frames where the raw motion fails a dynamic check; with ``settings.gate``
    the adapter's change is applied only there (and around them, :func:`gate_weights`);
    None: judged here with the filter's dynamic checks. ``raw_dynamic``: the raw clip's per-check
    (T,) failure masks (code -> mask, the filter stage's ``fail_<code>``), read by the guard;
    None: judged here when needed."""
    meta = bundle.meta
    if tuple(meta.get("dof_names", ())) != tuple(raw.dof_names) or tuple(meta.get("link_names", ())) != \
            tuple(raw.link_names):
        raise InputError(raw.provenance.get("source_path"), "model_mismatch",
                         "the adapter was trained on another robot (joint or link names differ)")
    if abs(float(meta.get("fps", raw.fps)) - float(raw.fps)) > 1e-6:
        raise InputError(raw.provenance.get("source_path"), "fps_mismatch",
                         f"the adapter was trained at {meta.get('fps')} fps, the clip is at {raw.fps} fps")
    layout = Layout(len(raw.dof_names), len(raw.link_names))
    feats = motion_features(raw)
    hop = max(1, int(round(settings.hop_s * float(raw.fps))))
    decoded, codes = decode_features(bundle, feats, hop, settings.transfer == "residual")
    if settings.decoded_smooth_s > 0:          # the decoder's output carries no new high-frequency content
        from stages.adapt.features import lowpass

        decoded = lowpass(decoded, settings.decoded_smooth_s * float(raw.fps)).astype(decoded.dtype)
    if settings.smooth_s > 0:                  # the change is a slow correction, not new jitter
        from stages.adapt.features import lowpass

        decoded = feats + lowpass(decoded - feats, settings.smooth_s * float(raw.fps))
    if settings.gate:
        if fail is None:
            from stages.filter.api import dynamic_verdict

            _, results = dynamic_verdict(raw, robot)
            fail = np.zeros(raw.num_frames, dtype=bool)
            for r in results:
                fail |= r.fail
            raw_dynamic = {r.code: np.asarray(r.fail, dtype=bool) for r in results}
        w = gate_weights(fail, float(raw.fps), settings.gate_pad_s)
        decoded = feats + w[:, None] * (decoded - feats)
    else:
        w = np.ones(raw.num_frames)
    # the fidelity bound on the root tilt: the decoded up axis within max_change_rad of the raw one
    up_raw = layout.take(feats, "up").astype(np.float64)
    up_new = layout.take(decoded, "up")
    cos = np.sum(up_raw * up_new, axis=1) / np.maximum(np.linalg.norm(up_raw, axis=1) * np.linalg.norm(up_new, axis=1), 1e-9)
    angle = np.arccos(np.clip(cos, -1.0, 1.0))
    keep = np.clip(settings.max_change_rad / np.maximum(angle, 1e-9), 0.0, 1.0)[:, None]
    a, b = layout.blocks["up"]
    decoded[:, a:b] = up_raw + keep * (up_new - up_raw)
    raw_dof = np.asarray(raw.dof_pos, np.float64)
    dof = raw_dof + soft_bound(layout.take(decoded, "dof") - raw_dof, settings.max_change_rad)
    dof = np.clip(dof, robot.lower, robot.upper)
    closed = w <= 0
    dof[closed] = raw_dof[closed]              # where the gate is closed the joints are the raw ones, exactly
                                               # (not their float32 features' round trip, ~1e-8 rad)
    if settings.root == "raw":                 # the body's place is the balance correction's to change
        root_pos = np.asarray(raw.root_pos, np.float64).copy()
        root_rot = make_continuous(np.asarray(raw.root_rot, np.float64))
    else:
        root_pos, root_rot = root_from_features(decoded, layout, raw, settings.anchor_s)
    if settings.gate and settings.root != "raw":                          # where the gate is closed the root is the raw one, exactly
        root_pos = raw.root_pos + w[:, None] * (root_pos - raw.root_pos)
        raw_rot = make_continuous(np.asarray(raw.root_rot, np.float64))
        root_rot = np.where(np.sum(root_rot * raw_rot, axis=1, keepdims=True) < 0, -root_rot, root_rot)
        root_rot = raw_rot + w[:, None] * (root_rot - raw_rot)
        root_rot = root_rot / np.linalg.norm(root_rot, axis=1, keepdims=True)
    if settings.ik_pass and w.max() > 0:
        from stages.adapt.ik_pass import refine

        q = refine(robot, raw, root_pos, root_rot, dof, settings.ik_iterations, gate=w)
        root_pos, root_rot, dof = q[:, :3], q[:, 3:7], q[:, 7:]
    root_rot = make_continuous(root_rot / np.linalg.norm(root_rot, axis=1, keepdims=True))
    if settings.output_smooth_s > 0 and w.max() > 0:
        # where it adapts, the motion is the robot's: no mocap jitter (root and joints low-passed
        # together, so the feet stay where they were; the balance pass re-plants them)
        from stages.adapt.features import lowpass

        sigma = settings.output_smooth_s * float(raw.fps)
        dof = dof + w[:, None] * (lowpass(dof, sigma) - dof)
        root_pos = root_pos + w[:, None] * (lowpass(root_pos, sigma) - root_pos)
        root_rot = make_continuous(root_rot)
        root_rot = root_rot + w[:, None] * (lowpass(root_rot, sigma) - root_rot)
        root_rot = root_rot / np.linalg.norm(root_rot, axis=1, keepdims=True)
    if settings.balance and w.max() > 0:
        root_pos, root_rot, dof = _balanced(raw, robot, settings, root_pos, root_rot, dof, w)
    if settings.hard_guard and w.max() > 0:
        root_pos, root_rot, dof = _hard_guard(raw, robot, settings, root_pos, root_rot, dof, raw_dynamic)
    links = tuple(raw.link_names)
    link_pos, link_rot = robot.forward_kinematics(root_pos, root_rot, dof, links)
    link_rot = np.where(link_rot[..., 3:4] < 0, -link_rot, link_rot)
    fps = float(raw.fps)
    motion = RobotMotion(robot=raw.robot, fps=fps, root_pos=np.asarray(root_pos, np.float64),
                         root_rot=np.asarray(root_rot, np.float64), dof_pos=np.asarray(dof, np.float64),
                         dof_vel=np.gradient(dof, 1.0 / fps, axis=0) if len(dof) > 1 else np.zeros_like(dof),
                         dof_names=raw.dof_names, link_names=links, link_pos=link_pos, link_rot=link_rot,
                         contacts=np.asarray(raw.contacts, dtype=bool), metrics={},
                         provenance={**raw.provenance, "adapt": "SMAP VQ-PAE adapter (shared codebook)",
                                     "adapt_model": str(meta.get("key", ""))},
                         target_penetration=raw.target_penetration, demanded_speed=raw.demanded_speed)
    change = np.sqrt(np.mean((motion.dof_pos - raw.dof_pos) ** 2, axis=1))
    return Adapted(motion, codes.astype(np.int64), change)

"""Prior difficulty of a clip or window from measured motion features.

Each feature ``x`` is mapped onto [0, 1] by its reference pair
``(easy, hard)``: ``s = clip((x - easy) / (hard - easy), 0, 1)`` (for ZMP
margin, where larger is easier, ``easy > hard``). The score is the weighted
mean of the sub-scores of the features that are available, and the
difficulty is ``1 + 9 * score``: a number on GMT's completion-level scale
(1 = trivially easy, e.g. standing still; 10 = every feature at or beyond its
"hard" reference). A sampler that starts every clip at 10 (GMT) can start at
this prior instead.

Reference values (``REFERENCES``) were set from the G1 retargets of LAFAN1
(walking, dancing, falling and getting up; see tests/test_dataset_difficulty.py)
and the peers' filter limits (METHODS.md §5). Units are in the feature names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.signal import savgol_filter

from core import rotations as rot

LEVEL_MIN = 1.0
LEVEL_MAX = 10.0
#: a frame is "low posture" (crouching, kneeling, lying) when the root is this far below standing height, m.
LOW_POSTURE_DROP_M = 0.30


@dataclass(frozen=True)
class Reference:
    """Where a feature is easy (sub-score 0) and hard (sub-score 1), and its weight."""

    easy: float
    hard: float
    weight: float


#: feature name -> reference (units in the name; fractions are of frames).
REFERENCES: dict[str, Reference] = {
    "root_speed_p95_mps": Reference(0.2, 3.0, 1.0),
    "root_acc_p95_mps2": Reference(1.0, 12.0, 1.0),
    "dof_vel_rms_p95_radps": Reference(0.3, 4.0, 1.5),
    "dof_acc_rms_p95_radps2": Reference(3.0, 60.0, 1.0),
    "dof_jerk_rms_p95_radps3": Reference(50.0, 1500.0, 0.5),
    "airborne_frac": Reference(0.0, 0.3, 1.0),
    "single_support_frac": Reference(0.1, 0.8, 0.5),
    "height_drop_m": Reference(0.05, 0.45, 1.5),
    "height_range_m": Reference(0.03, 0.40, 1.5),
    "low_posture_frac": Reference(0.0, 0.3, 2.0),
    "turn_rate_p95_radps": Reference(0.3, 4.0, 1.0),
    "zmp_margin_m": Reference(0.05, -0.05, 1.0),
    "retarget_residual_m": Reference(0.02, 0.15, 0.5),
    "adaptation_change_rad": Reference(0.02, 0.3, 0.5),
}


@dataclass(frozen=True)
class Features:
    """Measured features of a frame range (NaN = not available)."""

    root_speed_p95_mps: float = np.nan
    root_acc_p95_mps2: float = np.nan
    dof_vel_rms_p95_radps: float = np.nan
    dof_acc_rms_p95_radps2: float = np.nan
    dof_jerk_rms_p95_radps3: float = np.nan
    airborne_frac: float = np.nan
    single_support_frac: float = np.nan
    height_drop_m: float = np.nan
    height_range_m: float = np.nan
    low_posture_frac: float = np.nan
    turn_rate_p95_radps: float = np.nan
    zmp_margin_m: float = np.nan
    retarget_residual_m: float = np.nan
    adaptation_change_rad: float = np.nan

    def to_json(self) -> dict[str, float | None]:
        return {k: (None if not np.isfinite(v) else round(float(v), 6)) for k, v in asdict(self).items()}


def _derivatives(x: np.ndarray, fps: float, order: int) -> list[np.ndarray]:
    """Derivatives 1..order of ``x`` (T, ...) along time (Savitzky-Golay, ~0.23 s window)."""
    n = len(x)
    window = max(5, int(round(0.23 * fps)) | 1)
    if n >= window and window > 3:
        return [savgol_filter(x, window, 3, deriv=k, delta=1.0 / fps, axis=0, mode="interp")
                for k in range(1, order + 1)]
    out, cur = [], x
    for _ in range(order):
        cur = np.gradient(cur, 1.0 / fps, axis=0) if n > 1 else np.zeros_like(cur)
        out.append(cur)
    return out


def _p95(x: np.ndarray) -> float:
    return float(np.percentile(x, 95)) if x.size else np.nan


@dataclass(frozen=True)
class Signals:
    """Per-frame signals of a whole clip, from which any frame range's features are aggregated.

    Derivatives are taken once over the whole clip (so a window's edges see
    their real neighbours). Units: m/s, m/s^2, rad/s, rad/s^2, rad/s^3, m.
    """

    fps: float
    root_speed: np.ndarray      # horizontal root speed
    root_acc: np.ndarray        # |root acceleration|
    dof_vel_rms: np.ndarray     # RMS over joints
    dof_acc_rms: np.ndarray
    dof_jerk_rms: np.ndarray
    yaw_rate: np.ndarray        # |heading rate|
    root_z: np.ndarray
    support: np.ndarray | None  # number of feet in contact, or None


def signals(root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray, contacts: np.ndarray | None,
            fps: float) -> Signals:
    """Per-frame signals of a clip (root_pos (T, 3) m; root_rot (T, 4) xyzw; dof_pos (T, D) rad; contacts (T, 2))."""
    root_pos = np.asarray(root_pos, dtype=np.float64)
    dof_pos = np.asarray(dof_pos, dtype=np.float64)
    v, a = _derivatives(root_pos, fps, 2)
    dv, da, dj = _derivatives(dof_pos, fps, 3)
    yaw = np.unwrap(rot.yaw_of(rot.normalize(root_rot)))
    yaw_rate = _derivatives(yaw, fps, 1)[0]

    def rms(m: np.ndarray) -> np.ndarray:
        return np.sqrt(np.mean(m ** 2, axis=1)) if m.shape[1] else np.zeros(len(m))

    support = None
    if contacts is not None and len(contacts):
        support = (np.asarray(contacts) > 0.5).sum(axis=1)
    return Signals(fps=float(fps), root_speed=np.linalg.norm(v[:, :2], axis=1), root_acc=np.linalg.norm(a, axis=1),
                   dof_vel_rms=rms(dv), dof_acc_rms=rms(da), dof_jerk_rms=rms(dj), yaw_rate=np.abs(yaw_rate),
                   root_z=root_pos[:, 2].copy(), support=support)


def aggregate(sig: Signals, lo: int = 0, hi: int | None = None, standing_height: float | None = None) -> Features:
    """Features of frames ``[lo, hi)`` of a clip's signals.

    ``standing_height`` is the reference root height (m) the drop is measured
    from; default: the 95th percentile of the range's root height. Height drop
    is measured to the 5th percentile of root height (robust to a single-frame
    dip); ``low_posture_frac`` is the fraction of frames with the root more
    than ``LOW_POSTURE_DROP_M`` below ``standing_height``.
    """
    sl = slice(lo, hi)
    z = sig.root_z[sl]
    ref = float(np.percentile(z, 95)) if standing_height is None else float(standing_height)
    z5, z95 = np.percentile(z, [5, 95])
    airborne = single = np.nan
    if sig.support is not None:
        count = sig.support[sl]
        airborne = float(np.mean(count == 0))
        single = float(np.mean(count == 1))
    return Features(
        root_speed_p95_mps=_p95(sig.root_speed[sl]),
        root_acc_p95_mps2=_p95(sig.root_acc[sl]),
        dof_vel_rms_p95_radps=_p95(sig.dof_vel_rms[sl]),
        dof_acc_rms_p95_radps2=_p95(sig.dof_acc_rms[sl]),
        dof_jerk_rms_p95_radps3=_p95(sig.dof_jerk_rms[sl]),
        airborne_frac=airborne,
        single_support_frac=single,
        height_drop_m=max(0.0, ref - float(z5)),
        height_range_m=float(z95 - z5),
        low_posture_frac=float(np.mean(z < ref - LOW_POSTURE_DROP_M)),
        turn_rate_p95_radps=_p95(sig.yaw_rate[sl]),
    )


def measure(root_pos: np.ndarray, root_rot: np.ndarray, dof_pos: np.ndarray, contacts: np.ndarray | None,
            fps: float, standing_height: float | None = None) -> Features:
    """Features of one frame range (see :func:`signals` and :func:`aggregate`)."""
    return aggregate(signals(root_pos, root_rot, dof_pos, contacts, fps), standing_height=standing_height)


def with_extras(features: Features, zmp_margin_m: float | None = None, retarget_residual_m: float | None = None,
                adaptation_change_rad: float | None = None) -> Features:
    """``features`` with the clip-level extras that come from other stages filled in."""
    values = asdict(features)
    for key, value in (("zmp_margin_m", zmp_margin_m), ("retarget_residual_m", retarget_residual_m),
                       ("adaptation_change_rad", adaptation_change_rad)):
        if value is not None and np.isfinite(value):
            values[key] = float(value)
    return Features(**values)


def sub_scores(features: Features, references: Mapping[str, Reference] = REFERENCES) -> dict[str, float]:
    """Per-feature sub-scores in [0, 1] of the available features."""
    out = {}
    for f in fields(Features):
        x = getattr(features, f.name)
        ref = references.get(f.name)
        if ref is None or not np.isfinite(x):
            continue
        out[f.name] = float(np.clip((x - ref.easy) / (ref.hard - ref.easy), 0.0, 1.0))
    return out


def difficulty(features: Features, references: Mapping[str, Reference] = REFERENCES) -> float:
    """Difficulty on the 1-10 completion-level scale (weighted mean of sub-scores)."""
    subs = sub_scores(features, references)
    if not subs:
        return LEVEL_MIN
    w = np.array([references[k].weight for k in subs])
    s = np.array(list(subs.values()))
    score = float(np.sum(w * s) / np.sum(w))
    return LEVEL_MIN + (LEVEL_MAX - LEVEL_MIN) * score


#: retarget metrics read as the retarget residual (m), in order of preference
RESIDUAL_METRICS = ("keypoint_error_m", "keypoint_error_mean_m")


def retarget_residual(metrics: Mapping[str, float]) -> float | None:
    """The retarget residual (m) from a RobotMotion's metrics, if it reports one.

    Uses the first of ``RESIDUAL_METRICS`` present (the retarget stage reports
    ``keypoint_error_m``, the mean keypoint distance); otherwise the metrics
    whose name contains ``residual`` or ``error`` and ends in ``_m``: a
    ``mean`` one if any, else the largest.
    """
    for key in RESIDUAL_METRICS:
        if key in metrics and np.isfinite(float(metrics[key])):
            return float(metrics[key])
    cands = {k: float(v) for k, v in metrics.items()
             if ("residual" in k or "error" in k) and k.endswith("_m") and np.isfinite(float(v))}
    if not cands:
        return None
    means = [v for k, v in sorted(cands.items()) if "mean" in k]
    return means[0] if means else max(cands.values())


def adaptation_change(raw_dof: np.ndarray, adapted_dof: np.ndarray) -> float:
    """RMS joint-angle change (rad) the adapt stage made."""
    return float(np.sqrt(np.mean((np.asarray(adapted_dof, np.float64) - np.asarray(raw_dof, np.float64)) ** 2)))

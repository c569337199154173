"""BVH (Biovision hierarchy) reader: any channel order, any rotation order.

The reader only parses; it knows nothing about units or up axes (see
:mod:`stages.ingest.skeletons` for the per-dataset conventions). Euler angles
are degrees; each joint's rotation is the product of its rotation channels in
the order listed (intrinsic), e.g. ``Zrotation Yrotation Xrotation`` gives
``Rz @ Ry @ Rx``. Position channels replace the matching component of the
joint's OFFSET (the root's OFFSET is usually overridden this way).

Parsing is vectorised: the MOTION block is converted with one numpy call and
Euler angles become quaternions (x y z w) in one batch per distinct rotation
order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import rotations as rot
from core.errors import InputError, SalvagedInputWarning

_AXES = {"X": 0, "Y": 1, "Z": 2}
_MAX_JOINTS = 1024


@dataclass(frozen=True)
class BvhFile:
    """A parsed BVH file, in the file's own units and axes.

    Attributes:
        names: (J,) joint names in file order (End Sites excluded).
        parents: (J,) parent index, -1 for the root.
        offsets: (J, 3) rest OFFSETs relative to the parent (file units).
        channels: per joint, the channel names in file order.
        end_sites: joint index -> End Site OFFSET (file units).
        frame_time: seconds per frame as declared.
        motion: (T, C) channel values (positions in file units, angles in degrees).
        declared_frames: the frame count the header declares.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    end_sites: dict[int, np.ndarray]
    frame_time: float
    motion: np.ndarray
    declared_frames: int

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        """Frame rate (Hz), snapped to the nearest integer when the declared
        frame time is a rounded ``1/n`` (``0.033333`` -> 30, ``.0083333`` -> 120)."""
        raw = 1.0 / self.frame_time
        near = round(raw)
        if near > 0 and abs(raw - near) / near < 1e-4:
            return float(near)
        return raw


def read_bvh(path: str | Path) -> BvhFile:
    """Read and parse a BVH file; raises :class:`InputError` naming the problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "missing_file", "file not found") from None
    except OSError as exc:
        raise InputError(path, "unreadable", f"cannot read file ({exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any bytes
            raise InputError(path, "not_text", "not a text BVH file") from None
    if "\x00" in text:
        raise InputError(path, "not_text", "binary data in a BVH file")
    return parse_bvh(text, path)


def parse_bvh(text: str, path: str | Path | None = None) -> BvhFile:
    """Parse BVH text (LF or CRLF line endings)."""
    head, sep, tail = text.partition("MOTION")
    if not head.lstrip().upper().startswith("HIERARCHY"):
        raise InputError(path, "not_bvh", "does not start with HIERARCHY (not a BVH file)")
    if not sep:
        raise InputError(path, "truncated", "no MOTION section (file truncated or not a BVH file)")
    names, parents, offsets, channels, end_sites = _parse_hierarchy(head.split()[1:], path)
    n_channels = sum(len(c) for c in channels)
    frame_time, declared, motion = _parse_motion(tail, n_channels, path)
    return BvhFile(
        names=tuple(names),
        parents=np.asarray(parents, dtype=np.int32),
        offsets=np.asarray(offsets, dtype=np.float64).reshape(-1, 3),
        channels=tuple(tuple(c) for c in channels),
        end_sites=end_sites,
        frame_time=frame_time,
        motion=motion,
        declared_frames=declared,
    )


def _parse_hierarchy(tokens: list[str], path: str | Path | None) -> tuple[
        list[str], list[int], list[list[float]], list[list[str]], dict[int, np.ndarray]]:
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []          # open joint blocks (-2 marks an End Site block)
    pending: tuple[str, int] | None = None   # ("joint"|"end", parent) waiting for "{"
    i = 0
    n = len(tokens)

    def need(k: int) -> list[str]:
        if i + k > n:
            raise InputError(path, "truncated", "HIERARCHY section ends early (file truncated)")
        return tokens[i:i + k]

    def floats(values: list[str], what: str) -> list[float]:
        try:
            out = [float(v) for v in values]
        except ValueError:
            raise InputError(path, "corrupt_header", f"non-numeric {what}: {' '.join(values)!r}") from None
        if not np.all(np.isfinite(out)):
            raise InputError(path, "non_finite", f"non-finite {what}: {' '.join(values)!r}")
        return out

    while i < n:
        tok = tokens[i]
        key = tok.upper()
        if key in ("ROOT", "JOINT"):
            if key == "ROOT" and (names or stack):
                raise InputError(path, "unsupported_bvh", "more than one ROOT (several skeletons) is not supported")
            if key == "JOINT" and not stack:
                raise InputError(path, "corrupt_header", "JOINT outside of any ROOT block")
            name = need(2)[1]
            if name in names:
                raise InputError(path, "corrupt_header", f"duplicate joint name {name!r}")
            parent = -1 if key == "ROOT" else stack[-1]
            if parent == -2:
                raise InputError(path, "corrupt_header", "JOINT inside an End Site block")
            names.append(name)
            parents.append(parent)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
            if len(names) > _MAX_JOINTS:
                raise InputError(path, "corrupt_header", f"more than {_MAX_JOINTS} joints")
            pending = ("joint", len(names) - 1)
            i += 2
        elif key == "END":
            need(2)
            if not stack or stack[-1] == -2:
                raise InputError(path, "corrupt_header", "End Site outside of a joint")
            pending = ("end", stack[-1])
            i += 2
        elif tok == "{":
            if pending is None:
                raise InputError(path, "corrupt_header", "unexpected '{'")
            stack.append(pending[1] if pending[0] == "joint" else -2)
            if pending[0] == "end":
                end_owner = pending[1]
            pending = None
            i += 1
        elif tok == "}":
            if not stack:
                raise InputError(path, "corrupt_header", "unbalanced '}'")
            stack.pop()
            i += 1
        elif key == "OFFSET":
            values = floats(need(4)[1:], "OFFSET")
            if not stack:
                raise InputError(path, "corrupt_header", "OFFSET outside of a joint")
            if stack[-1] == -2:
                end_sites[end_owner] = np.asarray(values)
            else:
                offsets[stack[-1]] = values
            i += 4
        elif key == "CHANNELS":
            if not stack or stack[-1] == -2:
                raise InputError(path, "corrupt_header", "CHANNELS outside of a joint")
            try:
                count = int(need(2)[1])
            except ValueError:
                raise InputError(path, "corrupt_header", f"bad CHANNELS count {tokens[i + 1]!r}") from None
            if not 0 <= count <= 6:
                raise InputError(path, "corrupt_header", f"CHANNELS count {count} outside 0..6")
            chans = need(2 + count)[2:]
            for c in chans:
                if len(c) != 9 or c[0].upper() not in _AXES or c[1:].lower() not in ("rotation", "position"):
                    raise InputError(path, "corrupt_header", f"unknown channel {c!r}")
            channels[stack[-1]] = [c[0].upper() + c[1:].lower() for c in chans]
            i += 2 + count
        else:
            raise InputError(path, "corrupt_header", f"unexpected token {tok!r} in HIERARCHY")
    if stack:
        raise InputError(path, "truncated", "HIERARCHY blocks not closed (file truncated)")
    if not names:
        raise InputError(path, "corrupt_header", "no joints in HIERARCHY")
    return names, parents, offsets, channels, end_sites


def _parse_motion(tail: str, n_channels: int, path: str | Path | None) -> tuple[float, int, np.ndarray]:
    lines = tail.splitlines()
    idx = 0
    while idx < len(lines) and not lines[idx].strip():
        idx += 1
    header = {}
    for key in ("frames", "frame time"):
        if idx >= len(lines):
            raise InputError(path, "truncated", "MOTION header incomplete (file truncated)")
        label, colon, value = lines[idx].partition(":")
        if not colon or label.strip().lower() != key:
            raise InputError(path, "corrupt_motion", f"expected '{key.title()}:' in the MOTION header, got {lines[idx].strip()[:40]!r}")
        header[key] = value.strip()
        idx += 1
    try:
        declared = int(header["frames"])
        frame_time = float(header["frame time"])
    except ValueError:
        raise InputError(path, "corrupt_motion", f"bad MOTION header (Frames: {header['frames']!r}, Frame Time: {header['frame time']!r})") from None
    if not (np.isfinite(frame_time) and frame_time > 0.0):
        raise InputError(path, "bad_fps", f"Frame Time {frame_time} is not a positive duration")
    rows = [ln for ln in lines[idx:] if ln.strip()]
    counts = [len(r.split()) for r in rows]
    if rows and counts[-1] != n_channels and all(c == n_channels for c in counts[:-1]):
        warnings.warn(f"{path}: last motion line is incomplete ({counts[-1]} of {n_channels} values); dropped "
                      "(file truncated)", SalvagedInputWarning, stacklevel=3)
        rows, counts = rows[:-1], counts[:-1]
    bad = [k for k, c in enumerate(counts) if c != n_channels]
    if bad:
        raise InputError(path, "corrupt_motion",
                         f"motion line {bad[0] + 1} has {counts[bad[0]]} values, the hierarchy declares {n_channels} channels")
    if len(rows) < 2:
        raise InputError(path, "too_short", f"{len(rows)} motion frame(s); a clip needs at least 2")
    try:
        motion = np.loadtxt(rows, dtype=np.float64, ndmin=2, comments=None)   # strict, C parser
    except ValueError as exc:
        raise InputError(path, "corrupt_motion", f"non-numeric motion value ({exc})") from None
    if not np.all(np.isfinite(motion)):
        frame = int(np.flatnonzero(~np.all(np.isfinite(motion), axis=1))[0])
        raise InputError(path, "non_finite", f"NaN or Inf in the motion data (first at frame {frame})")
    if declared != len(rows):
        warnings.warn(f"{path}: header declares {declared} frames but {len(rows)} are present; using "
                      f"{len(rows)}", SalvagedInputWarning, stacklevel=3)
    return frame_time, declared, motion


def local_transforms(bvh: BvhFile) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame local joint transforms in the file's units and axes.

    Returns:
        translations: (T, J, 3) joint origin relative to the parent (OFFSET,
            with position channels replacing their components).
        quats: (T, J, 4) local rotations, xyzw.
    """
    T, J = bvh.num_frames, len(bvh.names)
    trans = np.broadcast_to(bvh.offsets, (T, J, 3)).copy()
    quats = np.zeros((T, J, 4))
    quats[..., 3] = 1.0
    groups: dict[str, tuple[list[int], list[list[int]]]] = {}
    col = 0
    for j, chans in enumerate(bvh.channels):
        rot_cols: list[int] = []
        order = ""
        for c in chans:
            if c.endswith("position"):
                trans[:, j, _AXES[c[0]]] = bvh.motion[:, col]
            else:
                rot_cols.append(col)
                order += c[0]
            col += 1
        if order:
            joints, cols = groups.setdefault(order, ([], []))
            joints.append(j)
            cols.append(rot_cols)
    for order, (joints, cols) in groups.items():
        angles = bvh.motion[:, np.asarray(cols)]          # (T, Jg, len(order))
        quats[:, joints] = euler_to_quat(order, angles)
    return trans, quats


def euler_to_quat(order: str, degrees: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4, xyzw) of intrinsic Euler rotations, applied in ``order``.

    ``order`` is any sequence of axes ("ZYX", "XYZ", even "ZXZX"); ``degrees``
    has the angles in that order on its last axis: ``R = R_order[0] @ R_order[1] @ ...``.
    Vectorised (same result as scipy's upper-case ``from_euler``, several times faster).
    """
    half = np.radians(degrees) * 0.5
    q = None
    for k, axis in enumerate(order):
        qa = np.zeros(half.shape[:-1] + (4,))
        qa[..., _AXES[axis]] = np.sin(half[..., k])
        qa[..., 3] = np.cos(half[..., k])
        q = qa if q is None else rot.multiply(q, qa)
    assert q is not None
    return q

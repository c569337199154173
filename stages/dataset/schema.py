"""Names and layout of the on-disk dataset (see docs/DATASET_FORMAT.md).

A dataset folder holds::

    manifest.json          written last; schema, robot, names, column layout,
                           every other file with its size and sha256, totals,
                           splits, settings and their hash
    clips.json             the clip table (one record per stored clip entry, all metadata)
    index.npz              what readers need at open: per clip (shard, rows, fps, split,
                           difficulty) and the window table, as arrays (no pickles)
    shards/shard-00000.h5  frame data, frame-major, clips concatenated

Each shard holds, per *variant* (``raw`` = retargeted, ``adapted`` = output of
the adapt stage, ``simulated`` = the motion the simulate stage's tracker
produced; the latter two when present) and per column *group*, one float32 array
``<variant>/<group>`` of shape (N, F_group): one row per frame, the columns
given by :func:`column_layout`. Groups: ``core`` (root pose and velocities,
joint positions and velocities, foot contacts: what a tracking policy reads
every step) and ``links`` (key-link poses), so a reader that needs only the
core never reads link data.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA = "motion_dataset/1"
SCHEMA_VERSION = 1

MANIFEST_NAME = "manifest.json"
CLIPS_NAME = "clips.json"
INDEX_NAME = "index.npz"
SHARD_DIR = "shards"
VARIANTS = ("raw", "adapted", "simulated")
GROUPS = ("core", "links")
SPLITS = ("train", "val", "test")

#: Per-clip figures of the adapt and simulate stages in each clip-table record (None where the
#: run did not measure one): measure -> meaning. Each measure but ``adapted_fraction`` is stored
#: as ``<measure>_raw`` and ``<measure>_adapted``, measured on the whole source clip (its raw
#: retarget and its adapted motion); ``adapted_fraction`` is the share of this entry's frames
#: the adaptation changed.
CLIP_FIGURES: dict[str, str] = {
    "adapted_fraction": "share of the entry's frames the adapter changed (0: the raw motion as it was)",
    "zmp_outside_pct": "% frames with the ZMP outside the support polygon (filter check)",
    "zmp_outside_mean_m": "mean distance (m) of the ZMP outside the support, over those frames",
    "torque_over_pct": "% frames with a joint torque over its effort limit (filter check)",
    "flight_momentum_pct": "% frames failing the flight-momentum check",
    "foot_slide_cm_s": "mean horizontal speed (cm/s) of a foot in contact",
    "jerk_rad_s3": "mean |third derivative| of the joint angles (rad/s^3)",
    "limb_error_deg": "mean limb-direction error (deg) against the human",
    "falls_per_min": "falls per minute of the simulate stage's rollout",
    "tracked_fraction": "share of frames the simulated robot tracked (key-body error within the tolerance)",
}
#: the clip-table keys of :data:`CLIP_FIGURES`
CLIP_FIGURE_KEYS: tuple[str, ...] = ("adapted_fraction",) + tuple(
    f"{m}_{v}" for m in CLIP_FIGURES if m != "adapted_fraction" for v in ("raw", "adapted"))


def shard_name(index: int) -> str:
    """Relative path of shard ``index`` inside the dataset folder."""
    return f"{SHARD_DIR}/shard-{index:05d}.h5"


@dataclass(frozen=True)
class Column:
    """A named block of columns in the frame array.

    Attributes:
        name: field name (e.g. ``root_rot``).
        group: the array (column group) holding it: ``core`` or ``links``.
        start: first column inside its group's array.
        shape: per-frame shape of the field (e.g. ``(4,)`` or ``(L, 3)``).
        kind: how the reader interpolates it between frames: ``linear``,
            ``quat`` (slerp; last axis is an xyzw quaternion) or ``nearest``.
        unit: unit and frame of the values.
    """

    name: str
    group: str
    start: int
    shape: tuple[int, ...]
    kind: str
    unit: str

    @property
    def width(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def stop(self) -> int:
        return self.start + self.width

    def to_json(self) -> dict:
        return {"name": self.name, "group": self.group, "start": self.start, "shape": list(self.shape), "kind": self.kind,
                "unit": self.unit}

    @classmethod
    def from_json(cls, data: dict) -> Column:
        return cls(str(data["name"]), str(data["group"]), int(data["start"]), tuple(int(s) for s in data["shape"]), str(data["kind"]),
                   str(data.get("unit", "")))


def column_layout(num_dofs: int, num_links: int) -> tuple[Column, ...]:
    """The frame columns for a robot with ``num_dofs`` joints and ``num_links`` key links."""
    spec = [
        ("root_pos", "core", (3,), "linear", "m, world Z-up"),
        ("root_rot", "core", (4,), "quat", "quaternion xyzw, root in world"),
        ("root_lin_vel", "core", (3,), "linear", "m/s, world frame"),
        ("root_ang_vel", "core", (3,), "linear", "rad/s, world frame"),
        ("dof_pos", "core", (num_dofs,), "linear", "rad"),
        ("dof_vel", "core", (num_dofs,), "linear", "rad/s"),
        ("contacts", "core", (2,), "nearest", "1 = foot in contact [left, right]"),
        ("link_pos", "links", (num_links, 3), "linear", "m, world Z-up"),
        ("link_rot", "links", (num_links, 4), "quat", "quaternion xyzw, link in world"),
    ]
    columns = []
    next_start = {g: 0 for g in GROUPS}
    for name, group, shape, kind, unit in spec:
        col = Column(name, group, next_start[group], shape, kind, unit)
        columns.append(col)
        next_start[group] = col.stop
    return tuple(columns)


def group_widths(columns: tuple[Column, ...]) -> dict[str, int]:
    """Number of columns of each group's array."""
    widths = {g: 0 for g in GROUPS}
    for c in columns:
        widths[c.group] = max(widths[c.group], c.stop)
    return widths

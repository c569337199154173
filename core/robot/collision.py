"""Self-collision on capsule primitives (spheres are capsules with a == b).

Closed-form, vectorised segment–segment distances: for a batch of poses, the
signed distance of every configured pair is ``|c_a - c_b| - r_a - r_b`` where
``c_a``, ``c_b`` are the closest points of the two capsules' core segments.
Negative values are penetration depths (m). Units: metres; frames: world
Z-up; quaternions xyzw.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from core.robot.config import Primitive, RobotConfig
from core.rotations import to_matrix

_EPS = 1e-12


@dataclass(frozen=True)
class PairDistances:
    """Distances of the configured primitive pairs over a batch.

    Attributes:
        signed: (T, P) signed distance, m (negative = penetration depth).
        point_a, point_b: (T, P, 3) closest points on the two capsule surfaces
            (world, m); for penetrating pairs they lie inside the other capsule.
    """

    signed: np.ndarray
    point_a: np.ndarray
    point_b: np.ndarray


@dataclass(frozen=True)
class CollisionModel:
    """Capsules attached to frames and the pairs to check.

    Attributes:
        primitives: (N) the capsules.
        frames: distinct frame names the capsules hang on (FK these).
        prim_frame: (N,) index into ``frames`` per capsule.
        a_local, b_local: (N, 3) segment end points in their frame, m.
        radius: (N,) m.
        pairs: (P, 2) primitive indices of the checked pairs.
        pair_names: (P) (name_a, name_b).
    """

    primitives: tuple[Primitive, ...]
    frames: tuple[str, ...]
    prim_frame: np.ndarray
    a_local: np.ndarray
    b_local: np.ndarray
    radius: np.ndarray
    pairs: np.ndarray
    pair_names: tuple[tuple[str, str], ...]

    @classmethod
    def build(cls, config: RobotConfig, adjacent: set[frozenset[str]] | None = None) -> CollisionModel:
        """From a config's primitives, groups and pairs.

        ``collision_pairs`` name groups (or single primitives); each pair of
        groups expands to every primitive pair across them, skipping pairs on
        the same frame, pairs in ``adjacent`` (frames one joint apart), and
        duplicates. A config with no ``collision_pairs`` gets every such pair
        as a candidate (see :meth:`Robot.collision`, which drops the ones
        already overlapping in the default pose).
        """
        prims = config.primitives
        frames = tuple(dict.fromkeys(p.frame for p in prims))
        index = {p.name: i for i, p in enumerate(prims)}
        groups = dict(config.collision_groups)
        adjacent = adjacent or set()
        seen: set[tuple[int, int]] = set()
        pairs = []
        requested = config.collision_pairs or tuple((a.name, b.name) for a, b in product(prims, prims)
                                                    if a.name < b.name)
        for ga, gb in requested:
            for na, nb in product(groups.get(ga, (ga,)), groups.get(gb, (gb,))):
                i, j = sorted((index[na], index[nb]))
                fa, fb = prims[i].frame, prims[j].frame
                if i == j or fa == fb or frozenset((fa, fb)) in adjacent or (i, j) in seen:
                    continue
                seen.add((i, j))
                pairs.append((i, j))
        pairs_arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        return cls(
            primitives=prims,
            frames=frames,
            prim_frame=np.array([frames.index(p.frame) for p in prims], dtype=np.int64),
            a_local=np.array([p.a for p in prims], dtype=np.float64).reshape(-1, 3),
            b_local=np.array([p.b for p in prims], dtype=np.float64).reshape(-1, 3),
            radius=np.array([p.radius for p in prims], dtype=np.float64),
            pairs=pairs_arr,
            pair_names=tuple((prims[i].name, prims[j].name) for i, j in pairs),
        )

    def with_pairs(self, keep: np.ndarray) -> CollisionModel:
        """The same capsules with only the pairs where ``keep`` (P,) is true."""
        keep = np.asarray(keep, dtype=bool)
        return CollisionModel(self.primitives, self.frames, self.prim_frame, self.a_local, self.b_local,
                              self.radius, self.pairs[keep],
                              tuple(n for n, k in zip(self.pair_names, keep) if k))

    def segment_offsets(self, frame_rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World offsets (T, N, 3) of every capsule's segment ends from its frame origin (m).

        The rotation-dependent part of :meth:`segments`; compute it once and pass it there when
        several segment sets share the frame rotations (e.g. the solved and the moved capsules).

        Args:
            frame_rot: (T, F, 4) xyzw quaternions or (T, F, 3, 3) rotation matrices of ``self.frames``.
        """
        rot = np.asarray(frame_rot, dtype=np.float64)
        if rot.shape[-1] == 4:
            rot = to_matrix(rot)
        rot = rot[:, self.prim_frame]
        return np.einsum("tnij,nj->tni", rot, self.a_local), np.einsum("tnij,nj->tni", rot, self.b_local)

    def segments(self, frame_pos: np.ndarray, frame_rot: np.ndarray | None = None,
                 offsets: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World end points (T, N, 3) of every capsule's core segment.

        Args:
            frame_pos: (T, F, 3) world positions of ``self.frames``, m.
            frame_rot: (T, F, 4) xyzw quaternions or (T, F, 3, 3) rotation matrices.
            offsets: :meth:`segment_offsets` of ``frame_rot``, precomputed (then ``frame_rot`` is unused).
        """
        pos = np.asarray(frame_pos, dtype=np.float64)[:, self.prim_frame]
        if offsets is None:
            if frame_rot is None:
                raise ValueError("segments needs frame_rot or its offsets")
            offsets = self.segment_offsets(frame_rot)
        return pos + offsets[0], pos + offsets[1]

    def pair_distances(self, frame_pos: np.ndarray, frame_rot: np.ndarray) -> PairDistances:
        """Signed distances (T, P) of the configured pairs (see :meth:`segments` for args)."""
        a, b = self.segments(frame_pos, frame_rot)
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        ca, cb = closest_points_segments(a[:, i], b[:, i], a[:, j], b[:, j])
        diff = cb - ca
        dist = np.linalg.norm(diff, axis=-1)
        ra, rb = self.radius[i], self.radius[j]
        unit = diff / np.maximum(dist, _EPS)[..., None]
        return PairDistances(signed=dist - ra - rb, point_a=ca + unit * ra[:, None], point_b=cb - unit * rb[:, None])

    def lowest_points(self, frame_pos: np.ndarray, frame_rot: np.ndarray | None = None,
                      offsets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """(T, N) world height (m) of each capsule's lowest surface point (args as :meth:`segments`)."""
        a, b = self.segments(frame_pos, frame_rot, offsets)
        return np.minimum(a[..., 2], b[..., 2]) - self.radius


def closest_segment_parameters(a: np.ndarray, e: np.ndarray, b: np.ndarray, c: np.ndarray,
                               f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameters (s, t) in [0, 1] of the closest points p1 + s d1 and p2 + t d2 of two segments, from
    their Gram entries: ``a = d1.d1``, ``e = d2.d2``, ``b = d1.d2``, ``c = d1.r``, ``f = d2.r`` with
    ``d1 = q1 - p1``, ``d2 = q2 - p2``, ``r = p1 - p2`` (arrays of any one shape).

    The one closest-point routine of the code base (the IK's self-collision barrier passes the Gram
    entries it gets from one batched product; :func:`closest_points_segments` computes them): s from
    the infinite lines' solution, then t for that s, then s again for that t, each clamped to [0, 1].
    A tiny regularisation (1e-12) makes point segments (spheres) and parallel segments well defined.
    """
    a = a + _EPS
    e = e + _EPS
    s = np.minimum(np.maximum((b * f - c * e) / (a * e - b * b + _EPS), 0.0), 1.0)
    t = np.minimum(np.maximum((b * s + f) / e, 0.0), 1.0)
    s = np.minimum(np.maximum((b * t - c) / a, 0.0), 1.0)
    return s, t


def closest_points_segments(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points between segments [p1, q1] and [p2, q2] (arrays (..., 3), broadcast).

    Handles degenerate (point) segments and parallel segments
    (:func:`closest_segment_parameters`).

    Returns:
        c1 on the first, c2 on the second segment, each (..., 3).
    """
    d1 = q1 - p1
    d2 = q2 - p2
    r = p1 - p2
    s, t = closest_segment_parameters(np.einsum("...i,...i->...", d1, d1), np.einsum("...i,...i->...", d2, d2),
                                      np.einsum("...i,...i->...", d1, d2), np.einsum("...i,...i->...", d1, r),
                                      np.einsum("...i,...i->...", d2, r))
    return p1 + s[..., None] * d1, p2 + t[..., None] * d2

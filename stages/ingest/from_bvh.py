"""BVH file -> :class:`SourceMotion` (units to metres, Y-up to Z-up)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import rotations as rot
from stages.ingest.build import SourceMotion
from stages.ingest.bvh import BvhFile, local_transforms
from stages.ingest.skeletons import BvhFormat, resolve_bvh_format


def bvh_source(bvh: BvhFile, bvh_format: str = "auto", path: str | Path | None = None) -> tuple[SourceMotion, BvhFormat]:
    """Convert a parsed BVH to metres and the Z-up world.

    Every local rotation is conjugated by the file-to-world rotation ``c``
    (``q' = c q c^-1``) and every translation rotated by ``c`` and scaled to
    metres, so global rotations become ``c G c^-1``: identity in the rest
    pose, expressed in Z-up world axes. A proper rotation, never a mirror.
    """
    fmt, smap = resolve_bvh_format(bvh.names, bvh_format, path)
    trans, quats = local_transforms(bvh)
    c = np.asarray(fmt.to_world)
    c_inv = rot.conjugate(c)
    quats = rot.multiply(rot.multiply(c, quats), c_inv)
    trans = rot.rotate(c, trans) * fmt.unit
    rest = rot.rotate(c, bvh.offsets) * fmt.unit
    rest[bvh.parents < 0] = 0.0
    return SourceMotion(
        names=bvh.names,
        parents=bvh.parents,
        translations=trans,
        local_quats=quats,
        rest_offsets=rest,
        fps=bvh.fps,
        skeleton=smap,
    ), fmt


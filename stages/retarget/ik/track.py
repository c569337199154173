"""The IK over a clip's frames: the first frame from several starts, then one warm-started solve per
frame with the reseed check."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from stages.retarget.ik.multistart import solve_first_frame
from stages.retarget.ik.qp import QPStatus
from stages.retarget.ik.reseed import Reseeder
from stages.retarget.ik.settings import FrameTargets
from stages.retarget.ik.solver import DiffIK


@dataclass(frozen=True)
class Track:
    """A solved clip.

    Attributes:
        q: (T, nq) configurations (root xyz m, root quaternion x y z w, joints rad).
        qp_status: (T,) int8 worst :class:`~stages.retarget.ik.qp.QPStatus` per frame (0 ok,
            1 swing-clearance rows infeasible and dropped, 2 ground/barrier rows infeasible and
            dropped, 3 no step).
        info: timings and counters (JSON-able).
    """

    q: np.ndarray
    qp_status: np.ndarray
    info: dict


def track(ik: DiffIK, targets: Callable[[int], FrameTargets], T: int, fps: float, root_index: int,
          progress: bool = False) -> Track:
    """Solve frames 0..T-1 (``targets(t)`` gives frame t's targets)."""
    start = time.perf_counter()
    fallbacks0 = ik.failures
    q, info = solve_first_frame(ik, targets(0), root_index)
    first = time.perf_counter() - start
    out = np.empty((T, ik.model.nq))
    status = np.zeros(T, dtype=np.int8)
    out[0] = q
    status[0] = info.pop("first_frame_status")
    dt = 1.0 / fps
    reseed = Reseeder(ik, fps, root_index)
    for t in tqdm(range(1, T), desc="retarget", unit="frame", disable=not progress, leave=False):
        ft = targets(t)
        q = ik.solve_frame(q, ft, dt)
        out[t] = q
        status[t] = ik.status
        reseed.check(t, q, ft)
    total = time.perf_counter() - start
    info.update({"first_frame_s": round(first, 4), "ik_s": round(total, 4),
                 "ik_frames_per_s": round((T - 1) / max(total - first, 1e-9), 1),
                 "qp_fallbacks": int(ik.failures - fallbacks0), "reseeds": reseed.reseeds,
                 "reseed_tries": reseed.tries,
                 "swing_dropped_frames": int(np.count_nonzero(status == QPStatus.SOFT_DROPPED)),
                 "ik_infeasible_frames": int(np.count_nonzero(status >= QPStatus.ROWS_DROPPED)),
                 "ik_no_step_frames": int(np.count_nonzero(status >= QPStatus.NO_STEP))})
    return Track(out, status, info)

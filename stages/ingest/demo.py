"""The built-in demo corpus: procedural clips written in the real input formats.

``write_demo_corpus(folder, seed)`` writes ~15 clips of 3-5.5 s at 30 fps:
AMASS-layout SMPL ``.npz`` files on the built-in mean-shape skeleton and
LAFAN1-style BVH files. File names say what each clip is:

- feasible: ``walk_*``, ``turn_*``, ``squat_*``, ``wave_*``, ``kick_*``, ``jump_*``;
- deliberately infeasible, each failing one specific check:
  ``infeasible_too_fast_*`` (joint velocity: arms whipping at 6 Hz),
  ``infeasible_floating_*`` (floating: the body rises 0.45 m with no contact
  for ~1.5 s), ``infeasible_limbs_through_body_*`` (self-collision: the hand
  enters the chest and the arm sweeps through the trunk to the other side), ``infeasible_lying_on_floor_*`` (non-foot ground
  contact: lying on the back).

Deterministic for a seed: the seed jitters speeds, step lengths, headings
and amplitudes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from stages.ingest import demo_clips as clips
from stages.ingest.demo_pose import PoseTargets, solve_pose, to_local
from stages.ingest.demo_writers import write_amass_npz, write_bvh

DEMO_FPS = 30.0


def _catalogue(rng: np.random.Generator) -> list[tuple[str, str, Callable[[], PoseTargets]]]:
    """(file stem, format, generator) for every demo clip."""
    u = rng.uniform
    f = DEMO_FPS
    h = [float(u(-np.pi, np.pi)) for _ in range(16)]
    return [
        ("walk_straight", "npz", lambda: clips.walk(5.0, f, step_length=u(0.45, 0.55), step_time=u(0.52, 0.58),
                                                    heading0=h[0])),
        ("walk_slow", "bvh", lambda: clips.walk(4.5, f, step_length=u(0.35, 0.42), step_time=u(0.6, 0.66),
                                                heading0=h[1])),
        ("turn_left", "npz", lambda: clips.walk(5.0, f, step_length=0.4, step_time=0.58, curvature=u(0.45, 0.6),
                                                heading0=h[2])),
        ("turn_right", "bvh", lambda: clips.walk(5.0, f, step_length=0.4, step_time=0.58, curvature=-u(0.45, 0.6),
                                                 heading0=h[3])),
        ("squat", "npz", lambda: clips.squat(5.0, f, depth=u(0.3, 0.38), heading=h[4])),
        ("wave_right", "npz", lambda: clips.wave(4.0, f, side=1, freq=u(1.4, 1.8), heading=h[5])),
        ("wave_left", "bvh", lambda: clips.wave(4.0, f, side=0, freq=u(1.4, 1.8), heading=h[6])),
        ("kick_right", "npz", lambda: clips.kick(4.0, f, side=1, height=u(0.35, 0.45), heading=h[7])),
        ("kick_left", "bvh", lambda: clips.kick(4.0, f, side=0, height=u(0.3, 0.4), heading=h[8])),
        ("jump_vertical", "npz", lambda: clips.jump(4.0, f, flight=u(0.28, 0.34), heading=h[9])),
        ("jump_forward", "bvh", lambda: clips.jump(4.0, f, flight=0.32, forward=u(0.25, 0.35), heading=h[10])),
        ("infeasible_too_fast", "npz", lambda: clips.flail_too_fast(3.0, f, freq=u(7.0, 8.0), heading=h[11])),
        ("infeasible_floating", "bvh", lambda: clips.floating(5.5, f, height=u(0.4, 0.5), heading=h[12])),
        ("infeasible_limbs_through_body", "npz", lambda: clips.arm_through_body(4.0, f, side=1, heading=h[13])),
        ("infeasible_lying_on_floor", "bvh", lambda: clips.lying(4.0, f, heading=h[14])),
    ]


def write_demo_corpus(folder: Path, seed: int = 0) -> list[Path]:
    """Write the demo clips into ``folder``; returns their paths (sorted by name)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for stem, fmt, make in _catalogue(rng):
        targets = make()
        G, pelvis = solve_pose(targets)
        local = to_local(G)
        path = folder / f"{stem}_s{seed}.{fmt}"
        if fmt == "npz":
            write_amass_npz(path, local, pelvis, DEMO_FPS)
        else:
            write_bvh(path, local, pelvis, DEMO_FPS)
        written.append(path)
    return sorted(written)

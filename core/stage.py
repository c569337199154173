"""The contract between the DAG and the stages.

A **clip stage** turns one clip's upstream artifacts into one new artifact:

    run(inp: StageInput, settings) -> StageResult

It is a pure function: it reads only ``inp`` (source file, upstream artifact
paths) and ``settings`` (the stage's typed dataclass from the manifest), and
returns arrays plus a JSON-able summary. The DAG writes the artifact
atomically, keys it by a content hash, records it in the run manifest and skips
it on a later run when nothing that determines it changed.

Raising :class:`core.errors.InputError` rejects the clip with that reason
code (the run goes on); any other exception records the clip as ``error``.
Returning ``StageResult(status="rejected", ...)`` rejects it as well (the
filter stage does so for infeasible clips) while still writing the artifact.

A **corpus stage** is a reduce node: it receives every clip's outcome and
writes corpus-level outputs (a trained model, dataset shards) under its own
folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "rejected", "error"]


@dataclass(frozen=True)
class ClipSource:
    """Where a clip comes from (one input file) and how to read it."""

    clip_id: str             # sanitised, unique within the run: [A-Za-z0-9._-]+ with '__' for '/'
    path: str                # absolute path of the input file
    sha256: str              # of the input file's bytes
    kind: str                # "amass" | "bvh"
    dataset: str             # dataset name from the manifest source (e.g. "LAFAN1", "demo")
    license: str             # licence tag from the manifest source
    body_models: str | None = None   # folder with SMPL/SMPL-H/SMPL-X .npz model files
    require_body_models: bool = False
    bvh_format: str = "auto"          # "auto" | "lafan1" | "cmu" | ... (BVH unit/axis convention)


@dataclass(frozen=True)
class RunGlobals:
    """Manifest-level settings every stage may read."""

    fps: float = 30.0
    robot: str = "g1"
    seed: int = 0


@dataclass(frozen=True)
class StageInput:
    """What a clip stage sees."""

    clip: ClipSource
    globals: RunGlobals
    upstream: Mapping[str, Path] = field(default_factory=dict)            # stage -> artifact .npz
    upstream_summary: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # stage -> summary
    corpus: Mapping[str, Path] = field(default_factory=dict)              # corpus stage -> output dir


@dataclass
class StageResult:
    """What a clip stage returns."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)      # JSON-able, stored in the artifact
    summary: dict[str, Any] = field(default_factory=dict)   # JSON-able, copied into the run manifest
    status: Status = "ok"
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ClipStage:
    name: str
    version: str                         # bump when the stage's output changes for the same input
    settings_type: type
    run: Callable[[StageInput, Any], StageResult]


@dataclass(frozen=True)
class ClipOutcome:
    """One clip's final state as a corpus stage receives it."""

    clip: ClipSource
    status: Status
    artifacts: Mapping[str, Path]                # stage -> artifact path (ok stages only)
    summaries: Mapping[str, dict[str, Any]]     # stage -> summary
    hashes: Mapping[str, str]                   # stage -> artifact hash


@dataclass(frozen=True)
class CorpusStage:
    name: str
    version: str
    settings_type: type
    # run(clips, settings, globals, out_dir) -> JSON-able summary; writes under out_dir
    run: Callable[[list[ClipOutcome], Any, RunGlobals, Path], dict[str, Any]]
    needs: tuple[str, ...] = ()          # clip stages whose artifacts it reads

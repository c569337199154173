"""Build and run the stage DAG on dask.

Per-clip stages form one chain per clip (ingest -> retarget -> filter ...);
corpus stages (training the autoencoder, writing shards) are reduce nodes that
wait for every clip. Every node is keyed by content hash (``pipeline/store``),
so a second run reuses what is done and a changed setting re-runs that stage
and the ones after it only.

Execution: a ``dask.distributed.LocalCluster`` with ``workers`` single-threaded
processes by default, an existing scheduler with ``scheduler=ADDRESS``, or
in-process and sequential with ``workers=0`` (debugging).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from core.progress import Progress
from core.settings import to_plain
from core.stage import ClipSource, ClipStage, CorpusStage
from pipeline.config import Manifest
from pipeline.fingerprint import FingerprintCache
from pipeline.registry import GLOBALS_USED, STAGE_ORDER, AnyStage, default_stages
from pipeline.sources import discover
from pipeline.store import artifact_key, clean_stale
from pipeline.tasks import ClipState, ClipTask, CorpusTask, run_clip_task, run_corpus_task

if TYPE_CHECKING:
    from distributed import Future

#: One planned stage: its name and its clip tasks (clip stage) or its one corpus task.
PlanStep = tuple[str, Union[list[ClipTask], CorpusTask]]


@dataclass(frozen=True)
class RunOptions:
    until: str = "dataset"
    workers: int | None = None          # None: one per core; 0: in-process, sequential
    scheduler: str | None = None        # address of an existing dask.distributed scheduler
    strict: bool = False
    progress: bool = True


@dataclass
class RunResult:
    manifest: Manifest
    stages: list[str]                       # stages that ran, in order
    missing: list[str]                      # stages up to `until` this version does not ship
    clips: list[ClipState]
    corpus: dict[str, dict[str, Any]]
    wall_s: float
    started: float = field(default_factory=time.time)


def planned_stages(until: str, stages: dict[str, AnyStage]) -> tuple[list[str], list[str]]:
    """Stages to run up to and including ``until`` (available ones) and the missing ones."""
    if until not in STAGE_ORDER:
        raise ValueError(f"unknown stage {until!r}; choose one of {', '.join(STAGE_ORDER)}")
    names = STAGE_ORDER[: STAGE_ORDER.index(until) + 1]
    present = [n for n in names if n in stages]
    return present, [n for n in names if n not in present]


def _clip_inputs(clip: ClipSource, fingerprints: FingerprintCache) -> dict[str, Any]:
    """What the first stage reads of a clip: the file's content and how to read it, not its location.

    ``body_models`` is the content fingerprint of the model files ingest could
    load (AMASS clips; a BVH file reads none).
    """
    fields = dataclasses.asdict(clip)
    fields.pop("clip_id")
    fields.pop("path")
    fields["body_models"] = fingerprints.body_models(clip.body_models) if clip.kind != "bvh" else None
    return fields


def _globals_for(manifest: Manifest, stage: str, fingerprints: FingerprintCache) -> dict[str, Any]:
    """The manifest-level settings ``stage`` reads; with the robot, the content of its files."""
    g = dataclasses.asdict(manifest.globals)
    used = {k: g[k] for k in GLOBALS_USED.get(stage, tuple(g))}
    if "robot" in used:
        used["robot_files"] = fingerprints.robot(used["robot"])
    return used


def run_pipeline(manifest: Manifest, options: RunOptions, stage_set: dict[str, AnyStage] | None = None) -> RunResult:
    """Run the DAG for ``manifest`` up to ``options.until``.

    ``stage_set`` (default: every stage this version ships) must be the set the
    manifest was parsed with.
    """
    start = time.perf_counter()
    stage_set = default_stages() if stage_set is None else stage_set
    stages, missing = planned_stages(options.until, stage_set)
    out = manifest.output
    out.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    clips = discover(manifest)

    # Plan: every node's key, computed up front from the content of its inputs only.
    fingerprints = FingerprintCache()
    keys: dict[tuple[str, str], str] = {}
    corpus_keys: dict[str, str] = {}
    prev: dict[str, str] = {c.clip_id: "" for c in clips}
    corpus_seen: dict[str, str] = {}
    plan: list[PlanStep] = []
    for name in stages:
        stage = stage_set[name]
        settings = manifest.stage_settings[name]
        plain = to_plain(settings)
        code = fingerprints.stage_code(stage)
        globals_used = _globals_for(manifest, name, fingerprints)
        if isinstance(stage, ClipStage):
            tasks: list[ClipTask] = []
            for clip in clips:
                inputs: dict[str, Any] = ({"source": _clip_inputs(clip, fingerprints)} if not prev[clip.clip_id]
                                          else {"upstream": prev[clip.clip_id]})
                inputs["corpus"] = dict(corpus_seen)
                key = artifact_key(name, stage.version, code, plain, globals_used, inputs)
                keys[(clip.clip_id, name)] = prev[clip.clip_id] = key
                tasks.append(ClipTask(name, key, clip, stage, settings, manifest.globals, out, tuple(corpus_seen)))
            plan.append((name, tasks))
        elif isinstance(stage, CorpusStage):
            corpus_inputs: dict[str, Any] = {"clips": sorted(prev.items()), "corpus": dict(corpus_seen)}
            key = artifact_key(name, stage.version, code, plain, globals_used, corpus_inputs)
            corpus_keys[name] = corpus_seen[name] = key
            plan.append((name, CorpusTask(name, key, stage, settings, manifest.globals, out)))
        else:
            raise TypeError(f"stage {name!r} is neither a ClipStage nor a CorpusStage")

    if options.workers == 0 and options.scheduler is None:
        states, corpus = _run_sequential(plan, clips, options)
    else:
        states, corpus = _run_distributed(plan, clips, options)
    return RunResult(manifest, stages, missing, states, corpus, time.perf_counter() - start)


def _bars(plan: list[PlanStep], enabled: bool) -> dict[str, Progress]:
    """One progress counter per stage: bars on a terminal, a plain line now and then in a log, none if disabled."""
    bars = {}
    for position, (name, tasks) in enumerate(plan):
        total = len(tasks) if isinstance(tasks, list) else 1
        bars[name] = Progress(total, name, "clip" if isinstance(tasks, list) else "step", enabled=enabled,
                              position=position)
    return bars


def _run_sequential(plan: list[PlanStep], clips: list[ClipSource],
                    options: RunOptions) -> tuple[list[ClipState], dict[str, dict[str, Any]]]:
    states = {c.clip_id: ClipState(c) for c in clips}
    corpus: dict[str, dict[str, Any]] = {}
    bars = _bars(plan, options.progress)
    for name, tasks in plan:
        if isinstance(tasks, list):
            for task in tasks:
                states[task.clip.clip_id] = run_clip_task(task, states[task.clip.clip_id], corpus)
                bars[name].update(1)
        else:
            corpus[name] = run_corpus_task(tasks, list(states.values()))
            bars[name].update(1)
    for bar in bars.values():
        bar.close()
    return list(states.values()), corpus


def _run_distributed(plan: list[PlanStep], clips: list[ClipSource],
                     options: RunOptions) -> tuple[list[ClipState], dict[str, dict[str, Any]]]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if options.scheduler:
        client = Client(options.scheduler, timeout="30s")
    else:
        workers = options.workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        futures: dict[str, ClipState | Future] = {c.clip_id: ClipState(c) for c in clips}
        corpus_futures: dict[str, Future] = {}
        stage_of: dict[Any, str] = {}        # dask key -> stage name
        every: list[Future] = []
        for name, tasks in plan:
            if isinstance(tasks, list):
                for task in tasks:
                    clip_future = client.submit(run_clip_task, task, futures[task.clip.clip_id],
                                                dict(corpus_futures), key=f"{name}-{task.clip.clip_id}-{task.key[:12]}",
                                                pure=False)
                    futures[task.clip.clip_id] = clip_future
                    stage_of[clip_future.key] = name
                    every.append(clip_future)
            else:
                corpus_future = client.submit(run_corpus_task, tasks, list(futures.values()),
                                              key=f"{name}-{tasks.key[:12]}", pure=False)
                corpus_futures[name] = corpus_future
                stage_of[corpus_future.key] = name
                every.append(corpus_future)
        bars = _bars(plan, options.progress)
        for finished in as_completed(every):
            bars[stage_of[finished.key]].update(1)
        for bar in bars.values():
            bar.close()
        states: list[ClipState] = []
        for clip in clips:
            done = futures[clip.clip_id]
            if isinstance(done, ClipState):
                states.append(done)
                continue
            try:
                states.append(done.result())
            except Exception as exc:  # a task that could not even run (worker died, unpicklable)
                states.append(ClipState(clip, {"pipeline": {"stage": "pipeline", "status": "error",
                                                            "reason": f"exception:{type(exc).__name__}",
                                                            "message": str(exc), "key": "", "artifact": None}}))
        corpus: dict[str, dict[str, Any]] = {}
        for name, pending in corpus_futures.items():
            try:
                corpus[name] = pending.result()
            except Exception as exc:
                corpus[name] = {"stage": name, "status": "error", "reason": f"exception:{type(exc).__name__}",
                                "message": str(exc), "key": ""}
        return states, corpus
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

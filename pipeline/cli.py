"""Command-line interface: ``python -m pipeline COMMAND --help``.

Commands: ``run`` (the DAG on a manifest; a run up to the last stage also
writes the run report), ``status`` (a run's manifest as a table), the
single-file tools each stage registers (``ingest-clip``, ``retarget-clip``,
``filter-clip``, ``verify``, ``export``) and the viewers of ``viz/tool.py``
(``report``, ``preview``, ``view``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import PipelineError
from pipeline.registry import STAGE_ORDER, TOOL_MODULES

if TYPE_CHECKING:
    from pipeline.config import Manifest

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


#: the built-in recipe, found from any working directory
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO_ROOT / "manifests" / "default.yaml"


def default_manifest() -> Path:
    """``manifests/default.yaml`` of the current folder when there is one, else the project's own."""
    here = Path("manifests") / "default.yaml"
    return here if here.is_file() else DEFAULT_MANIFEST


def with_strict_input(manifest: Manifest, strict_input: bool) -> Manifest:
    """The manifest with ``stages.ingest.strict_input`` switched on (``--strict-input``)."""
    import dataclasses

    if not strict_input or "ingest" not in manifest.stage_settings:
        return manifest
    ingest = dataclasses.replace(manifest.stage_settings["ingest"], strict_input=True)
    return dataclasses.replace(manifest, stage_settings={**manifest.stage_settings, "ingest": ingest})


def _run(args: argparse.Namespace) -> int:
    from pipeline.config import load_manifest
    from pipeline.dag import RunOptions, run_pipeline
    from pipeline.lock import run_lock
    from pipeline.run_manifest import build_run_manifest, format_table, merge_previous, read_previous, write_run_manifest

    manifest = with_strict_input(load_manifest(args.manifest or default_manifest(), args.out), args.strict_input)
    if args.workers is not None and args.workers < 0:
        raise PipelineError("--workers must be 0 (in-process) or more")
    options = RunOptions(until=args.until, workers=args.workers, scheduler=args.scheduler, strict=args.strict,
                         progress=not args.no_progress)
    with run_lock(manifest.output, wait_s=args.wait):
        previous = read_previous(manifest.output)
        result = run_pipeline(manifest, options)
        data = merge_previous(build_run_manifest(result), previous)
        path = write_run_manifest(manifest.output, data)
    print(format_table(data, per_clip=not args.quiet))
    print(f"run manifest: {path}")
    if args.until == STAGE_ORDER[-1] and not args.no_report:
        from viz.report.api import write_report

        report = write_report(manifest.output)
        print(f"run report: {report.path} ({report.seconds:.1f} s)")
    if result.missing:
        print(f"note: stage(s) {', '.join(result.missing)} are not part of this version; "
              f"ran {', '.join(result.stages)}", file=sys.stderr)
    problems = run_problems(data, args.strict)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK


def run_problems(data: dict, strict: bool) -> list[str]:
    """Why a finished run counts as failed (empty list: it succeeded)."""
    totals = data["totals"]
    problems = []
    if totals["ok"] == 0:
        problems.append("no clip made it through the pipeline")
    for name in totals["corpus_errors"]:
        problems.append(f"stage {name} failed: {data['corpus'][name].get('message')}")
    if strict and totals["errors"]:
        problems.append(f"{totals['errors']} clip(s) raised errors (--strict)")
    return problems


def _status(args: argparse.Namespace) -> int:
    from pipeline.run_manifest import format_table, read_run_manifest

    data = read_run_manifest(Path(args.out))
    if args.json:
        print(json.dumps(data["totals"] if args.totals else data, indent=1))
    else:
        print(format_table(data, per_clip=not args.totals))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Human motion capture to humanoid robot reference datasets.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the stage DAG for a manifest",
                         description="Run the pipeline (ingest -> retarget -> filter -> simulate -> adapt -> dataset) up to "
                                     "--until for a manifest. Finished work is reused; a changed setting re-runs "
                                     "that stage and the ones after it.")
    run.add_argument("--manifest", "-m", default=None,
                     help="manifest YAML (default: manifests/default.yaml here, else the project's own)")
    run.add_argument("--until", default="dataset", choices=STAGE_ORDER, help="last stage to run (default: %(default)s)")
    run.add_argument("--out", default=None, help="output folder (default: the manifest's 'output')")
    run.add_argument("--workers", type=int, default=None,
                     help="dask worker processes on this machine (default: one per core; 0: in-process, sequential)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="address of a running dask.distributed scheduler (e.g. tcp://10.0.0.5:8786); "
                          "its workers must see the same output folder")
    run.add_argument("--strict", action="store_true", help="fail the run (exit 1) if any clip raised an error")
    run.add_argument("--quiet", action="store_true", help="print totals only, not the per-clip table")
    run.add_argument("--strict-input", action="store_true",
                     help="reject input files that can only be salvaged (truncated BVH, wrong frame count) instead "
                          "of keeping them with a warning")
    run.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                     help="when another run holds this output folder, wait this long for it (default: refuse)")
    run.add_argument("--no-progress", action="store_true",
                     help="no progress output at all (bars are shown only on a terminal; a log gets a plain line "
                          "now and then)")
    run.add_argument("--no-report", action="store_true",
                     help="do not write OUT/report/index.html at the end of a run up to the last stage")
    run.set_defaults(func=_run)

    status = sub.add_parser("status", help="print a run's manifest as a table",
                            description="Print OUT/run.json as a table: per clip and stage status and reason, totals.")
    status.add_argument("out", help="output folder of a run")
    status.add_argument("--totals", action="store_true", help="totals only")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=_status)

    for module_name in TOOL_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; finished work is kept and reused by the next run", file=sys.stderr)
        return 130

"""``python -m pipeline verify DIR`` and ``python -m pipeline export DIR --format gmt|csv --out OUT``."""

from __future__ import annotations

import argparse
import json
import sys


def _verify(args: argparse.Namespace) -> int:
    from stages.dataset.verify import verify_dataset

    report = verify_dataset(args.dir, check_values=not args.fast)
    if args.json:
        print(json.dumps({"path": report.path, "ok": report.ok, "files": report.checked_files,
                          "clips": report.clips, "windows": report.windows,
                          "problems": [vars(p) for p in report.problems]}, indent=1))
    elif report.ok:
        print(f"{report.path}: OK ({report.checked_files} files, {report.clips} clips, {report.windows} windows)")
    else:
        for problem in report.problems:
            print(f"error: {report.path}/{problem}", file=sys.stderr)
        print(f"{report.path}: {len(report.problems)} problem(s)", file=sys.stderr)
    return 0 if report.ok else 1


def _export(args: argparse.Namespace) -> int:
    from stages.dataset.export import ExportOptions, export_dataset

    options = ExportOptions(format=args.format, split=args.split, variant=args.variant, fps=args.fps, dofs=args.dofs)
    summary = export_dataset(args.dir, args.out, options, progress=not args.no_progress)
    print(json.dumps(summary, indent=1))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``verify`` and ``export``."""
    verify = subparsers.add_parser("verify", help="check a dataset's checksums and indexes",
                                   description="Check every shard's size and sha256, the HDF5 arrays, the clip and "
                                               "window tables and the split assignment. Exit 1 naming each bad file.")
    verify.add_argument("dir", help="dataset folder (holds manifest.json)")
    verify.add_argument("--fast", action="store_true", help="skip the per-value checks (finite, unit quaternions)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_verify)

    export = subparsers.add_parser("export", help="export a dataset to GMT pickles + YAML or Unitree CSV",
                                   description="Write GMT/GMR pickle dicts and the YAML index GMT's motion library "
                                               "reads (--format gmt), or Unitree/BeyondMimic CSV (--format csv).")
    export.add_argument("dir", help="dataset folder")
    export.add_argument("--format", required=True, choices=("gmt", "csv"))
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--split", default="all", choices=("all", "train", "val", "test"))
    export.add_argument("--variant", default="raw", choices=("raw", "adapted"))
    export.add_argument("--fps", type=float, default=None,
                        help="output frame rate (Hz); default: stored rate for gmt, 30 for csv")
    export.add_argument("--dofs", default="auto", choices=("auto", "all", "gmt23"),
                        help="joint set; auto = G1 23-DoF subset for gmt, all joints for csv")
    export.add_argument("--no-progress", action="store_true")
    export.set_defaults(func=_export)

"""``python -m pipeline verify DIR``, ``export DIR --format gmt|csv|beyondmimic --out OUT`` and
``plot-dataset DIR --out FILE``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RUN_FILE = "run.json"          # a run folder holds this (pipeline/run_manifest.py)
DATASET_DIR = "dataset"        # and its dataset in this sub-folder


def dataset_folder(path: str | Path) -> Path:
    """The dataset folder meant by ``path``: itself, or the ``dataset/`` folder of a run folder.

    Raises:
        InputError: ``not_a_dataset`` naming where the dataset is (or would be) when ``path`` is a run
            folder without a dataset, or neither a dataset nor a run folder.
    """
    from core.errors import InputError
    from stages.dataset.schema import MANIFEST_NAME

    path = Path(path)
    if (path / MANIFEST_NAME).is_file():
        return path
    if (path / RUN_FILE).is_file():
        inner = path / DATASET_DIR
        if (inner / MANIFEST_NAME).is_file():
            return inner
        raise InputError(path, "not_a_dataset",
                         f"this is a run folder; its dataset would be {inner}, which has no {MANIFEST_NAME} "
                         f"(run `python -m pipeline run --until dataset` to write it)")
    if not path.exists():
        raise InputError(path, "not_a_dataset", "folder not found")
    raise InputError(path, "not_a_dataset",
                     f"no {MANIFEST_NAME} here: not a dataset folder (a run writes its dataset to OUT/{DATASET_DIR}/)")


def _verify(args: argparse.Namespace) -> int:
    from stages.dataset.verify import verify_dataset

    folder = dataset_folder(args.dir)
    if folder != Path(args.dir) and not args.json:
        print(f"{args.dir} is a run folder; verifying its dataset {folder}")
    report = verify_dataset(folder, check_values=not args.fast)
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
    summary = export_dataset(dataset_folder(args.dir), args.out, options, progress=not args.no_progress)
    if summary.get("without_variant"):
        print(f"note: {summary['without_variant']} clip entr(y/ies) have no {args.variant} motion and were left out",
              file=sys.stderr)
    print(json.dumps(summary, indent=1))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from stages.dataset.plot import plot_dataset

    path = plot_dataset(dataset_folder(args.dir), args.out)
    print(f"wrote {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``verify``, ``export`` and ``plot-dataset``."""
    verify = subparsers.add_parser("verify", help="check a dataset's checksums and indexes",
                                   description="Check every shard's size and sha256, the HDF5 arrays, the clip and "
                                               "window tables and the split assignment. Exit 1 naming each bad file.")
    verify.add_argument("dir", help="dataset folder (holds manifest.json), or a run folder (its dataset/ is checked)")
    verify.add_argument("--fast", action="store_true", help="skip the per-value checks (finite, unit quaternions)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_verify)

    export = subparsers.add_parser(
        "export", help="export a dataset to GMT pickles + YAML, Unitree CSV or BeyondMimic npz",
        description="Write GMT/GMR pickle dicts and the YAML index GMT's motion library reads (--format gmt), "
                    "Unitree-style CSV rows (--format csv), or BeyondMimic / whole_body_tracking / mjlab motion "
                    "npz files (--format beyondmimic).")
    export.add_argument("dir", help="dataset folder, or a run folder (its dataset/)")
    export.add_argument("--format", required=True, choices=("gmt", "csv", "beyondmimic"),
                        help="gmt: one pickle per clip entry (fps, root_pos, root_rot xyzw, dof_pos, local_body_pos, "
                             "link_body_list) + motions.yaml; csv: no header, per row root xyz, root quaternion "
                             "xyzw, joint angles; beyondmimic: npz with fps, joint_pos, joint_vel, body_pos_w, "
                             "body_quat_w (wxyz), body_lin_vel_w, body_ang_vel_w, Isaac Lab joint/body order")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--split", default="all", choices=("all", "train", "val", "test"),
                        help="export only the clip entries of this split (default: %(default)s)")
    export.add_argument("--variant", default="raw", choices=("raw", "adapted", "simulated"),
                        help="which motion: raw (retargeted), adapted (adapt stage) or simulated (simulate stage's "
                             "tracked motion); refused when the dataset has none (default: %(default)s)")
    export.add_argument("--fps", type=float, default=None,
                        help="output frame rate (Hz); default: stored rate for gmt, 30 for csv, 50 for beyondmimic")
    export.add_argument("--dofs", default="auto", choices=("auto", "all", "gmt23"),
                        help="joint set; auto = G1 23-DoF subset for gmt, all joints otherwise")
    export.add_argument("--no-progress", action="store_true", help="no progress output")
    export.set_defaults(func=_export)

    plot = subparsers.add_parser("plot-dataset", help="draw a dataset's difficulty, splits and windows",
                                 description="Draw one figure of a dataset: difficulty distribution, splits, "
                                             "durations and window coverage (stages/dataset/plot.py).")
    plot.add_argument("dir", help="dataset folder, or a run folder (its dataset/)")
    plot.add_argument("--out", required=True, metavar="FILE", help="figure to write (.png, .pdf, .svg)")
    plot.set_defaults(func=_plot)

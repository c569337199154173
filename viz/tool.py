"""``python -m pipeline report | preview | view``: look at a run or a clip.

Registered through ``pipeline.registry.TOOL_MODULES``; heavy imports happen in
the handlers so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``report``, ``preview`` and ``view``."""
    report = subparsers.add_parser(
        "report", help="write OUT/report/index.html: what went in, what came out, what was cut and why",
        description="Write the run report of a run folder: counts per stage, hours kept / trimmed / adapted / "
                    "rejected, rejections per reason code, per-clip metric and difficulty distributions, the "
                    "adaptation and simulation results when those stages ran, and the worst clips per metric with "
                    "their previews and plots (OUT/report/clips/). The page embeds its figures and needs no network.")
    report.add_argument("out", metavar="OUT", nargs="?", default=None, help="output folder of a run (holds run.json)")
    report.add_argument("--manifest", "-m", default=None, help="report on this manifest's output folder (when OUT is not given)")
    report.add_argument("--max-clips", type=int, default=12, help="clips that get a preview and plots (default: %(default)s)")
    report.add_argument("--no-previews", action="store_true", help="plots only, no animated previews")
    report.add_argument("--workers", type=int, default=None, help="processes making previews and plots (default: up to 4, one per core)")
    report.set_defaults(func=_report)

    preview = subparsers.add_parser(
        "preview", help="render an animated preview (MP4 or GIF) of a clip",
        description="Render the human skeleton and the robot (retargeted, adapted and simulated when present) side "
                    "by side, one video frame per clip frame, with foot contacts, cut spans and a time cursor. "
                    "CLIP_OR_NPZ is a clip of a run (OUT/CLIP_ID, or OUT with --clip ID) or any human / robot motion .npz.")
    preview.add_argument("target", metavar="CLIP_OR_NPZ", help="OUT/CLIP_ID, a run folder with --clip, or a motion .npz")
    preview.add_argument("--clip", default=None, metavar="ID", help="clip id when CLIP_OR_NPZ is a run folder")
    preview.add_argument("--out", required=True, metavar="FILE", help="output .mp4 or .gif")
    preview.set_defaults(func=_preview)

    view = subparsers.add_parser(
        "view", help="open the interactive 3-D viewer (viser) on a run folder or a motion file",
        description="Serve a local web viewer: robot (official meshes with --meshes, else the capsules) and human "
                    "skeleton in 3-D, a timeline to scrub and play, toggles for raw / adapted / simulated, a clip "
                    "picker for a run folder, foot contacts and cut spans. Open the printed address in a browser.")
    view.add_argument("target", metavar="OUT_OR_FILE", help="a run folder or a motion .npz")
    view.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    view.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    view.add_argument("--clip", default=None, metavar="ID", help="clip to show first")
    view.add_argument("--meshes", default=None, metavar="URDF",
                      help="robot description with visual meshes (e.g. the official g1_29dof_rev_1_0.urdf); "
                           "default: the robot's own description, else <robot>_description/*.urdf on the robot search "
                           "path (MOTION_ROBOT_PATH, ../shared/data/robots), when one has meshes; else capsules")
    view.add_argument("--capsules", action="store_true", help="draw the robot's collision capsules, not meshes (lighter)")
    view.set_defaults(func=_view)


def _report(args: argparse.Namespace) -> int:
    from viz.report.api import ReportSettings, write_report

    out = args.out
    if out is None:
        if args.manifest is None:
            print("error: give a run folder OUT or --manifest M", file=sys.stderr)
            return 2
        from pipeline.config import load_manifest

        out = load_manifest(args.manifest).output
    settings = ReportSettings(max_clips=args.max_clips, previews=not args.no_previews)
    if args.workers is not None:
        settings = ReportSettings(max_clips=args.max_clips, previews=not args.no_previews, workers=max(1, args.workers))
    result = write_report(out, settings, log=(lambda m: print(m, file=sys.stderr)) if sys.stderr.isatty() else None)
    print(f"report: {result.path} ({result.seconds:.1f} s, media for {result.clips_with_media} clip(s))")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from core.errors import PipelineError
    from viz.preview.api import load_target, render_preview

    try:
        clip = load_target(args.target, args.clip)
        result = render_preview(clip, args.out)
    except (PipelineError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"preview: {result.path} ({result.frames} frames, {result.size[0]}x{result.size[1]}, "
          f"{result.frames / max(result.render_s, 1e-9):.0f} frames/s drawn, {result.frames_per_s:.0f} frames/s with encoding)")
    return 0


def _view(args: argparse.Namespace) -> int:
    from viz.viewer.app import serve

    return serve(args.target, host=args.host, port=args.port, clip=args.clip, meshes=args.meshes, capsules=args.capsules)

"""One call from an input file to the canonical :class:`HumanMotion`.

``ingest_file`` detects the format (AMASS SMPL / SMPL-H / SMPL-X ``.npz`` or
BVH in the LAFAN1 / CMU conventions), converts to metres and the Z-up world,
resamples to ``fps`` (duration preserved, the stored fps is the true one),
estimates the floor and standing height and fills the provenance.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.hashing import sha256_file
from core.records.human_motion import HumanMotion
from core.subjects import subject_of
from stages.ingest.build import build_motion
from stages.ingest.settings import Settings

_ZIP_MAGIC = b"PK\x03\x04"


def detect_kind(path: str | Path) -> str:
    """``"bvh"`` or ``"amass"`` from the file's first bytes (suffix as fallback)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except FileNotFoundError:
        raise InputError(path, "missing_file", "file not found") from None
    except OSError as exc:
        raise InputError(path, "unreadable", f"cannot read file ({exc})") from None
    if head.startswith(_ZIP_MAGIC) or head.startswith(b"PK\x05\x06"):
        return "amass"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"HIERARCHY"):
        return "bvh"
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "amass"
    if suffix == ".bvh":
        return "bvh"
    raise InputError(path, "unknown_format", "neither a BVH file nor an .npz archive")


def ingest_file(path: str | Path, fps: float = 30.0, body_models: str | None = None, require_body_models: bool = False,
                bvh_format: str = "auto", dataset: str = "", license: str = "",
                settings: Settings | None = None) -> HumanMotion:
    """Ingest one motion file.

    Args:
        path: BVH or AMASS ``.npz`` file.
        fps: target frame rate (Hz); the result's ``fps`` is exactly this and
            its duration equals the source's to within one frame.
        body_models: folder with SMPL / SMPL-H / SMPL-X ``.npz`` model files
            (AMASS only); without it the SMPL mean-shape skeleton is used.
        require_body_models: reject AMASS clips when no body model is found.
        bvh_format: ``"auto"``, ``"lafan1"`` or ``"cmu"`` (units and axes).
        dataset, license: provenance tags.
        settings: stage settings (floor percentile, min frames, ...).

    Raises:
        InputError: bad or unsupported input, with a reason code.
    """
    settings = settings or Settings()
    path = Path(path)
    kind = detect_kind(path)
    provenance = {
        "dataset": dataset,
        "license": license,
        "subject": subject_of(path),
        "source_path": str(path.resolve()),
        "sha256": sha256_file(path),
        "format": kind,
    }
    if kind == "bvh":
        from stages.ingest.bvh import read_bvh
        from stages.ingest.from_bvh import bvh_source

        bvh = read_bvh(path)
        src, fmt = bvh_source(bvh, bvh_format, path)
        provenance.update({
            "fk": "bvh",
            "bvh_format": fmt.name,
            "source_fps": f"{bvh.fps:g}",
            "source_frames": str(bvh.num_frames),
            "notes": f"BVH in {fmt.name} convention ({fmt.unit:g} m per unit, Y-up) converted to Z-up metres",
        })
    else:
        from stages.ingest.amass import amass_source

        src, info = amass_source(path, body_models=body_models,
                                 require_body_models=require_body_models or settings.require_body_models)
        provenance.update(info)
    return build_motion(src, float(fps), settings, provenance, path)

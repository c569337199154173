"""The ingest clip stage: one input file -> one canonical human motion artifact."""

from __future__ import annotations

import warnings

from core.errors import InputError, SalvagedInputWarning
from core.records.human_motion import HumanMotion
from core.stage import ClipStage, StageInput, StageResult
from stages.ingest.settings import Settings

__all__ = ["Settings", "STAGE", "run", "summary_of"]


def summary_of(motion: HumanMotion) -> dict:
    """JSON-able one-line summary of an ingested clip."""
    return {
        "frames": motion.num_frames,
        "fps": float(motion.fps),
        "duration": round(float(motion.duration), 6),
        "standing_height": round(float(motion.standing_height), 4),
        "floor_height": round(float(motion.floor_height), 4),
        "skeleton": motion.provenance.get("skeleton", ""),
        "fk": motion.provenance.get("fk", ""),
    }


def run(inp: StageInput, settings: Settings) -> StageResult:
    """Ingest ``inp.clip`` at ``inp.globals.fps``; InputError rejects the clip (also a salvaged file when
    ``settings.strict_input``)."""
    from stages.ingest.api import ingest_file

    clip = inp.clip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        motion = ingest_file(
            clip.path,
            fps=inp.globals.fps,
            body_models=clip.body_models,
            require_body_models=clip.require_body_models,
            bvh_format=clip.bvh_format,
            dataset=clip.dataset,
            license=clip.license,
            settings=settings,
        )
    salvaged = [str(w.message) for w in caught if issubclass(w.category, SalvagedInputWarning)]
    if salvaged and settings.strict_input:
        raise InputError(clip.path, "salvaged_input", "damaged file, rejected by strict input checking: "
                         + "; ".join(m.removeprefix(f"{clip.path}: ") for m in salvaged))
    for w in caught:        # kept: the DAG records each in the clip's stage record
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    motion.provenance["clip_id"] = clip.clip_id
    arrays, meta = motion.to_arrays()
    return StageResult(arrays=arrays, meta=meta, summary=summary_of(motion))


STAGE = ClipStage(name="ingest", version="2", settings_type=Settings, run=run)

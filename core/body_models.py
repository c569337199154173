"""Where SMPL-family body-model files live in a body-model folder.

Two layouts are recognised (both as distributed):

- the ``smplx`` package layout: ``smplh/SMPLH_MALE.npz``, ``SMPLX_NEUTRAL.npz``;
- the AMASS layout: ``smplh/male/model.npz`` (or ``male/model.npz``).

Ingest loads the file of a clip's model type and gender (falling back to the
neutral model); the DAG hashes every file this module names so that adding or
swapping a model file re-ingests the clips that could read it.
"""

from __future__ import annotations

from pathlib import Path

#: Body-model types ingest reads (the AMASS ``surface_model_type`` values).
MODEL_TYPES: tuple[str, ...] = ("smpl", "smplh", "smplx")
GENDERS: tuple[str, ...] = ("neutral", "male", "female")


def candidate_paths(folder: str | Path, model_type: str, gender: str) -> tuple[Path, ...]:
    """Paths, in lookup order, where the model of ``model_type`` and ``gender`` may be.

    The neutral model follows the gendered one (the fallback when it is missing).
    """
    folder = Path(folder)
    out: list[Path] = []
    for g in dict.fromkeys((gender, "neutral")):
        upper = f"{model_type.upper()}_{g.upper()}.npz"
        out += [folder / model_type / upper, folder / upper, folder / model_type / g / "model.npz",
                folder / g / "model.npz"]
    return tuple(out)


def find_model_file(folder: str | Path, model_type: str, gender: str) -> Path | None:
    """The first existing file of :func:`candidate_paths`, or None."""
    for candidate in candidate_paths(folder, model_type, gender):
        if candidate.is_file():
            return candidate
    return None


def model_files(folder: str | Path) -> tuple[Path, ...]:
    """Every existing body-model file in ``folder`` that ingest could load (sorted, no duplicates)."""
    found = {p for t in MODEL_TYPES for g in GENDERS for p in candidate_paths(folder, t, g) if p.is_file()}
    return tuple(sorted(found))

"""Error types of the pipeline.

Every error a user can cause (a bad input file, a bad manifest) is one of these,
with a message in plain words that names the file and the problem.
"""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class InputError(PipelineError):
    """A clip's input cannot be used.

    The clip is recorded as ``rejected`` with ``code`` as its reason and the run
    goes on. ``code`` is a short snake_case reason code (``non_finite``,
    ``truncated``, ``unknown_skeleton``, ...).
    """

    def __init__(self, path: str | Path | None, code: str, message: str):
        self.path = None if path is None else str(path)
        self.code = code
        self.message = message
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{message}")


class ConfigError(PipelineError):
    """A manifest or robot config is invalid; names the file and the key."""

    def __init__(self, file: str | Path | None, key: str | None, message: str):
        self.file = None if file is None else str(file)
        self.key = key
        where = f"{self.file}: " if self.file else ""
        at = f"'{key}': " if key else ""
        super().__init__(f"{where}{at}{message}")


class SalvagedInputWarning(UserWarning):
    """An input file was read although it is damaged (e.g. a truncated BVH read up to its last complete frame,
    a header whose frame count is wrong). The clip is kept with the warning recorded; strict input checking
    (``stages.ingest.strict_input``, ``run --strict-input``) rejects such files (reason ``salvaged_input``)."""

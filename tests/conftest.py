"""Shared test fixtures.

``shared_data`` points at ``../shared/data`` (real LAFAN1/CMU/SMPL clips and the
official robot descriptions). When it is absent (a user's machine) tests that
need it skip with a clear reason; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOTION_SHARED_DATA", REPO.parent / "shared" / "data"))


def require_shared(*parts: str) -> Path:
    """Path under ../shared/data; skip (or fail under CI) when missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"real test data not found at {path} (clone ../shared beside the repository)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """The default manifest (demo corpus) run in-process up to the dataset, without its report.

    Shared by the viz tests (report, previews, viewer, notebooks); read-only for them.
    """
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("default_run") / "out"
    code = main(["run", "--manifest", str(REPO / "manifests" / "default.yaml"), "--out", str(out), "--workers", "0",
                 "--no-progress", "--quiet", "--no-report"])
    assert code == 0
    return out

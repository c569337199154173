"""The layer rule, read from the sources (every import, lazy ones inside functions
included): ``core/`` imports neither ``stages``, ``pipeline`` nor ``viz``; ``stages/``
never imports ``pipeline`` or ``viz``; ``pipeline/`` reaches ``viz`` only for the report. Also the one ``subject_of`` both ingest and the
dataset use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.subjects import subject_of

REPO = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a source file, relative ones resolved."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return out


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((REPO / layer).rglob("*.py")):
        for line, module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return bad


def test_core_imports_no_stage_and_not_the_pipeline():
    assert violations("core", ("stages", "pipeline", "viz")) == []


def test_stages_never_import_the_pipeline():
    assert violations("stages", ("pipeline", "viz")) == []


def test_pipeline_reaches_viz_only_to_write_the_report():
    # pipeline/ sits below viz/: the one way up is the CLI's lazy import of the report writer
    found = violations("pipeline", ("viz",))
    assert found and all(v.startswith("pipeline/cli.py:") and " imports viz.report.api" in v for v in found)


@pytest.mark.parametrize("path, subject", [
    ("cmu/Subject_07_run.bvh", "subject7"),
    ("lafan1/walk4_subject1.bvh", "subject1"),
    ("/data/LAFAN1/fallAndGetUp3_subject12.bvh", "subject12"),
    ("CMU/131_01.bvh", "131"),
    ("ACCAD/Female1General_c3d/A1_-_Stand_stageii.npz", "Female1General_c3d"),
    ("KIT/3/walking_slow01_poses.npz", "3"),
    ("alone.bvh", ""),
])
def test_one_subject_of(path, subject):
    assert subject_of(path) == subject
    assert subject_of(Path(path)) == subject


def test_ingest_and_dataset_use_the_one_subject_of():
    import stages.dataset.writer as writer
    import stages.ingest.api as ingest_api

    assert ingest_api.subject_of is subject_of and writer.subject_of is subject_of

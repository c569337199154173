"""Every notebook in notebooks/ runs top to bottom in a Jupyter kernel (nbclient), against the default
run's dataset, from a scratch folder, and writes nothing inside notebooks/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

#: Parameter overrides per notebook (a cell inserted after its "parameters" cell), to keep runs short.
OVERRIDES = {
    "walkthrough": 'WORK = "walkthrough_out"\nDEMO_INCLUDE = ["**/walk_slow*", "**/infeasible_floating*"]',
    "training_loop": "STEPS = 20",
}


def _listing(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


def test_notebooks_found():
    assert {p.stem for p in NOTEBOOKS} >= {"walkthrough", "explore_dataset", "one_clip", "training_loop"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, default_run, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert all(c.get("outputs", []) == [] for c in nb.cells if c.cell_type == "code"), "store notebooks without outputs"
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters'"
    if path.stem in OVERRIDES:
        nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(OVERRIDES[path.stem]))
    monkeypatch.setenv("MOTION_DATASET", str(default_run / "dataset"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))              # the kernel imports this checkout
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    before = _listing(REPO / "notebooks")
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    assert _listing(REPO / "notebooks") == before, "the notebook wrote inside notebooks/"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "no figure shown"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    if path.stem == "explore_dataset":
        entries = json.loads((default_run / "dataset" / "clips.json").read_text())
        assert f"{len(entries)} entries" in text and all(e["id"][:34] in text for e in entries)
        assert "filter code floating" in text
    if path.stem == "one_clip":
        assert "ZMP outside the support" in text and len(images) == 2        # the preview frame and the plots
    if path.stem == "training_loop":
        first, last = (float(x) for x in text.split("loss ")[1].split(" over")[0].split(" -> "))
        assert last < first                                                   # it learns

"""Cache keys see every input: editing the robot description, a body-model file,
a stage's source or the shared ``core/`` code re-runs exactly the stages that
depend on it, and nothing else.

The DAG runs in-process (``workers=0``) on a small family of stand-in stage
packages written to ``tmp_path`` (so a test can edit their sources), a robot
given as ``PATH.yaml`` copied from ``core/robot/g1`` and a copy of ``core/``.
The repository's own files are never edited.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.config import load_manifest
from pipeline.dag import RunOptions, run_pipeline
from pipeline.run_manifest import build_run_manifest

try:
    import pipeline.fingerprint as fingerprint
except ImportError:     # code before cache keys saw their inputs: the behaviour tests below fail there
    fingerprint = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[1]
CLIP_STAGES = ("ingest", "retarget", "filter")

# -- a family of stand-in stage packages -----------------------------------------------------------

_STAGE_SOURCES = {
    "__init__.py": "",
    "common.py": """
        import uuid
        from pathlib import Path

        def log(folder, name):
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / f"{name}-{uuid.uuid4().hex}").write_text("")
    """,
    "ingest/__init__.py": "",
    "ingest/stage.py": """
        from dataclasses import dataclass
        from pathlib import Path

        import numpy as np

        from core.stage import ClipStage, StageResult
        from FAMILY.common import log

        @dataclass(frozen=True)
        class Settings:
            log: str = ""

        def run(inp, settings):
            log(settings.log, f"ingest-{inp.clip.clip_id}")
            values = np.array([float(v) for v in Path(inp.clip.path).read_text().split()])
            return StageResult(arrays={"x": values})

        STAGE = ClipStage("ingest", "1", Settings, run)
    """,
    "retarget/__init__.py": "",
    "retarget/api.py": """
        def scaled(x, factor):
            return x * factor
    """,
    "retarget/weights.yaml": "factor: 2.0\n",
    "retarget/stage.py": """
        from dataclasses import dataclass

        from core.npzio import load_npz
        from core.stage import ClipStage, StageResult
        from FAMILY.common import log
        from FAMILY.retarget.api import scaled

        @dataclass(frozen=True)
        class Settings:
            log: str = ""

        def run(inp, settings):
            log(settings.log, f"retarget-{inp.clip.clip_id}")
            arrays, _ = load_npz(inp.upstream["ingest"])
            return StageResult(arrays={"y": scaled(arrays["x"], 2.0)})

        STAGE = ClipStage("retarget", "1", Settings, run)
    """,
    "filter/__init__.py": "",
    "filter/stage.py": """
        from dataclasses import dataclass

        from core.npzio import load_npz
        from core.stage import ClipStage, StageResult
        from FAMILY.common import log

        @dataclass(frozen=True)
        class Settings:
            log: str = ""

        def run(inp, settings):
            from FAMILY.retarget import api   # a lazy import of another stage's api

            log(settings.log, f"filter-{inp.clip.clip_id}")
            arrays, _ = load_npz(inp.upstream["retarget"])
            return StageResult(arrays={"z": api.scaled(arrays["y"], 1.0)})

        STAGE = ClipStage("filter", "1", Settings, run)
    """,
    "dataset/__init__.py": "",
    "dataset/stage.py": """
        from dataclasses import dataclass

        from core.stage import CorpusStage
        from FAMILY.common import log

        @dataclass(frozen=True)
        class Settings:
            log: str = ""

        def run(clips, settings, globals, out_dir):
            log(settings.log, "dataset")
            (out_dir / "clips.txt").write_text("\\n".join(sorted(c.clip.clip_id for c in clips)))
            return {"clips": len(clips)}

        STAGE = CorpusStage("dataset", "1", Settings, run, needs=("filter",))
    """,
}


def write_family(root: Path) -> str:
    """Write the stand-in stage packages under ``root`` with a unique package name; returns it."""
    family = f"fam_{uuid.uuid4().hex[:10]}"
    for relative, text in _STAGE_SOURCES.items():
        path = root / family / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip().replace("FAMILY", family))
    return family


class World:
    """A manifest over stand-in stages, a copied robot, body models and core, in ``tmp_path``."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.tmp = tmp_path
        self.log = tmp_path / "log"
        self.family = write_family(tmp_path / "code")
        self.code = tmp_path / "code" / self.family
        monkeypatch.syspath_prepend(str(tmp_path / "code"))
        importlib.invalidate_caches()
        self.stages = {name: importlib.import_module(f"{self.family}.{name}.stage").STAGE
                       for name in (*CLIP_STAGES, "dataset")}
        self.core = tmp_path / "core_copy"
        shutil.copytree(REPO / "core", self.core, ignore=shutil.ignore_patterns("__pycache__"))
        if fingerprint is not None:
            monkeypatch.setattr(fingerprint, "CORE_DIR", self.core)
        self.robot = tmp_path / "robot"
        shutil.copytree(REPO / "core" / "robot" / "g1", self.robot)
        self.body_models = tmp_path / "body_models"
        (self.body_models / "smplh").mkdir(parents=True)
        (self.body_models / "smplh" / "SMPLH_MALE.npz").write_bytes(b"male model v1")
        self.data = tmp_path / "data"
        self.data.mkdir()
        # the stand-in ingest reads text; the suffix sets the clip kind (AMASS .npz, BVH .bvh)
        (self.data / "a.npz").write_text("1 2 3")
        (self.data / "b.npz").write_text("4 5")
        (self.data / "c.bvh").write_text("6")

    def manifest(self) -> dict:
        return {
            "name": "keys", "output": str(self.tmp / "out"), "fps": 30, "robot": str(self.robot / "g1.yaml"),
            "sources": [{"name": "src", "kind": "auto", "root": str(self.data),
                         "body_models": str(self.body_models)}],
            "stages": {name: {"log": str(self.log)} for name in (*CLIP_STAGES, "dataset")},
        }

    def run(self) -> dict:
        path = self.tmp / "manifest.yaml"
        path.write_text(yaml.safe_dump(self.manifest()))
        manifest = load_manifest(path, stages=self.stages)
        result = run_pipeline(manifest, RunOptions(workers=0, progress=False), self.stages)
        return build_run_manifest(result)

    def executions(self) -> dict[str, int]:
        names = [p.name.rsplit("-", 1)[0] for p in self.log.glob("*")] if self.log.exists() else []
        return {name: names.count(name) for name in sorted(set(names))}

    def reruns(self, edit) -> dict[str, int]:
        """Run, apply ``edit``, run again: what ran the second time (stage-clip -> count)."""
        self.run()
        before = self.executions()
        edit()
        report = self.run()
        after = self.executions()
        assert report["totals"]["errors"] == 0, report
        return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def every(stages: tuple[str, ...], clips: tuple[str, ...] = ("a", "b", "c")) -> dict[str, int]:
    out = {f"{s}-src__{c}": 1 for s in stages if s != "dataset" for c in clips}
    if "dataset" in stages:
        out["dataset"] = 1
    return out


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    return World(tmp_path, monkeypatch)


# -- the tests ----------------------------------------------------------------------------------------

def test_nothing_changed_nothing_reruns_even_when_files_are_touched(world):
    def touch_everything():
        for path in [*world.robot.iterdir(), *world.code.rglob("*.py"), *world.core.rglob("*.py"),
                     *world.body_models.rglob("*.npz")]:
            path.write_bytes(path.read_bytes())     # new mtime, same content
    assert world.reruns(touch_everything) == {}


def test_robot_yaml_posture_weight_reruns_the_stages_that_read_the_robot(world):
    rerun = world.reruns(lambda: edit_text(world.robot / "g1.yaml", "default: 0.01", "default: 1.0"))
    assert rerun == every(("retarget", "filter", "dataset"))


def test_robot_geometry_yaml_reruns_the_stages_that_read_the_robot(world):
    def widen_a_capsule():
        path = world.robot / "g1_geometry.yaml"
        data = yaml.safe_load(path.read_text())
        data["primitives"][0]["radius"] = float(data["primitives"][0]["radius"]) + 0.01
        path.write_text(yaml.safe_dump(data))
    assert world.reruns(widen_a_capsule) == every(("retarget", "filter", "dataset"))


def test_robot_urdf_reruns_the_stages_that_read_the_robot(world):
    def heavier_pelvis():
        path = world.robot / "g1_29dof.urdf"
        text = path.read_text()
        start = text.index('<mass value="', text.index('<link name="pelvis"')) + len('<mass value="')
        end = text.index('"', start)
        path.write_text(text[:start] + str(float(text[start:end]) + 1.0) + text[end:])
    assert world.reruns(heavier_pelvis) == every(("retarget", "filter", "dataset"))


def test_body_model_file_swapped_reingests_amass_clips_only(world):
    rerun = world.reruns(lambda: (world.body_models / "smplh" / "SMPLH_MALE.npz").write_bytes(b"male model v2"))
    assert rerun == {**every(CLIP_STAGES, ("a", "b")), "dataset": 1}


def test_body_model_file_added_reingests_amass_clips(world):
    def add_smplx():
        (world.body_models / "smplx").mkdir()
        (world.body_models / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes(b"neutral smplx")
    assert world.reruns(add_smplx) == {**every(CLIP_STAGES, ("a", "b")), "dataset": 1}


def test_unrelated_file_in_body_model_folder_reruns_nothing(world):
    assert world.reruns(lambda: (world.body_models / "README.txt").write_text("notes")) == {}


def test_empty_body_model_folder_then_filled_reingests(world):
    shutil.rmtree(world.body_models)
    world.body_models.mkdir()
    def fill():
        (world.body_models / "smplh").mkdir()
        (world.body_models / "smplh" / "SMPLH_FEMALE.npz").write_bytes(b"female")
    assert world.reruns(fill) == {**every(CLIP_STAGES, ("a", "b")), "dataset": 1}


def test_body_model_fingerprints(tmp_path):
    cache = fingerprint.FingerprintCache()
    assert cache.body_models(None) is None                        # no folder configured
    assert cache.body_models(str(tmp_path / "absent")) == "none"  # a folder that is not there
    empty = cache.body_models(str(tmp_path))
    (tmp_path / "SMPLX_NEUTRAL.npz").write_bytes(b"x")
    assert fingerprint.FingerprintCache().body_models(str(tmp_path)) not in (empty, "none", None)


@pytest.mark.parametrize("relative, stages", [
    ("ingest/stage.py", ("ingest", "retarget", "filter", "dataset")),
    ("retarget/api.py", ("retarget", "filter", "dataset")),
    ("retarget/weights.yaml", ("retarget", "filter", "dataset")),
    ("filter/stage.py", ("filter", "dataset")),
    ("dataset/stage.py", ("dataset",)),
])
def test_stage_source_edit_reruns_that_stage_and_later_only(world, relative, stages):
    path = world.code / relative
    assert world.reruns(lambda: path.write_text(path.read_text() + "\n# edited\n")) == every(stages)


def test_core_source_edit_reruns_every_stage(world):
    path = world.core / "rotations.py"
    assert world.reruns(lambda: path.write_text(path.read_text() + "\n# edited\n")) == \
        every(("ingest", "retarget", "filter", "dataset"))


def test_core_robot_descriptions_are_data_not_code(world):
    # the built-in robots' files inside core/ key only the stages that read that robot (the run here
    # uses a copied robot, so editing core's own G1 YAML re-runs nothing)
    path = world.core / "robot" / "g1" / "g1.yaml"
    assert world.reruns(lambda: edit_text(path, "default: 0.01", "default: 1.0")) == {}


def test_stage_code_includes_the_stage_packages_it_imports(world):
    packages = fingerprint.stage_packages(f"{world.family}.filter")
    assert packages == tuple(f"{world.family}.{name}" for name in ("common", "filter", "retarget"))
    before = fingerprint.FingerprintCache().stage_code(world.stages["filter"])
    edit_text(world.code / "retarget" / "api.py", "x * factor", "factor * x")
    after = fingerprint.FingerprintCache().stage_code(world.stages["filter"])
    assert before != after
    dataset_before = fingerprint.FingerprintCache().stage_code(world.stages["dataset"])
    edit_text(world.code / "filter" / "stage.py", "1.0", "1.00")
    assert fingerprint.FingerprintCache().stage_code(world.stages["dataset"]) == dataset_before


def test_real_stage_packages_see_the_stages_they_import():
    # stages/retarget/tool.py imports stages.ingest.api (inside its handler)
    assert {"stages.retarget", "stages.ingest"} <= set(fingerprint.stage_packages("stages.retarget"))
    assert "stages.ingest" in fingerprint.stage_packages("stages.ingest")


def test_body_model_files_are_the_ones_ingest_looks_up(tmp_path):
    from core.body_models import MODEL_TYPES, model_files
    from stages.ingest.amass import find_body_model
    from stages.ingest.smpl_tables import MODEL_JOINTS

    assert set(MODEL_TYPES) == set(MODEL_JOINTS)
    for relative in ("smplh/SMPLH_MALE.npz", "SMPLX_NEUTRAL.npz", "smpl/female/model.npz", "notes/other.npz"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in model_files(tmp_path)] == \
        ["SMPLX_NEUTRAL.npz", "smpl/female/model.npz", "smplh/SMPLH_MALE.npz"]
    assert find_body_model(tmp_path, "smplh", "male") == tmp_path / "smplh" / "SMPLH_MALE.npz"
    assert find_body_model(tmp_path, "smplx", "female") == tmp_path / "SMPLX_NEUTRAL.npz"   # neutral fallback
    assert find_body_model(tmp_path, "smplh", "female") is None


def test_robot_fingerprint_reads_the_files_a_load_reads(tmp_path):
    from core.robot.fingerprint import robot_files, robot_fingerprint

    assert [p.name for p in robot_files("g1")] == ["g1.yaml", "g1_geometry.yaml", "g1_29dof.urdf"]
    shutil.copytree(REPO / "core" / "robot" / "g1", tmp_path / "g1")
    assert robot_fingerprint(tmp_path / "g1" / "g1.yaml") == robot_fingerprint("g1")   # content, not location
    edit_text(tmp_path / "g1" / "g1.yaml", "default: 0.01", "default: 0.02")
    assert robot_fingerprint(tmp_path / "g1" / "g1.yaml") != robot_fingerprint("g1")


# -- the real stages: the issue's own scenario ----------------------------------------------------------

def test_real_retarget_reruns_when_the_robot_posture_weight_changes(tmp_path):
    robot = tmp_path / "robot"
    shutil.copytree(REPO / "core" / "robot" / "g1", robot)
    data = {"name": "posture", "output": str(tmp_path / "out"), "fps": 30, "robot": str(robot / "g1.yaml"),
            "sources": [{"name": "demo", "kind": "demo", "include": ["walk_straight*"]}]}
    path = tmp_path / "manifest.yaml"

    def run() -> dict:
        path.write_text(yaml.safe_dump(data))
        manifest = load_manifest(path)
        return build_run_manifest(run_pipeline(manifest, RunOptions(until="retarget", workers=0, progress=False)))

    first = run()
    assert [c["clip_id"] for c in first["clips"]] == ["demo__walk_straight_s0"]
    edit_text(robot / "g1.yaml", "default: 0.01", "default: 1.0")
    second = run()
    stages = second["clips"][0]["stages"]
    assert stages["ingest"]["cached"] is True
    assert stages["retarget"]["cached"] is False
    assert stages["retarget"]["key"] != first["clips"][0]["stages"]["retarget"]["key"]
    out = tmp_path / "out"
    dof = [np.load(out / c["clips"][0]["stages"]["retarget"]["artifact"])["dof_pos"] for c in (first, second)]
    assert np.abs(dof[0] - dof[1]).max() > 1e-3     # a heavier posture task moves the joints


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

"""pyproject.toml and environment.yml describe the same pinned environment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"pinocchio": "pin"}


def pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"]) + list(data["project"]["optional-dependencies"]["test"])
    pins = {}
    for req in reqs:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][A-Za-z0-9.+]*)", req)
        assert match, f"pyproject dependency {req!r} is not pinned exactly"
        pins[match.group(1).lower()] = match.group(2)
    return pins


def environment_pins() -> dict[str, str]:
    data = yaml.safe_load((REPO / "environment.yml").read_text())
    pins = {}
    for dep in data["dependencies"]:
        if isinstance(dep, dict):
            for req in dep["pip"]:
                if req.startswith("-e"):
                    continue
                name, version = req.split("==")
                pins[name.lower()] = version
        elif dep not in ("pip",) and not dep.startswith("python="):
            name, version = dep.split("=")
            pins[CONDA_TO_PYPI.get(name, name).lower()] = version
    return pins


def test_every_dependency_pinned_identically():
    assert pyproject_pins() == environment_pins()


def test_torch_pin_is_the_local_cpu_wheel():
    assert pyproject_pins()["torch"] == "2.13.0"

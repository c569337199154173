"""Content fingerprints of what an artifact depends on besides its settings and upstream keys.

- **code**: the stage's package (``stages/<name>/**``: ``.py`` sources and
  ``.yaml``/``.yml``/``.json`` data), every other stage package it imports
  (found by scanning its sources for ``import F.X`` / ``from F.X ...`` /
  ``from F import X`` / relative imports, where ``F`` is the stage family,
  ``stages``; transitively, lazy imports inside functions included), and
  ``core/``, which every stage imports (less its robot-description folders,
  ``CORE_DATA_DIRS``, which the robot fingerprint covers). A code change re-runs the stage
  without anyone having to bump its ``version``.
- **robot**: the robot YAML, geometry YAML and description a load reads
  (:func:`core.robot.fingerprint.robot_fingerprint`).
- **body models**: every SMPL-family model file ingest could load from a
  source's body-model folder (:func:`core.body_models.model_files`).

One :class:`FingerprintCache` serves one run: each file is hashed once, cached
by (path, mtime, size), each robot, folder and package fingerprinted once.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import core
from core.body_models import model_files
from core.hashing import sha256_file, sha256_json
from core.robot.config import BUILTIN
from core.robot.fingerprint import robot_fingerprint
from core.stage import ClipStage, CorpusStage

#: The shared bottom layer whose code every stage depends on.
CORE_DIR = Path(core.__file__).resolve().parent

#: Files of a package that count as its code.
CODE_SUFFIXES = (".py", ".yaml", ".yml", ".json")

#: Folders of ``core/`` that hold robot descriptions, not code (relative to ``CORE_DIR``): their files
#: enter the keys of the stages that read the robot through the robot fingerprint, never every key.
CORE_DATA_DIRS: tuple[str, ...] = tuple(sorted({p.parent.relative_to(CORE_DIR).as_posix() for p in BUILTIN.values()}))

#: ``from X import a, b`` / ``from X import (a, b)`` / ``import X, Y`` at any indentation (lazy imports
#: count). Matches in comments or docstrings count too: a key may see more than needed, never less.
#: (Anchored on "\n", the text is prefixed with one: much faster than ``^`` with re.MULTILINE.)
_FROM = re.compile(r"\n[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([^\n#]*))")
_IMPORT = re.compile(r"\n[ \t]*import[ \t]+([^\n#]+)")


def _package_of(module: str) -> str:
    """The stage package of the module defining a stage's ``run`` (``stages.filter.stage`` -> ``stages.filter``)."""
    loaded = sys.modules.get(module)
    package = getattr(loaded, "__package__", None) if loaded is not None else module.rpartition(".")[0]
    return package or module


def _locate(name: str) -> tuple[Path, bool] | None:
    """(folder, True) for a package, (file, False) for a plain module, None when not importable."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve(), True
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin).resolve(), False
    return None


def code_files(root: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    """Source and data files of a package folder (sorted; caches, hidden files and the
    ``exclude`` folders, relative to ``root``, skipped)."""
    out: list[str] = []
    skip = {os.path.join(root, e) for e in exclude}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"
                       and os.path.join(dirpath, d) not in skip]
        out += [os.path.join(dirpath, f) for f in filenames if f.endswith(CODE_SUFFIXES) and not f.startswith(".")]
    return [Path(p) for p in sorted(out)]


def _names(listing: str) -> list[str]:
    """``a, b as c`` -> ``[a, b]`` (line continuations and newlines allowed)."""
    return [item.split()[0] for item in listing.replace("\\", " ").split(",") if item.split()]


def _imported_siblings(text: str, module_package: str, family: str) -> set[str]:
    """Packages ``family.X`` that source ``text``, a module of package ``module_package``, imports."""
    found: set[str] = set()
    depth = family.count(".") + 2          # components of a stage package name ("stages.retarget": 2)

    def add(module: str) -> None:
        if module.startswith(family + "."):
            found.add(".".join(module.split(".")[:depth]))

    text = "\n" + text
    for match in _FROM.finditer(text):
        module = match.group(1)
        names = _names(match.group(2) if match.group(2) is not None else match.group(3))
        if module.startswith("."):          # relative: one dot is the module's own package
            dots = len(module) - len(module.lstrip("."))
            parts = module_package.split(".")
            module = ".".join([*parts[: len(parts) - dots + 1], *filter(None, [module.lstrip(".")])])
        if module == family:
            found.update(f"{family}.{name}" for name in names)
        else:
            add(module)
    for match in _IMPORT.finditer(text):
        for module in _names(match.group(1)):
            add(module)
    return found


def stage_packages(package: str) -> tuple[str, ...]:
    """``package`` and every sibling stage package it imports, transitively (sorted).

    ``stage_packages("stages.retarget")`` includes ``stages.ingest`` when any
    retarget source imports ``stages.ingest``.
    """
    family = package.rpartition(".")[0]
    if not family:
        return (package,)
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        located = _locate(name)
        if located is None:
            continue
        seen.add(name)
        root, is_package = located
        for path in code_files(root) if is_package else [root]:
            if path.suffix != ".py":
                continue
            sub = str(path.parent)[len(str(root)) + 1:]
            module_package = ".".join([name, *filter(None, sub.split(os.sep))]) if is_package else family
            todo += sorted(_imported_siblings(path.read_text(errors="replace"), module_package, family) - seen)
    return tuple(sorted(seen))


class FingerprintCache:
    """Fingerprints for one run (see the module docstring); not shared between runs."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, int, int], str] = {}
        self._trees: dict[Path, str] = {}
        self._robots: dict[str, str] = {}
        self._body_models: dict[str | None, str | None] = {}
        self._code: dict[str, str] = {}

    def file(self, path: Path) -> str:
        """Hex sha256 of a file's bytes, hashed once per (path, mtime, size)."""
        stat = os.stat(path)
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        digest = self._files.get(key)
        if digest is None:
            digest = self._files[key] = sha256_file(path)
        return digest

    def tree(self, root: Path, exclude: tuple[str, ...] = ()) -> str:
        """Fingerprint of a package folder's (or a single module's) code: relative names and contents."""
        digest = self._trees.get(root)
        if digest is None:
            files = code_files(root, exclude) if root.is_dir() else [root]
            base = root if root.is_dir() else root.parent
            prefix = len(str(base)) + 1
            digest = self._trees[root] = sha256_json([[str(p)[prefix:].replace(os.sep, "/"), self.file(p)]
                                                      for p in files])
        return digest

    def robot(self, name_or_path: str) -> str:
        """Fingerprint of the files ``load_robot(name_or_path)`` reads."""
        digest = self._robots.get(name_or_path)
        if digest is None:
            digest = self._robots[name_or_path] = robot_fingerprint(name_or_path, self.file)
        return digest

    def body_models(self, folder: str | None) -> str | None:
        """Fingerprint of the body-model files in ``folder``; ``"none"`` for a missing folder, None for no folder."""
        if folder not in self._body_models:
            if folder is None:
                value = None
            elif not Path(folder).is_dir():
                value = "none"
            else:
                root = Path(folder)
                value = sha256_json([[p.relative_to(root).as_posix(), self.file(p)] for p in model_files(root)])
            self._body_models[folder] = value
        return self._body_models[folder]

    def stage_code(self, stage: ClipStage | CorpusStage) -> str:
        """Fingerprint of a stage's code: its package, the stage packages it imports, and ``core/``."""
        module = getattr(stage.run, "__module__", None) or type(stage.run).__module__
        package = _package_of(module)
        digest = self._code.get(package)
        if digest is None:
            parts = {}
            for name in stage_packages(package):
                located = _locate(name)
                if located is not None:
                    parts[name] = self.tree(located[0])
            parts["core"] = self.tree(CORE_DIR, CORE_DATA_DIRS)
            digest = self._code[package] = sha256_json(parts)
        return digest

"""The ordered list of stages and where each one's code lives.

A stage is available when its package ``stages/<name>/stage.py`` defines
``STAGE``. Imports are lazy so that ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Union

from core.stage import ClipStage, CorpusStage

#: Stage order of the DAG. Per-clip stages first, then corpus (reduce) stages.
STAGE_ORDER: tuple[str, ...] = ("ingest", "retarget", "filter", "simulate", "adapt_model", "adapt", "dataset")

#: Nodes whose code lives in another stage's package: name -> (package, attribute of its stage.py).
#: The adapter's training node (a corpus stage) sits beside the clip stage that applies it.
STAGE_LOCATION: dict[str, tuple[str, str]] = {"adapt_model": ("adapt", "TRAIN_STAGE")}

#: Nodes that read another node's manifest section (``stages.<section>``).
SETTINGS_SECTION: dict[str, str] = {"adapt_model": "adapt"}

#: Which manifest-level settings (RunGlobals fields) each stage's output depends on.
#: Everything upstream is covered by the upstream artifact's hash.
GLOBALS_USED: dict[str, tuple[str, ...]] = {
    "ingest": ("fps",),
    "retarget": ("robot",),
    "filter": ("robot",),
    "simulate": ("robot",),
    "adapt_model": ("robot", "seed", "fps"),
    "adapt": ("robot", "seed"),
    "dataset": ("robot", "seed"),
}

#: Single-file tools registered on ``python -m pipeline`` (module ``stages/<stage>/tool.py``), then the
#: viewers (``viz/tool.py``: report, preview, view).
TOOL_MODULES: tuple[str, ...] = (tuple(f"stages.{name}.tool" for name in STAGE_ORDER if name not in STAGE_LOCATION)
                                 + ("viz.tool",))

AnyStage = Union[ClipStage, CorpusStage]


def load_stage(name: str) -> AnyStage | None:
    """The stage object of ``name``, or None when this version does not ship it."""
    if name not in STAGE_ORDER:
        raise KeyError(f"unknown stage {name!r}; stages are {', '.join(STAGE_ORDER)}")
    package, attribute = STAGE_LOCATION.get(name, (name, "STAGE"))
    try:
        module = importlib.import_module(f"stages.{package}.stage")
    except ModuleNotFoundError as exc:
        if exc.name == f"stages.{package}.stage":
            return None
        raise
    return getattr(module, attribute, None)


def default_stages() -> dict[str, AnyStage]:
    """Every stage this version ships, in DAG order."""
    found = {}
    for name in STAGE_ORDER:
        stage = load_stage(name)
        if stage is not None:
            found[name] = stage
    return found

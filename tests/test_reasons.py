"""One registry of reason codes (``core/reasons.py``): every code the code base can
emit is registered, with a kind and a meaning, and every registered code is used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.reasons import KINDS, REASONS, codes_of_kind, meaning, reason

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("core", "stages", "pipeline")

#: call name -> index of the positional argument that is a reason code (keyword: ``code``/``reason``)
_CODE_ARG = {"InputError": 1, "CheckResult": 0, "threshold_result": 0, "Problem": 1, "Reason": 0}


def _sources() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (REPO / layer).rglob("*.py"))


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def emitted_codes() -> dict[str, list[str]]:
    """Literal reason codes in the code base -> where (file:line)."""
    found: dict[str, list[str]] = {}

    def add(node: ast.expr | None, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.setdefault(node.value, []).append(where)

    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name = _name(node.func)
                if name in _CODE_ARG and len(node.args) > _CODE_ARG[name]:
                    add(node.args[_CODE_ARG[name]], where)
                if name in _CODE_ARG or name == "StageResult":
                    for kw in node.keywords:
                        if kw.arg in ("code", "reason"):
                            add(kw.value, where)
                # verify's report.add(file, code, message)
                if name == "add" and isinstance(node.func, ast.Attribute) and _name(node.func.value) == "report" \
                        and len(node.args) == 3:
                    add(node.args[1], where)
            # the dataset writer's skipped["code"] counters
            if isinstance(node, ast.Subscript) and _name(node.value) == "skipped":
                add(node.slice, where)
    return found


def filter_check_codes() -> tuple[str, ...]:
    from stages.filter.checks import CHECKS
    from stages.filter.settings import CODES

    assert tuple(CHECKS) == CODES
    return CODES


def test_every_emitted_code_is_registered():
    emitted = emitted_codes()
    assert len(emitted) > 60                       # the scan finds the code base's codes
    assert {"missing_file", "too_short", "floating", "truncated", "checksum_mismatch"} <= set(emitted)
    missing = {code: where[:3] for code, where in emitted.items() if code not in REASONS}
    assert not missing, f"register these in core/reasons.py: {missing}"


def test_filter_checks_are_registered_as_hard_or_dynamic():
    for code in filter_check_codes():
        assert reason(code).kind in ("hard", "dynamic"), code
    assert set(codes_of_kind("dynamic")) == {"flight_momentum", "zmp_outside_support", "joint_torque"}


def test_dataset_skip_codes_for_every_verdict_that_is_left_out():
    from typing import get_args

    from core.records.verdict import VerdictKind

    for kind in sorted(set(get_args(VerdictKind)) - {"pass", "trimmed"}) + ["missing"]:
        assert reason(f"verdict_{kind}").kind == "dataset"


#: registered codes built by f-strings (``f"verdict_{kind}"``, ``f"exception:{type}"``) rather than literals
_FORMATTED = {"verdict_reject": "verdict_", "verdict_missing": "verdict_", "exception": "exception:"}


def test_every_registered_code_is_used_somewhere():
    literals: set[str] = set(filter_check_codes())
    for path in _sources():
        if path != REPO / "core" / "reasons.py":
            literals |= {node.value for node in ast.walk(ast.parse(path.read_text()))
                         if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    unused = sorted(code for code in REASONS if code not in literals and _FORMATTED.get(code) not in literals)
    assert not unused, f"registered but emitted nowhere (remove from core/reasons.py): {unused}"


def test_synonyms_are_merged():
    emitted = emitted_codes()
    for old, new in (("too_few_frames", "too_short"), ("missing_fps", "bad_fps"), ("bad_rotation", "bad_quaternion"),
                     ("empty_mesh", "empty"), ("truncated_shard", "truncated"), ("missing_manifest", "not_a_dataset")):
        assert old not in emitted and old not in REASONS, old
        assert new in REASONS


@pytest.mark.parametrize("code, kind", [("missing_file", "input"), ("zmp_outside_support", "dynamic"),
                                        ("self_collision", "hard"), ("exception:ValueError", "pipeline"),
                                        ("split_leak", "dataset")])
def test_lookup(code, kind):
    assert reason(code).kind == kind and reason(code).kind in KINDS
    assert meaning(code) == reason(code).meaning and len(meaning(code)) > 10


def test_unregistered_code_lookup():
    with pytest.raises(KeyError):
        reason("no_such_code")
    assert meaning("no_such_code") == "unregistered reason code"


def test_status_table_explains_the_reasons():
    from pipeline.run_manifest import format_table

    data = {"stages": ["ingest"], "corpus": {}, "clips": [], "missing_stages": [],
            "totals": {"clips": 2, "ok": 0, "rejected": 1, "errors": 1, "hours_ingested": 0.0, "wall_s": 1.0,
                       "rejected_by_reason": {"ingest:too_short": 1},
                       "errors_by_reason": {"ingest:exception:ValueError": 1}}}
    table = format_table(data, per_clip=False)
    words = " ".join(table.split())       # the table wraps long meanings
    assert meaning("too_short") in words and meaning("exception") in words

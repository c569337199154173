"""The artifact store under a run's output folder.

Layout::

    OUT/artifacts/<stage>/<key[:2]>/<key>.npz    per-clip artifact (arrays)
    OUT/artifacts/<stage>/<key[:2]>/<key>.json   its record, written last = "done"
    OUT/<corpus stage>/                          corpus stage output (e.g. dataset/)
    OUT/run.json                                 the run manifest

A key is the sha256 of everything that determines an artifact: the input
file's sha256 and the body-model files it may read (ingest) or the upstream
artifact's key, the stage name, ``version`` and the fingerprint of its code
(its package, the stage packages it imports and ``core/``), its settings, and
the manifest-level settings the stage reads, with the content of the robot's
files for a stage that reads the robot (``pipeline/fingerprint.py``). Every
file appears atomically (temporary name, fsync, rename), so a run killed at any
moment leaves either a complete artifact or none.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from core.hashing import sha256_json
from core.npzio import atomic_write_bytes


def artifact_key(stage: str, version: str, code: str, settings: Any, globals_used: dict[str, Any],
                 inputs: dict[str, Any]) -> str:
    """Content hash of what determines a stage's output.

    ``code``: fingerprint of the stage's code; ``settings``: its plain settings;
    ``globals_used``: manifest-level settings it reads (with content
    fingerprints, e.g. ``robot_files``); ``inputs``: the clip's source
    fingerprint or the upstream key, and the keys of corpus stages before it.
    """
    return sha256_json({"stage": stage, "version": version, "code": code, "settings": settings,
                        "globals": globals_used, "inputs": inputs})


def artifact_path(out: Path, stage: str, key: str) -> Path:
    return out / "artifacts" / stage / key[:2] / f"{key}.npz"


def record_path(out: Path, stage: str, key: str) -> Path:
    return out / "artifacts" / stage / key[:2] / f"{key}.json"


def write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=1, sort_keys=True, default=str) + "\n").encode())


def read_record(out: Path, stage: str, key: str) -> dict[str, Any] | None:
    """The stored record of an artifact, or None when absent, unreadable or incomplete."""
    path = record_path(out, stage, key)
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if record.get("key") != key:
        return None
    artifact = record.get("artifact")
    if artifact and not (out / artifact).is_file():
        return None
    return record


def replace_dir(built: Path, final: Path) -> None:
    """Move a fully built folder into place, replacing any previous one."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(built, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_stale(out: Path) -> None:
    """Remove temporary leftovers of an interrupted run (never complete results)."""
    if not out.is_dir():
        return
    for entry in out.glob(".*.building-*"):
        shutil.rmtree(entry, ignore_errors=True)
    for entry in out.glob(".*.old-*"):
        shutil.rmtree(entry, ignore_errors=True)
    artifacts = out / "artifacts"
    if artifacts.is_dir():
        for tmp in artifacts.rglob(".*.tmp"):
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass

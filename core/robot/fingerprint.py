"""A content hash of everything ``load_robot`` reads, for cache keys.

``load_robot(name_or_path)`` reads the robot YAML, the geometry YAML it names
(if any) and the description (URDF or MJCF). Pinocchio builds the kinematic and
inertial model from the description alone: meshes are not read when loading
(they were used once, offline, by ``fit.py`` to fit the capsules and soles
stored in the geometry YAML), so they are not part of the fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.hashing import sha256_file, sha256_json
from core.robot.config import config_path, load_config


def robot_files(name_or_path: str | Path) -> tuple[Path, ...]:
    """The files a load of this robot reads, in the order it reads them (absolute paths).

    Raises:
        core.errors.ConfigError: unknown robot name, bad config, description not found.
    """
    return load_config(config_path(name_or_path)).files


def robot_fingerprint(name_or_path: str | Path, hash_file: Callable[[Path], str] = sha256_file) -> str:
    """Hex sha256 over the content of :func:`robot_files` (file names, not folders, included).

    ``hash_file`` lets a caller reuse file hashes it already has (the DAG caches
    them per run). Moving the robot folder keeps the fingerprint; editing any of
    its files, or a change of ``$MOTION_ROBOT_PATH`` that finds another
    description, changes it.
    """
    return sha256_json([[path.name, hash_file(path)] for path in robot_files(name_or_path)])

"""The performer (subject) of a motion file, from its path.

One rule for every stage (ingest's provenance, the dataset's clip table):

1. ``subject<N>`` anywhere in the file name, any case, ``_``/``-`` allowed and
   leading zeros dropped: LAFAN1 ``walk4_subject1.bvh`` -> ``subject1``,
   ``cmu/Subject_07_run.bvh`` -> ``subject7``;
2. CMU numbering ``<subject>_<take>``: ``131_01.bvh`` -> ``131``;
3. otherwise the folder the file is in: AMASS ``<dataset>/<subject>/<clip>.npz``
   -> ``<subject>`` ('' for a bare file name).
"""

from __future__ import annotations

import re
from pathlib import PurePath

_SUBJECT = re.compile(r"subject[_-]?(\d+)", re.IGNORECASE)
_CMU = re.compile(r"(\d+)_\d+")


def subject_of(path: str | PurePath) -> str:
    """Subject id of the motion file at ``path`` (see the module docstring for the rules)."""
    path = PurePath(path)
    match = _SUBJECT.search(path.stem)
    if match:
        return f"subject{int(match.group(1))}"
    match = _CMU.fullmatch(path.stem)
    if match:
        return match.group(1)
    return path.parent.name

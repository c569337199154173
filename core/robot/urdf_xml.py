"""Reading URDF XML elements with errors that name the file and what is missing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from core.errors import InputError


def parse_urdf(urdf: Path) -> ET.Element:
    """The root element of a URDF file.

    Raises:
        InputError: ``bad_urdf`` when the file cannot be read or parsed.
    """
    try:
        return ET.parse(urdf).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(urdf, "bad_urdf", f"cannot parse URDF: {exc}") from None


def child(elem: ET.Element, path: str, urdf: Path) -> ET.Element:
    """The sub-element at ``path`` (ElementTree path syntax) that must exist.

    Raises:
        InputError: ``bad_urdf`` naming the element and the missing child.
    """
    found = elem.find(path)
    if found is None:
        raise InputError(urdf, "bad_urdf", f"<{elem.tag} name={elem.get('name')!r}> has no <{path}>")
    return found


def attr(elem: ET.Element, name: str, urdf: Path) -> str:
    """The attribute ``name`` that must be present on ``elem``.

    Raises:
        InputError: ``bad_urdf`` naming the element and the missing attribute.
    """
    value = elem.get(name)
    if value is None:
        raise InputError(urdf, "bad_urdf", f"<{elem.tag} name={elem.get('name')!r}> has no {name!r} attribute")
    return value

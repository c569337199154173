"""Write a compact, mesh-free URDF from a robot description's parameters.

Used to produce the built-in G1 (``g1/g1_29dof.urdf``) from the official Unitree
parameters: every link's inertial (mass, centre of mass, inertia) and every
joint's type, origin, axis and limits are carried over number for number; visual
and collision meshes are left out (collision is handled by the fitted
primitives of ``fit.py``). The output loads without any mesh files.

    python -m core.robot.write_urdf OFFICIAL.urdf OUT.urdf [--name NAME]
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

from core.robot.urdf_xml import attr, child, parse_urdf

NOTICE = (
    "Kinematic and inertial parameters from Unitree Robotics' {source}\n"
    "  (Copyright (c) 2016-2022 HangZhou YuShu TECHNOLOGY CO.,LTD. (\"Unitree Robotics\"),\n"
    "  BSD 3-Clause License). Written by core/robot/write_urdf.py; meshes omitted."
)


def _num(text: str | None, default: str = "0") -> str:
    """A number attribute normalised through float (exact for the decimal inputs)."""
    values = (text or default).split()
    return " ".join(repr(float(v)) for v in values)


def _origin(parent: ET.Element, elem: ET.Element | None) -> None:
    if elem is None:
        return
    ET.SubElement(parent, "origin", xyz=_num(elem.get("xyz"), "0 0 0"), rpy=_num(elem.get("rpy"), "0 0 0"))


def compact_urdf(source: str | Path, name: str | None = None) -> str:
    """URDF text with the links' inertials and the joints of ``source``, no meshes.

    Args:
        source: an official URDF file.
        name: robot name for the output (default: the source's name).

    Returns:
        The URDF document as a string.
    """
    source = Path(source)
    root = parse_urdf(source)
    out = ET.Element("robot", name=name or root.get("name") or "robot")
    out.append(ET.Comment(" " + NOTICE.format(source=source.name) + " "))
    for link in root.findall("link"):
        new = ET.SubElement(out, "link", name=attr(link, "name", source))
        inertial = link.find("inertial")
        if inertial is None:
            continue
        ni = ET.SubElement(new, "inertial")
        _origin(ni, inertial.find("origin"))
        ET.SubElement(ni, "mass", value=_num(attr(child(inertial, "mass", source), "value", source)))
        ine = child(inertial, "inertia", source)
        ET.SubElement(ni, "inertia", {k: _num(ine.get(k)) for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")})
    for joint in root.findall("joint"):
        new = ET.SubElement(out, "joint", name=attr(joint, "name", source), type=attr(joint, "type", source))
        _origin(new, joint.find("origin"))
        ET.SubElement(new, "parent", link=attr(child(joint, "parent", source), "link", source))
        ET.SubElement(new, "child", link=attr(child(joint, "child", source), "link", source))
        axis = joint.find("axis")
        if axis is not None:
            ET.SubElement(new, "axis", xyz=_num(axis.get("xyz"), "1 0 0"))
        limit = joint.find("limit")
        if limit is not None:
            ET.SubElement(new, "limit", {k: _num(v) for k, v in limit.attrib.items()})
    ET.indent(out, space="  ")
    return '<?xml version="1.0"?>\n' + ET.tostring(out, encoding="unicode") + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    args.out.write_text(compact_urdf(args.source, args.name))


if __name__ == "__main__":
    main()

"""Fit collision capsules and foot soles to a description's meshes.

Each link with a mesh (collision mesh, else visual) gets one capsule along the
principal axis of its vertices; the radius is a high percentile of the
vertices' distance from that axis (so thin protrusions such as cables or motor
flanges do not inflate it) and the end points are placed so the caps reach
the extreme vertices along the axis. Foot soles are the rectangle spanned by
the vertices within ``sole_band`` of the foot mesh's lowest point.

    python -m stages.common.robot.fit DESCRIPTION.urdf --feet L R --out geometry.yaml [--package-dir DIR]
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from pipeline.errors import InputError
from stages.common.robot.config import Primitive, Sole
from stages.common.robot.stl import read_stl, unique_vertices


def link_meshes(urdf: str | Path, package_dirs: Sequence[str | Path] = ()) -> dict[str, np.ndarray]:
    """Vertices (V, 3) of each link's mesh, in the link frame (metres).

    Uses the link's collision mesh, else its visual mesh; applies the
    element's ``origin`` and ``scale``. ``package://pkg/rest`` is resolved as
    ``DIR/pkg/rest`` for each of ``package_dirs`` (default: the URDF folder's
    parent), other relative names against the URDF folder.
    """
    urdf = Path(urdf)
    try:
        root = ET.parse(urdf).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(urdf, "bad_urdf", f"cannot parse URDF: {exc}") from None
    dirs = [Path(d) for d in package_dirs] or [urdf.parent.parent]
    out = {}
    for link in root.findall("link"):
        candidates = [e for e in link.findall("collision") + link.findall("visual") if e.find("geometry/mesh") is not None]
        if not candidates:
            continue
        elem = candidates[0]
        mesh = elem.find("geometry/mesh")
        path = _resolve_mesh(urdf, mesh.get("filename", ""), dirs)
        verts = unique_vertices(read_stl(path))
        verts = verts * np.array([float(s) for s in (mesh.get("scale") or "1 1 1").split()])
        origin = elem.find("origin")
        if origin is not None:
            xyz = np.array([float(v) for v in origin.get("xyz", "0 0 0").split()])
            rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
            verts = Rotation.from_euler("xyz", rpy).apply(verts) + xyz
        out[link.get("name")] = verts
    return out


def _resolve_mesh(urdf: Path, name: str, dirs: list[Path]) -> Path:
    if name.startswith("package://"):
        rest = name[len("package://"):]
        for d in dirs:
            if (d / rest).exists():
                return d / rest
        raise InputError(urdf, "missing_mesh", f"mesh {name} not found under {', '.join(map(str, dirs))}")
    path = Path(name) if Path(name).is_absolute() else urdf.parent / name
    if not path.exists():
        raise InputError(urdf, "missing_mesh", f"mesh {name} not found at {path}")
    return path


def fit_capsule(verts: np.ndarray, percentile: float = 95.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Capsule (a (3,), b (3,), radius) along the principal axis of ``verts`` (V, 3).

    The radius is the ``percentile`` of the vertices' distances from the
    principal axis; the end points are chosen so that every vertex within
    that radius of the axis is enclosed by the caps.
    """
    v = np.asarray(verts, dtype=np.float64)
    centre = 0.5 * (v.min(axis=0) + v.max(axis=0))
    d = v - centre
    _, _, vt = np.linalg.svd(d - d.mean(axis=0), full_matrices=False)
    axis = vt[0]
    t = d @ axis
    perp = np.linalg.norm(d - t[:, None] * axis, axis=1)
    # centre the axis line on the cross-section (bounding box in the perpendicular plane)
    e1, e2 = vt[1], vt[2]
    u1, u2 = d @ e1, d @ e2
    shift = 0.5 * (u1.max() + u1.min()) * e1 + 0.5 * (u2.max() + u2.min()) * e2
    centre = centre + shift
    d = v - centre
    t = d @ axis
    perp = np.linalg.norm(d - t[:, None] * axis, axis=1)
    radius = float(np.percentile(perp, percentile))
    inside = perp <= radius
    reach = np.sqrt(np.maximum(radius**2 - perp[inside] ** 2, 0.0))
    t_hi = float(np.max(t[inside] - reach))
    t_lo = float(np.min(t[inside] + reach))
    if t_lo > t_hi:
        t_lo = t_hi = 0.5 * (t_lo + t_hi)
    return centre + t_lo * axis, centre + t_hi * axis, radius


def fit_sole(verts: np.ndarray, sole_band: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """Sole rectangle of a foot mesh (foot frame x forward, z up).

    Returns:
        centre (3,) m on the sole plane (z = lowest vertex) and half extents (2,)
        along x and y of the vertices within ``sole_band`` m of the lowest.
    """
    v = np.asarray(verts, dtype=np.float64)
    zmin = v[:, 2].min()
    low = v[v[:, 2] <= zmin + sole_band]
    lo, hi = low[:, :2].min(axis=0), low[:, :2].max(axis=0)
    centre = np.array([0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), zmin])
    return centre, 0.5 * (hi - lo)


def fit_geometry(urdf: str | Path, feet: Sequence[str], package_dirs: Sequence[str | Path] = (),
                 skip: Sequence[str] = (), percentile: float = 95.0) -> tuple[list[Primitive], list[Sole]]:
    """Capsules for every meshed link except ``skip``, and soles for ``feet``."""
    meshes = link_meshes(urdf, package_dirs)
    prims = []
    for link, verts in meshes.items():
        if link in skip:
            continue
        a, b, r = fit_capsule(verts, percentile)
        prims.append(Primitive(link, link, tuple(np.round(a, 5)), tuple(np.round(b, 5)), round(r, 5)))
    soles = []
    for foot in feet:
        if foot not in meshes:
            raise InputError(urdf, "missing_mesh", f"foot link {foot!r} has no mesh to fit a sole to")
        c, h = fit_sole(meshes[foot])
        soles.append(Sole(foot, tuple(np.round(c, 5)), tuple(np.round(h, 5))))
    return prims, soles


def geometry_yaml(prims: Sequence[Primitive], soles: Sequence[Sole], header: str = "") -> str:
    """The ``geometry:`` YAML file text for a robot config."""
    data = {
        "soles": {s.frame: {"center": [float(x) for x in s.center], "half_extents": [float(x) for x in s.half_extents]}
                  for s in soles},
        "primitives": [{"name": p.name, "frame": p.frame, "a": [float(x) for x in p.a], "b": [float(x) for x in p.b],
                        "radius": float(p.radius)} for p in prims],
    }
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urdf", type=Path)
    parser.add_argument("--feet", nargs=2, required=True, metavar=("LEFT", "RIGHT"))
    parser.add_argument("--package-dir", action="append", default=[])
    parser.add_argument("--skip", nargs="*", default=[])
    parser.add_argument("--percentile", type=float, default=95.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    prims, soles = fit_geometry(args.urdf, args.feet, args.package_dir, args.skip, args.percentile)
    header = (f"Fitted by stages/common/robot/fit.py to the meshes of {args.urdf.name}\n"
              f"(capsule radius = {args.percentile:g}th percentile of vertex distance from the principal axis).\n"
              "Units: metres, link frames.")
    args.out.write_text(geometry_yaml(prims, soles, header))


if __name__ == "__main__":
    main()

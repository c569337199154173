"""Fit collision capsules and foot soles to a description's meshes.

Each link with a mesh (collision mesh, else visual) gets one capsule along the
principal axis of its vertices; the radius is a high percentile of the
vertices' distance from that axis (so thin protrusions such as cables or motor
flanges do not inflate it) and the end points are placed so the caps reach
the extreme vertices along the axis. Foot soles are the rectangle spanned by
the vertices within ``sole_band`` of the foot mesh's lowest point.

    python -m core.robot.fit DESCRIPTION.urdf --feet L R --out geometry.yaml [--package-dir DIR]
        [--skip LINK...] [--twin LINK...]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from core.errors import InputError
from core.robot.config import Primitive, Sole
from core.robot.stl import read_stl, unique_vertices
from core.robot.urdf_xml import attr, child, parse_urdf


def link_meshes(urdf: str | Path, package_dirs: Sequence[str | Path] = ()) -> dict[str, np.ndarray]:
    """Vertices (V, 3) of each link's mesh, in the link frame (metres).

    Uses the link's collision mesh, else its visual mesh; applies the
    element's ``origin`` and ``scale``. ``package://pkg/rest`` is resolved as
    ``DIR/pkg/rest`` for each of ``package_dirs`` (default: the URDF folder's
    parent), other relative names against the URDF folder.
    """
    urdf = Path(urdf)
    root = parse_urdf(urdf)
    dirs = [Path(d) for d in package_dirs] or [urdf.parent.parent]
    out = {}
    for link in root.findall("link"):
        candidates = [e for e in link.findall("collision") + link.findall("visual") if e.find("geometry/mesh") is not None]
        if not candidates:
            continue
        elem = candidates[0]
        mesh = child(elem, "geometry/mesh", urdf)
        path = _resolve_mesh(urdf, attr(mesh, "filename", urdf), dirs)
        verts = unique_vertices(read_stl(path))
        verts = verts * np.array([float(s) for s in (mesh.get("scale") or "1 1 1").split()])
        origin = elem.find("origin")
        if origin is not None:
            xyz = np.array([float(v) for v in origin.get("xyz", "0 0 0").split()])
            rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
            verts = Rotation.from_euler("xyz", rpy).apply(verts) + xyz
        out[attr(link, "name", urdf)] = verts
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


def _principal_frame(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (bounding-box centre in the principal frame) and axes (3, 3) rows, longest first."""
    _, _, vt = np.linalg.svd(v - v.mean(axis=0), full_matrices=False)
    local = v @ vt.T
    centre = 0.5 * (local.min(axis=0) + local.max(axis=0)) @ vt
    return centre, vt


def _capsule_along(v: np.ndarray, centre: np.ndarray, axis: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """End points of a capsule on the line ``centre + t axis`` whose caps reach the vertices within ``radius``."""
    d = v - centre
    t = d @ axis
    perp = np.linalg.norm(d - t[:, None] * axis, axis=1)
    inside = perp <= radius
    if not np.any(inside):
        return centre.copy(), centre.copy()
    reach = np.sqrt(np.maximum(radius**2 - perp[inside] ** 2, 0.0))
    t_hi = float(np.max(t[inside] - reach))
    t_lo = float(np.min(t[inside] + reach))
    if t_lo > t_hi:
        t_lo = t_hi = 0.5 * (t_lo + t_hi)
    return centre + t_lo * axis, centre + t_hi * axis


def fit_capsule(verts: np.ndarray, percentile: float = 95.0) -> tuple[np.ndarray, np.ndarray, float]:
    """One capsule (a (3,), b (3,), radius) along the principal axis of ``verts`` (V, 3).

    The radius is the ``percentile`` of the vertices' distances from the axis
    (thin protrusions do not inflate it); the end points are placed so the caps
    enclose every vertex within that radius of the axis.
    """
    v = np.asarray(verts, dtype=np.float64)
    centre, axes = _principal_frame(v)
    axis = axes[0]
    d = v - centre
    perp = np.linalg.norm(d - (d @ axis)[:, None] * axis, axis=1)
    radius = float(np.percentile(perp, percentile))
    a, b = _capsule_along(v, centre, axis, radius)
    return a, b, radius


def fit_twin_capsules(verts: np.ndarray, percentile: float = 95.0) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Two parallel capsules for a box-like link (e.g. a torso), aligned with the link frame.

    Axis: the frame axis of largest extent; the two capsules sit side by side
    along the frame axis of middle extent, with the smallest half-extent
    (``percentile`` of distances) as radius.
    """
    v = np.asarray(verts, dtype=np.float64)
    lo = np.percentile(v, 100 - percentile, axis=0)
    hi = np.percentile(v, percentile, axis=0)
    centre = 0.5 * (lo + hi)
    order = np.argsort(hi - lo)[::-1]
    axis, wide, narrow = (np.eye(3)[k] for k in order)
    radius = float(0.5 * (hi - lo)[order[2]])
    offset = max(float(0.5 * (hi - lo)[order[1]]) - radius, 0.0)
    out = []
    for sign in (-1.0, 1.0):
        side = v[sign * ((v - centre) @ wide) >= 0]
        a, b = _capsule_along(side, centre + sign * offset * wide, axis, radius)
        out.append((a, b, radius))
    return out


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
                 skip: Sequence[str] = (), percentile: float = 95.0,
                 twin: Sequence[str] = ()) -> tuple[list[Primitive], list[Sole]]:
    """Capsules for every meshed link except ``skip`` (two for the links in ``twin``,
    named ``<link>_0``/``<link>_1``), and soles for ``feet``."""
    meshes = link_meshes(urdf, package_dirs)
    prims = []
    for link, verts in meshes.items():
        if link in skip:
            continue
        caps = fit_twin_capsules(verts, percentile) if link in twin else [fit_capsule(verts, percentile)]
        for k, (a, b, r) in enumerate(caps):
            name = link if len(caps) == 1 else f"{link}_{k}"
            prims.append(Primitive(name, link, tuple(np.round(a, 5)), tuple(np.round(b, 5)), round(r, 5)))
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
    parser.add_argument("--twin", nargs="*", default=[], help="box-like links fitted with two capsules")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    prims, soles = fit_geometry(args.urdf, args.feet, args.package_dir, args.skip, args.percentile, args.twin)
    header = (f"Fitted by core/robot/fit.py to the meshes of {args.urdf.name}\n"
              f"(capsule radius = {args.percentile:g}th percentile of vertex distance from the principal axis).\n"
              "Units: metres, link frames.")
    args.out.write_text(geometry_yaml(prims, soles, header))


if __name__ == "__main__":
    main()

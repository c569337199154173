"""Convex polygons in the floor plane (x, y in metres, world frame).

One convex hull for every stage that reasons about a support polygon (the filter's ZMP
check, the adapter's balance step), in plain floats: a frame's few sole corners cost
microseconds this way instead of numpy's per-call overhead.
"""

from __future__ import annotations

#: A point of the floor plane: (x, y), m.
Point = tuple[float, float]


def convex_hull(points: list[Point]) -> list[Point]:
    """Counter-clockwise convex hull of 2-D points (monotone chain).

    Points within 1e-12 m of the previous one in (x, y) order and collinear points are
    dropped; one or two distinct points come back as they are (a point, a segment).
    """
    pts = sorted(points)
    if len(pts) > 1:
        pts = [pts[0]] + [b for a, b in zip(pts[:-1], pts[1:], strict=True)
                          if max(abs(b[0] - a[0]), abs(b[1] - a[1])) > 1e-12]
    if len(pts) <= 2:
        return pts

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for q in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    upper: list[Point] = []
    for q in pts[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return lower[:-1] + upper[:-1]

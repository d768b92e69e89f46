"""Plane geometry of area boundaries: parse, check, measure, simplify, clip, Voronoi.

Framework-free (numpy and scipy only), so the importer, the derivation of shapes from points
and the synthetic demo share it. Coordinates are (longitude, latitude) in degrees, treated as
a plane: areas are compared with each other, never converted to km², so the distortion of
longitude degrees does not matter for what is measured here.

A *shape* is a list of polygons; a polygon is a list of rings (the exterior first, then its
holes); a ring is an ``(n, 2)`` float array **without** the closing point repeated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import Voronoi

Ring = npt.NDArray[np.float64]
Polygon = list[Ring]
Shape = list[Polygon]

#: Tolerances (degrees) of the stored variants of every shape: 0 is the shape as imported
#: (rounded to 5 decimals, about 1 m); the others are Douglas–Peucker simplifications for maps
#: of a province (0.008°) down to a township (0.0005°).
TOLERANCES: tuple[float, ...] = (0.0, 0.0005, 0.002, 0.008, 0.03)
STORE_DECIMALS = 5


class GeometryError(ValueError):
    """A geometry that cannot be used; the message says why (in the active language)."""


def _ring(coords: Any) -> Ring:
    arr = np.asarray(coords, dtype=float)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise GeometryError("ring")
    arr = arr[:, :2]
    if len(arr) > 1 and np.array_equal(arr[0], arr[-1]):
        arr = arr[:-1]
    return arr


def parse(geometry: Any) -> Shape:
    """A GeoJSON Polygon or MultiPolygon as a shape. Raises :class:`GeometryError` with a
    code: ``type``, ``coordinates``, ``range``, ``ring`` (fewer than 3 distinct points),
    ``area`` (no area)."""
    if not isinstance(geometry, dict):
        raise GeometryError("type")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    polys: Any
    if kind == "Polygon":
        polys = [coords]
    elif kind == "MultiPolygon":
        polys = coords
    else:
        raise GeometryError("type")
    if not isinstance(polys, list) or not polys:
        raise GeometryError("coordinates")
    shape: Shape = []
    for poly in polys:
        if not isinstance(poly, list) or not poly:
            raise GeometryError("coordinates")
        rings: Polygon = []
        for coords_ in poly:
            try:
                ring = _ring(coords_)
            except (TypeError, ValueError) as exc:
                raise GeometryError("coordinates") from exc
            if not np.isfinite(ring).all():
                raise GeometryError("coordinates")
            if (np.abs(ring[:, 0]) > 180).any() or (np.abs(ring[:, 1]) > 90).any():
                raise GeometryError("range")
            if len(np.unique(ring, axis=0)) < 3:
                raise GeometryError("ring")
            rings.append(ring)
        shape.append(rings)
    if area(shape) <= 0:
        raise GeometryError("area")
    return shape


def ring_area(ring: Ring) -> float:
    """Signed area (counter-clockwise positive), shoelace formula."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def area(shape: Shape) -> float:
    """Area in square degrees: exteriors minus holes."""
    total = 0.0
    for poly in shape:
        if not poly:
            continue
        total += abs(ring_area(poly[0])) - sum(abs(ring_area(h)) for h in poly[1:])
    return total


def bbox(shape: Shape) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat)."""
    pts = np.concatenate([poly[0] for poly in shape])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def vertices(shape: Shape) -> int:
    return sum(len(r) for poly in shape for r in poly)


def contains(shape: Shape, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each point lies inside the shape (even–odd rule over every ring, so holes
    and separate parts count right). Vectorised over the points."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    inside = np.zeros(x.shape, dtype=bool)
    for poly in shape:
        for ring in poly:
            x1, y1 = ring[:, 0], ring[:, 1]
            x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
            crosses = (y1[:, None] > y[None, :]) != (y2[:, None] > y[None, :])
            with np.errstate(divide="ignore", invalid="ignore"):
                xi = (
                    x1[:, None]
                    + (y[None, :] - y1[:, None]) * (x2 - x1)[:, None] / (y2 - y1)[:, None]
                )
            inside ^= ((crosses & (x[None, :] < xi)).sum(axis=0) % 2).astype(bool)
    return inside


def sample_inside(shape: Shape, n: int, rng: np.random.Generator) -> Ring:
    """``n`` points uniformly distributed inside the shape (rejection sampling)."""
    x0, y0, x1, y1 = bbox(shape)
    share = max(area(shape) / max((x1 - x0) * (y1 - y0), 1e-12), 0.05)
    out: list[Ring] = []
    got = 0
    while got < n:
        m = int((n - got) / share * 1.3) + 16
        pts = np.column_stack([rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)])
        # Test in chunks: the crossing matrix is (edges × points).
        keep = np.concatenate(
            [contains(shape, c[:, 0], c[:, 1]) for c in np.array_split(pts, max(1, m // 1024))]
        )
        out.append(pts[keep])
        got += int(keep.sum())
    return np.concatenate(out)[:n]


def _dp_importance(points: Ring) -> npt.NDArray[np.float64]:
    """Douglas–Peucker importance of each point of an open polyline: the tolerance below
    which the point is kept (ends: infinity). Simplifying at ``tol`` keeps ``imp > tol``, as
    the recursive algorithm would. Computed breadth-first, every segment of a round at once
    (numpy), capped by the parent's value so a point never outlives the split above it."""
    n = len(points)
    imp = np.zeros(n)
    imp[0] = imp[-1] = np.inf
    starts, ends = np.array([0]), np.array([n - 1])
    caps = np.array([np.inf])
    while len(starts):
        counts = ends - starts - 1
        live = counts > 0
        starts, ends, caps, counts = starts[live], ends[live], caps[live], counts[live]
        if not len(starts):
            break
        seg = np.repeat(np.arange(len(starts)), counts)
        first = np.cumsum(counts) - counts
        idx = starts[seg] + 1 + (np.arange(int(counts.sum())) - first[seg])
        a, b = points[starts][seg], points[ends][seg]
        ab = b - a
        length2 = (ab * ab).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(length2 > 0, ((points[idx] - a) * ab).sum(axis=1) / length2, 0.0)
        foot = a + np.clip(t, 0.0, 1.0)[:, None] * ab
        d = np.hypot(*(points[idx] - foot).T)
        top = np.maximum.reduceat(d, first)
        hits = np.flatnonzero(d == top[seg])
        _, pick = np.unique(seg[hits], return_index=True)
        m = idx[hits[pick]]
        value = np.minimum(top, caps)
        imp[m] = value
        starts, ends = np.concatenate([starts, m]), np.concatenate([m, ends])
        caps = np.concatenate([value, value])
    return imp


def ring_importance(ring: Ring) -> npt.NDArray[np.float64]:
    """:func:`_dp_importance` of a closed ring, split at the point farthest from the first."""
    if len(ring) <= 4:
        return np.full(len(ring), np.inf)
    far = int(np.argmax(np.hypot(*(ring - ring[0]).T)))
    head = _dp_importance(ring[: far + 1])
    tail = _dp_importance(np.vstack([ring[far:], ring[:1]]))
    return np.concatenate([head, tail[1:-1]])


def simplify_ring(
    ring: Ring, tol: float, importance: npt.NDArray[np.float64] | None = None
) -> Ring | None:
    """The ring simplified (Douglas–Peucker); ``None`` if it collapses below 3 points."""
    if tol <= 0 or len(ring) <= 4:
        return ring
    imp = ring_importance(ring) if importance is None else importance
    out: Ring = ring[imp > tol]
    return out if len(out) >= 3 else None


def simplify_many(shape: Shape, tolerances: Sequence[float]) -> list[Shape]:
    """:func:`simplify` at each tolerance, the points' importance computed once."""
    imps = [[ring_importance(r) for r in poly] for poly in shape]
    return [simplify(shape, tol, imps) for tol in tolerances]


def simplify(
    shape: Shape, tol: float, importance: list[list[npt.NDArray[np.float64]]] | None = None
) -> Shape:
    """Every ring simplified; rings and parts that vanish are dropped, but the largest part
    is always kept (as a triangle of its points at worst), so a shape never disappears."""
    if tol <= 0:
        return shape
    out: Shape = []
    for p, poly in enumerate(shape):
        imps = importance[p] if importance is not None else [None] * len(poly)
        ext = simplify_ring(poly[0], tol, imps[0])
        if ext is None or abs(ring_area(ext)) < tol * tol:
            continue
        holes = [simplify_ring(r, tol, i) for r, i in zip(poly[1:], imps[1:], strict=True)]
        out.append([ext, *[h for h in holes if h is not None and abs(ring_area(h)) >= tol * tol]])
    if not out:
        largest = max(shape, key=lambda p: abs(ring_area(p[0])))
        ext = largest[0]
        idx = sorted({0, len(ext) // 3, (2 * len(ext)) // 3})
        out = [[ext[idx]]]
    return out


def _halfplane(ring: Ring, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> list[Ring]:
    """The parts of a simple counter-clockwise ring left of the directed line a→b, as
    separate rings (no seams). The ring's runs inside the half-plane are cut where it crosses
    the line; walking the line in the direction a→b from a run's exit, the nearest entry is
    where the part continues (for a counter-clockwise ring an interval of the line inside the
    ring starts with an exit and ends with an entry)."""
    d = b - a
    side = d[0] * (ring[:, 1] - a[1]) - d[1] * (ring[:, 0] - a[0])
    inside = side >= 0
    if inside.all():
        return [ring]
    if not inside.any():
        return []
    n = len(ring)
    start = int(np.argmin(inside))  # an outside vertex: no run wraps around the end
    r = np.roll(ring, -start, axis=0)
    sd = np.roll(side, -start)
    ins = np.roll(inside, -start)
    nxt = np.roll(ins, -1)
    entries = np.flatnonzero(~ins & nxt)
    exits = np.flatnonzero(ins & ~nxt)

    def hit(k: int) -> npt.NDArray[np.float64]:
        p, q = r[k], r[(k + 1) % n]
        sp, sq = sd[k], sd[(k + 1) % n]
        out: npt.NDArray[np.float64] = p + (sp / (sp - sq)) * (q - p)
        return out

    runs = [
        np.vstack([hit(int(e))[None], r[e + 1 : x + 1], hit(int(x))[None]])
        for e, x in zip(entries, exits, strict=True)
    ]
    runs = [c for c in runs if np.ptp(c, axis=0).max() > 0]  # a touch at one point
    if not runs:
        return []
    t_in = np.array([float((c[0] - a) @ d) for c in runs])
    t_out = np.array([float((c[-1] - a) @ d) for c in runs])
    order = np.argsort(t_in, kind="stable")
    used = np.zeros(len(runs), dtype=bool)
    pieces: list[Ring] = []
    for first in range(len(runs)):
        if used[first]:
            continue
        parts, i = [], first
        while not used[i]:
            used[i] = True
            parts.append(runs[i])
            j = int(np.searchsorted(t_in[order], t_out[i], side="left"))
            i = int(order[min(j, len(order) - 1)])
        piece = np.vstack(parts)
        if len(piece) >= 3:
            pieces.append(piece)
    return pieces


def _clip_ring_convex(ring: Ring, edges: list[tuple[Ring, Ring]]) -> list[Ring]:
    """The parts of a ring (any orientation) inside a convex cell, counter-clockwise."""
    pieces = [ring if ring_area(ring) > 0 else ring[::-1]]
    for a, b in edges:
        pieces = [q for p in pieces for q in _halfplane(p, a, b)]
        if not pieces:
            break
    return [p for p in pieces if ring_area(p) > 0]


def clip_convex(shape: Shape, cell: Ring) -> Shape:
    """The shape cut to a convex polygon ``cell`` (counter-clockwise): each part inside the
    cell becomes its own polygon (a concave parent may fall apart), holes go to the part that
    holds them. Exteriors keep the orientation of the shape's first exterior and holes the
    other (d3, which draws the maps, reads a clockwise exterior as the inside)."""
    out: Shape = []
    edges = list(zip(cell, np.roll(cell, -1, axis=0), strict=True))
    x0, y0 = cell.min(axis=0)
    x1, y1 = cell.max(axis=0)
    clockwise = bool(shape) and ring_area(shape[0][0]) < 0
    for poly in shape:
        lo, hi = poly[0].min(axis=0), poly[0].max(axis=0)
        if lo[0] > x1 or hi[0] < x0 or lo[1] > y1 or hi[1] < y0:
            continue
        exteriors = _clip_ring_convex(poly[0], edges)
        if not exteriors:
            continue
        parts: Shape = [[e[::-1] if clockwise else e] for e in exteriors]
        for hole in poly[1:]:
            for h in _clip_ring_convex(hole, edges):
                m = h.mean(axis=0)
                k = next(
                    (i for i, e in enumerate(exteriors) if contains([[e]], [m[0]], [m[1]])[0]), 0
                )
                parts[k].append(h if clockwise else h[::-1])
        out += parts
    return out


def voronoi_cells(points: Ring, bounds: tuple[float, float, float, float]) -> list[Ring]:
    """The Voronoi cell of each point as a convex counter-clockwise polygon, bounded: four
    far points around ``bounds`` close the outer cells (they lie well outside any part that
    is later cut to ``bounds``). Coincident points are nudged apart by 1e-7°."""
    pts = np.asarray(points, dtype=float).copy()
    n = len(pts)
    if n == 1:
        x0, y0, x1, y1 = bounds
        pad = max(x1 - x0, y1 - y0, 1.0)
        return [
            np.array(
                [
                    [x0 - pad, y0 - pad],
                    [x1 + pad, y0 - pad],
                    [x1 + pad, y1 + pad],
                    [x0 - pad, y1 + pad],
                ]
            )
        ]
    _, counts = np.unique(pts, axis=0, return_counts=True)
    if (counts > 1).any():
        seen: dict[tuple[float, float], int] = {}
        for i in range(n):
            key = (float(pts[i, 0]), float(pts[i, 1]))
            k = seen.get(key, 0)
            seen[key] = k + 1
            if k:
                angle = 2.4 * k
                pts[i] += 1e-7 * k * np.array([math.cos(angle), math.sin(angle)])
    x0, y0, x1, y1 = bounds
    x0, y0 = min(x0, pts[:, 0].min()), min(y0, pts[:, 1].min())
    x1, y1 = max(x1, pts[:, 0].max()), max(y1, pts[:, 1].max())
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = 10 * max(x1 - x0, y1 - y0, 1e-3)
    far = np.array([[cx - r, cy - r], [cx + r, cy - r], [cx + r, cy + r], [cx - r, cy + r]])
    vor = Voronoi(np.vstack([pts, far]))
    cells = []
    for i in range(n):
        region = vor.regions[vor.point_region[i]]
        verts = vor.vertices[region]
        centre = verts.mean(axis=0)
        order = np.argsort(np.arctan2(verts[:, 1] - centre[1], verts[:, 0] - centre[0]))
        cells.append(verts[order])
    return cells


def to_geojson(shape: Shape, decimals: int = STORE_DECIMALS) -> dict[str, Any]:
    """A MultiPolygon with rounded coordinates, closed rings and no repeated points; rings
    that collapse when rounded are dropped (the largest part is kept in any case)."""
    polys = []
    for poly in shape:
        rings = []
        for k, ring in enumerate(poly):
            r = np.round(ring, decimals)
            if len(r) > 1:
                step = np.any(r != np.roll(r, 1, axis=0), axis=1)
                r = r[step] if step.any() else r[:1]
            if len(r) < 3:
                if k == 0:
                    break
                continue
            closed = np.vstack([r, r[:1]])
            rings.append(closed.astype(int).tolist() if decimals <= 0 else closed.tolist())
        if rings:
            polys.append(rings)
    if not polys and shape:
        largest = max(shape, key=lambda p: abs(ring_area(p[0])))[0]
        r = np.round(largest, decimals)
        polys = [[np.vstack([r, r[:1]]).tolist()]]
    return {"type": "MultiPolygon", "coordinates": polys}


def from_geojson(geometry: dict[str, Any]) -> Shape:
    """The inverse of :func:`to_geojson` for stored (already checked) geometry."""
    polys = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    return [[_ring(r) for r in poly] for poly in polys]


def decimals_for(tol: float) -> int:
    """Decimals whose rounding step is at most half of ``tol`` (degrees)."""
    if tol <= 0:
        return STORE_DECIMALS
    return max(0, min(STORE_DECIMALS, math.ceil(-math.log10(tol / 2))))

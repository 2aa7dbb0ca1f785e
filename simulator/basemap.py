"""Land, coastline and country names for maps: Natural Earth 1:10m around the bundled scenarios.

``simulator/data/basemap.json`` holds Natural Earth's land and Admin 0 country polygons
(version 4.1.0, 1:10m, public domain, as the npm package ``world-atlas`` 2.0.2 ships them;
built by ``tools/build_basemap.py``) inside generous boxes around the bundled scenarios:
the Kurils (128-165 E, 30-58 N) and Crimea (18-52 E, 33-56 N). Beyond those boxes there is
no data: :func:`data_extent_in` says where there is, so a map elsewhere shows no false sea.

Names are Natural Earth's English spellings (``Russia``, ``Japan``, ``Ukraine``, ``Turkey``).
On disputed territory the data follows Natural Earth's own convention, which draws de facto
control: Crimea lies inside the polygon named Russia (there is no separate Crimea polygon) and
so do the southern Kurils (Kunashir, Iturup, Shikotan, the Habomai islets). adcov draws no
borders from it, only land, coast and country names placed inside the visible part of each
country, and never on a piece of land whose sovereignty is disputed (:data:`DISPUTED_POINTS`):
a map of Crimea or of the southern Kurils alone carries no country name on them, whatever the
data's convention. The town names (:mod:`simulator.places`, GeoNames) follow GeoNames'
convention, which files Crimea under UA.

Coordinates are lon/lat WGS84 [deg]; bounds are ``(west, south, east, north)`` [deg]; areas
crossing the antimeridian are not handled (the bundled boxes do not). No Qt and no matplotlib
here: geometries are shapely, the callers project and draw them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from shapely.geometry import MultiPolygon, Polygon, box

__all__ = ["BASEMAP_CREDIT", "beyond_dem", "coastline_in", "country_labels", "data_extent_in", "land_in", "rings", "load_basemap"]

BASEMAP_CREDIT = ("Land, coast and country names: Natural Earth 4.1.0 1:10m (naturalearthdata.com), public domain, via the "
                  "npm package world-atlas 2.0.2 (ISC); names as Natural Earth spells them and its convention on disputed "
                  "territory (de facto control: Crimea and the southern Kurils inside Russia); no country name is "
                  "placed on disputed land")
_DATA = Path(__file__).resolve().parent / "data" / "basemap.json"
#: Points on land whose sovereignty is disputed: a country label is never placed on the piece
#: of land holding one (Crimea; the southern Kurils: Kunashir, Iturup, Shikotan, Habomai). (lon, lat) [deg]
DISPUTED_POINTS = ((34.10, 44.95), (33.53, 44.60), (36.47, 45.36), (145.85, 44.03), (147.617, 45.033),
                   (146.72, 43.80), (146.15, 43.50))
#: Country labels at most on one map, and the least share of the view a country must fill.
MAX_COUNTRY_LABELS = 8
MIN_VIEW_FRACTION = 0.004


@dataclass(frozen=True)
class Region:
    """One bundled box: its bounds [deg], its land and its countries (name, geometry)."""

    bounds_deg: tuple[float, float, float, float]
    land: MultiPolygon
    countries: tuple[tuple[str, MultiPolygon], ...]


def _polygons(encoded) -> MultiPolygon:
    parts = []
    for polygon in encoded:
        shell, *holes = (np.asarray(ring, dtype=np.float64).reshape(-1, 2) for ring in polygon)
        parts.append(Polygon(shell, holes))
    return MultiPolygon(parts)


@lru_cache(maxsize=1)
def load_basemap() -> tuple[Region, ...]:
    """The bundled regions (read once)."""
    document = json.loads(_DATA.read_text(encoding="utf-8"))
    regions = []
    for region in document["regions"].values():
        land = _polygons(region["land"])
        countries = tuple((c["name"], _polygons(c["polygons"])) for c in region["countries"])
        for geometry in (land, *(g for _, g in countries)):
            shapely.prepare(geometry)
        regions.append(Region(tuple(float(v) for v in region["bounds_deg"]), land, countries))
    return tuple(regions)


def _bounds(bounds_deg) -> tuple[float, float, float, float]:
    west, south, east, north = (float(v) for v in bounds_deg)
    return west, south, east, north


def _overlapping(bounds_deg):
    west, south, east, north = bounds_deg
    for region in load_basemap():
        w, s, e, n = region.bounds_deg
        if west < e and w < east and south < n and s < north:
            yield region


def _only_polygons(geometry):
    """The polygons of a clip result (a clip can leave lines and points on the rectangle's edge)."""
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, Polygon) and not g.is_empty and g.area > 0]
    parts = [p for g in parts for p in ([g] if g.is_valid else shapely.get_parts(shapely.make_valid(g))) if isinstance(p, Polygon)]
    return MultiPolygon([shapely.geometry.polygon.orient(p, 1.0) for p in parts if p.area > 0])


def data_extent_in(bounds_deg):
    """The part of ``bounds_deg`` the bundled data covers (empty far from the bundled scenarios)."""
    b = _bounds(bounds_deg)
    if not (b[0] < b[2] and b[1] < b[3]):
        return MultiPolygon()
    frame = box(*b)
    return _only_polygons(shapely.union_all([box(*r.bounds_deg).intersection(frame) for r in _overlapping(b)]))


def land_in(bounds_deg):
    """Land inside ``bounds_deg`` (a MultiPolygon, exteriors counter-clockwise, holes clockwise)."""
    b = _bounds(bounds_deg)
    if not (b[0] < b[2] and b[1] < b[3]):
        return MultiPolygon()
    parts = [shapely.clip_by_rect(r.land, *b) for r in _overlapping(b)]
    return _only_polygons(shapely.union_all(parts)) if parts else MultiPolygon()


def coastline_in(bounds_deg):
    """The coastline inside ``bounds_deg`` (lines): land's edge, without the edges of the
    bundled boxes, where the data was cut."""
    b = _bounds(bounds_deg)
    if not (b[0] < b[2] and b[1] < b[3]):
        return shapely.MultiLineString()
    lines = []
    for region in _overlapping(b):
        w, s, e, n = region.bounds_deg
        cut = box(w, s, e, n).exterior.buffer(1e-6)
        lines.append(shapely.clip_by_rect(region.land.boundary.difference(cut), *b))
    return shapely.line_merge(shapely.union_all(lines)) if lines else shapely.MultiLineString()


def rings(geometry, max_step_deg: float | None = None) -> list[np.ndarray]:
    """Every ring (polygons) or line (lines) of ``geometry`` as an ``(n, 2)`` lon/lat array,
    densified so no step exceeds ``max_step_deg`` (to follow a projection)."""
    if geometry is None or geometry.is_empty:
        return []
    if max_step_deg:
        geometry = shapely.segmentize(geometry, max_step_deg)
    out = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon):
            out.append(np.asarray(part.exterior.coords))
            out += [np.asarray(r.coords) for r in part.interiors]
        elif not part.is_empty:
            out.append(np.asarray(part.coords))
    return out


def beyond_dem(grid) -> np.ndarray | None:
    """Cells of an analysis grid whose centre lies beyond its DEM (a grid reaches past it with
    ``outside_terrain: sea``, which takes them as sea level): bool ``grid.shape``, or None when
    the grid does not say where its DEM is. Maps leave them to Natural Earth."""
    dem_shape = getattr(getattr(grid, "terrain", None), "shape", None)
    if dem_shape is None or not hasattr(grid, "row_off"):
        return None
    rows, cols = grid.shape
    factor = getattr(grid, "factor", 1)
    r = grid.row_off + (np.arange(rows) + 0.5) * factor
    c = grid.col_off + (np.arange(cols) + 0.5) * factor
    return ((r < 0) | (r > dem_shape[0]))[:, None] | ((c < 0) | (c > dem_shape[1]))[None, :]


@lru_cache(maxsize=1)
def _disputed():
    return tuple(shapely.Point(lon, lat) for lon, lat in DISPUTED_POINTS)


def country_labels(bounds_deg, max_labels: int = MAX_COUNTRY_LABELS, *,
                   min_fraction: float = MIN_VIEW_FRACTION) -> list[tuple[str, float, float]]:
    """Country names worth a label on a map of ``bounds_deg``: ``(name, lon, lat)``, largest
    visible part first. A country is labelled when its part inside the view fills at least
    ``min_fraction`` of it, at the pole of inaccessibility of its largest visible piece (on an
    equirectangular plane about the view's middle latitude), so zoomed in, a country off the
    view gets no label and one at its edge gets its name on the part that shows."""
    b = _bounds(bounds_deg)
    west, south, east, north = b
    if not (west < east and south < north):
        return []
    k = max(math.cos(math.radians(0.5 * (south + north))), 0.05)  # x scale: equal-area-ish about the mid latitude
    view_area = (east - west) * (north - south) * k
    found = []
    for region in _overlapping(b):
        for name, geometry in region.countries:
            gw, gs, ge, gn = geometry.bounds
            if ge <= west or gw >= east or gn <= south or gs >= north:
                continue
            visible = _only_polygons(shapely.clip_by_rect(geometry, *b))
            if visible.is_empty:
                continue
            # land under dispute carries no country's name (see the module docstring)
            pieces = [p for p in visible.geoms if not any(p.intersects(d) for d in _disputed())]
            area = sum(p.area for p in pieces) * k
            if not pieces or area < min_fraction * view_area:
                continue
            found.append((area, name, pieces))
    found.sort(key=lambda f: -f[0])
    labels = []
    diagonal = math.hypot((east - west) * k, north - south)
    for _, name, pieces in found[:max_labels]:
        largest = max(pieces, key=lambda p: p.area)
        scaled = shapely.affinity.scale(largest, xfact=k, yfact=1.0, origin=(0.0, 0.0))
        try:
            point = shapely.ops.polylabel(scaled, tolerance=diagonal / 300.0)
        except Exception:  # a degenerate sliver: any point inside will do
            point = scaled.representative_point()
        labels.append((name, point.x / k, point.y))
    return labels


"""Build ``simulator/data/basemap.json``: Natural Earth land and countries around the bundled scenarios.

Source: Natural Earth (https://www.naturalearthdata.com/), public domain, version 4.1.0,
1:10m "Admin 0 - Countries" (land = the union of the countries), as the maintained npm
package ``world-atlas`` 2.0.2 (ISC licence, Mike Bostock) ships it in TopoJSON
(``countries-10m.json``: objects ``countries``, with ``properties.name``, and ``land``;
quantized to 1e5 steps per axis, i.e. about 0.0036 deg of longitude). Run by hand when the
bundled scenarios change:

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python tools/build_basemap.py package/countries-10m.json

Only the boxes in :data:`BOXES` are kept (generous boxes around the bundled scenarios' maps:
their sites plus the largest nominal disks, and room to zoom out in the GUI). Names are
Natural Earth's English ``NAME`` spellings. Disputed territory follows Natural Earth's own
convention of that version, which draws de facto control: Crimea lies inside the polygon named
Russia (no separate Crimea polygon; GeoNames, the source of the town names, files it under UA)
and so do the southern Kurils (Kunashir, Iturup, Shikotan, the Habomai islets). :func:`main`
checks both and refuses to write a file that says otherwise, so a rebuild from a version with
another convention cannot slip past the docs.

The file holds, per box, ``land`` (polygons) and ``countries`` (name and polygons); a polygon
is a list of rings (exterior first), a ring a flat ``[lon, lat, lon, lat, ...]`` list rounded to
4 decimals [deg], closed (first point repeated last).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "simulator" / "data" / "basemap.json"
#: (west, south, east, north) [deg] of each bundled region.
BOXES = {"kurils": (128.0, 30.0, 165.0, 58.0), "crimea": (18.0, 33.0, 52.0, 56.0)}
DECIMALS = 4
NE_VERSION = "4.1.0"
PACKAGE = "world-atlas 2.0.2"
#: Points whose country the file must state as below (Natural Earth's own convention).
CONVENTION_CHECKS = (
    ("Simferopol, Crimea", 44.95, 34.10, "Russia"),
    ("Sevastopol, Crimea", 44.60, 33.53, "Russia"),
    ("Kerch, Crimea", 45.36, 36.47, "Russia"),
    ("Kyiv", 50.45, 30.52, "Ukraine"),
    ("Kherson", 46.64, 32.61, "Ukraine"),
    ("Yuzhno-Kurilsk, Kunashir", 44.03, 145.85, "Russia"),
    ("Iturup (the island infobox point)", 45.033, 147.617, "Russia"),
    ("Shikotan", 43.80, 146.72, "Russia"),
    ("Zelyony, Habomai islets", 43.50, 146.15, "Russia"),
    ("Sapporo, Hokkaido", 43.06, 141.35, "Japan"),
)


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """Every arc in lon/lat [deg]: undo the delta encoding, then the quantization."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        points = []
        for p in arc:
            x += p[0]
            y += p[1]
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(indices: list[int], arcs) -> list[tuple[float, float]]:
    """One ring from its arc indices; ``~i`` (negative) is arc ``i`` reversed. Consecutive arcs
    share their end point, which is kept once."""
    points: list[tuple[float, float]] = []
    for index in indices:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def geometry(obj: dict, arcs) -> Polygon | MultiPolygon | None:
    """A TopoJSON Polygon or MultiPolygon as a shapely geometry, not yet made valid (None for others)."""
    if obj["type"] == "Polygon":
        polygons = [obj["arcs"]]
    elif obj["type"] == "MultiPolygon":
        polygons = obj["arcs"]
    else:
        return None
    parts = []
    for rings in polygons:
        shell, *holes = (_ring(r, arcs) for r in rings)
        if len(shell) >= 4:
            parts.append(Polygon(shell, [h for h in holes if len(h) >= 4]))
    return MultiPolygon(parts) if parts else None


def _polygons(geom) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [g for part in getattr(geom, "geoms", []) for g in _polygons(part)]


def _flat(ring) -> list[float]:
    return [round(v, DECIMALS) for xy in ring.coords for v in xy]


def _encode(geom) -> list:
    out = []
    for polygon in _polygons(geom):
        polygon = shapely.geometry.polygon.orient(polygon, 1.0)
        if polygon.area <= 0.0:
            continue
        out.append([_flat(polygon.exterior)] + [_flat(r) for r in polygon.interiors])
    return out


def main(path: str) -> None:
    topology = json.loads(Path(path).read_text(encoding="utf-8"))
    arcs = decode_arcs(topology)
    land = [g for g in (geometry(o, arcs) for o in topology["objects"]["land"]["geometries"]) if g is not None]
    countries = []
    for obj in topology["objects"]["countries"]["geometries"]:
        g = geometry(obj, arcs)
        if g is not None:
            countries.append((obj["properties"]["name"], g))
    for what, lat, lon, expected in CONVENTION_CHECKS:
        point = Point(lon, lat)
        holders = [name for name, g in countries if g.envelope.contains(point) and shapely.make_valid(g).contains(point)]
        if holders != [expected]:
            raise SystemExit(f"{what} ({lat} N, {lon} E) lies in {holders or 'no country'}, not {expected}: "
                             "Natural Earth's convention changed; update the docs before rebuilding")
    regions = {}
    for key, bounds in BOXES.items():
        frame = box(*bounds)
        region_countries = []
        for name, g in countries:
            if not g.intersects(frame):
                continue
            clipped = shapely.make_valid(shapely.clip_by_rect(g, *bounds))
            encoded = _encode(clipped)
            if encoded:
                region_countries.append({"name": name, "polygons": encoded})
        region_countries.sort(key=lambda c: c["name"])
        regions[key] = {"bounds_deg": list(bounds), "land": _encode(shapely.union_all([shapely.make_valid(shapely.clip_by_rect(g, *bounds)) for g in land])),
                        "countries": region_countries}
    document = {
        "source": f"Natural Earth {NE_VERSION} 1:10m Admin 0 countries (public domain, naturalearthdata.com), "
                  f"via the npm package {PACKAGE} (ISC licence)",
        "convention": "Natural Earth's own (de facto control): Crimea and the southern Kurils inside the polygon named Russia",
        "format": "regions -> land: polygons; countries: [{name, polygons}]; polygon = [exterior, *holes]; "
                  "ring = flat [lon, lat, ...] deg, closed",
        "regions": regions,
    }
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
    tmp.replace(OUT)
    sizes = {k: (len(r["land"]), len(r["countries"])) for k, r in regions.items()}
    print(f"wrote {OUT}: {OUT.stat().st_size / 1e6:.2f} MB; (land polygons, countries) per region: {sizes}")


if __name__ == "__main__":
    main(sys.argv[1])

"""GeoJSON (RFC 7946) of coverage and comparisons: disjoint polygons per set of covering units.

Polygons are built from the coverage masks in an equal-area CRS
(:func:`simulator.geometry.mask_polygons`, boundaries half-way between cell centres) and
transformed to lon/lat WGS84 [deg] for GeoJSON (RFC 7946) and KML; coordinates are snapped to
1e-6 deg (about 0.1 m) with :func:`shapely.set_precision`, which keeps them valid; exterior
rings run counter-clockwise and holes clockwise (RFC 7946, section 3.1.6). ``area_km2`` is the
geodesic area of the cells (the same number as the tables), not the polygon's. Areas crossing
the antimeridian are not split.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from simulator import __version__
from simulator.export.assumptions import _comparison_assumptions, report_assumptions
from simulator.export.tables import json_default

#: Coordinate grid of GeoJSON/KML output. [deg] (1e-6 deg is about 0.1 m)
COORDINATE_PRECISION_DEG = 1e-6
COORDINATE_DECIMALS = 6


def _clean_lonlat(geometry):
    """Valid, precision-snapped, right-hand-oriented polygons (a list of shapely Polygons)."""
    import shapely
    from shapely.geometry.polygon import orient

    if geometry is None or geometry.is_empty:
        return []
    geometry = shapely.simplify(geometry, COORDINATE_PRECISION_DEG / 10.0)  # drop collinear contour points
    geometry = shapely.set_precision(geometry, COORDINATE_PRECISION_DEG)
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = []
    for part in getattr(geometry, "geoms", [geometry]):
        if part.geom_type == "Polygon" and not part.is_empty:
            parts.append(orient(part, sign=1.0))
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            parts += _clean_lonlat(part)
    return parts


def _ring_coordinates(ring) -> list:
    return np.round(np.asarray(ring.coords)[:, :2], COORDINATE_DECIMALS).tolist()


def _polygon_coordinates(polygon) -> list:
    return [_ring_coordinates(polygon.exterior), *(_ring_coordinates(r) for r in polygon.interiors)]


def geometry_geojson(geometry) -> dict | None:
    """An RFC 7946 geometry (Polygon or MultiPolygon) from a lon/lat shapely geometry; None if empty."""
    parts = _clean_lonlat(geometry)
    if not parts:
        return None
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": _polygon_coordinates(parts[0])}
    return {"type": "MultiPolygon", "coordinates": [_polygon_coordinates(p) for p in parts]}


def _feature(geometry, properties: dict) -> dict | None:
    geojson = geometry_geojson(geometry)
    if geojson is None:
        return None
    return {"type": "Feature", "geometry": geojson, "properties": properties}


def _mask_polygons_lonlat(coverage, mask: np.ndarray, cache: dict | None):
    """``coverage.polygons(mask, lonlat=True)[0]``, memoised in ``cache`` by the mask's content
    (within a report the same cells recur: layers with equal envelopes, units in both scenarios)."""
    if cache is None:
        return coverage.polygons(mask, lonlat=True)[0]
    key = (coverage.grid.key, hashlib.sha1(np.packbits(mask)).hexdigest())
    if key not in cache:
        cache[key] = coverage.polygons(mask, lonlat=True)[0]
    return cache[key]


def _unit_bits(coverage, layer, altitude_m, altitude_ref):
    """Per cell, which of the coverage's units cover it: (bits uint64, ids) or (depth, None)."""
    if len(coverage.unit_ids) <= 64:
        return coverage.covering_units(layer, altitude_m, altitude_ref), list(coverage.unit_ids)
    return coverage.depth(layer, altitude_m, altitude_ref), None


def coverage_features(coverage, layer: str, altitude_m: float, altitude_ref: str, *, scenario: str | None = None, role: str | None = None,
                      polygon_cache: dict | None = None) -> list[dict]:
    """Coverage polygons of one layer and altitude, one feature per set of covering units.

    The features are disjoint; each has ``unit_ids`` (the units covering it, all of them)
    and ``depth`` (how many); their ``area_km2`` add up to the covered area.
    """
    values, ids = _unit_bits(coverage, layer, altitude_m, altitude_ref)
    features = []
    for value in np.unique(values):
        if value == 0:
            continue
        mask = values == value
        if ids is None:
            unit_ids = coverage.unit_ids  # > 64 units: grouped by depth only
            depth = int(value)
        else:
            unit_ids = [uid for i, uid in enumerate(ids) if int(value) >> i & 1]
            depth = len(unit_ids)
        geometry = _mask_polygons_lonlat(coverage, mask, polygon_cache)
        props = {
            "kind": "coverage",
            "layer": layer,
            "altitude_m": float(altitude_m),
            "altitude_ref": altitude_ref,
            "unit_ids": list(unit_ids),
            "depth": depth,
            "area_km2": round(coverage.area_km2(mask), 3),
        }
        if scenario is not None:
            props["scenario"] = scenario
        if role is not None:
            props["role"] = role
        feature = _feature(geometry, props)
        if feature is not None:
            features.append(feature)
    features.sort(key=lambda f: (f["properties"]["depth"], f["properties"]["unit_ids"]))
    return features


def coverage_geojson(coverage, layer, altitudes_m, altitude_ref="msl", *, assumptions: dict | None = None) -> dict:
    """FeatureCollection of the coverage polygons of ``layer`` (str or list) at each altitude.

    Coordinates lon/lat WGS84 [deg] (RFC 7946); properties ``kind`` ("coverage"), ``layer``,
    ``altitude_m``, ``altitude_ref``, ``unit_ids``, ``depth``, ``area_km2``; a top-level
    ``assumptions`` member.
    """
    layers = [layer] if isinstance(layer, str) else list(layer)
    altitudes = [altitudes_m] if isinstance(altitudes_m, (int, float)) else list(altitudes_m)
    features = []
    cache: dict = {}
    for lay in layers:
        for altitude in altitudes:
            features += coverage_features(coverage, lay, altitude, altitude_ref, scenario=coverage.scenario_name or None, polygon_cache=cache)
    return {
        "type": "FeatureCollection",
        "name": f"{coverage.scenario_name or 'adcov'} coverage",
        "generator": f"adcov {__version__}",
        "scenario": coverage.scenario_name,
        "assumptions": assumptions or report_assumptions(coverage),
        "features": features,
    }


def _comparison_geometry(comparison, layer, altitude_m, which):
    result = comparison.polygons_lonlat(layer, altitude_m, which)
    return result[0] if isinstance(result, tuple) else result


def _change(comparison, layer, altitude_m):
    return comparison.change(layer, altitude_m)


def comparison_features(comparison, layer: str, altitude_m: float, *, polygon_cache: dict | None = None) -> list[dict]:
    """Baseline and variant coverage features, then the lost and gained polygons.

    ``lost`` features list the baseline units that covered some of the lost cells and, as
    ``depth``, the most units that covered any of them; ``gained`` ones the variant units.
    """
    ref = comparison.altitude_ref
    features = coverage_features(comparison.baseline, layer, altitude_m, ref, scenario=comparison.baseline_name, role="baseline",
                                 polygon_cache=polygon_cache)
    features += coverage_features(comparison.variant, layer, altitude_m, ref, scenario=comparison.variant_name, role="variant",
                                  polygon_cache=polygon_cache)
    change = _change(comparison, layer, altitude_m)
    for kind, area, cells, scenario in (
        ("lost", change.lost_km2, change.lost_cells, comparison.baseline),
        ("gained", change.gained_km2, change.gained_cells, comparison.variant),
    ):
        if area <= 0:
            continue
        bits, ids = _unit_bits(scenario, layer, altitude_m, ref)
        values = np.unique(bits[cells])
        if ids is not None:
            present = int(np.bitwise_or.reduce(values)) if values.size else 0
            unit_ids = [u for i, u in enumerate(ids) if present >> i & 1]
            depth = max((int(v).bit_count() for v in values), default=0)
        else:  # > 64 units: bits are depths
            unit_ids, depth = list(scenario.unit_ids), int(values.max()) if values.size else 0
        props = {
            "kind": kind,
            "layer": layer,
            "altitude_m": float(altitude_m),
            "altitude_ref": ref,
            # lost: the baseline units that covered it; gained: the variant units that now do
            "unit_ids": unit_ids,
            "depth": depth,
            "area_km2": round(float(area), 3),
            "baseline": comparison.baseline_name,
            "variant": comparison.variant_name,
        }
        feature = _feature(_comparison_geometry(comparison, layer, altitude_m, kind), props)
        if feature is not None:
            features.append(feature)
    return features


def comparison_geojson(comparison, *, assumptions: dict | None = None) -> dict:
    """FeatureCollection of a comparison: per layer and altitude, the baseline and variant
    coverage (``kind`` "coverage", ``role`` baseline/variant) and the ``lost`` and ``gained``
    polygons; lon/lat WGS84; top-level ``assumptions`` of both scenarios."""
    features = []
    cache: dict = {}
    for layer in comparison.layers:
        for altitude in comparison.altitudes_m:
            features += comparison_features(comparison, layer, altitude, polygon_cache=cache)
    return {
        "type": "FeatureCollection",
        "name": f"{comparison.baseline_name} vs {comparison.variant_name}",
        "generator": f"adcov {__version__}",
        "baseline": comparison.baseline_name,
        "variant": comparison.variant_name,
        "assumptions": assumptions or _comparison_assumptions(comparison),
        "features": features,
    }


def _dump_geojson(collection: dict) -> str:
    # one feature per line: diff-friendly, still one JSON document
    head = {k: v for k, v in collection.items() if k != "features"}
    text = json.dumps(head, ensure_ascii=False, default=json_default)[:-1]
    features = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":"), default=json_default) for f in collection["features"])
    return f'{text}, "features": [\n{features}\n]}}\n'

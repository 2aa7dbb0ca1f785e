"""Place names for maps: GeoNames populated places bundled for the bundled scenarios.

``simulator/data/places.csv`` holds every GeoNames populated place of 1,000 people or more
around the bundled scenarios (built by ``tools/build_places.py``). Names and country codes are
GeoNames' own, and so is its convention on disputed territory: it files Crimea under UA and
the southern Kurils under RU; adcov shows names only, no borders.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["PLACES_CREDIT", "Place", "load_places", "places_to_label"]

PLACES_CREDIT = ("Place names: GeoNames (geonames.org), CC BY 4.0; names as GeoNames spells them and its "
                 "convention on disputed territory")
_DATA = Path(__file__).resolve().parent / "data" / "places.csv"
#: Labels at most on one map, and places near a unit site that always get one.
MAX_LABELS = 24
NEAR_SITE_KM = 20.0
#: ... and the largest town this close to a site is labelled too (the town a reader knows).
LARGEST_NEAR_SITE_KM = 100.0


@dataclass(frozen=True)
class Place:
    name: str
    lat_deg: float
    lon_deg: float
    population: int
    country_code: str


@lru_cache(maxsize=1)
def load_places() -> tuple[Place, ...]:
    """Every bundled place, most populous first."""
    with open(_DATA, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return tuple(Place(r["name"], float(r["lat_deg"]), float(r["lon_deg"]), int(r["population"]), r["country_code"])
                     for r in rows)


def _km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (spherical, 6371 km): enough to space labels. [km]"""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - lon1)
    c = np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl)
    return 6371.0 * np.arccos(np.clip(c, -1.0, 1.0))


def places_to_label(bounds_deg, sites=(), *, max_labels: int = MAX_LABELS) -> list[Place]:
    """The places worth a label on a map of ``(west, south, east, north)``: the nearest town
    to each unit site (within :data:`NEAR_SITE_KM`) and the most populous one within
    :data:`LARGEST_NEAR_SITE_KM`, then
    the most populous, no two closer
    than 1/20 of the map's diagonal (so the density follows the zoom)."""
    west, south, east, north = (float(v) for v in bounds_deg)
    inside = [p for p in load_places() if west <= p.lon_deg <= east and south <= p.lat_deg <= north]
    if not inside:
        return []
    spacing_km = float(_km(south, west, north, east)) / 20.0
    lat = np.array([p.lat_deg for p in inside])
    lon = np.array([p.lon_deg for p in inside])
    chosen: list[int] = []
    for site_lat, site_lon in sites:
        d = _km(site_lat, site_lon, lat, lon)
        nearest = int(np.argmin(d))
        around = np.flatnonzero(d <= LARGEST_NEAR_SITE_KM)  # ``inside`` is most populous first
        for i, ok in ((nearest, d[nearest] <= NEAR_SITE_KM), (int(around[0]) if around.size else -1, around.size > 0)):
            if ok and i not in chosen:
                chosen.append(i)
    for i in range(len(inside)):  # most populous first
        if len(chosen) >= max_labels:
            break
        if i in chosen:
            continue
        if chosen and float(np.min(_km(lat[i], lon[i], lat[chosen], lon[chosen]))) < spacing_km:
            continue
        chosen.append(i)
    return [inside[i] for i in chosen[:max(max_labels, len(sites))]]

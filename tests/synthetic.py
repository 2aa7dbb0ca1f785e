"""Synthetic terrain for tests and benchmarks (seeded, reproducible)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import yaml
from affine import Affine
from scipy import ndimage

from simulator.terrain import Terrain, write_geotiff

UTM55 = "EPSG:32655"
#: Origin of synthetic UTM grids: on the zone's central meridian (147 E), about 45 N.
ORIGIN_E_M = 500_000.0
ORIGIN_N_M = 5_000_000.0


def rough_elevation_m(shape, seed: int, relief_m: float = 800.0, smooth_cells: float = 3.0, sea_fraction: float = 0.3) -> np.ndarray:
    """Fractal-ish island relief: smoothed noise at several scales, sea clipped to 0 m."""
    rng = np.random.default_rng(seed)
    total = np.zeros(shape)
    for scale, weight in ((smooth_cells, 0.25), (smooth_cells * 4, 0.5), (smooth_cells * 16, 1.0)):
        layer = ndimage.gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
        total += weight * layer / (layer.std() or 1.0)
    level = np.quantile(total, sea_fraction)
    land = np.clip(total - level, 0.0, None)
    return (relief_m * land / (land.max() or 1.0)).astype(np.float32)


def utm_terrain(elevation_m: np.ndarray, cell_m: float, centre_on_origin: bool = True) -> Terrain:
    rows, cols = elevation_m.shape
    if centre_on_origin:
        west, north = ORIGIN_E_M - cols * cell_m / 2.0, ORIGIN_N_M + rows * cell_m / 2.0
    else:
        west, north = ORIGIN_E_M, ORIGIN_N_M
    return Terrain.from_array(elevation_m, Affine(cell_m, 0, west, 0, -cell_m, north), UTM55)


def geographic_terrain(elevation_m: np.ndarray, cell_deg: float, west_deg: float, north_deg: float) -> Terrain:
    return Terrain.from_array(elevation_m, Affine(cell_deg, 0, west_deg, 0, -cell_deg, north_deg), "EPSG:4326")


def cell_lonlat(terrain: Terrain, row: float, col: float) -> tuple[float, float]:
    """Longitude, latitude of a (centre-based) pixel of a terrain. [deg]"""
    x, y = terrain.transform @ (col + 0.5, row + 0.5)
    lon, lat = pyproj.Transformer.from_crs(terrain.crs.to_wkt(), "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def unit_at(terrain: Terrain, uid: str, row: float, col: float, system: str = "tor_m2", **fields) -> dict:
    """A scenario unit entry placed at a (centre-based) pixel of a terrain."""
    lon, lat = cell_lonlat(terrain, row, col)
    return {"id": uid, "system": system, "lat_deg": lat, "lon_deg": lon, **fields}


def write_scenario(folder: Path, elevation_m: np.ndarray, cell_m: float, units: list[dict], name: str = "synthetic",
                   dem_name: str = "synthetic.tif", **extra) -> Path:
    """A scenario YAML on a synthetic UTM DEM (written once per folder and name) in ``folder``."""
    terrain = utm_terrain(elevation_m, cell_m)
    dem = folder / dem_name
    if not dem.exists():
        write_geotiff(dem, terrain.elevation_m, terrain.transform, terrain.crs, nodata=None)
    # small synthetic DEMs: the analysis stops at their edge (the bundled scenarios cover full disks)
    doc = {"schema_version": 1, "name": name, "terrain": dem.name, "k_factor": 4.0 / 3.0,
           "outside_terrain": "clip", "assumptions": {"antenna_height_m": 20}, "units": units, **extra}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path

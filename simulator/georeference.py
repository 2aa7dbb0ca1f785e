"""Georeferencing of a north-up grid: coordinate conversions, footprint and cell size.

:class:`GridGeoreference` is shared by :class:`simulator.terrain.Terrain` (in memory) and
:class:`simulator.dem.DemSource` (read in windows); the conventions are those of
:mod:`simulator.terrain` (cell-corner transform, centre-based fractional pixels, ``x``-first
coordinate pairs, bounds ``(west, south, east, north)``). The labels at the end name
positions, CRSs and raster sources in messages and descriptions.
"""

from __future__ import annotations

import math
import os
from functools import cached_property
from pathlib import Path

import numpy as np
import pyproj
import rasterio.crs
from affine import Affine

# Points sampled for the footprint of a projected raster in lon/lat.
_DENSIFY_POINTS = 21
_WGS84 = rasterio.crs.CRS.from_epsg(4326)
_GEOD = pyproj.Geod(ellps="WGS84")


class GridGeoreference:
    """Coordinate conversions of a north-up grid: needs ``shape``, ``transform`` (cell
    corners) and ``crs`` (rasterio). Shared by :class:`~simulator.terrain.Terrain` (in memory) and
    :class:`simulator.dem.DemSource` (read in windows)."""

    @property
    def is_geographic(self) -> bool:
        """True when the CRS is geographic (degrees), False when projected."""
        return bool(self.crs.is_geographic)

    @property
    def resolution(self) -> tuple[float, float]:
        """Cell size ``(x_res, y_res)`` in CRS units, both positive. [deg or m]"""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Outer cell edges ``(west, south, east, north)`` in CRS units. [deg or m]"""
        rows, cols = self.shape
        t = self.transform
        return (t.c, t.f + t.e * rows, t.c + t.a * cols, t.f)

    @cached_property
    def bounds_deg(self) -> tuple[float, float, float, float]:
        """Footprint ``(west, south, east, north)`` in WGS84 lon/lat. [deg]

        Exact for EPSG:4326; otherwise the cell-edge box is transformed with densified edges
        (``pyproj.Transformer.transform_bounds``), so it encloses the raster footprint.
        """
        if self._is_wgs84:
            return self.bounds
        west, south, east, north = self._to_lonlat.transform_bounds(*self.bounds, densify_pts=_DENSIFY_POINTS)
        return (float(west), float(south), float(east), float(north))

    @cached_property
    def resolution_m(self) -> tuple[float, float]:
        """Approximate ground size ``(dx_m, dy_m)`` of the cell at the terrain centre. [m]

        Geodesic (WGS84 ellipsoid, ``pyproj.Geod``) distance between the midpoints of the
        centre cell's opposite edges, for geographic and projected CRSs alike (so a projected
        grid's scale factor is included).
        """
        rows, cols = self.shape
        r, c = (rows - 1) / 2.0, (cols - 1) / 2.0
        x, y = self.pixel_to_xy(np.array([r, r, r - 0.5, r + 0.5]), np.array([c - 0.5, c + 0.5, c, c]))
        lon, lat = self.xy_to_lonlat(x, y)
        _, _, dist_m = _GEOD.inv(lon[[0, 2]], lat[[0, 2]], lon[[1, 3]], lat[[1, 3]])
        return (float(dist_m[0]), float(dist_m[1]))

    # ---- coordinate conversions ----------------------------------------------------------

    @cached_property
    def _is_wgs84(self) -> bool:
        return self.crs == _WGS84

    @cached_property
    def _pyproj_crs(self) -> pyproj.CRS:
        return pyproj.CRS.from_wkt(self.crs.to_wkt())

    @cached_property
    def _to_native(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs("EPSG:4326", self._pyproj_crs, always_xy=True)

    @cached_property
    def _to_lonlat(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(self._pyproj_crs, "EPSG:4326", always_xy=True)

    def lonlat_to_xy(self, lon_deg, lat_deg) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 lon/lat to the terrain CRS.

        Parameters
        ----------
        lon_deg, lat_deg : array_like
            Longitude and latitude (EPSG:4326); broadcast together. [deg]

        Returns
        -------
        x, y : numpy.ndarray
            Coordinates in the terrain CRS (float64, broadcast shape). [CRS units]

        Notes
        -----
        For a geographic terrain, a longitude more than 180° from the terrain centre is
        shifted by a multiple of 360° towards it (so -213° reaches a terrain at 147°E).
        """
        lon_deg, lat_deg = np.broadcast_arrays(np.asarray(lon_deg, dtype=float), np.asarray(lat_deg, dtype=float))
        if self.is_geographic:
            west, _, east, _ = self.bounds_deg
            centre = (west + east) / 2.0
            off = lon_deg - centre
            lon_deg = np.where(np.abs(off) > 180.0, centre + (off + 180.0) % 360.0 - 180.0, lon_deg)
        if self._is_wgs84:
            return np.array(lon_deg, dtype=float), np.array(lat_deg, dtype=float)
        x, y = self._to_native.transform(lon_deg, lat_deg)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def xy_to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Terrain-CRS coordinates to WGS84 ``(lon_deg, lat_deg)``. [deg]"""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        if self._is_wgs84:
            return np.array(x, dtype=float), np.array(y, dtype=float)
        lon, lat = self._to_lonlat.transform(x, y)
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    def pixel_to_xy(self, row, col) -> tuple[np.ndarray, np.ndarray]:
        """Fractional centre-based ``(row, col)`` to terrain-CRS ``(x, y)`` (inverse of :meth:`xy_to_pixel`)."""
        row, col = np.broadcast_arrays(np.asarray(row, dtype=float), np.asarray(col, dtype=float))
        t = self.transform
        return t.c + t.a * (col + 0.5), t.f + t.e * (row + 0.5)

    def cell_size_m_at_pixel(self, row: float, col: float) -> tuple[float, float]:
        """Geodesic ground size ``(dx_m, dy_m)`` of a cell centred at a pixel. [m]"""
        x, y = self.pixel_to_xy(np.array([row, row, row - 0.5, row + 0.5]), np.array([col - 0.5, col + 0.5, col, col]))
        lon, lat = self.xy_to_lonlat(x, y)
        _, _, dist_m = _GEOD.inv(lon[[0, 2]], lat[[0, 2]], lon[[1, 3]], lat[[1, 3]])
        return (float(dist_m[0]), float(dist_m[1]))


# --------------------------------------------------------------------------------------------
# Labels (messages and descriptions)
# --------------------------------------------------------------------------------------------


def _first_cell_label(cells: np.ndarray, transform: Affine, crs) -> str:
    row, col = (int(i) for i in np.unravel_index(int(np.argmax(cells)), cells.shape))
    x = transform.c + transform.a * (col + 0.5)
    y = transform.f + transform.e * (row + 0.5)
    if crs == _WGS84:
        lon, lat = x, y
    else:
        to_lonlat = pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(crs.to_wkt()), "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(x, y)
    return f"{_format_lat_lon(lat, lon)} (row {row}, col {col})"


def _format_lat(lat_deg: float) -> str:
    return f"{abs(lat_deg):.5f}°{'S' if lat_deg < 0 else 'N'}"


def _format_lon(lon_deg: float) -> str:
    return f"{abs(lon_deg):.5f}°{'W' if lon_deg < 0 else 'E'}"


def _format_lat_lon(lat_deg: float, lon_deg: float) -> str:
    lat_deg, lon_deg = float(lat_deg), float(lon_deg)
    if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)):
        return f"(lat {lat_deg}, lon {lon_deg})"
    return f"{_format_lat(lat_deg)} {_format_lon(lon_deg)}"


def _crs_label(crs) -> str:
    if crs is None:
        return "no CRS"
    epsg = crs.to_epsg()
    if epsg is not None:
        return f"EPSG:{epsg}"
    try:
        return pyproj.CRS.from_wkt(crs.to_wkt()).name
    except pyproj.exceptions.CRSError:
        return crs.to_string()


def _common_folder(paths) -> str:
    paths = [Path(p) for p in paths]
    try:
        return str(Path(os.path.commonpath([str(p.parent) for p in paths])))
    except ValueError:
        return str(paths[0].parent)


def _sources_label(paths) -> str:
    paths = tuple(paths)
    if not paths:
        return "<array>"
    if len(paths) == 1:
        return str(paths[0])
    return f"mosaic of {len(paths)} rasters under {_common_folder(paths)}"

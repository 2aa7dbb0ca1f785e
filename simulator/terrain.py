"""Terrain: a digital elevation model read from a local raster (DTED, SRTM, GeoTIFF, ERDAS, VRT).

This is the only module of adcov that reads or writes rasters (rasterio; the writer is
:func:`write_geotiff`). Everything else receives a :class:`Terrain`: an immutable float32
grid of terrain elevation above mean sea level [m] with its cell-corner affine transform and
CRS, plus coordinate conversions and bilinear sampling.

:func:`open_terrain` reads a file, a folder of tiles or a list of both (DTED ``.dt0/.dt1/.dt2``,
SRTM ``.hgt``, GeoTIFF, VRT, ERDAS ``.img``: :mod:`simulator.terrain_safety` says what is opened), mosaics several
rasters into one grid (``rasterio.merge``) and resolves voids explicitly by a stated policy:

``"fill"`` (default)
    interpolate voids from valid neighbours (``rasterio.fill.fillnodata``, GDAL's inverse
    distance weighted quadrant search, at most :data:`FILL_MAX_SEARCH_CELLS` cells away);
    a void that no valid cell reaches is an error.
``"sea"``
    voids are sea: 0 m. Right for a mosaic whose missing tiles are open sea (DTED and SRTM
    ship no tile that holds no land).
``"error"``
    any void is an error that gives the count and the first void's position.

Voids are cells masked by the raster's nodata value or mask band, the DTED void value
-32767, the SRTM void value -32768, NaN, and, in a mosaic, the area that no input covers.

Conventions
-----------
* ``transform`` is the cell-corner affine transform (rasterio/GDAL convention): pixel
  ``(col, row)`` corner coordinates ``(0, 0)`` are the outer corner of the first cell.
* Fractional pixel coordinates in this API (:meth:`Terrain.xy_to_pixel`,
  :meth:`Terrain.pixel_to_xy`) are **centre based**: ``row = 0.0`` is the centre of the first
  row. DTED and SRTM posts are those centres (GDAL reports a point-registered tile half a post
  wider than its posts).
* Geodetic APIs take ``lat_deg, lon_deg`` (WGS84, EPSG:4326); the coordinate conversion
  helpers take ``x``-first pairs (``lon_deg, lat_deg``; ``x, y``), like pyproj with
  ``always_xy=True``. Bounds are ``(west, south, east, north)``.
* Heights are band 1, in metres above mean sea level (for DTED and SRTM: the EGM96 geoid),
  after the band's scale and offset are applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pyproj
import rasterio
import rasterio.crs
import rasterio.errors
import rasterio.fill
import rasterio.merge
from affine import Affine
from rasterio.enums import MaskFlags, Resampling

from simulator.errors import OutsideTerrainError, TerrainError
from simulator.terrain_safety import ALLOWED_SUFFIXES, GDAL_NO_NETWORK, check_terrain_file

__all__ = [
    "FILL_MAX_SEARCH_CELLS",
    "RASTER_SUFFIXES",
    "VOID_POLICIES",
    "VOID_VALUES_M",
    "Terrain",
    "clear_terrain_cache",
    "open_terrain",
    "write_geotiff",
]

#: Valid values of ``open_terrain(..., void_policy=...)``.
VOID_POLICIES: tuple[str, ...] = ("fill", "sea", "error")

#: File suffixes (case-insensitive) taken from a folder given to :func:`open_terrain`.
#: An explicitly named file may have any suffix GDAL understands.
RASTER_SUFFIXES: tuple[str, ...] = ALLOWED_SUFFIXES

#: Cell values that are voids whatever the raster's nodata says: DTED (-32767) and SRTM
#: (-32768) void markers. No real terrain is that low. [m]
VOID_VALUES_M: tuple[float, ...] = (-32767.0, -32768.0)

#: ``void_policy="fill"`` looks this far for valid cells (GDAL's default). [cells]
FILL_MAX_SEARCH_CELLS: float = 100.0

_CACHE_MAX_ENTRIES = 4
# Fractional pixel coordinates this close to an integer are snapped to it, so a query at an
# exact post (DTED 44.350°N 146.250°E) returns the stored value exactly and a query on the
# outermost posts is inside. 1e-8 of a 30 m cell is 0.3 µm. [cells]
_SNAP_CELLS = 1e-8
# Points sampled for the footprint of a projected raster in lon/lat.
_DENSIFY_POINTS = 21
# Mosaic sentinel for "no data here" inside rasterio.merge's float32 output (also a void value).
_MERGE_NODATA = -32767.0
# Units (band metadata) accepted as metres; empty means "not stated", taken as metres.
_METRE_UNITS = frozenset({"", "m", "metre", "metres", "meter", "meters"})
_OUTSIDE_CHOICES = ("raise", "nan")
_WINDOW_CRS_CHOICES = ("deg", "native")
_WGS84 = rasterio.crs.CRS.from_epsg(4326)
_GEOD = pyproj.Geod(ellps="WGS84")


# --------------------------------------------------------------------------------------------
# Terrain
# --------------------------------------------------------------------------------------------



class GridGeoreference:
    """Coordinate conversions of a north-up grid: needs ``shape``, ``transform`` (cell
    corners) and ``crs`` (rasterio). Shared by :class:`Terrain` (in memory) and
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


@dataclass(frozen=True, eq=False)
class Terrain(GridGeoreference):
    """An immutable elevation grid with its georeferencing.

    Build one with :func:`open_terrain` (files) or :meth:`Terrain.from_array` (arrays, e.g.
    synthetic terrain in tests). Instances compare by identity; use :attr:`content_hash` to
    compare contents.

    Attributes
    ----------
    elevation_m : numpy.ndarray
        Terrain elevation above mean sea level, float32, shape ``(rows, cols)``, row 0 the
        northernmost (north-up), C-contiguous and read-only; no NaN, no void values. [m]
    transform : affine.Affine
        Cell-corner affine transform, north-up, no rotation (rasterio convention).
    crs : rasterio.crs.CRS
        Coordinate reference system of ``transform`` (geographic or projected).
    source_paths : tuple of pathlib.Path
        The raster files read, resolved; empty for terrain made from an array.
    void_cells_filled : int
        How many void (nodata) cells were given a value, by ``void_policy``.
    void_policy : str
        How voids were resolved: one of :data:`VOID_POLICIES` (``"array"`` for
        :meth:`from_array`).
    content_hash : str
        SHA-256 (hex) of the elevation bytes (little-endian float32), shape, transform and CRS
        WKT. Stable across runs and machines; computed once, on first use (a one-off
        viewshed never needs it).
    void_filled : numpy.ndarray or None
        Read-only boolean grid, True where a void was filled; None when none was.
    notes : tuple of str
        Remarks on how the grid was made (mixed resolutions resampled, rows flipped, ...);
        shown by :meth:`describe`.
    """

    elevation_m: np.ndarray
    transform: Affine
    crs: rasterio.crs.CRS
    source_paths: tuple[Path, ...]
    void_cells_filled: int
    void_policy: str
    void_filled: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    #: What lies beyond the grid for :meth:`read_pixels`: "error" or "sea" (0 m).
    outside_terrain: str = "error"

    def __post_init__(self) -> None:
        elevation_m = np.asarray(self.elevation_m)
        if elevation_m.ndim != 2 or 0 in elevation_m.shape:
            raise TerrainError(f"terrain elevation_m must be a non-empty 2-D grid, got shape {elevation_m.shape}")
        if not (elevation_m.dtype == np.float32 and elevation_m.flags.c_contiguous and not elevation_m.flags.writeable):
            elevation_m = np.ascontiguousarray(elevation_m, dtype=np.float32).copy()
            elevation_m.flags.writeable = False
        if not np.isfinite(elevation_m).all():
            raise TerrainError("terrain elevation_m contains NaN or infinity; resolve voids first (see VOID_POLICIES)")
        if float(elevation_m.min()) <= max(VOID_VALUES_M):
            raise TerrainError(
                f"terrain elevation_m contains void values ({', '.join(f'{v:g}' for v in VOID_VALUES_M)}); "
                "resolve voids first (see VOID_POLICIES)"
            )
        transform = Affine(*tuple(self.transform)[:6])
        if transform.b != 0.0 or transform.d != 0.0 or not transform.a > 0.0 or not transform.e < 0.0:
            raise TerrainError(
                "terrain transform must be north-up without rotation (a > 0, b = d = 0, e < 0), "
                f"got {tuple(transform)[:6]}"
            )
        if self.crs is None:
            raise TerrainError("terrain needs a CRS, got None")
        crs = self.crs if isinstance(self.crs, rasterio.crs.CRS) else rasterio.crs.CRS.from_user_input(self.crs)
        void_filled = self.void_filled
        if void_filled is not None:
            void_filled = np.asarray(void_filled, dtype=bool)
            if void_filled.shape != elevation_m.shape:
                raise TerrainError(
                    f"void_filled shape {void_filled.shape} differs from elevation_m {elevation_m.shape}"
                )
            if not void_filled.any():
                void_filled = None
            elif void_filled.flags.writeable:
                void_filled = void_filled.copy()
                void_filled.flags.writeable = False
        object.__setattr__(self, "elevation_m", elevation_m)
        object.__setattr__(self, "transform", transform)
        object.__setattr__(self, "crs", crs)
        object.__setattr__(self, "source_paths", tuple(Path(p) for p in self.source_paths))
        object.__setattr__(self, "void_cells_filled", int(self.void_cells_filled))
        object.__setattr__(self, "void_filled", void_filled)
        object.__setattr__(self, "notes", tuple(self.notes))

    def __getstate__(self) -> dict:
        # Fields only: cached properties (pyproj transformers, footprint) are rebuilt on
        # demand, except the content hash, which is cheap to carry and dear to recompute.
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if "content_hash" in self.__dict__:
            state["content_hash"] = self.__dict__["content_hash"]
        return state

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            if isinstance(value, np.ndarray) and value.flags.writeable:
                value = value.copy() if not value.flags.owndata else value
                value.flags.writeable = False  # unpickled arrays come back writeable
            object.__setattr__(self, name, value)

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of elevation, shape, transform and CRS (see the class docstring)."""
        return _content_hash(self.elevation_m, self.transform, self.crs)

    @classmethod
    def from_array(
        cls,
        elevation_m: np.ndarray,
        transform: Affine,
        crs: rasterio.crs.CRS | str | int,
        *,
        notes: Iterable[str] = (),
    ) -> Terrain:
        """Terrain from an in-memory grid (synthetic terrain, tests, another reader).

        Parameters
        ----------
        elevation_m : array_like
            Elevation above mean sea level, shape ``(rows, cols)``, row 0 north; finite,
            no void values. Copied to read-only float32. [m]
        transform : affine.Affine
            Cell-corner transform, north-up.
        crs : rasterio.crs.CRS, str or int
            Anything ``rasterio.crs.CRS.from_user_input`` accepts (``"EPSG:32655"``, 4326).
        notes : iterable of str, optional
            Remarks shown by :meth:`describe`.

        Examples
        --------
        >>> from affine import Affine
        >>> t = Terrain.from_array(np.zeros((3, 4)), Affine(0.5, 0, 10, 0, -0.5, 50), "EPSG:4326")
        >>> t.shape, t.bounds
        ((3, 4), (10.0, 48.5, 12.0, 50.0))
        """
        if not isinstance(crs, rasterio.crs.CRS):
            crs = rasterio.crs.CRS.from_user_input(crs)
        return cls(
            elevation_m=elevation_m,
            transform=transform,
            crs=crs,
            source_paths=(),
            void_cells_filled=0,
            void_policy="array",
            notes=tuple(notes),
        )

    # ---- grid geometry -------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(rows, cols)``."""
        return self.elevation_m.shape  # type: ignore[return-value]

    def xy_to_pixel(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Terrain-CRS coordinates to fractional, centre-based ``(row, col)``.

        Integer values are cell centres: ``(0.0, 0.0)`` is the centre of the north-west cell,
        ``(-0.5, -0.5)`` its outer corner. Values within 1e-8 cell of an integer are snapped
        to it.
        """
        x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        t = self.transform
        col = (x - t.c) / t.a - 0.5
        row = (y - t.f) / t.e - 0.5
        return _snap(row), _snap(col)

    # ---- sampling ------------------------------------------------------------------------

    def _pixel_of(self, lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y = self.lonlat_to_xy(lon_deg, lat_deg)
        row, col = self.xy_to_pixel(x, y)
        rows, cols = self.shape
        with np.errstate(invalid="ignore"):
            inside = (row >= 0.0) & (row <= rows - 1) & (col >= 0.0) & (col <= cols - 1)
        return row, col, inside

    def contains(self, lat_deg, lon_deg):
        """Whether bilinear sampling is defined at each point.

        True inside the area spanned by the cell centres (for DTED/SRTM: the posts), i.e. half
        a cell inside :attr:`bounds`. NaN coordinates are outside.

        Parameters
        ----------
        lat_deg, lon_deg : array_like
            WGS84 latitude and longitude; broadcast together. [deg]

        Returns
        -------
        numpy.ndarray of bool or numpy.bool_
            Broadcast shape; a scalar for scalar input.
        """
        row, col, inside = self._pixel_of(lat_deg, lon_deg)
        if self.outside_terrain == "sea":
            inside = np.isfinite(row) & np.isfinite(col)
        return inside[()]

    def sample_m(self, lat_deg, lon_deg, *, outside: Literal["raise", "nan"] = "raise"):
        """Terrain elevation at points, bilinear between the four surrounding cell centres.

        Parameters
        ----------
        lat_deg, lon_deg : array_like
            WGS84 latitude and longitude; broadcast together. [deg]
        outside : {"raise", "nan"}
            Points where sampling is undefined (see :meth:`contains`): raise
            :class:`~simulator.errors.OutsideTerrainError` naming them and the terrain bounds,
            or return NaN there.

        Returns
        -------
        numpy.ndarray of float64 or numpy.float64
            Elevation above mean sea level, broadcast shape; a scalar for scalar input. [m]

        Notes
        -----
        With ``(r, c)`` the centre-based pixel position, ``r0 = floor(r)``, ``fr = r - r0``
        (likewise for columns), the value is
        ``(1-fr)·((1-fc)·z[r0,c0] + fc·z[r0,c0+1]) + fr·((1-fc)·z[r0+1,c0] + fc·z[r0+1,c0+1])``.
        At a cell centre it is exactly ``elevation_m[r, c]``. Interpolation is in the terrain
        CRS's pixel space, as GDAL's bilinear resampling.
        """
        if outside not in _OUTSIDE_CHOICES:
            raise ValueError(f"outside must be one of {', '.join(repr(o) for o in _OUTSIDE_CHOICES)}, got {outside!r}")
        lat_deg, lon_deg = np.broadcast_arrays(np.asarray(lat_deg, dtype=float), np.asarray(lon_deg, dtype=float))
        row, col, inside = self._pixel_of(lat_deg, lon_deg)
        if self.outside_terrain == "sea":
            return self.sample_pixels(row, col)[()]
        if outside == "raise" and not inside.all():
            raise OutsideTerrainError(self._outside_message(lat_deg[~inside], lon_deg[~inside]))
        # NaN outside (bilinear between the four surrounding posts inside)
        return self.sample_pixels(row, col)[()]

    def _outside_message(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> str:
        n = lat_deg.size
        shown = ", ".join(_format_lat_lon(a, o) for a, o in zip(lat_deg[:5], lon_deg[:5], strict=True))
        more = f" and {n - 5} more" if n > 5 else ""
        west, south, east, north = self.bounds_deg
        what = "point" if n == 1 else f"{n} points"
        return (
            f"{what} outside the terrain {_sources_label(self.source_paths)}: {shown}{more}; "
            f"terrain bounds_deg (west, south, east, north) = ({west:.5f}, {south:.5f}, {east:.5f}, {north:.5f}) "
            "[deg]; elevation is defined between the outermost cell centres, half a cell inside those bounds"
        )

    # ---- the DEM-source interface (shared with simulator.dem.DemSource) -----------------

    @property
    def identity(self) -> str:
        """Identity for grid comparisons: the content hash (and what lies beyond the grid)."""
        return self.content_hash if self.outside_terrain == "error" else f"{self.content_hash}|{self.outside_terrain}"

    def covers_pixels(self, r0: int, r1: int, c0: int, c1: int) -> bool:
        rows, cols = self.shape
        return r0 >= 0 and c0 >= 0 and r1 <= rows and c1 <= cols

    def read_pixels(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Elevation of rows ``r0:r1``, columns ``c0:c1`` (a view when inside the grid; 0 m
        beyond it with ``outside_terrain="sea"``, else OutsideTerrainError). [m]"""
        rows, cols = self.shape
        if self.covers_pixels(r0, r1, c0, c1):
            return self.elevation_m[r0:r1, c0:c1]
        if self.outside_terrain != "sea":
            raise OutsideTerrainError(
                f"window rows {r0}:{r1}, cols {c0}:{c1} reaches past the terrain {_sources_label(self.source_paths)} "
                f"({rows} × {cols} cells); add terrain there or set outside_terrain: sea")
        out = np.zeros((r1 - r0, c1 - c0), dtype=self.elevation_m.dtype)
        ir0, ir1, ic0, ic1 = max(r0, 0), min(r1, rows), max(c0, 0), min(c1, cols)
        if ir1 > ir0 and ic1 > ic0:
            out[ir0 - r0: ir1 - r0, ic0 - c0: ic1 - c0] = self.elevation_m[ir0:ir1, ic0:ic1]
        return out

    def sample_pixels(self, row, col) -> np.ndarray:
        """Bilinear elevation at fractional centre-based pixels (float64; NaN outside the grid,
        0 m there with ``outside_terrain="sea"``). [m]"""
        row = np.asarray(row, dtype=np.float64)
        col = np.asarray(col, dtype=np.float64)
        rows, cols = self.shape
        with np.errstate(invalid="ignore"):
            inside = (row >= 0.0) & (row <= rows - 1) & (col >= 0.0) & (col <= cols - 1)
        rr = np.where(inside, row, 0.0)
        cc = np.where(inside, col, 0.0)
        r0 = np.clip(np.floor(rr), 0, max(rows - 2, 0)).astype(np.intp)
        c0 = np.clip(np.floor(cc), 0, max(cols - 2, 0)).astype(np.intp)
        r1 = np.minimum(r0 + 1, rows - 1)
        c1 = np.minimum(c0 + 1, cols - 1)
        fr = rr - r0
        fc = cc - c0
        z = self.elevation_m
        value = (z[r0, c0] * (1.0 - fc) + z[r0, c1] * fc) * (1.0 - fr) + (z[r1, c0] * (1.0 - fc) + z[r1, c1] * fc) * fr
        outside = 0.0 if self.outside_terrain == "sea" else np.nan
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(row) & np.isfinite(col)
        return np.where(inside, value, np.where(finite, outside, np.nan)).astype(np.float64, copy=False)

    # ---- sub-grids -----------------------------------------------------------------------

    def window(
        self,
        west: float,
        south: float,
        east: float,
        north: float,
        *,
        crs: Literal["deg", "native"] = "deg",
    ) -> Terrain:
        """A sub-grid (whole cells, same CRS) covering a box.

        The sub-grid holds every cell whose centre lies in the box plus the next centre
        outwards on each side (clipped to the terrain), so wherever this terrain can be sampled
        inside the box, the window samples the same values.

        Parameters
        ----------
        west, south, east, north : float
            The box. [deg (WGS84) for ``crs="deg"``; CRS units for ``crs="native"``]
        crs : {"deg", "native"}
            Frame of the box. A degree box on a projected terrain is transformed with densified
            edges, so the window covers all of it.

        Returns
        -------
        Terrain
            Sharing ``crs``, ``source_paths`` and ``void_policy``; ``void_cells_filled``
            counts the filled cells inside the window.

        Raises
        ------
        OutsideTerrainError
            The box does not overlap the terrain footprint.
        ValueError
            ``west >= east`` or ``south >= north``, or an unknown ``crs``.
        """
        if crs not in _WINDOW_CRS_CHOICES:
            raise ValueError(f"crs must be one of {', '.join(repr(c) for c in _WINDOW_CRS_CHOICES)}, got {crs!r}")
        if not (west < east and south < north):
            raise ValueError(
                f"window box must satisfy west < east and south < north, got ({west}, {south}, {east}, {north})"
            )
        box_native = (west, south, east, north)
        if crs == "deg" and not self._is_wgs84:
            box = self._to_native.transform_bounds(*box_native, densify_pts=_DENSIFY_POINTS)
            box_native = tuple(float(v) for v in box)
        elif crs == "deg" and self.is_geographic:
            x, _ = self.lonlat_to_xy(np.array([west, east]), np.array([south, north]))
            if x[0] < x[1]:
                box_native = (float(x[0]), south, float(x[1]), north)
        bw, bs, be, bn = box_native
        tw, ts, te, tn = self.bounds
        if not (bw < te and be > tw and bs < tn and bn > ts):
            unit = "deg" if crs == "deg" else "CRS units"
            dw, ds, de, dn = self.bounds_deg
            raise OutsideTerrainError(
                f"window ({west}, {south}, {east}, {north}) [{unit}] does not overlap the terrain "
                f"{_sources_label(self.source_paths)}; terrain bounds_deg (west, south, east, north) = "
                f"({dw:.5f}, {ds:.5f}, {de:.5f}, {dn:.5f}), "
                f"bounds = ({tw:.6g}, {ts:.6g}, {te:.6g}, {tn:.6g}) [CRS units]"
            )
        rows, cols = self.shape
        row_n, col_w = self.xy_to_pixel(bw, bn)
        row_s, col_e = self.xy_to_pixel(be, bs)
        r0 = int(np.clip(np.floor(row_n), 0, rows - 1))
        r1 = int(np.clip(np.ceil(row_s), 0, rows - 1))
        c0 = int(np.clip(np.floor(col_w), 0, cols - 1))
        c1 = int(np.clip(np.ceil(col_e), 0, cols - 1))
        elevation_m = self.elevation_m[r0 : r1 + 1, c0 : c1 + 1]
        void_filled = None if self.void_filled is None else self.void_filled[r0 : r1 + 1, c0 : c1 + 1]
        return Terrain(
            elevation_m=elevation_m,
            transform=self.transform @ Affine.translation(c0, r0),
            crs=self.crs,
            source_paths=self.source_paths,
            void_cells_filled=0 if void_filled is None else int(void_filled.sum()),
            void_policy=self.void_policy,
            void_filled=void_filled,
            notes=self.notes,
        )

    # ---- display -------------------------------------------------------------------------

    def describe(self) -> str:
        """One line: sources, CRS, shape, cell size in metres, footprint, voids filled.

        Examples
        --------
        >>> from affine import Affine
        >>> Terrain.from_array(np.zeros((2, 2)), Affine(1000, 0, 500000, 0, -1000, 5e6), 32655).describe()
        '<array>: EPSG:32655 (projected), 2 × 2 cells of 1000 × 1000 m (≈ 1000 × 1000 m on the ground), footprint 147.00000°E–147.02544°E 45.13547°N–45.15348°N, no voids'
        """
        rows, cols = self.shape
        x_res, y_res = self.resolution
        dx_m, dy_m = self.resolution_m
        if self.is_geographic:
            cell = f"{x_res * 3600:.4g}″ × {y_res * 3600:.4g}″"
        else:
            cell = f"{x_res:.4g} × {y_res:.4g} {self._linear_unit}"
        west, south, east, north = self.bounds_deg
        kind = "geographic" if self.is_geographic else "projected"
        if self.void_policy in VOID_POLICIES:
            voids = f"{self.void_cells_filled} void cells filled (void_policy={self.void_policy!r})"
        else:
            voids = "no voids"
        text = (
            f"{_sources_label(self.source_paths)}: {_crs_label(self.crs)} ({kind}), {rows} × {cols} cells of {cell} "
            f"(≈ {dx_m:.0f} × {dy_m:.0f} m on the ground), footprint {_format_lon(west)}–{_format_lon(east)} "
            f"{_format_lat(south)}–{_format_lat(north)}, {voids}"
        )
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text

    @cached_property
    def _linear_unit(self) -> str:
        try:
            name = self._pyproj_crs.axis_info[0].unit_name
        except (IndexError, AttributeError):
            return "units"
        return {"metre": "m", "meter": "m"}.get(name, name)

    def __repr__(self) -> str:
        rows, cols = self.shape
        west, south, east, north = self.bounds_deg
        return (
            f"Terrain({_sources_label(self.source_paths)}, {_crs_label(self.crs)}, {rows}×{cols} cells, "
            f"{_format_lon(west)}–{_format_lon(east)} {_format_lat(south)}–{_format_lat(north)}, "
            f"sha256 {self.content_hash[:12]})"
        )


# --------------------------------------------------------------------------------------------
# Opening rasters
# --------------------------------------------------------------------------------------------

_cache: OrderedDict[tuple, Terrain] = OrderedDict()
_cache_lock = threading.Lock()


def open_terrain(paths, *, void_policy: str = "fill") -> Terrain:
    """Read terrain from one raster, a folder of rasters, or a list of files and folders.

    Several rasters are mosaicked into one grid (``rasterio.merge``, first raster wins on
    shared edges, nearest-neighbour so same-grid tiles are copied exactly).

    Parameters
    ----------
    paths : str, os.PathLike, or iterable of them
        A raster file (GeoTIFF, DTED, SRTM ``.hgt``, ERDAS ``.img``, VRT; see
        :mod:`simulator.terrain_safety`), a folder
        (every file with a suffix in :data:`RASTER_SUFFIXES`, searched recursively, in sorted
        path order), or a list of files and folders. A folder holding both tiles and a VRT of
        them reads the tiles twice (harmless, but slower): name the VRT alone instead.
    void_policy : {"fill", "sea", "error"}
        How voids (nodata, DTED -32767, SRTM -32768, NaN, a mosaic's uncovered area) are
        resolved; see the module docstring.

    Returns
    -------
    Terrain
        Cached: the same object is returned while the files (paths, modification times,
        sizes) and the policy are unchanged. Files referenced by a VRT are not tracked.

    Raises
    ------
    TerrainError
        A path is missing, a folder holds no raster, a raster is unreadable (GDAL's message),
        has no CRS or geotransform, is rotated, states non-metre units, the mosaic's rasters
        have different CRSs, a void cannot be resolved by the policy, or the policy is unknown.

    Notes
    -----
    Mixed resolutions are mosaicked on the finest one (bilinear resampling of the coarser
    rasters); :meth:`Terrain.describe` says so.
    """
    if void_policy not in VOID_POLICIES:
        raise TerrainError(
            f"void_policy must be one of {', '.join(repr(p) for p in VOID_POLICIES)}, got {void_policy!r}: "
            "'fill' interpolates voids from neighbours, 'sea' sets them to 0 m, 'error' refuses them"
        )
    files = _expand_paths(paths)
    key_files = []
    for path in files:
        try:
            st = path.stat()
        except OSError as exc:
            raise TerrainError(f"terrain file {path} cannot be read: {exc.strerror or exc}") from exc
        key_files.append((str(path), st.st_mtime_ns, st.st_size))
    key = (tuple(key_files), void_policy)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    terrain = _read_terrain(files, void_policy)
    with _cache_lock:
        _cache[key] = terrain
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_MAX_ENTRIES:
            _cache.popitem(last=False)
    return terrain


def clear_terrain_cache() -> None:
    """Forget every terrain :func:`open_terrain` has cached in this process."""
    with _cache_lock:
        _cache.clear()


def _expand_paths(paths) -> tuple[Path, ...]:
    if isinstance(paths, (str, os.PathLike)):
        items = [paths]
    else:
        try:
            items = list(paths)
        except TypeError:
            raise TerrainError(
                f"terrain paths must be a path or a list of paths, got {type(paths).__name__}: {paths!r}"
            ) from None
    if not items:
        raise TerrainError("no terrain path given: expected a raster file, a folder of rasters, or a list of them")
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if not path.is_dir():
            files.append(check_terrain_file(item))  # local regular raster files only (terrain_safety)
            continue
        if not path.exists():
            raise TerrainError(f"terrain path {path} does not exist (expected a raster file or a folder of rasters)")
        path = path.resolve()
        if path.is_dir():
            found = sorted(
                p.resolve() for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
            )
            if not found:
                raise TerrainError(
                    f"terrain folder {path} holds no raster file "
                    f"(searched recursively for {', '.join(RASTER_SUFFIXES)})"
                )
            files.extend(found)
        else:
            files.append(path)
    return tuple(dict.fromkeys(files))  # drop repeats, keep order


def _read_terrain(files: tuple[Path, ...], void_policy: str) -> Terrain:
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        datasets = [stack.enter_context(_open_dataset(path)) for path in files]
        if len(datasets) == 1:
            elevation_m, void, transform, crs = _read_single(datasets[0], notes)
        else:
            elevation_m, void, transform, crs = _read_mosaic(datasets, notes)
    where = _sources_label(files)
    n_void = int(void.sum())
    if n_void:
        elevation_m = _resolve_voids(elevation_m, void, transform, crs, void_policy, where, mosaic=len(files) > 1)
    # the grid is ours alone: freezing it spares Terrain a defensive copy
    elevation_m = np.ascontiguousarray(elevation_m, dtype=np.float32)
    elevation_m.flags.writeable = False
    return Terrain(
        elevation_m=elevation_m,
        transform=transform,
        crs=crs,
        source_paths=files,
        void_cells_filled=n_void,
        void_policy=void_policy,
        void_filled=void if n_void else None,
        notes=tuple(notes),
    )


@contextlib.contextmanager
def _open_dataset(path: Path):
    """Open a raster read-only and check it is usable terrain; TerrainError otherwise.

    The path is checked first (:func:`simulator.terrain_safety.check_terrain_file`: a local
    regular raster file, VRT sources included) and GDAL runs with network access off for as
    long as the dataset is open (a VRT opens its sources when they are read)."""
    check_terrain_file(path)
    env = rasterio.Env(**GDAL_NO_NETWORK)
    env.__enter__()
    try:
        # rasterio warns (NotGeoreferencedWarning) while opening a raster without a
        # geotransform; that case is reported below as a TerrainError instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(path)
            transform = ds.transform
    except rasterio.errors.RasterioError as exc:
        env.__exit__(None, None, None)
        raise TerrainError(f"terrain file {path} cannot be read by GDAL: {exc}") from exc
    except BaseException:
        env.__exit__(None, None, None)
        raise
    try:
        if ds.count < 1:
            raise TerrainError(f"terrain file {path} has no raster band (expected band 1 = elevation [m])")
        if ds.crs is None or not ds.crs.to_wkt():
            hint = " (it is georeferenced by GCPs only; warp it first, e.g. gdalwarp)" if ds.gcps[0] else ""
            raise TerrainError(
                f"terrain file {path} has no CRS{hint}; expected a georeferenced raster "
                "(geographic, e.g. EPSG:4326, or projected, e.g. UTM)"
            )
        if transform.is_identity:
            raise TerrainError(
                f"terrain file {path} has no geotransform (GDAL reports the identity); expected a georeferenced raster"
            )
        if transform.b != 0.0 or transform.d != 0.0:
            raise TerrainError(
                f"terrain file {path} has a rotated geotransform {tuple(transform)[:6]}; "
                "expected north-up cells (warp it first, e.g. gdalwarp)"
            )
        if ds.crs.is_geographic:
            _check_longitudes(path, ds.bounds, abs(transform.a))
        units = (ds.units[0] or "").strip().lower()
        if units not in _METRE_UNITS:
            raise TerrainError(
                f"terrain file {path} band 1 is in {ds.units[0]!r}; expected metres above mean sea level "
                "(convert it first, e.g. gdal_calc)"
            )
        yield ds
    finally:
        ds.close()
        env.__exit__(None, None, None)


def _check_longitudes(path, bounds, cell_deg: float) -> None:
    """Refuse a geographic raster whose longitudes run past ±180° (across the antimeridian):
    sites, rays and cells are placed with longitudes in [-180, 180], so half of such a DEM
    would silently read as beyond range. A point-registered tile may overhang by a cell."""
    west, east = bounds.left, bounds.right
    if west < -180.0 - cell_deg - 1e-9 or east > 180.0 + cell_deg + 1e-9:
        raise TerrainError(
            f"terrain file {path} spans longitudes {west:.4f} to {east:.4f}°, across the antimeridian (±180°); "
            "adcov places everything in [-180, 180]° and does not support terrain across it yet: "
            "use a projected CRS that covers the area (e.g. gdalwarp -t_srs EPSG:3832, or a UTM zone)"
        )


def _void_cells(values: np.ndarray, masked: np.ndarray | None) -> np.ndarray:
    void = ~np.isfinite(values)
    for void_value in VOID_VALUES_M:
        void |= values == void_value
    if masked is not None:
        void |= masked
    return void


def _scale_offset(ds) -> tuple[float, float]:
    return (float(ds.scales[0]), float(ds.offsets[0]))


def _read_single(ds, notes: list[str]):
    try:
        # direct I/O skips GDAL's block cache for uncompressed GeoTIFF (3x faster on big
        # grids); other formats ignore the option
        with rasterio.Env(GTIFF_DIRECT_IO="YES"):
            values = ds.read(1, out_dtype="float32")
        # the GDAL mask (nodata, mask band, alpha) only when the band has one: reading it
        # costs a second pass over the file
        masked = None if MaskFlags.all_valid in ds.mask_flag_enums[0] else ds.read_masks(1) == 0
    except rasterio.errors.RasterioError as exc:
        raise TerrainError(f"terrain file {ds.name} cannot be read by GDAL: {exc}") from exc
    void = _void_cells(values, masked)
    scale, offset = _scale_offset(ds)
    if (scale, offset) != (1.0, 0.0):
        values = (values * np.float32(scale) + np.float32(offset)).astype(np.float32)
        notes.append(f"band scale {scale:g} and offset {offset:g} applied")
    transform = ds.transform
    if transform.e > 0:  # south-up: flip to north-up
        values, void = values[::-1], void[::-1]
        transform = transform @ Affine.translation(0, ds.height) @ Affine.scale(1, -1)
        notes.append("south-up raster flipped to north-up")
    return np.ascontiguousarray(values), np.ascontiguousarray(void), transform, ds.crs


def _read_mosaic(datasets, notes: list[str]):
    crs = datasets[0].crs
    if any(ds.crs != crs for ds in datasets[1:]):
        listing = "; ".join(f"{Path(ds.name).name}: {_crs_label(ds.crs)}" for ds in datasets)
        raise TerrainError(
            f"terrain rasters must share one CRS to be mosaicked, got {listing} "
            f"(under {_common_folder([Path(ds.name) for ds in datasets])}); reproject them to one CRS first"
        )
    for ds in datasets:
        if ds.transform.e > 0:
            raise TerrainError(
                f"terrain file {ds.name} is south-up (positive row step); a mosaic needs north-up rasters "
                "(open it alone, or warp it first)"
            )
    scales = {_scale_offset(ds) for ds in datasets}
    if len(scales) > 1:
        raise TerrainError(
            "terrain rasters of a mosaic must share band scale and offset, got "
            + "; ".join(
                f"{Path(ds.name).name}: scale {s:g} offset {o:g}" for ds in datasets for s, o in [_scale_offset(ds)]
            )
        )
    resolutions = sorted({(abs(ds.transform.a), abs(ds.transform.e)) for ds in datasets})
    finest = (min(r[0] for r in resolutions), min(r[1] for r in resolutions))
    mixed = any(
        not (math.isclose(x_res, finest[0], rel_tol=1e-9) and math.isclose(y_res, finest[1], rel_tol=1e-9))
        for x_res, y_res in resolutions
    )
    resampling = Resampling.bilinear if mixed else Resampling.nearest
    if mixed:
        shown = ", ".join(f"{x:.6g}×{y:.6g}" for x, y in resolutions)
        notes.append(
            f"mosaic of mixed resolutions ({shown} CRS units): resampled bilinearly to the finest, "
            f"{finest[0]:.6g}×{finest[1]:.6g}"
        )
    try:
        # rasterio 1.4's merge multiplies Affines with `*`, which affine >= 3.0 flags with a
        # PendingDeprecationWarning; that is rasterio's business, not a problem with the data.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
            merged, transform = rasterio.merge.merge(
                datasets,
                indexes=[1],
                res=finest,
                nodata=_MERGE_NODATA,
                dtype="float32",
                resampling=resampling,
                method="first",
                masked=True,
            )
    except rasterio.errors.RasterioError as exc:
        folder = _common_folder([Path(ds.name) for ds in datasets])
        raise TerrainError(f"terrain rasters under {folder} cannot be mosaicked: {exc}") from exc
    values = np.ascontiguousarray(np.ma.getdata(merged)[0], dtype=np.float32)
    void = _void_cells(values, np.ma.getmaskarray(merged)[0])
    scale, offset = scales.pop()
    if (scale, offset) != (1.0, 0.0):
        values = (values * np.float32(scale) + np.float32(offset)).astype(np.float32)
        notes.append(f"band scale {scale:g} and offset {offset:g} applied")
    return values, void, transform, crs


def _resolve_voids(elevation_m, void, transform, crs, void_policy, where, *, mosaic):
    n_void = int(void.sum())
    origin = "nodata/void cells" + (" (including area no raster of the mosaic covers)" if mosaic else "")
    if void_policy == "error":
        raise TerrainError(
            f"terrain {where} has {n_void} {origin}, first at {_first_cell_label(void, transform, crs)}; "
            "void_policy='error' refuses them (use 'fill' to interpolate from neighbours or 'sea' for 0 m)"
        )
    values = elevation_m.copy()
    if void_policy == "sea":
        values[void] = 0.0
        return values
    # "fill"
    if void.all():
        raise TerrainError(f"terrain {where} holds no valid cell: all {n_void} cells are voids")
    values[void] = np.nan
    filled = rasterio.fill.fillnodata(
        values, mask=(~void).astype(np.uint8), max_search_distance=FILL_MAX_SEARCH_CELLS, smoothing_iterations=0
    )
    filled = np.asarray(filled, dtype=np.float32)
    left = void & ~np.isfinite(filled)
    if left.any():
        raise TerrainError(
            f"terrain {where}: {int(left.sum())} of its {n_void} {origin} are more than "
            f"{FILL_MAX_SEARCH_CELLS:g} cells from any valid cell, first at {_first_cell_label(left, transform, crs)}; "
            "void_policy='fill' cannot reach them (use 'sea' if the gaps are sea, e.g. DTED/SRTM tiles that do not "
            "exist because they hold no land)"
        )
    return np.ascontiguousarray(filled)


#: Larger rasters are written uncompressed: deflating 16 M float32 cells takes ~0.8 s (of
#: a 1 s viewshed) and saves ~20 % on floors and elevations.
UNCOMPRESSED_ABOVE_CELLS = 4_000_000


def write_geotiff(
    path,
    array: np.ndarray,
    transform: Affine,
    crs,
    *,
    nodata: float | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a single-band GeoTIFF atomically (temporary file in the same folder, then rename).

    The one raster writer of adcov, so rasters stay in this module. A crash or Ctrl-C leaves
    either the previous file or the complete new one, never half a file. GDAL encodes the file
    in memory (``/vsimem``) and it is read back and compared with ``array`` (NaN-aware); Python
    then writes the bytes to a ``.adcov-tmp-*`` sibling, reads them back and renames it into
    place. So a full disk or any other failed write raises (with the OS message) and leaves the
    previous file: GDAL itself only reports write errors on stderr and closes a truncated file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.tif``; its folder must exist.
    array : numpy.ndarray
        2-D grid, row 0 north; written with its dtype, tiled when large, deflate-compressed
        up to :data:`UNCOMPRESSED_ABOVE_CELLS` cells (beyond, compression costs seconds and
        saves little on elevation-like data; uncompressed GeoTIFF is the most portable).
    transform : affine.Affine
        Cell-corner transform of ``array`` (e.g. a :class:`Terrain`'s).
    crs : rasterio.crs.CRS, str or int
        CRS of ``transform``.
    nodata : float, optional
        Value marking cells without data (NaN allowed for float arrays).
    tags : dict of str, optional
        Dataset metadata (e.g. units, provenance).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    TerrainError
        The array is not 2-D, or the file cannot be written (GDAL's or the OS message is
        included); ``path`` then keeps its previous content and no temporary file is left.
    """
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise TerrainError(f"cannot write GeoTIFF {str(path)!r}: expected a file name")
    array = np.asarray(array)
    if array.ndim != 2:
        raise TerrainError(f"cannot write {path}: expected a 2-D grid (rows, cols), got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if not isinstance(crs, rasterio.crs.CRS):
        crs = rasterio.crs.CRS.from_user_input(crs)
    rows, cols = array.shape
    profile = dict(
        driver="GTiff", width=cols, height=rows, count=1, dtype=array.dtype.name, crs=crs,
        transform=transform, BIGTIFF="IF_SAFER",
    )
    if array.size <= UNCOMPRESSED_ABOVE_CELLS:
        profile.update(compress="deflate", num_threads="ALL_CPUS")  # readable by every GIS
    if rows >= 256 and cols >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if nodata is not None:
        profile["nodata"] = nodata
    from rasterio.io import MemoryFile
    from rasterio.windows import Window

    from simulator.fileio import shown_path, write_bytes_atomically

    try:
        with MemoryFile(ext=".tif") as memory:
            with memory.open(**profile) as ds:
                ds.write(array, 1)
                if tags:
                    ds.update_tags(**tags)
            # read back in bands of whole 256-row tiles (~16 MB): a second copy of a large grid is not needed
            band_rows = max(256, (1 << 24) // max(cols * array.itemsize, 1) // 256 * 256)
            with memory.open() as ds:
                same = ds.shape == array.shape and ds.dtypes[0] == array.dtype.name
                for row in range(0, rows, band_rows) if same else ():
                    written = ds.read(1, window=Window(0, row, cols, min(band_rows, rows - row)))
                    expected = np.ascontiguousarray(array[row:row + band_rows])
                    if not (np.array_equal(written.reshape(-1).view(np.uint8), expected.reshape(-1).view(np.uint8))  # bit for bit
                            or np.array_equal(written, expected, equal_nan=expected.dtype.kind in "fc")):  # e.g. byte order
                        same = False
                        break
            if not same:
                raise TerrainError(f"cannot write GeoTIFF {shown_path(path)}: GDAL's encoding does not read back as the grid written")
            write_bytes_atomically(path, memoryview(memory.getbuffer()), verify=True)
    except rasterio.errors.RasterioError as exc:
        raise TerrainError(f"cannot write GeoTIFF {shown_path(path)}: {exc}") from exc
    except TerrainError:
        raise
    except OSError as exc:
        raise TerrainError(f"cannot write GeoTIFF {shown_path(path)}: {exc.strerror or exc}") from exc
    return path


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _snap(value: np.ndarray) -> np.ndarray:
    nearest = np.round(value)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(value - nearest) <= _SNAP_CELLS, nearest, value)


def _content_hash(elevation_m: np.ndarray, transform: Affine, crs: rasterio.crs.CRS) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(elevation_m, dtype="<f4").data)
    digest.update(repr(tuple(int(n) for n in elevation_m.shape)).encode())
    digest.update(repr(tuple(float(v) for v in tuple(transform)[:6])).encode())
    digest.update(crs.to_wkt().encode())
    return digest.hexdigest()


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

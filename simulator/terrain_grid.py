"""The in-memory terrain model: :class:`Terrain`, an immutable elevation grid with its georeferencing.

:func:`simulator.terrain.open_terrain` builds one from files, :meth:`Terrain.from_array` from
an array; the conventions (cell-corner transform, centre-based fractional pixels, bilinear
sampling between cell centres) are those of :mod:`simulator.terrain`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio.crs
from affine import Affine

from simulator.errors import OutsideTerrainError, TerrainError
from simulator.georeference import (
    _DENSIFY_POINTS,
    GridGeoreference,
    _crs_label,
    _format_lat,
    _format_lat_lon,
    _format_lon,
    _sources_label,
)
from simulator.terrain_voids import VOID_POLICIES, VOID_VALUES_M

# Fractional pixel coordinates this close to an integer are snapped to it, so a query at an
# exact post (DTED 44.350°N 146.250°E) returns the stored value exactly and a query on the
# outermost posts is inside. 1e-8 of a 30 m cell is 0.3 µm. [cells]
_SNAP_CELLS = 1e-8
_OUTSIDE_CHOICES = ("raise", "nan")
_WINDOW_CRS_CHOICES = ("deg", "native")


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
        elevation_m, transform, crs, void_filled = _checked_grid(self.elevation_m, self.transform, self.crs, self.void_filled)
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
        r0, r1, c0, c1 = _window_cells(self, west, south, east, north, crs)
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


def _checked_grid(elevation_m, transform, crs, void_filled):
    """Validate and freeze a :class:`Terrain`'s grid fields: ``(elevation_m, transform, crs, void_filled)``
    as the instance holds them (read-only C-contiguous float32; north-up Affine; rasterio CRS;
    read-only bool grid or None when nothing was filled); TerrainError otherwise."""
    elevation_m = np.asarray(elevation_m)
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
    transform = Affine(*tuple(transform)[:6])
    if transform.b != 0.0 or transform.d != 0.0 or not transform.a > 0.0 or not transform.e < 0.0:
        raise TerrainError(
            "terrain transform must be north-up without rotation (a > 0, b = d = 0, e < 0), "
            f"got {tuple(transform)[:6]}"
        )
    if crs is None:
        raise TerrainError("terrain needs a CRS, got None")
    crs = crs if isinstance(crs, rasterio.crs.CRS) else rasterio.crs.CRS.from_user_input(crs)
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
    return elevation_m, transform, crs, void_filled


def _window_cells(terrain: Terrain, west: float, south: float, east: float, north: float, crs: str) -> tuple[int, int, int, int]:
    """The first and last row and column ``(r0, r1, c0, c1)`` of :meth:`Terrain.window` (inclusive):
    the box checked, brought into the terrain CRS and checked against the terrain."""
    if crs not in _WINDOW_CRS_CHOICES:
        raise ValueError(f"crs must be one of {', '.join(repr(c) for c in _WINDOW_CRS_CHOICES)}, got {crs!r}")
    if not (west < east and south < north):
        raise ValueError(
            f"window box must satisfy west < east and south < north, got ({west}, {south}, {east}, {north})"
        )
    box_native = (west, south, east, north)
    if crs == "deg" and not terrain._is_wgs84:
        box = terrain._to_native.transform_bounds(*box_native, densify_pts=_DENSIFY_POINTS)
        box_native = tuple(float(v) for v in box)
    elif crs == "deg" and terrain.is_geographic:
        x, _ = terrain.lonlat_to_xy(np.array([west, east]), np.array([south, north]))
        if x[0] < x[1]:
            box_native = (float(x[0]), south, float(x[1]), north)
    bw, bs, be, bn = box_native
    tw, ts, te, tn = terrain.bounds
    if not (bw < te and be > tw and bs < tn and bn > ts):
        unit = "deg" if crs == "deg" else "CRS units"
        dw, ds, de, dn = terrain.bounds_deg
        raise OutsideTerrainError(
            f"window ({west}, {south}, {east}, {north}) [{unit}] does not overlap the terrain "
            f"{_sources_label(terrain.source_paths)}; terrain bounds_deg (west, south, east, north) = "
            f"({dw:.5f}, {ds:.5f}, {de:.5f}, {dn:.5f}), "
            f"bounds = ({tw:.6g}, {ts:.6g}, {te:.6g}, {tn:.6g}) [CRS units]"
        )
    rows, cols = terrain.shape
    row_n, col_w = terrain.xy_to_pixel(bw, bn)
    row_s, col_e = terrain.xy_to_pixel(be, bs)
    r0 = int(np.clip(np.floor(row_n), 0, rows - 1))
    r1 = int(np.clip(np.ceil(row_s), 0, rows - 1))
    c0 = int(np.clip(np.floor(col_w), 0, cols - 1))
    c1 = int(np.clip(np.ceil(col_e), 0, cols - 1))
    return r0, r1, c0, c1


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

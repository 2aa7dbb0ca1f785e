"""Geodesy and the analysis grid: geodesic frames around a site, cell areas, projections.

Distances and azimuths from a site are geodesic on the WGS84 ellipsoid: every point is
mapped into the site's azimuthal equidistant (AEQD) frame, in which the distance from the
origin and the azimuth are the geodesic ones (PROJ implements the ellipsoidal AEQD with
Karney's geodesic algorithms [1]_). Cell areas are geodesic too: exact ellipsoidal band
areas for geographic grids, projected cell area divided by the projection's areal scale
factor for projected grids [2]_ -- never square degrees.

References
----------
.. [1] Karney, C. F. F., "Algorithms for geodesics", J. Geodesy 87, 43-55 (2013).
.. [2] Snyder, J. P., *Map Projections -- A Working Manual*, USGS Prof. Paper 1395 (1987),
       section 4 (scale factors; areal scale = h * k).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyproj
import pyproj.enums
from affine import Affine

from simulator.constants import DEFAULT_K_FACTOR, EARTH_MEAN_RADIUS_M  # noqa: F401 - re-exported; their home is simulator.constants
from simulator.errors import OutsideTerrainError

#: Physical bounds of the effective earth radius factor: below 0.1 the effective earth is a
#: ball of 640 km (and ``s**2 / 2kR`` overflows towards k = 0); above 100 it is flat to
#: within a metre at 100 km (strong ducting is modelled no better by a larger k).
K_FACTOR_MIN = 0.1
K_FACTOR_MAX = 100.0

WGS84_GEOD = pyproj.Geod(ellps="WGS84")


def effective_radius_m(k_factor: float, earth_radius_m: float = EARTH_MEAN_RADIUS_M) -> float:
    """Effective earth radius ``R_eff = k R`` of the 4/3-earth refraction model. [m]

    Skolnik, *Introduction to Radar Systems*, 3rd ed., 2001, ch. 8 (standard refraction, 4/3 earth).
    """
    return k_factor * earth_radius_m


def _pyproj_crs(crs) -> pyproj.CRS:
    if isinstance(crs, pyproj.CRS):
        return crs
    return pyproj.CRS.from_wkt(crs.to_wkt())


def aeqd_crs(lat_deg: float, lon_deg: float) -> pyproj.CRS:
    """Azimuthal equidistant CRS centred on a site (WGS84 ellipsoid, metres)."""
    return pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat_deg:.10f} +lon_0={lon_deg:.10f} +datum=WGS84 +units=m +no_defs"
    )


@dataclass(frozen=True, eq=False)
class AnalysisGrid:
    """The cells on which coverage is computed: blocks of ``factor x factor`` DEM cells.

    Analysis cell ``(i, j)`` covers DEM cells ``row_off + i*factor ...`` and
    ``col_off + j*factor ...`` (the grid is aligned with the DEM's lattice and may reach past
    it where the DEM source takes the outside as sea); its value is the terrain at its centre
    (a DEM post for odd ``factor``, the mean of the four posts around the centre for even).
    Rays sample the DEM itself at its own spacing, so a coarser grid never means coarser
    masking. ``terrain`` is the DEM source (:class:`~simulator.terrain.Terrain` in memory or
    :class:`~simulator.dem.DemSource` read in windows).
    """

    terrain: object  # simulator.terrain.Terrain or simulator.dem.DemSource
    row_off: int
    col_off: int
    n_rows: int
    n_cols: int
    area_bounds_deg: tuple[float, float, float, float] | None = None
    factor: int = 1
    #: How the extent was chosen: "dem" (the whole DEM), "area" (the scenario's box),
    #: "disks" (the union of the units' largest nominal disks).
    extent: str = "dem"
    #: How the resolution was chosen (for the assumptions).
    resolution_rule: str = "the DEM's own spacing"

    def __getstate__(self) -> dict:
        # the fields only: the analysis terrain and lattices are recomputed where needed, so
        # a grid sent to a Dask worker carries no raster
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_terrain(cls, terrain, area_bounds_deg=None) -> "AnalysisGrid":
        """The analysis grid of ``terrain`` at its own spacing, clipped to ``(west, south,
        east, north)`` degrees."""
        rows, cols = terrain.shape
        if area_bounds_deg is None:
            return cls(terrain, 0, 0, rows, cols)
        r0, r1, c0, c1 = _box_pixels(terrain, area_bounds_deg)
        r0, r1, c0, c1 = max(r0, 0), min(r1, rows), max(c0, 0), min(c1, cols)
        if r1 - r0 < 2 or c1 - c0 < 2:
            raise OutsideTerrainError(
                f"area {area_bounds_deg} (west, south, east, north deg) does not overlap the terrain "
                f"{tuple(round(b, 4) for b in terrain.bounds_deg)}"
            )
        return cls(terrain, r0, c0, r1 - r0, c1 - c0, tuple(float(v) for v in area_bounds_deg), extent="area")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_cols)

    @cached_property
    def crs(self) -> pyproj.CRS:
        return _pyproj_crs(self.terrain.crs)

    @property
    def transform(self) -> Affine:
        """Cell-corner affine transform of the analysis grid in the terrain CRS."""
        return self.terrain.transform @ Affine.translation(self.col_off, self.row_off) @ Affine.scale(self.factor)

    def dem_pixel(self, row, col):
        """Centre-based fractional DEM pixel ``(row, col)`` of analysis cell centres."""
        half = (self.factor - 1) / 2.0
        return (self.row_off + np.asarray(row, dtype=float) * self.factor + half,
                self.col_off + np.asarray(col, dtype=float) * self.factor + half)

    def elevation_block(self, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
        """Terrain at the centres of analysis cells ``i0:i1, j0:j1`` (float32). [m MSL]

        Reads the DEM a band of rows at a time (about 32 M DEM cells each), only the rows and
        columns those centres need; the same values whatever block a cell is read in (the
        arithmetic depends on the cell alone).
        """
        out = np.empty((i1 - i0, j1 - j0), dtype=np.float32)
        step = max(1, int(32_000_000 // max((j1 - j0) * self.factor * self.factor, 1)))
        for i in range(i0, i1, step):
            out[i - i0 : min(i + step, i1) - i0] = self._elevation_rows(i, min(i + step, i1), j0, j1)
        return out

    def _elevation_rows(self, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
        f = self.factor
        lo = (f - 1) // 2  # post at or just before the centre
        pair = f % 2 == 0  # even: the centre lies between two posts on each axis
        r_first = self.row_off + i0 * f + lo
        c_first = self.col_off + j0 * f + lo
        r_stop = self.row_off + (i1 - 1) * f + lo + (2 if pair else 1)
        c_stop = self.col_off + (j1 - 1) * f + lo + (2 if pair else 1)
        z = self.terrain.read_pixels(r_first, r_stop, c_first, c_stop)
        if f == 1:
            return np.ascontiguousarray(z, dtype=np.float32)
        a = z[0::f, 0::f][: i1 - i0, : j1 - j0]
        if not pair:
            return np.ascontiguousarray(a, dtype=np.float32)
        b = z[0::f, 1::f][: i1 - i0, : j1 - j0]
        c = z[1::f, 0::f][: i1 - i0, : j1 - j0]
        d = z[1::f, 1::f][: i1 - i0, : j1 - j0]
        mean = ((a.astype(np.float64) + b) * 0.5 + (c.astype(np.float64) + d) * 0.5) * 0.5
        return mean.astype(np.float32)

    @cached_property
    def elevation_m(self) -> np.ndarray:
        """Terrain elevation at the analysis cells (read-only float32). [m] MSL"""
        if self.factor == 1 and self.terrain.covers_pixels(self.row_off, self.row_off + self.n_rows,
                                                           self.col_off, self.col_off + self.n_cols) \
                and getattr(self.terrain, "elevation_m", None) is not None \
                and self.terrain.elevation_m.dtype == np.float32:
            view = self.terrain.elevation_m[self.row_off: self.row_off + self.n_rows, self.col_off: self.col_off + self.n_cols]
            return view
        out = self.elevation_block(0, self.n_rows, 0, self.n_cols)
        out.flags.writeable = False
        return out

    @cached_property
    def key(self) -> str:
        """Identity of the grid (terrain identity + placement), for comparing grids."""
        text = (f"{self.terrain.identity}|{self.row_off},{self.col_off},{self.n_rows},{self.n_cols},{self.factor}"
                f"|{self.area_bounds_deg}")
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @cached_property
    def cache_key(self) -> str:
        """Content identity of the grid (terrain content + placement), for cache keys."""
        text = (f"{self.terrain.content_hash}|{getattr(self.terrain, 'outside_terrain', 'error')}"
                f"|{self.row_off},{self.col_off},{self.n_rows},{self.n_cols},{self.factor}|{self.area_bounds_deg}")
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @cached_property
    def dem_cell_size_m(self) -> tuple[float, float]:
        """Ground size of the DEM's cells at the grid centre, (east-west, north-south). [m]"""
        dx, dy = self.cell_size_m
        return (dx / self.factor, dy / self.factor)

    @cached_property
    def _to_lonlat(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    def pixel_to_xy(self, row, col):
        """CRS coordinates of centre-based fractional analysis-grid pixels."""
        return self.transform @ (np.asarray(col, dtype=float) + 0.5, np.asarray(row, dtype=float) + 0.5)

    def pixel_to_lonlat(self, row, col):
        """Longitude, latitude [deg] of centre-based fractional analysis-grid pixels."""
        x, y = self.pixel_to_xy(row, col)
        return self._to_lonlat.transform(x, y)

    def lonlat_to_pixel(self, lon_deg, lat_deg):
        """Centre-based fractional (row, col) of lon/lat points on the analysis grid."""
        to_crs = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        x, y = to_crs.transform(np.asarray(lon_deg, dtype=float), np.asarray(lat_deg, dtype=float))
        col, row = (~self.transform) @ (np.asarray(x), np.asarray(y))
        return np.asarray(row) - 0.5, np.asarray(col) - 0.5

    @cached_property
    def bounds_deg(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the grid's cell-edge footprint. [deg]"""
        r = np.concatenate([np.full(50, -0.5), np.linspace(-0.5, self.n_rows - 0.5, 50), np.full(50, self.n_rows - 0.5), np.linspace(-0.5, self.n_rows - 0.5, 50)])
        c = np.concatenate([np.linspace(-0.5, self.n_cols - 0.5, 50), np.full(50, self.n_cols - 0.5), np.linspace(-0.5, self.n_cols - 0.5, 50), np.full(50, -0.5)])
        lon, lat = self.pixel_to_lonlat(r, c)
        return (float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat)))

    @cached_property
    def inside_area(self) -> np.ndarray | None:
        """Cells whose centre lies in the area of interest (None: every cell counts).

        On a projected grid a lon/lat area box is not a pixel rectangle: the cells of its
        bounding rectangle outside the box do not count in any query or area.
        """
        if self.area_bounds_deg is None:
            return None
        west, south, east, north = self.area_bounds_deg
        rows, cols = np.mgrid[0 : self.n_rows, 0 : self.n_cols]
        lon, lat = self.pixel_to_lonlat(rows, cols)
        inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        if inside.all():
            return None
        inside.flags.writeable = False
        return inside

    @cached_property
    def cell_size_m(self) -> tuple[float, float]:
        """Approximate (east-west, north-south) ground size of a cell at the grid centre. [m]"""
        rc, cc = (self.n_rows - 1) / 2.0, (self.n_cols - 1) / 2.0
        lon, lat = self.pixel_to_lonlat(np.array([rc, rc, rc + 1]), np.array([cc, cc + 1, cc]))
        _, _, dx = WGS84_GEOD.inv(lon[0], lat[0], lon[1], lat[1])
        _, _, dy = WGS84_GEOD.inv(lon[0], lat[0], lon[2], lat[2])
        return (abs(float(dx)), abs(float(dy)))

    @cached_property
    def cell_area_m2(self) -> np.ndarray:
        """Geodesic area of every analysis cell (0 outside the area of interest), float64
        (rows, cols), read-only. [m^2]"""
        area = cell_areas_m2(self.crs, self.transform, self.shape)
        if self.inside_area is not None:
            area[~self.inside_area] = 0.0
        area.flags.writeable = False
        return area


def _box_pixels(terrain, area_bounds_deg) -> tuple[int, int, int, int]:
    """DEM pixel rows/cols ``r0, r1, c0, c1`` (half-open) of the cells a lon/lat box touches
    (edges densified, so a projected DEM's window covers all of the box)."""
    west, south, east, north = area_bounds_deg
    lons = np.concatenate([np.linspace(west, east, 64), np.full(64, east), np.linspace(east, west, 64), np.full(64, west)])
    lats = np.concatenate([np.full(64, south), np.linspace(south, north, 64), np.full(64, north), np.linspace(north, south, 64)])
    to_crs = pyproj.Transformer.from_crs("EPSG:4326", _pyproj_crs(terrain.crs), always_xy=True)
    xs, ys = to_crs.transform(lons, lats)
    inv = ~terrain.transform
    cols_f, rows_f = inv @ (np.asarray(xs), np.asarray(ys))
    return (int(math.floor(np.min(rows_f))), int(math.ceil(np.max(rows_f))),
            int(math.floor(np.min(cols_f))), int(math.ceil(np.max(cols_f))))


def _authalic_q(lat_rad: np.ndarray, e2: float) -> np.ndarray:
    """Snyder (1987) Eq. 3-12: ``q`` such that the area between two parallels per radian of
    longitude is ``a**2 / 2 * |q2 - q1|`` on an ellipsoid of eccentricity squared ``e2``."""
    if e2 == 0.0:
        return 2.0 * np.sin(lat_rad)
    e = math.sqrt(e2)
    s = np.sin(lat_rad)
    return (1.0 - e2) * (s / (1.0 - e2 * s * s) - np.log((1.0 - e * s) / (1.0 + e * s)) / (2.0 * e))


def cell_areas_m2(crs: pyproj.CRS, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Geodesic area of each cell of a north-up grid. [m^2]

    Geographic grids: the exact area of each cell (bounded by two parallels and two
    meridians) on the CRS's ellipsoid, Snyder (1987) Eq. 3-12; cells of a row are equal. Projected grids: nominal cell area divided
    by the areal scale factor ``h * k`` at the cell centre (Snyder 1987, ch. 4), sampled
    on a coarse lattice and interpolated bilinearly (it varies slowly).
    """
    n_rows, n_cols = shape
    if crs.is_geographic:
        geod = crs.get_geod() or WGS84_GEOD
        dlon_rad = math.radians(abs(transform.a))
        edges_deg = transform.f + transform.e * np.arange(n_rows + 1)
        q = _authalic_q(np.radians(edges_deg), geod.es)
        row_area = 0.5 * geod.a**2 * dlon_rad * np.abs(np.diff(q))
        return np.repeat(row_area[:, None], n_cols, axis=1)
    unit_m = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    nominal_m2 = abs(transform.a * transform.e - transform.b * transform.d) * unit_m**2
    stride = 32
    lr = np.arange(0, n_rows - 1 + stride, stride, dtype=float)
    lc = np.arange(0, n_cols - 1 + stride, stride, dtype=float)
    grid_r, grid_c = np.meshgrid(lr, lc, indexing="ij")
    x, y = transform @ (grid_c + 0.5, grid_r + 0.5)
    to_lonlat = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    lon, lat = to_lonlat.transform(x, y)
    factors = pyproj.Proj(crs).get_factors(lon, lat)
    areal = np.asarray(factors.areal_scale, dtype=float)
    # imported here: scipy costs 0.2 s to import, and a one-off viewshed never needs it
    from scipy import ndimage

    rr, cc = np.meshgrid(np.arange(n_rows) / stride, np.arange(n_cols) / stride, indexing="ij")
    areal_full = ndimage.map_coordinates(areal, [rr, cc], order=1, mode="nearest")
    return nominal_m2 / areal_full


@dataclass(frozen=True)
class _Inverse:
    """A transformer run in its inverse direction, with ``transform(x, y)`` like pyproj's."""

    forward: pyproj.Transformer

    def transform(self, x, y):
        return self.forward.transform(x, y, direction=pyproj.enums.TransformDirection.INVERSE)


@dataclass(frozen=True)
class SiteFrame:
    """Geodesic frame of one site: lattices mapping between the terrain and the site's AEQD."""

    lat_deg: float
    lon_deg: float
    to_aeqd: pyproj.Transformer  # terrain CRS -> AEQD metres

    @classmethod
    def for_site(cls, crs: pyproj.CRS, lat_deg: float, lon_deg: float) -> "SiteFrame":
        return cls(lat_deg, lon_deg, pyproj.Transformer.from_crs(crs, aeqd_crs(lat_deg, lon_deg), always_xy=True))

    @property
    def from_aeqd(self) -> "_Inverse":
        """AEQD metres -> terrain CRS (the same pipeline run backwards: one PROJ set-up per site)."""
        return _Inverse(self.to_aeqd)

    def forward_lattice(self, transform: Affine, row0: int, col0: int, n_rows: int, n_cols: int, stride: int):
        """AEQD (x, y) of the cells ``(row0 + i*stride, col0 + j*stride)`` of a grid. [m]

        The lattice extends one node past the last cell so bilinear lookup never clamps.
        """
        lr = row0 + np.arange(0, n_rows - 1 + stride, stride, dtype=float)
        lc = col0 + np.arange(0, n_cols - 1 + stride, stride, dtype=float)
        grid_r, grid_c = np.meshgrid(lr, lc, indexing="ij")
        x, y = transform @ (grid_c + 0.5, grid_r + 0.5)
        ax, ay = self.to_aeqd.transform(x, y)
        return np.ascontiguousarray(ax, dtype=np.float64), np.ascontiguousarray(ay, dtype=np.float64)

    def inverse_lattice(self, transform: Affine, radius_m: float, step_m: float):
        """DEM pixel (row, col) of a square AEQD lattice covering ``radius_m`` around the site.

        Returns ``row, col, origin_y_m, origin_x_m`` where node ``(i, j)`` is at AEQD
        ``(origin_x_m + j*step_m, origin_y_m + i*step_m)``.
        """
        half = radius_m + 2.0 * step_m
        n = int(math.ceil(2.0 * half / step_m)) + 1
        axis = -half + step_m * np.arange(n, dtype=float)
        gy, gx = np.meshgrid(axis, axis, indexing="ij")
        x, y = self.from_aeqd.transform(gx, gy)
        col, row = (~transform) @ (np.asarray(x), np.asarray(y))
        row = np.ascontiguousarray(np.asarray(row) - 0.5, dtype=np.float64)
        col = np.ascontiguousarray(np.asarray(col) - 0.5, dtype=np.float64)
        return row, col, float(axis[0]), float(axis[0])


def equal_area_crs(lat_deg: float, lon_deg: float) -> pyproj.CRS:
    """Lambert azimuthal equal-area CRS centred on a point (WGS84, metres) [Snyder 1987, §24]."""
    return pyproj.CRS.from_proj4(
        f"+proj=laea +lat_0={lat_deg:.8f} +lon_0={lon_deg:.8f} +datum=WGS84 +units=m +no_defs"
    )


def mask_polygons(grid: AnalysisGrid, covered: np.ndarray, *, densify_cells: int = 0):
    """Polygons of the true cells of a mask, in the grid's equal-area CRS (metres).

    The boundary is contourpy's level-0.5 filled contour of the mask sampled at cell centres
    (it runs half-way between covered and uncovered cell centres, cutting corners
    diagonally). Returns ``(multipolygon, crs)``: a shapely MultiPolygon, valid and
    oriented (exterior counter-clockwise), in :func:`equal_area_crs` of the grid centre.
    """
    import contourpy
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    covered = np.asarray(covered, dtype=bool)
    if covered.shape != grid.shape:
        raise ValueError(f"mask shape {covered.shape} is not the grid's {grid.shape}")
    centre_lon, centre_lat = grid.pixel_to_lonlat((grid.n_rows - 1) / 2.0, (grid.n_cols - 1) / 2.0)
    crs = equal_area_crs(float(centre_lat), float(centre_lon))
    if not covered.any():
        return MultiPolygon(), crs
    # pad with uncovered cells so rings close inside the padded frame
    z = np.zeros((grid.n_rows + 2, grid.n_cols + 2), dtype=np.float64)
    z[1:-1, 1:-1] = covered
    gen = contourpy.contour_generator(
        np.arange(-1.0, grid.n_cols + 1.0), np.arange(-1.0, grid.n_rows + 1.0), z,
        name="serial", fill_type="OuterOffset", corner_mask=False,
    )
    points_list, offsets_list = gen.filled(0.5, 1.5)
    to_ea = pyproj.Transformer.from_crs(grid.crs, crs, always_xy=True)
    polygons = []
    for points, offsets in zip(points_list, offsets_list, strict=True):
        cols, rows = points[:, 0], points[:, 1]
        x, y = grid.pixel_to_xy(rows, cols)
        ex, ey = to_ea.transform(x, y)
        rings = [np.column_stack([ex[a:b], ey[a:b]]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        polygons.append(Polygon(rings[0], rings[1:]))
    merged = shapely.make_valid(MultiPolygon(polygons))
    merged = shapely.normalize(merged)
    parts = [g for g in getattr(merged, "geoms", [merged]) if g.geom_type == "Polygon" and not g.is_empty]
    oriented = [shapely.geometry.polygon.orient(p, sign=1.0) for p in parts]
    return MultiPolygon(oriented), crs


def to_lonlat(geometry, crs: pyproj.CRS):
    """A shapely geometry from ``crs`` to lon/lat degrees (WGS84), keeping orientation."""
    import shapely

    transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

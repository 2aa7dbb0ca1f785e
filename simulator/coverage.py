"""Envelopes per unit and coverage queries over them.

An envelope holds, for one unit and layer, ``floor`` and ``ceiling`` rasters [m MSL]: the
unit covers a cell at altitude ``h`` exactly when ``floor <= h <= ceiling``. A unit's
engagement layer is the union of its weapons' envelopes (one floor/ceiling pair each);
the detection layer has one pair (the sensor). Line of sight runs once per unit (and is
cached on disk); every query -- a new altitude, reference, layer or set of active units --
is array arithmetic over the stored envelopes.

Geometry of the range limits (effective-earth sphere, radius ``R_eff``, antenna at
``a = R_eff + H0``, target at ``b = R_eff + h``, ground range ``d``, ``phi = d / R_eff``):
the slant range is ``r**2 = a**2 + b**2 - 2 a b cos(phi)`` (law of cosines; Doerry 2013),
increasing in ``h`` above ``b = a cos(phi)``; so a maximum slant range ``R_max`` bounds the
target between ``b = a cos(phi) -/+ sqrt(R_max**2 - a**2 sin(phi)**2)`` (the lower root
raises the floor, the upper is the ceiling), and a minimum slant range ``R_min`` raises the
floor to the upper root with ``R_min``.

References
----------
Doerry, A. W., "Earth Curvature and Atmospheric Refraction Effects on Radar Signal
Propagation", Sandia Report SAND2012-10690, 2013.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numba
import numpy as np
import pyproj

from simulator import visibility
from simulator.cache import EnvelopeCache, cache_key
from simulator.errors import AdcovError, ComputationCancelled, NothingInRangeError
from simulator.figures import UnitFigures, resolve_unit_figures
from simulator.geometry import (
    EARTH_MEAN_RADIUS_M,
    K_FACTOR_MAX,
    K_FACTOR_MIN,
    AnalysisGrid,
    SiteFrame,
    effective_radius_m,
    mask_polygons,
    to_lonlat,
)

LAYERS = ("detection", "engagement")
ALTITUDE_REFS = ("msl", "agl")
DEFAULT_ALTITUDES_M = (30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 20000.0)

ProgressCallback = Callable[[float, str], None]


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _add_covered(depth, row0, col0, floors, ceilings, terrain, altitude_m, is_agl):
    """``depth[window] += 1`` where any component covers the altitude (MSL, or AGL on terrain)."""
    n_comp, rows, cols = floors.shape
    for r in numba.prange(rows):
        for c in range(cols):
            h = terrain[r, c] + altitude_m if is_agl else altitude_m
            for i in range(n_comp):
                if floors[i, r, c] <= h and h <= ceilings[i, r, c]:
                    depth[row0 + r, col0 + c] += 1
                    break


#: Cells per side of the tiles whose floor/ceiling bounds let queries skip whole tiles.
QUERY_TILE = 32


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _tile_bounds(floor, ceiling, terrain, use_terrain):
    """Per tile: min/max floor and min/max ceiling (minus the terrain when ``use_terrain``)."""
    rows, cols = floor.shape
    n_tr = (rows + QUERY_TILE - 1) // QUERY_TILE
    n_tc = (cols + QUERY_TILE - 1) // QUERY_TILE
    out = np.empty((n_tr, n_tc, 4), dtype=np.float32)
    for t in numba.prange(n_tr * n_tc):
        tr = t // n_tc
        tc = t % n_tc
        fmin = np.inf
        fmax = -np.inf
        cmin = np.inf
        cmax = -np.inf
        for r in range(tr * QUERY_TILE, min((tr + 1) * QUERY_TILE, rows)):
            for c in range(tc * QUERY_TILE, min((tc + 1) * QUERY_TILE, cols)):
                z = terrain[r, c] if use_terrain else 0.0
                f = floor[r, c] - z
                g = ceiling[r, c] - z
                fmin = min(fmin, f)
                fmax = max(fmax, f)
                cmin = min(cmin, g)
                cmax = max(cmax, g)
        out[tr, tc, 0] = fmin
        out[tr, tc, 1] = fmax
        out[tr, tc, 2] = cmin
        out[tr, tc, 3] = cmax
    return out


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _add_covered_tiled(depth, row0, col0, floor, ceiling, terrain, bounds, altitude_m, is_agl):
    """``depth[window] += 1`` where ``floor <= h <= ceiling``, deciding whole tiles from
    their bounds and reading cells only in tiles the coverage boundary crosses."""
    rows, cols = floor.shape
    n_tr, n_tc, _ = bounds.shape
    for t in numba.prange(n_tr * n_tc):
        tr = t // n_tc
        tc = t % n_tc
        fmin, fmax, cmin, cmax = bounds[tr, tc, 0], bounds[tr, tc, 1], bounds[tr, tc, 2], bounds[tr, tc, 3]
        if altitude_m < fmin or altitude_m > cmax:
            continue  # nothing covered in this tile
        r_end = min((tr + 1) * QUERY_TILE, rows)
        c_end = min((tc + 1) * QUERY_TILE, cols)
        if fmax <= altitude_m and altitude_m <= cmin:
            for r in range(tr * QUERY_TILE, r_end):
                for c in range(tc * QUERY_TILE, c_end):
                    depth[row0 + r, col0 + c] += 1
            continue
        for r in range(tr * QUERY_TILE, r_end):
            for c in range(tc * QUERY_TILE, c_end):
                h = terrain[r, c] + altitude_m if is_agl else altitude_m
                if floor[r, c] <= h and h <= ceiling[r, c]:
                    depth[row0 + r, col0 + c] += 1


@numba.njit(cache=True, parallel=True, error_model="numpy")
def area_where_positive_m2(values, cell_area_m2):
    """Sum of ``cell_area_m2`` where ``values > 0`` (row sums in parallel). [m^2]"""
    rows, cols = values.shape
    row_sums = np.zeros(rows)
    for r in numba.prange(rows):
        total = 0.0
        for c in range(cols):
            if values[r, c] > 0:
                total += cell_area_m2[r, c]
        row_sums[r] = total
    return row_sums.sum()


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _covered_area_m2(n_rows, row0, col0, floor, ceiling, terrain, altitude_m, is_agl, cell_area_m2):
    """Summed ``cell_area_m2`` (full grid) over a window's cells where ``floor <= h <= ceiling``:
    the area :func:`area_where_positive_m2` gives for that mask, summed in the same order
    (row sums, then their sum), without the full-grid mask. [m^2]"""
    rows, cols = floor.shape
    row_sums = np.zeros(n_rows)
    for r in numba.prange(rows):
        total = 0.0
        for c in range(cols):
            h = terrain[r, c] + altitude_m if is_agl else altitude_m
            if floor[r, c] <= h and h <= ceiling[r, c]:
                total += cell_area_m2[row0 + r, col0 + c]
        row_sums[row0 + r] = total
    return row_sums.sum()


@numba.njit(cache=True, parallel=True, error_model="numpy")
def area_and_count_by_value(values, cell_area, n_values):
    """Per value ``v < n_values`` of an integer grid: the summed ``cell_area`` and the number
    of cells holding it (rows in parallel; a depth histogram in one pass)."""
    rows, cols = values.shape
    areas = np.zeros((rows, n_values))
    counts = np.zeros((rows, n_values), dtype=np.int64)
    for r in numba.prange(rows):
        for c in range(cols):
            v = values[r, c]
            if v < n_values:
                areas[r, v] += cell_area[r, c]
                counts[r, v] += 1
    return areas.sum(axis=0), counts.sum(axis=0)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def change_index_and_area_m2(before, after, cell_area_m2):
    """Classify each cell between two depth grids, in one pass: 0 covered by neither,
    1 lost (``before > 0``, ``after == 0``), 2 kept (both), 3 gained (``after`` only); and
    the summed ``cell_area_m2`` per class (rows in parallel, each class summed like
    :func:`area_where_positive_m2`). Returns ``(index uint8, areas_m2[4])``."""
    rows, cols = before.shape
    index = np.zeros((rows, cols), dtype=np.uint8)
    row_sums = np.zeros((4, rows))
    for r in numba.prange(rows):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for c in range(cols):
            b = before[r, c] > 0
            a = after[r, c] > 0
            if b:
                if a:
                    index[r, c] = 2
                    s2 += cell_area_m2[r, c]
                else:
                    index[r, c] = 1
                    s1 += cell_area_m2[r, c]
            elif a:
                index[r, c] = 3
                s3 += cell_area_m2[r, c]
            else:
                s0 += cell_area_m2[r, c]
        row_sums[0, r] = s0
        row_sums[1, r] = s1
        row_sums[2, r] = s2
        row_sums[3, r] = s3
    areas = np.zeros(4)
    for k in range(4):
        areas[k] = row_sums[k].sum()
    return index, areas


class CancelToken:
    """Cooperative cancellation for long computations (set from another thread)."""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def check_query(altitudes_m, altitude_ref: str, layers, *, unique: bool = False) -> tuple[list[float], str, list[str]]:
    """Validate the arguments of a coverage query: altitudes [m] (a number or an iterable of
    finite numbers), an altitude reference and one or more layers; ``unique`` refuses
    repeated altitudes or layers. Raises AdcovError naming the bad value and what is valid."""
    if altitude_ref not in ALTITUDE_REFS:
        raise AdcovError(f"altitude_ref: {altitude_ref!r} is not valid; expected one of {', '.join(ALTITUDE_REFS)}")
    layers = [layers] if isinstance(layers, str) else list(layers)
    bad = [layer for layer in layers if layer not in LAYERS]
    if bad or not layers:
        raise AdcovError(f"layers: {', '.join(map(repr, bad)) or 'none given'} not valid; expected one or more of {', '.join(LAYERS)}")
    values = [altitudes_m] if np.ndim(altitudes_m) == 0 else list(np.asarray(altitudes_m, dtype=object).ravel())
    altitudes = []
    for value in values:
        try:
            altitude = float(value)
        except (TypeError, ValueError):
            raise AdcovError(f"altitudes_m: {value!r} is not a number; expected altitudes in metres") from None
        if not math.isfinite(altitude):
            raise AdcovError(f"altitudes_m: {value!r} is not finite; expected altitudes in metres")
        altitudes.append(altitude)
    if not altitudes:
        raise AdcovError("altitudes_m: expected at least one altitude [m]")
    if unique and len(set(layers)) != len(layers):
        raise AdcovError(f"layers: {', '.join(layers)} lists a layer twice")
    if unique and len(set(altitudes)) != len(altitudes):
        raise AdcovError(f"altitudes_m: {', '.join(f'{a:g}' for a in altitudes)} lists an altitude twice")
    return altitudes, altitude_ref, layers


def _check_choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise AdcovError(f"{name}: {value!r} is not valid; expected one of {', '.join(valid)}")
    return value


# --------------------------------------------------------------------------- line of sight


@dataclass(frozen=True)
class LineOfSight:
    """Line-of-sight floor of one site on a window of the analysis grid.

    ``floor_msl_m`` is the lowest visible altitude [m MSL] (>= terrain; NaN beyond
    ``max_range_m``); ``ground_range_m`` the geodesic distance from the site [m]; both
    cover analysis rows ``row0:row0+rows`` and columns ``col0:col0+cols``.
    """

    row0: int
    col0: int
    floor_msl_m: np.ndarray
    ground_range_m: np.ndarray
    site_terrain_m: float
    antenna_altitude_msl_m: float
    max_range_m: float
    n_rays: int
    sample_spacing_m: float

    @property
    def window(self) -> tuple[slice, slice]:
        rows, cols = self.floor_msl_m.shape
        return (slice(self.row0, self.row0 + rows), slice(self.col0, self.col0 + cols))

    def __repr__(self) -> str:
        rows, cols = self.floor_msl_m.shape
        return (f"<LineOfSight {rows} x {cols} cells from ({self.row0}, {self.col0}), antenna "
                f"{self.antenna_altitude_msl_m:.0f} m MSL, {self.max_range_m / 1000:g} km, {self.n_rays} rays>")


#: Stride of the exact geodesic ranges used to pick the cells within range. [cells]
COARSE_STRIDE_CELLS = 32
#: Spacing of the exactly transformed lattice that cell ranges and azimuths come from
#: (bilinear in between: errors ~ spacing² / 8R, under a metre). [m]
FORWARD_LATTICE_M = 5000.0
#: Spacing of the AEQD lattice that ray positions come from (bilinear in between: the map
#: from the site's AEQD to the DEM grid is smooth, errors ~ spacing² / 8R, under a metre). [m]
INVERSE_LATTICE_M = 5000.0
#: Memory for the rays' horizons at a time: larger fans are computed sector by sector. [bytes]
RAY_MEMORY_BYTES = 256 * 2**20
#: A streamed DEM window larger than this is read a sector's wedge at a time. [bytes]
DEM_WINDOW_BYTES = 384 * 2**20
#: At most this many wedges (each spans at least the bounding box of its arc).
MAX_DEM_SECTORS = 64
#: Samples along a ray per DEM cell beyond MID_FIELD_CELLS, and rays per cell of arc at the
#: farthest range.
SAMPLES_PER_CELL = 1.0
RAYS_PER_CELL_OF_ARC = 1.0
#: Terrain closer than this fraction of a cell before a cell centre is the cell's own.
OWN_CELL_FRACTION = 0.5
#: Terrain closer than this fraction of a cell to the antenna is the antenna's own cell.
OBSERVER_CELL_FRACTION = 0.5
#: Near the antenna, where elevation angles are most sensitive to the terrain, rays are
#: sampled this many times per cell out to this many cells.
NEAR_SAMPLES_PER_CELL = 16.0
NEAR_FIELD_CELLS = 16.0
#: Then this many samples per cell out to this many cells: a crest a sample steps over
#: lowers the horizon by up to (its height above the samples) / (its range), and a peak
#: post 10-20 km out shadows the whole far range. With 2 samples per cell a DTED0 crest
#: 13 km from Iturup's site set a floor 0.96 km too low at 355 km (2.7 mrad; a brute-force
#: line of sight sides with the profile); 4 per cell keeps the worst of 120 random cells
#: of each bundled unit under 0.6 mrad, for about 20 % more samples per ray.
MID_SAMPLES_PER_CELL = 4.0
MID_FIELD_CELLS = 128.0


def dem_window(source, frame: SiteFrame, reach_m: float, azimuths_rad=None) -> tuple[int, int, int, int]:
    """DEM rows ``r0:r1`` and columns ``c0:c1`` holding every point within ``reach_m`` of a
    site (its geodesic circle and centre, plus two cells), or only of the wedge between two
    azimuths (clockwise from north, the second included), clipped to the DEM unless the DEM
    takes what lies beyond it as sea."""
    if azimuths_rad is None:
        azimuth = np.linspace(0.0, 2.0 * math.pi, 1441)
    else:
        first, last = azimuths_rad
        azimuth = np.linspace(first, last, max(int(math.ceil((last - first) / (2.0 * math.pi) * 1440)), 1) + 1)
    ex = np.concatenate([[0.0], reach_m * np.sin(azimuth)])
    ny = np.concatenate([[0.0], reach_m * np.cos(azimuth)])
    x, y = frame.from_aeqd.transform(ex, ny)
    col, row = (~source.transform) @ (np.asarray(x), np.asarray(y))
    r0 = int(math.floor(np.nanmin(row))) - 2
    r1 = int(math.ceil(np.nanmax(row))) + 3
    c0 = int(math.floor(np.nanmin(col))) - 2
    c1 = int(math.ceil(np.nanmax(col))) + 3
    if getattr(source, "outside_terrain", "error") != "sea":
        rows, cols = source.shape
        r0, r1, c0, c1 = max(r0, 0), min(r1, rows), max(c0, 0), min(c1, cols)
        if r1 - r0 < 2 or c1 - c0 < 2:
            raise AdcovError("the site's range reaches no terrain")
    return r0, r1, c0, c1


def analysis_terrain(grid: AnalysisGrid, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Terrain at analysis cells ``r0:r1, c0:c1`` [m MSL]: from the grid's analysis terrain
    when it is in memory, else read for this window alone (a Dask worker reads no more)."""
    held = grid.__dict__.get("elevation_m")
    if held is not None:
        return held[r0:r1, c0:c1]
    return grid.elevation_block(r0, r1, c0, c1)


def site_terrain_m(grid: AnalysisGrid, lat_deg: float, lon_deg: float) -> float:
    """Terrain height at a site, bilinear. [m MSL] (OutsideTerrainError if off the terrain)."""
    return float(np.asarray(grid.terrain.sample_m(np.array([lat_deg]), np.array([lon_deg])))[0])


def line_of_sight_key(grid: AnalysisGrid, lat_deg: float, lon_deg: float, antenna_height_m: float,
                      k_factor: float, max_range_m: float, *, earth_radius_m: float = EARTH_MEAN_RADIUS_M,
                      plan_range_m: float | None = None) -> str:
    """The envelope cache's key of one site's line of sight (see :func:`compute_line_of_sight`)."""
    return cache_key(
        what="line_of_sight",
        grid=grid.cache_key,
        lat_deg=float(lat_deg),
        lon_deg=float(lon_deg),
        antenna_height_m=float(antenna_height_m),
        k_factor=float(k_factor),
        earth_radius_m=float(earth_radius_m),
        max_range_m=float(max_range_m),
        plan_range_m=float(max(plan_range_m or 0.0, max_range_m)),
    )


def compute_line_of_sight(
    grid: AnalysisGrid,
    lat_deg: float,
    lon_deg: float,
    antenna_height_m: float,
    k_factor: float,
    max_range_m: float,
    *,
    earth_radius_m: float = EARTH_MEAN_RADIUS_M,
    cache: EnvelopeCache | None = None,
    with_ground_range: bool = True,
    plan_range_m: float | None = None,
    planned: "Callable[[], RayPlan] | None" = None,
) -> LineOfSight:
    """Floor of the line of sight from an antenna to every analysis cell within range.

    Parameters
    ----------
    grid : AnalysisGrid
        Cells to compute; rays sample the grid's whole terrain.
    lat_deg, lon_deg : float
        Site. [deg]
    antenna_height_m : float
        Antenna height above the terrain at the site. [m]
    k_factor : float
        Effective earth radius factor (4/3 standard refraction, 1 geometric).
    max_range_m : float
        Ground range beyond which nothing is computed. [m]
    earth_radius_m : float
        Earth radius the curvature uses. [m]
    cache : EnvelopeCache, optional
        Where to look up / store the result.
    with_ground_range : bool
        Also return each cell's ground range (envelopes need it; a viewshed does not).
    plan_range_m : float, optional
        Range the rays are planned for (their number and lattice), at least ``max_range_m``:
        the same plan for a unit's min, nominal and max published range gives the same floor
        within the shorter range, so a shorter range never covers a cell the longer does not.
    planned : callable, optional
        Returns this site's :class:`RayPlan` made ahead (e.g. a future's ``result``, see
        :func:`build_coverage`); called only when the cache does not answer.

    Notes
    -----
    Rays: one per ``cell`` of arc at the farthest range needed, so no cell is skipped;
    samples one cell apart (the smaller cell side); bilinear terrain; geodesic distance and
    azimuth through the site's azimuthal equidistant frame (see :mod:`simulator.geometry`).
    The kernel and its formulas are in :mod:`simulator.visibility`.
    """
    if not (antenna_height_m >= 0 and math.isfinite(antenna_height_m)):
        raise AdcovError(f"antenna_height_m: expected a number >= 0 [m], got {antenna_height_m}")
    if not (math.isfinite(k_factor) and K_FACTOR_MIN <= k_factor <= K_FACTOR_MAX):
        raise AdcovError(f"k_factor: expected a number in [{K_FACTOR_MIN:g}, {K_FACTOR_MAX:g}] "
                         f"(4/3 standard refraction, 1 geometric), got {k_factor}")
    if not (max_range_m > 0):
        raise AdcovError(f"max_range_m: expected a number > 0 [m], got {max_range_m}")
    ground_m = site_terrain_m(grid, lat_deg, lon_deg)
    key = None
    if cache is not None:
        key = line_of_sight_key(grid, lat_deg, lon_deg, antenna_height_m, k_factor, max_range_m,
                                earth_radius_m=earth_radius_m, plan_range_m=plan_range_m)
        hit = cache.get(key)
        if hit is not None:
            meta = hit["meta"]
            return LineOfSight(
                row0=int(meta[0]),
                col0=int(meta[1]),
                floor_msl_m=hit["floor_msl_m"],
                ground_range_m=hit["ground_range_m"],
                site_terrain_m=float(meta[2]),
                antenna_altitude_msl_m=float(meta[3]),
                max_range_m=float(max_range_m),
                n_rays=int(meta[4]),
                sample_spacing_m=float(meta[5]),
            )

    if planned is not None:
        plan = planned()
    else:
        plan = plan_line_of_sight(grid, lat_deg, lon_deg, antenna_height_m, k_factor, max_range_m,
                                  earth_radius_m=earth_radius_m, plan_range_m=plan_range_m, ground_m=ground_m)
    floor, ground_range = trace_line_of_sight(grid, plan, with_ground_range=with_ground_range)
    r0, c0, n_rays, spacing_m = plan.row0, plan.col0, plan.n_rays, plan.spacing_m
    antenna_altitude_m = plan.antenna_altitude_msl_m
    result = LineOfSight(
        row0=r0,
        col0=c0,
        floor_msl_m=floor,
        ground_range_m=ground_range,
        site_terrain_m=ground_m,
        antenna_altitude_msl_m=antenna_altitude_m,
        max_range_m=float(max_range_m),
        n_rays=n_rays,
        sample_spacing_m=spacing_m,
    )
    if cache is not None and key is not None and with_ground_range:
        cache.put(
            key,
            {
                "floor_msl_m": floor,
                "ground_range_m": ground_range,
                "meta": np.array([r0, c0, ground_m, antenna_altitude_m, n_rays, spacing_m], dtype=np.float64),
            },
        )
    return result


@dataclass(frozen=True)
class RayPlan:
    """Where one site's rays go and what they read: the window of analysis cells they fill,
    the fan (rays, samples and their spacing tiers), the lattices mapping the site's AEQD
    frame to the DEM and the cells to AEQD, and the DEM window (read here when it is small,
    else a sector's wedge at a time by :func:`trace_line_of_sight`).

    Made by :func:`plan_line_of_sight` without numba (pyproj and reads release the GIL), so
    :func:`build_coverage` plans the next unit in a thread while this one's rays run.
    """

    row0: int
    col0: int
    row1: int
    col1: int
    stride: int  # forward lattice: one node every ``stride`` cells
    forward_x_m: np.ndarray
    forward_y_m: np.ndarray
    inverse_row: np.ndarray
    inverse_col: np.ndarray
    inverse_origin_y_m: float
    inverse_origin_x_m: float
    inverse_step_m: float
    n_rays: int
    n_samples: int
    fine_m: float
    n_fine: int
    mid_m: float
    n_mid: int
    spacing_m: float
    knot_m: float
    reach_m: float
    dem_cell_m: float
    max_range_m: float
    antenna_altitude_msl_m: float
    effective_radius_m: float
    terrain_crop_m: np.ndarray
    frame: SiteFrame
    dem_window: tuple[int, int, int, int]  # rows r0:r1, columns c0:c1 of the whole fan
    rays_per_sector: int
    read_whole: bool  # the whole fan's DEM window is read at once (else a wedge per sector)
    held_dem: np.ndarray | None  # that window, when the plan read it ahead


#: A plan reads its DEM window ahead of the rays when it is at most this large; larger ones
#: are read by the trace (a plan made ahead must not double the peak memory). [bytes]
PLAN_READ_AHEAD_BYTES = 64 * 2**20


def plan_line_of_sight(
    grid: AnalysisGrid,
    lat_deg: float,
    lon_deg: float,
    antenna_height_m: float,
    k_factor: float,
    max_range_m: float,
    *,
    earth_radius_m: float = EARTH_MEAN_RADIUS_M,
    plan_range_m: float | None = None,
    ground_m: float | None = None,
    read_ahead_bytes: int | None = PLAN_READ_AHEAD_BYTES,
) -> RayPlan:
    """The :class:`RayPlan` of one site (arguments as :func:`compute_line_of_sight`).

    ``read_ahead_bytes``: read the DEM window now when it is at most this large (``None``:
    whenever the whole fan's window is read at once anyway)."""
    if ground_m is None:
        ground_m = site_terrain_m(grid, lat_deg, lon_deg)
    frame = SiteFrame.for_site(grid.crs, lat_deg, lon_deg)
    source = grid.terrain
    cell_ew_m, cell_ns_m = grid.cell_size_m
    min_cell_m = min(cell_ew_m, cell_ns_m)  # analysis cells: rays per cell of arc
    dem_ew_m, dem_ns_m = grid.dem_cell_size_m
    dem_cell_m = min(dem_ew_m, dem_ns_m)  # DEM posts: samples along the rays
    spacing_m = dem_cell_m / SAMPLES_PER_CELL

    # Coarse ranges over the whole grid pick the window of cells within range.
    coarse = COARSE_STRIDE_CELLS
    cx, cy = frame.forward_lattice(grid.transform, 0, 0, grid.n_rows, grid.n_cols, coarse)
    coarse_range = np.hypot(cx, cy)
    margin_m = 2.0 * coarse * max(cell_ew_m, cell_ns_m)
    near = coarse_range <= max(max_range_m, plan_range_m or 0.0) + margin_m
    if not near.any():
        raise NothingInRangeError("no analysis cell lies within range of the site")
    node_rows = np.flatnonzero(near.any(axis=1))
    node_cols = np.flatnonzero(near.any(axis=0))
    r0 = max(int(node_rows[0] - 1) * coarse, 0)
    r1 = min(int(node_rows[-1] + 1) * coarse + 1, grid.n_rows)
    c0 = max(int(node_cols[0] - 1) * coarse, 0)
    c1 = min(int(node_cols[-1] + 1) * coarse + 1, grid.n_cols)
    # the fine lattice: nodes about FORWARD_LATTICE_M apart (bilinear error ~ cm)
    stride = int(min(max(round(FORWARD_LATTICE_M / max(cell_ew_m, cell_ns_m)), 1), 64))
    far_m = float(np.max(coarse_range[max(node_rows[0] - 1, 0) : node_rows[-1] + 2, max(node_cols[0] - 1, 0) : node_cols[-1] + 2]))
    far_m += coarse * max(cell_ew_m, cell_ns_m)
    ray_range_m = min(max(max_range_m, plan_range_m or 0.0), far_m + spacing_m)

    fine_m = dem_cell_m / NEAR_SAMPLES_PER_CELL
    n_fine = int(round(NEAR_FIELD_CELLS * dem_cell_m / fine_m))
    mid_m = dem_cell_m / MID_SAMPLES_PER_CELL
    n_mid = int(round((MID_FIELD_CELLS - NEAR_FIELD_CELLS) * dem_cell_m / mid_m))
    mid_end_m = n_fine * fine_m + n_mid * mid_m
    n_samples = n_fine + n_mid + max(int(math.ceil((ray_range_m - mid_end_m) / spacing_m)), 0) + 2
    n_rays = max(64, int(math.ceil(2.0 * math.pi * ray_range_m * RAYS_PER_CELL_OF_ARC / min_cell_m)))
    inv_step_m = INVERSE_LATTICE_M
    knot_m = 16.0 * mid_m
    reach_m = ray_range_m + knot_m + spacing_m
    inv_row, inv_col, origin_y, origin_x = frame.inverse_lattice(source.transform, reach_m, inv_step_m)
    # Only the DEM window the rays can reach is read. A terrain held in memory is read once
    # (a view); a streamed one a sector of rays at a time, each sector's wedge alone, when
    # the whole disk's window would exceed DEM_WINDOW_BYTES (a 400 km disk at 1" is 1.9 GB).
    full_window = dem_window(source, frame, reach_m)
    in_memory = getattr(source, "elevation_m", None) is not None  # simulator.terrain.Terrain
    itemsize = 2 if getattr(source, "int16", False) else 4
    window_bytes = (full_window[1] - full_window[0]) * (full_window[3] - full_window[2]) * itemsize
    antenna_altitude_m = ground_m + float(antenna_height_m)
    re_m = effective_radius_m(k_factor, earth_radius_m)
    fx, fy = frame.forward_lattice(grid.transform, r0, c0, r1 - r0, c1 - c0, stride)
    terrain_crop = np.ascontiguousarray(analysis_terrain(grid, r0, r1, c0, c1), dtype=np.float32)
    # The fan of rays goes in sectors, so that the ray array stays within RAY_MEMORY_BYTES
    # however large the grid (one sector on most grids).
    n_sectors = max(1, math.ceil(4.0 * n_samples * n_rays / RAY_MEMORY_BYTES))
    if not in_memory and window_bytes > DEM_WINDOW_BYTES:
        # a wedge of 2 pi / n rad spans about (2 / n) of the disk's bounding box or less
        n_sectors = max(n_sectors, min(MAX_DEM_SECTORS, math.ceil(4.0 * window_bytes / DEM_WINDOW_BYTES)))
    rays_per_sector = math.ceil(n_rays / n_sectors / visibility.RAY_BLOCK) * visibility.RAY_BLOCK
    held = None  # the whole fan's DEM window, read once
    read_whole = in_memory or window_bytes <= DEM_WINDOW_BYTES or rays_per_sector >= n_rays
    if read_whole and (in_memory or read_ahead_bytes is None or window_bytes <= read_ahead_bytes):
        held = source.read_pixels(*full_window)
    return RayPlan(
        row0=r0, col0=c0, row1=r1, col1=c1, stride=stride, forward_x_m=fx, forward_y_m=fy,
        inverse_row=inv_row, inverse_col=inv_col, inverse_origin_y_m=origin_y, inverse_origin_x_m=origin_x,
        inverse_step_m=inv_step_m, n_rays=n_rays, n_samples=n_samples, fine_m=fine_m, n_fine=n_fine, mid_m=mid_m,
        n_mid=n_mid, spacing_m=spacing_m, knot_m=knot_m, reach_m=reach_m, dem_cell_m=dem_cell_m,
        max_range_m=float(max_range_m), antenna_altitude_msl_m=antenna_altitude_m, effective_radius_m=re_m,
        terrain_crop_m=terrain_crop, frame=frame, dem_window=full_window,
        rays_per_sector=rays_per_sector, read_whole=read_whole, held_dem=held,
    )


def trace_line_of_sight(grid: AnalysisGrid, plan: RayPlan, *, with_ground_range: bool = True):
    """Run a :class:`RayPlan`'s rays (:mod:`simulator.visibility`): the line-of-sight floor
    [m MSL] of the plan's window of cells, and their ground range [m] (an empty array
    without ``with_ground_range``); NaN beyond the plan's ``max_range_m``."""
    p = plan
    source = grid.terrain
    # NaN-filled, not empty: a cell no sector filled would read as "not computed", not as junk
    floor = np.full(p.terrain_crop_m.shape, np.nan, dtype=np.float32)
    ground_range = np.full(p.terrain_crop_m.shape if with_ground_range else (0, 0), np.nan, dtype=np.float32)
    tiers = visibility.SampleTiers(p.fine_m, p.n_fine, p.mid_m, p.n_mid, p.spacing_m, p.knot_m)
    observer = visibility.Observer(p.antenna_altitude_msl_m, p.effective_radius_m)
    forward = visibility.ForwardLattice(p.forward_x_m, p.forward_y_m, p.stride)
    held = p.held_dem
    if held is None and p.read_whole:
        held = source.read_pixels(*p.dem_window)
    for first_ray in range(0, p.n_rays, p.rays_per_sector):
        n_sector_rays = min(p.rays_per_sector, p.n_rays - first_ray)
        if held is not None:
            (wr0, wr1, wc0, wc1), dem = p.dem_window, held
        else:
            wr0, wr1, wc0, wc1 = dem_window(source, p.frame, p.reach_m, azimuths_rad=(
                2.0 * math.pi * first_ray / p.n_rays, 2.0 * math.pi * (first_ray + n_sector_rays) / p.n_rays))
            dem = source.read_pixels(wr0, wr1, wc0, wc1)
        fan = visibility.Fan(p.n_rays, first_ray, n_sector_rays + 1, p.n_samples)  # + the next sector's first ray
        ray_horizon = visibility.ray_horizons(
            dem,
            visibility.InverseLattice(np.ascontiguousarray(p.inverse_row - wr0), np.ascontiguousarray(p.inverse_col - wc0),
                                      p.inverse_origin_y_m, p.inverse_origin_x_m, p.inverse_step_m),
            fan, tiers, observer, OBSERVER_CELL_FRACTION * p.dem_cell_m,
        )
        visibility.cell_floors_msl(ray_horizon, fan, tiers, observer, OWN_CELL_FRACTION * p.dem_cell_m, forward,
                                   p.terrain_crop_m, p.max_range_m, floor, ground_range)
        del ray_horizon, dem
    return floor, ground_range


# --------------------------------------------------------------------------- range limits


def slant_range_altitude_msl_m(
    ground_range_m: np.ndarray,
    antenna_altitude_msl_m: float,
    slant_range_m: float,
    effective_radius_m_: float,
) -> np.ndarray:
    """Altitude [m MSL] at which the slant range from the antenna equals ``slant_range_m``.

    ``b = a cos(phi) + sqrt(R**2 - a**2 sin(phi)**2)`` with ``a = R_eff + H0``,
    ``phi = d / R_eff`` (module docstring, Doerry 2013). ``-inf`` where even the
    closest point of that vertical is farther than ``R`` (no altitude reaches it), and
    ``-inf`` also means "no constraint" for a minimum range that every altitude satisfies:
    callers treat the two cases separately via the sign convention documented there.
    """
    a = effective_radius_m_ + antenna_altitude_msl_m
    phi = np.asarray(ground_range_m, dtype=np.float64) / effective_radius_m_
    perpendicular = a * np.sin(phi)
    under = slant_range_m**2 - perpendicular**2
    with np.errstate(invalid="ignore"):
        b = a * np.cos(phi) + np.sqrt(np.where(under >= 0, under, np.nan))
    return np.where(under >= 0, b - effective_radius_m_, -np.inf)


# --------------------------------------------------------------------------- envelopes


@dataclass(frozen=True)
class EnvelopeComponent:
    """One covered altitude interval per cell: a weapon's, or the sensor's."""

    name: str
    floor_msl_m: np.ndarray  # float32, window of the unit; +inf where not covered at all
    ceiling_msl_m: np.ndarray  # float32; -inf where not covered at all


@dataclass(frozen=True)
class UnitEnvelope:
    """Everything a query needs about one unit on the analysis grid."""

    unit_id: str
    figures: UnitFigures
    los: LineOfSight
    layers: dict[str, tuple[EnvelopeComponent, ...]]

    @property
    def window(self) -> tuple[slice, slice]:
        return self.los.window

    def __repr__(self) -> str:
        rows, cols = self.window
        layers = "; ".join(f"{name}: {', '.join(c.name for c in comps) or 'none'}" for name, comps in self.layers.items())
        return (f"<UnitEnvelope {self.unit_id!r} ({self.figures.system_name}) rows {rows.start}:{rows.stop}, "
                f"cols {cols.start}:{cols.stop}, antenna {self.los.antenna_altitude_msl_m:.0f} m MSL, "
                f"range {self.los.max_range_m / 1000:g} km; {layers}>")

    def covered(self, layer: str, altitude_msl_m: np.ndarray | float) -> np.ndarray:
        """Covered cells of the unit's window at the given altitude(s) [m MSL]."""
        components = self.layers[layer]
        if not components:
            return np.zeros(self.los.floor_msl_m.shape, dtype=bool)
        out = None
        for comp in components:
            hit = (comp.floor_msl_m <= altitude_msl_m) & (altitude_msl_m <= comp.ceiling_msl_m)
            out = hit if out is None else (out | hit)
        return out

    @cached_property
    def _stacked(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {
            layer: (
                np.stack([c.floor_msl_m for c in comps]) if comps else np.empty((0,) + self.los.floor_msl_m.shape, np.float32),
                np.stack([c.ceiling_msl_m for c in comps]) if comps else np.empty((0,) + self.los.floor_msl_m.shape, np.float32),
            )
            for layer, comps in self.layers.items()
        }

    def _bounds(self, layer: str, terrain_m: np.ndarray | None) -> np.ndarray:
        key = (layer, terrain_m is not None)
        cache = self.__dict__.setdefault("_tile_bounds_cache", {})
        if key not in cache:
            comp = self.layers[layer][0]
            terrain = terrain_m if terrain_m is not None else comp.floor_msl_m
            cache[key] = _tile_bounds(comp.floor_msl_m, comp.ceiling_msl_m, terrain, terrain_m is not None)
        return cache[key]

    def add_to_depth(self, depth: np.ndarray, layer: str, altitude_m: float, terrain_m: np.ndarray | None) -> None:
        """Add 1 to ``depth`` (full grid) where this unit covers the altitude.

        ``terrain_m`` is the terrain on the unit's window for an altitude above ground, or
        None for an altitude above mean sea level. A single-interval layer (the usual case,
        see :func:`merge_components`) skips whole tiles using their floor/ceiling bounds.
        """
        components = self.layers[layer]
        if not components:
            return
        rows, cols = self.window
        is_agl = terrain_m is not None
        if len(components) == 1:
            comp = components[0]
            terrain = terrain_m if is_agl else comp.floor_msl_m
            _add_covered_tiled(depth, rows.start, cols.start, comp.floor_msl_m, comp.ceiling_msl_m, terrain,
                               self._bounds(layer, terrain_m), np.float32(altitude_m), is_agl)
            return
        floors, ceilings = self._stacked[layer]
        terrain = terrain_m if is_agl else floors[0]
        _add_covered(depth, rows.start, cols.start, floors, ceilings, terrain, np.float32(altitude_m), is_agl)

    def floor_ceiling(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """Lowest floor and highest ceiling over the layer's components [m MSL].

        Exact bounds of the covered altitudes; the union of the components' intervals may
        still have gaps between them (use :meth:`covered` for exact answers).
        """
        components = self.layers[layer]
        shape = self.los.floor_msl_m.shape
        if not components:
            return np.full(shape, np.inf, np.float32), np.full(shape, -np.inf, np.float32)
        floor = np.minimum.reduce([c.floor_msl_m for c in components])
        ceiling = np.maximum.reduce([c.ceiling_msl_m for c in components])
        return floor, ceiling


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _layer_intervals(los_floor, terrain, ground_range, antenna_altitude_m, re_m, limits):
    """Covered altitude interval of each component of a layer, and their union.

    ``limits[k] = (min_range_m, max_range_m, min_agl_m, max_msl_m)``. Per cell the floor is
    ``max(line of sight, terrain + min_agl, upper min-slant altitude, lower max-slant
    altitude)`` and the ceiling ``min(upper max-slant altitude, max_msl)`` with the slant-range altitude of the module
    docstring (Doerry 2013, law of cosines on the effective-earth sphere); an empty interval is stored as ``(+inf, -inf)``.
    Returns the per-component floors and ceilings (float32, shape (K, rows, cols)), the
    union's lowest floor and highest ceiling, and whether any cell's union has a gap.
    """
    n_comp = limits.shape[0]
    rows, cols = los_floor.shape
    floors = np.empty((n_comp, rows, cols), dtype=np.float32)
    ceilings = np.empty((n_comp, rows, cols), dtype=np.float32)
    union_floor = np.empty((rows, cols), dtype=np.float32)
    union_ceiling = np.empty((rows, cols), dtype=np.float32)
    gap_rows = np.zeros(rows, dtype=np.bool_)
    a_m = re_m + antenna_altitude_m
    for r in numba.prange(rows):
        fl_local = np.empty(n_comp)
        ce_local = np.empty(n_comp)
        for c in range(cols):
            f0 = los_floor[r, c]
            phi = ground_range[r, c] / re_m
            perpendicular = a_m * math.sin(phi)
            base = a_m * math.cos(phi) - re_m
            lowest = np.inf
            highest = -np.inf
            for k in range(n_comp):
                fl = np.inf
                ce = -np.inf
                if not math.isnan(f0):
                    fl = max(f0, terrain[r, c] + limits[k, 2])
                    if limits[k, 0] > 0.0:
                        under = limits[k, 0] * limits[k, 0] - perpendicular * perpendicular
                        if under >= 0.0:
                            fl = max(fl, base + math.sqrt(under))
                    under = limits[k, 1] * limits[k, 1] - perpendicular * perpendicular
                    if under >= 0.0:
                        # the slant-range sphere bounds the altitudes from both sides: its
                        # lower intersection raises the floor (a high antenna cannot reach
                        # targets far below it), its upper one is the ceiling
                        fl = max(fl, base - math.sqrt(under))
                        ce = min(base + math.sqrt(under), limits[k, 3])
                    if ce < fl:
                        fl = np.inf
                        ce = -np.inf
                floors[k, r, c] = fl
                ceilings[k, r, c] = ce
                fl_local[k] = fl
                ce_local[k] = ce
                lowest = min(lowest, fl)
                highest = max(highest, ce)
            union_floor[r, c] = lowest
            union_ceiling[r, c] = highest
            if n_comp > 1 and not gap_rows[r]:
                # sort the intervals by floor (insertion sort: K is a handful), then sweep:
                # a gap is an interval starting above everything reached so far
                for i in range(1, n_comp):
                    fk = fl_local[i]
                    ck = ce_local[i]
                    j = i - 1
                    while j >= 0 and fl_local[j] > fk:
                        fl_local[j + 1] = fl_local[j]
                        ce_local[j + 1] = ce_local[j]
                        j -= 1
                    fl_local[j + 1] = fk
                    ce_local[j + 1] = ck
                reach = ce_local[0]
                for i in range(1, n_comp):
                    if fl_local[i] == np.inf:
                        break
                    if fl_local[i] > reach:
                        gap_rows[r] = True
                        break
                    reach = max(reach, ce_local[i])
    return floors, ceilings, union_floor, union_ceiling, gap_rows.any()


def layer_components(names, los: LineOfSight, terrain_m, re_m, limits) -> tuple[EnvelopeComponent, ...]:
    """Envelope components of a layer (one per weapon or sensor), merged into one interval
    per cell when the union is gap-free everywhere (exact; half the work per query)."""
    if not names:
        return ()
    floors, ceilings, union_floor, union_ceiling, has_gap = _layer_intervals(
        los.floor_msl_m, np.ascontiguousarray(terrain_m, dtype=np.float32), los.ground_range_m,
        float(los.antenna_altitude_msl_m), float(re_m), np.asarray(limits, dtype=np.float64).reshape(-1, 4),
    )
    if len(names) == 1 or not has_gap:
        return (EnvelopeComponent(names[0] if len(names) == 1 else "union", union_floor, union_ceiling),)
    return tuple(EnvelopeComponent(name, floors[k], ceilings[k]) for k, name in enumerate(names))


def unit_max_range_m(figures: UnitFigures) -> float:
    """A unit's farthest range, sensor or weapon: what its line of sight is computed to. [m]"""
    return max([figures.detection_range_km or 0.0] + [w.max_range_km for w in figures.weapons]) * 1000.0


class _PlanAhead:
    """Plans the units' rays one unit ahead in a thread while the current unit's rays run.

    Planning is pyproj lattices and DEM reads, which release the GIL; the rays are numba
    kernels. The first plan also overlaps numba's start-up (loading its cached kernels takes
    0.5 s once per process). Units the envelope cache already answers get no plan; at most
    two plans are alive at a time (the current one and the next).
    """

    def __init__(self, grid: AnalysisGrid, todo: Sequence[UnitFigures], k_factor: float,
                 plan_ranges_m: dict[str, float], cache: EnvelopeCache | None):
        self._jobs: list = []
        for figures in todo:
            max_range_m = unit_max_range_m(figures)
            plan_range_m = plan_ranges_m.get(figures.unit_id)
            if max_range_m <= 0 or (cache is not None and cache.has(line_of_sight_key(
                    grid, figures.lat_deg, figures.lon_deg, figures.antenna_height_m, k_factor, max_range_m,
                    plan_range_m=plan_range_m))):
                self._jobs.append(None)
                continue
            self._jobs.append((grid, figures.lat_deg, figures.lon_deg, figures.antenna_height_m, k_factor,
                               max_range_m, plan_range_m))
        self._futures: dict = {}
        self._executor = None
        if any(job is not None for job in self._jobs):
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(1, thread_name_prefix="adcov-plan")
            self._submit_from(0)
            visibility.warm_up()

    def _submit_from(self, index: int) -> None:
        for i in range(index, len(self._jobs)):
            job = self._jobs[i]
            if job is not None:
                if i not in self._futures:
                    grid, lat, lon, height, k, max_range_m, plan_range_m = job
                    self._futures[i] = self._executor.submit(
                        plan_line_of_sight, grid, lat, lon, height, k, max_range_m, plan_range_m=plan_range_m)
                return

    def planned(self, index: int):
        """The plan of ``todo[index]`` (as ``compute_line_of_sight(planned=...)`` takes it),
        or None; also starts planning the next unit."""
        future = self._futures.get(index)
        if self._executor is not None:
            self._submit_from(index + 1)
        if future is None:
            return None

        def result():
            plan = future.result()
            self._futures.pop(index, None)  # hold no plan longer than its rays
            return plan

        return result

    def close(self) -> None:
        if self._executor is not None:
            for future in self._futures.values():
                future.cancel()
            self._executor.shutdown(wait=True)
            self._futures.clear()

    def __enter__(self) -> "_PlanAhead":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_unit_envelope(
    grid: AnalysisGrid,
    figures: UnitFigures,
    k_factor: float,
    *,
    earth_radius_m: float = EARTH_MEAN_RADIUS_M,
    cache: EnvelopeCache | None = None,
    plan_range_m: float | None = None,
    planned: "Callable[[], RayPlan] | None" = None,
) -> UnitEnvelope:
    """Detection and engagement envelopes of one unit (see the module docstring);
    ``plan_range_m`` and ``planned``: see :func:`compute_line_of_sight`."""
    max_range_m = unit_max_range_m(figures)
    if max_range_m <= 0:
        raise AdcovError(f"unit {figures.unit_id}: no range to compute (no detection or weapon range known)")
    los = compute_line_of_sight(
        grid,
        figures.lat_deg,
        figures.lon_deg,
        figures.antenna_height_m,
        k_factor,
        max_range_m,
        earth_radius_m=earth_radius_m,
        cache=cache,
        plan_range_m=plan_range_m,
        planned=planned,
    )
    re_m = effective_radius_m(k_factor, earth_radius_m)
    rows, cols = los.window
    terrain = analysis_terrain(grid, rows.start, rows.stop, cols.start, cols.stop)
    layers: dict[str, tuple[EnvelopeComponent, ...]] = {}
    if figures.detection_range_km:
        layers["detection"] = layer_components(
            [figures.detection_name], los, terrain, re_m, [(0.0, figures.detection_range_km * 1000.0, 0.0, math.inf)]
        )
    else:
        layers["detection"] = ()
    layers["engagement"] = layer_components(
        [w.id for w in figures.weapons], los, terrain, re_m,
        [(w.min_range_km * 1000.0, w.max_range_km * 1000.0, w.min_target_altitude_agl_m, w.max_target_altitude_msl_m)
         for w in figures.weapons],
    )
    return UnitEnvelope(figures.unit_id, figures, los, layers)


# --------------------------------------------------------------------------- the coverage model


@dataclass
class Coverage:
    """Envelopes of a scenario's units on one analysis grid, and the queries over them."""

    grid: AnalysisGrid
    envelopes: dict[str, UnitEnvelope]
    k_factor: float
    earth_radius_m: float = EARTH_MEAN_RADIUS_M
    scenario_name: str = ""
    notes: list[str] = field(default_factory=list)
    #: Per unit, where its site and dates come from (status, dates, position precision,
    #: placement source ids): what the scenario file says, for reports to cite.
    placements: dict[str, dict] = field(default_factory=dict)
    #: The scenario's own sources (``sources:`` of the file), by id.
    placement_sources: dict[str, dict] = field(default_factory=dict)

    def __repr__(self) -> str:
        g = self.grid
        ew_m, ns_m = g.cell_size_m
        return (f"<Coverage {self.scenario_name!r}: {len(self.envelopes)} units ({', '.join(self.envelopes)}) on a "
                f"{g.n_rows} x {g.n_cols} grid of ~{ew_m:.0f} x {ns_m:.0f} m cells, k = {self.k_factor:.4g}>")

    @property
    def unit_ids(self) -> list[str]:
        return list(self.envelopes)

    def subset(self, unit_ids: Iterable[str]) -> "Coverage":
        """The same grid and envelopes restricted to some units (no recomputation)."""
        ids = self._units(unit_ids)
        return Coverage(self.grid, {u: self.envelopes[u] for u in self.unit_ids if u in ids}, self.k_factor,
                        self.earth_radius_m, self.scenario_name, list(self.notes),
                        {u: p for u, p in self.placements.items() if u in ids}, dict(self.placement_sources))

    def without(self, unit_ids: Iterable[str]) -> "Coverage":
        """The coverage with some units withdrawn (unknown ids are an error)."""
        gone = set(self._units(unit_ids))
        return self.subset([u for u in self.unit_ids if u not in gone])

    def _units(self, units: Iterable[str] | None) -> list[str]:
        if units is None:
            return self.unit_ids
        units = list(units)
        unknown = [u for u in units if u not in self.envelopes]
        if unknown:
            raise AdcovError(f"unknown unit id(s) {', '.join(unknown)}; valid: {', '.join(self.unit_ids)}")
        return units

    def _altitude_msl(self, env: UnitEnvelope, altitude_m: float, altitude_ref: str):
        if altitude_ref == "msl":
            return np.float32(altitude_m)
        return self.grid.elevation_m[env.window] + np.float32(altitude_m)

    def unit_covered(self, unit_id: str, layer: str, altitude_m: float, altitude_ref: str = "msl") -> np.ndarray:
        """Full-grid boolean mask of the cells one unit covers."""
        hit = self.unit_covered_in_window(unit_id, layer, altitude_m, altitude_ref)
        out = np.zeros(self.grid.shape, dtype=bool)
        out[self.envelopes[unit_id].window] = hit
        return out

    def unit_covered_km2(self, unit_id: str, layer: str, altitude_m: float, altitude_ref: str = "msl") -> float:
        """Area one unit covers (inside the area of interest): ``area_km2(unit_covered(...))``
        without building the full-grid mask. [km^2]"""
        _check_choice("layer", layer, LAYERS)
        _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
        env = self.envelopes[self._units([unit_id])[0]]
        components = env.layers[layer]
        if len(components) != 1:
            return self.area_km2(self.unit_covered(unit_id, layer, altitude_m, altitude_ref))
        rows, cols = env.window
        is_agl = altitude_ref == "agl"
        comp = components[0]
        terrain = np.ascontiguousarray(self.grid.elevation_m[env.window], dtype=np.float32) if is_agl else comp.floor_msl_m
        return float(_covered_area_m2(self.grid.n_rows, rows.start, cols.start, comp.floor_msl_m, comp.ceiling_msl_m,
                                      terrain, np.float32(altitude_m), is_agl, self.grid.cell_area_m2) / 1e6)

    def unit_covered_in_window(self, unit_id: str, layer: str, altitude_m: float, altitude_ref: str = "msl") -> np.ndarray:
        """The cells one unit covers, inside its envelope's window only
        (``grid[envelopes[unit_id].window]``; every covered cell lies there)."""
        _check_choice("layer", layer, LAYERS)
        _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
        env = self.envelopes[self._units([unit_id])[0]]
        hit = env.covered(layer, self._altitude_msl(env, altitude_m, altitude_ref))
        inside = self.grid.inside_area
        if inside is not None:
            hit &= inside[env.window]
        return hit

    def depth(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units: Iterable[str] | None = None) -> np.ndarray:
        """Number of active units covering each cell (uint16)."""
        _check_choice("layer", layer, LAYERS)
        _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
        depth = np.zeros(self.grid.shape, dtype=np.uint16)
        for unit_id in self._units(units):
            env = self.envelopes[unit_id]
            terrain = self.grid.elevation_m[env.window] if altitude_ref == "agl" else None
            env.add_to_depth(depth, layer, altitude_m, terrain)
        return self._clip_to_area(depth)

    def _clip_to_area(self, values: np.ndarray, outside=0) -> np.ndarray:
        """Zero (or ``outside``) the cells outside the area of interest, in place."""
        inside = self.grid.inside_area
        if inside is not None:
            values[~inside] = outside
        return values

    def covered(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units: Iterable[str] | None = None) -> np.ndarray:
        """Cells covered by at least one active unit."""
        return self.depth(layer, altitude_m, altitude_ref, units) > 0

    def covering_units(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units: Iterable[str] | None = None) -> np.ndarray:
        """Bit mask per cell (uint64): bit ``i`` set when ``self.unit_ids[i]`` covers the cell."""
        ids = self._units(units)
        if len(self.unit_ids) > 64:
            raise AdcovError("covering_units supports at most 64 units per scenario")
        bits = np.zeros(self.grid.shape, dtype=np.uint64)
        for unit_id in ids:
            env = self.envelopes[unit_id]
            bit = np.uint64(1) << np.uint64(self.unit_ids.index(unit_id))
            hit = env.covered(layer, self._altitude_msl(env, altitude_m, altitude_ref))
            bits[env.window] |= np.where(hit, bit, np.uint64(0))
        return self._clip_to_area(bits)

    def units_at(self, row: int, col: int, layer: str, altitude_m: float, altitude_ref: str = "msl", units=None) -> list[str]:
        """Ids of the active units covering one analysis cell."""
        found = []
        inside = self.grid.inside_area
        if inside is not None and not inside[row, col]:
            return found
        for unit_id in self._units(units):
            env = self.envelopes[unit_id]
            rs, cs = env.window
            if rs.start <= row < rs.stop and cs.start <= col < cs.stop:
                lr, lc = row - rs.start, col - cs.start
                h = altitude_m if altitude_ref == "msl" else float(self.grid.elevation_m[row, col]) + altitude_m
                if any(c.floor_msl_m[lr, lc] <= h <= c.ceiling_msl_m[lr, lc] for c in env.layers[layer]):
                    found.append(unit_id)
        return found

    def sole_coverage(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units=None) -> np.ndarray:
        """Index into ``unit_ids`` of the only unit covering a cell; -1 where 0 or >= 2 cover it."""
        ids = self._units(units)
        depth = np.zeros(self.grid.shape, dtype=np.uint16)
        last = np.full(self.grid.shape, -1, dtype=np.int16)
        for unit_id in ids:
            env = self.envelopes[unit_id]
            hit = env.covered(layer, self._altitude_msl(env, altitude_m, altitude_ref))
            depth[env.window] += hit
            last[env.window] = np.where(hit, self.unit_ids.index(unit_id), last[env.window])
        return self._clip_to_area(np.where(depth == 1, last, -1).astype(np.int16), -1)

    def area_km2(self, mask: np.ndarray) -> float:
        """Geodesic area of the cells where ``mask`` is true (or > 0). [km^2]"""
        mask = np.asarray(mask)
        if mask.shape != self.grid.shape:
            raise AdcovError(f"mask shape {mask.shape} is not the analysis grid's {self.grid.shape}")
        if mask.dtype == np.bool_:
            mask = mask.view(np.uint8)
        return float(area_where_positive_m2(mask, self.grid.cell_area_m2) / 1e6)

    def polygons(self, mask: np.ndarray, *, lonlat: bool = False):
        """Polygons of a mask: shapely MultiPolygon in the grid's equal-area CRS [m], or
        transformed to lon/lat [deg] with ``lonlat=True``. Returns ``(geometry, crs)``."""
        geometry, crs = mask_polygons(self.grid, mask)
        if lonlat:
            return to_lonlat(geometry, crs), pyproj.CRS.from_epsg(4326)
        return geometry, crs

    def covered_km2(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units=None) -> float:
        """Area covered by at least one active unit. [km^2]"""
        return self.area_km2(self.depth(layer, altitude_m, altitude_ref, units))

    def analysis_area(self) -> dict:
        """How the analysis area was chosen and, per unit, the fraction of its nominal disk
        outside it (``units.<id>.disk_fraction_outside``, 0-1)."""
        cached = self.__dict__.get("_analysis_area")
        if cached is not None:
            return cached
        from simulator.analysis_area import UnitDisk, disk_fraction_outside

        grid = self.grid
        kinds = {"area": "the scenario's area (a box)", "disks": "the union of the units' largest nominal disks",
                 "dem": "the whole terrain"}
        units = {}
        for uid, env in self.envelopes.items():
            f = env.figures
            radius_km = max([f.detection_range_km or 0.0] + [w.max_range_km for w in f.weapons])
            fraction = disk_fraction_outside(grid, UnitDisk(uid, f.lat_deg, f.lon_deg, radius_km * 1000.0))
            units[uid] = {"nominal_radius_km": radius_km, "disk_fraction_outside": round(fraction, 4)}
        result = {
            "extent": grid.extent,
            "described": kinds.get(grid.extent, grid.extent),
            "area_bounds_deg": list(grid.area_bounds_deg) if grid.area_bounds_deg is not None else None,
            "outside_terrain": getattr(grid.terrain, "outside_terrain", "error"),
            "units": units,
        }
        self.__dict__["_analysis_area"] = result
        return result

    def assumptions(self) -> dict:
        """Everything an analyst must cite: k, terrain, grid, per-unit figures and defaults."""
        terrain = self.grid.terrain
        dem_dx_m, dem_dy_m = self.grid.dem_cell_size_m
        return {
            "k_factor": self.k_factor,
            "earth_radius_m": self.earth_radius_m,
            "terrain": terrain.describe() if hasattr(terrain, "describe") else str(terrain.source_paths),
            "terrain_sources": [str(p) for p in terrain.source_paths],
            "dem_spacing_m": [round(dem_dx_m, 1), round(dem_dy_m, 1)],
            "analysis_grid": {
                "rows": self.grid.n_rows,
                "cols": self.grid.n_cols,
                "cell_size_m": [round(v, 1) for v in self.grid.cell_size_m],
                "dem_cells_per_cell": self.grid.factor,
                "resolution_rule": self.grid.resolution_rule,
                "rays_sample": "the DEM at its own spacing (never the analysis grid)",
                "bounds_deg": [round(v, 5) for v in self.grid.bounds_deg],
                "crs": self.grid.crs.to_string(),
            },
            "analysis_area": self.analysis_area(),
            "units": {uid: env.figures.to_dict() for uid, env in self.envelopes.items()},
            "placements": {uid: dict(self.placements[uid]) for uid in self.envelopes if uid in self.placements},
            "notes": list(self.notes),
        }


def build_coverage(
    scenario,
    *,
    range_mode: str = "nominal",
    cache: EnvelopeCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    terrain=None,
    catalog=None,
    grid: AnalysisGrid | None = None,
    reuse: "Coverage | None" = None,
    resolution_m: float | str | None = None,
    scheduler=None,
) -> Coverage:
    """Envelopes of every active unit of a scenario (line of sight cached on disk).

    Parameters
    ----------
    scenario : simulator.scenario.Scenario
        Loaded scenario (its ``units`` are the active ones).
    range_mode : {"nominal", "min", "max"}
        Which published figure of a spread to use.
    cache : EnvelopeCache, optional
        Disk cache; ``None`` computes everything.
    progress : callable(fraction, message), optional
    cancel : CancelToken, optional
    terrain : Terrain, optional
        Already opened terrain (else the scenario's files are opened).
    grid : AnalysisGrid, optional
        Use this analysis grid (the caller has checked it is the scenario's).
    reuse : Coverage, optional
        Envelopes on the same grid and sphere to take as they are for units whose resolved
        figures are equal (no line of sight recomputed for them).
    resolution_m : float or "native", optional
        Analysis spacing instead of the scenario's (see :mod:`simulator.analysis_area`).
    scheduler : None, "local", "tcp://HOST:PORT" or distributed.Client
        Where the envelopes are computed: in this process (None), or one Dask task per
        unit (:func:`simulator.sweep.run_tasks`); each worker reads its own DEM window and
        the results are the same bit for bit.
    """
    from simulator.analysis_area import open_scenario_terrain, scenario_grid
    from simulator.catalog import load_catalog

    catalog = catalog or load_catalog()
    if grid is None:
        if terrain is None:
            terrain = open_scenario_terrain(scenario)
        grid = scenario_grid(scenario, terrain, catalog, resolution_m=resolution_m)
    reusable = {}
    if reuse is not None and reuse.grid.key == grid.key and reuse.k_factor == scenario.k_factor and reuse.earth_radius_m == EARTH_MEAN_RADIUS_M:
        reusable = reuse.envelopes
    envelopes: dict[str, UnitEnvelope] = {}
    units = list(scenario.units)
    todo: list[UnitFigures] = []
    plans: dict[str, float] = {}
    for unit in units:
        system = catalog.get(unit.system_id)
        figures = resolve_unit_figures(unit, system, scenario.default_antenna_height_m, range_mode)
        plans[unit.id] = plan_range_m_for(unit, system, scenario.default_antenna_height_m)
        previous = reusable.get(unit.id)
        if previous is not None and previous.figures == figures:
            envelopes[unit.id] = previous
        else:
            todo.append(figures)
    if scheduler is None:
        with _PlanAhead(grid, todo, scenario.k_factor, plans, cache) as ahead:
            for i, figures in enumerate(todo):
                if cancel is not None and cancel.cancelled:
                    raise ComputationCancelled("computation cancelled")
                if progress:
                    reach_km = plans[figures.unit_id] / 1000.0
                    progress(i / max(len(todo), 1),
                             f"line of sight {i + 1}/{len(todo)}: {figures.unit_id} ({figures.system_name}, {reach_km:g} km)")
                envelopes[figures.unit_id] = build_unit_envelope(grid, figures, scenario.k_factor, cache=cache,
                                                                 plan_range_m=plans[figures.unit_id],
                                                                 planned=ahead.planned(i))
    elif todo:
        from simulator.sweep import run_tasks

        cache_dir = str(cache.directory) if cache is not None and cache.enabled else None
        cap = cache.max_bytes if cache_dir is not None else None
        items = [EnvelopeTask(grid, figures, float(scenario.k_factor), EARTH_MEAN_RADIUS_M, cache_dir, plans[figures.unit_id], cap)
                 for figures in todo]
        for figures, envelope in zip(todo, run_tasks(compute_envelope_task, items, scheduler=scheduler,
                                                     progress=progress, cancel=cancel, label="envelopes"), strict=True):
            envelopes[figures.unit_id] = envelope
    # file order, whatever order they were computed or reused in
    envelopes = {unit.id: envelopes[unit.id] for unit in units}
    if progress:
        progress(1.0, "envelopes ready")
    placements = {unit.id: _placement(unit) for unit in units}
    cited = {sid for p in placements.values() for sid in p["sources"]}
    placement_sources = {
        sid: {k: (v if isinstance(v, (str, int, float)) or v is None else str(v)) for k, v in dict(entry).items()}
        for sid, entry in (scenario.sources or {}).items()
        if sid in cited
    }
    return Coverage(grid, envelopes, scenario.k_factor, scenario_name=scenario.name, notes=[],
                    placements=placements, placement_sources=placement_sources)


def plan_range_m_for(unit, system, default_antenna_height_m) -> float:
    """The range a unit's rays are planned for: the top of its published spread, so that its
    min, nominal and max range modes share one line-of-sight floor. [m]"""
    widest = resolve_unit_figures(unit, system, default_antenna_height_m, "max")
    return 1000.0 * max([widest.detection_range_km or 0.0] + [w.max_range_km for w in widest.weapons])


@dataclass(frozen=True)
class EnvelopeTask:
    """One unit's envelope, as a Dask task: the grid travels as metadata (file paths and
    placement), and the worker reads its own DEM window."""

    grid: AnalysisGrid
    figures: UnitFigures
    k_factor: float
    earth_radius_m: float
    cache_dir: str | None
    plan_range_m: float | None = None
    cache_max_bytes: int | None = None


def compute_envelope_task(task: EnvelopeTask) -> UnitEnvelope:
    """Run one :class:`EnvelopeTask` (in this process or on a Dask worker)."""
    cache = EnvelopeCache(task.cache_dir, max_bytes=task.cache_max_bytes) if task.cache_dir is not None else None
    return build_unit_envelope(task.grid, task.figures, task.k_factor, earth_radius_m=task.earth_radius_m, cache=cache,
                               plan_range_m=task.plan_range_m)


def _placement(unit) -> dict:
    """What a scenario says about a unit's site and dates (for reports)."""
    return {
        "status": unit.status,
        "deployed": unit.deployed.isoformat() if unit.deployed else None,
        "withdrawn": unit.withdrawn.isoformat() if unit.withdrawn else None,
        "position_precision_km": unit.position_precision_km,
        "sources": list(unit.sources),
        "dates_note": unit.dates_note or "",
    }


def summarize(
    coverage: Coverage,
    *,
    layers: Sequence[str] = LAYERS,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    units: Iterable[str] | None = None,
) -> dict:
    """Areas per layer and altitude: ``layers.<layer>[]`` with ``altitude_m``,
    ``altitude_ref``, ``covered_km2``, ``max_depth`` and ``by_unit_km2``."""
    _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
    ids = coverage._units(units)
    result: dict = {"scenario": coverage.scenario_name, "layers": {}, "assumptions": coverage.assumptions()}
    for layer in layers:
        _check_choice("layer", layer, LAYERS)
        rows = []
        for altitude_m in altitudes_m:
            depth = coverage.depth(layer, altitude_m, altitude_ref, ids)
            by_unit = {uid: coverage.unit_covered_km2(uid, layer, altitude_m, altitude_ref) for uid in ids}
            rows.append(
                {
                    "altitude_m": float(altitude_m),
                    "altitude_ref": altitude_ref,
                    "covered_km2": coverage.area_km2(depth),
                    "max_depth": int(depth.max()) if depth.size else 0,
                    "by_unit_km2": by_unit,
                }
            )
        result["layers"][layer] = rows
    return result

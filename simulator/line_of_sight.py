"""Line of sight from one antenna: the lowest visible altitude over every analysis cell in range.

:func:`compute_line_of_sight` gives a site's :class:`LineOfSight` (cached on disk by content,
:func:`line_of_sight_key`): :func:`plan_line_of_sight` makes a :class:`RayPlan` (which cells,
which rays, the lattices mapping the site's azimuthal equidistant frame to the DEM, the DEM
window) and :func:`trace_line_of_sight` runs its rays through the numba kernels of
:mod:`simulator.visibility`, whose docstrings hold the formulas. :class:`_PlanAhead` plans the
next unit in a thread while the current one's rays run.

The sampling constants below are read when a plan is made (:mod:`simulator.coverage`
re-exports them: setting one there sets it here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator import visibility
from simulator.cache import EnvelopeCache, cache_key
from simulator.errors import AdcovError, NothingInRangeError
from simulator.geometry import (
    EARTH_MEAN_RADIUS_M,
    K_FACTOR_MAX,
    K_FACTOR_MIN,
    AnalysisGrid,
    SiteFrame,
    effective_radius_m,
)


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
        :func:`simulator.coverage.build_coverage`); called only when the cache does not answer.

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
    :func:`simulator.coverage.build_coverage` plans the next unit in a thread (:class:`_PlanAhead`)
    while this one's rays run.
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


class _PlanAhead:
    """Plans the units' rays one unit ahead in a thread while the current unit's rays run.

    Planning is pyproj lattices and DEM reads, which release the GIL; the rays are numba
    kernels. The first plan also overlaps numba's start-up (loading its cached kernels takes
    0.5 s once per process). Units the envelope cache already answers get no plan; at most
    two plans are alive at a time (the current one and the next).
    """

    def __init__(self, grid: AnalysisGrid, sites: Sequence[tuple[float, float, float, float, float | None]],
                 k_factor: float, cache: EnvelopeCache | None):
        """``sites``: per unit, in the order its rays will run, ``(lat_deg, lon_deg,
        antenna_height_m, max_range_m, plan_range_m)`` (as :func:`compute_line_of_sight`)."""
        self._jobs: list = []
        for lat_deg, lon_deg, antenna_height_m, max_range_m, plan_range_m in sites:
            if max_range_m <= 0 or (cache is not None and cache.has(line_of_sight_key(
                    grid, lat_deg, lon_deg, antenna_height_m, k_factor, max_range_m,
                    plan_range_m=plan_range_m))):
                self._jobs.append(None)
                continue
            self._jobs.append((grid, lat_deg, lon_deg, antenna_height_m, k_factor,
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
        """The plan of ``sites[index]`` (as ``compute_line_of_sight(planned=...)`` takes it),
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

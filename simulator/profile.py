"""Line-of-sight profile from one unit's antenna to one point: why a cell's floor is what it is.

The envelope (:mod:`simulator.coverage`) stores, for every cell, the lowest altitude a unit
sees there; this module explains one of those numbers along the geodesic from the antenna to
the point, with the same model as the kernel (:mod:`simulator.visibility`):

* the antenna stands at ``H0 = terrain(site) + antenna_height_m`` [m MSL];
* the path is the WGS84 geodesic from the site to the point (Karney 2013, through
  :class:`pyproj.Geod`), sampled every few metres; terrain is bilinear between cell centres,
  as the kernel samples it;
* earth curvature and standard refraction use the effective-earth model ``R_eff = k R``: a
  point at ground range ``s`` lies ``s**2 / (2 R_eff)`` below the antenna's tangent plane
  ([1]_ ch. 8, [2]_);
* the elevation angle of the terrain seen from the antenna is

      tan(theta(s)) = (z(s) - s**2 / (2 R_eff) - H0) / s                                   (1)

  and the floor at range ``s`` is

      floor(s) = max(z(s), H0 + s * M(s) + s**2 / (2 R_eff))                               (2)

  with ``M(s)`` the largest ``tan(theta)`` of the terrain in front of ``s`` ([3]_, and
  :mod:`simulator.visibility` Eq. (1)-(2)). As in the kernel, terrain within half a cell of
  the antenna (its own cell) or within half a cell before the point (the point's own cell)
  does not mask.

The *sight line* is the straight ray (straight in the antenna's tangent-plane frame) from the
antenna to the point's floor; it grazes the terrain at the *masking sample*, the sample that
attains ``M``. In the classic radio-profile chart one plots heights plus the earth bulge
``s (D - s) / (2 R_eff)`` (``D`` the path length): the sight line is then a straight segment
and the sea surface an arc ([1]_ ch. 8); :attr:`LineOfSightProfile.earth_bulge_m` gives
that offset.

The profile samples the true geodesic densely, while the envelope interpolates between the
two rays that bracket a cell's azimuth; the two agree to the terrain's interpolation error
(tests/test_profile.py measures it).

References
----------
.. [1] Skolnik, M. I., *Introduction to Radar Systems*, 3rd ed., McGraw-Hill, 2001,
       ch. 8 (propagation over a spherical earth; 4/3 earth radius).
.. [2] Doerry, A. W., "Earth Curvature and Atmospheric Refraction Effects on Radar Signal
       Propagation", Sandia Report SAND2012-10690, 2013.
.. [3] Franklin, W. R. and Ray, C., "Higher isn't necessarily better: visibility
       algorithms and experiments", 6th Int. Symp. on Spatial Data Handling, 1994.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from simulator.errors import AdcovError
from simulator.geometry import EARTH_MEAN_RADIUS_M, WGS84_GEOD, effective_radius_m

__all__ = ["LineOfSightProfile", "line_of_sight_profile"]

#: Samples per (smaller) analysis-cell side along the profile by default.
SAMPLES_PER_CELL = 8.0
#: Most samples a profile takes by default.
MAX_SAMPLES = 50_000


@dataclass(frozen=True)
class LineOfSightProfile:
    """One unit's line of sight to one point, sampled along the geodesic.

    Arrays have one value per sample, from the site (index 0) to the point (index -1).
    Altitudes are metres above mean sea level (``_msl_m``), heights of terrain ``terrain_m``.
    """

    unit_id: str
    site_lat_deg: float
    site_lon_deg: float
    target_lat_deg: float
    target_lon_deg: float
    #: Geodesic distance from the site. [m]
    ground_range_m: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    #: Terrain elevation, bilinear. [m MSL]
    terrain_m: np.ndarray
    #: ``s**2 / (2 R_eff)``: how far below the antenna's tangent plane sea level lies. [m]
    curvature_drop_m: np.ndarray
    #: ``s (D - s) / (2 R_eff)``: add to altitudes to draw the sight line straight. [m]
    earth_bulge_m: np.ndarray
    #: Lowest visible altitude at each sample, Eq. (2). [m MSL]
    floor_msl_m: np.ndarray
    #: Altitude of the straight ray from the antenna to the point's floor. [m MSL]
    sight_line_msl_m: np.ndarray
    site_terrain_m: float
    antenna_height_m: float
    antenna_altitude_msl_m: float
    #: Floor at the point: the lowest altitude the unit sees there. [m MSL]
    target_floor_msl_m: float
    #: Terrain at the point. [m MSL]
    target_terrain_m: float
    #: Index of the sample that masks the point (None: the point's ground is visible).
    masking_index: int | None
    k_factor: float
    effective_radius_m: float
    #: The unit's sensor/weapon reach (largest range of its figures). [m]
    max_range_m: float
    #: Analysis cell of the point, when it lies on the grid.
    target_row: int | None = None
    target_col: int | None = None
    #: The unit's envelope line-of-sight floor at that cell (when a coverage was given). [m MSL]
    envelope_floor_msl_m: float | None = None

    @property
    def path_length_m(self) -> float:
        """Geodesic distance from the site to the point. [m]"""
        return float(self.ground_range_m[-1])

    @property
    def masked(self) -> bool:
        """Whether terrain (or the earth's curvature) lifts the floor above the ground."""
        return self.masking_index is not None

    @property
    def masking_range_m(self) -> float | None:
        """Ground range of the masking sample. [m]"""
        return None if self.masking_index is None else float(self.ground_range_m[self.masking_index])

    @property
    def beyond_range(self) -> bool:
        """Whether the point lies beyond the unit's largest range."""
        return self.path_length_m > self.max_range_m


def _grid_of(coverage_or_grid):
    grid = getattr(coverage_or_grid, "grid", None)
    if grid is not None:
        return grid, coverage_or_grid
    return coverage_or_grid, None


# The steps' results below are named field for field as LineOfSightProfile's, so that
# line_of_sight_profile assembles the profile from them by name.


class _PathEnds(NamedTuple):
    """The site with its antenna, and the point, each with the terrain under it."""

    site_lat_deg: float
    site_lon_deg: float
    target_lat_deg: float
    target_lon_deg: float
    site_terrain_m: float
    target_terrain_m: float
    antenna_height_m: float
    antenna_altitude_msl_m: float


class _PathSamples(NamedTuple):
    """Samples of the geodesic from the site (index 0) to the point (index -1)."""

    ground_range_m: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray


class _Horizon(NamedTuple):
    """Curvature, floor, masking sample and sight line along the sampled path."""

    curvature_drop_m: np.ndarray
    earth_bulge_m: np.ndarray
    floor_msl_m: np.ndarray
    sight_line_msl_m: np.ndarray
    target_floor_msl_m: float
    masking_index: int | None


class _TargetCell(NamedTuple):
    """The point's analysis cell and the unit's envelope floor there."""

    target_row: int | None
    target_col: int | None
    envelope_floor_msl_m: float | None


def line_of_sight_profile(
    coverage_or_grid,
    unit_figures,
    k_factor: float,
    lat_deg: float,
    lon_deg: float,
    n_samples: int | None = None,
    *,
    earth_radius_m: float | None = None,
) -> LineOfSightProfile:
    """Terrain, curvature, floor and sight line from a unit's antenna to a point.

    Parameters
    ----------
    coverage_or_grid : simulator.coverage.Coverage or simulator.geometry.AnalysisGrid
        The terrain and grid (a Coverage also gives the unit's envelope floor at the point,
        for comparison, and its earth radius).
    unit_figures : simulator.figures.UnitFigures
        The unit: site, antenna height above ground and ranges.
    k_factor : float
        Effective earth radius factor (4/3 standard refraction, 1 geometric).
    lat_deg, lon_deg : float
        The point (target). [deg]
    n_samples : int, optional
        Samples along the path, both ends included (default: :data:`SAMPLES_PER_CELL` per
        analysis cell, at most :data:`MAX_SAMPLES`).
    earth_radius_m : float, optional
        Earth radius the curvature uses (default the coverage's, else the mean radius). [m]

    Returns
    -------
    LineOfSightProfile

    Raises
    ------
    AdcovError
        Bad ``k_factor`` or ``n_samples``; :class:`~simulator.errors.OutsideTerrainError`
        when the site or the point lies off the terrain.

    Notes
    -----
    Equations (1) and (2) of the module docstring; the running maximum ``M`` is taken over
    the samples at least half a cell from the antenna and at least half a cell before the
    sample it masks (the same own-cell rules as :func:`simulator.line_of_sight.compute_line_of_sight`).
    """
    if not (k_factor > 0 and math.isfinite(k_factor)):
        raise AdcovError(f"k_factor: expected a number > 0, got {k_factor}")
    grid, coverage = _grid_of(coverage_or_grid)
    if earth_radius_m is None:
        earth_radius_m = float(getattr(coverage, "earth_radius_m", EARTH_MEAN_RADIUS_M))
    eff_radius_m = effective_radius_m(k_factor, earth_radius_m)
    ends = _path_ends(grid.terrain, unit_figures, lat_deg, lon_deg)
    min_cell_m = float(min(grid.cell_size_m))
    path = _sample_geodesic(ends, min_cell_m, n_samples)
    terrain_m = _terrain_along(grid.terrain, path, ends)
    horizon = _horizon(path.ground_range_m, terrain_m, ends, eff_radius_m, min_cell_m)
    max_range_m = _max_range_m(unit_figures)
    cell = _target_cell(grid, coverage, unit_figures.unit_id, ends.target_lat_deg, ends.target_lon_deg)
    return LineOfSightProfile(
        unit_id=str(unit_figures.unit_id),
        **ends._asdict(),
        **path._asdict(),
        terrain_m=terrain_m,
        **horizon._asdict(),
        k_factor=float(k_factor),
        effective_radius_m=eff_radius_m,
        max_range_m=max_range_m,
        **cell._asdict(),
    )


def _path_ends(terrain, unit_figures, lat_deg: float, lon_deg: float) -> _PathEnds:
    """Site, point, the terrain under each and the antenna's altitude ``H0`` [m MSL]."""
    site_lat_deg, site_lon_deg = float(unit_figures.lat_deg), float(unit_figures.lon_deg)
    site_terrain_m = float(terrain.sample_m(site_lat_deg, site_lon_deg))
    target_terrain_m = float(terrain.sample_m(float(lat_deg), float(lon_deg)))
    antenna_height_m = float(unit_figures.antenna_height_m)
    return _PathEnds(
        site_lat_deg=site_lat_deg,
        site_lon_deg=site_lon_deg,
        target_lat_deg=float(lat_deg),
        target_lon_deg=float(lon_deg),
        site_terrain_m=site_terrain_m,
        target_terrain_m=target_terrain_m,
        antenna_height_m=antenna_height_m,
        antenna_altitude_msl_m=site_terrain_m + antenna_height_m,
    )


def _sample_count(path_length_m: float, min_cell_m: float, n_samples: int | None) -> int:
    """Samples along the path: ``n_samples``, else :data:`SAMPLES_PER_CELL` per cell."""
    if n_samples is None:
        n_samples = int(min(max(math.ceil(path_length_m / (min_cell_m / SAMPLES_PER_CELL)) + 1, 2), MAX_SAMPLES))
    if int(n_samples) < 2:
        raise AdcovError(f"n_samples: expected an integer >= 2, got {n_samples}")
    return int(n_samples)


def _sample_geodesic(ends: _PathEnds, min_cell_m: float, n_samples: int | None) -> _PathSamples:
    """Evenly spaced points of the WGS84 geodesic (Karney 2013) from the site to the point."""
    azimuth_deg, _, path_length_m = WGS84_GEOD.inv(
        ends.site_lon_deg, ends.site_lat_deg, ends.target_lon_deg, ends.target_lat_deg
    )
    path_length_m = float(path_length_m)
    n = _sample_count(path_length_m, min_cell_m, n_samples)
    ground_range_m = np.linspace(0.0, path_length_m, n)
    lon_s, lat_s, _ = WGS84_GEOD.fwd(
        np.full(n, ends.site_lon_deg), np.full(n, ends.site_lat_deg), np.full(n, float(azimuth_deg)), ground_range_m
    )
    lon_s = np.asarray(lon_s, dtype=float)
    lat_s = np.asarray(lat_s, dtype=float)
    # the ends as given, not as the forward problem rounds them
    lon_s[0], lat_s[0] = ends.site_lon_deg, ends.site_lat_deg
    lon_s[-1], lat_s[-1] = ends.target_lon_deg, ends.target_lat_deg
    return _PathSamples(ground_range_m=ground_range_m, lat_deg=lat_s, lon_deg=lon_s)


def _terrain_along(terrain, path: _PathSamples, ends: _PathEnds) -> np.ndarray:
    """Terrain at every sample, bilinear (NaN off the terrain). [m MSL]"""
    terrain_m = np.asarray(terrain.sample_m(path.lat_deg, path.lon_deg, outside="nan"), dtype=float)
    # the ends exactly as the site and point were sampled
    terrain_m[0], terrain_m[-1] = ends.site_terrain_m, ends.target_terrain_m
    return terrain_m


def _masking_slopes(ground_range_m, terrain_m, curvature_drop_m, antenna_altitude_msl_m: float, min_cell_m: float):
    """Eq. (1)'s ``tan(theta)`` where a sample may mask (else -inf); per sample, the last that may mask it."""
    from simulator.line_of_sight import OBSERVER_CELL_FRACTION, OWN_CELL_FRACTION

    s = ground_range_m
    with np.errstate(divide="ignore", invalid="ignore"):
        tan_theta = (terrain_m - curvature_drop_m - antenna_altitude_msl_m) / s  # Eq. (1)
    own_obs_m = OBSERVER_CELL_FRACTION * min_cell_m
    own_cell_m = OWN_CELL_FRACTION * min_cell_m
    eligible = (s >= own_obs_m) & np.isfinite(tan_theta)
    tan_masking = np.where(eligible, tan_theta, -np.inf)
    # for sample j the masking samples are those with s <= s_j - own_cell_m (-1: none)
    last_masking = np.searchsorted(s, s - own_cell_m, side="right") - 1
    return tan_masking, last_masking


def _horizon(ground_range_m, terrain_m, ends: _PathEnds, eff_radius_m: float, min_cell_m: float) -> _Horizon:
    """Curvature drop and bulge, floor (Eq. (2)), masking sample and sight line."""
    s = ground_range_m
    path_length_m = float(s[-1])  # linspace ends exactly on the geodesic distance
    antenna_alt_m = ends.antenna_altitude_msl_m
    drop = s * s / (2.0 * eff_radius_m)  # [1] ch. 8, [2]
    bulge = s * (path_length_m - s) / (2.0 * eff_radius_m)
    tan_masking, last_masking = _masking_slopes(s, terrain_m, drop, antenna_alt_m, min_cell_m)
    running = np.maximum.accumulate(tan_masking)
    m = np.where(last_masking >= 0, running[np.clip(last_masking, 0, None)], -np.inf)
    with np.errstate(invalid="ignore"):
        line_floor = antenna_alt_m + s * m + drop  # Eq. (2)
    line_floor = np.where(np.isfinite(line_floor), line_floor, -np.inf)
    floor = np.maximum(line_floor, np.where(np.isfinite(terrain_m), terrain_m, -np.inf))

    target_floor = float(floor[-1])
    masking_index: int | None = None
    if line_floor[-1] > ends.target_terrain_m and last_masking[-1] >= 0:
        masking_index = int(np.argmax(tan_masking[: int(last_masking[-1]) + 1]))
    if path_length_m > 0:
        tan_target = (target_floor - drop[-1] - antenna_alt_m) / path_length_m
    else:
        tan_target = 0.0
    return _Horizon(
        curvature_drop_m=drop,
        earth_bulge_m=bulge,
        floor_msl_m=floor,
        sight_line_msl_m=antenna_alt_m + s * tan_target + drop,
        target_floor_msl_m=target_floor,
        masking_index=masking_index,
    )


def _max_range_m(unit_figures) -> float:
    """The unit's largest range, sensor or weapon. [m]"""
    ranges_km = [unit_figures.detection_range_km or 0.0] + [w.max_range_km for w in unit_figures.weapons]
    return max(ranges_km) * 1000.0


def _target_cell(grid, coverage, unit_id, lat_deg: float, lon_deg: float) -> _TargetCell:
    """The point's cell (None off the grid) and the unit's envelope floor there (None without one)."""
    r_f, c_f = grid.lonlat_to_pixel(lon_deg, lat_deg)
    row, col = round(float(r_f)), round(float(c_f))
    if not (0 <= row < grid.n_rows and 0 <= col < grid.n_cols):
        return _TargetCell(target_row=None, target_col=None, envelope_floor_msl_m=None)
    env = coverage.envelopes.get(unit_id) if coverage is not None else None
    envelope_floor = None
    if env is not None:
        rows, cols = env.los.window
        if rows.start <= row < rows.stop and cols.start <= col < cols.stop:
            value = float(env.los.floor_msl_m[row - rows.start, col - cols.start])
            envelope_floor = value if math.isfinite(value) else None
    return _TargetCell(target_row=row, target_col=col, envelope_floor_msl_m=envelope_floor)

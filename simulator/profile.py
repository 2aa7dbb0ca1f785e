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
    from simulator.line_of_sight import OBSERVER_CELL_FRACTION, OWN_CELL_FRACTION

    if not (k_factor > 0 and math.isfinite(k_factor)):
        raise AdcovError(f"k_factor: expected a number > 0, got {k_factor}")
    grid, coverage = _grid_of(coverage_or_grid)
    if earth_radius_m is None:
        earth_radius_m = float(getattr(coverage, "earth_radius_m", EARTH_MEAN_RADIUS_M))
    re_m = effective_radius_m(k_factor, earth_radius_m)
    terrain = grid.terrain
    site_lat, site_lon = float(unit_figures.lat_deg), float(unit_figures.lon_deg)
    site_ground_m = float(terrain.sample_m(site_lat, site_lon))
    target_ground_m = float(terrain.sample_m(float(lat_deg), float(lon_deg)))
    antenna_alt_m = site_ground_m + float(unit_figures.antenna_height_m)

    azimuth_deg, _, distance_m = WGS84_GEOD.inv(site_lon, site_lat, float(lon_deg), float(lat_deg))
    distance_m = float(distance_m)
    min_cell_m = float(min(grid.cell_size_m))
    if n_samples is None:
        n_samples = int(min(max(math.ceil(distance_m / (min_cell_m / SAMPLES_PER_CELL)) + 1, 2), MAX_SAMPLES))
    if int(n_samples) < 2:
        raise AdcovError(f"n_samples: expected an integer >= 2, got {n_samples}")
    n = int(n_samples)
    s = np.linspace(0.0, distance_m, n)
    lon_s, lat_s, _ = WGS84_GEOD.fwd(
        np.full(n, site_lon), np.full(n, site_lat), np.full(n, float(azimuth_deg)), s
    )
    lon_s = np.asarray(lon_s, dtype=float)
    lat_s = np.asarray(lat_s, dtype=float)
    lon_s[0], lat_s[0], lon_s[-1], lat_s[-1] = site_lon, site_lat, float(lon_deg), float(lat_deg)
    z = np.asarray(terrain.sample_m(lat_s, lon_s, outside="nan"), dtype=float)
    z[0], z[-1] = site_ground_m, target_ground_m

    drop = s * s / (2.0 * re_m)  # [1] ch. 8, [2]
    bulge = s * (distance_m - s) / (2.0 * re_m)
    with np.errstate(divide="ignore", invalid="ignore"):
        tan_theta = (z - drop - antenna_alt_m) / s  # Eq. (1)
    own_obs_m = OBSERVER_CELL_FRACTION * min_cell_m
    own_cell_m = OWN_CELL_FRACTION * min_cell_m
    eligible = (s >= own_obs_m) & np.isfinite(tan_theta)
    tan_masking = np.where(eligible, tan_theta, -np.inf)
    running = np.maximum.accumulate(tan_masking)
    # for sample j the masking samples are those with s <= s_j - own_cell_m
    last = np.searchsorted(s, s - own_cell_m, side="right") - 1
    m = np.where(last >= 0, running[np.clip(last, 0, None)], -np.inf)
    with np.errstate(invalid="ignore"):
        line_floor = antenna_alt_m + s * m + drop  # Eq. (2)
    line_floor = np.where(np.isfinite(line_floor), line_floor, -np.inf)
    floor = np.maximum(line_floor, np.where(np.isfinite(z), z, -np.inf))

    target_floor = float(floor[-1])
    masking_index: int | None = None
    if line_floor[-1] > target_ground_m and last[-1] >= 0:
        k = int(last[-1])
        masking_index = int(np.argmax(tan_masking[: k + 1]))
    if distance_m > 0:
        tan_target = (target_floor - drop[-1] - antenna_alt_m) / distance_m
    else:
        tan_target = 0.0
    sight = antenna_alt_m + s * tan_target + drop

    ranges_km = [unit_figures.detection_range_km or 0.0] + [w.max_range_km for w in unit_figures.weapons]
    max_range_m = max(ranges_km) * 1000.0

    row = col = None
    envelope_floor = None
    r_f, c_f = grid.lonlat_to_pixel(float(lon_deg), float(lat_deg))
    r_i, c_i = round(float(r_f)), round(float(c_f))
    if 0 <= r_i < grid.n_rows and 0 <= c_i < grid.n_cols:
        row, col = r_i, c_i
        env = coverage.envelopes.get(unit_figures.unit_id) if coverage is not None else None
        if env is not None:
            rs, cs = env.los.window
            if rs.start <= r_i < rs.stop and cs.start <= c_i < cs.stop:
                value = float(env.los.floor_msl_m[r_i - rs.start, c_i - cs.start])
                envelope_floor = value if math.isfinite(value) else None

    return LineOfSightProfile(
        unit_id=str(unit_figures.unit_id),
        site_lat_deg=site_lat,
        site_lon_deg=site_lon,
        target_lat_deg=float(lat_deg),
        target_lon_deg=float(lon_deg),
        ground_range_m=s,
        lat_deg=lat_s,
        lon_deg=lon_s,
        terrain_m=z,
        curvature_drop_m=drop,
        earth_bulge_m=bulge,
        floor_msl_m=floor,
        sight_line_msl_m=sight,
        site_terrain_m=site_ground_m,
        antenna_height_m=float(unit_figures.antenna_height_m),
        antenna_altitude_msl_m=antenna_alt_m,
        target_floor_msl_m=target_floor,
        target_terrain_m=target_ground_m,
        masking_index=masking_index,
        k_factor=float(k_factor),
        effective_radius_m=re_m,
        max_range_m=max_range_m,
        target_row=row,
        target_col=col,
        envelope_floor_msl_m=envelope_floor,
    )

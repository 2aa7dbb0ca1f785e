"""Line-of-sight profiles: closed forms, invariants, and agreement with the envelope floor."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyproj
import pytest
from affine import Affine

from simulator.cache import EnvelopeCache
from simulator.coverage import build_coverage, build_unit_envelope
from simulator.errors import AdcovError, OutsideTerrainError
from simulator.figures import UnitFigures, WeaponFigures
from simulator.geometry import (
    EARTH_MEAN_RADIUS_M,
    WGS84_GEOD,
    AnalysisGrid,
    effective_radius_m,
)
from simulator.profile import SAMPLES_PER_CELL, line_of_sight_profile
from simulator.scenario import bundled_scenario, load_scenario
from simulator.smooth_sphere import smooth_sphere_floor_msl
from simulator.terrain import Terrain

# end-to-end reports and tile sets: part of the full suite, not of the fast loop
pytestmark = pytest.mark.slow

K = 4.0 / 3.0
#: Floating-point agreement of two evaluations of the same formula. [m]
METRE = 1e-6
#: Agreement with a closed form whose geometric point the profile samples only approximately
#: (a sample lands within 1/16 of a cell of the ridge's crest). [m]
SAMPLED_M = 2.0
#: Agreement with the envelope, as the elevation angle it amounts to at the point,
#: (floor_profile - floor_envelope) / path length. The envelope's kernel samples each ray half
#: a cell apart beyond 16 cells and interpolates between the two rays that bracket a cell; the
#: profile samples the exact geodesic 8 times per cell, so it resolves narrow crests the rays
#: step over. On the 30" DTED0 Kuril terrain (~650 x 930 m cells) the typical difference is a
#: few hundredths of a milliradian, the worst a milliradian or two. [rad]
ANGLE_MEDIAN_RAD = 0.1e-3
ANGLE_P90_RAD = 0.6e-3
ANGLE_MAX_RAD = 2.5e-3


def figures(lat_deg, lon_deg, antenna_height_m=30.0, range_km=60.0, uid="u"):
    weapon = WeaponFigures("w", "m", 0.0, range_km, 0.0, math.inf, {})
    return UnitFigures(
        unit_id=uid, system_id="test", system_name="Test", lat_deg=lat_deg, lon_deg=lon_deg,
        antenna_height_m=antenna_height_m, antenna_height_origin="unit", detection_range_km=range_km,
        detection_origin="override", detection_name="sensor", weapons=(weapon,), range_mode="nominal",
        defaults_used=(), sources={},
    )


def utm_grid(elevation_m, cell_m=200.0):
    """A UTM 55N grid whose middle column lies on the central meridian (147 E)."""
    rows, cols = elevation_m.shape
    west = 500_000.0 - cols * cell_m / 2.0
    north = 5_000_000.0 + rows * cell_m / 2.0
    terrain = Terrain.from_array(elevation_m, Affine(cell_m, 0, west, 0, -cell_m, north), "EPSG:32655")
    return AnalysisGrid.from_terrain(terrain), terrain


def lonlat_of(terrain, x, y):
    lon, lat = pyproj.Transformer.from_crs("EPSG:32655", "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def test_smooth_sphere_matches_the_closed_form():
    grid, terrain = utm_grid(np.zeros((401, 41), np.float32))
    lon0, lat0 = lonlat_of(terrain, 500_100.0, 4_965_000.0)
    unit = figures(lat0, lon0, antenna_height_m=50.0)
    re_m = effective_radius_m(K, EARTH_MEAN_RADIUS_M)
    horizon_m = math.sqrt(2.0 * re_m * 50.0)
    for north_m in (10_000.0, 40_000.0, 70_000.0):  # inside and beyond the 29 km horizon
        lon, lat = lonlat_of(terrain, 500_100.0, 4_965_000.0 + north_m)
        p = line_of_sight_profile(grid, unit, K, lat, lon, n_samples=20_001)
        expected = float(smooth_sphere_floor_msl(p.path_length_m, 50.0, re_m))
        # the sea's own tangent point is a sample, up to half a sample spacing off the horizon
        tol = 1e-3 + p.path_length_m * (p.ground_range_m[1] / horizon_m) ** 2 * 50.0 / horizon_m
        assert p.target_floor_msl_m == pytest.approx(expected, abs=tol)
        np.testing.assert_allclose(p.curvature_drop_m, p.ground_range_m**2 / (2.0 * re_m), rtol=1e-12)
        if p.path_length_m > horizon_m:
            assert p.masked
            assert p.masking_range_m == pytest.approx(horizon_m, abs=2 * p.ground_range_m[1])
        else:
            assert not p.masked and p.target_floor_msl_m == 0.0


def test_a_ridge_casts_the_shadow_of_its_crest():
    cell_m, ridge_m, antenna_m = 200.0, 600.0, 20.0
    elevation = np.zeros((401, 41), np.float32)
    elevation[250:260, :] = ridge_m  # an east-west wall ten cells deep, 8 km north of the site
    grid, terrain = utm_grid(elevation, cell_m)
    x_site = 500_100.0  # a cell centre on the central meridian (grid north = true north there)
    y_top = 5_000_000.0 + 401 * cell_m / 2.0
    y_site = y_top - 300.5 * cell_m
    lon0, lat0 = lonlat_of(terrain, x_site, y_site)
    unit = figures(lat0, lon0, antenna_height_m=antenna_m)
    lon_t, lat_t = lonlat_of(terrain, x_site, y_top - 180.5 * cell_m)  # 24 km, behind the ridge
    p = line_of_sight_profile(grid, unit, K, lat_t, lon_t, n_samples=40_001)
    # the crest nearest the site: the centre of the wall's southern row (row 259)
    lon_c, lat_c = lonlat_of(terrain, x_site, y_top - 259.5 * cell_m)
    _, _, u_m = WGS84_GEOD.inv(lon0, lat0, lon_c, lat_c)
    re_m = effective_radius_m(K, EARTH_MEAN_RADIUS_M)
    d_m = p.path_length_m
    tan_crest = (ridge_m - u_m**2 / (2 * re_m) - antenna_m) / u_m  # Eq. (1)
    expected = antenna_m + d_m * tan_crest + d_m**2 / (2 * re_m)  # Eq. (2)
    assert p.target_floor_msl_m == pytest.approx(expected, abs=SAMPLED_M)
    assert p.masking_range_m == pytest.approx(u_m, abs=cell_m / 8)
    # in front of the ridge (and well inside the 18 km radar horizon) nothing masks
    front = p.ground_range_m < u_m - cell_m
    assert math.sqrt(2 * re_m * antenna_m) > u_m
    np.testing.assert_array_equal(p.floor_msl_m[front], p.terrain_m[front])


def test_the_sight_line_grazes_the_masking_sample_and_clears_the_rest():
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    coverage = build_coverage(scenario, cache=EnvelopeCache())
    env = coverage.envelopes["iturup-tor-m2"]
    lon, lat = coverage.grid.pixel_to_lonlat(260, 600)
    p = line_of_sight_profile(coverage, env.figures, scenario.k_factor, float(lat), float(lon))
    assert p.masked
    k = p.masking_index
    assert p.sight_line_msl_m[k] == pytest.approx(p.terrain_m[k], abs=METRE * 1e3)
    assert p.sight_line_msl_m[0] == pytest.approx(p.antenna_altitude_msl_m, abs=METRE)
    assert p.sight_line_msl_m[-1] == pytest.approx(p.target_floor_msl_m, abs=METRE * 1e3)
    # straight in the earth-bulge chart: second differences vanish
    straight = p.sight_line_msl_m + p.earth_bulge_m
    assert np.max(np.abs(np.diff(straight, 2))) < 1e-6
    mask_zone = (p.ground_range_m >= 0.5 * min(coverage.grid.cell_size_m)) & (
        p.ground_range_m <= p.path_length_m - 0.5 * min(coverage.grid.cell_size_m)
    )
    assert np.all(p.sight_line_msl_m[mask_zone] >= p.terrain_m[mask_zone] - 1e-6)
    assert np.all(p.floor_msl_m >= p.terrain_m)
    assert p.antenna_altitude_msl_m == pytest.approx(p.site_terrain_m + env.figures.antenna_height_m)


@pytest.mark.parametrize("unit_id", ["iturup-s300v4", "kunashir-s300v4", "iturup-tor-m2"])
def test_the_floor_at_the_point_is_the_envelope_floor(unit_id):
    """Same physics as the envelope: the profile's floor at a cell centre is the envelope's
    line-of-sight floor there, to the sampling tolerance stated at the top of this module."""
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    coverage = build_coverage(scenario, cache=EnvelopeCache())
    env = coverage.envelopes[unit_id]
    floor = env.los.floor_msl_m
    rs, cs = env.los.window
    cells = np.argwhere(np.isfinite(floor))
    rng = np.random.default_rng(7)
    picks = cells[rng.choice(len(cells), 120, replace=False)]
    angles = []
    for lr, lc in picks:
        row, col = int(lr + rs.start), int(lc + cs.start)
        lon, lat = coverage.grid.pixel_to_lonlat(row, col)
        p = line_of_sight_profile(coverage, env.figures, scenario.k_factor, float(lat), float(lon))
        assert (p.target_row, p.target_col) == (row, col)
        assert p.envelope_floor_msl_m == floor[lr, lc]
        assert p.target_terrain_m == pytest.approx(float(coverage.grid.elevation_m[row, col]), abs=1e-3)
        angles.append(abs(p.target_floor_msl_m - p.envelope_floor_msl_m) / max(p.path_length_m, 1.0))
    angles = np.array(angles)
    assert np.median(angles) <= ANGLE_MEDIAN_RAD
    assert np.percentile(angles, 90) <= ANGLE_P90_RAD
    assert angles.max() <= ANGLE_MAX_RAD


def test_a_moved_unit_profile_matches_its_new_envelope():
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    coverage = build_coverage(scenario, cache=EnvelopeCache())
    old = coverage.envelopes["iturup-tor-m2"].figures
    moved = dataclasses.replace(old, lat_deg=45.2, lon_deg=147.9, antenna_height_m=12.0)
    env = build_unit_envelope(coverage.grid, moved, scenario.k_factor, cache=EnvelopeCache())
    grid = coverage.grid
    cells = np.argwhere(np.isfinite(env.los.floor_msl_m))
    lr, lc = cells[len(cells) // 3]
    lon, lat = grid.pixel_to_lonlat(env.los.row0 + lr, env.los.col0 + lc)
    p = line_of_sight_profile(grid, moved, scenario.k_factor, float(lat), float(lon))
    expected = float(env.los.floor_msl_m[lr, lc])
    assert abs(p.target_floor_msl_m - expected) / p.path_length_m <= ANGLE_MAX_RAD
    assert p.envelope_floor_msl_m is None  # a bare grid has no envelope to compare with


def test_bad_input_is_reported():
    grid, terrain = utm_grid(np.zeros((41, 41), np.float32))
    lon0, lat0 = lonlat_of(terrain, 500_100.0, 5_000_100.0)
    unit = figures(lat0, lon0)
    with pytest.raises(AdcovError, match="k_factor"):
        line_of_sight_profile(grid, unit, 0.0, lat0, lon0 + 0.01)
    with pytest.raises(AdcovError, match="n_samples"):
        line_of_sight_profile(grid, unit, K, lat0, lon0 + 0.01, n_samples=1)
    with pytest.raises(OutsideTerrainError):
        line_of_sight_profile(grid, unit, K, lat0 + 1.0, lon0)


def test_default_sampling_exact_ends_and_a_zero_length_path():
    """By default 8 samples per cell; the path's ends are the site and the point exactly, with
    the terrain sampled there; a point on the site itself gives a flat, unmasked profile."""
    grid, terrain = utm_grid(np.full((41, 41), 100.0, np.float32))
    lon0, lat0 = lonlat_of(terrain, 500_100.0, 5_000_100.0)
    lon1, lat1 = lonlat_of(terrain, 502_300.0, 5_001_700.0)
    unit = figures(lat0, lon0, antenna_height_m=20.0)
    p = line_of_sight_profile(grid, unit, K, lat1, lon1)
    _, _, d_m = WGS84_GEOD.inv(lon0, lat0, lon1, lat1)
    assert p.path_length_m == float(d_m)
    assert len(p.ground_range_m) == math.ceil(d_m / (min(grid.cell_size_m) / SAMPLES_PER_CELL)) + 1
    assert (p.lat_deg[0], p.lon_deg[0], p.lat_deg[-1], p.lon_deg[-1]) == (lat0, lon0, lat1, lon1)
    assert (p.terrain_m[0], p.terrain_m[-1]) == (p.site_terrain_m, p.target_terrain_m) == (100.0, 100.0)
    assert p.antenna_altitude_msl_m == 120.0
    assert not p.masked
    np.testing.assert_array_equal(p.floor_msl_m, p.terrain_m)
    assert p.max_range_m == 60_000.0 and not p.beyond_range

    q = line_of_sight_profile(grid, unit, K, lat0, lon0)
    assert q.path_length_m == 0.0 and len(q.ground_range_m) == 2
    assert not q.masked and q.target_floor_msl_m == 100.0
    np.testing.assert_array_equal(q.sight_line_msl_m, [120.0, 120.0])
    np.testing.assert_array_equal(q.earth_bulge_m, [0.0, 0.0])

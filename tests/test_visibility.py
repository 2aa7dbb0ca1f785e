"""Line-of-sight kernel against closed forms, a hand-checked ridge, brute force, invariants."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from simulator.coverage import compute_line_of_sight
from simulator.geometry import EARTH_MEAN_RADIUS_M, AnalysisGrid, effective_radius_m
from simulator.smooth_sphere import radar_horizon_m, smooth_sphere_floor_msl
from synthetic import cell_lonlat, geographic_terrain, rough_elevation_m, utm_terrain

GEOD = pyproj.Geod(ellps="WGS84")
#: Float32 floors and float64 references.
METRE = 1.0


def geodesic_range_m(terrain, lon0, lat0, rows, cols):
    x, y = terrain.transform @ (cols + 0.5, rows + 0.5)
    lon, lat = pyproj.Transformer.from_crs(terrain.crs.to_wkt(), "EPSG:4326", always_xy=True).transform(x, y)
    _, _, dist = GEOD.inv(np.full(lon.shape, lon0), np.full(lat.shape, lat0), lon, lat)
    return dist


@pytest.fixture(scope="module")
def flat_utm():
    n, cell_m = 1001, 1000.0
    terrain = utm_terrain(np.zeros((n, n), np.float32), cell_m)
    rows, cols = np.mgrid[0:n, 0:n]
    lon0, lat0 = cell_lonlat(terrain, n // 2, n // 2)
    dist = geodesic_range_m(terrain, lon0, lat0, rows.ravel(), cols.ravel()).reshape(n, n)
    return terrain, lon0, lat0, dist, cell_m


@pytest.mark.slow
@pytest.mark.parametrize("k_factor", [1.0, 4.0 / 3.0])
@pytest.mark.parametrize("antenna_m", [10.0, 30.0, 100.0])
def test_flat_sea_matches_radar_horizon(flat_utm, k_factor, antenna_m):
    """d = sqrt(2kRh1) + sqrt(2kRh2) within one cell, for targets 0/100/1000/10000 m."""
    terrain, lon0, lat0, dist, cell_m = flat_utm
    grid = AnalysisGrid.from_terrain(terrain)
    los = compute_line_of_sight(grid, lat0, lon0, antenna_m, k_factor, 495_000.0)
    floor = np.full(grid.shape, np.nan, np.float32)
    floor[los.window] = los.floor_msl_m
    computed = ~np.isnan(floor)
    re_m = effective_radius_m(k_factor)
    for target_m in (0.0, 100.0, 1000.0, 10000.0):
        horizon_m = radar_horizon_m(antenna_m, target_m, re_m)
        visible = floor <= target_m
        inside = computed & (dist < horizon_m - cell_m)
        outside = computed & (dist > horizon_m + cell_m)
        assert visible[inside].all(), (target_m, horizon_m, dist[inside & ~visible].min())
        assert not visible[outside].any(), (target_m, horizon_m, dist[outside & visible].max())
        if horizon_m < 490_000:
            assert outside.any()  # the horizon lies inside the grid: the test bites
    # the floor itself follows the smooth-sphere closed form
    expected = smooth_sphere_floor_msl(dist, antenna_m, re_m)
    np.testing.assert_allclose(floor[computed], expected[computed], atol=2 * METRE, rtol=2e-3)


def test_geographic_grid_uses_geodesic_distances():
    """A lat/lon DEM gives the same horizon as the closed form (degrees are not metres)."""
    cell_deg = 0.01
    n_rows, n_cols = 700, 900
    terrain = geographic_terrain(np.zeros((n_rows, n_cols), np.float32), cell_deg, 143.0, 48.5)
    lon0, lat0 = cell_lonlat(terrain, n_rows // 2, n_cols // 2)
    grid = AnalysisGrid.from_terrain(terrain)
    los = compute_line_of_sight(grid, lat0, lon0, 30.0, 4.0 / 3.0, 300_000.0)
    rows, cols = np.mgrid[los.window]
    dist = geodesic_range_m(terrain, lon0, lat0, rows.ravel(), cols.ravel()).reshape(rows.shape)
    np.testing.assert_allclose(los.ground_range_m, dist, rtol=0, atol=2 * METRE)  # cells are ~1 km
    cell_m = max(grid.cell_size_m)
    re_m = effective_radius_m(4.0 / 3.0)
    for target_m in (0.0, 100.0, 1000.0):
        horizon_m = radar_horizon_m(30.0, target_m, re_m)
        visible = los.floor_msl_m <= target_m
        computed = ~np.isnan(los.floor_msl_m)
        assert visible[computed & (dist < horizon_m - cell_m)].all()
        assert not visible[computed & (dist > horizon_m + cell_m)].any()


@pytest.mark.parametrize("k_factor", [1.0, 4.0 / 3.0])
def test_single_ridge_shadow_matches_hand_computation(k_factor):
    """A north-south wall on flat ground: the floor behind it is the tangent over its crest."""
    n, cell_m = 401, 90.0
    elevation = np.zeros((n, n), np.float32)
    wall_col, wall_height_m = n // 2 + 60, 400.0
    elevation[:, wall_col : wall_col + 5] = wall_height_m
    terrain = utm_terrain(elevation, cell_m)
    obs_row = obs_col = n // 2
    lon0, lat0 = cell_lonlat(terrain, obs_row, obs_col)
    antenna_m = 25.0
    los = compute_line_of_sight(AnalysisGrid.from_terrain(terrain), lat0, lon0, antenna_m, k_factor, 20_000.0)
    re_m = effective_radius_m(k_factor)
    # masking point: the wall's nearest crest post (bilinear ramp peaks there)
    crest_lon, crest_lat = cell_lonlat(terrain, obs_row, wall_col)
    _, _, crest_m = GEOD.inv(lon0, lat0, crest_lon, crest_lat)
    tan_crest = (wall_height_m - crest_m**2 / (2 * re_m) - antenna_m) / crest_m
    cols = np.arange(wall_col + 8, n - 5)
    dist = geodesic_range_m(terrain, lon0, lat0, np.full(cols.shape, obs_row), cols)
    expected = antenna_m + dist * tan_crest + dist**2 / (2 * re_m)
    rs, cs = los.window
    got = los.floor_msl_m[obs_row - rs.start, cols - cs.start]
    np.testing.assert_allclose(got, expected, atol=METRE, rtol=1e-4)
    # in front of the wall the ground is visible
    front = los.floor_msl_m[obs_row - rs.start, (obs_col + 5 - cs.start) : (wall_col - 2 - cs.start)]
    np.testing.assert_array_equal(front, 0.0)


def brute_force_floor_msl(terrain, obs_row, obs_col, antenna_m, k_factor, samples_per_cell=24):
    """Exact LOS on the bilinear surface to every cell centre by dense sampling (slow, small grids).

    Straight lines in the projected grid, ranges scaled to the geodesic distance; terrain
    within half a cell of either end does not mask (the cells' own footprints).
    """
    elevation = terrain.elevation_m.astype(np.float64)
    n_rows, n_cols = elevation.shape
    lon0, lat0 = cell_lonlat(terrain, obs_row, obs_col)
    rows, cols = np.mgrid[0:n_rows, 0:n_cols]
    dist = geodesic_range_m(terrain, lon0, lat0, rows.ravel(), cols.ravel()).reshape(n_rows, n_cols)
    re_m = effective_radius_m(k_factor)
    h0 = elevation[obs_row, obs_col] + antenna_m
    floor = elevation.copy()
    for r in range(n_rows):
        for c in range(n_cols):
            length_cells = math.hypot(r - obs_row, c - obs_col)
            if length_cells <= 1.0:
                continue
            n = int(length_cells * samples_per_cell)
            f = np.arange(1, n) / n
            along = f * length_cells
            keep = (along >= 0.5) & (along <= length_cells - 0.5)
            f = f[keep]
            z = ndimage.map_coordinates(elevation, [obs_row + (r - obs_row) * f, obs_col + (c - obs_col) * f], order=1)
            s = f * dist[r, c]
            max_tan = np.max((z - s * s / (2 * re_m) - h0) / s)
            floor[r, c] = max(elevation[r, c], h0 + dist[r, c] * max_tan + dist[r, c] ** 2 / (2 * re_m))
    return floor


def test_rough_terrain_agrees_with_brute_force_line_of_sight():
    elevation = rough_elevation_m((90, 90), seed=7, relief_m=600.0, smooth_cells=2.0)
    terrain = utm_terrain(elevation, 90.0)
    obs_row, obs_col = 45, 40
    lon0, lat0 = cell_lonlat(terrain, obs_row, obs_col)
    reference = brute_force_floor_msl(terrain, obs_row, obs_col, 20.0, 4.0 / 3.0)
    los = compute_line_of_sight(AnalysisGrid.from_terrain(terrain), lat0, lon0, 20.0, 4.0 / 3.0, 50_000.0)
    assert los.window == (slice(0, 90), slice(0, 90))
    floor = los.floor_msl_m.astype(np.float64)
    for target_agl_m in (10.0, 100.0, 1000.0):
        ours = floor <= elevation + target_agl_m
        ref = reference <= elevation + target_agl_m
        jaccard = (ours & ref).sum() / (ours | ref).sum()
        assert jaccard >= 0.98, (target_agl_m, jaccard)
    assert np.median(np.abs(floor - reference)) < 2.0


small_dem = st.builds(
    lambda seed, relief: rough_elevation_m((48, 48), seed=seed, relief_m=relief, smooth_cells=2.0),
    st.integers(0, 10_000),
    st.floats(1.0, 1500.0),
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    elevation=small_dem,
    obs=st.tuples(st.integers(2, 45), st.integers(2, 45)),
    antenna=st.tuples(st.floats(0.0, 50.0), st.floats(0.0, 200.0)),
    k_pair=st.tuples(st.floats(0.8, 1.5), st.floats(0.0, 2.0)),
)
def test_invariants_higher_antenna_or_larger_k_never_shrink_coverage(elevation, obs, antenna, k_pair):
    terrain = utm_terrain(elevation, 90.0)
    grid = AnalysisGrid.from_terrain(terrain)
    lon0, lat0 = cell_lonlat(terrain, *obs)
    low_m, extra_m = antenna
    k_low, k_extra = k_pair

    def floor(antenna_m, k):
        los = compute_line_of_sight(grid, lat0, lon0, antenna_m, k, 30_000.0)
        assert los.window == (slice(0, 48), slice(0, 48))
        return los.floor_msl_m

    base = floor(low_m, k_low)
    tolerance = 1e-3 * (1.0 + np.abs(base))
    assert np.all(floor(low_m + extra_m, k_low) <= base + tolerance)  # higher antenna
    assert np.all(floor(low_m, k_low + k_extra) <= base + tolerance)  # larger k
    # a higher target: visible at h implies visible at every h' > h (floor is one number)
    assert base[obs] == pytest.approx(elevation[obs])  # the observer's own cell is visible
    assert np.all(base >= elevation - 1e-3)  # never below the ground


def test_earth_radius_is_the_stated_one():
    assert EARTH_MEAN_RADIUS_M == pytest.approx(6_371_008.8)
    assert effective_radius_m(4.0 / 3.0) == pytest.approx(4.0 / 3.0 * 6_371_008.8)


def test_azimuth_matches_atan2_in_every_octant_and_on_the_axes():
    """The fast azimuth the cell pass uses is atan2(east, north) mod 2 pi, to < 1e-8 rad."""
    from simulator.visibility import azimuth_rad

    rng = np.random.default_rng(3)
    east = np.concatenate([rng.normal(0, 1e5, 20_000), [0.0, 1.0, -1.0, 0.0, 0.0, 5.0, -5.0, 3.0, -3.0]])
    north = np.concatenate([rng.normal(0, 1e5, 20_000), [0.0, 0.0, 0.0, 1.0, -1.0, 5.0, 5.0, -3.0, -3.0]])
    expected = np.mod(np.arctan2(east, north), 2 * np.pi)
    got = np.array([azimuth_rad(x, y) for x, y in zip(east, north, strict=True)])
    # 2 pi and 0 are the same direction
    difference = np.abs(np.angle(np.exp(1j * (got - expected))))
    assert difference.max() < 1e-8
    assert np.all((got >= 0) & (got <= 2 * np.pi))
    assert azimuth_rad(0.0, 0.0) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make_terrain", "observer"),
    [
        (lambda e: utm_terrain(e, 90.0), (160, 120)),
        (lambda e: geographic_terrain(e, 1.0 / 1200.0, 146.5, 44.9), (5, 350)),
    ],
    ids=["utm", "geographic"],
)
def test_fan_in_sectors_gives_the_whole_fan_result(monkeypatch, make_terrain, observer):
    """A memory budget that splits the rays into many sectors changes nothing: every cell is
    filled once, by its own sector, with the same arithmetic (bit for bit)."""
    from simulator import line_of_sight

    # large enough for tiles far from the site, which sectors skip
    terrain = make_terrain(rough_elevation_m((400, 380), seed=11, relief_m=900.0, smooth_cells=2.0))
    lon0, lat0 = cell_lonlat(terrain, *observer)
    grid = AnalysisGrid.from_terrain(terrain)
    whole = compute_line_of_sight(grid, lat0, lon0, 15.0, 4.0 / 3.0, 60_000.0)
    for budget_bytes in (2_000_000, 400_000):  # ~4 and ~20 sectors
        monkeypatch.setattr(line_of_sight, "RAY_MEMORY_BYTES", budget_bytes)
        split = compute_line_of_sight(grid, lat0, lon0, 15.0, 4.0 / 3.0, 60_000.0)
        assert np.array_equal(split.floor_msl_m, whole.floor_msl_m, equal_nan=True)
        assert np.array_equal(split.ground_range_m, whole.ground_range_m)
    assert np.isfinite(whole.floor_msl_m).mean() > 0.5


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    observer=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    geographic=st.booleans(),
    budget_bytes=st.integers(20_000, 3_000_000),
    range_m=st.floats(3_000.0, 40_000.0),
)
def test_any_sector_split_gives_the_whole_fan_result(monkeypatch, seed, observer, geographic, budget_bytes, range_m):
    """Wherever the site and whatever the budget (hence sector count and boundaries), the
    split fan fills exactly the cells the whole fan fills, with the same values."""
    from simulator import line_of_sight

    elevation = rough_elevation_m((260, 230), seed=seed, relief_m=700.0, smooth_cells=2.0)
    terrain = geographic_terrain(elevation, 1.0 / 1200.0, 146.5, 44.9) if geographic else utm_terrain(elevation, 90.0)
    lon0, lat0 = cell_lonlat(terrain, observer[0] * 259, observer[1] * 229)
    grid = AnalysisGrid.from_terrain(terrain)
    # (the fixture is shared by the examples: each sets the budget it needs before use)
    monkeypatch.setattr(line_of_sight, "RAY_MEMORY_BYTES", 2**40)
    whole = compute_line_of_sight(grid, lat0, lon0, 10.0, 4.0 / 3.0, range_m)
    monkeypatch.setattr(line_of_sight, "RAY_MEMORY_BYTES", budget_bytes)
    split = compute_line_of_sight(grid, lat0, lon0, 10.0, 4.0 / 3.0, range_m)
    assert split.window == whole.window
    assert np.array_equal(split.floor_msl_m, whole.floor_msl_m, equal_nan=True)
    assert np.array_equal(split.ground_range_m, whole.ground_range_m, equal_nan=True)

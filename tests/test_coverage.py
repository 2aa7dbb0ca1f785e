"""Envelopes and coverage queries: depth, areas, polygons, cache, invariants."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
import yaml
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.warp import Resampling, calculate_default_transform, reproject

from simulator import visibility
from simulator.cache import EnvelopeCache
from simulator.coverage import build_coverage, slant_range_altitude_msl_m, summarize
from simulator.geometry import WGS84_GEOD, effective_radius_m
from simulator.scenario import load_scenario
from simulator.terrain import write_geotiff
from synthetic import rough_elevation_m, unit_at, utm_terrain, write_scenario

KM2 = 1e6
#: Relative agreement asked of polygon areas vs cell counts (acceptance: 1 %).
AREA_REL = 0.01


@pytest.fixture(scope="module")
def four_units(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("four")
    elevation = rough_elevation_m((240, 240), seed=11, relief_m=700.0)
    terrain = utm_terrain(elevation, 200.0)
    units = [
        unit_at(terrain, "a", 60, 60, range_km=18),
        unit_at(terrain, "b", 70, 150, range_km=15),
        unit_at(terrain, "c", 170, 90, system="s300v4", range_km=30),
        unit_at(terrain, "d", 180, 190, range_km=12, antenna_height_m=5),
    ]
    path = write_scenario(tmp, elevation, 200.0, units)
    coverage = build_coverage(load_scenario(path), cache=None)
    return coverage, terrain


def test_depth_is_the_sum_of_unit_coverages(four_units):
    coverage, _ = four_units
    for layer in ("detection", "engagement"):
        for altitude_m, ref in ((50.0, "agl"), (800.0, "msl"), (9000.0, "msl")):
            depth = coverage.depth(layer, altitude_m, ref)
            per_unit = [coverage.unit_covered(u, layer, altitude_m, ref) for u in coverage.unit_ids]
            np.testing.assert_array_equal(depth, np.sum(per_unit, axis=0))
            bits = coverage.covering_units(layer, altitude_m, ref)
            for i, mask in enumerate(per_unit):
                np.testing.assert_array_equal((bits >> np.uint64(i)) & np.uint64(1) == 1, mask)
            sole = coverage.sole_coverage(layer, altitude_m, ref)
            np.testing.assert_array_equal(sole >= 0, depth == 1)
            for i, mask in enumerate(per_unit):
                assert np.all(mask[sole == i])
            r, c = np.argwhere(depth >= 1)[0]
            assert coverage.units_at(r, c, layer, altitude_m, ref) == [u for u, m in zip(coverage.unit_ids, per_unit, strict=True) if m[r, c]]


def test_unit_covered_km2_is_the_area_of_the_unit_mask(four_units):
    """The summary's per-unit areas come from a kernel over the unit's window: the same
    number, to the last bit, as the area of the full-grid mask (one- and many-weapon layers)."""
    coverage, _ = four_units
    for layer in ("detection", "engagement"):
        for altitude_m, ref in ((0.0, "msl"), (50.0, "agl"), (800.0, "msl"), (3000.0, "agl"), (9000.0, "msl")):
            for unit in coverage.unit_ids:
                expected = coverage.area_km2(coverage.unit_covered(unit, layer, altitude_m, ref))
                assert coverage.unit_covered_km2(unit, layer, altitude_m, ref) == expected


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    active=st.sets(st.sampled_from(["a", "b", "c", "d"])),
    withdrawn=st.sampled_from(["a", "b", "c", "d"]),
    altitude=st.floats(0.0, 12_000.0),
    ref=st.sampled_from(["msl", "agl"]),
)
def test_withdrawing_a_unit_never_adds_coverage(four_units, active, withdrawn, altitude, ref):
    coverage, _ = four_units
    with_unit = coverage.covered("engagement", altitude, ref, active | {withdrawn})
    without = coverage.covered("engagement", altitude, ref, active - {withdrawn})
    assert not np.any(without & ~with_unit)


def test_higher_target_is_seen_wherever_a_lower_one_is_within_slant_range(four_units):
    coverage, _ = four_units
    for uid, env in coverage.envelopes.items():
        low = coverage.unit_covered(uid, "detection", 200.0, "agl")
        high = coverage.unit_covered(uid, "detection", 2000.0, "agl")
        ground = np.full(coverage.grid.shape, np.inf, np.float32)
        ground[env.window] = env.los.ground_range_m
        well_inside = ground < 0.95 * env.figures.detection_range_km * 1000.0
        assert not np.any(low & ~high & well_inside)
        assert np.any(low & ~high) == np.any(low & ~high & ~well_inside)  # only near the slant limit


def test_cell_areas_are_geodesic(four_units):
    coverage, _ = four_units
    grid = coverage.grid
    corners_r = np.concatenate([np.linspace(-0.5, grid.n_rows - 0.5, 100), np.full(100, grid.n_rows - 0.5),
                                np.linspace(grid.n_rows - 0.5, -0.5, 100), np.full(100, -0.5)])
    corners_c = np.concatenate([np.full(100, -0.5), np.linspace(-0.5, grid.n_cols - 0.5, 100),
                                np.full(100, grid.n_cols - 0.5), np.linspace(grid.n_cols - 0.5, -0.5, 100)])
    lon, lat = grid.pixel_to_lonlat(corners_r, corners_c)
    area_m2, _ = WGS84_GEOD.polygon_area_perimeter(lon, lat)
    assert grid.cell_area_m2.sum() == pytest.approx(abs(area_m2), rel=1e-5)


def test_geographic_cell_areas_match_the_ellipsoid(tmp_path):

    from simulator.geometry import AnalysisGrid
    from simulator.terrain import Terrain

    terrain = Terrain.from_array(np.zeros((60, 80), np.float32), Affine(0.05, 0, 145.0, 0, -0.05, 46.0), "EPSG:4326")
    grid = AnalysisGrid.from_terrain(terrain)
    lon = [145.0, 149.0, 149.0, 145.0]
    lat = [43.0, 43.0, 46.0, 46.0]
    area_m2, _ = WGS84_GEOD.polygon_area_perimeter(lon, lat)
    # rhumb-line edges: compare with the authalic band formula instead of a geodesic polygon
    a, f = 6378137.0, 1 / 298.257223563
    e = math.sqrt(f * (2 - f))

    def q(phi):
        s = math.sin(phi)
        return (1 - e * e) * (s / (1 - e * e * s * s) - math.log((1 - e * s) / (1 + e * s)) / (2 * e))

    band_m2 = a * a / 2 * math.radians(4.0) * (q(math.radians(46.0)) - q(math.radians(43.0)))
    assert grid.cell_area_m2.sum() == pytest.approx(band_m2, rel=1e-9)
    assert abs(area_m2) == pytest.approx(band_m2, rel=2e-3)  # sanity: geodesic edges differ slightly


def test_polygons_match_cell_counts_and_lie_inside_the_range_disk(four_units):
    coverage, _ = four_units
    for altitude_m in (100.0, 3000.0):
        for uid in coverage.unit_ids:
            mask = coverage.unit_covered(uid, "engagement", altitude_m, "agl")
            if mask.sum() < 400:
                continue
            polygons, crs = coverage.polygons(mask)
            assert polygons.is_valid
            assert polygons.area / KM2 == pytest.approx(coverage.area_km2(mask), rel=AREA_REL)
            env = coverage.envelopes[uid]
            range_m = max(w.max_range_km for w in env.figures.weapons) * 1000.0
            centre = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(env.figures.lon_deg, env.figures.lat_deg)
            disk = shapely.Point(centre).buffer(range_m + 1.5 * max(coverage.grid.cell_size_m), quad_segs=64)
            assert disk.contains(polygons)
    lonlat, _ = coverage.polygons(coverage.covered("engagement", 3000.0, "agl"), lonlat=True)
    west, south, east, north = coverage.grid.bounds_deg
    minx, miny, maxx, maxy = lonlat.bounds
    assert west - 0.01 <= minx and maxx <= east + 0.01 and south - 0.01 <= miny and maxy <= north + 0.01
    for polygon in lonlat.geoms:
        assert polygon.exterior.is_ccw  # right-hand rule for GeoJSON


def test_slant_range_ceiling_matches_law_of_cosines():
    re_m = effective_radius_m(4.0 / 3.0)
    antenna_m, slant_m = 50.0, 100_000.0
    ground = np.array([0.0, 20_000.0, 60_000.0, 99_000.0, 120_000.0])
    ceiling = slant_range_altitude_msl_m(ground, antenna_m, slant_m, re_m)
    for d, h in zip(ground, ceiling, strict=True):
        if not np.isfinite(h):
            assert d > slant_m * 0.99
            continue
        a, b, phi = re_m + antenna_m, re_m + h, d / re_m
        assert math.sqrt(a * a + b * b - 2 * a * b * math.cos(phi)) == pytest.approx(slant_m, rel=1e-9)


def test_min_range_max_altitude_and_min_altitude_shape_the_envelope(tmp_path):
    elevation = np.zeros((200, 200), np.float32)
    units = [{"id": "u", "system": "s300v4", "lat_deg": 0, "lon_deg": 0, "antenna_height_m": 10,
              "figures": {"min_range_km": 5, "max_range_km": 15, "max_target_altitude_m": 4000, "min_target_altitude_m": 100}}]
    terrain = utm_terrain(elevation, 200.0)
    units[0].update({k: v for k, v in unit_at(terrain, "u", 100, 100).items() if k.endswith("_deg")})
    path = write_scenario(tmp_path, elevation, 200.0, units)
    coverage = build_coverage(load_scenario(path), cache=None)
    rng = coverage.envelopes["u"].los.ground_range_m
    full = np.zeros(coverage.grid.shape, np.float32)
    full[coverage.envelopes["u"].window] = rng
    at_2km = coverage.unit_covered("u", "engagement", 2000.0)
    assert not at_2km[(full < 4000) & (full > 0)].any()  # inside the minimum range (slant 5 km)
    assert at_2km[(full > 6000) & (full < 14000)].all()
    assert not coverage.unit_covered("u", "engagement", 5000.0).any()  # above the ceiling
    assert not coverage.unit_covered("u", "engagement", 50.0).any()  # below the minimum altitude
    assert coverage.unit_covered("u", "engagement", 150.0)[(full > 6000) & (full < 14000)].all()


def test_queries_never_recompute_line_of_sight(four_units, monkeypatch):
    coverage, _ = four_units

    def forbidden(*args, **kwargs):
        raise AssertionError("line of sight recomputed")

    monkeypatch.setattr(visibility, "ray_horizons", forbidden)
    monkeypatch.setattr(visibility, "cell_floors_msl", forbidden)
    for altitude_m in (10.0, 500.0, 25_000.0):
        coverage.depth("engagement", altitude_m, "agl", ["a", "c"])
        coverage.covered_km2("detection", altitude_m, "msl", ["b"])
    summarize(coverage, altitudes_m=(30.0, 3000.0))


def test_cache_hits_corruption_and_bypass(tmp_path):
    elevation = rough_elevation_m((120, 120), seed=3)
    terrain = utm_terrain(elevation, 200.0)
    path = write_scenario(tmp_path, elevation, 200.0, [unit_at(terrain, "a", 60, 60, range_km=10)])
    scenario = load_scenario(path)
    cache = EnvelopeCache(tmp_path / "cache")
    first = build_coverage(scenario, cache=cache)
    assert cache.misses == 1 and cache.hits == 0
    files = list((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 1
    again = EnvelopeCache(tmp_path / "cache")
    second = build_coverage(scenario, cache=again)
    assert again.hits == 1
    np.testing.assert_array_equal(first.envelopes["a"].los.floor_msl_m, second.envelopes["a"].los.floor_msl_m)
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated: corrupt
    healed = EnvelopeCache(tmp_path / "cache")
    third = build_coverage(scenario, cache=healed)
    assert healed.recovered_corrupt == 1 and healed.hits == 0
    np.testing.assert_array_equal(first.envelopes["a"].los.floor_msl_m, third.envelopes["a"].los.floor_msl_m)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1
    # a different antenna height is a different key
    raised = load_scenario(path).with_units_withdrawn([])
    doc = yaml.safe_load(path.read_text())
    doc["assumptions"]["antenna_height_m"] = 40
    path.write_text(yaml.safe_dump(doc))
    build_coverage(load_scenario(path), cache=EnvelopeCache(tmp_path / "cache"))
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 2
    assert raised.units[0].id == "a"
    # no cache: nothing written
    build_coverage(scenario, cache=None)
    assert not [p for p in (tmp_path / "cache").rglob(".*") if p.name.startswith((".tmp-", ".adcov-tmp-"))]


@pytest.mark.slow
def test_geographic_and_utm_terrain_give_the_same_area(tmp_path):
    """kurils-2020 on its DTED (lat/lon) and on the same terrain reprojected to UTM: within 2 %.

    The reprojection is bilinear at 150 m, a quarter of the 30-arc-second post spacing:
    coarser resampling moves the grid nodes off the posts and clips the peaks, which
    changes low-altitude masking (a terrain change, not a geodesy one: +9 % at 30 m for
    500 m cells, converging to < 0.5 % at 150 m).
    """
    from simulator.scenario import bundled_scenario

    # the bundled units on the DTED0 mosaic inside the 143-150 E box (the bundled scenario
    # itself now covers the full disks over the tile folder), at the DEMs' own spacing
    bundled = bundled_scenario("kurils-2020")
    src = bundled.parent / "terrain" / "kurils_dted0.tif"
    geo_doc = yaml.safe_load(bundled.read_text())
    geo_doc.update(terrain=str(src), area={"west_deg": 143.0, "south_deg": 42.5, "east_deg": 150.0, "north_deg": 47.5},
                   resolution_m="native")
    (tmp_path / "kurils-geo.yaml").write_text(yaml.safe_dump(geo_doc))
    geo_scenario = load_scenario(tmp_path / "kurils-geo.yaml")
    with rasterio.open(src) as ds:
        data, src_transform, src_crs = ds.read(1).astype(np.float32), ds.transform, ds.crs
    dst_crs = rasterio.crs.CRS.from_string("EPSG:32655")
    west, south, east, north = rasterio.transform.array_bounds(*data.shape, src_transform)
    transform, width, height = calculate_default_transform(src_crs, dst_crs, data.shape[1], data.shape[0], west, south, east, north, resolution=150.0)
    utm = np.zeros((height, width), np.float32)
    reproject(data, utm, src_transform=src_transform, src_crs=src_crs, dst_transform=transform, dst_crs=dst_crs, resampling=Resampling.bilinear)
    write_geotiff(tmp_path / "kurils_utm.tif", utm, transform, dst_crs, nodata=None)
    doc = yaml.safe_load(geo_scenario.path.read_text())
    doc["terrain"] = "kurils_utm.tif"
    utm_path = tmp_path / "kurils-utm.yaml"
    utm_path.write_text(yaml.safe_dump(doc))
    geo = build_coverage(geo_scenario, cache=None)
    projected = build_coverage(load_scenario(utm_path), cache=None)
    assert projected.grid.crs.to_epsg() == 32655 and geo.grid.crs.is_geographic
    for altitude_m in (30.0, 100.0, 1000.0, 10000.0, 20000.0):
        for layer in ("engagement", "detection"):
            assert projected.covered_km2(layer, altitude_m) == pytest.approx(geo.covered_km2(layer, altitude_m), rel=0.02)


def test_summary_keys_and_assumptions(four_units):
    coverage, _ = four_units
    result = summarize(coverage, altitudes_m=(30.0, 3000.0), altitude_ref="agl")
    rows = result["layers"]["engagement"]
    assert [r["altitude_m"] for r in rows] == [30.0, 3000.0]
    assert all(r["altitude_ref"] == "agl" for r in rows)
    assert set(rows[0]["by_unit_km2"]) == {"a", "b", "c", "d"}
    assert rows[1]["covered_km2"] == pytest.approx(coverage.covered_km2("engagement", 3000.0, "agl"))
    units = result["assumptions"]["units"]
    assert units["d"]["antenna_height_m"] == 5 and units["a"]["antenna_height_origin"] == "scenario assumption"
    assert any("min_range_km unknown" in note for note in units["a"]["defaults_used"])


def test_layer_union_is_merged_only_when_exact():
    from simulator.coverage import LineOfSight, layer_components

    rng = np.random.default_rng(0)
    shape = (30, 40)
    los = LineOfSight(0, 0, rng.uniform(0, 800, shape).astype(np.float32), rng.uniform(0, 60_000, shape).astype(np.float32),
                      site_terrain_m=0.0, antenna_altitude_msl_m=20.0, max_range_m=60_000.0, n_rays=64, sample_spacing_m=50.0)
    terrain = rng.uniform(0, 300, shape).astype(np.float32)
    re_m = effective_radius_m(4 / 3)
    overlapping = [(0.0, 50_000.0, 0.0, 3000.0), (2000.0, 30_000.0, 100.0, 20_000.0)]
    gapped = [(0.0, 50_000.0, 0.0, 1500.0), (0.0, 50_000.0, 4000.0, 20_000.0)]  # nothing between 1500 m MSL and 4000 m AGL
    merged = layer_components(["a", "b"], los, terrain, re_m, overlapping)
    split = layer_components(["a", "b"], los, terrain, re_m, gapped)
    assert len(merged) == 1 and len(split) == 2
    for limits, comps in ((overlapping, merged), (gapped, split)):
        singles = [layer_components([n], los, terrain, re_m, [lim])[0] for n, lim in zip("ab", limits, strict=True)]
        for h in np.linspace(-10, 25_000, 80, dtype=np.float32):
            union = np.zeros(shape, bool)
            for c in singles:
                union |= (c.floor_msl_m <= h) & (h <= c.ceiling_msl_m)
            got = np.zeros(shape, bool)
            for c in comps:
                got |= (c.floor_msl_m <= h) & (h <= c.ceiling_msl_m)
            np.testing.assert_array_equal(got, union)
    # a single component follows the slant-range formula
    (single,) = layer_components(["d"], los, terrain, re_m, [(0.0, 40_000.0, 0.0, math.inf)])
    expected = slant_range_altitude_msl_m(los.ground_range_m, 20.0, 40_000.0, re_m)
    ok = np.isfinite(single.ceiling_msl_m)
    np.testing.assert_allclose(single.ceiling_msl_m[ok], expected[ok], rtol=1e-6, atol=0.01)


def test_the_maximum_slant_range_bounds_the_floor_too():
    """A 5,000 m antenna with a 3 km slant range over flat ground covers nothing at 100 m
    (every such target is 4.9 km below it) and, at 3,000 m, the disk of radius
    sqrt(3000² - 2000²) = 2,236 m (law of cosines on the effective-earth sphere; flat to
    centimetres at these ranges)."""
    import math

    from simulator.catalog import load_catalog
    from simulator.coverage import build_unit_envelope
    from simulator.figures import resolve_unit_figures
    from simulator.geometry import AnalysisGrid
    from simulator.scenario import UnitSpec
    from synthetic import cell_lonlat, utm_terrain

    terrain = utm_terrain(np.zeros((301, 301), np.float32), 30.0)
    lon, lat = cell_lonlat(terrain, 150, 150)
    unit = UnitSpec("high", "tor_m2", "Tor-M2", lat, lon, None, 5000.0, 3.0, {}, None, None, "hypothetical", (), "")
    figures = resolve_unit_figures(unit, load_catalog().get("tor_m2"), 5000.0, "nominal")
    grid = AnalysisGrid.from_terrain(terrain)
    env = build_unit_envelope(grid, figures, 4 / 3)
    rows, cols = env.window
    area = grid.cell_area_m2[rows, cols]
    assert float((area * env.covered("engagement", np.float32(100.0))).sum()) == 0.0
    covered_m2 = float((area * env.covered("engagement", np.float32(3000.0))).sum())
    expected_m2 = math.pi * (3000.0**2 - 2000.0**2)
    assert covered_m2 == pytest.approx(expected_m2, rel=0.03)


def test_reprs_are_short_and_say_their_units(four_units):
    coverage, _ = four_units
    text = repr(coverage)
    assert len(text) < 300 and "4 units" in text and " m cells" in text and f"{coverage.grid.n_rows} x {coverage.grid.n_cols}" in text
    envelope = repr(coverage.envelopes["c"])
    assert len(envelope) < 300 and "m MSL" in envelope and "km" in envelope
    assert len(repr(coverage.envelopes["c"].los)) < 200

"""Real terrain at its own resolution (issue #10) on small DEMs: tiles read in windows,
analysis grids apart from the DEM grid, full nominal disks, terrain reach, Dask envelopes."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pyproj
import pytest
import yaml
from scipy import ndimage
from test_sweep import cli_cluster  # noqa: F401 - dask scheduler + 2 workers on 127.0.0.1 (a fixture)

from simulator import analysis_area
from simulator.analysis_area import UnitDisk, disk_fraction_outside, plan_grid
from simulator.cache import EnvelopeCache
from simulator.cli import main as cli_main
from simulator.coverage import build_coverage, build_unit_envelope
from simulator.dem import DemSource, open_dem
from simulator.errors import AdcovError, TerrainError
from simulator.geometry import AnalysisGrid, effective_radius_m, equal_area_crs
from simulator.scenario import bundled_scenario, load_scenario
from simulator.terrain import open_terrain
from synthetic import rough_elevation_m, utm_terrain, write_scenario

# end-to-end reports and tile sets: part of the full suite, not of the fast loop
pytestmark = pytest.mark.slow

HGT_POSTS = 1201  # SRTM3 tile: 3" posts, 1201 x 1201, shared edges


def write_hgt_tiles(folder: Path, tiles: dict[tuple[int, int], np.ndarray]) -> None:
    """SRTM-style tiles ``NyyExxx.hgt`` (big-endian int16, rows from the north edge)."""
    folder.mkdir(parents=True, exist_ok=True)
    for (lat, lon), values in tiles.items():
        (folder / f"N{lat:02d}E{lon:03d}.hgt").write_bytes(values.astype(">i2").tobytes())


def island_tiles(seed: int = 3) -> dict[tuple[int, int], np.ndarray]:
    """Four 3" tiles (44-46 N, 146-148 E) of one seeded relief: shared edges identical."""
    n = 2 * HGT_POSTS - 1
    relief = rough_elevation_m((n, n), seed=seed, relief_m=1500.0, smooth_cells=6.0, sea_fraction=0.5)
    relief = np.round(relief).astype(np.int16)
    tiles = {}
    for i, lat in enumerate((45, 44)):  # rows from the north
        for j, lon in enumerate((146, 147)):
            r0, c0 = i * (HGT_POSTS - 1), j * (HGT_POSTS - 1)
            tiles[(lat, lon)] = relief[r0 : r0 + HGT_POSTS, c0 : c0 + HGT_POSTS]
    return tiles


@pytest.fixture(scope="module")
def hgt_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hgt") / "tiles"
    write_hgt_tiles(folder, island_tiles())
    return folder


# --------------------------------------------------------------------------- reading


@pytest.mark.slow
def test_hgt_tiles_open_as_a_windowed_int16_source(hgt_folder):
    source = open_dem(hgt_folder)
    assert isinstance(source, DemSource)
    assert source.int16 and source.shape == (2 * HGT_POSTS - 1, 2 * HGT_POSTS - 1)
    assert all(r.hgt for r in source.rasters)  # memory-mapped
    whole = open_terrain(hgt_folder)  # rasterio.merge of the same tiles, read whole
    assert whole.shape == source.shape and whole.transform.almost_equals(source.transform)
    window = source.read_pixels(1000, 1400, 1100, 1300)  # across all four tiles
    assert window.dtype == np.int16
    np.testing.assert_array_equal(window, whole.elevation_m[1000:1400, 1100:1300])
    lat, lon = np.array([44.5123, 45.77, 44.0004]), np.array([146.2, 147.9, 147.001])
    np.testing.assert_allclose(source.sample_m(lat, lon), whole.sample_m(lat, lon), atol=1e-3)


def test_a_window_reads_only_the_tiles_it_touches(hgt_folder, monkeypatch):
    source = open_dem(hgt_folder)
    touched = []
    real = DemSource._read_raster

    def spy(self, raster, *args):
        touched.append(raster.path.name)
        return real(self, raster, *args)

    monkeypatch.setattr(DemSource, "_read_raster", spy)
    source.read_pixels(10, 50, 10, 50)  # inside the north-west tile only
    assert touched == ["N45E146.hgt"]


@pytest.mark.slow
def test_a_missing_tile_in_a_tile_set_is_sea(tmp_path):
    tiles = island_tiles()
    land = np.full((HGT_POSTS, HGT_POSTS), 250, np.int16)
    tiles = {(45, 146): land, (44, 147): land}  # the other two 1-degree cells have no tile
    write_hgt_tiles(tmp_path, tiles)
    source = open_dem(tmp_path)
    assert source.gaps_are_sea
    values = source.read_pixels(0, source.shape[0], 0, source.shape[1])
    assert values[100, 100] == 250 and values[2000, 2000] == 250
    assert values[100, 2000] == 0 and values[2000, 100] == 0
    assert "sea" in source.describe()


def test_outside_terrain_sea_pads_with_sea_level(hgt_folder):
    source = open_dem(hgt_folder, outside_terrain="sea")
    values = source.read_pixels(-5, 5, -5, 5)
    assert (values[:5] == 0).all() and (values[:, :5] == 0).all()
    with pytest.raises(TerrainError, match="outside_terrain: sea"):
        open_dem(hgt_folder).read_pixels(-5, 5, -5, 5)


@pytest.mark.slow
def test_content_hash_follows_the_file_content_not_the_path(tmp_path):
    tiles = island_tiles()
    write_hgt_tiles(tmp_path, {(45, 146): tiles[(45, 146)]})
    before = open_dem(tmp_path).content_hash
    changed = tiles[(45, 146)].copy()
    changed[600, 600] += 7
    path = tmp_path / "N45E146.hgt"
    stat = path.stat()
    path.write_bytes(changed.astype(">i2").tobytes())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: only ctime tells
    after = open_dem(tmp_path).content_hash
    assert before != after


# --------------------------------------------------------------------------- analysis grid


def test_windowed_envelope_equals_the_whole_terrain_envelope(hgt_folder):
    """Rays over the tiles read in windows give the floors the whole mosaic gives, bit for bit."""
    from simulator.catalog import load_catalog
    from simulator.figures import resolve_unit_figures
    from simulator.scenario import UnitSpec

    source = open_dem(hgt_folder)
    whole = open_terrain(hgt_folder)
    unit = UnitSpec("u", "tor_m2", "Tor-M2", 44.93, 146.95, None, 30.0, None, {}, None, None, "hypothetical", (), "")
    figures = resolve_unit_figures(unit, load_catalog().get("tor_m2"), 30.0, "nominal")
    a = build_unit_envelope(AnalysisGrid.from_terrain(source), figures, 4 / 3)
    b = build_unit_envelope(AnalysisGrid.from_terrain(whole), figures, 4 / 3)
    assert a.window == b.window
    np.testing.assert_array_equal(a.los.floor_msl_m, b.los.floor_msl_m)


def test_default_resolution_coarsens_only_past_the_cell_budget(hgt_folder, monkeypatch):
    source = open_dem(hgt_folder)
    disk = [UnitDisk("u", 44.93, 146.95, 15_000.0)]
    grid = plan_grid(source, disk)
    assert grid.factor == 1 and grid.extent == "disks"
    monkeypatch.setattr(analysis_area, "DISK_CELL_BUDGET", 10_000)
    coarse = plan_grid(source, disk)
    cells = (grid.n_rows * grid.n_cols)
    assert coarse.factor == math.ceil(math.sqrt(cells / 10_000)) or coarse.factor == math.ceil(math.sqrt(cells / 10_000)) + 1
    assert "coarsened" in coarse.resolution_rule
    # analysis terrain: the DEM post at each centre (odd factor) or the mean of the four around it (even)
    for factor in (3, 4):
        g = dataclasses.replace(coarse, factor=factor, n_rows=coarse.n_rows * coarse.factor // factor,
                                n_cols=coarse.n_cols * coarse.factor // factor)
        row, col = g.dem_pixel(np.arange(g.n_rows)[:, None], np.arange(g.n_cols)[None, :])
        whole = open_terrain(hgt_folder)
        expected = whole.sample_pixels(row, col)
        np.testing.assert_allclose(g.elevation_m, expected, atol=1e-3)


def test_resolution_m_takes_whole_dem_cells(hgt_folder):
    source = open_dem(hgt_folder)
    disk = [UnitDisk("u", 44.93, 146.95, 15_000.0)]
    dx, dy = plan_grid(source, disk).dem_cell_size_m
    grid = plan_grid(source, disk, resolution_m=500.0)
    assert grid.factor == round(500.0 / max(dx, dy))
    assert plan_grid(source, disk, resolution_m="native").factor == 1


def test_a_grid_too_large_for_this_machine_is_refused_with_a_spacing_that_fits(hgt_folder, monkeypatch):
    """1" terrain under a 500 km disk at native spacing is 1.5e9 cells (~80 GiB): refused before
    anything is allocated, naming the unit, its disk and a resolution_m that fits."""
    import simulator.analysis_area as aa

    source = open_dem(hgt_folder)
    disk = [UnitDisk("big-radar", 44.93, 146.95, 15_000.0)]
    native = plan_grid(source, disk, resolution_m="native")
    cells = native.n_rows * native.n_cols
    # a machine whose budget holds a quarter of what the native grid needs
    needed = aa.GRID_BYTES_PER_CELL * cells + aa.UNIT_BYTES_PER_CELL * cells
    monkeypatch.setattr(aa, "_physical_memory_bytes", lambda: int(needed / 4 / aa.MEMORY_FRACTION))
    for resolution in ("native", float(max(native.dem_cell_size_m))):
        with pytest.raises(AdcovError) as info:
            plan_grid(source, disk, resolution_m=resolution, where="s.yaml")
        text = str(info.value)
        assert text.startswith("s.yaml: resolution_m") and "'big-radar'" in text and "15 km disk" in text
        suggested = float(text.split("Give resolution_m ")[1].split(" ")[0])
        assert plan_grid(source, disk, resolution_m=suggested).factor >= 2  # the suggestion fits
    monkeypatch.undo()
    assert plan_grid(source, disk, resolution_m="native").factor == 1  # fits this machine


def _brute_force_floor(elevation, obs_rc, target_rc, dist_m, h0, re_m, samples_per_cell=24):
    """Exact line of sight over the bilinear surface from an antenna to one point (UTM grid:
    straight lines, ranges scaled to the geodesic distance)."""
    (orow, ocol), (trow, tcol) = obs_rc, target_rc
    length = math.hypot(trow - orow, tcol - ocol)
    n = max(int(length * samples_per_cell), 2)
    f = np.arange(1, n) / n
    along = f * length
    f = f[(along >= 0.5) & (along <= length - 0.5)]
    if f.size == 0:
        return ndimage.map_coordinates(elevation, [[trow], [tcol]], order=1)[0]
    z = ndimage.map_coordinates(elevation, [orow + (trow - orow) * f, ocol + (tcol - ocol) * f], order=1)
    s = f * dist_m
    max_tan = np.max((z - s * s / (2 * re_m) - h0) / s)
    ground = ndimage.map_coordinates(elevation, [[trow], [tcol]], order=1)[0]
    return max(ground, h0 + dist_m * max_tan + dist_m**2 / (2 * re_m))


@pytest.mark.slow
def test_coarse_grid_keeps_dem_masking(tmp_path):
    """A grid 3x coarser than the DEM: areas within 2 % of the native grid's, and its floors
    agree with a brute-force bilinear line of sight at the coarse cells' centres."""
    elevation = rough_elevation_m((600, 600), seed=11, relief_m=700.0, smooth_cells=2.0)
    terrain = utm_terrain(elevation, 60.0)
    site = (300, 290)
    lon0, lat0 = terrain.xy_to_lonlat(*terrain.pixel_to_xy(site[0], site[1]))
    disk = [UnitDisk("u", float(lat0), float(lon0), 17_000.0)]
    native = plan_grid(terrain, disk, outside_terrain="clip")
    coarse = plan_grid(terrain, disk, resolution_m=180.0, outside_terrain="clip")
    assert coarse.factor == 3
    from simulator.catalog import load_catalog
    from simulator.figures import resolve_unit_figures
    from simulator.scenario import UnitSpec

    unit = UnitSpec("u", "tor_m2", "Tor-M2", float(lat0), float(lon0), None, 20.0, 17.0, {}, None, None, "hypothetical", (), "")
    figures = resolve_unit_figures(unit, load_catalog().get("tor_m2"), 20.0, "nominal")
    areas = {}
    for name, grid in (("native", native), ("coarse", coarse)):
        env = build_unit_envelope(grid, figures, 4 / 3)
        for agl in (30.0, 100.0, 1000.0):
            rows, cols = env.window
            h = grid.elevation_m[rows, cols] + np.float32(agl)
            covered = env.covered("detection", h)
            areas[(name, agl)] = float((grid.cell_area_m2[rows, cols] * covered).sum())
        if name == "coarse":
            coarse_env = env
    for agl in (30.0, 100.0, 1000.0):
        assert areas[("coarse", agl)] == pytest.approx(areas[("native", agl)], rel=0.02), agl
    # brute force at sampled coarse cells
    rng = np.random.default_rng(0)
    rows, cols = coarse_env.window
    floor = coarse_env.los.floor_msl_m
    h0 = coarse_env.los.antenna_altitude_msl_m
    re_m = effective_radius_m(4 / 3)
    elev64 = elevation.astype(np.float64)
    agree = total = 0
    candidates = np.argwhere(np.isfinite(floor))
    for i, j in candidates[rng.choice(len(candidates), 300, replace=False)]:
        tr, tc = coarse.dem_pixel(rows.start + i, cols.start + j)
        dist = float(coarse_env.los.ground_range_m[i, j])
        ref = _brute_force_floor(elev64, site, (float(tr), float(tc)), dist, h0, re_m)
        for agl in (30.0, 100.0, 1000.0):
            target = float(coarse.elevation_m[rows.start + i, cols.start + j]) + agl
            agree += (floor[i, j] <= target) == (ref <= target)
            total += 1
    assert agree / total >= 0.99, agree / total


# --------------------------------------------------------------------------- terrain reach


def _scenario_on(folder: Path, hgt: Path, units, **extra) -> Path:
    doc = {"schema_version": 1, "name": "tiles", "terrain": str(hgt), "assumptions": {"antenna_height_m": 30},
           "units": units, **extra}
    path = folder / f"tiles-{len(list(folder.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_disk_past_the_terrain_is_refused_naming_the_unit(tmp_path, hgt_folder):
    # Tor-M2 has no published radar range: its 60 km weapon disk is its largest (an S-300V4's
    # 500 km radar disk would be, whatever its range_km)
    units = [{"id": "edge-unit", "system": "tor_m2", "lat_deg": 44.5, "lon_deg": 146.5, "range_km": 60}]
    scenario = load_scenario(_scenario_on(tmp_path, hgt_folder, units))
    with pytest.raises(TerrainError, match=r"unit 'edge-unit': its 60 km nominal disk reaches past the terrain \(west"):
        build_coverage(scenario)


def test_outside_terrain_sea_and_clip(tmp_path, hgt_folder):
    units = [{"id": "edge", "system": "tor_m2", "lat_deg": 44.03, "lon_deg": 146.5, "range_km": 15}]
    sea = build_coverage(load_scenario(_scenario_on(tmp_path, hgt_folder, units, outside_terrain="sea")))
    clip = build_coverage(load_scenario(_scenario_on(tmp_path, hgt_folder, units, outside_terrain="clip")))
    assert sea.grid.bounds_deg[1] < 44.0 - 0.05  # the grid reaches south of the tiles
    assert clip.grid.bounds_deg[1] >= 44.0 - 0.001
    assert sea.analysis_area()["units"]["edge"]["disk_fraction_outside"] < 0.01
    clipped = clip.analysis_area()["units"]["edge"]["disk_fraction_outside"]
    assert 0.3 < clipped < 0.6  # about half the disk lies south of 44 N
    assert sea.covered_km2("detection", 1000.0) > clip.covered_km2("detection", 1000.0)


def test_explicit_area_reports_each_units_clipped_fraction(tmp_path, hgt_folder, capsys):
    units = [{"id": "a", "system": "tor_m2", "lat_deg": 44.9, "lon_deg": 146.9, "range_km": 15}]
    area = {"west_deg": 146.9, "south_deg": 44.5, "east_deg": 147.5, "north_deg": 45.5}  # cuts the disk at its meridian
    path = _scenario_on(tmp_path, hgt_folder, units, area=area)
    assert cli_main(["run", str(path), "--json", "--no-cache", "--altitudes-m", "1000"]) == 0
    result = json.loads(capsys.readouterr().out)
    unit = result["assumptions"]["analysis_area"]["units"]["a"]
    assert result["assumptions"]["analysis_area"]["extent"] == "area"
    assert unit["disk_fraction_outside"] == pytest.approx(0.5, abs=0.02)
    assert cli_main(["run", str(path), "--no-cache", "--altitudes-m", "1000"]) == 0
    assert "of its 15 km nominal disk lies outside the analysis area" in capsys.readouterr().out


def test_disk_fraction_outside_is_zero_for_a_full_disk_grid(hgt_folder):
    source = open_dem(hgt_folder)
    disk = UnitDisk("u", 44.93, 146.95, 15_000.0)
    assert disk_fraction_outside(plan_grid(source, [disk]), disk) < 0.002


# --------------------------------------------------------------------------- bundled scenarios


@pytest.mark.slow
def test_bundled_kurils_cover_the_union_of_both_disks_at_10_km():
    """No box: at 10 km MSL the detection coverage reaches the full radar disks (the S-300V4's
    500 km 9S15 surveillance radar, cut to about 434 km by the radar horizon of a 10 km target)
    wherever the horizon and the terrain allow. Over a sea-level copy of the same grid (no masking) it is
    the union of both geodesic disks; over the real DTED0 it is less (volcanoes next to the
    sites mask whole sectors) but far more than the old 143-150 E box allowed."""
    import shapely
    from shapely.geometry import Polygon

    from simulator.analysis_area import open_scenario_terrain, scenario_grid
    from simulator.catalog import load_catalog
    from simulator.terrain import Terrain

    scenario = load_scenario(bundled_scenario("kurils-2020"))
    assert scenario.area_bounds_deg is None
    scenario = scenario.active_as_of(scenario.as_of)
    coverage = build_coverage(scenario, cache=EnvelopeCache(enabled=False))
    assert coverage.grid.extent == "disks"
    laea = equal_area_crs(44.5, 146.8)
    to_ea = pyproj.Transformer.from_crs("EPSG:4326", laea, always_xy=True)
    disks = []
    for uid in ("iturup-s300v4", "kunashir-s300v4"):
        u = scenario.unit(uid)
        figures = coverage.envelopes[uid].figures
        # over sea level the disk ends at the radar horizon of a 10 km target where that is
        # nearer than the radar's range (closed form on the effective earth, k = 4/3)
        re_m = scenario.k_factor * 6_371_008.8
        horizon_m = re_m * (math.acos(re_m / (re_m + figures.antenna_height_m)) + math.acos(re_m / (re_m + 10_000.0)))
        radius_m = min(figures.detection_range_km * 1000.0, horizon_m)
        lon, lat = UnitDisk(uid, u.lat_deg, u.lon_deg, radius_m).edge_lonlat(720)
        disks.append(Polygon(np.column_stack(to_ea.transform(lon, lat))))
    union_km2 = shapely.union(*disks).area / 1e6
    covered = coverage.covered_km2("detection", 10_000.0)
    assert 240_938 * 1.3 < covered < union_km2  # the old box gave 240,938 km2
    assert coverage.analysis_area()["units"]["iturup-s300v4"]["disk_fraction_outside"] < 0.001
    # the same grid over sea level: exactly what the horizon allows, i.e. both full disks
    source = open_scenario_terrain(scenario)
    flat = Terrain.from_array(np.zeros(source.shape, np.float32), source.transform, source.crs)
    grid = scenario_grid(scenario, flat, load_catalog())
    flat_cov = build_coverage(scenario, grid=grid, cache=EnvelopeCache(enabled=False))
    assert flat_cov.covered_km2("detection", 10_000.0) == pytest.approx(union_km2, rel=0.005)


# --------------------------------------------------------------------------- Dask


@pytest.mark.slow
def test_envelopes_on_a_local_cluster_are_identical(tmp_path, hgt_folder):
    units = [{"id": "a", "system": "tor_m2", "lat_deg": 44.9, "lon_deg": 146.9, "range_km": 12},
             {"id": "b", "system": "tor_m2", "lat_deg": 45.3, "lon_deg": 147.3, "range_km": 15}]
    scenario = load_scenario(_scenario_on(tmp_path, hgt_folder, units))
    here = build_coverage(scenario)
    there = build_coverage(scenario, scheduler="local")
    _assert_same_envelopes(here, there)


def test_run_scheduler_option_is_checked_before_any_work(capsys):
    assert cli_main(["run", str(bundled_scenario("kurils-2020")), "--scheduler", "udp://x"]) == 2
    assert "--scheduler" in capsys.readouterr().err
    assert cli_main(["run", str(bundled_scenario("kurils-2020")), "--resolution-m", "fine"]) == 2
    assert "--resolution-m" in capsys.readouterr().err


def test_synthetic_utm_scenarios_still_run(tmp_path):
    """Small synthetic DEMs (tests/synthetic.py) take outside_terrain: clip."""
    elevation = rough_elevation_m((120, 120), seed=2)
    path = write_scenario(tmp_path, elevation, 90.0, [
        {"id": "t", "system": "tor_m2", "lat_deg": 45.15, "lon_deg": 147.0}])
    coverage = build_coverage(load_scenario(path))
    assert coverage.analysis_area()["units"]["t"]["disk_fraction_outside"] > 0.0


def _assert_same_envelopes(here, there):
    assert list(here.envelopes) == list(there.envelopes)
    for uid in here.envelopes:
        a, b = here.envelopes[uid], there.envelopes[uid]
        assert a.window == b.window
        np.testing.assert_array_equal(a.los.floor_msl_m, b.los.floor_msl_m)
        for layer in ("detection", "engagement"):
            for ca, cb in zip(a.layers[layer], b.layers[layer], strict=True):
                np.testing.assert_array_equal(ca.floor_msl_m, cb.floor_msl_m)
                np.testing.assert_array_equal(ca.ceiling_msl_m, cb.ceiling_msl_m)


@pytest.mark.slow
def test_envelopes_on_a_loopback_scheduler_and_with_a_killed_worker(tmp_path, hgt_folder, cli_cluster):  # noqa: F811
    """``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1, then a LocalCluster
    that loses a worker mid-run: the same envelopes bit for bit as in this process."""
    import signal

    from distributed import Client, LocalCluster

    units = [{"id": f"u{i}", "system": "tor_m2", "lat_deg": 44.6 + 0.25 * i, "lon_deg": 146.5 + 0.25 * i, "range_km": 12}
             for i in range(4)]
    scenario = load_scenario(_scenario_on(tmp_path, hgt_folder, units))
    here = build_coverage(scenario)
    address, _ = cli_cluster
    _assert_same_envelopes(here, build_coverage(scenario, scheduler=address))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def progress(fraction, message):
            if not killed and fraction < 1.0:
                victim = min(pids.values())
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        there = build_coverage(scenario, scheduler=client, progress=progress)
        assert killed
    _assert_same_envelopes(here, there)


@pytest.mark.slow
def test_the_which_unit_outline_is_scipys_erosion_edge():
    """The which-unit view's outline (one compiled pass, fast on full-disk grids) is the mask
    minus scipy's erosion by the 4-neighbour cross, for every width and at the grid's edges."""
    from scipy import ndimage

    from gui.model import outline_cells

    rng = np.random.default_rng(0)
    cross = ndimage.generate_binary_structure(2, 1)
    for shape in ((1, 1), (1, 9), (3, 3), (5, 7), (60, 90)):
        for p in (0.05, 0.2, 1.0):
            mask = ndimage.binary_dilation(rng.random(shape) < p, iterations=2) if p < 1 else np.ones(shape, bool)
            for width in (1, 2, 3, 5):
                expected = mask & ~ndimage.binary_erosion(mask, cross, iterations=width, border_value=0)
                np.testing.assert_array_equal(outline_cells(mask, width), expected)
    assert not outline_cells(np.ones((4, 4), bool), 0).any()


@pytest.mark.slow
def test_a_streamed_dem_read_wedge_by_wedge_gives_the_same_floor(hgt_folder, monkeypatch):
    """Past DEM_WINDOW_BYTES a streamed DEM is read one sector's wedge at a time (a 400 km
    disk at 1" would be 1.9 GB whole): the floors are the whole window's, bit for bit."""
    from simulator import coverage, line_of_sight

    grid = AnalysisGrid.from_terrain(open_dem(hgt_folder))
    whole = coverage.compute_line_of_sight(grid, 44.9, 146.9, 30.0, 4 / 3, 60_000.0)
    reads = []
    real = DemSource.read_pixels

    def spy(self, r0, r1, c0, c1):
        reads.append((r1 - r0) * (c1 - c0))
        return real(self, r0, r1, c0, c1)

    monkeypatch.setattr(line_of_sight, "DEM_WINDOW_BYTES", 200_000)
    monkeypatch.setattr(DemSource, "read_pixels", spy)
    wedged = coverage.compute_line_of_sight(grid, 44.9, 146.9, 30.0, 4 / 3, 60_000.0)
    # the analysis cells' own terrain is read once (the largest read); every ray read is a wedge
    ray_reads = sorted(reads)[:-1]
    assert len(ray_reads) > 4 and max(ray_reads) < 0.5 * whole.floor_msl_m.size
    assert wedged.window == whole.window
    np.testing.assert_array_equal(wedged.floor_msl_m, whole.floor_msl_m)

"""Report exports: GeoJSON, KML/KMZ, GeoTIFF, PNG, CSV/JSON; assumptions everywhere; atomic writes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from PIL import Image
from shapely.geometry import Polygon, shape

from simulator import export
from simulator.cli import main
from simulator.compare import compare
from simulator.coverage import build_coverage, summarize
from simulator.errors import AdcovError
from simulator.scenario import bundled_scenario, load_scenario
from synthetic import rough_elevation_m, unit_at, utm_terrain, write_scenario

# end-to-end reports and tile sets: part of the full suite, not of the fast loop
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
KML = "{http://www.opengis.net/kml/2.2}"
#: Polygon area (boundaries half-way between cell centres, cutting corners) vs cell area.
AREA_REL = 0.03
#: Slack on lon/lat ranges: polygon vertices lie on half-cell lines inside the grid. [deg]
DEG = 1e-6

ALTITUDES_M = [100.0, 2000.0]


# ----------------------------------------------------------------------------- fixtures


def write_synthetic_scenario(folder: Path) -> Path:
    """Four units on seeded island terrain (UTM 55N, 200 m cells)."""
    elevation = rough_elevation_m((160, 180), seed=5, relief_m=600.0)
    terrain = utm_terrain(elevation, 200.0)
    units = [
        unit_at(terrain, "a", 40, 40, range_km=12),
        unit_at(terrain, "b", 50, 120, range_km=10),
        unit_at(terrain, "c", 110, 70, system="s300v4", range_km=20),
        unit_at(terrain, "d", 120, 140, range_km=8, antenna_height_m=5),
    ]
    return write_scenario(folder, elevation, 200.0, units)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    path = write_synthetic_scenario(folder)
    coverage = build_coverage(load_scenario(path), cache=None)
    return path, coverage


@pytest.fixture(scope="module")
def run_report(synthetic, tmp_path_factory):
    _, coverage = synthetic
    summary = summarize(coverage, altitudes_m=ALTITUDES_M)
    out = tmp_path_factory.mktemp("run") / "report"
    paths = export.write_run_report(coverage, summary, out)
    return coverage, summary, out, paths


@pytest.fixture(scope="module")
def comparison(synthetic):
    _, coverage = synthetic
    return compare(coverage, ["c"], altitudes_m=ALTITUDES_M)


@pytest.fixture(scope="module")
def comparison_report(comparison, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "report"
    return comparison, out, export.write_comparison_report(comparison, out)


@pytest.fixture(scope="module")
def kurils(tmp_path_factory):
    baseline = load_scenario(bundled_scenario("kurils-2020"))
    variant = load_scenario(bundled_scenario("kurils-2023"))
    result = compare(baseline, variant, altitudes_m=[100.0, 10000.0], layers=["engagement"])
    out = tmp_path_factory.mktemp("kurils") / "report"
    return result, out, export.write_comparison_report(result, out)


# ----------------------------------------------------------------------------- helpers


def geodesic_area_km2(geometry) -> float:
    geod = pyproj.Geod(ellps="WGS84")
    return abs(geod.geometry_area_perimeter(geometry)[0]) / 1e6


def check_geojson(collection: dict, grid) -> list:
    """Every geometry valid, right-hand oriented, lon/lat inside the grid; returns the shapes."""
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection
    assumptions = collection["assumptions"]
    flat = assumptions.get("baseline", assumptions)
    for key in ("k_factor", "terrain", "analysis_grid", "units", "sources"):
        assert key in flat, key
    west, south, east, north = grid.bounds_deg
    shapes = []
    for feature in collection["features"]:
        props = feature["properties"]
        for key in ("altitude_m", "altitude_ref", "layer", "kind", "unit_ids", "depth", "area_km2"):
            assert key in props, key
        assert props["kind"] in ("coverage", "lost", "gained")
        geometry = shape(feature["geometry"])
        assert geometry.geom_type in ("Polygon", "MultiPolygon")
        assert not geometry.is_empty and geometry.is_valid, shapely.is_valid_reason(geometry)
        lon_min, lat_min, lon_max, lat_max = geometry.bounds
        assert west - DEG <= lon_min and lon_max <= east + DEG
        assert south - DEG <= lat_min and lat_max <= north + DEG
        for polygon in getattr(geometry, "geoms", [geometry]):
            assert polygon.exterior.is_ccw, "exterior ring must be counter-clockwise (RFC 7946)"
            assert all(not ring.is_ccw for ring in polygon.interiors), "holes must be clockwise (RFC 7946)"
        shapes.append((props, geometry))
    return shapes


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def manifest_files(out: Path) -> list[str]:
    return [f["path"] for f in json.loads((out / "manifest.json").read_text())["files"]]


def check_complete(out: Path) -> None:
    """Every file of the manifest exists, matches its hash and parses."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"] == "adcov"
    listed = {f["path"] for f in manifest["files"]} | {"manifest.json"}
    present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert present == listed
    for entry in manifest["files"]:
        path = out / entry["path"]
        data = path.read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        suffix = path.suffix
        if suffix in (".json", ".geojson"):
            json.loads(data)
        elif suffix == ".kml":
            ET.fromstring(data)
        elif suffix == ".kmz":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                ET.fromstring(archive.read("doc.kml"))
        elif suffix == ".tif":
            with rasterio.open(path) as ds:
                ds.read(1)
        elif suffix == ".png":
            with Image.open(path) as image:
                image.verify()
        elif suffix == ".csv":
            assert list(csv.reader(io.StringIO(data.decode())))


def expected_run_files(coverage, layers, altitudes, ref="msl") -> set[str]:
    files = {"summary.json", "summary.csv", "coverage.geojson", "coverage.kml", "coverage.kmz", "ASSUMPTIONS.txt", "README.txt",
             "manifest.json", "maps/area_by_altitude.png"}
    for layer in layers:
        files.add(f"rasters/floor_{layer}_combined.tif")
        for uid in coverage.unit_ids:
            files |= {f"rasters/floor_{layer}_unit-{uid}.tif", f"rasters/ceiling_{layer}_unit-{uid}.tif"}
        for alt in altitudes:
            slug = export._altitude_slug(alt)
            files.add(f"rasters/depth_{layer}_{slug}_{ref}.tif")
            if not (layer == "detection" and set(layers) == {"detection", "engagement"}
                    and _same_in_both_layers([coverage], alt, ref)):
                files.add(f"maps/{layer}_{slug}_{ref}.png")  # an identical detection map is not written twice
    return files


def _same_in_both_layers(coverages, alt, ref) -> bool:
    return all(np.array_equal(c.unit_covered(u, "detection", alt, ref), c.unit_covered(u, "engagement", alt, ref))
               for c in coverages for u in c.unit_ids)


# ----------------------------------------------------------------------------- run report


@pytest.mark.slow
def test_run_report_lists_every_expected_file(run_report):
    coverage, _, out, paths = run_report
    expected = expected_run_files(coverage, ["detection", "engagement"], ALTITUDES_M)
    assert {str(p.relative_to(out)) for p in paths} == expected
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == expected
    check_complete(out)
    assert not list(out.parent.glob(".adcov-tmp-*"))


def test_run_geojson_is_valid_rfc7946_and_areas_add_up(run_report):
    coverage, summary, out, _ = run_report
    collection = json.loads((out / "coverage.geojson").read_text())
    shapes = check_geojson(collection, coverage.grid)
    for layer, rows in summary["layers"].items():
        for row in rows:
            features = [(p, g) for p, g in shapes if p["layer"] == layer and p["altitude_m"] == row["altitude_m"]]
            assert features
            assert all(p["kind"] == "coverage" and p["altitude_ref"] == "msl" for p, _ in features)
            # disjoint per set of covering units: their cell areas add up to the covered area
            assert sum(p["area_km2"] for p, _ in features) == pytest.approx(row["covered_km2"], abs=0.01)
            assert max(p["depth"] for p, _ in features) == row["max_depth"]
            for props, _ in features:
                assert props["depth"] == len(props["unit_ids"]) and set(props["unit_ids"]) <= set(coverage.unit_ids)
            polygon_km2 = sum(geodesic_area_km2(g) for _, g in features)
            assert polygon_km2 == pytest.approx(row["covered_km2"], rel=AREA_REL)


def test_run_kml_has_one_folder_per_altitude_and_the_assumptions(run_report):
    _, _, out, _ = run_report
    root = ET.parse(out / "coverage.kml").getroot()
    document = root.find(f"{KML}Document")
    assert "k = 4/3" in document.find(f"{KML}description").text
    layer_folders = {f.find(f"{KML}name").text: f for f in document.findall(f"{KML}Folder")}
    assert set(layer_folders) == {"Detection layer", "Engagement layer", "Unit sites"}
    for layer in ("Detection layer", "Engagement layer"):
        names = [f.find(f"{KML}name").text for f in layer_folders[layer].findall(f"{KML}Folder")]
        assert names == ["100 m MSL", "2,000 m MSL"]
        for folder in layer_folders[layer].findall(f"{KML}Folder"):
            assert folder.findall(f"{KML}Placemark")
    assert len(layer_folders["Unit sites"].findall(f"{KML}Placemark")) == 4
    # styled: semi-transparent fills (KML colours are aabbggrr)
    for style in document.findall(f"{KML}Style"):
        poly = style.find(f"{KML}PolyStyle")
        if poly is not None and poly.find(f"{KML}fill").text == "1":
            assert 0 < int(poly.find(f"{KML}color").text[:2], 16) < 255
    with zipfile.ZipFile(out / "coverage.kmz") as archive:
        assert archive.namelist() == ["doc.kml"]
        assert archive.read("doc.kml") == (out / "coverage.kml").read_bytes()


def test_run_geotiffs_carry_grid_floors_depth_and_tags(run_report):
    coverage, _, out, _ = run_report
    grid = coverage.grid
    for layer in ("detection", "engagement"):
        combined = np.full(grid.shape, np.inf, np.float32)
        for uid, env in coverage.envelopes.items():
            floor, _ = env.floor_ceiling(layer)
            expected = np.full(grid.shape, np.nan, np.float32)
            expected[env.window] = np.where(np.isfinite(floor), floor, np.nan)
            combined = np.fmin(combined, expected)
            with rasterio.open(out / f"rasters/floor_{layer}_unit-{uid}.tif") as ds:
                assert pyproj.CRS.from_wkt(ds.crs.to_wkt()) == grid.crs
                assert ds.transform.almost_equals(grid.transform)
                assert ds.dtypes[0] == "float32" and np.isnan(ds.nodata)
                np.testing.assert_array_equal(ds.read(1), expected)
                tags = ds.tags()
                assert tags["layer"] == layer and tags["unit_id"] == uid and tags["units"] == "m MSL"
                assert "k = 4/3" in tags["assumptions"]
                assert json.loads(tags["assumptions_json"])["units"][uid]["antenna_height_m"] == env.figures.antenna_height_m
        with rasterio.open(out / f"rasters/floor_{layer}_combined.tif") as ds:
            np.testing.assert_array_equal(ds.read(1), np.where(np.isinf(combined), np.nan, combined))
        for alt in ALTITUDES_M:
            with rasterio.open(out / f"rasters/depth_{layer}_{export._altitude_slug(alt)}_msl.tif") as ds:
                assert ds.dtypes[0] == "uint8"
                np.testing.assert_array_equal(ds.read(1), coverage.depth(layer, alt, "msl"))
                assert ds.tags()["altitude_m"] == f"{alt:g}" and ds.tags()["altitude_ref"] == "msl"


def test_run_pngs_are_images_with_the_assumptions(run_report):
    _, _, out, _ = run_report
    for path in out.glob("maps/*.png"):
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert 1000 <= width <= 4000 and 500 <= height <= 4000
            assert "k = 4/3" in image.text["Description"]


def test_run_tables_and_text_files(run_report):
    coverage, summary, out, _ = run_report
    rows = read_csv(out / "summary.csv")
    assert len(rows) == 2 * len(ALTITUDES_M)
    by_key = {(r["layer"], float(r["altitude_m"])): r for r in rows}
    for layer, layer_rows in summary["layers"].items():
        for row in layer_rows:
            got = by_key[(layer, row["altitude_m"])]
            assert float(got["covered_km2"]) == pytest.approx(row["covered_km2"], abs=1e-3)
            for uid in coverage.unit_ids:
                assert float(got[f"{uid}_km2"]) == pytest.approx(row["by_unit_km2"][uid], abs=1e-3)
    data = json.loads((out / "summary.json").read_text())
    assert data["layers"] == json.loads(json.dumps(summary["layers"]))
    assert data["assumptions"]["k_factor"] == pytest.approx(4.0 / 3.0)
    source_ids = {sid for u in data["assumptions"]["units"].values() for ids in u["sources"].values() for sid in ids}
    assert source_ids and source_ids <= set(data["assumptions"]["sources"])
    text = (out / "ASSUMPTIONS.txt").read_text()
    for needle in ("k = 1.33333", "Terrain:", "antenna height 20 m AGL", "antenna height 5 m AGL", *source_ids):
        assert needle in text
    readme = (out / "README.txt").read_text()
    assert "k = 4/3" in readme and "coverage.geojson" in readme


# ----------------------------------------------------------------------------- comparison report


def expected_comparison_files(result) -> set[str]:
    files = {"comparison.json", "comparison.csv", "marginal.csv", "comparison.geojson", "comparison.kml", "comparison.kmz",
             "ASSUMPTIONS.txt", "README.txt", "manifest.json", "maps/area_by_altitude.png"}
    base, var = export._slug(result.baseline_name), export._slug(result.variant_name)
    for layer in result.layers:
        files.add(f"rasters/{base}_floor_{layer}_combined.tif")
        files.add(f"rasters/{var}_floor_{layer}_combined.tif")
        for uid in result.baseline.unit_ids:
            files |= {f"rasters/{base}_floor_{layer}_unit-{uid}.tif", f"rasters/{base}_ceiling_{layer}_unit-{uid}.tif"}
        for alt in result.altitudes_m:
            slug = f"{export._altitude_slug(alt)}_{result.altitude_ref}"
            files |= {f"rasters/{base}_depth_{layer}_{slug}.tif", f"rasters/{var}_depth_{layer}_{slug}.tif",
                      f"rasters/change_{layer}_{slug}.tif"}
            if not (layer == "detection" and set(result.layers) == {"detection", "engagement"}
                    and _same_in_both_layers([result.baseline, result.variant], alt, result.altitude_ref)):
                files.add(f"maps/{layer}_{slug}.png")
    return files


@pytest.mark.slow
def test_comparison_report_files_and_geojson(comparison_report):
    result, out, paths = comparison_report
    assert {str(p.relative_to(out)) for p in paths} == expected_comparison_files(result)
    check_complete(out)
    collection = json.loads((out / "comparison.geojson").read_text())
    shapes = check_geojson(collection, result.baseline.grid)
    assert set(collection["assumptions"]) >= {"baseline", "variant", "withdrawn_units"}
    for change in result.changes:
        here = [(p, g) for p, g in shapes if p["layer"] == change.layer and p["altitude_m"] == change.altitude_m]
        for role, km2 in (("baseline", change.baseline_km2), ("variant", change.variant_km2)):
            cover = [p for p, _ in here if p["kind"] == "coverage" and p["role"] == role]
            assert sum(p["area_km2"] for p in cover) == pytest.approx(km2, abs=0.01)
        lost = [(p, g) for p, g in here if p["kind"] == "lost"]
        gained = [(p, g) for p, g in here if p["kind"] == "gained"]
        assert len(lost) == (change.lost_km2 > 0) and len(gained) == (change.gained_km2 > 0)
        if lost:
            props, geometry = lost[0]
            assert props["area_km2"] == pytest.approx(change.lost_km2, abs=1e-3)
            assert "c" in props["unit_ids"]
            assert geodesic_area_km2(geometry) == pytest.approx(change.lost_km2, rel=AREA_REL)


def test_comparison_tables_kml_rasters(comparison_report):
    result, out, _ = comparison_report
    rows = read_csv(out / "comparison.csv")
    assert len(rows) == len(result.changes)
    for row, change in zip(rows, result.changes, strict=True):
        assert row["layer"] == change.layer and float(row["altitude_m"]) == change.altitude_m
        for key in ("baseline_km2", "variant_km2", "lost_km2", "gained_km2"):
            assert float(row[key]) == pytest.approx(getattr(change, key), abs=1e-3)
    marginal = read_csv(out / "marginal.csv")
    assert [m["unit"] for m in marginal] == [m.unit for m in sorted(result.marginal, key=lambda m: -m.total_lost_km2)]
    totals = [float(m["total_lost_km2"]) for m in marginal]
    assert totals == sorted(totals, reverse=True)
    data = json.loads((out / "comparison.json").read_text())
    assert data["withdrawn_units"] == ["c"] and "sources" in data["assumptions"]["baseline"]

    document = ET.parse(out / "comparison.kml").getroot().find(f"{KML}Document")
    assert "withdrawn" in document.find(f"{KML}description").text and "k = 4/3" in document.find(f"{KML}description").text
    for layer_folder in document.findall(f"{KML}Folder"):
        if layer_folder.find(f"{KML}name").text == "Unit sites":
            continue
        altitude_folders = layer_folder.findall(f"{KML}Folder")
        assert [f.find(f"{KML}name").text for f in altitude_folders] == ["100 m MSL", "2,000 m MSL"]

    for change in result.changes:
        path = out / f"rasters/change_{change.layer}_{export._altitude_slug(change.altitude_m)}_msl.tif"
        with rasterio.open(path) as ds:
            classes = ds.read(1)
            assert ds.transform.almost_equals(result.baseline.grid.transform)
        np.testing.assert_array_equal(classes == 2, change.lost_cells)
        np.testing.assert_array_equal(classes == 3, change.gained_cells)
        np.testing.assert_array_equal(classes == 1, change.kept_cells)


@pytest.mark.slow
def test_kurils_comparison_report(kurils):
    result, out, paths = kurils
    check_complete(out)
    assert {str(p.relative_to(out)) for p in paths} == expected_comparison_files(result)
    collection = json.loads((out / "comparison.geojson").read_text())
    shapes = check_geojson(collection, result.baseline.grid)
    for altitude in result.altitudes_m:
        kinds = [p["kind"] for p, _ in shapes if p["altitude_m"] == altitude]
        assert "lost" in kinds and "gained" not in kinds
        lost = next(p for p, _ in shapes if p["altitude_m"] == altitude and p["kind"] == "lost")
        assert set(lost["unit_ids"]) >= {"iturup-s300v4", "kunashir-s300v4"}
    marginal = read_csv(out / "marginal.csv")
    assert {m["unit"] for m in marginal[:2]} == {"iturup-s300v4", "kunashir-s300v4"}
    text = (out / "ASSUMPTIONS.txt").read_text()
    assert "dted0-kurils" in text and "scenario assumption" in text and "alresalah_s300v4_syria" in text
    # where each unit's site and dates come from, every source resolved to a citation: the
    # scenario file's own (kyodo_2023_08_31) or the catalog's (sputnikjp_2020_12_03)
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    for unit in scenario.units:
        assert f"source of the placement: {', '.join(unit.sources)}" in text
    assert "placement: reported_withdrawn, deployed 2020-12-01, withdrawn 2023-08-31; site within ~10 km" in text
    assert "- kyodo_2023_08_31: Russia has moved missiles off isles disputed with Japan: expert. Kyodo News" in text
    assert "- sputnikjp_2020_12_03: " in text and "not in the adcov catalog" not in text
    with Image.open(out / "maps/engagement_10000m_msl.png") as image:
        assert image.size[0] > 1200 and "S-300V4" in image.text["Description"]


# ----------------------------------------------------------------------------- public helpers


def test_geometry_geojson_orients_rings_right_hand():
    clockwise_shell = [(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)]
    counter_clockwise_hole = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75), (0.25, 0.25)]
    geojson = export.geometry_geojson(Polygon(clockwise_shell, [counter_clockwise_hole]))
    polygon = shape(geojson)
    assert polygon.exterior.is_ccw and not polygon.interiors[0].is_ccw
    assert export.geometry_geojson(Polygon()) is None


def test_write_kml_and_kmz(tmp_path):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[147.0, 45.0], [147.1, 45.0], [147.1, 45.1], [147.0, 45.0]]]},
        "properties": {"kind": "lost", "unit_ids": ["x"], "area_km2": 12.5, "note": "a < b & c"},
    }
    groups = [(("Engagement layer", "100 m MSL"), [feature]), (("Engagement layer", "1,000 m AGL"), [])]
    kml = export.write_kml(tmp_path / "a.kml", groups, description="Assumptions: k = 4/3")
    kmz = export.write_kml(tmp_path / "a.kmz", groups, kmz=True, description="Assumptions: k = 4/3")
    root = ET.parse(kml).getroot()
    names = [f.find(f"{KML}name").text for f in root.iter(f"{KML}Folder")]
    assert names == ["Engagement layer", "100 m MSL", "1,000 m AGL"]
    placemark = next(root.iter(f"{KML}Placemark"))
    assert placemark.find(f"{KML}styleUrl").text == "#lost"
    with zipfile.ZipFile(kmz) as archive:
        assert archive.read("doc.kml") == kml.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.kml", "a.kmz"]


def test_render_map_png_alone(synthetic, tmp_path):
    _, coverage = synthetic
    base = coverage.covered("engagement", 500.0)
    var = coverage.covered("engagement", 500.0, units=["a", "b"])
    path = export.render_map_png(tmp_path / "m.png", coverage, layer="engagement", altitude_m=500.0, altitude_ref="msl",
                                 baseline_mask=base, variant_mask=var, names=("all", "a+b"))
    with Image.open(path) as image:
        assert image.size[0] > 1000 and "k = 4/3" in image.text["Description"]
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


@pytest.mark.slow
def test_render_map_png_of_a_comparison_marks_withdrawn_sites(comparison, tmp_path):
    sites = export.comparison_sites(comparison)
    assert {s["unit_id"]: s["status"] for s in sites} == {"a": "active", "b": "active", "c": "withdrawn", "d": "active"}
    path = export.render_map_png(tmp_path / "c.png", comparison.baseline, layer="engagement", altitude_m=2000.0,
                                 comparison=comparison)
    with Image.open(path) as image:
        assert image.text["Title"] == "Engagement coverage at 2,000 m MSL: synthetic → synthetic without c"


@pytest.mark.slow
def test_replaces_only_its_own_reports(run_report, tmp_path):
    coverage, summary, _, _ = run_report
    out = tmp_path / "report"
    export.write_run_report(coverage, summary, out, altitudes_m=[100.0], layers=["engagement"])
    first = manifest_files(out)
    export.write_run_report(coverage, summary, out, altitudes_m=[2000.0], layers=["engagement"])
    second = manifest_files(out)
    assert "maps/engagement_100m_msl.png" in first and "maps/engagement_2000m_msl.png" in second
    assert "maps/engagement_100m_msl.png" not in second
    check_complete(out)
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(AdcovError, match="not an adcov report"):
        export.write_run_report(coverage, summary, foreign, altitudes_m=[100.0], layers=["engagement"])
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "report"]


@pytest.mark.slow
def test_cli_run_out(synthetic, tmp_path, capsys):
    path, coverage = synthetic
    out = tmp_path / "cli-report"
    status = main(["run", str(path), "--altitudes-m", "300", "--layers", "engagement", "--no-cache", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert str(out / "coverage.geojson") in printed and str(out / "manifest.json") in printed
    check_complete(out)
    assert set(manifest_files(out)) | {"manifest.json"} == expected_run_files(coverage, ["engagement"], [300.0])
    status = main(["run", str(path), "--altitudes-m", "300", "--layers", "engagement", "--no-cache", "--json", "--out", str(out)])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert str(out / "summary.csv") in result["report_files"]


# ----------------------------------------------------------------------------- kill -9


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from simulator import export
    from simulator.cache import EnvelopeCache
    from simulator.coverage import build_coverage, summarize
    from simulator.scenario import load_scenario

    scenario, out, mode, cache_dir = sys.argv[1:5]
    coverage = build_coverage(load_scenario(scenario), cache=EnvelopeCache(cache_dir))
    summary = summarize(coverage, layers=["engagement"], altitudes_m=[100.0, 2000.0])

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if mode == "loop":
        export.write_run_report(coverage, summary, out)  # a complete report to replace
        print("ready", flush=True)
        while True:
            export.write_run_report(coverage, summary, out)
    export.write_run_report(coverage, summary, out)
    if mode == "before-swap":      # everything staged, killed before the old report is replaced
        export._exchange = die
    elif mode == "after-swap":     # new report in place, old one not yet removed
        export.shutil.rmtree = die
    elif mode == "mid-maps":       # killed while drawing the maps
        calls = []
        original = export.render_map_png
        def counting(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                die()
            return original(*args, **kwargs)
        export.render_map_png = counting
    print("ready", flush=True)
    export.write_run_report(coverage, summary, out)
    print("not killed", flush=True)
    """
)


def _kill_and_check(scenario: Path, folder: Path, mode: str, delay_s: float, cache_dir: Path) -> None:
    out = folder / "report"
    script = folder / "export_and_die.py"
    script.write_text(KILL_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    process = subprocess.Popen([sys.executable, str(script), str(scenario), str(out), mode, str(cache_dir)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=folder, env=env)
    try:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        time.sleep(delay_s)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    # the report folder is complete (old or new), never partial; only recognisable temp dirs remain
    check_complete(out)
    for entry in folder.iterdir():
        assert entry.name in ("report", script.name) or entry.name.startswith(".adcov-tmp-report."), entry.name


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("envelope-cache")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["before-swap", "after-swap", "mid-maps"])
def test_kill_at_each_stage_leaves_a_complete_report(synthetic, tmp_path, cache_dir, mode):
    scenario, coverage = synthetic
    _kill_and_check(scenario, tmp_path, mode, 0.0, cache_dir)
    # the next export cleans up what the killed process left
    summary = summarize(coverage, altitudes_m=[100.0])
    export.write_run_report(coverage, summary, tmp_path / "report", altitudes_m=[100.0], layers=["engagement"])
    assert not list(tmp_path.glob(".adcov-tmp-*"))
    check_complete(tmp_path / "report")


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [0.2, 0.7, 1.5, 3.0])
def test_kill_9_at_random_moments_leaves_no_partial_report(synthetic, tmp_path, cache_dir, delay_s):
    scenario, _ = synthetic
    _kill_and_check(scenario, tmp_path, "loop", delay_s, cache_dir)


@pytest.mark.slow
def test_identical_detection_and_engagement_maps_are_written_once(tmp_path):
    """Tor-M2 has no published radar range: detection = engagement, so each altitude gets one
    map, and README.txt and the manifest say which detection maps were not written and why."""
    from simulator.coverage import build_coverage, summarize
    from simulator.scenario import load_scenario
    from synthetic import rough_elevation_m, unit_at, utm_terrain, write_scenario

    elevation = rough_elevation_m((50, 50), seed=21)
    terrain = utm_terrain(elevation, 90.0)
    scenario = load_scenario(write_scenario(tmp_path, elevation, 90.0, [unit_at(terrain, "tor", 25, 25)], name="tor-only"))
    coverage = build_coverage(scenario)
    altitudes = [100.0, 1000.0]
    assert all(_same_in_both_layers([coverage], a, "msl") for a in altitudes)
    summary = summarize(coverage, layers=["detection", "engagement"], altitudes_m=altitudes, altitude_ref="msl")
    out = tmp_path / "report"
    written = export.write_run_report(coverage, summary, out, altitudes_m=altitudes, layers=["detection", "engagement"],
                                      altitude_ref="msl")
    names = {p.relative_to(out).as_posix() for p in written}
    assert "maps/engagement_100m_msl.png" in names and "maps/detection_100m_msl.png" not in names
    readme = (out / "README.txt").read_text()
    assert "maps/detection_100m_msl.png is not written" in readme and "identical to maps/engagement_100m_msl.png" in readme
    assert json.loads((out / "manifest.json").read_text())["maps_identical_across_layers_m"] == altitudes

"""The `adcov` command in process: exit status, output, errors without tracebacks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from simulator.cli import main
from simulator.coverage import build_coverage, summarize
from simulator.scenario import bundled_scenario, load_scenario

KURILS_2020 = str(bundled_scenario("kurils-2020"))
KURILS_DEM = str(bundled_scenario("kurils-2020").parent / "terrain" / "kurils_dted0.tif")


def run_json(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.slow
def test_run_json_matches_the_api(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ADCOV_CACHE_DIR", str(tmp_path))
    result = run_json(capsys, ["run", KURILS_2020, "--json", "--altitudes-m", "100,10000"])
    rows = result["layers"]["engagement"]
    assert [r["altitude_m"] for r in rows] == [100.0, 10000.0]
    assert {"altitude_ref", "covered_km2", "by_unit_km2", "max_depth"} <= set(rows[0])
    scenario = load_scenario(KURILS_2020)
    api = summarize(build_coverage(scenario.active_as_of(scenario.as_of), cache=None), altitudes_m=(100.0, 10000.0))
    for got, expected in zip(rows, api["layers"]["engagement"], strict=True):
        assert got["covered_km2"] == pytest.approx(expected["covered_km2"], rel=1e-12)
        assert got["by_unit_km2"] == pytest.approx(expected["by_unit_km2"], rel=1e-12)
    assumptions = result["assumptions"]
    assert assumptions["k_factor"] == pytest.approx(4 / 3)
    assert assumptions["units"]["iturup-s300v4"]["antenna_height_m"] == 30
    # warm run: the same numbers from the cache
    again = run_json(capsys, ["run", KURILS_2020, "--json", "--altitudes-m", "100,10000"])
    assert again["layers"] == result["layers"]


@pytest.mark.slow
def test_run_table_shows_assumptions(capsys):
    assert main(["run", KURILS_2020, "--no-cache", "--altitudes-m", "1000", "--layers", "engagement"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps to the terminal width
    assert "engagement" in out and "Assumptions" in out and "scenario assumption" in out


@pytest.mark.slow
def test_run_agl_and_as_of(capsys):
    msl = run_json(capsys, ["run", KURILS_2020, "--json", "--no-cache", "--altitudes-m", "300"])
    agl = run_json(capsys, ["run", KURILS_2020, "--json", "--no-cache", "--altitudes-m", "300", "--altitude-ref", "agl"])
    assert agl["layers"]["engagement"][0]["altitude_ref"] == "agl"
    assert agl["layers"]["engagement"][0]["covered_km2"] >= msl["layers"]["engagement"][0]["covered_km2"]
    later = run_json(capsys, ["run", KURILS_2020, "--json", "--no-cache", "--altitudes-m", "300", "--as-of", "2023-09-15"])
    assert later["active_units"] == ["iturup-tor-m2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", KURILS_2020, "--altitudes-m", "10,abc"], "--altitudes-m: 'abc' is not a number"),
        (["run", KURILS_2020, "--layers", "radar"], "expected one or more of detection, engagement"),
        (["run", KURILS_2020, "--as-of", "2023-13-01"], "expected YYYY-MM-DD"),
        (["run", "no-such-file.yaml"], "no-such-file.yaml"),
        (["viewshed", "missing.tif", "--lat", "44", "--lon", "146", "--observer-height-m", "30", "--out", "x.tif"], "missing.tif"),
        (["viewshed", "missing.tif", "--lat", "44", "--lon", "146", "--observer-height-m", "-3", "--out", "x.tif"], "--observer-height-m"),
        (["viewshed", "missing.tif", "--lat", "95", "--lon", "146", "--observer-height-m", "3", "--out", "x.tif"], "--lat/--lon"),
        (["viewshed", "missing.tif", "--lat", "44", "--lon", "146", "--observer-height-m", "3", "--k-factor", "0", "--out", "x.tif"], "--k-factor"),
        (["viewshed", KURILS_DEM, "--lat", "44", "--lon", "146", "--observer-height-m", "3", "--out", "no-such-dir/x.tif"], "--out: folder 'no-such-dir'"),
        (["viewshed", KURILS_DEM, "--lat", "44", "--lon", "146", "--observer-height-m", "3", "--out", "x.tif",
          "--floor-out", "no-such-dir/f.tif"], "--floor-out: folder 'no-such-dir'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_viewshed_outside_the_dem_is_a_clear_error(capsys, tmp_path):
    dem = bundled_scenario("kurils-2020").parent / "terrain" / "kurils_dted0.tif"
    status = main(["viewshed", str(dem), "--lat", "30", "--lon", "146", "--observer-height-m", "30", "--out", str(tmp_path / "v.tif")])
    assert status == 2
    err = capsys.readouterr().err
    assert "outside" in err.lower() and "30" in err
    assert not (tmp_path / "v.tif").exists()


def test_viewshed_writes_gis_conventions(tmp_path):
    dem = bundled_scenario("kurils-2020").parent / "terrain" / "dted0" / "e146" / "n44.dt0"
    out, floor_out = tmp_path / "v.tif", tmp_path / "f.tif"
    assert main(["viewshed", str(dem), "--lat", "44.35", "--lon", "146.25", "--observer-height-m", "10",
                 "--target-height-m", "100", "--max-range-km", "40", "--out", str(out), "--floor-out", str(floor_out)]) == 0
    with rasterio.open(out) as ds, rasterio.open(dem) as src, rasterio.open(floor_out) as fl:
        visible = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
        assert ds.crs == src.crs and ds.transform.almost_equals(src.transform) and ds.shape == src.shape
        assert set(np.unique(visible)) <= {0, 1, 255}
        assert (visible == 255).any() and (visible == 1).any()
        floor = fl.read(1)
        assert fl.dtypes[0] == "float32"
        assert np.isnan(floor[visible == 255]).all()
        terrain = src.read(1).astype(np.float32)
        np.testing.assert_array_equal(visible[visible != 255] == 1, floor[visible != 255] <= terrain[visible != 255] + 100)


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("systems", "validate", "schema", "viewshed", "run"):
        assert command in out


def test_viewshed_command_constants_agree_with_the_library():
    """The viewshed command keeps numpy and numba out of its module (they load while the DEM
    is read): its copies of the defaults and codes must equal the library's."""
    import numpy as np

    from simulator import geometry, visibility
    from simulator.cli import viewshed as command

    assert command.DEFAULT_K_FACTOR == geometry.DEFAULT_K_FACTOR
    floor = np.array([[np.nan, 10.0, 10.0]], dtype=np.float32)
    terrain = np.array([[0.0, 0.0, 20.0]], dtype=np.float32)
    codes = visibility.classify_visible(floor, terrain, np.float32(5.0), True)
    assert codes.tolist() == [[command.BEYOND_RANGE, command.HIDDEN, command.VISIBLE]]


def test_run_as_of_says_the_date_and_the_units_it_leaves_out(capsys):
    scenario = str(bundled_scenario("kurils-2020"))
    assert main(["run", scenario, "--as-of", "2023-09-15", "--altitudes-m", "1000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["as_of"] == "2023-09-15"
    assert [u["id"] for u in result["inactive_units"]] == ["iturup-s300v4", "kunashir-s300v4"]
    assert result["active_units"] == ["iturup-tor-m2"]
    assert main(["run", scenario, "--as-of", "2023-09-15", "--altitudes-m", "1000"]) == 0
    out = capsys.readouterr().out
    assert "As of 2023-09-15: 1 active unit; not active that day: iturup-s300v4 (reported_withdrawn" in out


def test_viewshed_says_what_it_wrote(tmp_path, capsys):
    out, floor = tmp_path / "v.tif", tmp_path / "f.tif"
    assert main(["viewshed", KURILS_DEM, "--lat", "44.03", "--lon", "145.85", "--observer-height-m", "30",
                 "--target-height-m", "100", "--max-range-km", "50", "--out", str(out), "--floor-out", str(floor)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}: visibility of a 100 m AGL target" in text and f"wrote {floor}: lowest visible altitude" in text


def test_viewshed_refuses_an_unphysical_k_factor(tmp_path, capsys):
    """k = 1e-100 used to overflow and report every cell visible: k has physical bounds."""
    for k in ("1e-100", "1e-300", "0.05", "1000"):
        assert main(["viewshed", KURILS_DEM, "--lat", "44.03", "--lon", "145.85", "--observer-height-m", "30",
                     "--k-factor", k, "--out", str(tmp_path / "v.tif")]) == 2
        err = capsys.readouterr().err
        assert "--k-factor" in err and "[0.1, 100]" in err
    assert not (tmp_path / "v.tif").exists()

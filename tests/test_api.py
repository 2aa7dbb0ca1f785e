"""The front door: ``simulator.run_scenario`` and friends equal the commands they stand for."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import simulator
from simulator.cli import main
from simulator.errors import AdcovError
from synthetic import cell_lonlat, rough_elevation_m, unit_at, utm_terrain, write_scenario


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    elevation = rough_elevation_m((80, 80), seed=5, relief_m=400.0)
    terrain = utm_terrain(elevation, 200.0)
    units = [dict(unit_at(terrain, "early", 25, 25, range_km=6), deployed="2020-01-01", withdrawn="2021-06-30"),
             dict(unit_at(terrain, "late", 50, 50, range_km=6), deployed="2021-01-01")]
    path = write_scenario(folder, elevation, 200.0, units, name="dated", as_of="2020-06-01")
    lon, lat = cell_lonlat(terrain, 40, 40)
    return {"path": path, "dem": folder / "synthetic.tif", "lat": lat, "lon": lon}


def test_importing_simulator_loads_nothing_heavy():
    code = "import sys, simulator; print(sorted(m for m in ('numba', 'rasterio', 'pyproj', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert {"run_scenario", "load_scenario_as_of", "compare_scenarios", "viewshed", "AdcovError"} <= set(dir(simulator))
    assert simulator.AdcovError is AdcovError
    with pytest.raises(AttributeError):
        simulator.no_such_name  # noqa: B018


def test_the_date_rule_has_one_home(dated):
    assert list(simulator.load_scenario_as_of(dated["path"]).unit_ids) == ["early"]  # the file's own as_of
    assert list(simulator.load_scenario_as_of(dated["path"], "2022-01-01").unit_ids) == ["late"]
    assert sorted(simulator.load_scenario(dated["path"]).unit_ids) == ["early", "late"]
    with pytest.raises(AdcovError, match="not a date"):
        simulator.load_scenario_as_of(dated["path"], "June")


def test_run_scenario_is_adcov_run_json(dated, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ADCOV_CACHE_DIR", str(tmp_path))
    for as_of in (None, "2022-01-01"):
        argv = ["run", str(dated["path"]), "--json", "--altitudes-m", "100,1000"] + (["--as-of", as_of] if as_of else [])
        assert main(argv) == 0
        printed = json.loads(capsys.readouterr().out)
        result = simulator.run_scenario(dated["path"], as_of=as_of, altitudes_m=(100.0, 1000.0))
        assert json.loads(json.dumps(result.summary)) == printed
        assert result.coverage.unit_ids == printed["active_units"]
    assert "2 units" not in repr(result) and "1 units" in repr(result)


def test_compare_scenarios_and_viewshed_take_paths(dated):
    comparison = simulator.compare_scenarios(dated["path"], dated["path"], vs_as_of="2022-01-01", altitudes_m=(1000.0,),
                                             cache=None)
    assert comparison.withdrawn_units == ["early"] and comparison.added_units == ["late"]
    visible, floor = simulator.viewshed(dated["dem"], dated["lat"], dated["lon"], 20.0, 0.0, max_range_km=5.0)
    assert visible.shape == floor.shape == (80, 80) and visible.dtype == np.uint8
    assert set(np.unique(visible)) <= {0, 1, 255} and (visible == 1).any()


def test_errors_are_typed_by_what_went_wrong(tmp_path):
    from simulator.cli.common import parse_altitudes_m
    from simulator.coverage import check_query
    from simulator.errors import ArgumentError, OutputError
    from simulator.fileio import check_output_file
    from simulator.one_observer import check_options

    with pytest.raises(ArgumentError, match="--altitudes-m"):
        parse_altitudes_m("30,abc")
    with pytest.raises(ArgumentError, match="altitude_ref"):
        check_query([100.0], "above", ["engagement"])
    with pytest.raises(ArgumentError, match="--k-factor"):
        check_options(45.0, 15.0, 10.0, 0.0, "agl", None, 1e-100)
    with pytest.raises(OutputError, match="--out"):
        check_output_file(tmp_path, "--out")  # a folder, not a file name
    for error in (ArgumentError, OutputError):
        assert issubclass(error, AdcovError)
    assert issubclass(ArgumentError, ValueError) and not issubclass(OutputError, OSError)


def test_each_command_is_one_library_call_writing_what_the_command_writes(dated, tmp_path, monkeypatch, capsys):
    """run_scenario(out=), run_comparison, run_sweep and run_viewshed write the files the commands write."""
    monkeypatch.setenv("ADCOV_CACHE_DIR", str(tmp_path / "cache"))
    path = str(dated["path"])
    # adcov run --out
    assert main(["run", path, "--altitudes-m", "1000", "--json", "--out", str(tmp_path / "cli-run")]) == 0
    printed = json.loads(capsys.readouterr().out)
    result = simulator.run_scenario(path, altitudes_m=(1000.0,), out=tmp_path / "api-run")
    assert [p.name for p in result.report_files] == [p.rsplit("/", 1)[-1] for p in printed["report_files"]]
    assert (tmp_path / "api-run" / "summary.csv").read_bytes() == (tmp_path / "cli-run" / "summary.csv").read_bytes()
    # adcov compare --vs-as-of --json
    assert main(["compare", path, "--vs-as-of", "2022-01-01", "--altitudes-m", "1000", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    run = simulator.run_comparison(path, vs_as_of="2022-01-01", altitudes_m=(1000.0,))
    assert json.loads(json.dumps(run.comparison.to_dict())) == printed and run.band is None and run.report_files == ()
    assert run.comparison.withdrawn_units == ["early"] and list(run.variant.unit_ids) == ["late"]
    with pytest.raises(AdcovError, match="no variant"):
        simulator.run_comparison(path)
    # adcov sweep
    assert main(["sweep", path, "--as-of", "2021-03-01", "--altitudes-m", "1000", "--out", str(tmp_path / "cli.csv")]) == 0
    capsys.readouterr()
    sweep = simulator.run_sweep(path, as_of="2021-03-01", altitudes_m=(1000.0,), out=tmp_path / "api.csv")
    assert not sweep.is_ensemble and tmp_path / "api.csv" in sweep.written
    assert (tmp_path / "api.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    with pytest.raises(AdcovError, match="should name a .csv"):
        simulator.run_sweep(path, out=tmp_path / "table.txt")
    # adcov viewshed
    where = [str(dated["dem"]), "--lat", str(dated["lat"]), "--lon", str(dated["lon"]), "--observer-height-m", "20",
             "--max-range-km", "5"]
    assert main(["viewshed", *where, "--out", str(tmp_path / "cli.tif")]) == 0
    printed = capsys.readouterr().out
    shed = simulator.run_viewshed(dated["dem"], dated["lat"], dated["lon"], 20.0, max_range_km=5.0, out=tmp_path / "api.tif")
    assert f"{shed.visible_cells:,} of the {shed.cells_in_range:,} cells in range visible" in printed
    assert (tmp_path / "api.tif").read_bytes() == (tmp_path / "cli.tif").read_bytes()

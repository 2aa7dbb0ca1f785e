"""Baseline vs variant: the Kuril pair through the CLI and the API, invariants, timeline, range band."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import types

import numpy as np
import pyproj
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import visibility
from simulator.cache import EnvelopeCache
from simulator.cli import main
from simulator.compare import (
    Comparison,
    compare,
    compare_as_of,
    compare_coverages,
    coverage_over_time,
    marginal_contributions,
    range_band,
    timeline_dates,
)
from simulator.coverage import DEFAULT_ALTITUDES_M, LAYERS, build_coverage
from simulator.errors import AdcovError
from simulator.scenario import bundled_scenario, load_scenario
from synthetic import rough_elevation_m, unit_at, utm_terrain, write_scenario

KURILS_2020 = str(bundled_scenario("kurils-2020"))
KURILS_2023 = str(bundled_scenario("kurils-2023"))
S300V4 = ["iturup-s300v4", "kunashir-s300v4"]
TOR = "iturup-tor-m2"
#: Relative agreement between numbers that come from the same cells summed in another order.
SUM_REL = 1e-9
#: Absolute slack of such sums. [km²]
SUM_KM2 = 1e-6


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """Every CLI call of this module shares one temporary envelope cache."""
    directory = tmp_path_factory.mktemp("envelope-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADCOV_CACHE_DIR", str(directory))
        yield directory


def cli(argv):
    """``main(argv)`` in process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def cli_json(argv):
    status, out, err = cli(argv)
    assert status == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def kurils():
    return load_scenario(KURILS_2020), load_scenario(KURILS_2023)


@pytest.fixture(scope="module")
def api(kurils):
    return compare(*kurils)


@pytest.fixture(scope="module")
def cli_pair():
    return cli_json(["compare", "--json"])


def assert_same_numbers(got: dict, expected: dict):
    """Two ``Comparison.to_dict()`` results agree on every area."""
    assert got["layers"].keys() == expected["layers"].keys()
    for layer, rows in expected["layers"].items():
        assert len(got["layers"][layer]) == len(rows)
        for mine, theirs in zip(got["layers"][layer], rows, strict=True):
            assert mine["altitude_m"] == theirs["altitude_m"] and mine["altitude_ref"] == theirs["altitude_ref"]
            for key in ("baseline_km2", "variant_km2", "lost_km2", "gained_km2", "kfold_to_single_km2"):
                assert mine[key] == pytest.approx(theirs[key], rel=1e-12, abs=1e-9), (layer, mine["altitude_m"], key)
            assert mine["depth_km2_before"] == pytest.approx(theirs["depth_km2_before"], rel=1e-12)
            assert mine["depth_km2_after"] == pytest.approx(theirs["depth_km2_after"], rel=1e-12)
    assert [m["unit"] for m in got["marginal"]] == [m["unit"] for m in expected["marginal"]]
    for mine, theirs in zip(got["marginal"], expected["marginal"], strict=True):
        assert mine["total_lost_km2"] == pytest.approx(theirs["total_lost_km2"], rel=1e-12)
        for layer, by_alt in theirs["lost_km2_by_altitude"].items():
            assert mine["lost_km2_by_altitude"][layer] == pytest.approx(by_alt, rel=1e-12, abs=1e-9)


# --------------------------------------------------------------------------- the Kuril pair


@pytest.mark.slow
def test_cli_json_has_the_documented_keys_and_equals_the_api(cli_pair, api):
    assert cli_pair["baseline"] == "kurils-2020" and cli_pair["variant"] == "kurils-2023"
    assert cli_pair["altitude_ref"] == "msl"
    assert cli_pair["withdrawn_units"] == S300V4 and cli_pair["added_units"] == [] and cli_pair["changed_units"] == []
    for layer in LAYERS:
        rows = cli_pair["layers"][layer]
        assert [r["altitude_m"] for r in rows] == list(DEFAULT_ALTITUDES_M)
        assert {"altitude_m", "altitude_ref", "baseline_km2", "variant_km2", "lost_km2", "gained_km2",
                "kfold_to_single_km2", "depth_km2_before", "depth_km2_after"} <= set(rows[0])
    assert {"unit", "lost_km2_by_altitude", "total_lost_km2"} <= set(cli_pair["marginal"][0])
    assert set(cli_pair["assumptions"]) == {"baseline", "variant"}
    assert_same_numbers(cli_pair, api.to_dict())


@pytest.mark.slow
def test_lost_wherever_the_s300v4_reach_beyond_the_tor_m2_and_nothing_gained(api):
    baseline = api.baseline
    assert api.variant.unit_ids == [TOR]
    for layer in LAYERS:
        for altitude_m in DEFAULT_ALTITUDES_M:
            row = api.change(layer, altitude_m)
            beyond = baseline.covered(layer, altitude_m, units=S300V4) & ~baseline.covered(layer, altitude_m, units=[TOR])
            assert beyond.any(), f"S-300V4 should reach beyond the Tor-M2 at {altitude_m} m"  # true at every default altitude
            np.testing.assert_array_equal(row.lost_cells, beyond)
            assert row.lost_km2 > 0
            assert row.lost_km2 == pytest.approx(baseline.area_km2(beyond), rel=1e-12)
            assert row.gained_km2 == 0 and not row.gained_cells.any()
            assert row.lost_km2 - row.gained_km2 == pytest.approx(row.baseline_km2 - row.variant_km2, rel=SUM_REL, abs=SUM_KM2)


@pytest.mark.slow
def test_the_two_largest_marginal_contributions_are_the_s300v4s(api, cli_pair):
    ranked = [m.unit for m in api.marginal]
    assert sorted(ranked[:2]) == sorted(S300V4) and ranked[2] == TOR
    assert [m["unit"] for m in cli_pair["marginal"]] == ranked
    totals = [m.total_lost_km2 for m in api.marginal]
    assert totals == sorted(totals, reverse=True)
    for m in api.marginal:
        assert api.baseline.envelopes[m.unit].figures.system_id == ("tor_m2" if m.unit == TOR else "s300v4")


@pytest.mark.slow
def test_withdrawing_the_s300v4s_by_id_equals_the_2023_file(cli_pair):
    by_id = cli_json(["compare", KURILS_2020, "--withdraw", ",".join(S300V4), "--json"])
    assert by_id["withdrawn_units"] == S300V4
    assert_same_numbers(by_id, cli_pair)
    # the default (no BASELINE) works with --withdraw too
    assert_same_numbers(cli_json(["compare", "--withdraw", ",".join(S300V4), "--json"]), cli_pair)


def test_withdrawing_by_id_recomputes_nothing(api, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("line of sight recomputed")

    monkeypatch.setattr(visibility, "ray_horizons", forbidden)
    monkeypatch.setattr(visibility, "cell_floors_msl", forbidden)
    by_id = compare(api.baseline, S300V4, altitudes_m=(100.0, 10000.0))
    assert by_id.variant.envelopes[TOR] is api.baseline.envelopes[TOR]
    assert by_id.change("engagement", 10000.0).lost_km2 == pytest.approx(api.change("engagement", 10000.0).lost_km2, rel=1e-12)


def test_a_variant_file_reuses_the_unchanged_envelopes(api, kurils, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("line of sight recomputed")

    monkeypatch.setattr(visibility, "ray_horizons", forbidden)
    monkeypatch.setattr(visibility, "cell_floors_msl", forbidden)
    again = compare(api.baseline, kurils[1], altitudes_m=(300.0,), layers=["engagement"])
    assert again.variant.envelopes[TOR] is api.baseline.envelopes[TOR]
    assert again.changed_units == [] and again.withdrawn_units == S300V4
    assert api.variant.envelopes[TOR] is api.baseline.envelopes[TOR]  # the scenario path too


def test_bad_withdraw_id_lists_the_valid_ones(cache_dir):
    status, out, err = cli(["compare", KURILS_2020, "--withdraw", "iturup-s300v4,nope"])
    assert status == 2 and out == ""
    assert "nope" in err and all(uid in err for uid in [*S300V4, TOR])
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(AdcovError, match="valid ids: iturup-s300v4"):
        compare(load_scenario(KURILS_2020), ["nope"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", KURILS_2020], "no variant"),
        (["compare", KURILS_2020, KURILS_2023, "--withdraw", TOR], "not both"),
        (["compare", KURILS_2020, "--vs-as-of", "2023-02-30"], "--vs-as-of"),
        (["compare", "--as-of", "yesterday"], "--as-of"),
        (["compare", "--layers", "radar"], "--layers"),
        (["compare", KURILS_2020, str(bundled_scenario("crimea-2018"))], "terrain"),
    ],
)
def test_cli_errors_are_one_line(argv, message):
    status, _, err = cli(argv)
    assert status == 2 and message in err and "Traceback" not in err


@pytest.mark.slow
def test_table_says_what_is_compared_and_lists_assumptions():
    status, out, err = cli(["compare"])
    assert status == 0, err
    text = " ".join(out.split())  # rich wraps to the terminal width
    assert "kurils-2020 → kurils-2023" in text
    assert ("withdrawn: iturup-s300v4 (S-300V4, reported withdrawn on 2023-08-31), "
            "kunashir-s300v4 (S-300V4, reported withdrawn on 2023-08-31)") in text
    assert "lost km²" in text and "gained km²" in text and "Marginal contribution" in text
    assert "Assumptions" in text and "scenario assumption" in text
    assert "[m MSL]" in text  # not swallowed as rich markup
    assert "…" not in out  # no number is cut short


@pytest.mark.slow
def test_out_calls_the_export_module(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("simulator.export")
    fake.write_comparison_report = lambda comparison, out_dir, **kwargs: calls.append((comparison, out_dir))
    monkeypatch.setitem(sys.modules, "simulator.export", fake)
    status, _, err = cli(["compare", "--out", str(tmp_path / "report"), "--altitudes-m", "100", "--json"])
    assert status == 0, err
    assert len(calls) == 1 and isinstance(calls[0][0], Comparison) and calls[0][1] == str(tmp_path / "report")
    monkeypatch.setitem(sys.modules, "simulator.export", None)  # as if the module were not there
    status, _, err = cli(["compare", "--out", str(tmp_path / "report")])
    assert status == 2 and "export module not available" in err


def test_polygons_and_json(api):
    import shapely

    lost = api.polygons_lonlat("engagement", 10000.0, "lost")
    assert lost.is_valid and not lost.is_empty
    geod = pyproj.Geod(ellps="WGS84")
    area_km2 = sum(abs(geod.geometry_area_perimeter(p)[0]) for p in lost.geoms) / 1e6
    assert area_km2 == pytest.approx(api.change("engagement", 10000.0).lost_km2, rel=0.01)
    west, south, east, north = api.baseline.grid.bounds_deg
    minx, miny, maxx, maxy = lost.bounds
    assert west - 0.01 <= minx and maxx <= east + 0.01 and south - 0.01 <= miny and maxy <= north + 0.01
    assert api.polygons_lonlat("engagement", 20000.0, "variant").is_empty
    assert shapely.equals(api.polygons_lonlat("engagement", 10000.0, "kept"), api.polygons_lonlat("engagement", 10000.0, "variant"))
    with pytest.raises(AdcovError, match="expected one of lost, gained"):
        api.polygons_lonlat("engagement", 10000.0, "removed")
    with pytest.raises(AdcovError, match="altitudes: 30, 100"):
        api.change("engagement", 12345.0)
    json.dumps(api.to_dict())


# --------------------------------------------------------------------------- timeline and range band


@pytest.mark.slow
def test_as_of_two_dates_equals_the_file_pair(cli_pair, kurils):
    dated = cli_json(["compare", KURILS_2020, "--as-of", "2022-09-15", "--vs-as-of", "2023-09-01", "--json"])
    assert dated["baseline"] == "kurils-2020 as of 2022-09-15" and dated["variant"] == "kurils-2020 as of 2023-09-01"
    assert_same_numbers(dated, cli_pair)
    api = compare_as_of(kurils[0], "2022-09-15", "2023-09-01", altitudes_m=(1000.0,), layers=["engagement"])
    assert api.withdrawn_units == S300V4
    assert api.change("engagement", 1000.0).lost_km2 == pytest.approx(
        cli_pair["layers"]["engagement"][DEFAULT_ALTITUDES_M.index(1000.0)]["lost_km2"], rel=1e-12
    )


def test_coverage_over_time_follows_the_unit_dates(api, kurils):
    scenario = kurils[0]
    assert [d.isoformat() for d in timeline_dates(scenario)] == ["2020-12-01", "2023-08-31"]
    rows = coverage_over_time(scenario, ["2020-11-30", "2020-12-01", "2023-08-31"], altitudes_m=(10000.0,), layers=["engagement"],
                              coverage=api.baseline)
    assert [r["active_units"] for r in rows] == [[TOR], [*S300V4, TOR], [TOR]]
    km2 = [r["layers"]["engagement"][0]["covered_km2"] for r in rows]
    assert km2[0] == km2[2] == pytest.approx(api.change("engagement", 10000.0).variant_km2, rel=1e-12)
    assert km2[1] == pytest.approx(api.change("engagement", 10000.0).baseline_km2, rel=1e-12)


@pytest.mark.slow
def test_range_band_orders_min_nominal_max_for_the_s300v4(kurils, tmp_path):
    s300_only = kurils[0].with_units_withdrawn([TOR])
    band = range_band(s300_only, altitudes_m=(100.0, 3000.0, 10000.0), altitude_ref="msl", layers=["engagement"],
                      cache=EnvelopeCache(tmp_path))
    rows = band["layers"]["engagement"]
    for row in rows:
        assert row["min_km2"] <= row["nominal_km2"] <= row["max_km2"]
    high = rows[-1]  # at 10 km the radar horizon is beyond 400 km
    # The catalog's 9M82MD (addendum, one tier-D 400 km figure, no spread) reaches 400 km in every
    # range mode, so the system-level 241.4-400 km spread no longer narrows the S-300V4's union.
    assert high["min_km2"] == high["nominal_km2"] == high["max_km2"]
    # the same through the CLI, for the comparison
    cli_band = cli_json(["compare", "--range", "band", "--altitudes-m", "10000", "--layers", "engagement", "--json"])
    entry = cli_band["layers"]["engagement"][0]
    assert entry["baseline"]["min_km2"] <= entry["baseline"]["nominal_km2"] <= entry["baseline"]["max_km2"]
    assert entry["gained"] == {"min_km2": 0.0, "nominal_km2": 0.0, "max_km2": 0.0}
    # only the Tor-M2's spread (11.27-15 km) still varies; its disk lies inside the S-300V4's, so the
    # baseline is the same in every mode and the loss shrinks as the Tor's reach grows
    assert entry["lost"]["min_km2"] > entry["lost"]["nominal_km2"] > entry["lost"]["max_km2"] > 0
    status, out, err = cli(["compare", "--range", "band", "--altitudes-m", "10000", "--layers", "engagement"])
    assert status == 0 and "min / nominal / max" in out and "…" not in out, err
    lost = entry["lost"]  # the baseline's three agree and show as one number
    assert f"{lost['min_km2']:,.0f} / {lost['nominal_km2']:,.0f} / {lost['max_km2']:,.0f}" in out
    assert f"{entry['baseline']['nominal_km2']:,.0f}" in out


# --------------------------------------------------------------------------- synthetic scenarios


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic-compare")
    elevation = rough_elevation_m((200, 200), seed=23, relief_m=600.0)
    terrain = utm_terrain(elevation, 200.0)
    units = [
        unit_at(terrain, "a", 60, 60, range_km=16),
        unit_at(terrain, "b", 70, 130, range_km=14, deployed="2021-01-01"),
        unit_at(terrain, "c", 140, 80, system="s300v4", range_km=25, withdrawn="2022-06-01"),
        unit_at(terrain, "d", 150, 150, range_km=12, antenna_height_m=5),
    ]
    base = write_scenario(folder, elevation, 200.0, units, "base")
    coverage = build_coverage(load_scenario(base), cache=None)
    return folder, base, coverage


UNITS = ["a", "b", "c", "d"]
QUERY = dict(
    layer=st.sampled_from(LAYERS),
    altitude_m=st.floats(0.0, 15_000.0),
    altitude_ref=st.sampled_from(["msl", "agl"]),
)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(before=st.sets(st.sampled_from(UNITS)), after=st.sets(st.sampled_from(UNITS)), **QUERY)
def test_lost_minus_gained_is_baseline_minus_variant(synthetic, before, after, layer, altitude_m, altitude_ref):
    coverage = synthetic[2]
    result = compare_coverages(coverage.subset(before), coverage.subset(after), altitudes_m=[altitude_m],
                               altitude_ref=altitude_ref, layers=[layer])
    row = result.change(layer, altitude_m)
    assert row.lost_km2 - row.gained_km2 == pytest.approx(row.baseline_km2 - row.variant_km2, rel=SUM_REL, abs=SUM_KM2)
    assert not np.any(row.lost_cells & row.gained_cells) and not np.any(row.kept_cells & (row.lost_cells | row.gained_cells))
    np.testing.assert_array_equal(row.baseline_cells, coverage.covered(layer, altitude_m, altitude_ref, before))
    np.testing.assert_array_equal(row.variant_cells, coverage.covered(layer, altitude_m, altitude_ref, after))
    assert sum(row.depth_km2_before.values()) == pytest.approx(row.baseline_km2, rel=SUM_REL, abs=SUM_KM2)
    assert sorted(result.withdrawn_units) == sorted(set(before) - set(after))
    assert sorted(result.added_units) == sorted(set(after) - set(before))


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(before=st.sets(st.sampled_from(UNITS), min_size=1), data=st.data(), **QUERY)
def test_withdrawing_never_adds_coverage(synthetic, before, data, layer, altitude_m, altitude_ref):
    coverage = synthetic[2].subset(before)
    withdrawn = data.draw(st.sets(st.sampled_from(sorted(before)), min_size=1))
    result = compare(coverage, withdrawn, altitudes_m=[altitude_m], altitude_ref=altitude_ref, layers=[layer])
    row = result.change(layer, altitude_m)
    assert row.gained_km2 == 0 and not row.gained_cells.any()
    assert row.variant_km2 <= row.baseline_km2
    assert not np.any(row.kfold_to_single_cells & ~row.kept_cells)


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(units=st.sets(st.sampled_from(UNITS)), **QUERY)
def test_comparing_with_itself_changes_nothing(synthetic, units, layer, altitude_m, altitude_ref):
    coverage = synthetic[2].subset(units)
    row = compare_coverages(coverage, coverage, altitudes_m=[altitude_m], altitude_ref=altitude_ref, layers=[layer]).change(layer, altitude_m)
    assert row.lost_km2 == row.gained_km2 == row.kfold_to_single_km2 == 0
    assert row.baseline_km2 == row.variant_km2 and row.depth_km2_before == row.depth_km2_after


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(units=st.sets(st.sampled_from(UNITS), min_size=1), **QUERY)
def test_marginal_is_baseline_minus_baseline_without_the_unit(synthetic, units, layer, altitude_m, altitude_ref):
    coverage = synthetic[2].subset(units)
    ranking = marginal_contributions(coverage, altitudes_m=[altitude_m], altitude_ref=altitude_ref, layers=[layer])
    assert sorted(m.unit for m in ranking) == sorted(units)
    full = coverage.covered_km2(layer, altitude_m, altitude_ref)
    for m in ranking:
        expected = full - coverage.without([m.unit]).covered_km2(layer, altitude_m, altitude_ref)
        assert m.lost_km2_by_altitude[layer][altitude_m] == pytest.approx(expected, rel=SUM_REL, abs=SUM_KM2)
        assert m.total_lost_km2 == m.lost_km2_by_altitude[layer][altitude_m]


@pytest.mark.slow
def test_a_variant_file_recomputes_only_changed_and_added_units(synthetic, monkeypatch):
    import simulator.coverage as coverage_module

    folder, base, coverage = synthetic
    variant = folder / "variant.yaml"
    variant.write_text(yaml.safe_dump({
        "schema_version": 1, "extends": base.name, "name": "variant",
        "withdraw": ["b"],
        "override": [{"id": "c", "antenna_height_m": 40}],
        "add": [{**unit_at(utm_terrain(np.zeros((200, 200), np.float32), 200.0), "e", 100, 100), "range_km": 10}],
    }, sort_keys=False))
    built = []
    real = coverage_module.build_unit_envelope
    monkeypatch.setattr(coverage_module, "build_unit_envelope", lambda grid, figures, *a, **k: built.append(figures.unit_id) or real(grid, figures, *a, **k))
    result = compare(coverage, load_scenario(variant), altitudes_m=[300.0], cache=None)
    assert sorted(built) == ["c", "e"]
    assert result.withdrawn_units == ["b"] and result.added_units == ["e"] and result.changed_units == ["c"]
    assert result.variant.envelopes["a"] is coverage.envelopes["a"] and result.variant.envelopes["d"] is coverage.envelopes["d"]
    scratch = build_coverage(load_scenario(variant), cache=None)
    for layer in LAYERS:
        assert result.change(layer, 300.0).variant_km2 == pytest.approx(scratch.covered_km2(layer, 300.0), rel=1e-12)


def test_a_variant_on_another_area_is_refused(synthetic):
    folder, base, coverage = synthetic
    other = folder / "other-area.yaml"
    other.write_text(yaml.safe_dump({"schema_version": 1, "extends": base.name, "name": "other-area",
                                     "area": {"west_deg": 146.9, "south_deg": 45.05, "east_deg": 147.1, "north_deg": 45.2}}))
    with pytest.raises(AdcovError, match=r"other-area.*area \(west, south, east, north deg\)"):
        compare(load_scenario(base), load_scenario(other), altitudes_m=[100.0], cache=None)
    with pytest.raises(AdcovError, match="analysis grids differ"):
        compare_coverages(coverage, build_coverage(load_scenario(other), cache=None), altitudes_m=[100.0])


@pytest.mark.slow
def test_synthetic_timeline(synthetic):
    folder, base, coverage = synthetic
    scenario = load_scenario(base)
    assert [d.isoformat() for d in timeline_dates(scenario)] == ["2021-01-01", "2022-06-01"]
    rows = coverage_over_time(scenario, altitudes_m=[500.0], layers=["detection"], coverage=coverage)
    assert [r["active_units"] for r in rows] == [["a", "b", "c", "d"], ["a", "b", "d"]]
    result = compare_as_of(scenario, "2021-06-01", "2022-06-01", altitudes_m=[500.0], cache=None)
    assert result.withdrawn_units == ["c"] and result.added_units == []


def test_bad_query_arguments_say_what_is_valid(synthetic):
    coverage = synthetic[2]
    with pytest.raises(AdcovError, match="expected one of msl, agl"):
        compare(coverage, ["a"], altitude_ref="above")
    with pytest.raises(AdcovError, match="expected one or more of detection, engagement"):
        compare(coverage, ["a"], layers=["radar"])
    with pytest.raises(AdcovError, match="expected one of nominal, min, max"):
        compare(coverage, ["a"], range_mode="band")
    with pytest.raises(AdcovError, match="unknown unit id"):
        compare(coverage, ["zz"])
    with pytest.raises(AdcovError, match="no unit ids"):
        compare(coverage, [])

"""Scenario files: bundled scenarios, every class of malformed file, extends semantics, fuzzing.

Malformed files live in ``tests/data/bad_scenarios/`` (one problem class each, plus
``several_problems.yaml``); valid helper files in ``tests/data/good_scenarios/``. Both point at
the bundled Kuril terrain through a relative path.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import textwrap
import traceback
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.errors import Problem, ScenarioError
from simulator.scenario import (
    Scenario,
    UnitSpec,
    bundled_scenario,
    bundled_scenarios_dir,
    load_scenario,
    scenario_json_schema,
    validate_scenario_files,
)

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BAD = DATA / "bad_scenarios"
GOOD = DATA / "good_scenarios"
BUNDLED = sorted((REPO / "scenarios").glob("*.yaml"))
KURILS_TERRAIN = REPO / "scenarios" / "terrain" / "kurils_dted0.tif"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# --------------------------------------------------------------------------- bundled scenarios


def test_bundled_scenarios_exist():
    names = {p.stem for p in BUNDLED}
    assert {"kurils-2020", "kurils-2023", "crimea-2018"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_scenario_loads_and_validates(path, capsys):
    scenario = load_scenario(path)
    assert scenario.units, "a bundled scenario places at least one unit"
    assert all(p.is_file() or p.is_dir() for p in scenario.terrain_paths)
    assert scenario.k_factor == pytest.approx(4 / 3)
    assert scenario.default_antenna_height_m == 30
    for unit in scenario.units + scenario.withdrawn_units:
        assert unit.sources, f"{unit.id}: every placement cites its sources"
        assert unit.position_precision_km is not None
    status, out, err = run_cli(capsys, "validate", str(path))
    assert status == 0, err
    assert out.startswith(f"OK {path} (")
    assert err == ""


def test_validate_all_bundled_at_once(capsys):
    status, out, err = run_cli(capsys, "validate", *map(str, BUNDLED))
    assert status == 0, err
    assert out.count("OK ") == len(BUNDLED)


def test_kurils_2020_matches_reference_sheet():
    s = load_scenario(bundled_scenario("kurils-2020"))
    assert s.area_bounds_deg is None  # full nominal disks, no box (issue #10)
    iturup = s.unit("iturup-s300v4")
    assert (iturup.system_id, iturup.lat_deg, iturup.lon_deg) == ("s300v4", 44.965, 147.672)
    assert iturup.position_precision_km == 10
    assert (iturup.deployed, iturup.withdrawn) == (dt.date(2020, 12, 1), dt.date(2023, 8, 31))
    assert iturup.status == "reported_withdrawn"
    assert {"kyodo_2023_08_31", "tass_2020_12_02", "wiki_kasatka_bay"} <= set(iturup.sources)
    kunashir = s.unit("kunashir-s300v4")
    assert (kunashir.lat_deg, kunashir.lon_deg, kunashir.position_precision_km) == (44.033, 145.850, 10)
    assert "month is not stated" in kunashir.dates_note
    tor = s.unit("iturup-tor-m2")
    assert (tor.system_id, tor.lat_deg, tor.lon_deg, tor.position_precision_km) == ("tor_m2", 45.033, 147.617, 100)
    assert tor.deployed is None and "before 2020-12" in tor.dates_note
    assert tor.status == "reported_deployed"
    assert s.as_of is not None and all(u.active_on(s.as_of) for u in s.units)


def test_kurils_2023_withdraws_both_s300v4():
    s2020 = load_scenario(bundled_scenario("kurils-2020"))
    s2023 = load_scenario(bundled_scenario("kurils-2023"))
    assert s2023.extends == s2020.path
    assert s2023.as_of == dt.date(2023, 9, 1)
    assert s2023.unit_ids == ("iturup-tor-m2",)
    assert {u.id for u in s2023.withdrawn_units} == {"iturup-s300v4", "kunashir-s300v4"}
    for u in s2023.withdrawn_units:
        assert u.withdrawn == dt.date(2023, 8, 31)
        assert {"kyodo_2023_08_31", "moscowtimes_2023_09_01"} <= set(u.sources)
    # inherited settings
    assert s2023.terrain_paths == s2020.terrain_paths
    assert s2023.area_bounds_deg == s2020.area_bounds_deg
    assert s2023.default_antenna_height_m == 30
    # the dates in the 2020 file agree with the 2023 variant
    assert s2020.active_as_of(s2023.as_of).unit_ids == s2023.unit_ids


def test_crimea_2018_battalions():
    s = load_scenario(bundled_scenario("crimea-2018"))
    assert s.as_of == dt.date(2018, 12, 31)
    deployed = {u.id: u.deployed for u in s.units}
    assert deployed == {
        "feodosia-s400": dt.date(2017, 1, 1),
        "sevastopol-s400": dt.date(2018, 1, 1),
        "yevpatoria-s400": dt.date(2018, 9, 1),
        "dzhankoy-s400": dt.date(2018, 11, 29),
    }
    assert {u.system_id for u in s.units} == {"s400"}
    assert "January 2017" in s.unit("feodosia-s400").dates_note
    assert s.active_as_of(dt.date(2018, 6, 1)).unit_ids == ("feodosia-s400", "sevastopol-s400")


def test_bundled_scenario_lookup():
    assert bundled_scenario("kurils-2020") == bundled_scenarios_dir() / "kurils-2020.yaml"
    assert bundled_scenario("kurils-2020.yaml").name == "kurils-2020.yaml"
    with pytest.raises(ScenarioError) as info:
        bundled_scenario("kurils-2021")
    assert "kurils-2020" in str(info.value) and "crimea-2018" in str(info.value)


def test_validate_accepts_bundled_name(capsys):
    status, out, _ = run_cli(capsys, "validate", "kurils-2023")
    assert status == 0
    assert "kurils-2023.yaml (1 unit, 2 withdrawn, terrain dted0-kurils)" in out


# --------------------------------------------------------------------------- malformed files

# file, line, key path, a fragment of the message. The CLI line must start with
# "<file>:<line>: <key path>: " (or "<file>:<line>: " when there is no key path).
BAD_CASES = [
    ("yaml_syntax.yaml", 7, "", "YAML syntax error"),
    ("top_not_mapping.yaml", 2, "", "expected a mapping (key: value) at the top level, got a list"),
    ("missing_schema_version.yaml", 2, "schema_version", "missing required key; expected 1"),
    ("unsupported_schema_version.yaml", 2, "schema_version", "expected 1 (the only version this adcov reads), got 2"),
    ("unknown_key.yaml", 7, "units[0].lattitude", "unknown key 'lattitude'; did you mean 'lat_deg'?"),
    ("wrong_type.yaml", 9, "units[0].position_precision_km", "expected a number ≥ 0 [km], got 'ten'"),
    ("lat_out_of_range.yaml", 11, "units[1].lat", "expected a number in [-90, 90] [deg], got 95"),
    ("negative_antenna_height.yaml", 11, "units[2].antenna_height_m", "expected a number ≥ 0 [m], got -5"),
    ("unknown_system.yaml", 6, "units[0].system", "unknown system 'S-300V5'; close catalog names: "),
    ("duplicate_unit_id.yaml", 9, "units[1].id", "duplicate unit id 'battery-1': also on line 5"),
    ("missing_required_key.yaml", 5, "units[0].system", "missing required key"),
    ("withdraw_unknown_unit.yaml", 6, "withdraw[1]", "cannot withdraw unit 'unit-z': no such unit; valid ids: unit-b, unit-c"),
    ("override_unknown_unit.yaml", 5, "override[0].id", "cannot override unit 'unit-q': no such unit; valid ids: unit-a, unit-b, unit-c"),
    ("add_existing_id.yaml", 9, "add[1].id", "unit id 'unit-b' already exists"),
    ("extends_missing.yaml", 4, "extends", "extends file not found: "),
    ("missing_terrain_file.yaml", 6, "terrain.paths[1]", "terrain file not found: "),
    ("unit_outside_terrain.yaml", 9, "units[1]", "unit 'paramushir' at lat_deg 50.68, lon_deg 156.14 lies outside the terrain (kurils_dted0.tif: west_deg 140.9958"),
    ("withdrawn_before_deployed.yaml", 10, "units[0].withdrawn", "expected a date ≥ deployed (2020-12-01), got 2019-08-31"),
    ("bad_date.yaml", 4, "as_of", "expected an ISO date YYYY-MM-DD (month must be in 1..12), got '2023-13-01'"),
    ("unknown_source.yaml", 13, "units[0].sources[1]", "unknown source id 'my_sourse'; did you mean 'my_source'?"),
    ("area_west_ge_east.yaml", 4, "area", "expected west_deg < east_deg, got west_deg 150 ≥ east_deg 143"),
    ("k_factor_zero.yaml", 4, "k_factor", "expected a number from 0.1 to 100"),
    ("unsupported_tag.yaml", 4, "name", "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("alias_bomb.yaml", 4, None, "document too large: more than 200000 values once aliases are expanded"),
    ("not_utf8.yaml", 4, "", "not UTF-8 text: byte 0xe9"),
]


def _prefix(name: str, line: int, key_path: str | None) -> str:
    return f"{name}:{line}: {key_path}: " if key_path else f"{name}:{line}: "


def test_every_bad_file_has_a_case():
    covered = {case[0] for case in BAD_CASES} | {"extends_cycle_a.yaml", "extends_cycle_b.yaml", "several_problems.yaml"}
    assert covered == {p.name for p in BAD.glob("*.yaml")}
    assert len(covered) >= 16


@pytest.mark.parametrize("name, line, key_path, fragment", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_file_reports_file_line_key_path(name, line, key_path, fragment, capsys, monkeypatch):
    monkeypatch.chdir(BAD)  # problems name the file as given
    status, out, err = run_cli(capsys, "validate", name)
    assert status == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err  # one problem class per file
    if key_path is None:  # alias bomb: where the budget ran out (a deep key path); check the line only
        assert lines[0].startswith(f"{name}:{line}: "), err
    else:
        assert lines[0].startswith(_prefix(name, line, key_path)), err
    assert fragment in lines[0], err


def test_bad_file_reports_with_path_as_given(capsys):
    path = str(BAD / "negative_antenna_height.yaml")
    status, _, err = run_cli(capsys, "validate", path)
    assert status == 2
    assert err.startswith(f"{path}:11: units[2].antenna_height_m: expected a number ≥ 0 [m], got -5")


@pytest.mark.parametrize("start, other", [("extends_cycle_a.yaml", "extends_cycle_b.yaml"), ("extends_cycle_b.yaml", "extends_cycle_a.yaml")])
def test_extends_cycle_names_the_chain(start, other, capsys, monkeypatch):
    monkeypatch.chdir(BAD)
    status, _, err = run_cli(capsys, "validate", start)
    assert status == 2
    line = 4 if other == "extends_cycle_b.yaml" else 3  # the extends line of the file closing the loop
    assert err.strip() == f"{other}:{line}: extends: extends cycle: {start} → {other} → {start}"


def test_several_problems_are_reported_together(capsys, monkeypatch):
    monkeypatch.chdir(BAD)
    status, _, err = run_cli(capsys, "validate", "several_problems.yaml")
    assert status == 2
    assert "Traceback" not in err
    expected = [
        ("k_factor", 4, "expected a number from 0.1 to 100"),
        ("area", 5, "expected south_deg < north_deg, got south_deg 47.5 ≥ north_deg 42.5"),
        ("units[0].antena_height_m", 11, "unknown key 'antena_height_m'; did you mean 'antenna_height_m'?"),
        ("units[1].system", 13, "unknown system 'S-400000'; close catalog names: 'S-400 Triumf'"),
        ("units[2].lat_deg", 18, "expected a number in [-90, 90] [deg], got 143.8"),
        ("units[2].withdrawn", 21, "expected a date ≥ deployed (2021-01-01), got 2020-01-01"),
        ("units[3].id", 22, "duplicate unit id 'iturup': also on line 7"),
        ("units[3].sources[0]", 26, "unknown source id 'nowhere_2024'"),
    ]
    lines = err.splitlines()
    assert len(lines) == len(expected), err
    for got, (key_path, line, fragment) in zip(lines, expected, strict=True):
        assert got.startswith(_prefix("several_problems.yaml", line, key_path)), got
        assert fragment in got, got


def test_validate_mixed_good_and_bad(capsys):
    good = str(GOOD / "base.yaml")
    bad = str(BAD / "k_factor_zero.yaml")
    status, out, err = run_cli(capsys, "validate", good, bad)
    assert status == 2
    assert out.startswith(f"OK {good} (3 units, terrain kurils_dted0.tif)")
    assert err.startswith(f"{bad}:4: k_factor: ")


def test_validate_missing_file(capsys, tmp_path):
    missing = str(tmp_path / "nope.yaml")
    status, _, err = run_cli(capsys, "validate", missing)
    assert status == 2
    assert err.startswith(f"{missing}: file not found: ")


def test_validate_scenario_files_api():
    assert validate_scenario_files([GOOD / "base.yaml", GOOD / "variant.yaml"]) == []
    problems = validate_scenario_files([BAD / "several_problems.yaml", BAD / "k_factor_zero.yaml"])
    assert len(problems) == 9
    assert all(isinstance(p, Problem) for p in problems)


def test_problems_collected_along_the_extends_chain(tmp_path):
    (tmp_path / "parent.yaml").write_text(
        textwrap.dedent(
            f"""\
            schema_version: 1
            terrain: {KURILS_TERRAIN}
            units:
              - {{id: a, system: s300v4, lat_deg: 44.9, lon_deg: 147.6, antenna_height_m: -1}}
            """
        )
    )
    (tmp_path / "child.yaml").write_text("schema_version: 1\nextends: parent.yaml\nk_factor: 0\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "child.yaml")
    problems = info.value.problems
    assert [(Path(p.file).name, p.line, p.key_path) for p in problems] == [
        ("child.yaml", 3, "k_factor"),
        ("parent.yaml", 4, "units[0].antenna_height_m"),
    ]


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text, key_path, fragment",
    [
        ("schema_version: 1\nterrain: t.tif\nunits: [{id: a, system: s300v4, lat: 1, lat_deg: 1, lon: 2}]\n",
         "units[0].lat", "both 'lat_deg' and its alias 'lat' given"),
        ("schema_version: 1\nterrain: t.tif\nname: a\nname: b\n", "name", "duplicate key 'name' (also on line 3)"),
        ("schema_version: 1\nterrain: t.tif\nx: &x [*x]\n", "x[0]", "recursive alias"),
        ("schema_version: 1\nterrain: t.tif\nadd: []\n", "add", "'add' needs 'extends'"),
        ("schema_version: 1\nextends: p.yaml\nterrain: t.tif\nunits: []\n", "units", "lists new units under 'add'"),
        ("schema_version: 1\nterrain: {paths: [t.tif], void_policy: ignore}\n", "terrain.void_policy", "expected one of fill, sea, error, got 'ignore'"),
        ("schema_version: 1\nunits: []\n", "terrain", "missing required key"),
        ("schema_version: 1\nterrain: t.tif\nunits:\n  - {id: a, system: s300v4, lat: 1, lon: 2, range_km: 5, figures: {max_range_km: 9}}\n",
         "units[0].range_km", "keep one"),
        ("schema_version: 1\nterrain: t.tif\nunits:\n  - {id: a, system: s300v4, lat: 1, lon: 2, figures: {min_range_km: 9, max_range_km: 3}}\n",
         "units[0].figures.min_range_km", "expected min_range_km < max_range_km"),
        ("schema_version: 1\nterrain: t.tif\nunits:\n  - {id: a, system: s300v4, lat: .nan, lon: 2}\n", "units[0].lat", "got nan"),
        ("schema_version: 1\nterrain: t.tif\nunits:\n  - {id: a, system: s300v4, lat: 1, lon: 2, deployed: 2020-12-01 10:00:00}\n",
         "units[0].deployed", "without a time"),
        ("schema_version: true\nterrain: t.tif\n", "schema_version", "got true"),
    ],
)
def test_more_problem_classes(tmp_path, text, key_path, fragment):
    (tmp_path / "p.yaml").write_text("schema_version: 1\nterrain: t.tif\n")
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, check_terrain=False)
    found = [p for p in info.value.problems if p.key_path == key_path]
    assert found, str(info.value)
    assert fragment in found[0].message, str(info.value)


def test_unknown_key_suppresses_the_missing_key_it_explains(tmp_path):
    path = _write(tmp_path, "schema_version: 1\nterrain: t.tif\nunits:\n  - {id: a, system: s300v4, latitude: 1, lon: 2}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, check_terrain=False)
    assert [p.key_path for p in info.value.problems] == ["units[0].latitude"]


def test_x_keys_hold_anchors_and_merge_keys_work(tmp_path):
    path = _write(
        tmp_path,
        f"""\
        schema_version: 1
        terrain: {KURILS_TERRAIN}
        x-s300: &s300 {{system: s300v4, position_precision_km: 10, antenna_height_m: 20}}
        units:
          - <<: *s300
            id: a
            lat: 44.9
            lon: 147.6
          - <<: *s300
            id: b
            lat: 44.0
            lon: 145.8
            antenna_height_m: 40
        """,
    )
    s = load_scenario(path)
    assert [(u.id, u.system_id, u.antenna_height_m) for u in s.units] == [("a", "s300v4", 20), ("b", "s300v4", 40)]


# --------------------------------------------------------------------------- extends semantics


def test_base_scenario_resolution():
    s = load_scenario(GOOD / "base.yaml")
    assert isinstance(s, Scenario)
    assert s.name == "test-base" and s.title == "Test base scenario"
    assert s.terrain_paths == (KURILS_TERRAIN,)
    assert s.void_policy == "fill"
    assert s.k_factor == pytest.approx(4 / 3)
    assert s.default_antenna_height_m == 25
    assert s.extends is None
    assert s.unit_ids == ("unit-a", "unit-b", "unit-c")
    b = s.unit("unit-b")
    assert (b.system_id, b.system_name, b.lat_deg, b.lon_deg) == ("s300v4", "S-300V4", 44.033, 145.85)
    assert b.antenna_height_m == 12
    assert s.unit("unit-a").antenna_height_m is None  # the scenario assumption applies
    c = s.unit("unit-c")
    assert c.range_km == 10 and dict(c.figures) == {"max_target_altitude_m": 9000.0}
    assert s.sources["test_source"]["date"] == "2024-01-01"


def test_variant_withdraw_override_add():
    base = load_scenario(GOOD / "base.yaml")
    v = load_scenario(GOOD / "variant.yaml")
    assert v.extends == base.path
    assert v.name == "test-variant" and v.as_of == dt.date(2023, 9, 1)
    # inherited unless set
    assert v.terrain_paths == base.terrain_paths
    assert v.area_bounds_deg == base.area_bounds_deg
    assert v.default_antenna_height_m == 25
    assert v.k_factor == 1.0
    assert "test_source" in v.sources
    # withdraw
    assert v.unit_ids == ("unit-a", "unit-c", "unit-d")
    assert [u.id for u in v.withdrawn_units] == ["unit-b"]
    assert v.withdrawn_units[0] == base.unit("unit-b")
    # override: only the given fields; figures merged
    c0, c1 = base.unit("unit-c"), v.unit("unit-c")
    assert c1.antenna_height_m == 8 and c1.notes == "overridden"
    assert dict(c1.figures) == {"max_target_altitude_m": 9000.0, "min_target_altitude_m": 10.0}
    assert (c1.lat_deg, c1.lon_deg, c1.range_km, c1.system_id) == (c0.lat_deg, c0.lon_deg, c0.range_km, c0.system_id)
    # add
    d = v.unit("unit-d")
    assert (d.system_id, d.status, d.sources) == ("s400", "hypothetical", ("test_source",))


def test_withdraw_entry_with_date_sources_note():
    s = load_scenario(GOOD / "withdraw_detailed.yaml")
    assert s.unit_ids == ("unit-c", "unit-d")
    assert s.as_of == dt.date(2023, 9, 1)  # inherited through two files
    assert s.k_factor == 1.0
    a = next(u for u in s.withdrawn_units if u.id == "unit-a")
    assert a.withdrawn == dt.date(2023, 8, 31)
    assert a.sources == ("test_source",)
    assert a.notes.endswith("gone from imagery")
    assert [u.id for u in s.withdrawn_units] == ["unit-b", "unit-a"]


def test_override_moves_a_unit_and_terrain_is_rechecked(tmp_path):
    parent = GOOD / "base.yaml"
    path = _write(
        tmp_path,
        f"""\
        schema_version: 1
        extends: {parent}
        override:
          - id: unit-a
            lat: 51.0
            system: Tor-M2
        """,
    )
    s = load_scenario(path, check_terrain=False)
    assert (s.unit("unit-a").lat_deg, s.unit("unit-a").system_id) == (51.0, "tor_m2")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.key_path) == (str(path), 4, "override[0]")
    assert "unit 'unit-a' at lat_deg 51" in problem.message


def test_withdrawn_unit_cannot_be_overridden_or_re_added(tmp_path):
    path = _write(
        tmp_path,
        f"""\
        schema_version: 1
        extends: {GOOD / "variant.yaml"}
        withdraw: [unit-b]
        override:
          - {{id: unit-b, notes: x}}
        add:
          - {{id: unit-b, system: s400, lat: 44, lon: 146}}
        """,
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, check_terrain=False)
    messages = [(p.line, p.key_path, p.message) for p in info.value.problems]
    assert messages[0][:2] == (3, "withdraw[0]") and "(already withdrawn)" in messages[0][2]
    assert messages[1][:2] == (5, "override[0].id") and "(it is withdrawn)" in messages[1][2]
    assert messages[2][:2] == (7, "add[0].id") and "already exists (withdrawn" in messages[2][2]


def test_with_units_withdrawn():
    s = load_scenario(GOOD / "base.yaml")
    w = s.with_units_withdrawn(["unit-a", "unit-c"])
    assert w.unit_ids == ("unit-b",)
    assert [u.id for u in w.withdrawn_units] == ["unit-a", "unit-c"]
    assert s.unit_ids == ("unit-a", "unit-b", "unit-c")  # the original is unchanged
    assert s.with_units_withdrawn("unit-b").unit_ids == ("unit-a", "unit-c")  # one id as a string
    assert s.with_units_withdrawn([]) == s
    with pytest.raises(ScenarioError) as info:
        w.with_units_withdrawn(["unit-a", "nope"])
    message = str(info.value)
    assert "'nope'" in message and "(it is withdrawn)" in message and "valid ids: unit-b" in message


def test_unit_lookup():
    s = load_scenario(GOOD / "base.yaml")
    assert s.unit("unit-c").system_id == "tor_m2"
    with pytest.raises(ScenarioError, match="no unit 'unit-x'; valid ids: unit-a, unit-b, unit-c"):
        s.unit("unit-x")
    assert "UnitSpec('unit-b', S-300V4, 44.033°N 145.850°E, antenna 12 m AGL)" == repr(s.unit("unit-b"))


def test_active_on_and_active_as_of():
    s = load_scenario(GOOD / "base.yaml")
    a = s.unit("unit-a")  # 2020-12-01 .. 2023-08-31
    assert not a.active_on(dt.date(2020, 11, 30))
    assert a.active_on(dt.date(2020, 12, 1))
    assert a.active_on(dt.date(2023, 8, 30))
    assert not a.active_on(dt.date(2023, 8, 31))  # withdrawn is the first day gone
    assert s.unit("unit-c").active_on(dt.date(1900, 1, 1))  # no dates: always
    assert s.active_as_of(dt.date(2019, 1, 1)).unit_ids == ("unit-c",)
    assert s.active_as_of(dt.date(2022, 1, 1)).unit_ids == ("unit-a", "unit-b", "unit-c")
    later = s.active_as_of(dt.date(2023, 9, 1))
    assert later.unit_ids == ("unit-b", "unit-c") and later.as_of == dt.date(2023, 9, 1)
    assert s.active_as_of("2023-09-01") == later
    with pytest.raises(ScenarioError):
        s.active_as_of("September 2023")


def test_unitspec_is_frozen_and_hashable():
    u = load_scenario(GOOD / "base.yaml").unit("unit-c")
    with pytest.raises(AttributeError):
        u.lat_deg = 0.0  # type: ignore[misc]
    assert hash(u) == hash(u)
    assert isinstance(u, UnitSpec)


def test_check_terrain_false_does_not_touch_terrain(tmp_path):
    path = _write(tmp_path, "schema_version: 1\nterrain: missing.tif\nunits:\n  - {id: a, system: s400, lat: 0, lon: 0}\n")
    s = load_scenario(path, check_terrain=False)
    assert s.terrain_paths == (tmp_path / "missing.tif",)
    with pytest.raises(ScenarioError, match="terrain file not found"):
        load_scenario(path)


def test_terrain_forms(tmp_path):
    folder = REPO / "scenarios" / "terrain" / "dted0"
    path = _write(
        tmp_path,
        f"""\
        schema_version: 1
        terrain: {{paths: [{folder}], void_policy: sea}}
        units: [{{id: a, system: s400, lat: 44.5, lon: 146.5}}]
        """,
    )
    s = load_scenario(path)
    assert s.terrain_paths == (folder,) and s.void_policy == "sea"
    path = _write(tmp_path, f"schema_version: 1\nterrain: [{KURILS_TERRAIN}, {KURILS_TERRAIN}]\n")
    assert load_scenario(path).terrain_paths == (KURILS_TERRAIN, KURILS_TERRAIN)


# --------------------------------------------------------------------------- schema


def test_schema_command_prints_json_schema(capsys):
    status, out, err = run_cli(capsys, "schema")
    assert status == 0 and err == ""
    schema = json.loads(out)
    assert out.startswith("{\n  ")  # indent 2
    assert "units" in schema["properties"]
    assert schema["properties"]["schema_version"]["const"] == 1
    unit = schema["$defs"]["Unit"]
    assert unit["additionalProperties"] is False
    assert "[deg]" in unit["properties"]["lat_deg"]["description"]
    assert "[m]" in unit["properties"]["antenna_height_m"]["description"]
    assert {"lat", "lon"} <= set(unit["properties"])
    assert schema == scenario_json_schema()


@pytest.mark.slow
def test_bundled_scenarios_satisfy_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = scenario_json_schema()
    for path in BUNDLED + sorted(GOOD.glob("*.yaml")):
        data = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
        jsonschema.validate(data, schema)


# --------------------------------------------------------------------------- fuzzing

KEYS = [
    "schema_version", "name", "title", "description", "as_of", "terrain", "area", "k_factor",
    "assumptions", "sources", "units", "extends", "withdraw", "add", "override", "id", "system",
    "lat_deg", "lon_deg", "lat", "lon", "position_precision_km", "antenna_height_m", "range_km",
    "figures", "deployed", "withdrawn", "dates_note", "status", "notes", "paths", "void_policy",
    "west_deg", "south_deg", "east_deg", "north_deg", "title", "date", "note", "<<", "x-anchor",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.dates()
    | st.sampled_from(["s300v4", "S-300V4", "tor_m2", "kurils-2020.yaml", "parent.yaml", "self.yaml", "fill",
                       "reported_deployed", "kyodo_2023_08_31", str(KURILS_TERRAIN), "2020-12-01", "2020-13-01", ""])
)
keys = st.sampled_from(KEYS) | st.text(max_size=12)
documents = st.recursive(
    scalars, lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6), max_leaves=40
)
units = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["a", "b", "a b", ""]) | st.integers(),
        "system": st.sampled_from(["s300v4", "S-400", "tor_m2", "nope"]) | scalars,
        "lat_deg": st.floats() | st.integers(-200, 200) | scalars,
        "lon": st.floats() | st.integers(-200, 200) | scalars,
        "lat": st.floats(40, 50),
        "lon_deg": st.floats(140, 151),
        "antenna_height_m": st.floats() | scalars,
        "range_km": st.floats() | scalars,
        "figures": st.dictionaries(st.sampled_from(["min_range_km", "max_range_km", "foo"]), st.floats() | scalars, max_size=3),
        "deployed": st.dates() | scalars,
        "withdrawn": st.dates() | scalars,
        "status": st.sampled_from(["hypothetical", "planned", "x"]),
        "sources": st.lists(st.sampled_from(["kyodo_2023_08_31", "s1", "nope"]) | scalars, max_size=3),
    },
)
scenario_docs = st.fixed_dictionaries(
    {"schema_version": st.sampled_from([1, 1, 1, 2, "1", None])},
    optional={
        "terrain": st.sampled_from([str(KURILS_TERRAIN), [str(KURILS_TERRAIN)], {"paths": [str(KURILS_TERRAIN)], "void_policy": "sea"}, "missing.tif"]) | documents,
        "extends": st.sampled_from(["parent.yaml", "self.yaml", "nope.yaml"]) | scalars,
        "units": st.lists(units, max_size=4) | documents,
        "add": st.lists(units, max_size=3),
        "withdraw": st.lists(st.sampled_from(["pa", "pb", "nope"]) | st.fixed_dictionaries({"id": st.sampled_from(["pa", "x"])}, optional={"date": scalars, "sources": documents}), max_size=3),
        "override": st.lists(units.map(lambda u: {"id": "pa", **u}), max_size=2),
        "area": st.dictionaries(st.sampled_from(["west_deg", "south_deg", "east_deg", "north_deg", "w"]), st.floats(-200, 200) | scalars, max_size=5),
        "k_factor": st.floats() | scalars,
        "assumptions": st.dictionaries(st.sampled_from(["antenna_height_m", "x"]), scalars, max_size=2),
        "sources": st.dictionaries(st.sampled_from(["s1", "s2"]) | st.text(max_size=5), documents | st.fixed_dictionaries({"title": scalars}), max_size=2),
        "as_of": scalars,
    },
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    (d / "parent.yaml").write_text(
        f"schema_version: 1\nterrain: {KURILS_TERRAIN}\nunits:\n"
        "  - {id: pa, system: s300v4, lat: 44.9, lon: 147.6}\n  - {id: pb, system: tor_m2, lat: 45.0, lon: 147.6}\n"
    )
    return d


def _only_scenario_errors(path: Path, check_terrain: bool) -> None:
    try:
        load_scenario(path, check_terrain=check_terrain)
    except ScenarioError as exc:
        assert exc.problems, "a ScenarioError carries at least one problem"
        for p in exc.problems:
            assert isinstance(p.message, str) and p.message
            assert p.line is None or p.line >= 1
    except Exception:  # noqa: BLE001 - anything but ScenarioError is a bug
        pytest.fail("load_scenario raised something other than ScenarioError:\n" + traceback.format_exc())


@FUZZ
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300), check_terrain=st.booleans())
def test_fuzz_random_text(fuzz_dir, text, check_terrain):
    path = fuzz_dir / "self.yaml"
    path.write_text(text, encoding="utf-8")
    _only_scenario_errors(path, check_terrain)


@FUZZ
@given(data=st.binary(max_size=200))
def test_fuzz_random_bytes(fuzz_dir, data):
    path = fuzz_dir / "self.yaml"
    path.write_bytes(data)
    _only_scenario_errors(path, True)


@pytest.mark.slow
@FUZZ
@given(doc=documents)
def test_fuzz_random_structures(fuzz_dir, doc):
    path = fuzz_dir / "self.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _only_scenario_errors(path, True)


@pytest.mark.slow
@FUZZ
@given(doc=scenario_docs, check_terrain=st.booleans())
def test_fuzz_scenario_like_documents(fuzz_dir, doc, check_terrain):
    path = fuzz_dir / "self.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _only_scenario_errors(path, check_terrain)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_fuzz_mutated_bundled_text(fuzz_dir, data):
    """Random edits (delete, insert, replace) of a real scenario's text."""
    text = (GOOD / "base.yaml").read_text(encoding="utf-8").replace("../../../scenarios/terrain/kurils_dted0.tif", str(KURILS_TERRAIN))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 8)))
        text = text[:i] + data.draw(st.sampled_from(["", ":", "-", " ", "\n", "[", "{", "&a", "*a", "!!", "'", "9", "x"])) + text[j:]
    path = fuzz_dir / "self.yaml"
    path.write_text(text, encoding="utf-8")
    _only_scenario_errors(path, data.draw(st.booleans()))


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000 + "]" * 3000,
        "a: " + "{b: " * 3000 + "1" + "}" * 3000,
        "- " * 2000 + "x",
        "&a [*a]",
        "a: &a {<<: *a}",
        "schema_version: 1\n<<: [1, 2]\n",
        "? [a, b]\n: 1\n",
        "schema_version: 1\nterrain: !!binary aGVsbG8=\n",
        "schema_version: 1\nunits: !!set {a, b}\n",
        "schema_version: 1\nk_factor: 0x" + "f" * 5000 + "\n",
        "schema_version: 1\nk_factor: " + "9" * 5000 + "\n",
        "--- 1\n--- 2\n",
        "\ufeffschema_version: 1\n",
        "schema_version: 1\nterrain: \"\\0\"\n",
        "schema_version: 1\nextends: /dev/zero\n",
        "schema_version: 1\nextends: .\n",
        "schema_version: 1\nterrain: /dev/null\nunits: [{id: a, system: s400, lat: 1, lon: 1}]\n",
        "schema_version: 1\nextends: self.yaml\n",
    ],
    ids=lambda t: repr(t[:30]),
)
def test_hostile_documents(fuzz_dir, text):
    path = fuzz_dir / "self.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError):
        load_scenario(path)


def test_load_scenario_rejects_non_paths():
    with pytest.raises(ScenarioError):
        load_scenario(None)  # type: ignore[arg-type]


def test_directory_is_not_a_scenario(tmp_path):
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario(tmp_path)
    assert os.path.isdir(tmp_path)

"""The published-systems catalog: packaged data, loader validation, lookup, ``adcov systems``."""

from __future__ import annotations

import copy
import functools
import json
import math
from pathlib import Path

import pytest
import yaml

from simulator.catalog import (
    SENSOR_QUANTITIES,
    WEAPON_QUANTITIES,
    Catalog,
    PublishedFigure,
    System,
    load_catalog,
    system_to_dict,
)
from simulator.cli import main
from simulator.errors import CatalogError, UnknownSystemError

REFERENCE_SHEET = Path("/work/shared/reference/systems_published.yaml")
PACKAGED = Path(__file__).resolve().parents[1] / "simulator" / "data" / "catalog.yaml"
COASTAL_ANTI_SHIP_IDS = ("bastion_p", "bal")
# Published figures are given to 0.1 km / 1 m; converted values agree with the sheet to this.
KM = 1e-9


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def reference_sheet() -> dict:
    if not REFERENCE_SHEET.exists():
        pytest.skip(f"reference sheet not available at {REFERENCE_SHEET}")
    return yaml.safe_load(REFERENCE_SHEET.read_text(encoding="utf-8"))


def all_quantities(catalog: Catalog):
    for system in catalog:
        for where, quantity in system.published_figures():
            yield system, where, quantity


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@functools.lru_cache(maxsize=1)
def _packaged_data() -> dict:
    return yaml.load(PACKAGED.read_text(encoding="utf-8"), Loader=_LOADER)


def packaged_data() -> dict:
    """A fresh, mutable copy of the packaged catalog's data."""
    return copy.deepcopy(_packaged_data())


def write_catalog(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "catalog.yaml"
    text = yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ packaged catalog
def test_packaged_catalog_loads_once(catalog):
    assert len(catalog) >= 21
    assert load_catalog() is catalog  # cached


def test_every_figure_cites_a_source_that_exists(catalog):
    missing = [
        f"{system.id}.{where}: {figure.source_id}"
        for system, where, quantity in all_quantities(catalog)
        for figure in quantity.figures
        if figure.source_id not in catalog.sources
    ]
    missing += [f"{s.id}.related_sources: {r}" for s in catalog for r in s.related_sources if r not in catalog.sources]
    assert missing == []


def test_every_copied_source_is_used(catalog):
    used = {source_id for system in catalog for source_id in system.source_ids}
    assert set(catalog.sources) == used


def test_every_system_has_all_envelope_and_sensor_quantities(catalog):
    for system in catalog:
        assert system.weapons and system.sensors, system.id
        for weapon in system.weapons:
            assert [q.name for q in weapon.quantities] == list(WEAPON_QUANTITIES)
        for sensor in system.sensors:
            assert (sensor.detection_range_km.name, sensor.antenna_height_m.name) == SENSOR_QUANTITIES


def test_nominal_lies_within_spread(catalog):
    checked = 0
    for system, where, quantity in all_quantities(catalog):
        if quantity.spread_min is not None:
            assert quantity.spread_min <= quantity.nominal <= quantity.spread_max, f"{system.id}.{where}"
            checked += 1
    assert checked >= 15


def test_nominal_is_one_of_the_reported_values(catalog):
    for system, where, quantity in all_quantities(catalog):
        if quantity.known:
            reported = [v for f in quantity.figures for v in (f.value, f.value_low) if isinstance(v, float)]
            assert any(math.isclose(quantity.nominal, v) for v in reported), f"{system.id}.{where}"


def test_unknown_figures_have_no_nominal(catalog):
    unknown = 0
    for system, where, quantity in all_quantities(catalog):
        if not quantity.figures:
            unknown += 1
            assert quantity.nominal is None and quantity.spread_min is None, f"{system.id}.{where}"
            assert not quantity.known
            assert quantity.nominal_reason.startswith("Unknown"), f"{system.id}.{where}"
        else:
            assert quantity.nominal_reason, f"{system.id}.{where}"
    assert unknown > 0


def test_antenna_height_is_unknown_for_every_sensor(catalog):
    for system in catalog:
        for sensor in system.sensors:
            assert not sensor.antenna_height_m.known, f"{system.id}.{sensor.id}"


def test_numeric_figures_are_floats(catalog):
    for system, where, quantity in all_quantities(catalog):
        for figure in quantity.figures:
            if figure.unit in ("text", "date"):
                assert isinstance(figure.value, str)
            else:
                assert isinstance(figure.value, float), f"{system.id}.{where}"


# ----------------------------------------------------------------- against the reference sheet
def test_every_air_defense_system_of_the_sheet_is_present(catalog, reference_sheet):
    sheet_ids = {s["id"] for s in reference_sheet["systems"] if s["air_defense"]}
    assert sheet_ids <= {system.id for system in catalog}
    for coastal in COASTAL_ANTI_SHIP_IDS:
        assert coastal not in catalog.systems
        assert coastal not in catalog


def test_every_figure_of_the_sheet_carries_over(catalog, reference_sheet):
    """Each (source, value) the sheet gives an air-defense system appears in that system's catalog entry."""

    def sheet_figures(entry):
        groups = [w.get("figures", {}) for w in entry["weapons"]]
        groups += [x.get("figures", {}) for x in entry.get("sensors") or []]
        groups.append(entry.get("other_figures") or {})
        for group in groups:
            for figures in group.values():
                yield from figures

    for entry in reference_sheet["systems"]:
        if not entry["air_defense"]:
            continue
        system = catalog.systems[entry["id"]]
        carried = {
            (f.source_id, v)
            for _, quantity in system.published_figures()
            for f in quantity.figures
            for v in (f.value, f.value_low)
            if v is not None
        }
        for figure in sheet_figures(entry):
            for value in (figure["value"], figure.get("value_low")):
                if value is None:
                    continue
                expected = float(value) if not isinstance(value, str) else value
                assert (figure["source"], expected) in carried, f"{entry['id']}: {figure}"


def test_copied_sources_match_the_sheet(catalog, reference_sheet):
    for source in catalog.sources.values():
        original = reference_sheet["sources"][source.id]
        assert source.title == original["title"]
        assert source.publisher == original["publisher"]
        assert source.date == str(original["date"])
        assert source.address == original.get("address")
        assert source.confidence == original["confidence"]


# ---------------------------------------------------------------------------------- spot checks
def test_s300v4_max_range(catalog):
    quantity = catalog.get("S-300V4").weapons[0].max_range_km
    assert quantity.nominal == 400
    assert (quantity.spread_min, quantity.spread_max) == pytest.approx((241.4, 400), abs=KM)
    assert "yomiuri_2020_12_02" in quantity.source_ids


def test_s400_max_altitude_figures_include_30_km(catalog):
    system = catalog.get("S-400")
    ceiling = next(w for w in system.weapons if w.id == "s400_system").max_target_altitude_m
    assert 30000 in [f.value for f in ceiling.figures]
    assert 60000 in [f.value for f in ceiling.figures]  # outlier kept, not used
    assert ceiling.nominal == 30000


def test_tor_m2_max_range_spread(catalog):
    quantity = catalog.get("Tor-M2").weapons[0].max_range_km
    assert (quantity.spread_min, quantity.spread_max) == (12, 15)
    assert quantity.nominal == 15


def test_nasams_outlier_listed_but_not_nominal(catalog):
    quantity = catalog.get("NASAMS").weapons[0].max_range_km
    assert 160 in [f.value for f in quantity.figures]
    assert quantity.nominal == 30
    assert "outlier" in quantity.nominal_reason


def test_envelope_band_low_end_is_a_minimum_range(catalog):
    buk_m1 = next(w for w in catalog.get("buk_m2").weapons if w.id == "buk_m1")
    assert buk_m1.min_range_km.nominal == 3
    assert buk_m1.max_range_km.spread_min is None  # 3 km is not a competing maximum


def test_system_summaries(catalog):
    s300v4 = catalog.get("s300v4")
    assert s300v4.max_engagement_range_km == 400
    assert not s300v4.detection_range_km.known
    assert catalog.get("s400").detection_range_km.nominal == 600
    assert catalog.get("thaad").max_engagement_range_km is None  # ballistic only


# --------------------------------------------------------------------------------------- lookup
@pytest.mark.parametrize(
    ("name", "system_id"),
    [
        ("S-300V4", "s300v4"),
        ("s300v4", "s300v4"),
        ("S300V4", "s300v4"),
        ("s 300 v4", "s300v4"),
        ("Tor-M2", "tor_m2"),
        ("TOR_M2", "tor_m2"),
        ("tor m2", "tor_m2"),
        ("S-400 Triumf", "s400"),
        ("FD-2000", "hq9"),  # name without its "(export)" remark
    ],
)
def test_get_accepts_ids_and_names(catalog, name, system_id):
    assert catalog.get(name).id == system_id
    assert name in catalog


def test_unknown_name_lists_close_matches(catalog):
    with pytest.raises(UnknownSystemError) as info:
        catalog.get("S-300V5")
    message = str(info.value)
    assert "'S-300V5'" in message
    assert "S-300V4" in message
    assert "adcov systems" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, CatalogError)


def test_close_matches_are_display_names(catalog):
    assert "S-300V4" in catalog.close_matches("S-300V5")
    assert catalog.close_matches("SM-6") == ["Standard Missile-6 (RIM-174 ERAM)"]
    assert catalog.close_matches("zzzz") == []


def test_source_lookup(catalog):
    assert catalog.source("yomiuri_2020_12_02").publisher == "Yomiuri Shimbun"
    with pytest.raises(CatalogError, match="yomiuri_2020_12_02"):
        catalog.source("yomiuri_2020_12_03")


def test_system_to_dict_is_json_ready_with_sources(catalog):
    data = system_to_dict(catalog.get("S-300V4"), catalog)
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text) == data
    figure = data["weapons"][0]["max_range_km"]["figures"][0]
    assert figure["source"]["publisher"] == "Yomiuri Shimbun"
    assert figure["source"]["address"].startswith("https://")


# ----------------------------------------------------------------------------- loader validation
def test_dangling_source_raises(tmp_path):
    data = packaged_data()
    figure = data["systems"][0]["weapons"][0]["max_range_km"]["figures"][0]
    figure["source"] = "no_such_source"
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert "systems[0].weapons[0].max_range_km.figures[0].source" in message
    assert "no_such_source" in message


def test_dangling_related_source_raises(tmp_path):
    data = packaged_data()
    data["systems"][0]["related_sources"] = ["nowhere_2020"]
    with pytest.raises(CatalogError, match=r"systems\[0\]\.related_sources\[0\].*nowhere_2020"):
        load_catalog(write_catalog(tmp_path, data))


def _quantity(data: dict) -> dict:
    return data["systems"][0]["weapons"][0]["max_range_km"]  # S-300V4: nominal 400, spread 241.4-400


def _set_nominal_outside_spread(data):
    _quantity(data)["nominal"] = 500


def _set_nominal_not_reported(data):
    _quantity(data)["nominal"] = 300


def _set_text_value(data):
    _quantity(data)["figures"][0]["value"] = "400 km"


def _set_bool_value(data):
    _quantity(data)["figures"][0]["value"] = True


def _set_wrong_spread(data):
    _quantity(data)["spread"] = [200, 400]


def _drop_spread(data):
    del _quantity(data)["spread"]


def _give_unknown_a_nominal(data):
    data["systems"][0]["weapons"][0]["min_range_km"]["nominal"] = 5


def _drop_quantity(data):
    del data["systems"][0]["weapons"][0]["max_target_altitude_m"]


def _wrong_unit(data):
    _quantity(data)["unit"] = "m"


def _bad_qualifier(data):
    _quantity(data)["figures"][0]["qualifier"] = "roughly"


def _duplicate_system(data):
    data["systems"].append(copy.deepcopy(data["systems"][0]))


def _name_clash(data):
    data["systems"][1]["names"].append("S-300V4")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set_nominal_outside_spread, "outside the spread"),
        (_set_nominal_not_reported, "not one of the reported values"),
        (_set_text_value, r"figures\[0\]\.value: expected a number"),
        (_set_bool_value, r"figures\[0\]\.value: expected a number"),
        (_set_wrong_spread, r"spread: expected \[241.4, 400\]"),
        (_drop_spread, "sources disagree"),
        (_give_unknown_a_nominal, "unknown quantity has no figures, nominal or spread"),
        (_drop_quantity, r"max_target_altitude_m: missing"),
        (_wrong_unit, "must be in 'km'"),
        (_bad_qualifier, "expected one of about"),
        (_duplicate_system, "duplicate system id 's300v4'"),
        (_name_clash, "also selects system"),
    ],
)
def test_malformed_catalog_raises_with_key_path(tmp_path, mutate, expected):
    data = packaged_data()
    mutate(data)
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError, match=expected) as info:
        load_catalog(path)
    assert str(path) in str(info.value)


def test_problem_lines_point_into_the_file(tmp_path):
    data = packaged_data()
    _set_nominal_outside_spread(data)
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    first = str(info.value).splitlines()[0]
    line = int(first.split(":")[1])
    assert "nominal" in path.read_text(encoding="utf-8").splitlines()[line - 1]


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("schema_version: 1\nsystems: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"broken\.yaml:\d+: not valid YAML"):
        load_catalog(path)


def test_missing_file_raises_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "absent.yaml")


def test_round_trip_of_packaged_data_loads(tmp_path):
    loaded = load_catalog(write_catalog(tmp_path, packaged_data()))
    assert set(loaded.systems) == set(load_catalog().systems)


def test_unknown_published_figure_model():
    quantity = PublishedFigure("min_range_km", "km", (), None, None, None, "Unknown: none found.")
    assert not quantity.known
    assert quantity.source_ids == ()


def test_system_is_hashable(catalog):
    system = catalog.get("s400")
    assert isinstance(system, System)
    assert system in {system}


# ------------------------------------------------------------------------------------------ CLI
def test_cli_systems_json_lists_every_system(capsys, catalog):
    assert main(["systems", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [entry["id"] for entry in data] == list(catalog.systems)


def test_cli_systems_table(capsys):
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    assert "s300v4" in out and "tor_m2" in out
    assert "400 (241.4–400)" in out
    assert "unknown" in out


def test_cli_one_system_shows_figures_and_sources(capsys):
    assert main(["systems", "S-300V4"]) == 0
    out = capsys.readouterr().out
    assert "400" in out
    assert "Yomiuri" in out
    assert "https://www.yomiuri.co.jp/world/20201202-OYT1T50225/" in out
    assert "射程400キロ" in out
    assert "antenna height [m]: unknown" in out


def test_cli_one_system_json(capsys):
    assert main(["systems", "tor m2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "tor_m2"
    assert data["weapons"][0]["max_range_km"]["spread"] == [12, 15]


def test_cli_unknown_system_exits_2_with_suggestions(capsys):
    assert main(["systems", "S-300V5"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "S-300V4" in captured.err
    assert captured.err.startswith("adcov: error: ")

"""The published-systems catalog: packaged data, loader validation, lookup, ``adcov systems``."""

from __future__ import annotations

import copy
import functools
import json
import math
import pickle
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
from simulator.errors import AdcovError, CatalogError, Problem, ScenarioError, UnknownSystemError

REFERENCE_SHEET = Path("/work/shared/reference/systems_published.yaml")
# A byte-identical copy of /work/shared/reference/systems_published_addendum.yaml (2026-12-03), kept in
# the repository so these tests never depend on /work/shared.
ADDENDUM = Path(__file__).resolve().parent / "reference" / "systems_published_addendum.yaml"
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


@pytest.fixture(scope="module")
def addendum() -> dict:
    return yaml.safe_load(ADDENDUM.read_text(encoding="utf-8"))


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


def test_copied_sources_match_the_sheet(catalog, reference_sheet, addendum):
    """Every catalog source is a copy of a source of the sheet or of its addendum."""
    for source in catalog.sources.values():
        original = reference_sheet["sources"].get(source.id) or addendum["sources"][source.id]
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
    # The addendum adds three 12 km reports (two of them tier B) and Forbes' 7 mi (11.27 km);
    # the 15 km figures are all tier C/D, so 12 km is now the nominal.
    quantity = catalog.get("Tor-M2").weapons[0].max_range_km
    assert (quantity.spread_min, quantity.spread_max) == (11.27, 15)
    assert quantity.nominal == 12


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
    assert s300v4.detection_range_km.nominal == 500  # 9S15MD, tier D only (addendum)
    assert catalog.get("s400").detection_range_km.nominal == 600
    assert catalog.get("thaad").max_engagement_range_km is None  # ballistic only


# ------------------------------------------------------------------------- against the addendum
#: Addendum field name -> catalog quantity name. Envelope names (WEAPON_QUANTITIES, SENSOR_QUANTITIES)
#: are attributes of the weapon / sensor; the others are `other_figures` entries.
ADDENDUM_FIELD_TO_QUANTITY = {
    "max_range_aircraft_km": "max_range_km",
    "max_range_ballistic_km": "max_range_ballistic_km",
    "min_target_altitude_m": "min_target_altitude_m",
    "max_target_altitude_m": "max_target_altitude_m",
    "detection_range_km": "detection_range_km",
    "max_target_speed_m_s": "max_target_speed_m_s",
    "max_target_altitude_ballistic_m": "max_target_altitude_ballistic_m",
    "simultaneous_targets": "simultaneous_targets",
    "control_zone_radius_km": "control_zone_radius_km",
    "max_search_altitude_km": "max_search_altitude_km",
    "tracked_targets": "tracked_targets",
}
#: Where an addendum system-level field (no `weapon.` / `sensor.` prefix) goes: the weapon that holds
#: the system's claims, or None for the system's own `other_figures`.
ADDENDUM_SYSTEM_LEVEL_WEAPON = {
    "s300v4": "s300v4_system",
    "s300v_vm": "s300vm_system",
    "s400": "s400_system",
    "tor_m2": "tor_m2_9m338",
    "buk_m3": "buk_m3_9m317m",
    "antey4000": None,
    "pantsir_s1": None,
    "buk_m2": None,
}
#: (system id, addendum field key) of bands whose low end is a minimum (catalog rule): the band's top
#: stays, its low end is a figure of this other quantity of the same holder.
ADDENDUM_BAND_LOW_END_MOVED = {("s400", "max_target_altitude_ballistic_m"): "min_target_altitude_ballistic_m"}


def addendum_entries(addendum: dict, *, usable: bool):
    """(system id, field key, entry) for each addendum figure, usable or `usable: false` ones."""
    for system_id, fields in addendum["figures"].items():
        if system_id in COASTAL_ANTI_SHIP_IDS:
            continue
        for key, entries in fields.items():
            for entry in entries:
                if (entry.get("usable", True) is not False) == usable:
                    yield system_id, key, entry


def addendum_location(catalog: Catalog, system_id: str, key: str):
    """The catalog quantities an addendum field key maps to: (where, quantity, holder's other figures)."""
    system = catalog.systems[system_id]
    parts = key.split(".")
    if parts[0] == "sensor":
        _, sensor_id, field = parts
        name = ADDENDUM_FIELD_TO_QUANTITY[field]
        sensor = next(s for s in system.sensors if s.id == sensor_id)
        if name in SENSOR_QUANTITIES:
            return f"sensors.{sensor_id}.{name}", getattr(sensor, name), system.other_figures
        # sensors carry only SENSOR_QUANTITIES; their other figures sit at system level
        return f"other_figures.{sensor_id}_{name}", system.other_figures.get(f"{sensor_id}_{name}"), system.other_figures
    if parts[0] == "weapon":
        _, weapon_id, field = parts
    else:
        (field,) = parts
        weapon_id = ADDENDUM_SYSTEM_LEVEL_WEAPON[system_id]
    name = ADDENDUM_FIELD_TO_QUANTITY[field]
    if weapon_id is None:
        assert name not in WEAPON_QUANTITIES, f"{system_id}.{key}: an envelope figure needs a weapon"
        return f"other_figures.{name}", system.other_figures.get(name), system.other_figures
    weapon = next(w for w in system.weapons if w.id == weapon_id)
    if name in WEAPON_QUANTITIES:
        return f"weapons.{weapon_id}.{name}", getattr(weapon, name), weapon.other_figures
    return f"weapons.{weapon_id}.other_figures.{name}", weapon.other_figures.get(name), weapon.other_figures


def _same_figure(figure, entry, *, value, value_low) -> bool:
    return (
        figure.source_id == entry["source"]
        and figure.unit == entry["unit"]
        and figure.qualifier == entry["qualifier"]
        and figure.as_published == entry["as_published"]
        and figure.converted_from == entry.get("converted_from")
        and isinstance(figure.value, float)
        and math.isclose(figure.value, float(value))
        and (figure.value_low is None if value_low is None else
             figure.value_low is not None and math.isclose(figure.value_low, float(value_low)))
    )


def test_every_usable_addendum_figure_is_in_the_catalog(catalog, addendum):
    """Each usable addendum figure sits, with its value(s), unit, qualifier, text and source, where it belongs."""
    assert set(ADDENDUM_SYSTEM_LEVEL_WEAPON) == set(addendum["figures"]) - set(COASTAL_ANTI_SHIP_IDS)
    missing = []
    folded = 0
    for system_id, key, entry in addendum_entries(addendum, usable=True):
        assert system_id in catalog.systems, f"addendum system {system_id!r} is not in the catalog"
        where, quantity, other_figures = addendum_location(catalog, system_id, key)
        label = f"{system_id}.{where}: {entry}"
        if quantity is None:
            missing.append(label)
            continue
        assert quantity.known, label  # a reported number always gives a nominal
        moved_to = ADDENDUM_BAND_LOW_END_MOVED.get((system_id, key))
        if moved_to is None:
            found = any(_same_figure(f, entry, value=entry["value"], value_low=entry.get("value_low"))
                        for f in quantity.figures)
        else:
            low = other_figures.get(moved_to)
            found = (any(_same_figure(f, entry, value=entry["value"], value_low=None) for f in quantity.figures)
                     and low is not None
                     and any(f.source_id == entry["source"] and f.as_published == entry["as_published"]
                             and math.isclose(f.value, float(entry["value_low"])) for f in low.figures))
        if found:
            folded += 1
        else:
            missing.append(label)
    assert missing == []
    assert folded == 88  # 90 addendum figures, 2 of them `usable: false`


def test_addendum_sources_used_by_the_catalog_are_copied_with_their_tier(catalog, addendum):
    cited = {entry["source"] for _, _, entry in addendum_entries(addendum, usable=True)}
    used = {source_id for system in catalog for source_id in system.source_ids}
    assert cited <= used
    for source_id in sorted(used & set(addendum["sources"])):
        source, original = catalog.sources[source_id], addendum["sources"][source_id]
        assert source.confidence == original["confidence"], source_id
        for name in ("title", "publisher", "address", "language", "note", "via"):
            assert getattr(source, name) == original.get(name), f"{source_id}.{name}"
        assert source.date == str(original["date"]), source_id


def test_unusable_addendum_figures_never_appear_as_catalog_figures(catalog, addendum):
    unusable = list(addendum_entries(addendum, usable=False))
    assert len(unusable) == 2
    for system_id, _key, entry in unusable:
        printed = {float(entry["value"])} | ({float(entry["value_low"])} if "value_low" in entry else set())
        for system, where, quantity in all_quantities(catalog):
            for figure in quantity.figures:
                assert figure.as_published != entry["as_published"], f"{system.id}.{where}"
                if figure.source_id == entry["source"]:
                    assert figure.value not in printed and figure.value_low not in printed, f"{system.id}.{where}"
        assert "usable: false" in catalog.systems[system_id].notes  # mentioned in notes only


def test_spread_spans_every_reported_value(catalog, addendum):
    """For every quantity, including each one the addendum touched: spread == [min, max] of its values."""
    touched = {(system_id, addendum_location(catalog, system_id, key)[0])
               for system_id, key, _ in addendum_entries(addendum, usable=True)}
    checked = set()
    for system, where, quantity in all_quantities(catalog):
        values = [v for f in quantity.figures for v in (f.value, f.value_low) if isinstance(v, float)]
        if not values:
            continue
        assert any(math.isclose(quantity.nominal, v) for v in values), f"{system.id}.{where}"
        if math.isclose(min(values), max(values)):
            assert quantity.spread_min is None and quantity.spread_max is None, f"{system.id}.{where}"
        else:
            assert (quantity.spread_min, quantity.spread_max) == (min(values), max(values)), f"{system.id}.{where}"
        checked.add((system.id, where))
    assert touched <= checked


def test_addendum_leaves_unknowns_unknown(catalog):
    s300v4 = catalog.get("s300v4")
    for weapon in s300v4.weapons:
        for name in ("min_range_km", "min_target_altitude_m", "max_target_altitude_m"):
            assert not getattr(weapon, name).known, f"{weapon.id}.{name}"
    s400 = catalog.get("s400")
    assert not any(w.min_range_km.known for w in s400.weapons)  # "40-400 km" is not a minimum range
    radars = {sensor.id: sensor for sensor in s400.sensors}
    assert not radars["s400_91n6e"].detection_range_km.known  # the 600-1,000 km figures name no radar
    assert radars["s400_detection_unspecified"].detection_range_km.nominal == 600
    for system in catalog:
        for sensor in system.sensors:
            assert not sensor.antenna_height_m.known, f"{system.id}.{sensor.id}"


def test_addendum_nominals(catalog):
    s300v4 = catalog.get("s300v4")
    assert {w.id: w.max_range_km.nominal for w in s300v4.weapons} == {
        "s300v4_system": 400, "s300v4_9m82md": 400, "s300v4_9m82m": 250, "s300v4_9m83m": 150}
    assert {s.id: s.detection_range_km.nominal for s in s300v4.sensors} == {
        "s300v4_9s15": 500, "s300v4_9s19": 400, "s300v4_9s32": 400, "s300v4_9a83m_illuminator": 400}
    antey = catalog.get("antey4000")
    assert antey.max_engagement_range_km == 380 and antey.detection_range_km.nominal == 500
    assert catalog.get("s300v_vm").max_engagement_range_km == 250
    s400 = catalog.get("s400")
    assert s400.max_engagement_range_km == 400
    assert {w.id: w.max_range_km.nominal for w in s400.weapons} == {
        "s400_system": 400, "s400_40n6": 400, "s400_48n6": 257.5, "s400_9m96": 120}
    assert s400.weapons[0].min_target_altitude_m.nominal == 5
    assert catalog.get("pantsir_s1").detection_range_km.nominal == 40
    assert catalog.get("pantsir_s1").weapons[0].max_target_altitude_m.spread_min == 10000


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
        ("Antey-4000", "antey4000"),  # kept apart from the S-300V4 (addendum)
        ("Antey-2500", "s300v_vm"),
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert data["weapons"][0]["max_range_km"]["spread"] == [11.27, 15]


def test_cli_unknown_system_exits_2_with_suggestions(capsys):
    assert main(["systems", "S-300V5"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "S-300V4" in captured.err
    assert captured.err.startswith("adcov: error: ")


# ----------------------------------------------------------------- typed problems (like a scenario's)
def _figures(data: dict):
    for system in data["systems"]:
        for weapon in system["weapons"]:
            for name in WEAPON_QUANTITIES:
                yield from (weapon.get(name) or {}).get("figures") or []


def test_catalog_problems_are_records_with_file_line_and_key_path(tmp_path):
    data = packaged_data()
    data["schema_version"] = 2
    data["systems"][0]["weapons"][0]["max_range_km"]["figures"][0]["source"] = "no_such_source"
    data["systems"].append(copy.deepcopy(data["systems"][1]))
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    problems = info.value.problems
    assert all(isinstance(p, Problem) for p in problems)
    assert [p.key_path for p in problems] == [
        "schema_version",
        "systems[0].weapons[0].max_range_km.figures[0].source",
        f"systems[{len(data['systems']) - 1}].id",
    ]
    assert {p.file for p in problems} == {str(path)}
    lines = path.read_text(encoding="utf-8").splitlines()
    schema, source, duplicate = problems
    assert lines[schema.line - 1] == "schema_version: 2"
    assert schema.message == "expected 1, got 2"
    assert lines[source.line - 1].strip() == "source: no_such_source"
    assert source.message.startswith("source 'no_such_source' is not defined under `sources:`")
    assert source.message.endswith(f"(system {data['systems'][0]['id']!r})")
    assert lines[duplicate.line - 1].strip() == f"- id: {data['systems'][1]['id']}"
    assert duplicate.message.startswith(f"duplicate system id {data['systems'][1]['id']!r}")
    assert str(info.value) == "\n".join(str(p) for p in problems)  # the message is the problems, one a line


def test_catalog_error_carries_every_problem_but_shows_fifty(tmp_path):
    data = packaged_data()
    figures = list(_figures(data))[:60]
    assert len(figures) == 60
    for index, figure in enumerate(figures):
        figure["source"] = f"nowhere_{index}"
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    problems = info.value.problems
    assert len(problems) == 60
    assert all(isinstance(p, Problem) and p.file == str(path) and p.line is not None for p in problems)
    assert all(p.key_path.endswith(".source") for p in problems)
    message_lines = str(info.value).splitlines()
    assert message_lines == [str(p) for p in problems[:50]] + ["... and 10 more problems"]


def test_invalid_yaml_is_one_problem_with_its_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("schema_version: 1\nsystems: [\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.key_path) == (str(path), 3, "")
    assert problem.message.startswith("not valid YAML: ")
    assert str(info.value) == str(problem)


def test_unreadable_catalog_is_one_problem_without_a_line(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.problems == [Problem(str(path), None, "", "cannot read the catalog: No such file or directory")]


def test_name_clash_problems_and_closing_note(tmp_path):
    data = packaged_data()
    data["systems"][1]["names"].append("S-300V4")
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.key_path) == (str(path), None, "")
    assert problem.message == f"name 'S-300V4' of system {data['systems'][1]['id']!r} also selects system 's300v4'"
    assert str(info.value) == f"{problem}\n(every id and name must select one system only)"


def test_lookup_errors_carry_no_problems(catalog):
    with pytest.raises(UnknownSystemError) as unknown:
        catalog.get("S-300V5")
    assert unknown.value.problems == []
    assert str(unknown.value).startswith("unknown system 'S-300V5'")
    with pytest.raises(CatalogError) as source:
        catalog.source("yomiuri_2020_12_03")
    assert source.value.problems == []
    assert str(source.value).startswith("unknown source id 'yomiuri_2020_12_03'")
    assert str(CatalogError("plain text")) == "plain text"


def test_catalog_and_scenario_errors_keep_their_types():
    for error_type in (CatalogError, ScenarioError, UnknownSystemError):
        assert issubclass(error_type, AdcovError) and issubclass(error_type, ValueError)
    assert issubclass(UnknownSystemError, CatalogError) and issubclass(UnknownSystemError, KeyError)
    assert not issubclass(CatalogError, ScenarioError) and not issubclass(ScenarioError, CatalogError)
    assert str(ScenarioError("bad")) == "<scenario>: bad"  # a scenario's plain text still names a file


def test_catalog_error_problems_survive_copy_and_pickle():
    error = CatalogError([Problem("c.yaml", 3, "sources", "expected a mapping")] * 3, shown=2, note="(note)")
    for clone in (copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert type(clone) is CatalogError
        assert clone.problems == error.problems
        assert str(clone) == str(error) == "\n".join(["c.yaml:3: sources: expected a mapping"] * 2
                                                      + ["... and 1 more problems", "(note)"])

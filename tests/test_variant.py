"""Scenario variants written by ``simulator.variant`` (what the GUI's "Save scenario as" does)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import yaml

from simulator.cache import EnvelopeCache
from simulator.cli import main as adcov
from simulator.errors import ScenarioError
from simulator.scenario import bundled_scenario, load_scenario
from simulator.variant import write_variant_scenario

KURILS_2020 = bundled_scenario("kurils-2020")


def test_writes_extends_withdraw_override_and_loads_back(tmp_path):
    path = tmp_path / "variants" / "what-if.yaml"
    scenario = write_variant_scenario(
        path, KURILS_2020,
        withdraw=["iturup-s300v4", {"id": "kunashir-s300v4", "date": dt.date(2023, 8, 31), "note": "gone"}],
        override={"iturup-tor-m2": {"lat_deg": 45.0, "lon_deg": 147.6, "antenna_height_m": 12.5}},
        as_of=dt.date(2021, 6, 1), title="what if", header="written by a test",
    )
    text = path.read_text()
    assert text.startswith("# written by a test\n")
    doc = yaml.safe_load(text)
    assert doc["schema_version"] == 1
    assert doc["extends"] == os.path.relpath(KURILS_2020, path.parent).replace(os.sep, "/")
    assert doc["as_of"] == dt.date(2021, 6, 1)
    assert doc["withdraw"][0] == "iturup-s300v4"
    assert doc["override"] == [{"id": "iturup-tor-m2", "lat_deg": 45.0, "lon_deg": 147.6, "antenna_height_m": 12.5}]
    assert [u.id for u in scenario.units] == ["iturup-tor-m2"]
    assert [u.id for u in scenario.withdrawn_units] == ["iturup-s300v4", "kunashir-s300v4"]
    tor = scenario.unit("iturup-tor-m2")
    assert (tor.lat_deg, tor.lon_deg, tor.antenna_height_m) == (45.0, 147.6, 12.5)
    assert scenario.as_of == dt.date(2021, 6, 1) and scenario.name == "what-if"
    assert [p.name for p in path.parent.iterdir()] == ["what-if.yaml"]  # no temporary file left


def test_an_invalid_variant_writes_nothing_and_names_the_destination(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("previous content\n")
    with pytest.raises(ScenarioError) as info:
        write_variant_scenario(path, KURILS_2020, withdraw=["no-such-unit"])
    problem = info.value.problems[0]
    assert problem.file == os.fspath(path) and problem.line is not None
    assert problem.key_path == "withdraw[0]" and "no-such-unit" in problem.message
    assert path.read_text() == "previous content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
    with pytest.raises(ScenarioError, match="antenna_height_m"):
        write_variant_scenario(tmp_path / "b.yaml", KURILS_2020, override={"iturup-tor-m2": {"antenna_height_m": -5}})
    with pytest.raises(ScenarioError, match="unknown field"):
        write_variant_scenario(tmp_path / "c.yaml", KURILS_2020, override={"iturup-tor-m2": {"height": 5}})
    with pytest.raises(ScenarioError, match="lies outside the terrain"):
        write_variant_scenario(tmp_path / "d.yaml", KURILS_2020, override={"iturup-tor-m2": {"lat_deg": 60.0}})
    assert not any((tmp_path / n).exists() for n in ("b.yaml", "c.yaml", "d.yaml"))


def test_the_gui_state_round_trips_and_reruns_headless(tmp_path, capsys):
    """A GUI session saved as a variant gives the same units and numbers in `adcov run`."""
    from gui.model import load_session, save_variant
    from gui.state import ViewState

    session = load_session(KURILS_2020, cache=EnvelopeCache())
    state = ViewState(**session.default_state())
    state.set(altitude_m=300.0, withdrawn={"kunashir-s300v4"}, as_of=dt.date(2022, 1, 1))
    state.set_edit("iturup-tor-m2", lat_deg=45.05, lon_deg=147.7, antenna_height_m=20.0)
    fields = state.edits["iturup-tor-m2"]
    session.store_edited_envelope("iturup-tor-m2", fields, session.build_edited_envelope("iturup-tor-m2", fields, cache=EnvelopeCache()))
    path = tmp_path / "session.yaml"
    saved = save_variant(session, state, path)

    active = saved.active_as_of(saved.as_of)
    assert [u.id for u in active.units] == session.active_ids(state) == ["iturup-s300v4", "iturup-tor-m2"]
    tor = active.unit("iturup-tor-m2")
    assert (tor.lat_deg, tor.lon_deg, tor.antenna_height_m) == (45.05, 147.7, 20.0)
    assert load_scenario(path).as_of == dt.date(2022, 1, 1)

    assert adcov(["run", str(path), "--json", "--altitudes-m", "300", "--layers", "engagement"]) == 0
    row = json.loads(capsys.readouterr().out)["layers"]["engagement"][0]
    expected = session.current_coverage(state).covered_km2("engagement", 300.0, "msl")
    assert row["covered_km2"] == pytest.approx(expected, rel=1e-12)


def test_extends_is_relative_to_the_variant_folder(tmp_path):
    base_dir = tmp_path / "a" / "b"
    base_dir.mkdir(parents=True)
    base = base_dir / "base.yaml"
    text = KURILS_2020.read_text().replace("terrain/dted0-kurils", str(KURILS_2020.parent / "terrain" / "dted0-kurils"))
    base.write_text(text)
    out = tmp_path / "c" / "variant.yaml"
    scenario = write_variant_scenario(out, base, withdraw=["iturup-tor-m2"])
    assert yaml.safe_load(out.read_text())["extends"] == "../a/b/base.yaml"
    assert scenario.extends == base.resolve()
    assert [u.id for u in scenario.units] == ["iturup-s300v4", "kunashir-s300v4"]


def test_saved_variants_follow_the_users_umask(tmp_path):
    """A saved scenario gets 0666 less the umask, like any file the user writes (not 0600)."""
    import os

    old = os.umask(0o022)
    try:
        import simulator.fileio as fileio

        fileio._mode = None  # read the umask set here
        out = tmp_path / "variant.yaml"
        write_variant_scenario(out, KURILS_2020, withdraw=["iturup-tor-m2"])
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
        fileio._mode = None

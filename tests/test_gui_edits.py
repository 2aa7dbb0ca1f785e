"""The GUI's edit bookkeeping and profile requests (gui/edits.py), without Qt.

Edits are kept against the scenario file's values (only what differs counts), the window
remembers the edits last saved ("unsaved edits" on quitting), the last edit of each unit whose
envelope was built (where a failed recomputation goes back to) and what is being built; the
shown profile is drawn again when its unit's envelope changes. A stand-in coverage holds
envelopes that are only figures: nothing here computes line of sight, except the last test.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from gui import edits
from gui.model import Session
from gui.state import ViewState
from simulator.cache import EnvelopeCache
from simulator.scenario import bundled_scenario, load_scenario

KURILS_2020 = bundled_scenario("kurils-2020")


def figures(lat_deg, lon_deg, antenna_height_m=30.0):
    return SimpleNamespace(lat_deg=lat_deg, lon_deg=lon_deg, antenna_height_m=antenna_height_m)


@pytest.fixture
def session():
    """The Kuril 2020 units with stand-in envelopes (their figures only)."""
    scenario = load_scenario(KURILS_2020)
    envelopes = {u.id: SimpleNamespace(figures=figures(u.lat_deg, u.lon_deg)) for u in scenario.units}
    return Session(scenario=scenario, coverage=SimpleNamespace(envelopes=envelopes), catalog=None)


def test_only_fields_that_differ_from_the_file_are_edits(session):
    tor = session.coverage.envelopes["iturup-tor-m2"].figures
    moved = edits.edit_unit(session, {}, "iturup-tor-m2", lat_deg=tor.lat_deg + 0.1, lon_deg=tor.lon_deg, antenna_height_m=30.0)
    assert moved == {"iturup-tor-m2": {"lat_deg": tor.lat_deg + 0.1}}
    # merged with what the unit had; other units untouched
    both = edits.edit_unit(session, {**moved, "kunashir-s300v4": {"antenna_height_m": 40.0}}, "iturup-tor-m2", antenna_height_m=12)
    assert both == {"iturup-tor-m2": {"lat_deg": tor.lat_deg + 0.1, "antenna_height_m": 12.0},
                    "kunashir-s300v4": {"antenna_height_m": 40.0}}
    # back to the file's values: no longer edited
    assert edits.edit_unit(session, both, "iturup-tor-m2", lat_deg=tor.lat_deg, antenna_height_m=30.0) == {
        "kunashir-s300v4": {"antenna_height_m": 40.0}}
    # what the state accepts
    state = ViewState(edits=both)
    assert dict(state.edits["iturup-tor-m2"]) == both["iturup-tor-m2"]


def test_unsaved_edits_are_those_not_saved():
    book = edits.EditBook()
    assert not book.unsaved({})
    state = ViewState(edits={"iturup-tor-m2": {"antenna_height_m": 40.0}})
    assert book.unsaved(state.edits)
    book.mark_saved(state.edits)
    assert not book.unsaved(state.edits)
    state.set_edit("iturup-tor-m2", antenna_height_m=41.0)
    assert book.unsaved(state.edits)
    book.reset()  # another scenario opened: nothing saved for it
    assert book.saved == {} and book.unsaved(state.edits)


def test_builds_are_started_once_and_a_failure_goes_back_to_the_last_built_edit(session):
    book = edits.EditBook()
    state = ViewState(edits={"iturup-tor-m2": {"antenna_height_m": 40.0}})
    (uid, fields, key), = book.to_build(session, state)
    assert (uid, fields) == ("iturup-tor-m2", {"antenna_height_m": 40.0})
    book.started(key, "task")
    assert book.to_build(session, state) == []  # being built: not started twice
    book.finished(key)
    session.store_edited_envelope(uid, fields, SimpleNamespace(figures=figures(45.0, 147.6, 40.0)))
    book.built(uid, fields)
    assert book.to_build(session, state) == [] and not session.pending_edits(state)

    state.set_edit("iturup-tor-m2", lat_deg=47.5, lon_deg=156.5)  # off the terrain: its build will fail
    (_, fields, key), = book.to_build(session, state)
    book.started(key, "task")
    book.finished(key)
    restored = book.restored(state.edits, "iturup-tor-m2")
    assert restored == {"iturup-tor-m2": {"antenna_height_m": 40.0}}
    state.set(edits=restored)
    # a unit never built goes back to the file's values
    state.set_edit("kunashir-s300v4", antenna_height_m=5.0)
    assert book.restored(state.edits, "kunashir-s300v4") == {"iturup-tor-m2": {"antenna_height_m": 40.0}}


def test_the_profile_starts_from_the_given_selected_or_first_active_unit(session):
    state = ViewState(**session.default_state())
    first_active = session.active_ids(state)[0]
    assert edits.profile_unit(session, state) == first_active
    state.set(selected_unit="kunashir-s300v4")
    assert edits.profile_unit(session, state) == "kunashir-s300v4"
    assert edits.profile_unit(session, state, "iturup-tor-m2") == "iturup-tor-m2"
    state.set(selected_unit="no-such-unit")
    assert edits.profile_unit(session, state) == first_active


def test_a_profile_is_stale_when_its_units_envelope_changes(session):
    file = session.coverage.envelopes["iturup-tor-m2"].figures
    request = edits.ProfileRequest(44.6, 145.3, "iturup-tor-m2", file)
    state = ViewState()
    assert not request.is_stale(session, state.edits)
    state.set_edit("iturup-tor-m2", antenna_height_m=100.0)
    assert not request.is_stale(session, state.edits)  # still being built: the file's envelope is shown
    session.store_edited_envelope("iturup-tor-m2", state.edits["iturup-tor-m2"],
                                  SimpleNamespace(figures=figures(file.lat_deg, file.lon_deg, 100.0)))
    assert request.is_stale(session, state.edits)  # built: drawn again
    state.clear_edit("iturup-tor-m2")
    assert not request.is_stale(session, state.edits)  # back to the file's values
    assert not edits.ProfileRequest(44.6, 145.3, "gone", file).is_stale(session, state.edits)
    assert not request.is_stale(None, state.edits)


def test_sea_warning_names_the_unit_and_its_site():
    on_sea = SimpleNamespace(los=SimpleNamespace(site_terrain_m=0.0), figures=figures(44.8, 148.6))
    text = edits.sea_warning("iturup-tor-m2", on_sea)
    assert "iturup-tor-m2 now stands on the sea" in text and "44.8000°N 148.6000°E" in text
    on_land = SimpleNamespace(los=SimpleNamespace(site_terrain_m=12.0), figures=figures(45.0, 147.6))
    assert edits.sea_warning("iturup-tor-m2", on_land) == ""


@pytest.mark.slow
def test_line_of_sight_is_the_profile_api_for_the_unit_as_edited():
    from gui.model import load_session
    from simulator.profile import line_of_sight_profile

    session = load_session(KURILS_2020, cache=EnvelopeCache())
    state = ViewState(**{**session.default_state(), "selected_unit": "kunashir-s300v4"})
    profile, request = edits.line_of_sight(session, state, 44.6, 145.3)
    env = session.coverage.envelopes["kunashir-s300v4"]
    expected = line_of_sight_profile(session.coverage, env.figures, session.scenario.k_factor, 44.6, 145.3)
    assert profile.target_floor_msl_m == expected.target_floor_msl_m
    assert request == edits.ProfileRequest(44.6, 145.3, "kunashir-s300v4", env.figures)
    assert not request.is_stale(session, state.edits)


def test_the_qt_free_gui_modules_load_no_qt():
    code = ("import sys, gui.edits, gui.jobs, gui.map_content, gui.model, gui.state; "
            "print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"

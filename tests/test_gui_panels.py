"""Each GUI panel on its own (pytest-qt, offscreen): bound to a ViewState, no main window.

A panel follows the state (change the state, assert its widgets) and writes through it
(drive a widget, assert the state) -- or through the one callback the window gives it (the
units panel's Apply). Panels read the session through a callable; some tests hand them a
stand-in with only what that panel reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6 import QtCore

import gui.main_window  # noqa: F401 - pyqtgraph's image axis order and the PySide6 workaround, as in the app
from gui import map_content, model
from gui.panels import QueryPanel, StatsPanel, TimelinePanel, UnitsPanel, altitude_to_slider, slider_to_altitude
from gui.panels.map import MapPanel
from gui.state import ViewState
from simulator.cache import EnvelopeCache
from simulator.scenario import bundled_scenario

KURILS_2020 = bundled_scenario("kurils-2020")
CHECKED, UNCHECKED = QtCore.Qt.CheckState.Checked, QtCore.Qt.CheckState.Unchecked


@pytest.fixture(scope="module")
def kurils():
    """The Kuril 2020 session as the window loads it (envelopes of every unit)."""
    return model.load_session(KURILS_2020, cache=EnvelopeCache())


def changes_of(state: ViewState) -> list:
    seen = []
    state.add_callback(lambda changes: seen.append(dict(changes)))
    return seen


def test_query_panel_follows_and_writes_the_state(qtbot):
    state = ViewState()
    session = {"now": None}
    panel = QueryPanel(state, lambda: session["now"])
    qtbot.addWidget(panel)
    panel.sync()
    assert panel.altitude_slider.value() == altitude_to_slider(1000.0) and panel.ref_msl.isChecked()

    # the state drives the widgets
    state.set(altitude_m=3000.0, altitude_ref="agl", layer="detection", view="depth", show_rings=False)
    assert panel.altitude_slider.value() == altitude_to_slider(3000.0)
    assert panel.altitude_spin.value() == 3000.0 and panel.ref_agl.isChecked()
    assert (panel.layer_combo.currentData(), panel.view_combo.currentData()) == ("detection", "depth")
    assert not panel.rings_check.isChecked()

    # the widgets write the state
    panel.altitude_slider.setValue(altitude_to_slider(100.0))
    assert state.altitude_m == slider_to_altitude(altitude_to_slider(100.0)) == 100.0
    panel.altitude_spin.setValue(1234.0)
    assert state.altitude_m == 1234.0 and panel.altitude_slider.value() == altitude_to_slider(1234.0)
    panel.ref_msl.click()
    panel.layer_combo.setCurrentIndex(panel.layer_combo.findData("engagement"))
    panel.view_combo.setCurrentIndex(panel.view_combo.findData("sole"))
    panel.rings_check.setChecked(True)
    assert (state.altitude_ref, state.layer, state.view, state.show_rings) == ("msl", "engagement", "sole", True)

    # "current vs comparison" only with a comparison scenario in the session
    assert not panel.against_combo.model().item(0).isEnabled()
    assert panel.against_combo.currentData() == "loaded"
    session["now"] = SimpleNamespace(comparison=SimpleNamespace(name="kurils-2023"))
    state.set(comparison_path="kurils-2023.yaml", difference_against="comparison")
    assert panel.against_combo.model().item(0).isEnabled()
    assert panel.against_combo.currentData() == "comparison" and panel.against_combo.itemText(0) == "current vs kurils-2023"
    panel.against_combo.setCurrentIndex(panel.against_combo.findData("loaded"))
    assert state.difference_against == "loaded"


def test_timeline_panel_follows_and_writes_the_state(qtbot):
    start, end = dt.date(2019, 12, 1), dt.date(2024, 8, 31)
    dated = SimpleNamespace(timeline_bounds=lambda: (start, end),
                            event_dates=lambda: [dt.date(2020, 12, 1), dt.date(2023, 8, 31)])
    session = {"now": None}
    state = ViewState()
    panel = TimelinePanel(state, lambda: session["now"])
    qtbot.addWidget(panel)
    panel.setup()
    panel.sync()
    assert not panel.as_of_check.isEnabled() and panel.as_of_label.text() == "no dates in this scenario"
    assert panel.events_label.text() == "no unit has dates"

    session["now"] = dated
    state.set(as_of=dt.date(2022, 1, 1))  # not set up for this session yet: the widgets wait
    assert not panel.as_of_check.isChecked()
    panel.setup()
    panel.sync()
    assert panel.as_of_check.isEnabled() and panel.as_of_check.isChecked()
    assert panel.as_of_slider.value() == (dt.date(2022, 1, 1) - start).days and panel.as_of_label.text() == "2022-01-01"
    assert panel.events_label.text() == "unit dates: 2020-12-01, 2023-08-31"

    state.set(as_of=dt.date(2023, 9, 15))  # the state drives the widgets
    assert panel.as_of_slider.value() == (dt.date(2023, 9, 15) - start).days and panel.as_of_label.text() == "2023-09-15"

    panel.as_of_slider.setValue(panel.as_of_slider.value() + 10)  # the widgets write the state
    assert state.as_of == dt.date(2023, 9, 25)
    panel.as_of_check.setChecked(False)
    assert state.as_of is None
    panel.as_of_slider.setValue(0)  # unchecked: the slider only picks the day
    assert state.as_of is None and panel.as_of_label.text() == start.isoformat()
    panel.as_of_check.setChecked(True)
    assert state.as_of == start


@pytest.mark.slow
def test_units_panel_follows_and_writes_the_state(qtbot, kurils):
    state = ViewState(**kurils.default_state())
    applied = []
    panel = UnitsPanel(state, lambda: kurils, apply_edit=lambda uid, **fields: applied.append((uid, fields)))
    qtbot.addWidget(panel)
    panel.populate()
    panel.sync()
    assert set(panel.unit_items) == set(kurils.unit_ids)
    assert all(item.checkState(0) == CHECKED for item in panel.unit_items.values())
    assert not panel.edit_box.isEnabled()

    # the state drives the widgets
    state.set(withdrawn={"kunashir-s300v4"}, selected_unit="iturup-tor-m2")
    assert panel.unit_items["kunashir-s300v4"].checkState(0) == UNCHECKED
    assert panel.unit_items["kunashir-s300v4"].parent().checkState(0) == QtCore.Qt.CheckState.PartiallyChecked
    assert panel.units.currentItem() is panel.unit_items["iturup-tor-m2"]
    tor = kurils.coverage.envelopes["iturup-tor-m2"].figures
    assert "iturup-tor-m2" in panel.details.toPlainText()
    assert panel.edit_box.isEnabled() and not panel.edit_reset.isEnabled()
    assert panel.edit_lat.value() == pytest.approx(tor.lat_deg, abs=1e-4)
    state.set_edit("iturup-tor-m2", antenna_height_m=40.0)
    assert panel.unit_items["iturup-tor-m2"].text(0) == "iturup-tor-m2 (edited)"
    assert panel.edit_antenna.value() == 40.0 and panel.edit_reset.isEnabled()
    state.set(as_of=dt.date(2023, 9, 15))
    assert "not active on 2023-09-15" in panel.unit_items["iturup-s300v4"].text(0)

    # the widgets write the state
    panel.unit_items["kunashir-s300v4"].setCheckState(0, CHECKED)
    assert state.withdrawn == frozenset()
    panel.unit_items["iturup-s300v4"].setCheckState(0, UNCHECKED)
    assert state.withdrawn == {"iturup-s300v4"}
    panel.units.setCurrentItem(panel.unit_items["kunashir-s300v4"])
    assert state.selected_unit == "kunashir-s300v4"
    panel.edit_antenna.setValue(12.0)
    panel.edit_apply.click()  # Apply goes through the window's callback
    (uid, fields), = applied
    assert uid == "kunashir-s300v4" and fields["antenna_height_m"] == 12.0
    assert set(fields) == {"lat_deg", "lon_deg", "antenna_height_m"}
    state.set(selected_unit="iturup-tor-m2")
    panel.edit_reset.click()  # "File values": the edit is dropped
    assert "iturup-tor-m2" not in state.edits
    panel.set_warning("on the sea")
    assert panel.edit_warning.text() == "on the sea"


@pytest.mark.slow
def test_stats_panel_shows_the_states_areas_and_curves(qtbot, kurils):
    state = ViewState(**kurils.default_state())
    panel = StatsPanel(state, lambda: kurils)
    qtbot.addWidget(panel)
    seen = changes_of(state)

    def shown():
        stats = model.stats_for(kurils, state)
        panel.show_stats(stats)
        panel.flush()  # the curve's quiet time
        return stats

    stats = shown()
    assert f"{stats.current_km2:,.0f} km²" in panel.stats_label.text()
    np.testing.assert_array_equal(panel.area_curves["current"], model.area_curve(kurils.current_coverage(state), "engagement", "msl"))
    assert "(MSL), engagement" in panel.area_plot.getAxis("bottom").labelText

    # it reads the state: layer, reference, units and altitude
    state.set(layer="detection", altitude_ref="agl", withdrawn={"kunashir-s300v4"}, altitude_m=3000.0)
    stats = shown()
    assert stats.current_km2 < stats.loaded_km2
    assert f"{stats.current_km2:,.0f} km²" in panel.stats_label.text()
    np.testing.assert_array_equal(panel.area_curves["current"], model.area_curve(kurils.current_coverage(state), "detection", "agl"))
    np.testing.assert_array_equal(panel.area_curves["loaded"], model.area_curve(kurils.loaded_coverage(), "detection", "agl"))
    assert "(AGL), detection" in panel.area_plot.getAxis("bottom").labelText
    assert panel.altitude_line.value() == pytest.approx(math.log10(3000.0))
    assert len(seen) == 1  # the test's own change: the panel writes nothing


@pytest.mark.slow
def test_map_panel_follows_the_selection_and_writes_it(qtbot, kurils):
    state = ViewState(**kurils.default_state())
    panel = MapPanel(state, lambda: kurils)
    qtbot.addWidget(panel)
    grid = kurils.coverage.grid
    panel.map.set_grid(grid, model.terrain_rgb(grid.elevation_m, grid.cell_size_m), model.coastline(grid.elevation_m))
    overlay = model.overlay_for(kurils, state)
    panel.show_overlay(overlay, ["iturup-tor-m2"])
    assert panel.map_title.text() == overlay.title + " — recomputing iturup-tor-m2…"
    assert panel.legend.text() == map_content.legend_html(kurils, state, overlay)
    np.testing.assert_array_equal(panel.map.overlay.image, overlay.index)
    assert set(panel.map.markers) == set(kurils.unit_ids)

    state.set(selected_unit="iturup-tor-m2")  # only the selection: the panel moves the markers itself
    assert panel.map.markers["iturup-tor-m2"].pen.widthF() == 3.0
    assert panel.map.markers["kunashir-s300v4"].pen.widthF() == 1.6
    panel.map.unit_clicked.emit("kunashir-s300v4")  # what a click on a marker emits
    assert state.selected_unit == "kunashir-s300v4"
    assert panel.map.markers["kunashir-s300v4"].pen.widthF() == 3.0


# ------------------------------------------------------------------ panels that draw from the state by themselves


def terrain_shown(panel: MapPanel, session) -> MapPanel:
    """The panel showing the session's terrain, as the window shows a newly opened scenario."""
    grid = session.coverage.grid
    panel.show_terrain(session, model.terrain_rgb(grid.elevation_m, grid.cell_size_m), model.coastline(grid.elevation_m))
    return panel


@pytest.mark.slow
def test_map_panel_redraws_the_overlay_when_the_state_changes(qtbot, kurils):
    state = ViewState(**kurils.default_state())
    moved = []
    panel = terrain_shown(MapPanel(state, lambda: kurils, apply_edit=lambda uid, **fields: moved.append((uid, fields))), kurils)
    qtbot.addWidget(panel)
    assert not panel.map.overlay.image.any() and panel.current_overlay is None

    # the state drives the map, no window asks: a view or layer change redraws at once
    state.set(view="depth", layer="detection")
    overlay = model.overlay_for(kurils, state)
    np.testing.assert_array_equal(panel.map.overlay.image, overlay.index)
    assert panel.map_title.text() == overlay.title == panel.current_overlay.title
    assert panel.legend.text() == map_content.legend_html(kurils, state, overlay)
    assert set(panel.map.markers) == set(kurils.unit_ids) and panel.map.rings
    state.set(show_rings=False)
    assert not panel.map.rings

    # the altitude slider's moves wait for a quiet time, then redraw by themselves
    before = panel.map.overlay.image.copy()
    state.set(altitude_m=100.0)
    expected = model.overlay_for(kurils, state).index
    assert not np.array_equal(before, expected)
    np.testing.assert_array_equal(panel.map.overlay.image, before)
    qtbot.waitUntil(lambda: not panel.redraw.pending, timeout=5000)
    np.testing.assert_array_equal(panel.map.overlay.image, expected)
    assert "100 m" in panel.map_title.text()

    # a dragged marker writes the selection, and its move through the window's callback
    panel.map.unit_moved.emit("iturup-tor-m2", 147.6234567, 45.0412345)
    assert state.selected_unit == "iturup-tor-m2"
    assert moved == [("iturup-tor-m2", {"lat_deg": 45.04123, "lon_deg": 147.62346})]


@pytest.mark.slow
def test_stats_panel_recomputes_when_the_state_changes(qtbot, kurils):
    state = ViewState(**kurils.default_state())
    panel = StatsPanel(state, lambda: kurils)
    qtbot.addWidget(panel)
    assert panel.current_stats is None and panel.stats_label.text() == ""

    # the state drives the numbers, no window asks
    state.set(withdrawn={"kunashir-s300v4"}, layer="detection")
    stats = model.stats_for(kurils, state)
    assert panel.current_stats == stats and stats.current_km2 < stats.loaded_km2
    assert f"{stats.current_km2:,.0f} km²" in panel.stats_label.text()
    qtbot.waitUntil(lambda: "current" in panel.area_curves, timeout=5000)  # the curve, after its own quiet time
    np.testing.assert_array_equal(panel.area_curves["current"], model.area_curve(kurils.current_coverage(state), "detection", "msl"))

    # the altitude waits for the slider's quiet time; flush draws it now
    state.set(altitude_m=3000.0)
    assert panel.redraw.pending and panel.current_stats == stats
    panel.flush()
    assert panel.current_stats == model.stats_for(kurils, state) != stats
    assert panel.altitude_line.value() == pytest.approx(math.log10(3000.0))

    # a new selection alone changes no number
    shown = panel.current_stats
    state.set(selected_unit="iturup-tor-m2")
    assert panel.current_stats is shown and not panel.redraw.pending


@pytest.mark.slow
def test_profile_panel_draws_a_click_and_follows_its_units_edits(qtbot, kurils):
    from PySide6 import QtWidgets

    from gui.panels.profile import HINT, ProfilePanel

    uid, fields = "iturup-tor-m2", {"antenna_height_m": 45.0}
    # a stand-in for the edited envelope the window would build: the file's, with the new antenna
    env = kurils.coverage.envelopes[uid]
    edited = dataclasses.replace(env, figures=dataclasses.replace(env.figures, **fields))
    kept = dict(kurils.edited)
    kurils.store_edited_envelope(uid, fields, edited)
    try:
        state = ViewState(**kurils.default_state())
        state.set(selected_unit=uid)
        window = QtWidgets.QMainWindow()
        qtbot.addWidget(window)
        map_panel = terrain_shown(MapPanel(state, lambda: kurils), kurils)
        window.setCentralWidget(map_panel)
        panel = ProfilePanel(window, state, lambda: kurils, map_panel.map)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, panel)

        # a click on the map draws the line of sight from the selected unit to that point
        lat, lon = env.figures.lat_deg + 0.05, env.figures.lon_deg + 0.05
        map_panel.map.map_clicked.emit(0, 0, lon, lat)  # what a click there emits (map x, y: lon, lat)
        first = panel.view.profile
        assert first.unit_id == uid and first.antenna_height_m == env.figures.antenna_height_m
        assert panel.request.figures == env.figures
        line = map_panel.map.profile_line.getData()
        assert line[0][0] == pytest.approx(first.site_lon_deg) and line[0][1] == pytest.approx(lon, abs=1e-6)

        # the state drives it: the unit edited (its envelope built) ...
        state.set_edit(uid, **fields)
        assert panel.view.profile is not first and panel.view.profile.antenna_height_m == 45.0
        assert panel.request.figures == edited.figures
        # ... and back to the file's values
        state.clear_edit(uid)
        assert panel.view.profile.antenna_height_m == env.figures.antenna_height_m
        # other changes leave it alone
        shown = panel.view.profile
        state.set(altitude_m=3000.0, layer="detection", selected_unit="kunashir-s300v4")
        assert panel.view.profile is shown

        panel.clear()  # a newly opened scenario
        assert panel.view.profile is None and panel.view.title.text() == HINT and panel.request is None
    finally:
        kurils.edited.clear()
        kurils.edited.update(kept)


def test_file_menu_follows_the_state_and_calls_the_window(qtbot):
    from PySide6 import QtGui

    from gui.panels.file_menu import FileMenu

    calls = []
    names = ("open_scenario", "open_comparison", "clear_comparison", "save_scenario_as", "export_map_png",
             "export_view_png", "export_geojson", "export_kml", "close")
    commands = SimpleNamespace(**{name: (lambda name=name: calls.append(name)) for name in names})
    state = ViewState()
    menu = FileMenu(state, commands)
    qtbot.addWidget(menu)
    needs_scenario = menu.scenario_actions()
    assert menu.act_open.isEnabled() and menu.recent_menu.isEnabled()
    assert not any(act.isEnabled() for act in needs_scenario) and not menu.act_clear_compare.isEnabled()
    assert menu.act_open.shortcut() == QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Open)
    assert menu.act_save.shortcut() == QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.SaveAs)

    # the state drives the actions: a scenario open, then a comparison, then none
    state.set(scenario_path="kurils-2020.yaml")
    assert all(act.isEnabled() for act in needs_scenario) and not menu.act_clear_compare.isEnabled()
    state.set(comparison_path="kurils-2023.yaml")
    assert menu.act_clear_compare.isEnabled()
    state.set(comparison_path=None)
    assert not menu.act_clear_compare.isEnabled()

    # each action calls the window's method of its name
    for act in (menu.act_open, menu.act_compare, menu.act_save, menu.act_export_map, menu.act_export_view,
                menu.act_export_geojson, menu.act_export_kml):
        act.trigger()
    menu.actions()[-1].trigger()  # Quit
    assert calls == ["open_scenario", "open_comparison", "save_scenario_as", "export_map_png", "export_view_png",
                     "export_geojson", "export_kml", "close"]

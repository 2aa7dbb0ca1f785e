"""The desktop GUI, headless (pytest-qt, QT_QPA_PLATFORM=offscreen from conftest.py).

Every number the window shows is checked against the simulator API called directly, the way
a script would (design.md: "everything it shows, a script can compute with the same calls").
Qt warnings fail these tests (pyproject: qt_log_level_fail = WARNING). No modal loop runs:
error dialogs are opened with ``open()`` and closed here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from gui import app as gui_app
from gui.main_window import MainWindow, altitude_to_slider, slider_to_altitude
from simulator.cache import EnvelopeCache
from simulator.compare import compare_coverages
from simulator.coverage import build_coverage, build_unit_envelope, plan_range_m_for
from simulator.profile import line_of_sight_profile
from simulator.scenario import bundled_scenario, bundled_scenarios_dir, load_scenario

KURILS_2020 = bundled_scenario("kurils-2020")
KURILS_2023 = bundled_scenario("kurils-2023")
BAD = Path(__file__).parent / "data" / "bad_scenarios" / "lat_out_of_range.yaml"
#: Background loads with cached envelopes take about a second; allow for a cold cache. [ms]
LOAD_MS = 120_000


@pytest.fixture(scope="module")
def api_2020():
    """The Kuril 2020 coverage as a script computes it (same as `adcov run`)."""
    scenario = load_scenario(KURILS_2020)
    return build_coverage(scenario.active_as_of(scenario.as_of), cache=EnvelopeCache())


@pytest.fixture
def make_window(qtbot, tmp_path):
    def make(scenario=KURILS_2020, comparison=None):
        settings = QtCore.QSettings(str(tmp_path / "gui.ini"), QtCore.QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.confirm_close = False  # tests end with edits; test_quit_with_unsaved_edits_asks covers the question
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        qtbot.waitExposed(window)
        window.open_scenario(scenario, comparison=comparison)
        qtbot.waitUntil(
            lambda: window.is_ready() and (comparison is None or window.session.comparison is not None),
            timeout=LOAD_MS,
        )
        return window

    return make


def covered_image(window) -> np.ndarray:
    window.flush()
    return window.map.overlay.image.copy()


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(bundled_scenarios_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_starts_on_each_bundled_scenario_and_quits(make_window, qtbot, path):
    window = make_window(path)
    scenario = load_scenario(path)
    assert window.session.scenario.name == scenario.name
    assert window.map.overlay.image.shape == window.session.coverage.grid.shape
    assert set(window.unit_items) == {u.id for u in scenario.units}
    assert window.state.as_of == scenario.as_of
    window.close()
    assert not window.runner.busy


@pytest.mark.slow
@pytest.mark.parametrize("unit_id", ["kunashir-s300v4", "iturup-tor-m2"])
def test_unchecking_a_unit_matches_the_api(make_window, api_2020, qtbot, unit_id):
    window = make_window()
    state = window.state
    state.set(altitude_m=300.0)  # low enough that the Tor-M2 alone covers some cells
    layer, alt, ref = state.layer, state.altitude_m, state.altitude_ref
    before = covered_image(window)
    np.testing.assert_array_equal(before, api_2020.covered(layer, alt, ref).astype(np.uint8))
    assert window.current_stats.current_km2 == api_2020.covered_km2(layer, alt, ref)

    item = window.unit_items[unit_id]
    item.setCheckState(0, QtCore.Qt.CheckState.Unchecked)  # the user unticks the box
    assert state.withdrawn == {unit_id}
    after = covered_image(window)
    expected = api_2020.without([unit_id])
    np.testing.assert_array_equal(after, expected.covered(layer, alt, ref).astype(np.uint8))
    assert not np.array_equal(before, after)
    assert window.current_stats.current_km2 == expected.covered_km2(layer, alt, ref)
    assert f"{expected.covered_km2(layer, alt, ref):,.0f} km²" in window.stats_label.text()
    assert window.current_stats.loaded_km2 == api_2020.covered_km2(layer, alt, ref)

    item.setCheckState(0, QtCore.Qt.CheckState.Checked)  # and restores it
    assert state.withdrawn == frozenset()
    np.testing.assert_array_equal(covered_image(window), before)


@pytest.mark.slow
def test_altitude_slider_changes_the_overlay(make_window, api_2020, qtbot):
    window = make_window()
    before = covered_image(window)
    slider = window.altitude_slider
    slider.setFocus()
    with qtbot.waitSignal(slider.valueChanged, timeout=2000):
        qtbot.keyClick(slider, QtCore.Qt.Key.Key_End)  # 30 km
    assert window.state.altitude_m == pytest.approx(30_000.0)
    # the redraw is debounced: it comes by itself shortly after the last move
    qtbot.waitUntil(lambda: not np.array_equal(window.map.overlay.image, before), timeout=5000)
    expected = api_2020.covered(window.state.layer, 30_000.0, window.state.altitude_ref).astype(np.uint8)
    np.testing.assert_array_equal(window.map.overlay.image, expected)
    assert window.altitude_spin.text() == "30,000 m"
    # log scale: positions map to round altitudes and back
    assert slider_to_altitude(altitude_to_slider(1000.0)) == 1000.0
    assert slider_to_altitude(0) == 10.0


@pytest.mark.slow
def test_switches_follow_the_state_and_the_api(make_window, api_2020, qtbot):
    window = make_window()
    window.ref_agl.click()
    window.layer_combo.setCurrentIndex(window.layer_combo.findData("detection"))
    assert (window.state.altitude_ref, window.state.layer) == ("agl", "detection")
    expected = api_2020.depth("detection", window.state.altitude_m, "agl")
    window.view_combo.setCurrentIndex(window.view_combo.findData("depth"))
    np.testing.assert_array_equal(covered_image(window), np.minimum(expected, 6).astype(np.uint8))
    window.state.set(view="sole")  # the model drives the widgets too
    assert window.view_combo.currentData() == "sole"
    sole = api_2020.sole_coverage("detection", window.state.altitude_m, "agl")
    image = covered_image(window)
    for i, uid in enumerate(api_2020.unit_ids):
        assert np.all(image[sole == i] == 2 + window.session.unit_index(uid))


@pytest.mark.slow
def test_difference_view_shows_the_lost_cells_of_the_comparison_api(make_window, api_2020, qtbot):
    window = make_window(comparison=KURILS_2023)
    window.view_combo.setCurrentIndex(window.view_combo.findData("difference"))
    assert window.state.difference_against == "comparison"
    s = window.state
    variant = load_scenario(KURILS_2023)
    variant_cov = build_coverage(variant.active_as_of(variant.as_of), cache=EnvelopeCache())
    change = compare_coverages(api_2020, variant_cov, altitudes_m=[s.altitude_m], altitude_ref=s.altitude_ref,
                               layers=[s.layer]).change(s.layer, s.altitude_m)
    image = covered_image(window)
    assert change.lost_cells.any()
    np.testing.assert_array_equal(image == 1, change.lost_cells)
    np.testing.assert_array_equal(image == 2, change.kept_cells)
    np.testing.assert_array_equal(image == 3, change.gained_cells)
    assert f"lost: {change.lost_km2:,.0f} km²" in window.legend.text().replace("&nbsp;", " ")

    # against the scenario as loaded: what withdrawing a unit by hand costs
    window.against_combo.setCurrentIndex(window.against_combo.findData("loaded"))
    window.unit_items["iturup-s300v4"].setCheckState(0, QtCore.Qt.CheckState.Unchecked)
    change = compare_coverages(api_2020, api_2020.without(["iturup-s300v4"]), altitudes_m=[s.altitude_m],
                               altitude_ref=s.altitude_ref, layers=[s.layer]).change(s.layer, s.altitude_m)
    image = covered_image(window)
    np.testing.assert_array_equal(image == 1, change.lost_cells)
    assert not (image == 3).any()


@pytest.mark.slow
def test_a_malformed_scenario_opens_an_error_dialog_and_keeps_the_last_one(make_window, qtbot):
    window = make_window()
    before = covered_image(window)
    window.open_scenario(BAD)
    qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=LOAD_MS)
    box = window.last_error_dialog
    assert isinstance(box, QtWidgets.QMessageBox) and box.isVisible()
    text = box.text() + box.detailedText()
    assert "lat_out_of_range.yaml:11" in text and "units[1].lat" in text
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=LOAD_MS)
    box.close()  # the test closes it: no modal loop ever ran
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=2000)
    assert window.session.scenario.name == "kurils-2020"
    assert window.state.scenario_path == KURILS_2020
    np.testing.assert_array_equal(covered_image(window), before)


@pytest.mark.slow
def test_moving_a_unit_recomputes_only_its_envelope(make_window, api_2020, qtbot):
    window = make_window()
    session = window.session
    others = {uid: session.coverage.envelopes[uid] for uid in session.unit_ids if uid != "iturup-tor-m2"}
    window.state.set(selected_unit="iturup-tor-m2")
    window.edit_lat.setValue(44.95)
    window.edit_lon.setValue(147.55)
    window.edit_antenna.setValue(12.0)
    window.edit_apply.click()
    assert dict(window.state.edits["iturup-tor-m2"]) == {"lat_deg": 44.95, "lon_deg": 147.55, "antenna_height_m": 12.0}
    qtbot.waitUntil(lambda: not window.runner.busy and not session.pending_edits(window.state), timeout=LOAD_MS)
    moved = dataclasses.replace(api_2020.envelopes["iturup-tor-m2"].figures, lat_deg=44.95, lon_deg=147.55,
                                antenna_height_m=12.0, antenna_height_origin="unit")
    tor = session.unit("iturup-tor-m2")
    plan_m = plan_range_m_for(tor, session.catalog.get(tor.system_id), session.scenario.default_antenna_height_m)
    env = build_unit_envelope(api_2020.grid, moved, api_2020.k_factor, cache=EnvelopeCache(), plan_range_m=plan_m)
    expected = dataclasses.replace(api_2020, envelopes={**api_2020.envelopes, "iturup-tor-m2": env})
    s = window.state
    np.testing.assert_array_equal(covered_image(window), expected.covered(s.layer, s.altitude_m, s.altitude_ref).astype(np.uint8))
    assert window.current_stats.current_km2 == expected.covered_km2(s.layer, s.altitude_m, s.altitude_ref)
    current = session.current_coverage(s)
    for uid, env_before in others.items():
        assert current.envelopes[uid] is env_before  # untouched
    marker = window.map.markers["iturup-tor-m2"]
    assert (marker.pos().x(), marker.pos().y()) == pytest.approx((147.55, 44.95))

    # moved off the terrain: an error dialog, and the last good position stays
    window.edit_unit("iturup-tor-m2", lat_deg=47.49, lon_deg=156.5)  # east of the bundled tiles (139-154 E)
    qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=LOAD_MS)
    window.last_error_dialog.close()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=LOAD_MS)
    assert dict(window.state.edits["iturup-tor-m2"]) == {"lat_deg": 44.95, "lon_deg": 147.55, "antenna_height_m": 12.0}


@pytest.mark.slow
def test_dragging_a_marker_moves_the_unit(make_window, qtbot):
    window = make_window()
    marker = window.map.markers["iturup-tor-m2"]
    marker.setPos((147.7, 45.1))
    marker.sigPositionChangeFinished.emit(marker)  # what the end of a mouse drag emits
    fields = dict(window.state.edits["iturup-tor-m2"])
    assert fields["lat_deg"] == pytest.approx(45.1, abs=1e-4) and fields["lon_deg"] == pytest.approx(147.7, abs=1e-4)
    qtbot.waitUntil(lambda: not window.runner.busy and not window.session.pending_edits(window.state), timeout=LOAD_MS)
    assert window.state.selected_unit == "iturup-tor-m2"


@pytest.mark.slow
def test_timeline_uses_the_units_dates(make_window, qtbot):
    window = make_window()
    window.state.set(as_of=dt.date(2023, 9, 15))
    window.flush()
    assert window.session.active_ids(window.state) == ["iturup-tor-m2"]
    scenario = load_scenario(KURILS_2020).active_as_of(dt.date(2023, 9, 15))
    api = build_coverage(scenario, cache=EnvelopeCache())
    s = window.state
    assert window.current_stats.current_km2 == api.covered_km2(s.layer, s.altitude_m, s.altitude_ref)
    assert "not active on 2023-09-15" in window.unit_items["iturup-s300v4"].text(0)
    window.as_of_check.setChecked(False)
    assert window.state.as_of is None


@pytest.mark.slow
def test_profile_from_the_selected_unit(make_window, qtbot):
    window = make_window()
    window.state.set(selected_unit="kunashir-s300v4")
    profile = window.show_profile(44.6, 145.3)
    assert window.profile_dock.isVisible()
    env = window.session.coverage.envelopes["kunashir-s300v4"]
    expected = line_of_sight_profile(window.session.coverage, env.figures, window.session.scenario.k_factor, 44.6, 145.3)
    assert profile.target_floor_msl_m == expected.target_floor_msl_m
    assert profile.envelope_floor_msl_m == expected.envelope_floor_msl_m
    assert "kunashir-s300v4" in window.profile_view.title.text()


@pytest.mark.slow
def test_save_scenario_as_reruns_headless(make_window, qtbot, tmp_path, capsys):
    from simulator.cli import main as adcov

    window = make_window()
    window.unit_items["iturup-s300v4"].setCheckState(0, QtCore.Qt.CheckState.Unchecked)
    window.edit_unit("iturup-tor-m2", antenna_height_m=15.0)
    qtbot.waitUntil(lambda: not window.runner.busy and not window.session.pending_edits(window.state), timeout=LOAD_MS)
    path = tmp_path / "session.yaml"
    saved = window.save_scenario_as(path)
    assert saved is not None and path.exists()
    reloaded = load_scenario(path)
    active = reloaded.active_as_of(reloaded.as_of)
    assert [u.id for u in active.units] == window.session.active_ids(window.state)
    assert active.unit("iturup-tor-m2").antenna_height_m == 15.0
    assert adcov(["run", str(path), "--json", "--altitudes-m", str(window.state.altitude_m), "--layers", window.state.layer]) == 0
    result = json.loads(capsys.readouterr().out)
    row = result["layers"][window.state.layer][0]
    assert row["covered_km2"] == pytest.approx(window.current_stats.current_km2, rel=1e-12)


@pytest.mark.slow
def test_exports(make_window, qtbot, tmp_path):
    window = make_window()
    view = window.export_view_png(tmp_path / "view.png")
    assert view is not None and view.stat().st_size > 10_000
    geojson = window.export_geojson(tmp_path / "coverage.geojson")
    data = json.loads(geojson.read_text())
    s = window.state
    total = sum(f["properties"]["area_km2"] for f in data["features"])
    assert total == pytest.approx(window.current_stats.current_km2, rel=1e-3)
    kml = window.export_kml(tmp_path / "coverage.kml")
    assert kml.read_text().startswith("<?xml")
    task = window.export_map_png(tmp_path / "map.png")
    qtbot.waitUntil(lambda: task.done and not window.runner.busy, timeout=LOAD_MS)
    assert (tmp_path / "map.png").stat().st_size > 10_000
    assert s.view == "coverage"


@pytest.mark.slow
def test_screenshot_from_the_command_line(qtbot, tmp_path, capsys):
    out = tmp_path / "shot.png"
    status = gui_app.main([str(KURILS_2020), "--compare", str(KURILS_2023), "--view", "difference",
                           "--altitude-m", "3000", "--size", "1000x700", "--screenshot", str(out)])
    assert status == 0, capsys.readouterr().err
    from PySide6 import QtGui

    image = QtGui.QImage(str(out))
    assert (image.width(), image.height()) == (1000, 700)


def test_screenshot_of_a_bad_scenario_fails_cleanly(qtbot, tmp_path, capsys):
    status = gui_app.main([str(BAD), "--screenshot", str(tmp_path / "bad.png")])
    err = capsys.readouterr().err
    assert status == 2
    assert "lat_out_of_range.yaml:11: units[1].lat" in err
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.slow
def test_cursor_readout_names_the_floor_and_the_covering_units(make_window, api_2020, qtbot):
    window = make_window()
    s = window.state
    depth = api_2020.depth(s.layer, s.altitude_m, s.altitude_ref)
    row, col = (int(v) for v in np.argwhere(depth >= 2)[0])
    window.map.cursor_moved.emit(row, col)
    text = window.cursor_label.text()
    lon, lat = api_2020.grid.pixel_to_lonlat(row, col)
    assert f"{abs(float(lat)):.4f}°N" in text and f"{abs(float(lon)):.4f}°E" in text
    for uid in api_2020.units_at(row, col, s.layer, s.altitude_m, s.altitude_ref):
        assert uid in text
    floors = []
    for env in api_2020.envelopes.values():
        rs, cs = env.window
        if rs.start <= row < rs.stop and cs.start <= col < cs.stop:
            floors.append(float(env.floor_ceiling(s.layer)[0][row - rs.start, col - cs.start]))
    assert f"floor {min(floors):,.0f} m MSL" in text


@pytest.mark.slow
def test_dropping_a_scenario_file_opens_it(make_window, qtbot):
    from PySide6 import QtGui

    window = make_window()
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(bundled_scenario("crimea-2018")))])
    event = QtGui.QDropEvent(QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.is_ready() and window.session.scenario.name == "crimea-2018", timeout=LOAD_MS)
    assert window.recent_files()[0].endswith("crimea-2018.yaml")
    assert window.recent_files()[1].endswith("kurils-2020.yaml")


@pytest.mark.slow
def test_cancel_stops_background_work(make_window, qtbot):
    import time

    from gui.worker import Task

    window = make_window()

    def slow(*, progress, cancel):
        for i in range(1000):
            progress(i / 1000, "working")
            time.sleep(0.01)
        return "finished"

    task = Task(slow, label="slow")
    window._watch(task)
    with qtbot.waitSignal(task.signals.cancelled, timeout=10_000):
        window.runner.start(task)
        qtbot.waitUntil(lambda: window.cancel_button.isVisible(), timeout=5000)
        window.cancel_button.click()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=5000)
    assert not window.cancel_button.isVisible()


@pytest.mark.slow
def test_clicking_the_map_draws_a_profile(make_window, qtbot):
    window = make_window()
    window.state.set(selected_unit="iturup-tor-m2")
    grid = window.session.coverage.grid
    row, col = 250, 600
    lon, lat = grid.pixel_to_lonlat(row, col)
    window.map.map_clicked.emit(row, col, float(lon), float(lat))  # what a click on the map emits
    profile = window.profile_view.profile
    assert profile is not None and profile.unit_id == "iturup-tor-m2"
    assert (profile.target_row, profile.target_col) == (row, col)
    assert window.profile_dock.isVisible()


def test_without_pyside6_the_launcher_says_how_to_install(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "PySide6", None)
    assert gui_app.main(["--screenshot", "never.png"]) == 2
    assert "pip install 'adcov[gui]'" in capsys.readouterr().err


@pytest.mark.slow
def test_menu_actions_go_through_the_file_dialogs(make_window, qtbot, tmp_path, monkeypatch):
    """File > Open / Save as / Export ask Qt's file dialogs (replaced here by answers); a
    cancelled dialog changes nothing."""
    from PySide6 import QtWidgets

    window = make_window()
    asked = []

    def answer(path):
        def dialog(parent, title, directory="", filter_text=""):
            asked.append((title, filter_text))
            return (str(path), "") if path else ("", "")
        return dialog

    # cancelled: the open scenario stays
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", answer(None))
    window.act_open.trigger()
    assert window.session.scenario.name == "kurils-2020" and not window.runner.busy
    # chosen: it opens
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", answer(bundled_scenario("crimea-2018")))
    window.act_open.trigger()
    qtbot.waitUntil(lambda: window.is_ready() and window.session.scenario.name == "crimea-2018", timeout=LOAD_MS)
    assert asked[-1][0] == "Open scenario" and "*.yaml" in asked[-1][1]
    # save as, through the dialog: a scenario file that loads
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", answer(tmp_path / "saved.yaml"))
    window.act_save.trigger()
    assert load_scenario(tmp_path / "saved.yaml").name
    # export GeoJSON through the dialog
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", answer(tmp_path / "view.geojson"))
    window.act_export_geojson.trigger()
    assert json.loads((tmp_path / "view.geojson").read_text())["type"] == "FeatureCollection"
    # cancelled save: nothing written
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", answer(None))
    window.act_save.trigger()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".yaml", ".geojson")) == ["saved.yaml", "view.geojson"]


@pytest.mark.slow
@pytest.mark.parametrize("scenario, names", [(KURILS_2020, {"Yuzhno-Kurilsk", "Kurilsk", "Nemuro"}),
                                             (bundled_scenario("crimea-2018"), {"Sevastopol", "Yevpatoriya"})])
def test_the_map_labels_the_towns(make_window, scenario, names):
    window = make_window(scenario)
    labels = {item.textItem.toPlainText().lstrip("• ") for item in window.map.town_items.values()}
    assert names <= labels, names - labels


@pytest.mark.slow
def test_the_profile_follows_an_edited_unit(make_window, qtbot):
    """After an antenna change or a move, the profile's text and line are a fresh
    line_of_sight_profile of the unit as edited; the text gives one floor value."""
    from simulator.profile import line_of_sight_profile

    window = make_window()
    session = window.session
    window.state.set(selected_unit="kunashir-s300v4")
    first = window.show_profile(44.6, 145.3)
    assert first is not None and first.antenna_altitude_msl_m == pytest.approx(first.site_terrain_m + 30.0)
    for fields in ({"antenna_height_m": 100.0}, {"lat_deg": 44.10, "lon_deg": 145.90, "antenna_height_m": 100.0}):
        window.state.set(edits={**{k: dict(v) for k, v in window.state.edits.items()}, "kunashir-s300v4": fields})
        qtbot.waitUntil(lambda: not window.runner.busy and not session.pending_edits(window.state), timeout=LOAD_MS)
        window.flush()
        shown = window.profile_view.profile
        env = session.envelope("kunashir-s300v4", window.state.edits)
        current = window.session.current_coverage(window.state)
        fresh = line_of_sight_profile(current, env.figures, session.scenario.k_factor, 44.6, 145.3)
        assert shown.site_lat_deg == pytest.approx(fresh.site_lat_deg) and shown.site_lon_deg == pytest.approx(fresh.site_lon_deg)
        assert shown.antenna_altitude_msl_m == pytest.approx(fresh.antenna_altitude_msl_m)
        assert shown.antenna_altitude_msl_m == pytest.approx(shown.site_terrain_m + 100.0)
        assert shown.target_floor_msl_m == pytest.approx(fresh.target_floor_msl_m)
        title = window.profile_view.title.text()
        assert f"{fresh.target_floor_msl_m:,.0f} m MSL" in title and "envelope floor" not in title
        xs, ys = window.map.profile_line.getData()
        assert (xs[0], ys[0]) == pytest.approx((fresh.site_lon_deg, fresh.site_lat_deg))


@pytest.mark.slow
def test_type_an_altitude_and_a_unit_moved_to_sea_is_flagged(make_window, qtbot):
    window = make_window()
    window.altitude_spin.setValue(1234.0)
    window.altitude_spin.editingFinished.emit()
    assert window.state.altitude_m == 1234.0
    window.flush()
    assert "1,234 m" in window.map_title.text() or "1234" in window.map_title.text()
    session = window.session
    # move the Tor-M2 out to sea, east of Iturup (DTED0: 0 m there), then back onto the island
    window.state.set(edits={"iturup-tor-m2": {"lat_deg": 44.80, "lon_deg": 148.60, "antenna_height_m": 30.0}})
    qtbot.waitUntil(lambda: not window.runner.busy and not session.pending_edits(window.state), timeout=LOAD_MS)
    assert "iturup-tor-m2 now stands on the sea" in window.edit_warning.text()
    window.state.set(edits={"iturup-tor-m2": {"lat_deg": 45.033, "lon_deg": 147.617, "antenna_height_m": 31.0}})
    qtbot.waitUntil(lambda: not window.runner.busy and not session.pending_edits(window.state), timeout=LOAD_MS)
    assert window.edit_warning.text() == ""


@pytest.mark.slow
def test_the_map_says_what_it_is_loading(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "gui.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    window.open_scenario(KURILS_2020)
    assert window.map_title.text().startswith("Loading kurils-2020.yaml")
    qtbot.waitUntil(window.is_ready, timeout=LOAD_MS)
    assert not window.map_title.text().startswith("Loading")  # the view's own title once loaded


@pytest.mark.slow
def test_the_map_has_a_scale_bar_in_kilometres(make_window):
    import math

    window = make_window()
    bar = window.map.scale_bar
    assert bar is not None and window.map.scale_bar_km in (50, 100, 200)
    assert bar.text.textItem.toPlainText() == f"{window.map.scale_bar_km:g} km"
    (x0, x1), (y0, y1) = window.map.plotItem.vb.viewRange()
    km_per_deg = 111.32 * math.cos(math.radians((y0 + y1) / 2.0))
    assert bar.size * km_per_deg == pytest.approx(window.map.scale_bar_km, rel=1e-9)


@pytest.mark.slow
def test_quit_with_unsaved_edits_asks(make_window, qtbot, tmp_path):
    window = make_window()
    window.confirm_close = True
    assert window.close()  # nothing edited: closes at once
    window = make_window()
    window.confirm_close = True
    window.state.set(edits={"iturup-tor-m2": {"lat_deg": 45.05, "lon_deg": 147.6, "antenna_height_m": 40.0}})
    assert window.unsaved_edits()
    assert not window.close() and window.isVisible()  # it asks instead
    box = window.unsaved_dialog
    assert box is not None and "iturup-tor-m2" in box.text()
    box.button(QtWidgets.QMessageBox.StandardButton.Cancel).click()
    assert window.isVisible()
    window.save_scenario_as(tmp_path / "moved.yaml")  # saved: nothing left to lose
    assert not window.unsaved_edits() and window.close()


@pytest.mark.slow
def test_remembered_depths_answer_only_their_own_question(api_2020):
    """The GUI's depth memo (one redraw asks for the same depth several times) is keyed on
    the envelopes themselves: a withdrawn or edited unit, another layer or altitude is a new
    question, and the memo stays bounded."""
    from gui import model
    from simulator.catalog import load_catalog

    session = model.Session(scenario=load_scenario(KURILS_2020), coverage=api_2020, catalog=load_catalog())
    full = model.coverage_depth(session, api_2020, "detection", 3000.0, "msl")
    np.testing.assert_array_equal(full, api_2020.depth("detection", 3000.0, "msl"))
    assert not full.flags.writeable
    assert model.coverage_depth(session, api_2020, "detection", 3000.0, "msl") is full

    fewer = api_2020.without(["iturup-s300v4"])
    np.testing.assert_array_equal(model.coverage_depth(session, fewer, "detection", 3000.0, "msl"),
                                  fewer.depth("detection", 3000.0, "msl"))
    edited_env = dataclasses.replace(api_2020.envelopes["iturup-tor-m2"])  # an equal but new envelope object
    edited = dataclasses.replace(api_2020, envelopes={**api_2020.envelopes, "iturup-tor-m2": edited_env})
    assert model.coverage_depth(session, edited, "detection", 3000.0, "msl") is not full
    np.testing.assert_array_equal(model.coverage_depth(session, api_2020, "engagement", 3000.0, "agl"),
                                  api_2020.depth("engagement", 3000.0, "agl"))
    for altitude in range(20):
        model.coverage_depth(session, api_2020, "detection", float(altitude * 500), "msl")
    assert len(session.depth_memo) == model.DEPTH_MEMO_ENTRIES

"""The main window: panels bound to a :class:`~gui.state.ViewState`, composed around the map.

The panels (:mod:`gui.panels`: units, query, timeline, stats, the map's title and legend, the
View menu) each follow the state and write through it. The window composes them into its
docks and keeps the map's overlay (drawn on a debounced redraw), the menus, the background
work and the file actions: loading a scenario, building envelopes, recomputing an edited unit
(:mod:`gui.edit_builds`) and rendering a publication map run in a worker thread with a
progress bar and a cancel button (:mod:`gui.progress`); errors open a non-blocking dialog and
leave the last good state on screen. Saving and exports are :mod:`gui.file_actions`.

Everything drawn comes from :mod:`gui.model`, which asks the simulator. Qt-free as well (an
import-linter contract): the bookkeeping of edits and of the shown profile
(:mod:`gui.edits`), the worker jobs and the exports' contents (:mod:`gui.jobs`), the markers
and the legend (:mod:`gui.map_content`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from gui import dialogs, edits, jobs, model, qt_compat
from gui.edit_builds import EditBuilds
from gui.file_actions import MAX_RECENT, FileActions, dropped_scenario  # noqa: F401 - MAX_RECENT re-exported
from gui.panels import QueryPanel, StatsPanel, TimelinePanel, UnitsPanel, ViewMenu
from gui.panels.map import MapPanel
from gui.panels.query import SLIDER_STEPS, altitude_to_slider, slider_to_altitude  # noqa: F401 - re-exported
from gui.panels.stats import CURVE_DEBOUNCE_MS, AltitudeAxis  # noqa: F401 - re-exported
from gui.profile_view import ProfileDock
from gui.progress import ProgressIndicator
from gui.state import ViewState
from gui.worker import Task, TaskRunner
from simulator.cache import EnvelopeCache
from simulator.errors import AdcovError
from simulator.scenario import bundled_scenario

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)  # per item where it shows
qt_compat.protect_none()  # PySide6 6.12 on CPython 3.11 leaks references to None

#: Quiet time after the last slider move before the overlay is recomputed. [ms]
DEBOUNCE_MS = 30
_DOCK_FEATURES = QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable


#: The panels' widgets reachable as attributes of the window too (``window.altitude_slider`` is
#: ``window.query_panel.altitude_slider``), as before the panels: tests, tools and scripts use them.
PANEL_WIDGETS = {
    "units_panel": ("units", "unit_items", "details", "edit_box", "edit_lat", "edit_lon", "edit_antenna", "edit_apply",
                    "edit_reset", "edit_warning"),
    "query_panel": ("altitude_slider", "altitude_spin", "ref_msl", "ref_agl", "ref_group", "layer_combo", "view_combo",
                    "against_combo", "rings_check"),
    "timeline_panel": ("as_of_check", "as_of_label", "as_of_slider", "events_label"),
    "stats_panel": ("stats_label", "area_plot", "area_curves", "altitude_line"),
}


def _panel_widget(panel: str, name: str) -> property:
    return property(lambda self: getattr(getattr(self, panel), name), doc=f"``self.{panel}.{name}``")


class MainWindow(QtWidgets.QMainWindow):
    """adcov-gui's window. ``settings`` (a QSettings) keeps recent files; tests pass a temp one."""

    session_changed = QtCore.Signal()
    overlay_updated = QtCore.Signal()

    def __init__(self, *, settings: QtCore.QSettings | None = None, cache: EnvelopeCache | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("adcovMainWindow")
        self.setWindowTitle("adcov")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QtCore.QSettings("adcov", "adcov-gui")
        #: analysis spacing replacing the scenarios' ("native", metres, or None: theirs)
        self.resolution_m: float | str | None = None
        #: ask before quitting with unsaved unit edits
        self.confirm_close = True
        self.unsaved_dialog = None
        self._close_confirmed = False
        #: edits saved, built and being built (Qt-free bookkeeping)
        self.edit_book = edits.EditBook()
        self._loading_name: str | None = None
        #: the shown profile (:class:`gui.edits.ProfileRequest`), drawn again when its unit changes
        self._profile_request: edits.ProfileRequest | None = None
        self.cache = cache if cache is not None else EnvelopeCache()
        self.state = ViewState()
        self.session: model.Session | None = None
        self.runner = TaskRunner(self)
        self.edit_builds = EditBuilds(self.edit_book, self.state, lambda: self.session, start=self._start, report=self._report,
                                      cache=self.cache, parent=self)
        self.edit_builds.built.connect(self._on_edit_built)
        self.current_overlay: model.Overlay | None = None
        self.current_stats: model.Stats | None = None
        self.last_error_dialog: QtWidgets.QMessageBox | None = None
        self.last_error: BaseException | None = None
        self.show_error = dialogs.show_error  # replaceable (tests)
        self._load_task: Task | None = None
        self._updating = False
        self._pending_overlay = False
        self._debounce = QtCore.QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.refresh(now=True))

        self.files = FileActions(self)
        self._build_map()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self.state.add_callback(self._on_state_changed)
        self._sync_panels()
        self._set_enabled(False)

    # ================================================================== construction
    def _build_map(self) -> None:
        self.map_panel = MapPanel(self.state, lambda: self.session)
        self.setCentralWidget(self.map_panel)
        self.map, self.map_title, self.legend = self.map_panel.map, self.map_panel.map_title, self.map_panel.legend
        self.map.cursor_moved.connect(self._on_cursor)
        self.map.cursor_left.connect(lambda: self.cursor_label.setText(""))
        self.map.map_clicked.connect(self._on_map_clicked)
        self.map.unit_moved.connect(self._on_marker_moved)

    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget, area, min_width: int) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setFeatures(_DOCK_FEATURES)
        dock.setWidget(widget)
        dock.setMinimumWidth(min_width)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        """Units on the left; query, timeline and stats on the right; the profile below the map."""
        session = lambda: self.session  # the panels read the session, never set it
        self.units_panel = UnitsPanel(self.state, session, apply_edit=self.edit_unit)
        self.units_dock = self._dock("Units", "unitsDock", self.units_panel, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, 200)
        controls = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(controls)
        layout.setContentsMargins(4, 4, 4, 4)
        self.query_panel = QueryPanel(self.state, session)
        self.timeline_panel = TimelinePanel(self.state, session)
        self.stats_panel = StatsPanel(self.state, session)
        layout.addWidget(self.query_panel)
        layout.addWidget(self.timeline_panel)
        layout.addWidget(self.stats_panel, 1)
        self.controls_dock = self._dock("Query and stats", "controlsDock", controls, QtCore.Qt.DockWidgetArea.RightDockWidgetArea, 260)
        self.profile_dock = ProfileDock(self)
        self.profile_view = self.profile_dock.view
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.profile_dock)
        # side panels keep the full height; the profile sits under the map only
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.profile_dock.hide()

    def _build_status_bar(self) -> None:
        self.cursor_label = QtWidgets.QLabel()
        self.cursor_label.setObjectName("cursorLabel")
        self.statusBar().addWidget(self.cursor_label, 1)
        self.progress_indicator = ProgressIndicator(self.runner, self.statusBar())
        self.progress, self.progress_label = self.progress_indicator.progress, self.progress_indicator.progress_label
        self.cancel_button = self.progress_indicator.cancel_button

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.act_open = file_menu.addAction("&Open scenario…", lambda: self.open_scenario())
        self.act_open.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.act_compare = file_menu.addAction("&Compare with scenario…", lambda: self.open_comparison())
        self.act_clear_compare = file_menu.addAction("Clear comparison", self.clear_comparison)
        file_menu.addSeparator()
        self.act_save = file_menu.addAction("&Save scenario as…", lambda: self.save_scenario_as())
        self.act_save.setShortcut(QtGui.QKeySequence.StandardKey.SaveAs)
        export_menu = file_menu.addMenu("&Export")
        self.act_export_map = export_menu.addAction("Map (PNG, with legend and assumptions)…", lambda: self.export_map_png())
        self.act_export_view = export_menu.addAction("View as on screen (PNG)…", lambda: self.export_view_png())
        self.act_export_geojson = export_menu.addAction("GeoJSON…", lambda: self.export_geojson())
        self.act_export_kml = export_menu.addAction("KML…", lambda: self.export_kml())
        export_menu.setToolTipsVisible(True)
        file_menu.addSeparator()
        file_menu.addAction("&Quit", self.close).setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        view_menu = self.view_menu = ViewMenu(self.state, parent=bar)
        bar.addMenu(view_menu)
        self.view_actions = view_menu.view_actions
        view_menu.addSeparator()
        view_menu.addAction(self.units_dock.toggleViewAction())
        view_menu.addAction(self.controls_dock.toggleViewAction())
        view_menu.addAction(self.profile_dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("About adcov", lambda: dialogs.show_about(self))
        self.files.refresh_recent_menu()

    def _set_enabled(self, on: bool) -> None:
        for w in (self.units_dock.widget(), self.controls_dock.widget()):
            w.setEnabled(on)
        for act in (self.act_save, self.act_compare, self.act_export_view, self.act_export_map, self.act_export_geojson,
                    self.act_export_kml):
            act.setEnabled(on)
        self.act_clear_compare.setEnabled(on and self.session is not None and self.session.comparison is not None)

    # ================================================================== loading
    def is_ready(self) -> bool:
        """A scenario is shown and no background work is running."""
        return self.session is not None and not self.runner.busy

    def open_scenario(self, path: str | os.PathLike | None = None, *, comparison: str | os.PathLike | None = None) -> Task | None:
        """Load a scenario in the background (asks for the file when ``path`` is None)."""
        if path is None:
            start = str(self.state.scenario_path.parent) if self.state.scenario_path else ""
            path = dialogs.choose_open_file(self, "Open scenario", start)
            if not path:
                return None
        path = Path(path)
        if self._load_task is not None and not self._load_task.done:
            self._load_task.cancel()
        task = Task(jobs.load, path, cache=self.cache, resolution_m=self.resolution_m, label=f"opening {path.name}")
        task.signals.finished.connect(lambda result, p=path, c=comparison: self._on_loaded(p, result, c))
        task.signals.failed.connect(lambda exc: self._report("Cannot open the scenario", exc))
        task.signals.failed.connect(lambda exc: self._loading_done())
        task.signals.cancelled.connect(self._loading_done)
        # the map says what it is waiting for (line of sight can take a while on fine terrain)
        self._loading_name = path.name
        self.map_title.setText(f"Loading {path.name}: reading the scenario…")
        self._load_task = task
        self._start(task)
        return task

    def _loading_done(self) -> None:
        self._loading_name = None

    def _on_loaded(self, path: Path, result, comparison) -> None:
        session, rgb, coast, context = result
        self._loading_done()
        self.session = session
        self.edit_book.reset()
        self._close_confirmed = False
        self.stats_panel.forget_curves()
        self.map.set_grid(session.coverage.grid, rgb, coast, context=context)
        self.map.set_town_sites([(u.lat_deg, u.lon_deg) for u in session.units])
        defaults = session.default_state()
        defaults.update(scenario_path=path, comparison_path=None, difference_against="loaded")
        self._updating = True  # no redraw before the panels are filled for the new session
        try:
            self.state.set(**defaults)
        finally:
            self._updating = False
        self.units_panel.populate()
        self.timeline_panel.setup()
        self._set_enabled(True)
        title = session.scenario.title or session.scenario.name
        self.setWindowTitle(f"adcov — {session.scenario.name}: {title}")
        self.files.add_recent(path)
        self.profile_view.clear("Click the map to draw the line of sight from the selected unit to that point.")
        self.map.set_profile_line()
        self._profile_request = None
        self._sync_panels()
        self.refresh(now=True)
        self.session_changed.emit()
        if comparison is not None:
            self.open_comparison(comparison)

    def open_comparison(self, path: str | os.PathLike | None = None) -> Task | None:
        """Load the scenario the difference view compares with (same terrain and area)."""
        if self.session is None:
            return None
        if path is None:
            start = str(self.state.scenario_path.parent) if self.state.scenario_path else ""
            path = dialogs.choose_open_file(self, "Compare with scenario", start)
            if not path:
                return None
        path = Path(path)
        session = self.session
        task = Task(jobs.load_comparison, path, session.coverage, cache=self.cache, label=f"opening {path.name}")
        task.signals.finished.connect(lambda side, s=session, p=path: self._on_comparison_loaded(s, p, side))
        task.signals.failed.connect(lambda exc: self._report("Cannot open the comparison scenario", exc))
        self._start(task)
        return task

    def _on_comparison_loaded(self, session, path: Path, side) -> None:
        if session is not self.session:
            return  # another scenario was opened meanwhile
        session.comparison = side
        self.stats_panel.forget_curves("comparison")
        self.timeline_panel.setup()
        self.state.set(comparison_path=path, difference_against="comparison")
        self._set_enabled(True)
        self._sync_panels()
        self.refresh(now=True)

    def clear_comparison(self) -> None:
        if self.session is not None:
            self.session.comparison = None
            self.state.set(comparison_path=None, difference_against="loaded")
            self._set_enabled(True)
            self._sync_panels()
            self.refresh(now=True)

    def _start(self, task: Task) -> None:
        """Run a task in the worker thread, its progress shown."""
        self._watch(task)
        self.runner.start(task)

    def _watch(self, task: Task) -> None:
        self.progress_indicator.watch(task)
        task.signals.progress.connect(self._on_progress)

    def _on_progress(self, fraction: float, message: str) -> None:
        if self._loading_name:  # the map says what it is waiting for
            self.map_title.setText(f"Loading {self._loading_name}: {message} ({fraction:.0%})")

    def cancel_work(self) -> None:
        self.progress_indicator.cancel_work()

    def _report(self, title: str, exc: BaseException) -> None:
        self.last_error = exc
        self.last_error_dialog = self.show_error(self, title, exc)

    # ================================================================== unit edits
    def edit_unit(self, unit_id: str, **fields: float) -> None:
        """Move a unit or change its antenna height; only the fields that differ from the file count."""
        self.state.set(edits=edits.edit_unit(self.session, self.state.edits, unit_id, **fields))

    def _on_marker_moved(self, unit_id: str, lon: float, lat: float) -> None:
        self.state.set(selected_unit=unit_id)
        self.edit_unit(unit_id, lat_deg=round(lat, 5), lon_deg=round(lon, 5))

    def _on_edit_built(self, uid: str, env) -> None:
        """Redraw with the unit's new envelope; say so when it now stands on the sea."""
        text = edits.sea_warning(uid, env)
        if text:
            self.statusBar().showMessage(text, 15000)
        self.units_panel.set_warning(text)
        self.refresh(now=True)

    # ================================================================== state -> view
    def _sync_panels(self) -> None:
        """Every control from the state (panels follow it by themselves; this is for a new
        session or comparison, which is not state)."""
        self.query_panel.sync()
        self.timeline_panel.sync()
        self.view_menu.sync()
        self.units_panel.sync()

    def _on_state_changed(self, changes) -> None:
        if self._updating or self.session is None:
            return
        if "edits" in changes:
            self.edit_builds.ensure()
        if set(changes) <= {"altitude_m", "as_of"}:
            self._pending_overlay = True
            self._debounce.start()
        elif not set(changes) <= {"selected_unit"}:  # a new selection: the map panel moves the markers
            self.refresh(now=True)

    def flush(self, curves: bool = True) -> None:
        """Run any debounced redraw now (tests, benchmarks, screenshots)."""
        if self._debounce.isActive() or self._pending_overlay:
            self._debounce.stop()
            self.refresh(now=True)
        if curves:
            self.stats_panel.flush()

    def refresh(self, now: bool = True) -> None:
        """Recompute the overlay, legend, markers, rings and stats from the state."""
        self._pending_overlay = False
        session = self.session
        if session is None:
            return
        try:
            overlay = model.overlay_for(session, self.state)
            stats = model.stats_for(session, self.state)
        except AdcovError as exc:
            self._report("Cannot draw this view", exc)
            return
        self.current_overlay = overlay
        self.current_stats = stats
        self.map_panel.show_overlay(overlay, session.pending_edits(self.state))
        self.stats_panel.show_stats(stats)
        self._refresh_profile()
        self.overlay_updated.emit()

    def _refresh_curves(self) -> None:
        self.stats_panel.refresh_curves()

    def _refresh_profile(self) -> None:
        """Redraw the shown profile when its unit's envelope changed (an applied edit, a drag,
        back to the file's values), so its text and line always describe the unit as it is."""
        request = self._profile_request
        if request is not None and request.is_stale(self.session, self.state.edits):
            self.show_profile(request.lat_deg, request.lon_deg, request.unit_id)

    # ================================================================== map interaction
    def _on_cursor(self, row: int, col: int) -> None:
        if self.session is None:
            return
        info = model.cell_info(self.session, self.state, row, col)
        self.cursor_label.setText(model.cell_info_text(info, self.state))

    def _on_map_clicked(self, row: int, col: int, x: float, y: float) -> None:
        if self.session is None:
            return
        lon, lat = self.map.map_to_lonlat(x, y)
        self.show_profile(lat, lon)

    def show_profile(self, lat_deg: float, lon_deg: float, unit_id: str | None = None):
        """Line of sight from a unit (the selected one, else the first active) to a point."""
        try:
            found = edits.line_of_sight(self.session, self.state, lat_deg, lon_deg, unit_id)
        except AdcovError as exc:
            self._report("Cannot draw the profile", exc)
            return None
        if found is None:
            return None
        profile, request = found
        self.profile_dock.show_profile(profile)
        self.map.set_profile_line([profile.site_lon_deg, lon_deg], [profile.site_lat_deg, lat_deg])
        self._profile_request = request
        return profile

    # ================================================================== file actions (gui.file_actions)
    def save_scenario_as(self, path: str | os.PathLike | None = None):
        """Write the current state as a scenario file extending the open one."""
        return self.files.save_scenario_as(path)

    def export_map_png(self, path: str | os.PathLike | None = None) -> Task | None:
        """A publication map through ``simulator.export.render_map_png`` (in the background)."""
        return self.files.export_map_png(path)

    def export_view_png(self, path: str | os.PathLike | None = None) -> Path | None:
        """The map panel as on screen (title, map, legend)."""
        return self.files.export_view_png(path)

    def export_geojson(self, path: str | os.PathLike | None = None) -> Path | None:
        return self.files.export_geojson(path)

    def export_kml(self, path: str | os.PathLike | None = None) -> Path | None:
        return self.files.export_kml(path)

    def recent_files(self) -> list[str]:
        return self.files.recent_files()

    def dragEnterEvent(self, event) -> None:
        if dropped_scenario(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = dropped_scenario(event.mimeData())
        if path:
            self.open_scenario(path)
            event.acceptProposedAction()

    # ================================================================== window
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_docks_sized", False):
            self._docks_sized = True
            self.resizeDocks([self.units_dock, self.controls_dock], [280, 340], QtCore.Qt.Orientation.Horizontal)

    def unsaved_edits(self) -> bool:
        """Whether units were moved or changed since the scenario was opened or last saved."""
        return self.session is not None and self.edit_book.unsaved(self.state.edits)

    def closeEvent(self, event) -> None:
        if self.confirm_close and self.unsaved_edits() and not self._close_confirmed:
            event.ignore()
            self._ask_before_closing()
            return
        self.runner.shutdown(10.0)
        super().closeEvent(event)

    def _ask_before_closing(self) -> QtWidgets.QMessageBox:
        """Save, discard or keep working (a window-modal box opened with ``open()``)."""

        def answered(choice: str) -> None:
            if choice == "discard" or self.save_scenario_as() is not None:
                self._close_confirmed = True
                self.close()

        self.unsaved_dialog = dialogs.ask_unsaved_edits(self, sorted(self.state.edits), answered)
        return self.unsaved_dialog


for _panel, _names in PANEL_WIDGETS.items():
    for _name in _names:
        setattr(MainWindow, _name, _panel_widget(_panel, _name))


def default_scenarios() -> tuple[Path, Path]:
    """The scenario and comparison ``adcov-gui`` opens with no argument."""
    return bundled_scenario("kurils-2020"), bundled_scenario("kurils-2023")

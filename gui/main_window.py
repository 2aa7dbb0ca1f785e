"""The main window: panels bound to a :class:`~gui.state.ViewState`, composed around the map.

The panels (:mod:`gui.panels`: units, query, timeline, stats, the map, the profile, the File
and View menus) each follow the state and write through it: a change of the state redraws
whatever shows it, with no word from the window. The window composes them into its docks and
menus and keeps what is not state: the open :class:`~gui.model.Session` (the panels read it,
and are told when it changes under the state: a scenario or a comparison opened, an edited
unit's envelope built), the background work and the file actions. Loading a scenario,
building envelopes, recomputing an edited unit (:mod:`gui.edit_builds`) and rendering a
publication map run in a worker thread with a progress bar and a cancel button
(:mod:`gui.progress`); errors open a non-blocking dialog and leave the last good state on
screen. Saving and exports are :mod:`gui.file_actions`.

Everything drawn comes from :mod:`gui.model`, which asks the simulator. Qt-free as well (an
import-linter contract): the bookkeeping of edits and of the shown profile
(:mod:`gui.edits`), the worker jobs and the exports' contents (:mod:`gui.jobs`), the markers
and the legend (:mod:`gui.map_content`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from gui import dialogs, edits, jobs, model, qt_compat
from gui.edit_builds import EditBuilds
from gui.file_actions import MAX_RECENT, FileActions, dropped_scenario  # noqa: F401 - MAX_RECENT re-exported
from gui.panels import QueryPanel, StatsPanel, TimelinePanel, UnitsPanel, ViewMenu
from gui.panels.file_menu import FileMenu
from gui.panels.map import MapPanel
from gui.panels.profile import HINT as PROFILE_HINT
from gui.panels.profile import ProfilePanel
from gui.panels.query import SLIDER_STEPS, altitude_to_slider, slider_to_altitude  # noqa: F401 - re-exported
from gui.panels.redraw import DEBOUNCE_MS  # noqa: F401 - re-exported
from gui.panels.stats import CURVE_DEBOUNCE_MS, AltitudeAxis  # noqa: F401 - re-exported
from gui.progress import ProgressIndicator
from gui.state import ViewState
from gui.worker import Task, TaskRunner
from simulator.cache import EnvelopeCache
from simulator.scenario import bundled_scenario

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)  # per item where it shows
qt_compat.protect_none()  # PySide6 6.12 on CPython 3.11 leaks references to None

_DOCK_FEATURES = QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable


#: The panels' widgets reachable as attributes of the window too (``window.altitude_slider`` is
#: ``window.query_panel.altitude_slider``), as before the panels: tests, tools and scripts use them.
PANEL_WIDGETS = {
    "map_panel": ("map", "map_title", "legend", "cursor_label", "current_overlay"),
    "units_panel": ("units", "unit_items", "details", "edit_box", "edit_lat", "edit_lon", "edit_antenna", "edit_apply",
                    "edit_reset", "edit_warning"),
    "query_panel": ("altitude_slider", "altitude_spin", "ref_msl", "ref_agl", "ref_group", "layer_combo", "view_combo",
                    "against_combo", "rings_check"),
    "timeline_panel": ("as_of_check", "as_of_label", "as_of_slider", "events_label"),
    "stats_panel": ("stats_label", "area_plot", "area_curves", "altitude_line", "current_stats"),
    "file_menu": ("act_open", "recent_menu", "act_compare", "act_clear_compare", "act_save", "act_export_map",
                  "act_export_view", "act_export_geojson", "act_export_kml"),
    "view_menu": ("view_actions",),
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
        self.cache = cache if cache is not None else EnvelopeCache()
        self.state = ViewState()
        self.session: model.Session | None = None
        self.runner = TaskRunner(self)
        self.edit_builds = EditBuilds(self.edit_book, self.state, lambda: self.session, start=self._start, report=self._report,
                                      cache=self.cache, parent=self)
        self.edit_builds.built.connect(self._on_edit_built)
        self.state.add_callback(self._on_state_changed)  # first: builds start before the panels redraw
        self.last_error_dialog: QtWidgets.QMessageBox | None = None
        self.last_error: BaseException | None = None
        self.show_error = dialogs.show_error  # replaceable (tests)
        self._load_task: Task | None = None

        self.files = FileActions(self)
        self._build_map()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._show_session()
        self._set_enabled(False)

    # ================================================================== construction
    def _build_map(self) -> None:
        self.map_panel = MapPanel(self.state, lambda: self.session, apply_edit=self.edit_unit, report=self._report)
        self.map_panel.overlay_drawn.connect(self.overlay_updated)
        self.setCentralWidget(self.map_panel)

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
        self.stats_panel = StatsPanel(self.state, session, report=self._report)
        layout.addWidget(self.query_panel)
        layout.addWidget(self.timeline_panel)
        layout.addWidget(self.stats_panel, 1)
        self.controls_dock = self._dock("Query and stats", "controlsDock", controls, QtCore.Qt.DockWidgetArea.RightDockWidgetArea, 260)
        self.profile_dock = ProfilePanel(self, self.state, session, self.map, report=self._report)
        self.profile_view = self.profile_dock.view
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.profile_dock)
        # side panels keep the full height; the profile sits under the map only
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.profile_dock.hide()

    def _build_status_bar(self) -> None:
        self.statusBar().addWidget(self.cursor_label, 1)
        self.progress_indicator = ProgressIndicator(self.runner, self.statusBar())
        self.progress, self.progress_label = self.progress_indicator.progress, self.progress_indicator.progress_label
        self.cancel_button = self.progress_indicator.cancel_button

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = FileMenu(self.state, self, parent=bar)
        bar.addMenu(self.file_menu)
        view_menu = self.view_menu = ViewMenu(self.state, parent=bar)
        bar.addMenu(view_menu)
        view_menu.addSeparator()
        for dock in (self.units_dock, self.controls_dock, self.profile_dock):
            view_menu.addAction(dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("About adcov", lambda: dialogs.show_about(self))
        self.files.refresh_recent_menu()

    def _set_enabled(self, on: bool) -> None:
        """The docks' panels usable (a scenario is open); the File menu follows the state."""
        for w in (self.units_dock.widget(), self.controls_dock.widget()):
            w.setEnabled(on)

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
        task.signals.failed.connect(lambda exc: self.map_panel.show_loading(None))
        task.signals.cancelled.connect(lambda: self.map_panel.show_loading(None))
        self.map_panel.show_loading(path.name)  # the map says what it is waiting for
        self._load_task = task
        self._start(task)
        return task

    def _on_loaded(self, path: Path, result, comparison) -> None:
        session, rgb, coast, context = result
        self.map_panel.show_loading(None)
        self.edit_book.reset()
        self._close_confirmed = False
        defaults = session.default_state()
        defaults.update(scenario_path=path, comparison_path=None, difference_against="loaded")
        # the new scenario's defaults are set while no session is shown (the panels wait when
        # there is none): none draws a half-opened scenario; they are all shown it below
        self.session = None
        self.state.set(**defaults)
        self.session = session
        self.map_panel.show_terrain(session, rgb, coast, context)
        self.units_panel.populate()
        self.timeline_panel.setup()
        self._set_enabled(True)
        title = session.scenario.title or session.scenario.name
        self.setWindowTitle(f"adcov — {session.scenario.name}: {title}")
        self.files.add_recent(path)
        self.profile_dock.clear(PROFILE_HINT)
        self._show_session()
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
        self.timeline_panel.setup()  # its range spans the comparison's date too
        self._comparison_changed(comparison_path=path, difference_against="comparison")

    def clear_comparison(self) -> None:
        if self.session is not None:
            self.session.comparison = None
            self._comparison_changed(comparison_path=None, difference_against="loaded")

    def _comparison_changed(self, **fields) -> None:
        """The state says which comparison is shown, and the panels follow it; the same one
        opened again changes no state: then the window shows them the session."""
        if not self.state.set(**fields):
            self._show_session()

    def _start(self, task: Task) -> None:
        """Run a task in the worker thread, its progress shown."""
        self._watch(task)
        self.runner.start(task)

    def _watch(self, task: Task) -> None:
        self.progress_indicator.watch(task)
        task.signals.progress.connect(self.map_panel.show_progress)

    def cancel_work(self) -> None:
        self.progress_indicator.cancel_work()

    def _report(self, title: str, exc: BaseException) -> None:
        self.last_error = exc
        self.last_error_dialog = self.show_error(self, title, exc)

    # ================================================================== unit edits
    def edit_unit(self, unit_id: str, **fields: float) -> None:
        """Move a unit or change its antenna height; only the fields that differ from the file count."""
        self.state.set(edits=edits.edit_unit(self.session, self.state.edits, unit_id, **fields))

    def _on_state_changed(self, changes) -> None:
        if "edits" in changes and self.session is not None:
            self.edit_builds.ensure()

    def _on_edit_built(self, uid: str, env) -> None:
        """Redraw with the unit's new envelope; say so when it now stands on the sea."""
        text = edits.sea_warning(uid, env)
        if text:
            self.statusBar().showMessage(text, 15000)
        self.units_panel.set_warning(text)
        self.refresh()

    # ================================================================== the session -> the panels
    def _show_session(self) -> None:
        """Every panel from the session and the state: the session changed under the state (a
        scenario or a comparison opened), which the state does not announce."""
        for panel in (self.query_panel, self.timeline_panel, self.view_menu, self.units_panel, self.file_menu):
            panel.sync()
        self.refresh()

    def refresh(self, now: bool = True) -> None:
        """Redraw the overlay, legend, markers, rings, stats and profile now: the session
        changed under the state (its panels redraw by themselves when the state changes)."""
        self.map_panel.draw()
        self.stats_panel.draw()
        self.profile_dock.refresh()

    def flush(self, curves: bool = True) -> None:
        """Run any redraw waiting for its quiet time now (tests, benchmarks, screenshots)."""
        self.map_panel.flush()
        self.stats_panel.flush(curves)

    def _refresh_curves(self) -> None:
        self.stats_panel.refresh_curves()

    def show_profile(self, lat_deg: float, lon_deg: float, unit_id: str | None = None):
        """Line of sight from a unit (the selected one, else the first active) to a point."""
        return self.profile_dock.line_of_sight(lat_deg, lon_deg, unit_id)

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

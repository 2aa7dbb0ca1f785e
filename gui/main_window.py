"""The main window: a thin view bound to a :class:`~gui.state.ViewState`.

Widgets write the state (``state.set``); one state callback redraws. Everything drawn comes
from :mod:`gui.model`, which asks the simulator. Loading a scenario, building envelopes,
recomputing an edited unit and rendering a publication map run in a worker thread with a
progress bar and a cancel button; errors open a non-blocking dialog and leave the last good
state on screen.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from gui import dialogs, model, qt_compat
from gui.map_view import MapView
from gui.profile_view import ProfileView
from gui.state import (
    ALTITUDE_MAX_M,
    ALTITUDE_MIN_M,
    VIEW_TITLES,
    VIEWS,
    ViewState,
)
from gui.worker import Task, TaskRunner
from simulator import export as _export
from simulator.cache import EnvelopeCache
from simulator.errors import AdcovError
from simulator.fileio import write_bytes_atomically
from simulator.scenario import bundled_scenario

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)  # per item where it shows
qt_compat.protect_none()  # PySide6 6.12 on CPython 3.11 leaks references to None

SLIDER_STEPS = 1000
#: Quiet time after the last slider move before the overlay is recomputed. [ms]
DEBOUNCE_MS = 30
#: Quiet time before the area-vs-altitude curve is recomputed. [ms]
CURVE_DEBOUNCE_MS = 150
MAX_RECENT = 8


def altitude_to_slider(altitude_m: float) -> int:
    """Log-scale position of an altitude on the slider (10 m ... 30 km)."""
    f = math.log(altitude_m / ALTITUDE_MIN_M) / math.log(ALTITUDE_MAX_M / ALTITUDE_MIN_M)
    return round(min(max(f, 0.0), 1.0) * SLIDER_STEPS)


def slider_to_altitude(value: int) -> float:
    """Altitude of a slider position, rounded to 2 significant digits (nice labels). [m]"""
    raw = ALTITUDE_MIN_M * (ALTITUDE_MAX_M / ALTITUDE_MIN_M) ** (value / SLIDER_STEPS)
    digits = 2 - math.floor(math.log10(raw)) - 1
    return float(min(max(round(raw, digits), ALTITUDE_MIN_M), ALTITUDE_MAX_M))


class AltitudeAxis(pg.AxisItem):
    """Log-scale altitude axis labelled 10 m, 100 m, 1 km, 10 km."""

    def logTickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            metres = 10.0 ** (v * scale)
            if metres >= 1000:
                out.append(f"{metres / 1000:g} km")
            else:
                out.append(f"{metres:g} m")
        return out


def _blend_on_white(rgba) -> str:
    r, g, b, a = rgba
    f = a / 255.0
    return "#{:02x}{:02x}{:02x}".format(*tuple(round(c * f + 255 * (1 - f)) for c in (r, g, b)))


def _swatch(colour: str, kind: str = "fill") -> str:
    if kind == "outline":
        return f"<span style='color:{colour}; font-weight:bold'>▭</span>"
    if kind == "line":
        return f"<span style='color:{colour}; font-weight:bold'>╌╌</span>"
    if kind == "marker":
        return f"<span style='color:{colour}; font-size:12pt'>●</span>"
    return f"<span style='background-color:{colour}; color:{colour}'>&nbsp;&nbsp;&nbsp;&nbsp;</span>"


def _build_edit(session, unit_id, fields, *, cache, progress, cancel):
    progress(0.0, f"line of sight: {unit_id} (edited)")
    env = session.build_edited_envelope(unit_id, fields, cache=cache)
    progress(1.0, "envelope ready")
    return unit_id, dict(fields), env


def _load(path, *, cache, progress, cancel, resolution_m=None):
    session = model.load_session(path, cache=cache, progress=progress, cancel=cancel, resolution_m=resolution_m)
    grid = session.coverage.grid
    rgb = model.terrain_rgb(grid.elevation_m, grid.cell_size_m)
    coast = model.coastline(grid.elevation_m)
    progress(0.97, "terrain around the analysis area")
    context = model.context_picture(grid)
    return session, rgb, coast, context


def _load_comparison(path, reference, *, cache, progress, cancel):
    return model.load_comparison(path, reference, cache=cache, progress=progress, cancel=cancel)


def _render_png(path, kwargs, *, progress, cancel):
    progress(0.1, "drawing the map")
    out = _export.render_map_png(path, **kwargs)
    progress(1.0, "map written")
    return out


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
        self._saved_edits: dict = {}
        self._loading_name: str | None = None
        #: the shown profile: (lat, lon, unit id, figures it was drawn for)
        self._profile_request = None
        self.cache = cache if cache is not None else EnvelopeCache()
        self.state = ViewState()
        self.session: model.Session | None = None
        self.runner = TaskRunner(self)
        self.current_overlay: model.Overlay | None = None
        self.current_stats: model.Stats | None = None
        self.last_error_dialog: QtWidgets.QMessageBox | None = None
        self.last_error: BaseException | None = None
        self.show_error = dialogs.show_error  # replaceable (tests)
        self._load_task: Task | None = None
        self._edit_tasks: dict[tuple, Task] = {}
        self._good_edits: dict = {}
        self._updating = False
        self._pending_overlay = False
        self._details_html: str | None = None
        self._curves_cache: dict = {}
        self._debounce = QtCore.QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.refresh(now=True))
        self._curve_timer = QtCore.QTimer(self)
        self._curve_timer.setSingleShot(True)
        self._curve_timer.setInterval(CURVE_DEBOUNCE_MS)
        self._curve_timer.timeout.connect(self._refresh_curves)

        self._build_map()
        self._build_units_dock()
        self._build_controls_dock()
        self._build_profile_dock()
        self._build_status_bar()
        self._build_menus()
        self.state.add_callback(self._on_state_changed)
        self.runner.busy_changed.connect(self._on_busy_changed)
        self._sync_widgets_from_state()
        self._set_enabled(False)

    # ================================================================== construction
    def _build_map(self) -> None:
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        self.map_title = QtWidgets.QLabel("Open a scenario (File ▸ Open, or drop a .yaml file here).")
        self.map_title.setObjectName("mapTitle")
        self.map_title.setWordWrap(True)
        font = self.map_title.font()
        font.setPointSize(font.pointSize() + 1)
        font.setBold(True)
        self.map_title.setFont(font)
        layout.addWidget(self.map_title)
        self.map = MapView()
        layout.addWidget(self.map, 1)
        self.legend = QtWidgets.QLabel()
        self.legend.setObjectName("mapLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        # two lines reserved: a legend that wraps at one altitude and not at the next would
        # resize the map (a jump, and the hillshade re-rendered) at every such step
        self.legend.setMinimumHeight(2 * QtGui.QFontMetrics(self.legend.font()).lineSpacing() + 6)
        layout.addWidget(self.legend)
        self.setCentralWidget(central)
        self.map.cursor_moved.connect(self._on_cursor)
        self.map.cursor_left.connect(lambda: self.cursor_label.setText(""))
        self.map.map_clicked.connect(self._on_map_clicked)
        self.map.unit_clicked.connect(lambda uid: self.state.set(selected_unit=uid))
        self.map.unit_moved.connect(self._on_marker_moved)

    def _build_units_dock(self) -> None:
        dock = QtWidgets.QDockWidget("Units", self)
        dock.setObjectName("unitsDock")
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        panel = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 4, 4)
        hint = QtWidgets.QLabel("Uncheck to withdraw, check to restore. Markers are coloured by system; drag one to move the unit.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.units = QtWidgets.QTreeWidget()
        self.units.setObjectName("unitTree")
        self.units.setHeaderHidden(True)
        self.units.setRootIsDecorated(True)
        self.units.itemChanged.connect(self._on_unit_item_changed)
        self.units.currentItemChanged.connect(self._on_unit_current_changed)
        layout.addWidget(self.units, 1)
        self.details = QtWidgets.QTextBrowser()
        self.details.setObjectName("unitDetails")
        self.details.setOpenExternalLinks(True)
        layout.addWidget(self.details, 4)
        edit = QtWidgets.QGroupBox("Edit the selected unit")
        form = QtWidgets.QFormLayout(edit)
        edit_hint = QtWidgets.QLabel("Move it (or drag its marker) or change its antenna: only its envelope is recomputed.")
        edit_hint.setWordWrap(True)
        edit_hint.setStyleSheet("color:#555")
        form.addRow(edit_hint)
        self.edit_lat = QtWidgets.QDoubleSpinBox()
        self.edit_lon = QtWidgets.QDoubleSpinBox()
        self.edit_antenna = QtWidgets.QDoubleSpinBox()
        for box, lo, hi, dec, suffix in (
            (self.edit_lat, -90.0, 90.0, 4, " °"),
            (self.edit_lon, -180.0, 180.0, 4, " °"),
            (self.edit_antenna, 0.0, 1000.0, 1, " m"),
        ):
            box.setRange(lo, hi)
            box.setDecimals(dec)
            box.setSuffix(suffix)
            box.setKeyboardTracking(False)
        self.edit_lat.setObjectName("editLat")
        self.edit_lon.setObjectName("editLon")
        self.edit_antenna.setObjectName("editAntenna")
        form.addRow("latitude (N+)", self.edit_lat)
        form.addRow("longitude (E+)", self.edit_lon)
        form.addRow("antenna (AGL)", self.edit_antenna)
        buttons = QtWidgets.QHBoxLayout()
        self.edit_apply = QtWidgets.QPushButton("Apply")
        self.edit_reset = QtWidgets.QPushButton("File values")
        self.edit_reset.setToolTip("Back to the position and antenna height the scenario file gives")
        self.edit_apply.clicked.connect(self._apply_edit)
        self.edit_reset.clicked.connect(self._reset_edit)
        buttons.addWidget(self.edit_apply)
        buttons.addWidget(self.edit_reset)
        form.addRow(buttons)
        # a unit moved onto the sea is flagged (a land-based system there is unlikely)
        self.edit_warning = QtWidgets.QLabel()
        self.edit_warning.setObjectName("editWarning")
        self.edit_warning.setWordWrap(True)
        self.edit_warning.setStyleSheet("color:#a0522d")
        form.addRow(self.edit_warning)
        self.edit_box = edit
        layout.addWidget(edit)
        dock.setWidget(panel)
        dock.setMinimumWidth(200)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.units_dock = dock

    def _build_controls_dock(self) -> None:
        dock = QtWidgets.QDockWidget("Query and stats", self)
        dock.setObjectName("controlsDock")
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        panel = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 4, 4)

        alt_box = QtWidgets.QGroupBox("Target altitude")
        alt_layout = QtWidgets.QGridLayout(alt_box)
        self.altitude_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.altitude_slider.setObjectName("altitudeSlider")
        self.altitude_slider.setRange(0, SLIDER_STEPS)
        self.altitude_slider.setSingleStep(5)
        self.altitude_slider.setPageStep(50)
        self.altitude_slider.valueChanged.connect(self._on_altitude_slider)
        # type an exact altitude as well as slide (the log slider steps through rounded values)
        self.altitude_spin = QtWidgets.QDoubleSpinBox()
        self.altitude_spin.setObjectName("altitudeSpin")
        self.altitude_spin.setRange(ALTITUDE_MIN_M, ALTITUDE_MAX_M)
        self.altitude_spin.setDecimals(0)
        self.altitude_spin.setSuffix(" m")
        self.altitude_spin.setGroupSeparatorShown(True)
        self.altitude_spin.setKeyboardTracking(False)  # one redraw per typed value, not per digit
        self.altitude_spin.setMinimumWidth(100)
        self.altitude_spin.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.altitude_spin.valueChanged.connect(self._on_altitude_spin)
        self.ref_msl = QtWidgets.QRadioButton("above mean sea level (MSL)")
        self.ref_agl = QtWidgets.QRadioButton("above ground (AGL)")
        self.ref_msl.setObjectName("refMsl")
        self.ref_agl.setObjectName("refAgl")
        self.ref_group = QtWidgets.QButtonGroup(self)
        self.ref_group.addButton(self.ref_msl)
        self.ref_group.addButton(self.ref_agl)
        self.ref_msl.toggled.connect(lambda on: on and self.state.set(altitude_ref="msl"))
        self.ref_agl.toggled.connect(lambda on: on and self.state.set(altitude_ref="agl"))
        alt_layout.addWidget(self.altitude_slider, 0, 0)
        alt_layout.addWidget(self.altitude_spin, 0, 1)
        ticks = QtWidgets.QLabel("10 m · 100 m · 1 km · 10 km · 30 km (log scale)")
        ticks.setStyleSheet("color:#555")
        alt_layout.addWidget(ticks, 1, 0, 1, 2)
        alt_layout.addWidget(self.ref_msl, 2, 0, 1, 2)
        alt_layout.addWidget(self.ref_agl, 3, 0, 1, 2)
        layout.addWidget(alt_box)

        form = QtWidgets.QFormLayout()
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setObjectName("layerCombo")
        for layer, text in (("engagement", "engagement (weapons)"), ("detection", "detection (sensor)")):
            self.layer_combo.addItem(text, layer)
        self.layer_combo.currentIndexChanged.connect(lambda i: self.state.set(layer=self.layer_combo.itemData(i)))
        self.view_combo = QtWidgets.QComboBox()
        self.view_combo.setObjectName("viewCombo")
        for view in VIEWS:
            self.view_combo.addItem(VIEW_TITLES[view], view)
        self.view_combo.currentIndexChanged.connect(lambda i: self.state.set(view=self.view_combo.itemData(i)))
        self.against_combo = QtWidgets.QComboBox()
        self.against_combo.setObjectName("againstCombo")
        self.against_combo.addItem("current vs comparison scenario", "comparison")
        self.against_combo.addItem("scenario as loaded vs current", "loaded")
        self.against_combo.currentIndexChanged.connect(lambda i: self.state.set(difference_against=self.against_combo.itemData(i)))
        self.rings_check = QtWidgets.QCheckBox("dashed nominal range rings (flat, terrain-blind)")
        self.rings_check.setObjectName("ringsCheck")
        self.rings_check.toggled.connect(lambda on: self.state.set(show_rings=on))
        for combo in (self.layer_combo, self.view_combo, self.against_combo):
            combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        form.addRow("Layer", self.layer_combo)
        form.addRow("View", self.view_combo)
        form.addRow("Difference", self.against_combo)
        layout.addLayout(form)
        layout.addWidget(self.rings_check)

        time_box = QtWidgets.QGroupBox("As of (units' deployed / withdrawn dates)")
        time_layout = QtWidgets.QGridLayout(time_box)
        self.as_of_check = QtWidgets.QCheckBox("only units active on")
        self.as_of_check.setObjectName("asOfCheck")
        self.as_of_check.toggled.connect(self._on_as_of_toggled)
        self.as_of_label = QtWidgets.QLabel("—")
        self.as_of_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.as_of_slider.setObjectName("asOfSlider")
        self.as_of_slider.valueChanged.connect(self._on_as_of_slider)
        self._timeline_start: _dt.date | None = None
        self.events_label = QtWidgets.QLabel()
        self.events_label.setObjectName("eventsLabel")
        self.events_label.setWordWrap(True)
        self.events_label.setStyleSheet("color:#555")
        time_layout.addWidget(self.as_of_check, 0, 0)
        time_layout.addWidget(self.as_of_label, 0, 1)
        time_layout.addWidget(self.as_of_slider, 1, 0, 1, 2)
        time_layout.addWidget(self.events_label, 2, 0, 1, 2)
        layout.addWidget(time_box)

        stats_box = QtWidgets.QGroupBox("Stats")
        stats_layout = QtWidgets.QVBoxLayout(stats_box)
        self.stats_label = QtWidgets.QLabel()
        self.stats_label.setObjectName("statsLabel")
        self.stats_label.setWordWrap(True)
        self.stats_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.stats_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        stats_layout.addWidget(self.stats_label)
        self.area_plot = pg.PlotWidget(background="w", axisItems={"bottom": AltitudeAxis("bottom")})
        self.area_plot.setObjectName("areaPlot")
        self.area_plot.setMinimumHeight(170)
        self.area_plot.setLogMode(x=True, y=False)
        self.area_plot.setLabel("bottom", "target altitude")
        self.area_plot.setLabel("left", "covered (1000 km²)")
        self.area_plot.showGrid(x=True, y=True, alpha=0.2)
        self.area_plot.plotItem.setMenuEnabled(False)
        self.area_plot.plotItem.hideButtons()
        self.area_plot.addLegend(offset=(6, 6), labelTextSize="8pt", labelTextColor="#222222",
                                 brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen((160, 160, 160)))
        for side in ("left", "bottom"):
            self.area_plot.getAxis(side).setTextPen(pg.mkPen("#222222"))
            self.area_plot.getAxis(side).setPen(pg.mkPen("#444444"))
            # the altitude line moves at every step; axes and curves are kept as pixmaps
            self.area_plot.getAxis(side).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.area_curves = {}
        self.altitude_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#555", style=QtCore.Qt.PenStyle.DotLine))
        stats_layout.addWidget(self.area_plot, 1)
        layout.addWidget(stats_box, 1)
        dock.setWidget(panel)
        dock.setMinimumWidth(260)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.controls_dock = dock

    def _build_profile_dock(self) -> None:
        dock = QtWidgets.QDockWidget("Line-of-sight profile", self)
        dock.setObjectName("profileDock")
        self.profile_view = ProfileView()
        dock.setWidget(self.profile_view)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        # side panels keep the full height; the profile sits under the map only
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        dock.hide()
        self.profile_dock = dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.cursor_label = QtWidgets.QLabel()
        self.cursor_label.setObjectName("cursorLabel")
        bar.addWidget(self.cursor_label, 1)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.progress.setFormat("%p%")
        self.progress_label = QtWidgets.QLabel()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.clicked.connect(self.cancel_work)
        for w in (self.progress_label, self.progress, self.cancel_button):
            bar.addPermanentWidget(w)
            w.hide()

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
        view_menu = bar.addMenu("&View")
        self.view_actions = QtGui.QActionGroup(self)
        for view in VIEWS:
            act = view_menu.addAction(VIEW_TITLES[view])
            act.setCheckable(True)
            act.setData(view)
            act.triggered.connect(lambda checked=False, v=view: self.state.set(view=v))
            self.view_actions.addAction(act)
        view_menu.addSeparator()
        view_menu.addAction(self.units_dock.toggleViewAction())
        view_menu.addAction(self.controls_dock.toggleViewAction())
        view_menu.addAction(self.profile_dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("About adcov", self._about)
        self._refresh_recent_menu()

    def _set_enabled(self, on: bool) -> None:
        for w in (self.units_dock.widget(), self.controls_dock.widget()):
            w.setEnabled(on)
        for act in (self.act_save, self.act_compare, self.act_export_view):
            act.setEnabled(on)
        for act in (self.act_export_map, self.act_export_geojson, self.act_export_kml):
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
        task = Task(_load, path, cache=self.cache, resolution_m=self.resolution_m, label=f"opening {path.name}")
        task.signals.finished.connect(lambda result, p=path, c=comparison: self._on_loaded(p, result, c))
        task.signals.failed.connect(lambda exc: self._report("Cannot open the scenario", exc))
        task.signals.failed.connect(lambda exc: self._loading_done())
        task.signals.cancelled.connect(self._loading_done)
        # the map says what it is waiting for (line of sight can take a while on fine terrain)
        self._loading_name = path.name
        self.map_title.setText(f"Loading {path.name}: reading the scenario…")
        self._watch(task)
        self._load_task = task
        self.runner.start(task)
        return task

    def _loading_done(self) -> None:
        self._loading_name = None

    def _on_loaded(self, path: Path, result, comparison) -> None:
        session, rgb, coast, context = result
        self._loading_done()
        self.session = session
        self._saved_edits = {}
        self._close_confirmed = False
        self._good_edits = {}
        self._edit_tasks = {}
        self._curves_cache = {}
        self.map.set_grid(session.coverage.grid, rgb, coast, context=context)
        self.map.set_town_sites([(u.lat_deg, u.lon_deg) for u in session.units])
        defaults = session.default_state()
        defaults.update(scenario_path=path, comparison_path=None, difference_against="loaded")
        self._updating = True
        try:
            self.state.set(**defaults)
        finally:
            self._updating = False
        self._populate_units()
        self._setup_timeline()
        self._set_enabled(True)
        title = session.scenario.title or session.scenario.name
        self.setWindowTitle(f"adcov — {session.scenario.name}: {title}")
        self._add_recent(path)
        self.profile_view.clear("Click the map to draw the line of sight from the selected unit to that point.")
        self.map.set_profile_line()
        self._profile_request = None
        self._sync_widgets_from_state()
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
        task = Task(_load_comparison, path, session.coverage, cache=self.cache, label=f"opening {path.name}")
        task.signals.finished.connect(lambda side, s=session, p=path: self._on_comparison_loaded(s, p, side))
        task.signals.failed.connect(lambda exc: self._report("Cannot open the comparison scenario", exc))
        self._watch(task)
        self.runner.start(task)
        return task

    def _on_comparison_loaded(self, session, path: Path, side) -> None:
        if session is not self.session:
            return  # another scenario was opened meanwhile
        session.comparison = side
        self._curves_cache.pop("comparison", None)
        self._setup_timeline()
        self.state.set(comparison_path=path, difference_against="comparison")
        self._set_enabled(True)
        self._sync_widgets_from_state()
        self.refresh(now=True)

    def clear_comparison(self) -> None:
        if self.session is not None:
            self.session.comparison = None
            self.state.set(comparison_path=None, difference_against="loaded")
            self._set_enabled(True)
            self._sync_widgets_from_state()
            self.refresh(now=True)

    def _watch(self, task: Task) -> None:
        task.signals.progress.connect(self._on_progress)
        self.progress_label.setText(task.label)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress_label.setText(message)
        if self._loading_name:
            self.map_title.setText(f"Loading {self._loading_name}: {message} ({fraction:.0%})")

    def _on_busy_changed(self, busy: bool) -> None:
        for w in (self.progress_label, self.progress, self.cancel_button):
            w.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def cancel_work(self) -> None:
        self.runner.cancel_all()
        self.statusBar().showMessage("cancelled", 3000)

    def _report(self, title: str, exc: BaseException) -> None:
        self.last_error = exc
        self.last_error_dialog = self.show_error(self, title, exc)

    # ================================================================== units panel
    def _populate_units(self) -> None:
        session = self.session
        self.units.blockSignals(True)
        self.units.clear()
        self.unit_items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        for system_id in session.system_ids():
            system = session.catalog.get(system_id)
            group = QtWidgets.QTreeWidgetItem([f"{system.name}"])
            group.setIcon(0, self._dot_icon(session.system_colour(system_id)))
            group.setFlags(group.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable | QtCore.Qt.ItemFlag.ItemIsAutoTristate)
            group.setData(0, QtCore.Qt.ItemDataRole.UserRole, None)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            self.units.addTopLevelItem(group)
            for unit in session.units:
                if unit.system_id != system_id:
                    continue
                item = QtWidgets.QTreeWidgetItem([unit.id])
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
                item.setData(0, QtCore.Qt.ItemDataRole.UserRole, unit.id)
                item.setCheckState(0, QtCore.Qt.CheckState.Checked)
                group.addChild(item)
                self.unit_items[unit.id] = item
            group.setExpanded(True)
        gone = session.scenario.withdrawn_units
        if gone:
            group = QtWidgets.QTreeWidgetItem(["Withdrawn in the scenario file"])
            group.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            group.setToolTip(0, "Units the file withdraws (withdraw:); open the scenario it extends to restore them.")
            self.units.addTopLevelItem(group)
            for unit in gone:
                when = f", {unit.withdrawn.isoformat()}" if unit.withdrawn else ""
                item = QtWidgets.QTreeWidgetItem([f"{unit.id} ({unit.system_name}{when})"])
                item.setFlags(QtCore.Qt.ItemFlag.NoItemFlags)
                item.setToolTip(0, "Withdrawn by the scenario file" + (": " + ", ".join(unit.sources) if unit.sources else ""))
                group.addChild(item)
            group.setExpanded(True)
        self.units.blockSignals(False)
        self._sync_unit_items()

    @staticmethod
    def _dot_icon(colour: str) -> QtGui.QIcon:
        pix = QtGui.QPixmap(14, 14)
        pix.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(pix)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setBrush(QtGui.QColor(colour))
        painter.setPen(QtGui.QPen(QtGui.QColor("#000000"), 1))
        painter.drawEllipse(1, 1, 12, 12)
        painter.end()
        return QtGui.QIcon(pix)

    def _sync_unit_items(self) -> None:
        """Check boxes, greying and tooltips from the state."""
        if self.session is None:
            return
        self.units.blockSignals(True)
        try:
            day = self.state.as_of
            for uid, item in self.unit_items.items():
                unit = self.session.unit(uid)
                checked = uid not in self.state.withdrawn
                item.setCheckState(0, QtCore.Qt.CheckState.Checked if checked else QtCore.Qt.CheckState.Unchecked)
                dated_out = day is not None and not unit.active_on(day)
                edited = uid in self.state.edits
                text = uid + (" (edited)" if edited else "") + (f" — not active on {day.isoformat()}" if dated_out else "")
                item.setText(0, text)
                item.setForeground(0, QtGui.QBrush(QtGui.QColor("#888888" if dated_out else "#000000")))
                dates = f"deployed {unit.deployed or 'unknown'}, withdrawn {unit.withdrawn or '—'}"
                item.setToolTip(0, f"{uid}: {unit.system_name}; {dates}")
                if self.state.selected_unit == uid and self.units.currentItem() is not item:
                    self.units.setCurrentItem(item)
            for i in range(self.units.topLevelItemCount()):
                group = self.units.topLevelItem(i)
                if group.flags() & QtCore.Qt.ItemFlag.ItemIsAutoTristate:
                    states = {group.child(j).checkState(0) for j in range(group.childCount())}
                    if len(states) == 1:
                        group.setCheckState(0, states.pop())
                    else:
                        group.setCheckState(0, QtCore.Qt.CheckState.PartiallyChecked)
        finally:
            self.units.blockSignals(False)

    def _on_unit_item_changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        uid = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
        if uid is None or self._updating:
            return
        self.state.set_unit_active(uid, item.checkState(0) == QtCore.Qt.CheckState.Checked)

    def _on_unit_current_changed(self, current, previous) -> None:
        uid = current.data(0, QtCore.Qt.ItemDataRole.UserRole) if current is not None else None
        if uid is not None and not self._updating:
            self.state.set(selected_unit=uid)

    def _show_unit_details(self) -> None:
        uid = self.state.selected_unit
        session = self.session
        if session is None or uid is None or uid not in session.unit_ids:
            self._set_details_html("<i>Select a unit (list or marker) to see its system, figures and sources.</i>")
            self.edit_box.setEnabled(False)
            return
        self._set_details_html(model.unit_details_html(session, uid, self.state.edits))
        figures = session.figures_for(uid, self.state.edits.get(uid))
        grid = session.coverage.grid
        west, south, east, north = grid.bounds_deg
        for box, value, lo, hi in (
            (self.edit_lat, figures.lat_deg, south, north),
            (self.edit_lon, figures.lon_deg, west, east),
        ):
            box.blockSignals(True)
            box.setRange(lo, hi)
            box.setValue(value)
            box.blockSignals(False)
        self.edit_antenna.blockSignals(True)
        self.edit_antenna.setValue(figures.antenna_height_m)
        self.edit_antenna.blockSignals(False)
        self.edit_box.setEnabled(True)
        self.edit_reset.setEnabled(uid in self.state.edits)

    def _set_details_html(self, html: str) -> None:
        # every state change passes here (each altitude step): re-laying out unchanged text
        # repaints the panel for nothing
        if html != self._details_html:
            self._details_html = html
            self.details.setHtml(html)

    def _apply_edit(self) -> None:
        uid = self.state.selected_unit
        if self.session is None or uid is None:
            return
        self.edit_unit(uid, lat_deg=self.edit_lat.value(), lon_deg=self.edit_lon.value(), antenna_height_m=self.edit_antenna.value())

    def edit_unit(self, unit_id: str, **fields: float) -> None:
        """Move a unit or change its antenna height; only the fields that differ from the file count."""
        original = self.session.coverage.envelopes[unit_id].figures
        file_values = {"lat_deg": original.lat_deg, "lon_deg": original.lon_deg, "antenna_height_m": original.antenna_height_m}
        merged = {**dict(self.state.edits.get(unit_id, {})), **fields}
        changed = {k: float(v) for k, v in merged.items() if abs(float(v) - file_values[k]) > 1e-9}
        edits = {k: dict(v) for k, v in self.state.edits.items() if k != unit_id}
        if changed:
            edits[unit_id] = changed
        self.state.set(edits=edits)

    def _reset_edit(self) -> None:
        if self.state.selected_unit:
            self.state.clear_edit(self.state.selected_unit)

    def _on_marker_moved(self, unit_id: str, lon: float, lat: float) -> None:
        self.state.set(selected_unit=unit_id)
        self.edit_unit(unit_id, lat_deg=round(lat, 5), lon_deg=round(lon, 5))

    def _ensure_envelopes(self) -> None:
        """Start a background build for every edited unit whose envelope is missing."""
        session = self.session
        if session is None:
            return
        for uid in session.pending_edits(self.state):
            fields = dict(self.state.edits[uid])
            key = session._edit_key(uid, fields)
            if key in self._edit_tasks:
                continue
            task = Task(_build_edit, session, uid, fields, cache=self.cache, label=f"recomputing {uid}")
            task.signals.finished.connect(lambda result, s=session, k=key: self._on_edit_built(s, k, result))
            task.signals.failed.connect(lambda exc, s=session, k=key, u=uid: self._on_edit_failed(s, k, u, exc))
            task.signals.cancelled.connect(lambda s=session, k=key, u=uid: self._on_edit_failed(s, k, u, None))
            self._edit_tasks[key] = task
            self._watch(task)
            self.runner.start(task)

    def _on_edit_built(self, session, key, result) -> None:
        self._edit_tasks.pop(key, None)
        if session is not self.session:
            return
        uid, fields, env = result
        session.store_edited_envelope(uid, fields, env)
        self._good_edits[uid] = fields
        self._flag_sea(uid, env)
        self.refresh(now=True)

    def _flag_sea(self, uid: str, env) -> None:
        """Say so when an edit puts a unit on the sea (terrain at or below 0 m at its site)."""
        if env.los.site_terrain_m <= 0.0:
            text = (f"⚠ {uid} now stands on the sea (terrain {env.los.site_terrain_m:.0f} m at "
                    f"{model.format_lat_lon(env.figures.lat_deg, env.figures.lon_deg)}): a land-based unit there is unlikely")
            self.statusBar().showMessage(text, 15000)
        else:
            text = ""
        self.edit_warning.setText(text)

    def _on_edit_failed(self, session, key, uid, exc) -> None:
        self._edit_tasks.pop(key, None)
        if session is not self.session:
            return
        edits = {k: dict(v) for k, v in self.state.edits.items() if k != uid}
        if uid in self._good_edits:
            edits[uid] = self._good_edits[uid]
        self.state.set(edits=edits)  # back to the last good state of that unit
        if exc is not None:
            self._report(f"Cannot recompute {uid}", exc)

    # ================================================================== controls
    def _on_altitude_slider(self, value: int) -> None:
        altitude = slider_to_altitude(value)
        if not self._updating:
            self.state.set(altitude_m=altitude)

    def _on_altitude_spin(self, value: float) -> None:
        if not self._updating:
            self.state.set(altitude_m=float(value))

    def _setup_timeline(self) -> None:
        bounds = self.session.timeline_bounds() if self.session else None
        events = self.session.event_dates() if self.session else []
        self.events_label.setText(
            "unit dates: " + ", ".join(d.isoformat() for d in events) if events else "no unit has dates"
        )
        self.as_of_check.setEnabled(bounds is not None)
        self.as_of_slider.setEnabled(bounds is not None)
        if bounds is None:
            self._timeline_start = None
            return
        start, end = bounds
        self._timeline_start = start
        self.as_of_slider.blockSignals(True)
        self.as_of_slider.setRange(0, (end - start).days)
        self.as_of_slider.setPageStep(90)
        self.as_of_slider.blockSignals(False)

    def _on_as_of_toggled(self, on: bool) -> None:
        if self._updating or self._timeline_start is None:
            return
        if on:
            self.state.set(as_of=self._timeline_start + _dt.timedelta(days=self.as_of_slider.value()))
        else:
            self.state.set(as_of=None)

    def _on_as_of_slider(self, value: int) -> None:
        if self._timeline_start is None:
            return
        day = self._timeline_start + _dt.timedelta(days=value)
        self.as_of_label.setText(day.isoformat())
        if not self._updating and self.as_of_check.isChecked():
            self.state.set(as_of=day)

    def _sync_widgets_from_state(self) -> None:
        """Every control from the state (signals blocked: no feedback loop)."""
        s = self.state
        self._updating = True
        try:
            self.altitude_slider.setValue(altitude_to_slider(s.altitude_m))
            self.altitude_spin.setValue(s.altitude_m)
            (self.ref_msl if s.altitude_ref == "msl" else self.ref_agl).setChecked(True)
            self.layer_combo.setCurrentIndex(self.layer_combo.findData(s.layer))
            self.view_combo.setCurrentIndex(self.view_combo.findData(s.view))
            for act in self.view_actions.actions():
                act.setChecked(act.data() == s.view)
            has_comparison = self.session is not None and self.session.comparison is not None
            model_ = self.against_combo.model()
            model_.item(0).setEnabled(has_comparison)
            against = s.difference_against if (has_comparison or s.difference_against == "loaded") else "loaded"
            self.against_combo.setCurrentIndex(self.against_combo.findData(against))
            if has_comparison:
                self.against_combo.setItemText(0, f"current vs {self.session.comparison.name}")
            else:
                self.against_combo.setItemText(0, "current vs comparison (File ▸ Compare with…)")
            self.rings_check.setChecked(s.show_rings)
            if self._timeline_start is not None:
                self.as_of_check.setChecked(s.as_of is not None)
                if s.as_of is not None:
                    self.as_of_slider.setValue((s.as_of - self._timeline_start).days)
                    self.as_of_label.setText(s.as_of.isoformat())
            else:
                self.as_of_check.setChecked(False)
                self.as_of_label.setText("no dates in this scenario")
        finally:
            self._updating = False
        self._sync_unit_items()
        self._show_unit_details()

    # ================================================================== state -> view
    def _on_state_changed(self, changes) -> None:
        if self._updating:
            return
        self._sync_widgets_from_state()
        if self.session is None:
            return
        if "edits" in changes:
            self._ensure_envelopes()
        if set(changes) <= {"altitude_m", "as_of"}:
            self._pending_overlay = True
            self._debounce.start()
        elif set(changes) <= {"selected_unit"}:
            self._refresh_markers()
        else:
            self.refresh(now=True)

    def flush(self, curves: bool = True) -> None:
        """Run any debounced redraw now (tests, benchmarks, screenshots)."""
        if self._debounce.isActive() or self._pending_overlay:
            self._debounce.stop()
            self.refresh(now=True)
        if curves and self._curve_timer.isActive():
            self._curve_timer.stop()
            self._refresh_curves()

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
        self.map.set_overlay(overlay.index, overlay.lut)
        pending = session.pending_edits(self.state)
        note = f" — recomputing {', '.join(pending)}…" if pending else ""
        self.map_title.setText(overlay.title + note)
        self.stats_label.setText(stats.text())
        self._refresh_markers()
        self._refresh_legend(overlay)
        self.altitude_line.setValue(math.log10(self.state.altitude_m))
        self._curve_timer.start()
        self._refresh_profile()
        self.overlay_updated.emit()

    def _refresh_profile(self) -> None:
        """Redraw the shown profile when its unit's envelope changed (an applied edit, a drag,
        back to the file's values), so its text and line always describe the unit as it is."""
        request = self._profile_request
        if request is None or self.session is None:
            return
        lat, lon, uid, figures = request
        if uid not in self.session.unit_ids:
            return
        env = self.session.envelope(uid, self.state.edits)
        if env.figures != figures:
            self.show_profile(lat, lon, uid)

    def _marker_colour(self, uid: str) -> str:
        if self.state.view in ("sole", "which-unit"):
            return self.session.unit_colour(uid)
        return self.session.system_colour(self.session.unit(uid).system_id)

    def _refresh_markers(self) -> None:
        session = self.session
        if session is None:
            return
        active = set(session.active_ids(self.state))
        gone_in = None
        if self.state.view == "difference" and self.state.difference_against == "comparison" and session.comparison is not None:
            gone_in = session.comparison
        units, rings = [], []
        for unit in session.units:
            fields = self.state.edits.get(unit.id)
            shown = session.unit_with_edits(unit.id, fields)
            colour = self._marker_colour(unit.id)
            label = unit.id if unit.id in active else f"{unit.id} (off)"
            if gone_in is not None and unit.id in active and unit.id not in gone_in.coverage.envelopes:
                label += f" (not in {gone_in.name})"
            units.append({
                "unit_id": unit.id, "lon_deg": shown.lon_deg, "lat_deg": shown.lat_deg, "colour": colour,
                "label": label, "active": unit.id in active,
                "selected": unit.id == self.state.selected_unit,
            })
            if self.state.show_rings and unit.id in active:
                radius = model.nominal_range_km(session.envelope(unit.id, self.state.edits).figures, self.state.layer)
                if radius:
                    lon, lat = model.range_ring_lonlat(shown.lat_deg, shown.lon_deg, radius)
                    rings.append((lon, lat, colour))
        self.map.set_units(units)
        self.map.set_rings(rings)

    def _refresh_legend(self, overlay: model.Overlay) -> None:
        session = self.session
        nb = lambda text: text.replace(" ", "&nbsp;")
        items = [f"{_swatch(_blend_on_white(e.rgba), e.kind)}&nbsp;{nb(e.label)}" for e in overlay.legend]
        if self.state.view in ("sole", "which-unit"):
            markers = nb("markers: colour of their unit")
        else:
            markers = "markers by system: " + ", ".join(
                f"{_swatch(session.system_colour(s), 'marker')}&nbsp;{nb(session.catalog.get(s).name)}" for s in session.system_ids()
            )
        items.append(markers)
        if self.state.show_rings:
            ring_kind = "detection range" if self.state.layer == "detection" else "longest weapon range"
            items.append(f"{_swatch('#444444', 'line')}&nbsp;{nb(f'nominal {ring_kind} (flat, no terrain)')}")
        sea = "#{:02x}{:02x}{:02x}".format(*model.SEA)
        items.append(f"{_swatch(sea)}&nbsp;sea")
        self.legend.setText("&nbsp;&nbsp;&nbsp; ".join(items))

    def _refresh_curves(self) -> None:
        session = self.session
        if session is None:
            return
        s = self.state
        key = (s.layer, s.altitude_ref)
        alts = np.array(model.CURVE_ALTITUDES_M)
        if self._curves_cache.get("key") != key:
            self._curves_cache = {"key": key}
        if "loaded" not in self._curves_cache:
            self._curves_cache["loaded"] = model.area_curve(session.loaded_coverage(), s.layer, s.altitude_ref)
        if session.comparison is not None and "comparison" not in self._curves_cache:
            self._curves_cache["comparison"] = model.area_curve(session.comparison.coverage, s.layer, s.altitude_ref)
        current = model.area_curve(session.current_coverage(s), s.layer, s.altitude_ref)
        plot = self.area_plot
        plot.clear()
        plot.plotItem.legend.clear()
        plot.plot(alts, current / 1000.0, pen=pg.mkPen(model.KEPT, width=2.5), name="current", antialias=True)
        plot.plot(alts, self._curves_cache["loaded"] / 1000.0, pen=pg.mkPen("#333333", width=2, style=QtCore.Qt.PenStyle.DashLine),
                  name="baseline (as loaded)", antialias=True)
        if session.comparison is not None:
            plot.plot(alts, self._curves_cache["comparison"] / 1000.0, pen=pg.mkPen(model.LOST, width=2),
                      name=session.comparison.name, antialias=True)
        for item in plot.listDataItems():
            item.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.addItem(self.altitude_line)
        self.altitude_line.setValue(math.log10(s.altitude_m))
        plot.setLabel("bottom", f"target altitude ({s.altitude_ref.upper()}), {s.layer}")
        self.area_curves = {"altitudes_m": alts, "current": current, **{k: v for k, v in self._curves_cache.items() if k != "key"}}

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
        from simulator.profile import line_of_sight_profile

        session = self.session
        uid = unit_id or self.state.selected_unit
        if uid is None or uid not in session.unit_ids:
            active = session.active_ids(self.state)
            uid = active[0] if active else (session.unit_ids[0] if session.unit_ids else None)
        if uid is None:
            return None
        env = session.envelope(uid, self.state.edits)
        coverage = dataclasses_replace_coverage(session, uid, env)
        try:
            profile = line_of_sight_profile(coverage, env.figures, session.scenario.k_factor, lat_deg, lon_deg)
        except AdcovError as exc:
            self._report("Cannot draw the profile", exc)
            return None
        if not self.profile_dock.isVisible():
            self.profile_dock.show()
            self.resizeDocks([self.profile_dock], [max(240, self.height() // 3)], QtCore.Qt.Orientation.Vertical)
        self.profile_view.show_profile(profile)
        self.map.set_profile_line([profile.site_lon_deg, lon_deg], [profile.site_lat_deg, lat_deg])
        self._profile_request = (lat_deg, lon_deg, uid, env.figures)
        return profile

    # ================================================================== saving and export
    def save_scenario_as(self, path: str | os.PathLike | None = None):
        """Write the current state as a scenario file extending the open one."""
        if self.session is None:
            return None
        if path is None:
            default = self.state.scenario_path.with_name(f"{self.session.scenario.name}-variant.yaml")
            path = dialogs.choose_save_file(self, "Save scenario as", str(default))
            if not path:
                return None
        try:
            scenario = model.save_variant(self.session, self.state, path)
        except AdcovError as exc:
            self._report("Cannot save the scenario", exc)
            return None
        self.statusBar().showMessage(f"saved {path}: re-run with `adcov run {path}`", 8000)
        self._add_recent(Path(path))
        self._saved_edits = {k: dict(v) for k, v in self.state.edits.items()}
        return scenario

    def _atomic_write_text(self, path: Path, text: str) -> None:
        write_bytes_atomically(Path(path), text.encode("utf-8"))

    def _export_subject(self):
        """(coverage, comparison or None) the exports describe: the view's."""
        if self.state.view == "difference":
            comparison, _ = model.difference_masks(self.session, self.state)
            return comparison.baseline, comparison
        return self.session.current_coverage(self.state), None

    def export_map_png(self, path: str | os.PathLike | None = None) -> Task | None:
        """A publication map through ``simulator.export.render_map_png`` (in the background)."""
        if self.session is None:
            return None
        if path is None:
            path = dialogs.choose_save_file(self, "Export map", "", "PNG images (*.png)")
            if not path:
                return None
        s = self.state
        try:
            coverage, comparison = self._export_subject()
        except AdcovError as exc:
            self._report("Cannot export the map", exc)
            return None
        kwargs = {"coverage": coverage, "layer": s.layer, "altitude_m": s.altitude_m, "altitude_ref": s.altitude_ref,
                  "title": self.current_overlay.title if self.current_overlay else None}
        if comparison is not None:
            change = comparison.change(s.layer, s.altitude_m)
            kwargs.update(baseline_mask=change.baseline_cells, variant_mask=change.variant_cells,
                          names=(comparison.baseline_name, comparison.variant_name))
        task = Task(_render_png, Path(path), kwargs, label="exporting the map")
        task.signals.finished.connect(lambda out: self.statusBar().showMessage(f"map written to {out}", 8000))
        task.signals.failed.connect(lambda exc: self._report("Cannot export the map", exc))
        self._watch(task)
        self.runner.start(task)
        return task

    def export_view_png(self, path: str | os.PathLike | None = None) -> Path | None:
        """The map panel as on screen (title, map, legend)."""
        if path is None:
            path = dialogs.choose_save_file(self, "Export view", "", "PNG images (*.png)")
            if not path:
                return None
        self.flush()
        pixmap = self.centralWidget().grab()
        if not pixmap.save(str(path), "PNG"):
            self._report("Cannot export the view", AdcovError(f"{path}: cannot write the PNG file"))
            return None
        return Path(path)

    def _features(self):
        s = self.state
        coverage, comparison = self._export_subject()
        if comparison is not None:
            return comparison, _export.comparison_features(comparison, s.layer, s.altitude_m)
        return coverage, _export.coverage_features(coverage, s.layer, s.altitude_m, s.altitude_ref, scenario=self.session.scenario.name)

    def export_geojson(self, path: str | os.PathLike | None = None) -> Path | None:
        if self.session is None:
            return None
        if path is None:
            path = dialogs.choose_save_file(self, "Export GeoJSON", "", "GeoJSON (*.geojson *.json)")
            if not path:
                return None
        s = self.state
        try:
            coverage, comparison = self._export_subject()
            if comparison is not None:
                collection = _export.comparison_geojson(comparison)
            else:
                collection = _export.coverage_geojson(coverage, s.layer, [s.altitude_m], s.altitude_ref)
            self._atomic_write_text(Path(path), json.dumps(collection, default=_json_default))
        except (AdcovError, OSError) as exc:
            self._report("Cannot export GeoJSON", exc if isinstance(exc, AdcovError) else AdcovError(f"{path}: {exc}"))
            return None
        self.statusBar().showMessage(f"GeoJSON written to {path}", 8000)
        return Path(path)

    def export_kml(self, path: str | os.PathLike | None = None) -> Path | None:
        if self.session is None:
            return None
        if path is None:
            path = dialogs.choose_save_file(self, "Export KML", "", "KML (*.kml);;KMZ (*.kmz)")
            if not path:
                return None
        s = self.state
        try:
            subject, features = self._features()
            folder = (s.layer.capitalize(), f"{s.altitude_m:g} m {s.altitude_ref.upper()}")
            assumptions = _export.assumptions_text(subject.baseline if hasattr(subject, "baseline") else subject)
            _export.write_kml(path, [(folder, features)], kmz=str(path).lower().endswith(".kmz"),
                              name=self.current_overlay.title if self.current_overlay else "adcov", description=assumptions)
        except (AdcovError, OSError) as exc:
            self._report("Cannot export KML", exc if isinstance(exc, AdcovError) else AdcovError(f"{path}: {exc}"))
            return None
        self.statusBar().showMessage(f"KML written to {path}", 8000)
        return Path(path)

    # ================================================================== recent files, drops
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        text = str(Path(path).resolve())
        recent = [text] + [p for p in self.recent_files() if p != text]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for p in recent:
            self.recent_menu.addAction(p, lambda checked=False, p=p: self.open_scenario(p))
        if not recent:
            act = self.recent_menu.addAction("(none yet)")
            act.setEnabled(False)

    def dragEnterEvent(self, event) -> None:
        if any(u.isLocalFile() and u.toLocalFile().lower().endswith((".yaml", ".yml")) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and url.toLocalFile().lower().endswith((".yaml", ".yml")):
                self.open_scenario(url.toLocalFile())
                event.acceptProposedAction()
                return

    # ================================================================== misc
    def _about(self) -> None:
        from simulator import __version__

        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("About adcov")
        box.setText(
            f"adcov {__version__}: air-defense coverage over real terrain from published nominal figures.\n"
            "Everything shown comes from the simulator API that the `adcov` command uses."
        )
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.open()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_docks_sized", False):
            self._docks_sized = True
            self.resizeDocks([self.units_dock, self.controls_dock], [280, 340], QtCore.Qt.Orientation.Horizontal)

    def unsaved_edits(self) -> bool:
        """Whether units were moved or changed since the scenario was opened or last saved."""
        edits = {k: dict(v) for k, v in self.state.edits.items()} if self.session is not None else {}
        return bool(edits) and edits != self._saved_edits

    def closeEvent(self, event) -> None:
        if self.confirm_close and self.unsaved_edits() and not self._close_confirmed:
            event.ignore()
            self._ask_before_closing()
            return
        self.runner.shutdown(10.0)
        super().closeEvent(event)

    def _ask_before_closing(self) -> QtWidgets.QMessageBox:
        """Save, discard or keep working (a window-modal box opened with ``open()``)."""
        box = QtWidgets.QMessageBox(self)
        box.setObjectName("unsavedEditsDialog")
        box.setIcon(QtWidgets.QMessageBox.Icon.Question)
        box.setWindowTitle("Unsaved edits")
        moved = ", ".join(sorted(self.state.edits))
        box.setText(f"Units changed since the scenario was opened or saved: {moved}.\n"
                    "Save them as a variant scenario before quitting?")
        box.setStandardButtons(QtWidgets.QMessageBox.StandardButton.Save | QtWidgets.QMessageBox.StandardButton.Discard
                               | QtWidgets.QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QtWidgets.QMessageBox.StandardButton.Save)

        def answered(button) -> None:
            role = box.standardButton(button)
            if role == QtWidgets.QMessageBox.StandardButton.Discard:
                self._close_confirmed = True
                self.close()
            elif role == QtWidgets.QMessageBox.StandardButton.Save:
                if self.save_scenario_as() is not None:
                    self._close_confirmed = True
                    self.close()

        box.buttonClicked.connect(answered)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.unsaved_dialog = box
        box.open()
        return box


def dataclasses_replace_coverage(session, unit_id, envelope):
    """A coverage holding one unit's current envelope (for its profile's envelope floor)."""
    import dataclasses

    return dataclasses.replace(session.coverage, envelopes={unit_id: envelope})


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (Path, _dt.date)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def default_scenarios() -> tuple[Path, Path]:
    """The scenario and comparison ``adcov-gui`` opens with no argument."""
    return bundled_scenario("kurils-2020"), bundled_scenario("kurils-2023")

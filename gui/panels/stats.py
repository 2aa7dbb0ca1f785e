"""The stats panel: covered areas for the current settings, and covered area against target
altitude (current units, the scenario as loaded, the comparison scenario).

It follows the state by itself: its numbers are computed again after a change, as the
map's overlay (:class:`~gui.panels.redraw.Redraw`: at once, or after a quiet time while the
altitude slider or the day moves; not for a new selection); the curve, 31 altitudes, waits
for its own quiet time (:data:`CURVE_DEBOUNCE_MS`) and reads the state's layer, altitude
reference and units. The curves of the scenario as loaded and of the comparison are
remembered for the session and comparison they were computed for. It writes nothing: the
exports it describes are menu actions of the window.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from gui import model
from gui.panels.redraw import Redraw
from gui.state import ViewState
from simulator.errors import AdcovError

#: Quiet time before the area-vs-altitude curve is recomputed. [ms]
CURVE_DEBOUNCE_MS = 150


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


def _raise(title: str, exc: BaseException) -> None:
    raise exc


class StatsPanel(QtWidgets.QGroupBox):
    """Stats text and the area-vs-altitude chart of the open session (``session()``);
    ``report(title, exc)`` shows an error (default: raise it)."""

    def __init__(self, state: ViewState, session: Callable[[], model.Session | None], *,
                 report: Callable[[str, BaseException], None] | None = None, parent=None):
        super().__init__("Stats", parent)
        self.state = state
        self._session = session
        self._report = report or _raise
        #: the stats on screen (None: none computed yet)
        self.current_stats: model.Stats | None = None
        #: the curves last drawn (altitudes_m, current, loaded and comparison km²)
        self.area_curves: dict = {}
        self._curves_cache: dict = {}
        self._curve_timer = QtCore.QTimer(self)
        self._curve_timer.setSingleShot(True)
        self._curve_timer.setInterval(CURVE_DEBOUNCE_MS)
        self._curve_timer.timeout.connect(self.refresh_curves)
        layout = QtWidgets.QVBoxLayout(self)
        self.stats_label = QtWidgets.QLabel()
        self.stats_label.setObjectName("statsLabel")
        self.stats_label.setWordWrap(True)
        self.stats_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.stats_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.stats_label)
        self.area_plot = self._build_plot()
        self.altitude_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#555", style=QtCore.Qt.PenStyle.DotLine))
        layout.addWidget(self.area_plot, 1)
        self.redraw = Redraw(state, session, self.draw, parent=self)

    @staticmethod
    def _build_plot() -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w", axisItems={"bottom": AltitudeAxis("bottom")})
        plot.setObjectName("areaPlot")
        plot.setMinimumHeight(170)
        plot.setLogMode(x=True, y=False)
        plot.setLabel("bottom", "target altitude")
        plot.setLabel("left", "covered (1000 km²)")
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.plotItem.setMenuEnabled(False)
        plot.plotItem.hideButtons()
        plot.addLegend(offset=(6, 6), labelTextSize="8pt", labelTextColor="#222222",
                       brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen((160, 160, 160)))
        for side in ("left", "bottom"):
            plot.getAxis(side).setTextPen(pg.mkPen("#222222"))
            plot.getAxis(side).setPen(pg.mkPen("#444444"))
            # the altitude line moves at every step; axes and curves are kept as pixmaps
            plot.getAxis(side).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        return plot

    # ------------------------------------------------------------------ state -> panel
    def draw(self) -> None:
        """Compute the state's stats and show them now (a redraw waiting for its quiet time
        included); a failure is reported and leaves the last good numbers on screen."""
        self.redraw.cancel()
        session = self._session()
        if session is None:
            return
        try:
            stats = model.stats_for(session, self.state)
        except AdcovError as exc:
            self._report("Cannot draw this view", exc)
            return
        self.current_stats = stats
        self.show_stats(stats)

    def show_stats(self, stats: model.Stats) -> None:
        """Areas just computed; the curve follows after its quiet time."""
        self.stats_label.setText(stats.text())
        self.altitude_line.setValue(math.log10(self.state.altitude_m))
        self._curve_timer.start()

    def flush(self, curves: bool = True) -> None:
        """Draw the waiting numbers, and with ``curves`` the waiting curve, now (tests,
        benchmarks, screenshots)."""
        self.redraw.flush()
        if curves and self._curve_timer.isActive():
            self._curve_timer.stop()
            self.refresh_curves()

    def refresh_curves(self) -> None:
        """Covered area at :data:`gui.model.CURVE_ALTITUDES_M` for the state's layer and
        reference: current units, and the loaded and comparison scenarios (remembered)."""
        session = self._session()
        if session is None:
            return
        s = self.state
        key = (s.layer, s.altitude_ref)
        alts = np.array(model.CURVE_ALTITUDES_M)
        cache = self._curves_cache
        if cache.get("key") != key or cache.get("session") is not session:
            cache = self._curves_cache = {"key": key, "session": session}
        if session.comparison is not None and cache.get("comparison_of") is not session.comparison:
            cache.pop("comparison", None)  # another comparison scenario opened
            cache["comparison_of"] = session.comparison
        if "loaded" not in cache:
            cache["loaded"] = model.area_curve(session.loaded_coverage(), s.layer, s.altitude_ref)
        if session.comparison is not None and "comparison" not in cache:
            cache["comparison"] = model.area_curve(session.comparison.coverage, s.layer, s.altitude_ref)
        current = model.area_curve(session.current_coverage(s), s.layer, s.altitude_ref)
        plot = self.area_plot
        plot.clear()
        plot.plotItem.legend.clear()
        plot.plot(alts, current / 1000.0, pen=pg.mkPen(model.KEPT, width=2.5), name="current", antialias=True)
        plot.plot(alts, cache["loaded"] / 1000.0, pen=pg.mkPen("#333333", width=2, style=QtCore.Qt.PenStyle.DashLine),
                  name="baseline (as loaded)", antialias=True)
        if session.comparison is not None:
            plot.plot(alts, cache["comparison"] / 1000.0, pen=pg.mkPen(model.LOST, width=2),
                      name=session.comparison.name, antialias=True)
        for item in plot.listDataItems():
            item.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.addItem(self.altitude_line)
        self.altitude_line.setValue(math.log10(s.altitude_m))
        plot.setLabel("bottom", f"target altitude ({s.altitude_ref.upper()}), {s.layer}")
        remembered = {k: v for k, v in cache.items() if k in ("loaded", "comparison")}
        self.area_curves = {"altitudes_m": alts, "current": current, **remembered}

"""Line-of-sight profile plot (from :func:`simulator.profile.line_of_sight_profile`).

Drawn as the classic radio-profile chart: every altitude plus the earth bulge
``s (D - s) / (2 k R)``, so the sight line is straight and sea level is an arc whose height
shows the earth's curvature with the scenario's k. Both ends are at their true altitude.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from gui.model import OKABE_ITO, format_lat_lon

TERRAIN = "#8C6D46"
SEA_LINE = "#2F6E9E"


class ProfileView(QtWidgets.QWidget):
    """A title line and a plot of terrain, sea level arc, sight line, floor and masking point."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("profileView")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title = QtWidgets.QLabel("Click the map to draw the line of sight from the selected unit to that point.")
        self.title.setWordWrap(True)
        self.title.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout.addWidget(self.title)
        row = QtWidgets.QHBoxLayout()
        layout.addLayout(row, 1)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(150)
        self.plot.setLabel("bottom", "ground range from the antenna (km)")
        self.plot.setLabel("left", "altitude + earth bulge (m)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.plotItem.setMenuEnabled(False)
        self.plot.plotItem.hideButtons()
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTextPen(pg.mkPen("#222222"))
            self.plot.getAxis(side).setPen(pg.mkPen("#444444"))
        row.addWidget(self.plot, 1)
        self.legend = QtWidgets.QLabel()
        self.legend.setObjectName("profileLegend")
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.legend.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.legend.setFixedWidth(230)
        self.legend.setWordWrap(True)
        row.addWidget(self.legend)
        self.profile = None

    def clear(self, message: str = "") -> None:
        self.plot.clear()
        self.profile = None
        if message:
            self.title.setText(message)

    def show_profile(self, p) -> None:
        """Draw a :class:`simulator.profile.LineOfSightProfile`."""
        self.profile = p
        self.plot.clear()
        s_km = p.ground_range_m / 1000.0
        bulge = p.earth_bulge_m
        terrain = np.where(np.isfinite(p.terrain_m), np.maximum(p.terrain_m, 0.0), 0.0) + bulge
        sea = bulge
        base = float(min(np.min(sea), 0.0))
        fill = pg.FillBetweenItem(
            pg.PlotDataItem(s_km, terrain), pg.PlotDataItem(s_km, np.full_like(s_km, base)),
            brush=pg.mkBrush(TERRAIN + "99"),
        )
        self.plot.addItem(fill)
        self.plot.plot(s_km, terrain, pen=pg.mkPen(TERRAIN, width=1.5), name="terrain (sea: the bulge)", antialias=True)
        self.plot.plot(s_km, sea, pen=pg.mkPen(SEA_LINE, width=1.2, style=QtCore.Qt.PenStyle.DashLine),
                       name=f"sea level (earth curvature, k = {p.k_factor:.3g})")
        self.plot.plot(s_km, p.floor_msl_m + bulge, pen=pg.mkPen(OKABE_ITO["bluish_green"], width=1.5, style=QtCore.Qt.PenStyle.DotLine),
                       name="floor (lowest visible altitude)")
        self.plot.plot(s_km, p.sight_line_msl_m + bulge, pen=pg.mkPen(OKABE_ITO["blue"], width=2), name="line of sight to the floor", antialias=True)
        self.plot.plot([0.0], [p.antenna_altitude_msl_m], pen=None, symbol="t1", symbolSize=11,
                       symbolBrush=OKABE_ITO["orange"], symbolPen="k", name=f"antenna ({p.antenna_height_m:g} m above ground)")
        self.plot.plot([s_km[-1]], [p.target_floor_msl_m], pen=None, symbol="o", symbolSize=9,
                       symbolBrush=OKABE_ITO["blue"], symbolPen="k", name="floor at the point")
        if p.masked:
            k = p.masking_index
            self.plot.plot([s_km[k]], [p.terrain_m[k] + bulge[k]], pen=None, symbol="x", symbolSize=13,
                           symbolPen=pg.mkPen(OKABE_ITO["vermillion"], width=3), name="masking point")
        if p.max_range_m < p.path_length_m:
            line = pg.InfiniteLine(pos=p.max_range_m / 1000.0, angle=90,
                                   pen=pg.mkPen(OKABE_ITO["vermillion"], style=QtCore.Qt.PenStyle.DashLine))
            self.plot.addItem(line)
        top = float(np.nanmax([np.nanmax(terrain), np.nanmax(p.sight_line_msl_m + bulge), p.antenna_altitude_msl_m]))
        self.plot.setYRange(base, top + 0.08 * (top - base), padding=0.02)
        self.plot.setXRange(0.0, float(s_km[-1]), padding=0.02)
        masked = (
            f"masked by terrain at {p.masking_range_m / 1000:.1f} km" if p.masked else "nothing masks: the unit sees down to the ground"
        )
        beyond = " — <b>beyond the unit's range</b>" if p.beyond_range else ""
        self.legend.setText(_legend_html(p))
        self.title.setText(
            f"<b>{p.unit_id}</b> → {format_lat_lon(p.target_lat_deg, p.target_lon_deg)}: "
            f"{p.path_length_m / 1000:.1f} km; floor there <b>{p.target_floor_msl_m:,.0f} m MSL</b>"
            f" (terrain {max(p.target_terrain_m, 0):,.0f} m); {masked}{beyond}"
        )


def _line(colour: str, style: str = "solid") -> str:
    glyph = {"solid": "━━", "dash": "╍╍", "dot": "┈┈"}[style]
    return f"<span style='color:{colour}; font-weight:bold'>{glyph}</span>"


def _legend_html(p) -> str:
    rows = [
        f"{_line(TERRAIN)} terrain",
        f"{_line(SEA_LINE, 'dash')} sea level: earth curvature, k = {p.k_factor:.3g}",
        f"{_line(OKABE_ITO['blue'])} line of sight to the floor",
        f"{_line(OKABE_ITO['bluish_green'], 'dot')} floor (lowest visible altitude)",
        f"<span style='color:{OKABE_ITO['orange']}'>▲</span> antenna, {p.antenna_height_m:g} m above ground",
        f"<span style='color:{OKABE_ITO['blue']}'>●</span> floor at the point",
    ]
    if p.masked:
        rows.append(f"<span style='color:{OKABE_ITO['vermillion']}; font-weight:bold'>✖</span> masking point (the ray grazes it)")
    if p.beyond_range:
        rows.append(f"{_line(OKABE_ITO['vermillion'], 'dash')} the unit's largest range")
    rows.append("<span style='color:#555'>Heights plus the earth bulge s(D−s)/2kR: straight rays, true heights at both ends.</span>")
    return "<br>".join(rows)


class ProfileDock(QtWidgets.QDockWidget):
    """The profile under the map in ``window`` (a QMainWindow): hidden until the first
    profile, then shown a third of the window high."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__("Line-of-sight profile", window)
        self.setObjectName("profileDock")
        self._main_window = window
        self.view = ProfileView()
        self.setWidget(self.view)

    def show_profile(self, profile) -> None:
        if not self.isVisible():
            self.show()
            self._main_window.resizeDocks([self], [max(240, self._main_window.height() // 3)], QtCore.Qt.Orientation.Vertical)
        self.view.show_profile(profile)

"""The map: hillshaded terrain, the coverage overlay, unit markers, range rings, axes.

Map coordinates are the analysis grid's CRS: longitude/latitude degrees on geographic grids
(the bundled scenarios), easting/northing on projected grids (then a lon/lat graticule is
drawn). Images are placed with the grid's affine transform, so pixels land exactly where the
simulator says they are; the aspect ratio is locked to ``cos(mid-latitude)`` on geographic
grids so shapes are true at the map centre.

Beneath the terrain: Natural Earth's sea, land and coast (:mod:`simulator.basemap`), so the map
is land or sea, not white, beyond the DEM; country names (Natural Earth) are chosen per view
(those decorations, the graticule and the scale bar: :mod:`gui.map_basemap`).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from gui.map_basemap import COUNTRY_COLOUR, NE_MARGIN_SPANS, STATIC, BasemapLayers  # noqa: F401 - COUNTRY_COLOUR, NE_MARGIN_SPANS re-exported
from gui.map_basemap import overlap as _overlap
from gui.model import COAST, SEA, format_lat_lon
from simulator.basemap import beyond_dem

LABEL_FONT_PT = 9
#: Natural Earth land (beneath the DEM terrain: seen beyond it) and its coast.
NE_LAND = (238, 234, 223)
NE_COAST = (93, 107, 118)
MARKER_PX = 15
#: Candidate label positions around a marker (device pixels, y down) and the text anchor.
_LABEL_SPOTS = (
    ((11, 0), (0.0, 0.5)),
    ((-11, 0), (1.0, 0.5)),
    ((8, -11), (0.0, 1.0)),
    ((8, 11), (0.0, 0.0)),
    ((-8, -11), (1.0, 1.0)),
    ((-8, 11), (1.0, 0.0)),
    ((0, -14), (0.5, 1.0)),
    ((0, 14), (0.5, 0.0)),
)


class IndexImageItem(pg.ImageItem):
    """An image of categorical indices (through a lookup table) drawn at the screen's
    resolution: past one cell per screen pixel it is decimated nearest-neighbour (a display
    pyramid level made on the fly; averaging indices, pyqtgraph's own downsampling, would mix
    categories). ``image`` stays the full analysis grid."""

    _shown_factors = (1, 1)

    def _factors(self) -> tuple[int, int]:
        try:
            xds, yds = self._computeDownsampleFactors()
        except (TypeError, AttributeError):
            return (1, 1)
        return (max(1, int(xds or 1)), max(1, int(yds or 1)))

    def render(self):
        full = self.image
        xds, yds = self._factors()
        if full is None or full.ndim != 2 or (xds, yds) == (1, 1):
            self._shown_factors = (1, 1)
            return super().render()
        self.image = full[::yds, ::xds]
        try:
            super().render()
        finally:
            self.image = full
        self._shown_factors = (xds, yds)

    def viewTransformChanged(self):
        if self.image is not None and self._factors() != self._shown_factors:
            self._renderRequired = True
            self.update()
        super().viewTransformChanged()

class UnitMarker(pg.TargetItem):
    """A draggable unit marker; a click selects the unit."""

    def __init__(self, unit_id: str, on_click, **kwargs):
        super().__init__(**kwargs)
        self.unit_id = unit_id
        self._on_click = on_click
        self.spot = None

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and not self.moving:
            ev.accept()
            self._on_click(self.unit_id)
            return
        super().mouseClickEvent(ev)


class MapView(BasemapLayers, pg.PlotWidget):
    """Plot widget holding the map layers; emits cursor, click and drag signals."""

    cursor_moved = QtCore.Signal(int, int)  # analysis row, col
    cursor_left = QtCore.Signal()
    map_clicked = QtCore.Signal(int, int, float, float)  # row, col, map x, map y
    unit_clicked = QtCore.Signal(str)
    unit_moved = QtCore.Signal(str, float, float)  # unit id, lon, lat

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setObjectName("mapView")
        self.grid = None
        self.geographic = True
        self.plotItem.setMenuEnabled(False)
        self.plotItem.hideButtons()
        for side in ("left", "bottom"):
            axis = self.plotItem.getAxis(side)
            axis.setPen(pg.mkPen("#444"))
            axis.setTextPen(pg.mkPen("#222"))
            axis.setCacheMode(STATIC)  # ticks change with the view range, not with the overlay
        # terrain around the analysis grid (decimated DEM), under everything
        self.context = pg.ImageItem(np.zeros((2, 2, 4), np.uint8))
        self.context.setZValue(-20)
        self.context.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.addItem(self.context)
        # Natural Earth sea, land and coast beneath the terrain (set per grid by set_grid)
        self.natural_earth: dict[str, QtWidgets.QGraphicsPathItem] = {}
        for z, key in ((-32, "sea"), (-31, "land"), (-30, "coast")):
            item = QtWidgets.QGraphicsPathItem()
            item.setZValue(z)  # no device cache: a pixmap larger than the view costs ~6 ms a repaint, the fill ~0
            if key == "coast":
                pen = QtGui.QPen(QtGui.QColor(*NE_COAST), 1.0)
                pen.setCosmetic(True)
                item.setPen(pen)
                item.setBrush(QtGui.QBrush(QtCore.Qt.BrushStyle.NoBrush))
            else:
                item.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
                item.setBrush(QtGui.QBrush(QtGui.QColor(*(SEA if key == "sea" else NE_LAND))))
            self.plotItem.vb.addItem(item, ignoreBounds=True)
            self.natural_earth[key] = item
        #: country names shown (Natural Earth), by name; chosen and placed per view
        self.country_items: dict[str, pg.TextItem] = {}
        self._marker_label_rects: list[QtCore.QRectF] = []  # device rectangles of unit markers and labels
        self.base = pg.ImageItem(np.zeros((2, 2, 3), np.uint8))
        self.overlay = IndexImageItem(np.zeros((2, 2), np.uint8))
        self.overlay.setZValue(10)
        # the terrain never changes while a scenario is open: keep it as a device pixmap
        self.base.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        for item in (self.base, self.overlay):
            self.addItem(item)
        self.markers: dict[str, UnitMarker] = {}
        self._marker_specs: dict[str, tuple] = {}
        self.rings: list[pg.PlotCurveItem] = []
        self._ring_items: dict[tuple, pg.PlotCurveItem] = {}
        self._rings_key = None
        self.graticule: list[pg.GraphicsObject] = []
        self.profile_line = pg.PlotCurveItem(pen=pg.mkPen("#000000", width=2, style=QtCore.Qt.PenStyle.DashLine))
        self.profile_line.setZValue(30)
        self.addItem(self.profile_line)
        self._font = QtGui.QFont()
        self._font.setPointSize(LABEL_FONT_PT)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.plotItem.vb.sigRangeChanged.connect(self._schedule_labels)
        self._label_timer = QtCore.QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.setInterval(0)
        self._label_timer.timeout.connect(self.place_labels)
        self.scale_bar = None
        self.scale_bar_km: float | None = None
        #: town names shown (GeoNames), by name; their density follows the zoom
        self.town_items: dict[str, pg.TextItem] = {}
        self._town_sites: list[tuple[float, float]] = []
        self._town_timer = QtCore.QTimer(self)
        self._town_timer.setSingleShot(True)
        self._town_timer.setInterval(120)
        self._town_timer.timeout.connect(self.update_towns)
        self._town_timer.timeout.connect(self.update_countries)
        self._town_timer.timeout.connect(self.update_scale_bar)
        self.plotItem.vb.sigRangeChanged.connect(lambda *_: self._town_timer.start())

    # -- geometry -------------------------------------------------------------------------
    def set_grid(self, grid, terrain_rgb: np.ndarray, coast: np.ndarray, context=None) -> None:
        """Show a new analysis grid: base picture (with its coastline), axes, range;
        ``context``: ``(rgba, affine)`` terrain around the grid, drawn beneath it."""
        self.grid = grid
        self.geographic = bool(grid.crs.is_geographic)
        t = grid.transform
        transform = QtGui.QTransform(t.a, t.d, t.b, t.e, t.c, t.f)
        base = terrain_rgb.copy()
        beyond = beyond_dem(grid)
        if beyond is not None and beyond.any():
            # cells past the DEM (taken as sea level) are left to Natural Earth, beneath; the
            # DEM's edge is not a coast
            near = beyond.copy()
            near[1:, :] |= beyond[:-1, :]
            near[:-1, :] |= beyond[1:, :]
            near[:, 1:] |= beyond[:, :-1]
            near[:, :-1] |= beyond[:, 1:]
            base[coast & ~near] = COAST
            base = np.dstack([base, np.where(beyond, 0, 255).astype(np.uint8)])
        else:
            base[coast] = COAST  # under the translucent overlay, still visible through it
        self.base.setImage(base, autoLevels=False, levels=(0, 255))
        self.overlay.setImage(np.zeros(grid.shape, np.uint8), autoLevels=False, levels=(0, 255))
        for item in (self.base, self.overlay):
            item.setTransform(transform)
        if context is not None:
            rgba, ct = context
            self.context.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.context.setTransform(QtGui.QTransform(ct.a, ct.d, ct.b, ct.e, ct.c, ct.f))
            self.context.setVisible(True)
        else:
            self.context.setVisible(False)
        for uid in list(self.markers):
            self.removeItem(self.markers.pop(uid))
        for name in list(self.town_items):
            self.removeItem(self.town_items.pop(name))
        for name in list(self.country_items):
            self.removeItem(self.country_items.pop(name))
        self._marker_label_rects = []
        self._set_natural_earth(grid)
        self._marker_specs = {}
        for key in list(self._ring_items):
            self.removeItem(self._ring_items.pop(key))
        self.rings = []
        self._rings_key = None
        west, south, _east, north = grid.bounds_deg
        if self.geographic:
            self.setLabel("bottom", "longitude (°E)" if west >= 0 else "longitude (°, east positive)")
            self.setLabel("left", "latitude (°N)" if south >= 0 else "latitude (°, north positive)")
            mid_lat = math.radians((south + north) / 2.0)
            self.plotItem.vb.setAspectLocked(True, ratio=max(math.cos(mid_lat), 0.05))
        else:
            name = grid.crs.to_string()
            self.setLabel("bottom", f"easting (m, {name})")
            self.setLabel("left", f"northing (m, {name})")
            self.plotItem.vb.setAspectLocked(True, ratio=1.0)
        self._draw_graticule()
        x0, y0 = t.c, t.f
        x1, y1 = t.c + t.a * grid.n_cols, t.f + t.e * grid.n_rows
        self.plotItem.vb.setRange(xRange=(min(x0, x1), max(x0, x1)), yRange=(min(y0, y1), max(y0, y1)), padding=0.01)
        self.update_scale_bar()
        self.update_countries()

    def lonlat_to_map(self, lon, lat):
        """Map coordinates of lon/lat points (identity on geographic grids)."""
        if self.geographic:
            return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        row, col = self.grid.lonlat_to_pixel(lon, lat)
        x, y = self.grid.pixel_to_xy(row, col)
        return np.asarray(x), np.asarray(y)

    def map_to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Centre-based fractional (row, col) of a map point."""
        col, row = (~self.grid.transform) @ (x, y)
        return row - 0.5, col - 0.5

    def map_to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        row, col = self.map_to_pixel(x, y)
        lon, lat = self.grid.pixel_to_lonlat(row, col)
        return float(lon), float(lat)

    # -- overlay --------------------------------------------------------------------------
    def set_overlay(self, index: np.ndarray, lut: np.ndarray) -> None:
        self.overlay.setLookupTable(lut, update=False)
        self.overlay.setImage(index, autoLevels=False, levels=(0, 255))

    # -- units ----------------------------------------------------------------------------
    def set_units(self, units: list[dict]) -> None:
        """``units``: dicts with unit_id, lon_deg, lat_deg, colour, label, active, selected."""
        wanted = {u["unit_id"] for u in units}
        for uid in list(self.markers):
            if uid not in wanted:
                marker = self.markers.pop(uid)
                self._marker_specs.pop(uid, None)
                self.removeItem(marker)
        changed = False
        for u in units:
            spec = (u["lon_deg"], u["lat_deg"], u["colour"], u["label"], u.get("active", True), u.get("selected", False))
            if self._marker_specs.get(u["unit_id"]) == spec and u["unit_id"] in self.markers:
                continue
            changed = True
            self._marker_specs[u["unit_id"]] = spec
            x, y = self.lonlat_to_map(u["lon_deg"], u["lat_deg"])
            marker = self.markers.get(u["unit_id"])
            outline = pg.mkPen("#000000", width=3.0 if u.get("selected") else 1.6)
            fill = QtGui.QColor(u["colour"])
            if not u.get("active", True):
                fill.setAlpha(70)
                outline = pg.mkPen((0, 0, 0, 120), width=1, style=QtCore.Qt.PenStyle.DashLine)
            if marker is None:
                marker = UnitMarker(
                    u["unit_id"], self.unit_clicked.emit, pos=(float(x), float(y)), size=MARKER_PX,
                    symbol="t1" if u.get("symbol") == "triangle" else "o", pen=outline, brush=fill,
                    hoverPen=pg.mkPen("#000000", width=3), hoverBrush=fill, movable=True,
                )
                marker.setZValue(40)
                marker.sigPositionChangeFinished.connect(self._marker_moved)
                self.addItem(marker)
                self.markers[u["unit_id"]] = marker
            else:
                marker.setPos((float(x), float(y)))
                marker.setPen(outline)
                marker.setBrush(fill)
                marker.setHoverBrush(fill)
                marker.currentPen, marker.currentBrush = marker.pen, marker.brush
                marker.update()
            marker.label_text = u["label"]
            marker.label_active = u.get("active", True)
        if changed:
            # placed now, before the next paint: through the timer it would cost a second paint
            if self.place_labels():
                self._label_timer.stop()
            else:
                self._schedule_labels()

    def _marker_moved(self, marker: UnitMarker) -> None:
        pos = marker.pos()
        lon, lat = self.map_to_lonlat(float(pos.x()), float(pos.y()))
        self.unit_moved.emit(marker.unit_id, lon, lat)

    def _schedule_labels(self, *args) -> None:
        self._label_timer.start()

    def place_labels(self) -> bool:
        """Put each marker's label where it overlaps no other label or marker (greedy).
        False when they cannot be placed yet (no markers, or the view has no size)."""
        vb = self.plotItem.vb
        if not self.markers or vb.width() <= 0:
            return False
        metrics = QtGui.QFontMetricsF(self._font)
        points = {}
        for uid, marker in self.markers.items():
            p = vb.mapViewToDevice(QtCore.QPointF(marker.pos()))
            points[uid] = (p.x(), p.y()) if p is not None else (0.0, 0.0)
        half = MARKER_PX / 2 + 2
        taken = [QtCore.QRectF(x - half, y - half, 2 * half, 2 * half) for x, y in points.values()]
        frame = self.mapFromScene(vb.sceneBoundingRect()).boundingRect()
        frame = QtCore.QRectF(frame)
        for uid, marker in self.markers.items():
            text = getattr(marker, "label_text", uid)
            w = metrics.horizontalAdvance(text) + 8
            h = metrics.height() + 4
            x, y = points[uid]
            best, best_cost = _LABEL_SPOTS[0], math.inf
            for (dx, dy), (ax, ay) in _LABEL_SPOTS:
                rect = QtCore.QRectF(x + dx - ax * w, y + dy - ay * h, w, h)
                outside = rect.width() * rect.height() - _overlap(rect, frame)
                cost = sum(_overlap(rect, other) for other in taken) + 4.0 * outside
                if cost < best_cost - 1e-9:
                    best, best_cost = ((dx, dy), (ax, ay)), cost
                if cost == 0:
                    break
            (dx, dy), (ax, ay) = best
            taken.append(QtCore.QRectF(x + dx - ax * w, y + dy - ay * h, w, h))
            spot = (best, text, getattr(marker, "label_active", True))
            if marker.spot != spot:
                marker.spot = spot
                colour = "#111111" if spot[2] else "#777777"
                marker.setLabel(
                    text,
                    {"offset": (dx, -dy), "anchor": (ax, ay), "color": colour,
                     "fill": pg.mkBrush(255, 255, 255, 215), "border": pg.mkPen((80, 80, 80, 160))},
                )
                label = marker.label()
                label.setFont(self._font)
                label.setZValue(41)
                label.viewTransformChanged()
        first = not self._marker_label_rects
        self._marker_label_rects = taken  # the country names keep off them
        if first:  # the first placement on this grid: names placed before the markers existed move off them
            self.update_countries()
        return True

    # -- rings and profile line -----------------------------------------------------------
    def set_rings(self, rings: list[tuple[np.ndarray, np.ndarray, str]]) -> None:
        """Dashed nominal range rings: (lon array, lat array, colour) each. A ring already
        drawn is kept (its cached pixmap with it): ticking a unit off removes only its ring."""
        wanted = {}
        for lon, lat, colour in rings:
            key = (round(float(lon[0]), 7), round(float(lat[0]), 7), round(float(lon[len(lon) // 2]), 7), len(lon), colour)
            wanted[key] = (lon, lat, colour)
        if list(wanted) == self._rings_key:
            return
        self._rings_key = list(wanted)
        for key in list(self._ring_items):
            if key not in wanted:
                self.removeItem(self._ring_items.pop(key))
        for key, (lon, lat, colour) in wanted.items():
            if key in self._ring_items:
                continue
            x, y = self.lonlat_to_map(lon, lat)
            pen = pg.mkPen(colour, width=1.6, style=QtCore.Qt.PenStyle.DashLine)
            curve = pg.PlotCurveItem(x, y, pen=pen, antialias=True)
            curve.setCacheMode(STATIC)  # dashed antialiased circles: drawn once per view, not per overlay
            curve.setZValue(20)
            self.addItem(curve)
            self._ring_items[key] = curve
        self.rings = [self._ring_items[key] for key in wanted]

    def set_profile_line(self, lon=None, lat=None) -> None:
        if lon is None:
            self.profile_line.setData([], [])
            return
        x, y = self.lonlat_to_map(lon, lat)
        self.profile_line.setData(x, y)

    # -- mouse ----------------------------------------------------------------------------
    def _pixel_at_scene(self, scene_pos):
        if self.grid is None or not self.plotItem.vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.plotItem.vb.mapSceneToView(scene_pos)
        row_f, col_f = self.map_to_pixel(p.x(), p.y())
        row, col = round(row_f), round(col_f)
        if 0 <= row < self.grid.n_rows and 0 <= col < self.grid.n_cols:
            return row, col, p.x(), p.y()
        return None

    def _mouse_moved(self, scene_pos) -> None:
        hit = self._pixel_at_scene(scene_pos)
        if hit is None:
            self.cursor_left.emit()
        else:
            self.cursor_moved.emit(hit[0], hit[1])

    def _mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton or event.isAccepted():
            return
        hit = self._pixel_at_scene(event.scenePos())
        if hit is not None:
            self.map_clicked.emit(*hit)

    def describe_position(self, x: float, y: float) -> str:
        lon, lat = self.map_to_lonlat(x, y)
        return format_lat_lon(lat, lon)

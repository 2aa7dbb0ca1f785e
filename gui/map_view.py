"""The map: hillshaded terrain, the coverage overlay, unit markers, range rings, axes.

Map coordinates are the analysis grid's CRS: longitude/latitude degrees on geographic grids
(the bundled scenarios), easting/northing on projected grids (then a lon/lat graticule is
drawn). Images are placed with the grid's affine transform, so pixels land exactly where the
simulator says they are; the aspect ratio is locked to ``cos(mid-latitude)`` on geographic
grids so shapes are true at the map centre.

Beneath the terrain: Natural Earth's sea, land and coast (:mod:`simulator.basemap`), so the map
is land or sea, not white, beyond the DEM; country names (Natural Earth) are chosen per view.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from gui.model import COAST, SEA, format_lat_lon
from simulator.basemap import beyond_dem, coastline_in, country_labels, data_extent_in, land_in, rings
from simulator.places import places_to_label

LABEL_FONT_PT = 9
#: Natural Earth land (beneath the DEM terrain: seen beyond it), its coast, country names.
NE_LAND = (238, 234, 223)
NE_COAST = (93, 107, 118)
COUNTRY_COLOUR = "#5a5a5a"
#: Natural Earth is drawn this many grid spans around the grid (as far as the bundled data goes).
NE_MARGIN_SPANS = 2.0
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


#: Items that do not change with the overlay are painted once per view (a pixmap in device
#: coordinates), not at every altitude step: on a full-disk grid that is ~10 ms a repaint.
_STATIC = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache


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


class MapView(pg.PlotWidget):
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
            axis.setCacheMode(_STATIC)  # ticks change with the view range, not with the overlay
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

    def update_scale_bar(self) -> None:
        """A scale bar of a round number of kilometres, about a fifth of the visible width;
        on a geographic grid its length in degrees of longitude is taken at the view's middle
        latitude (the map's x axis is longitude)."""
        if self.grid is None:
            return
        (x0, x1), (y0, y1) = self.plotItem.vb.viewRange()
        if self.geographic:
            km_per_unit = 111.32 * max(math.cos(math.radians((y0 + y1) / 2.0)), 0.05)
        else:
            km_per_unit = 0.001
        width_km = (x1 - x0) * km_per_unit
        target = width_km / 5.0
        nice = next((n for n in (1000, 500, 200, 100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1) if n <= target), 0.1)
        if self.scale_bar is None:
            self.scale_bar = pg.ScaleBar(size=1.0, width=6, brush="#222222", pen="#222222", offset=(-30, -30))
            self.scale_bar.text.setColor("#111111")
            self.scale_bar.setParentItem(self.plotItem.vb)
            self.scale_bar.setZValue(30)
        self.scale_bar.size = nice / km_per_unit
        self.scale_bar.text.setText(f"{nice:g} km")
        self.scale_bar.updateBar()
        self.scale_bar_km = nice

    def _set_natural_earth(self, grid) -> None:
        """Natural Earth sea (where the bundled data reaches), land and coast around ``grid``,
        as painter paths in the grid's CRS (edges densified to follow a projection): built once
        per grid; panning and zooming only repaint them."""
        import pyproj

        west, south, east, north = grid.bounds_deg
        span = max(east - west, north - south)
        pad = NE_MARGIN_SPANS * span
        bounds = (max(west - pad, -180.0), max(south - pad, -85.0), min(east + pad, 180.0), min(north + pad, 85.0))
        to_map = None if self.geographic else pyproj.Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
        step = None if self.geographic else span / 300.0
        for key, geometry in (("sea", data_extent_in(bounds)), ("land", land_in(bounds)), ("coast", coastline_in(bounds))):
            parts = [r for r in rings(geometry, step) if len(r) >= 2]
            path = QtGui.QPainterPath()
            if parts:
                lonlat = np.concatenate(parts)
                x, y = (lonlat[:, 0], lonlat[:, 1]) if to_map is None else to_map.transform(lonlat[:, 0], lonlat[:, 1])
                connect = np.ones(len(lonlat), dtype=np.int32)
                connect[np.cumsum([len(r) for r in parts]) - 1] = 0  # 1: joined to the next point; rings stay apart
                path = pg.arrayToQPath(np.asarray(x, dtype=float), np.asarray(y, dtype=float), connect=connect)
                path.setFillRule(QtCore.Qt.FillRule.OddEvenFill)
            self.natural_earth[key].setPath(path)

    def update_countries(self) -> None:
        """Name the countries that fill a fair part of the visible map (simulator.basemap),
        each inside its visible part, inside the view, and off the unit markers, their labels
        and the town names when a spot nearby allows."""
        if self.grid is None:
            return
        vb = self.plotItem.vb
        (x0, x1), (y0, y1) = vb.viewRange()
        xs, ys = np.meshgrid(np.linspace(x0, x1, 7), np.linspace(y0, y1, 7))
        if self.geographic:
            lon, lat = xs.ravel(), ys.ravel()
        else:
            rows, cols = self.map_to_pixel(xs.ravel(), ys.ravel())
            lon, lat = self.grid.pixel_to_lonlat(rows, cols)
        bounds = (float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat)))
        wanted = {name: (a, b) for name, a, b in country_labels(bounds)}
        for name in [n for n in self.country_items if n not in wanted]:
            self.removeItem(self.country_items.pop(name))
        if not wanted:
            return
        frame = QtCore.QRectF(self.mapFromScene(vb.sceneBoundingRect()).boundingRect())
        taken = list(self._marker_label_rects)
        for item in self.town_items.values():  # anchored (0.04, 0.5) at the town
            taken.append(self._device_rect(item.pos(), item.textItem.boundingRect(), (0.04, 0.5)))
        for name, (lon_deg, lat_deg) in wanted.items():
            item = self.country_items.get(name)
            if item is None:
                item = pg.TextItem(name, color=COUNTRY_COLOUR, anchor=(0.5, 0.5))
                font = QtGui.QFont(item.textItem.font().family(), 9)
                font.setCapitalization(QtGui.QFont.Capitalization.AllUppercase)
                font.setLetterSpacing(QtGui.QFont.SpacingType.PercentageSpacing, 135)
                item.setFont(font)
                item.setZValue(14)
                self.addItem(item)
                self.country_items[name] = item
            x, y = self.lonlat_to_map(np.array([lon_deg]), np.array([lat_deg]))
            centre = vb.mapViewToDevice(QtCore.QPointF(float(x[0]), float(y[0])))
            size = item.textItem.boundingRect()
            if centre is None or frame.width() <= 0:
                item.setPos(float(x[0]), float(y[0]))
                continue
            best, best_cost = None, math.inf
            for dy in (0, -18, 18, -36, 36):
                for dx in (0, 50, -50, 100, -100):
                    rect = QtCore.QRectF(centre.x() + dx - size.width() / 2, centre.y() + dy - size.height() / 2, size.width(), size.height())
                    # kept inside the view: shifted in when it reaches past an edge
                    rect.moveLeft(min(max(rect.left(), frame.left() + 2), frame.right() - 2 - rect.width()))
                    rect.moveTop(min(max(rect.top(), frame.top() + 2), frame.bottom() - 2 - rect.height()))
                    cost = sum(_overlap(rect, other) for other in taken) + 0.5 * math.hypot(dx, dy)
                    if cost < best_cost:
                        best, best_cost = rect, cost
                if best_cost <= 0.5 * 50:
                    break
            taken.append(best)
            where = vb.mapDeviceToView(best.center())
            item.setPos(where.x(), where.y())

    def _device_rect(self, pos, size: QtCore.QRectF, anchor) -> QtCore.QRectF:
        """Device rectangle of a text of ``size`` anchored at the map point ``pos``."""
        p = self.plotItem.vb.mapViewToDevice(QtCore.QPointF(pos))
        if p is None:
            return QtCore.QRectF()
        return QtCore.QRectF(p.x() - anchor[0] * size.width(), p.y() - anchor[1] * size.height(), size.width(), size.height())

    def set_town_sites(self, sites) -> None:
        """Unit sites ``(lat, lon)``: the town nearest each always gets a label."""
        self._town_sites = [(float(a), float(b)) for a, b in sites]
        self.update_towns()
        self.update_countries()  # off the town names now shown

    def update_towns(self) -> None:
        """Label the towns that suit the visible part of the map (simulator.places)."""
        if self.grid is None:
            return
        (x0, x1), (y0, y1) = self.plotItem.vb.viewRange()
        xs, ys = np.meshgrid(np.linspace(x0, x1, 7), np.linspace(y0, y1, 7))
        if self.geographic:
            lon, lat = xs.ravel(), ys.ravel()
        else:
            rows, cols = self.map_to_pixel(xs.ravel(), ys.ravel())
            lon, lat = self.grid.pixel_to_lonlat(rows, cols)
        bounds = (float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat)))
        wanted = {p.name: p for p in places_to_label(bounds, self._town_sites)}
        for name in [n for n in self.town_items if n not in wanted]:
            self.removeItem(self.town_items.pop(name))
        for name, place in wanted.items():
            if name in self.town_items:
                continue
            item = pg.TextItem("• " + name, color="#1e1e1e", anchor=(0.04, 0.5))
            item.setFont(QtGui.QFont(item.textItem.font().family(), 8))
            x, y = self.lonlat_to_map(np.array([place.lon_deg]), np.array([place.lat_deg]))
            item.setPos(float(x[0]), float(y[0]))
            item.setZValue(15)
            self.addItem(item)
            self.town_items[name] = item

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

    def _draw_graticule(self) -> None:
        """Light lon/lat lines under the overlay (labelled too on projected grids)."""
        for item in self.graticule:
            self.removeItem(item)
        self.graticule = []
        if self.grid is None:
            return
        west, south, east, north = self.grid.bounds_deg
        if self.geographic:
            span = max(east - west, north - south)
            step = next((s for s in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0) if span / s <= 12), 10.0)
            xs, ys = [], []
            for lon in np.arange(math.ceil(west / step) * step, east + 1e-9, step):
                xs += [lon, lon]
                ys += [south, north]
            for lat in np.arange(math.ceil(south / step) * step, north + 1e-9, step):
                xs += [west, east]
                ys += [lat, lat]
            lines = pg.PlotCurveItem(np.array(xs), np.array(ys), connect="pairs", pen=pg.mkPen((110, 110, 110, 70), width=1))
            lines.setCacheMode(_STATIC)
            lines.setZValue(5)
            self.addItem(lines)
            self.graticule.append(lines)
            return
        span = max(east - west, north - south)
        step = next((s for s in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0) if span / s <= 8), 10.0)
        pen = pg.mkPen((90, 90, 90, 140), width=1, style=QtCore.Qt.PenStyle.DotLine)
        for lon in np.arange(math.ceil(west / step) * step, east + 1e-9, step):
            lats = np.linspace(south, north, 60)
            x, y = self.lonlat_to_map(np.full_like(lats, lon), lats)
            self.graticule.append(self._graticule_line(x, y, pen, f"{lon:g}°", (x[0], y[0])))
        for lat in np.arange(math.ceil(south / step) * step, north + 1e-9, step):
            lons = np.linspace(west, east, 60)
            x, y = self.lonlat_to_map(lons, np.full_like(lons, lat))
            self.graticule.append(self._graticule_line(x, y, pen, f"{lat:g}°", (x[0], y[0])))

    def _graticule_line(self, x, y, pen, text, where):
        curve = pg.PlotCurveItem(x, y, pen=pen)
        curve.setCacheMode(_STATIC)
        curve.setZValue(5)
        self.addItem(curve)
        label = pg.TextItem(text, color="#555", anchor=(0, 1))
        label.setPos(*where)
        label.setZValue(5)
        self.addItem(label)
        self.graticule.append(label)
        return curve

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
            curve.setCacheMode(_STATIC)  # dashed antialiased circles: drawn once per view, not per overlay
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


def _overlap(a: QtCore.QRectF, b: QtCore.QRectF) -> float:
    r = a.intersected(b)
    return 0.0 if r.isEmpty() else r.width() * r.height()

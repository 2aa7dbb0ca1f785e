"""The map's basemap decorations: Natural Earth sea, land and coast beneath the terrain, the
names of countries and towns chosen for the visible part of the map, the lon/lat graticule
and the scale bar.

:class:`BasemapLayers` is a part of :class:`~gui.map_view.MapView` (a mixin: it draws into
the view, reading its grid, view box and unit-label rectangles); nothing here is computed
from the coverage.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from simulator.basemap import coastline_in, country_labels, data_extent_in, land_in, rings
from simulator.places import places_to_label

COUNTRY_COLOUR = "#5a5a5a"
#: Natural Earth is drawn this many grid spans around the grid (as far as the bundled data goes).
NE_MARGIN_SPANS = 2.0
#: Items that do not change with the overlay are painted once per view (a pixmap in device
#: coordinates), not at every altitude step: on a full-disk grid that is ~10 ms a repaint.
STATIC = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache


def overlap(a: QtCore.QRectF, b: QtCore.QRectF) -> float:
    """Area shared by two rectangles (device pixels²)."""
    r = a.intersected(b)
    return 0.0 if r.isEmpty() else r.width() * r.height()


class BasemapLayers:
    """Natural Earth, country and town names, graticule and scale bar of a :class:`MapView`."""

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

    def view_bounds_deg(self) -> tuple[float, float, float, float]:
        """The visible map as (west, south, east, north) [deg] (a 7 x 7 lattice of the view
        mapped to lon/lat: the view of a projected grid is not a lon/lat box)."""
        (x0, x1), (y0, y1) = self.plotItem.vb.viewRange()
        xs, ys = np.meshgrid(np.linspace(x0, x1, 7), np.linspace(y0, y1, 7))
        if self.geographic:
            lon, lat = xs.ravel(), ys.ravel()
        else:
            rows, cols = self.map_to_pixel(xs.ravel(), ys.ravel())
            lon, lat = self.grid.pixel_to_lonlat(rows, cols)
        return float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat))

    def update_countries(self) -> None:
        """Name the countries that fill a fair part of the visible map (simulator.basemap),
        each inside its visible part, inside the view, and off the unit markers, their labels
        and the town names when a spot nearby allows."""
        if self.grid is None:
            return
        vb = self.plotItem.vb
        wanted = {name: (a, b) for name, a, b in country_labels(self.view_bounds_deg())}
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
                    cost = sum(overlap(rect, other) for other in taken) + 0.5 * math.hypot(dx, dy)
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
        wanted = {p.name: p for p in places_to_label(self.view_bounds_deg(), self._town_sites)}
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
            lines.setCacheMode(STATIC)
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
        curve.setCacheMode(STATIC)
        curve.setZValue(5)
        self.addItem(curve)
        label = pg.TextItem(text, color="#555", anchor=(0, 1))
        label.setPos(*where)
        label.setZValue(5)
        self.addItem(label)
        self.graticule.append(label)
        return curve

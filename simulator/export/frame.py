"""Where a map is: display coordinates of a grid, the view a map shows, the grid cells it needs.

Maps are drawn on geographic grids in lon/lat with the aspect ``1 / cos(mid-latitude)``
(equirectangular about the map centre), on projected grids in the grid's own CRS with equal
axes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyproj

from simulator.errors import AdcovError
from simulator.geometry import WGS84_GEOD


class _MapFrame:
    """Display coordinates of a grid: lon/lat on geographic grids, the grid CRS otherwise."""

    def __init__(self, grid):
        t = grid.transform
        if abs(t.b) > 1e-12 or abs(t.d) > 1e-12:
            raise AdcovError("maps: rotated grids are not supported (the terrain's transform has rotation terms)")
        self.grid = grid
        self.geographic = bool(grid.crs.is_geographic)
        rows, cols = grid.shape
        self.x_centres = t.c + t.a * (np.arange(cols) + 0.5)
        self.y_centres = t.f + t.e * (np.arange(rows) + 0.5)
        x_edges = (t.c, t.c + t.a * cols)
        y_edges = (t.f + t.e * rows, t.f)
        self.extent = (min(x_edges), max(x_edges), min(y_edges), max(y_edges))
        self._to_display = pyproj.Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
        self._from_display = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
        _, south, _, north = grid.bounds_deg
        self.mid_lat = 0.5 * (south + north)
        self.aspect = 1.0 / math.cos(math.radians(self.mid_lat)) if self.geographic else 1.0
        # display units per km, east-west and north-south, at the grid centre
        cx, cy = 0.5 * (self.extent[0] + self.extent[1]), 0.5 * (self.extent[2] + self.extent[3])
        lon, lat = self.from_display(cx, cy)
        ex, _ = self.to_display(*WGS84_GEOD.fwd(lon, lat, 90.0, 1000.0)[:2])
        _, ny = self.to_display(*WGS84_GEOD.fwd(lon, lat, 0.0, 1000.0)[:2])
        self.per_km = (abs(ex - cx), abs(ny - cy))

    def to_display(self, lon, lat):
        return self._to_display.transform(lon, lat)

    def from_display(self, x, y):
        return self._from_display.transform(x, y)

    def view(self, masks: Sequence[np.ndarray], points: Sequence[tuple[float, float]], *, min_half_km: float = 60.0,
             pad_fraction: float = 0.12, max_ratio: float = 1.6) -> tuple[float, float, float, float]:
        """The map extent: the masks' true cells and the points, padded; the full grid if that is most of it."""
        x0, x1, y0, y1 = self.extent
        xs, ys = [], []
        for mask in masks:
            if mask is not None and np.any(mask):
                rows = np.flatnonzero(np.any(mask, axis=1))
                cols = np.flatnonzero(np.any(mask, axis=0))
                xs += [self.x_centres[cols[0]], self.x_centres[cols[-1]]]
                ys += [self.y_centres[rows[0]], self.y_centres[rows[-1]]]
        for x, y in points:
            if x0 <= x <= x1 and y0 <= y <= y1:
                xs.append(x)
                ys.append(y)
        if not xs:
            return self.extent
        kx, ky = self.per_km
        half_x = max(0.5 * (max(xs) - min(xs)) * (1 + 2 * pad_fraction), min_half_km * kx)
        half_y = max(0.5 * (max(ys) - min(ys)) * (1 + 2 * pad_fraction), min_half_km * ky)
        # keep the map's shape within 1/max_ratio .. max_ratio (width / height on paper)
        width, height = 2 * half_x * self.aspect_scale, 2 * half_y
        if width > max_ratio * height:
            half_y = width / max_ratio / 2
        elif height > max_ratio * width:
            half_x = height / max_ratio / 2 / self.aspect_scale
        cx, cy = 0.5 * (max(xs) + min(xs)), 0.5 * (max(ys) + min(ys))
        if 2 * half_x >= 0.8 * (x1 - x0) and 2 * half_y >= 0.8 * (y1 - y0):
            return self.extent
        half_x, half_y = min(half_x, 0.5 * (x1 - x0)), min(half_y, 0.5 * (y1 - y0))
        cx = min(max(cx, x0 + half_x), x1 - half_x)
        cy = min(max(cy, y0 + half_y), y1 - half_y)
        return (cx - half_x, cx + half_x, cy - half_y, cy + half_y)

    @property
    def aspect_scale(self) -> float:
        """Paper width of one display x unit relative to one y unit."""
        return 1.0 / self.aspect if self.geographic else 1.0


@lru_cache(maxsize=4)
def _map_frame(grid) -> _MapFrame:
    return _MapFrame(grid)


def _view_bounds_deg(frame: _MapFrame, view, pad: float = 0.0) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the view [deg] (from a 9 x 9 sample), widened by ``pad`` of its span."""
    xs = np.linspace(view[0], view[1], 9)
    ys = np.linspace(view[2], view[3], 9)
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = frame.from_display(gx.ravel(), gy.ravel())
    west, south, east, north = float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat))
    dx, dy = pad * (east - west), pad * (north - south)
    return (west - dx, south - dy, east + dx, north + dy)


def _crop(frame: _MapFrame, view, margin: int = 2):
    """Row and column slices of the grid that cover ``view`` (plus a margin)."""
    x0, x1, y0, y1 = view
    xc, yc = frame.x_centres, frame.y_centres
    cols = np.flatnonzero((xc >= x0) & (xc <= x1))
    rows = np.flatnonzero((yc >= y0) & (yc <= y1))
    if cols.size == 0 or rows.size == 0:
        return slice(None), slice(None)
    return (slice(max(rows[0] - margin, 0), rows[-1] + margin + 1), slice(max(cols[0] - margin, 0), cols[-1] + margin + 1))


def _crop_extent(frame, crop):
    rs, cs = crop
    t = frame.grid.transform
    rows = range(frame.grid.n_rows)[rs]
    cols = range(frame.grid.n_cols)[cs]
    xa, xb = t.c + t.a * cols.start, t.c + t.a * (cols.stop)
    ya, yb = t.f + t.e * rows.start, t.f + t.e * (rows.stop)
    return (min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb))

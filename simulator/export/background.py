"""What a map is drawn over: hillshaded terrain, Natural Earth land, sea and coast, a lat/lon
graticule and a geodesic scale bar."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from simulator.basemap import beyond_dem, coastline_in, data_extent_in, land_in
from simulator.basemap import rings as basemap_rings
from simulator.export.frame import _MapFrame, _view_bounds_deg
from simulator.export.style import (
    COASTLINE_LEVEL_M,
    INK,
    LAND_COLOURS,
    NE_COAST_RGB,
    NE_LAND_RGB,
    SEA_RGB,
)
from simulator.geometry import WGS84_GEOD


@lru_cache(maxsize=4)
def _basemap_rgb(grid_key: str, grid) -> np.ndarray:
    """Hillshaded terrain (row 0 north), sea flat pale blue, as RGBA: transparent where the
    DEM has no data (voids, and cells beyond it), so Natural Earth's land and sea show there."""
    from matplotlib.colors import LightSource, LinearSegmentedColormap, Normalize

    elevation = np.asarray(grid.elevation_m, dtype=np.float64)
    land = elevation >= COASTLINE_LEVEL_M
    top = max(float(np.percentile(elevation[land], 99.5)) if land.any() else 1.0, 200.0)
    cmap = LinearSegmentedColormap.from_list("adcov_land", LAND_COLOURS)
    rgb = cmap(Normalize(0.0, top, clip=True)(elevation))[..., :3]
    ew_m, ns_m = grid.cell_size_m
    ls = LightSource(azdeg=315, altdeg=40)
    shade = ls.hillshade(elevation, vert_exag=max(1.0, min(6.0, 3000.0 / top)), dx=ew_m, dy=ns_m)
    shaded = rgb * (0.55 + 0.45 * shade[..., None]) + 0.08 * shade[..., None]
    shaded = np.clip(shaded, 0.0, 1.0)
    shaded[~land] = SEA_RGB
    beyond = ~np.isfinite(elevation)
    past_dem = beyond_dem(grid)  # an analysis grid may reach past the DEM (outside_terrain: sea)
    if past_dem is not None:
        beyond |= past_dem
    alpha = np.where(beyond, 0.0, 1.0)[..., None]
    rgb8 = np.round(np.concatenate([shaded, alpha], axis=2) * 255.0).astype(np.uint8)  # uint8: nothing to convert at every draw
    rgb8.flags.writeable = False
    return rgb8


def _nice_step(span: float, candidates, max_lines: int = 8) -> float:
    for step in candidates:
        if span / step <= max_lines:
            return step
    return candidates[-1]


def _deg_label(value: float, positive: str, negative: str, step: float) -> str:
    decimals = 0 if step >= 1 else (1 if step >= 0.1 else 2)
    hemi = positive if value > 1e-9 else (negative if value < -1e-9 else "")
    return f"{abs(value):.{decimals}f}°{hemi}"


def _draw_graticule(ax, frame: _MapFrame, view) -> None:
    x0, x1, y0, y1 = view
    corners_x = np.array([x0, x1, x1, x0, 0.5 * (x0 + x1), 0.5 * (x0 + x1), x0, x1])
    corners_y = np.array([y0, y0, y1, y1, y0, y1, 0.5 * (y0 + y1), 0.5 * (y0 + y1)])
    lon_c, lat_c = frame.from_display(corners_x, corners_y)
    west, east, south, north = float(np.min(lon_c)), float(np.max(lon_c)), float(np.min(lat_c)), float(np.max(lat_c))
    candidates = (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30)
    step = _nice_step(max(east - west, north - south), candidates, max_lines=9)
    lons = np.arange(math.ceil(west / step) * step, east + 1e-9, step)
    lats = np.arange(math.ceil(south / step) * step, north + 1e-9, step)
    style = {"color": "#4d5b66", "linewidth": 0.45, "alpha": 0.55, "zorder": 6, "linestyle": (0, (4, 3))}
    xticks, xlabels, yticks, ylabels = [], [], [], []
    for lon in lons:
        lat_line = np.linspace(south - step, north + step, 100)
        x, y = (np.asarray(v) for v in frame.to_display(np.full_like(lat_line, lon), lat_line))
        ax.plot(x, y, **style)
        order = np.argsort(y)
        xb = float(np.interp(y0, y[order], x[order]))
        if x0 <= xb <= x1:
            xticks.append(xb)
            xlabels.append(_deg_label(lon, "E", "W", step))
    for lat in lats:
        lon_line = np.linspace(west - step, east + step, 100)
        x, y = (np.asarray(v) for v in frame.to_display(lon_line, np.full_like(lon_line, lat)))
        ax.plot(x, y, **style)
        order = np.argsort(x)
        yl = float(np.interp(x0, x[order], y[order]))
        if y0 <= yl <= y1:
            yticks.append(yl)
            ylabels.append(_deg_label(lat, "N", "S", step))
    ax.set_xticks(xticks, xlabels, fontsize=8)
    ax.set_yticks(yticks, ylabels, fontsize=8)
    ax.tick_params(direction="out", length=3, top=True, right=True, labeltop=False, labelright=False)


def _draw_scale_bar(ax, frame: _MapFrame, view) -> tuple[float, float, float, float]:
    """A geodesic scale bar in the lower left; returns its white box ``(x0, y0, x1, y1)`` in
    display coordinates, which town labels keep out of."""
    from matplotlib.patches import Rectangle

    x0, x1, y0, y1 = view
    bx, by = x0 + 0.035 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    lon0, lat0 = frame.from_display(bx, by)
    lon_e, lat_e = frame.from_display(x1, by)
    _, _, width_m = WGS84_GEOD.inv(lon0, lat0, lon_e, lat_e)
    target_km = width_m / 1000.0 / 4.0
    nice = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000]
    length_km = max([n for n in nice if n <= target_km] or [nice[0]])
    lon1, lat1, _ = WGS84_GEOD.fwd(lon0, lat0, 90.0, length_km * 1000.0)
    ex, _ = frame.to_display(lon1, lat1)
    height = 0.011 * (y1 - y0)
    segments = 4
    seg = (ex - bx) / segments
    pad_x, pad_y = 0.012 * (x1 - x0), 0.014 * (y1 - y0)
    box = (bx - pad_x, by - 2.2 * pad_y, ex + 1.6 * pad_x + 0.05 * (x1 - x0), by + height + 2.4 * pad_y)
    ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                           facecolor="white", edgecolor="none", alpha=0.85, zorder=10, gid="scale-bar"))
    for i in range(segments):
        ax.add_patch(Rectangle((bx + i * seg, by), seg, height, facecolor=INK if i % 2 == 0 else "white",
                               edgecolor=INK, linewidth=0.6, zorder=11))
    for i, label in ((0, "0"), (segments // 2, f"{length_km / 2:g}"), (segments, f"{length_km:g} km")):
        ax.text(bx + i * seg, by + height + 0.35 * pad_y, label, ha="left" if i == segments else "center",
                va="bottom", fontsize=7.5, color=INK, zorder=12)
    ax.text(bx, by - 0.5 * pad_y, "geodesic distance", fontsize=6.5, color="#444444", va="top", ha="left", zorder=12)
    return box


@lru_cache(maxsize=8)
def _natural_earth_paths(frame: _MapFrame, view: tuple[float, float, float, float]):
    """Matplotlib paths in display coordinates of the view's Natural Earth sea (where the
    bundled data reaches), land and coastline; edges densified to follow the projection."""
    from matplotlib.path import Path as MplPath

    bounds = _view_bounds_deg(frame, view, pad=0.05)
    step = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 300.0

    def path(geometry, closed: bool):
        vertices, codes = [], []
        for ring in basemap_rings(geometry, None if frame.geographic else step):
            if len(ring) < 2:
                continue
            x, y = frame.to_display(ring[:, 0], ring[:, 1])
            vertices.append(np.column_stack([x, y]))
            kind = np.full(len(ring), MplPath.LINETO, dtype=MplPath.code_type)
            kind[0] = MplPath.MOVETO
            if closed:
                kind[-1] = MplPath.CLOSEPOLY
            codes.append(kind)
        return MplPath(np.concatenate(vertices), np.concatenate(codes)) if vertices else None

    return path(data_extent_in(bounds), True), path(land_in(bounds), True), path(coastline_in(bounds), False)


def _draw_natural_earth(ax, frame: _MapFrame, view, coast: bool = True) -> None:
    """Natural Earth sea, land and coast beneath the terrain image (which is transparent
    only where the DEM has no data, so this shows there and nowhere else)."""
    from matplotlib.patches import PathPatch

    sea, land, coastline = _natural_earth_paths(frame, tuple(float(v) for v in view))
    # add_artist, not add_patch: the view is set already, and data limits over every vertex cost ~50 ms
    if sea is not None:
        ax.add_artist(PathPatch(sea, facecolor=SEA_RGB, edgecolor="none", zorder=-3, gid="natural-earth-sea"))
    if land is not None:
        ax.add_artist(PathPatch(land, facecolor=NE_LAND_RGB, edgecolor="none", zorder=-2, gid="natural-earth-land"))
    if coast and coastline is not None:
        ax.add_artist(PathPatch(coastline, facecolor="none", edgecolor=NE_COAST_RGB, linewidth=0.5, zorder=-1,
                                gid="natural-earth-coast"))

"""Names on a map, placed where they overlap nothing already drawn: unit sites, towns, countries."""

from __future__ import annotations

import math

from simulator.basemap import country_labels
from simulator.export.frame import _MapFrame, _view_bounds_deg
from simulator.export.style import BLUISH_GREEN, COUNTRY_RGB, INK, VERMILLION
from simulator.places import places_to_label


def _spaced_capitals(name: str) -> str:
    """``"North Korea"`` -> ``"N O R T H   K O R E A"`` with thin spaces: a map's country style."""
    return "\u2003".join("\u2009".join(word) for word in name.upper().split())


def _draw_countries(fig, ax, frame: _MapFrame, view, sites_xy=()) -> list:
    """Country names (Natural Earth) in letter-spaced grey capitals, inside the map, where
    they overlap no label already drawn (towns, sites, scale bar) nor a unit marker if any
    nearby spot allows; a name that fits nowhere inside the map is left out."""
    import matplotlib.patheffects as pe
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    taken = [t.get_window_extent(renderer) for t in ax.texts if t.get_visible() and t.get_text().strip()]
    taken += [p.get_window_extent(renderer) for p in ax.patches if p.get_zorder() >= 9]  # the scale bar's box
    for x, y in sites_xy:
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox([[px - 8, py - 8], [px + 8, py + 8]]))
    halo = [pe.withStroke(linewidth=2.2, foreground="white", alpha=0.6)]
    to_data = ax.transData.inverted()
    drawn = []
    for name, lon, lat in country_labels(_view_bounds_deg(frame, view)):
        x, y = frame.to_display(lon, lat)
        px, py = ax.transData.transform((x, y))
        text = ax.text(x, y, _spaced_capitals(name), fontsize=8.6, color=COUNTRY_RGB, ha="center", va="center", zorder=8,
                       clip_on=True, path_effects=halo, gid=f"country:{name}")
        best, best_cost = None, math.inf
        for dy in (0, 14, -14, 28, -28, 42, -42):
            for dx in (0, 40, -40, 80, -80):
                text.set_position(to_data.transform((px + dx, py + dy)))
                box = text.get_window_extent(renderer)
                if not (box.x0 >= axes_box.x0 + 3 and box.x1 <= axes_box.x1 - 3 and box.y0 >= axes_box.y0 + 3 and box.y1 <= axes_box.y1 - 3):
                    continue
                cost = sum(_overlap_area(box, other) for other in taken) + 0.05 * math.hypot(dx, dy)
                if cost < best_cost:
                    best, best_cost = (dx, dy), cost
            if best is not None and best_cost <= 0.05 * 45:
                break
        if best is None:
            text.remove()
            continue
        text.set_position(to_data.transform((px + best[0], py + best[1])))
        taken.append(text.get_window_extent(renderer))
        drawn.append(text)
    return drawn


def _overlap_area(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


#: Width of one character of a town label, as a fraction of the map's width (7.2 pt on a map
#: 7-10 inches wide): enough to keep a label's whole text out of the scale bar's box.
_TOWN_CHAR_WIDTH = 0.008


def _draw_places(ax, frame: _MapFrame, view, sites, avoid=None) -> None:
    """Town names (GeoNames) inside the view: a dot and a haloed label, clipped to the map;
    none whose dot or text would fall in the ``avoid`` box ``(x0, y0, x1, y1)`` (the scale bar)."""
    import matplotlib.patheffects as pe

    bounds = _view_bounds_deg(frame, view)
    halo = [pe.withStroke(linewidth=2.4, foreground="white", alpha=0.85)]
    char_w = _TOWN_CHAR_WIDTH * (view[1] - view[0])
    half_h = 0.012 * (view[3] - view[2])
    for place in places_to_label(bounds, sites):
        x, y = frame.to_display(place.lon_deg, place.lat_deg)
        if not (view[0] <= x <= view[1] and view[2] <= y <= view[3]):
            continue
        if avoid is not None:
            text_end = x + char_w * (len(place.name) + 1)
            if x <= avoid[2] and text_end >= avoid[0] and y - half_h <= avoid[3] and y + half_h >= avoid[1]:
                continue  # under the scale bar
        ax.plot([x], [y], marker="o", markersize=2.6, color="#333333", zorder=9, linestyle="none", clip_on=True)
        ax.text(x, y, " " + place.name, fontsize=7.2, color="#222222", ha="left", va="center", zorder=9,
                clip_on=True, path_effects=halo)


def _overlaps(a, b, pad: float = 2.0) -> bool:
    return not (a.x1 + pad < b.x0 or b.x1 + pad < a.x0 or a.y1 + pad < b.y0 or b.y1 + pad < a.y0)


def _place_labels(fig, ax, sites, positions, avoid=()) -> None:
    """Label each site where the text overlaps neither another label, a marker nor ``avoid`` boxes."""
    from matplotlib import patheffects
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    marker_boxes = []
    for x, y in positions:
        px, py = ax.transData.transform((x, y))
        marker_boxes.append(Bbox([[px - 7, py - 7], [px + 7, py + 7]]))
    placed = list(marker_boxes) + list(avoid)
    offsets = []
    for radius in (9, 22, 40, 62, 90, 125):
        for angle in (35, -35, 145, -145, 0, 180, 90, -90, 60, -60, 120, -120, 15, -15, 165, -165):
            a = math.radians(angle)
            offsets.append((radius * math.cos(a), radius * math.sin(a)))
    halo = [patheffects.withStroke(linewidth=3.0, foreground="white")]
    order = sorted(range(len(sites)), key=lambda i: sites[i]["status"] != "withdrawn")
    for i in order:
        site, (x, y) = sites[i], positions[i]
        colour = {"withdrawn": VERMILLION, "added": BLUISH_GREEN}.get(site["status"], INK)
        chosen = None
        for dx, dy in offsets:
            ha = "left" if dx > 1 else ("right" if dx < -1 else "center")
            va = "bottom" if dy > 1 else ("top" if dy < -1 else "center")
            px, py = ax.transData.transform((x, y))
            if not (axes_box.x0 <= px <= axes_box.x1 and axes_box.y0 <= py <= axes_box.y1):
                break  # site outside the view: no label
            ann = ax.annotate(
                site["label"], (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=8.2,
                color=colour, fontweight="bold", zorder=14, path_effects=halo, annotation_clip=True,
                arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.8, "shrinkA": 1, "shrinkB": 5} if math.hypot(dx, dy) > 12 else None,
            )
            box = ann.get_window_extent(renderer)
            inside = box.x0 >= axes_box.x0 + 2 and box.x1 <= axes_box.x1 - 2 and box.y0 >= axes_box.y0 + 2 and box.y1 <= axes_box.y1 - 2
            if inside and not any(_overlaps(box, other) for j, other in enumerate(placed) if j != i):
                chosen = box
                break
            ann.remove()
        if chosen is not None:
            placed.append(chosen)

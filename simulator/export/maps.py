"""PNG maps of one scenario's coverage or of a comparison, for publication.

Drawn with matplotlib's object API on an Agg canvas (no pyplot state): hillshaded terrain
over Natural Earth (:mod:`simulator.export.background`), the covered, lost and gained areas,
unit sites, towns and countries (:mod:`simulator.export.labels`), a side panel with the
areas, the legend and (for a comparison) small before and after maps, and a footer with the
assumptions. :func:`render_map_png` runs the steps in drawing order.
"""

from __future__ import annotations

import dataclasses
import io
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simulator import __version__
from simulator.basemap import BASEMAP_CREDIT
from simulator.export.assumptions import assumption_lines, comparison_assumption_lines
from simulator.export.background import (
    _basemap_rgb,
    _draw_graticule,
    _draw_natural_earth,
    _draw_scale_bar,
)
from simulator.export.frame import _crop, _crop_extent, _map_frame
from simulator.export.labels import _draw_countries, _draw_places, _place_labels
from simulator.export.sites import _sites_of, comparison_sites
from simulator.export.staging import _atomic_write_bytes
from simulator.export.style import (
    AREA_STYLE,
    BLUISH_GREEN,
    COASTLINE_LEVEL_M,
    INK,
    MAP_DPI,
    PNG_COMPRESS_LEVEL,
    VERMILLION,
    _altitude_label,
    _altitude_words,
    _km2,
    _percent,
)
from simulator.places import PLACES_CREDIT

#: Page layout [in]: margins left and right of the map and the side panel, the gap between
#: them, the side panel's width, the title band above the map and the room below it.
LEFT_IN, GAP_IN, SIDE_W_IN, RIGHT_IN = 0.75, 0.45, 3.9, 0.25
TOP_H_IN, BELOW_MAP_IN = 1.0, 0.42


# ============================================================================ areas


def _draw_area(ax, frame, mask, style_key, zorder: float, crop) -> None:
    colour, alpha, hatch = AREA_STYLE[style_key]
    rs, cs = crop
    if not mask[rs, cs].any():
        return
    # pad with uncovered cells so every boundary closes (and a fully covered crop still has one)
    z = np.pad(np.asarray(mask[rs, cs], dtype=np.float32), 1)
    x, y = _padded(frame.x_centres[cs]), _padded(frame.y_centres[rs])
    ax.contourf(x, y, z, levels=[0.5, 1.5], colors=[colour], alpha=alpha, zorder=zorder, antialiased=True)
    if hatch:
        hatched = ax.contourf(x, y, z, levels=[0.5, 1.5], colors="none", hatches=[hatch], zorder=zorder + 0.1)
        hatched.set_hatchcolor(colour)
        hatched.set_hatch_linewidth(0.6)
    ax.contour(x, y, z, levels=[0.5], colors=[colour], linewidths=1.1, zorder=zorder + 0.2)


def _padded(centres: np.ndarray) -> np.ndarray:
    """Cell centres with one more cell on each side."""
    step = centres[1] - centres[0] if centres.size > 1 else 1.0
    return np.concatenate([[centres[0] - step], centres, [centres[-1] + step]])


def _area_handle(style_key, label):
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    colour, alpha, hatch = AREA_STYLE[style_key]
    return Patch(facecolor=to_rgba(colour, alpha), edgecolor=colour, hatch=hatch, linewidth=1.0, label=label)


def _assumptions_footer(lines: Sequence[str], width: int, *, width_in: float | None = None, fontsize: float = 6.6) -> str:
    """The footer lines wrapped at ``width`` characters or, with ``width_in``, at the width the
    text takes in that font: a line of wide letters (source ids, ``max_range_km``) would
    otherwise run past the figure's edge."""
    if width_in is None:
        return "\n".join(w for line in lines for w in (textwrap.wrap(line, width=width, subsequent_indent="    ") or [""]))
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=fontsize)
    limit_pt = 72.0 * width_in
    wrapped = []
    for line in lines:
        chars = width
        while True:
            pieces = textwrap.wrap(line, width=chars, subsequent_indent="    ") or [""]
            widest = max(text_to_path.get_text_width_height_descent(p, prop, ismath=False)[0] for p in pieces)
            if widest <= limit_pt or chars <= 20:
                break
            chars = max(20, int(chars * limit_pt / widest) - 1)
        wrapped += pieces
    return "\n".join(wrapped)


def _thumbnail(fig, rect, frame, view, basemap, mask, title: str, area_text: str, crop) -> None:
    """A small map of one scenario's coverage (solid blue) for the side panel."""
    ax = fig.add_axes(rect)
    rs, cs = crop
    extent = _crop_extent(frame, crop)
    rgb = basemap[rs, cs].copy()
    covered = np.asarray(mask[rs, cs], dtype=bool)
    blue = np.array([0, 114, 178], dtype=np.float32)  # BLUE
    rgb[covered, :3] = np.round(0.38 * rgb[covered, :3] + 0.62 * blue).astype(np.uint8)
    rgb[covered, 3] = np.maximum(rgb[covered, 3], 170)
    _draw_natural_earth(ax, frame, view, coast=False)
    ax.imshow(rgb, extent=extent, origin="upper", interpolation="antialiased", zorder=0)
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])
    ax.set_aspect(frame.aspect, adjustable="box", anchor="N")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#777777")

    # a long scenario name wraps to the thumbnail's width (about 9 characters an inch at 8.5 pt)
    width_chars = max(12, int(rect[2] * fig.get_figwidth() * 11))
    ax.set_title(textwrap.fill(title, width_chars), fontsize=8.5, fontweight="bold", loc="left", pad=3)
    ax.text(0.03, 0.04, area_text, transform=ax.transAxes, fontsize=7.5, fontweight="bold", color=INK,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})


# ============================================================================ one map, step by step


@dataclasses.dataclass
class _Areas:
    """The cells a map shows and their areas [km²].

    A comparison: covered before (``base``) and after (``var``), ``lost``, ``gained`` and
    ``kept``; one scenario: ``depth``, the number of units covering each cell.
    """

    comparing: bool
    masks: list  # what the view zooms onto
    base: np.ndarray | None = None
    var: np.ndarray | None = None
    lost: np.ndarray | None = None
    gained: np.ndarray | None = None
    kept: np.ndarray | None = None
    depth: np.ndarray | None = None
    base_km2: float = 0.0
    var_km2: float = 0.0


def _map_areas(coverage, layer, altitude_m, altitude_ref, baseline_mask, variant_mask, lost_mask, gained_mask) -> _Areas:
    """The masks to draw; ``lost_mask``/``gained_mask`` default to the differences."""
    grid = coverage.grid
    if baseline_mask is None and variant_mask is None:
        depth = coverage.depth(layer, altitude_m, altitude_ref)
        return _Areas(False, [depth > 0], depth=depth)
    base = np.asarray(baseline_mask if baseline_mask is not None else np.zeros(grid.shape, bool), dtype=bool)
    var = np.asarray(variant_mask if variant_mask is not None else np.zeros(grid.shape, bool), dtype=bool)
    lost = np.asarray(lost_mask, dtype=bool) if lost_mask is not None else base & ~var
    gained = np.asarray(gained_mask, dtype=bool) if gained_mask is not None else var & ~base
    return _Areas(True, [base, var], base=base, var=var, lost=lost, gained=gained, kept=base & var)


def _footer_source(coverage, assumptions, comparison) -> list[str]:
    """The assumption lines of the footer (and of the PNG's ``Description``)."""
    if isinstance(assumptions, dict):
        return assumption_lines(coverage, assumptions)
    if isinstance(assumptions, str):
        return [assumptions]
    if assumptions is None:
        return comparison_assumption_lines(comparison) if comparison is not None else assumption_lines(coverage)
    return list(assumptions)


@dataclasses.dataclass(frozen=True)
class _Wording:
    """How the map names its layer, altitude and the two scenarios."""

    layer: str  # "Engagement"
    altitude: str  # "100 m MSL"
    before: str
    after: str


@dataclasses.dataclass
class _Layout:
    """The page [in], y from the bottom: title band, map (height fixed, width from its shape)
    with the side panel to its right, footer."""

    fig: object
    dpi: int
    paper_ratio: float  # map width / height on paper
    map_w: float
    map_h: float
    fig_w: float
    fig_h: float
    footer: str
    footer_h: float

    @property
    def map_bottom(self) -> float:
        return self.footer_h + BELOW_MAP_IN

    @property
    def side_x(self) -> float:
        return LEFT_IN + self.map_w + GAP_IN

    def rect(self, x_in, y_in, w_in, h_in):
        """An axes rectangle in figure fractions."""
        return (x_in / self.fig_w, y_in / self.fig_h, w_in / self.fig_w, h_in / self.fig_h)


def _page_layout(frame, view, lines: Sequence[str], dpi: int) -> _Layout:
    """Size the page for the view's shape and the footer's length, and make the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    paper_ratio = (view[1] - view[0]) * frame.aspect_scale / (view[3] - view[2])
    map_h = 7.0 if paper_ratio <= 1.45 else 10.2 / paper_ratio
    map_w = map_h * paper_ratio
    fig_w = LEFT_IN + map_w + GAP_IN + SIDE_W_IN + RIGHT_IN
    footer_lines = ["Assumptions: " + lines[0], *lines[1:]] if lines else []
    footer_lines.append(PLACES_CREDIT + ".")
    footer_lines.append(BASEMAP_CREDIT + ".")
    footer = _assumptions_footer(footer_lines, int((fig_w - 1.0) * 19.5), width_in=fig_w - LEFT_IN - RIGHT_IN, fontsize=6.6)
    footer_h = 0.118 * (footer.count("\n") + 1) + 0.35
    fig_h = TOP_H_IN + map_h + BELOW_MAP_IN + footer_h
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return _Layout(fig, dpi, paper_ratio, map_w, map_h, fig_w, fig_h, footer, footer_h)


def _draw_terrain(layout: _Layout, grid, frame, view, crop):
    """The map axes with Natural Earth and the hillshaded terrain; (axes, terrain RGBA)."""
    ax = layout.fig.add_axes(layout.rect(LEFT_IN, layout.map_bottom, layout.map_w, layout.map_h))
    basemap = _basemap_rgb(grid.key, grid)
    rs, cs = crop
    _draw_natural_earth(ax, frame, view)
    ax.imshow(basemap[rs, cs], extent=_crop_extent(frame, crop), origin="upper", interpolation="bilinear", zorder=0)
    return ax, basemap


def _draw_areas(ax, frame, crop, coverage, areas: _Areas, wording: _Wording) -> tuple[list, list]:
    """Fill the areas; their legend handles and the side panel's (label, name, value) rows."""
    if areas.comparing:
        _draw_area(ax, frame, areas.kept, "kept", 2, crop)
        _draw_area(ax, frame, areas.lost, "lost", 3, crop)
        _draw_area(ax, frame, areas.gained, "gained", 3, crop)
        # base = kept + lost and var = kept + gained, disjointly
        a_base, a_lost, a_gained = coverage.area_km2(areas.base), coverage.area_km2(areas.lost), coverage.area_km2(areas.gained)
        a_kept = max(a_base - a_lost, 0.0)
        a_var = a_kept + a_gained
        areas.base_km2, areas.var_km2 = a_base, a_var
        handles = [
            _area_handle("kept", f"Still covered (before and after)\n{_km2(a_kept)}"),
            _area_handle("lost", f"Lost: covered in {wording.before},\nnot in {wording.after}: {_km2(a_lost)}"),
            _area_handle("gained", f"Gained: covered only in {wording.after}\n{_km2(a_gained)}"),
        ]
        stats = [("Before", wording.before, _km2(a_base)), ("After", wording.after, _km2(a_var))]
        if a_base > 0:
            stats.append(("Change", "", f"{a_var - a_base:+,.0f} km² ({_percent((a_var - a_base) / a_base * 100.0)})".replace("-", "−")))
        return handles, stats
    depth = areas.depth
    one, more = depth == 1, depth >= 2
    _draw_area(ax, frame, one | more, "covered", 2, crop)
    _draw_area(ax, frame, more, "covered2", 2.5, crop)
    handles = [
        _area_handle("covered", f"Covered by 1 unit\n{_km2(coverage.area_km2(one))}"),
        _area_handle("covered2", f"Covered by 2 or more units\n{_km2(coverage.area_km2(more))}"),
    ]
    return handles, [("Covered", coverage.scenario_name, _km2(coverage.area_km2(depth > 0)))]


def _draw_coast_and_graticule(ax, grid, frame, view, crop, basemap) -> None:
    """The DEM's coastline contour, the view's limits and aspect, and the lat/lon graticule."""
    rs, cs = crop
    elevation = np.asarray(grid.elevation_m[rs, cs], dtype=np.float32)
    elevation = np.where(basemap[rs, cs, 3] == 0, np.nan, elevation)  # no DEM coast along the DEM's own edge
    if np.isfinite(elevation).any() and np.nanmin(elevation) < COASTLINE_LEVEL_M <= np.nanmax(elevation):
        ax.contour(frame.x_centres[cs], frame.y_centres[rs], elevation, levels=[COASTLINE_LEVEL_M], colors=["#3c4a55"],
                   linewidths=0.6, zorder=5)
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])
    ax.set_aspect(frame.aspect, adjustable="box", anchor="NW")
    _draw_graticule(ax, frame, view)
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])


def _draw_sites(ax, sites, positions, comparing: bool, after_name: str) -> list:
    """Site markers (withdrawn: hollow and crossed; added: green); sets each site's ``label``
    and returns the legend handles of the kinds of site shown."""
    from matplotlib.lines import Line2D

    for site, (x, y) in zip(sites, positions, strict=True):
        if site["status"] == "withdrawn":
            ax.plot([x], [y], marker="^", markersize=10, markerfacecolor="white", markeredgecolor=VERMILLION, markeredgewidth=1.8,
                    zorder=12, linestyle="none")
            ax.plot([x], [y], marker="x", markersize=6, color=VERMILLION, markeredgewidth=1.8, zorder=13, linestyle="none")
        else:
            face = BLUISH_GREEN if site["status"] == "added" else INK
            ax.plot([x], [y], marker="^", markersize=10, markerfacecolor=face, markeredgecolor="white", markeredgewidth=1.0,
                    zorder=12, linestyle="none")
        status = {"withdrawn": " (withdrawn)", "added": " (added)"}.get(site["status"], "")
        site["label"] = f"{site['system_name']}{status}\n{site['unit_id']}"
    handles = []
    statuses = {s["status"] for s in sites}
    if statuses - {"withdrawn", "added"}:
        handles.append(Line2D([], [], marker="^", markersize=10, markerfacecolor=INK, markeredgecolor="white", linestyle="none",
                              label="Unit site" + (" (still there)" if comparing else "")))
    if "withdrawn" in statuses:
        handles.append(Line2D([], [], marker="^", markersize=10, markerfacecolor="white", markeredgecolor=VERMILLION, markeredgewidth=1.8,
                              linestyle="none", label=f"Withdrawn unit site (gone in {after_name})"))
    if "added" in statuses:
        handles.append(Line2D([], [], marker="^", markersize=10, markerfacecolor=BLUISH_GREEN, markeredgecolor="white", linestyle="none",
                              label=f"Added unit site (new in {after_name})"))
    return handles


def _draw_analysis_edge(ax, grid, frame) -> list:
    """The coastline's legend handle and, when the scenario sets an analysis box, its edge."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="#3c4a55", linewidth=0.8, label="Coastline (DEM 0.5 m contour)")]
    if grid.area_bounds_deg is not None:
        # the analysis stops at the scenario's box: show where (nothing beyond it is computed)
        w, s_, e, n = grid.area_bounds_deg
        t = np.linspace(0.0, 1.0, 64)
        lon = np.concatenate([w + (e - w) * t, np.full(64, e), e - (e - w) * t, np.full(64, w)])
        lat = np.concatenate([np.full(64, s_), s_ + (n - s_) * t, np.full(64, n), n - (n - s_) * t])
        bx, by = frame.to_display(lon, lat)
        ax.plot(bx, by, color=INK, linewidth=1.4, linestyle=(0, (6, 3)), zorder=11)
        handles.append(Line2D([], [], color=INK, linewidth=1.4, linestyle=(0, (6, 3)),
                              label="Edge of the analysis area\n(nothing computed beyond)"))
    return handles


def _draw_titles(layout: _Layout, coverage, layer, altitude_ref, wording: _Wording, sites, comparing, title, subtitle) -> str:
    """Title and subtitle above the map (defaults say what is mapped); returns the title."""
    if title is None:
        if comparing:
            title = f"{wording.layer} coverage at {wording.altitude}: {wording.before} → {wording.after}"
        else:
            title = f"{coverage.scenario_name or 'Scenario'}: {wording.layer.lower()} coverage at {wording.altitude}"
    if subtitle is None:
        verb = "engage" if layer == "engagement" else "detect"
        subtitle = f"Where at least one unit can {verb} a target flying at {wording.altitude.split(' m ')[0]} m {_altitude_words(altitude_ref)}."
        withdrawn = [s["unit_id"] for s in sites if s["status"] == "withdrawn"]
        added = [s["unit_id"] for s in sites if s["status"] == "added"]
        if withdrawn:
            subtitle += f" Withdrawn in {wording.after}: {', '.join(withdrawn)}."
        if added:
            subtitle += f" Added in {wording.after}: {', '.join(added)}."
    fig, fig_w, fig_h = layout.fig, layout.fig_w, layout.fig_h
    fig.text(LEFT_IN / fig_w, 1 - 0.22 / fig_h, title, fontsize=15, fontweight="bold", ha="left", va="top", color=INK)
    fig.text(LEFT_IN / fig_w, 1 - 0.58 / fig_h, subtitle, fontsize=10.5, ha="left", va="top", color="#333333")
    return title


def _draw_side_panel(layout: _Layout, wording: _Wording, stats, handles) -> float:
    """The numbers and the legend beside the map (its font shrunk until it fits); returns
    the legend's bottom edge [in from the bottom of the page]."""
    side = layout.fig.add_axes(layout.rect(layout.side_x, layout.map_bottom, SIDE_W_IN, layout.map_h))
    side.set_axis_off()
    y = 1.0
    side.text(0.0, y, f"{wording.layer} layer · {wording.altitude}", fontsize=11, fontweight="bold", va="top", transform=side.transAxes)
    y -= 0.055
    for label, name, value in stats:
        side.text(0.0, y, label + (f" ({name})" if name else ""), fontsize=9, va="top", transform=side.transAxes, color="#333333")
        side.text(1.0, y, value, fontsize=9.5, fontweight="bold", va="top", ha="right", transform=side.transAxes)
        y -= 0.042
    for handle in handles:  # long scenario names wrap instead of running off the page
        handle.set_label("\n".join(textwrap.fill(line, 40) for line in handle.get_label().split("\n")))
    renderer = layout.fig.canvas.get_renderer()
    right_edge_px = (layout.fig_w - RIGHT_IN * 0.5) * layout.dpi
    for fontsize in (8.6, 8.0, 7.4, 6.8, 6.2):
        legend = side.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, y - 0.01), frameon=False,
                             fontsize=fontsize, handlelength=2.6, handleheight=1.7, labelspacing=0.75, borderaxespad=0.0)
        if legend.get_window_extent(renderer).x1 <= right_edge_px:
            break
    side.add_artist(legend)
    return legend.get_window_extent(renderer).y0 / layout.dpi


def _draw_thumbnails(layout: _Layout, frame, view, crop, basemap, areas: _Areas, wording: _Wording, legend_bottom_in: float) -> None:
    """Small "before" and "after" maps under the legend, where there is room for them."""
    thumb_w = (SIDE_W_IN - 0.2) / 2
    thumb_h = min(thumb_w / layout.paper_ratio, legend_bottom_in - layout.map_bottom - 0.45)
    thumb_w = thumb_h * layout.paper_ratio
    if thumb_h > 0.8:
        thumb_y = legend_bottom_in - 0.5 - thumb_h
        x = layout.side_x
        _thumbnail(layout.fig, layout.rect(x, thumb_y, thumb_w, thumb_h), frame, view, basemap, areas.base,
                   f"Before: {wording.before}", _km2(areas.base_km2), crop)
        _thumbnail(layout.fig, layout.rect(x + thumb_w + 0.2, thumb_y, thumb_w, thumb_h), frame, view, basemap, areas.var,
                   f"After: {wording.after}", _km2(areas.var_km2), crop)


def _draw_footer(layout: _Layout) -> None:
    """The assumptions under the map, and adcov's version in the corner."""
    fig, fig_w, fig_h = layout.fig, layout.fig_w, layout.fig_h
    fig.text(LEFT_IN / fig_w, (layout.footer_h - 0.12) / fig_h, layout.footer, fontsize=6.6, ha="left", va="top", color="#333333",
             linespacing=1.35)
    fig.text(1 - RIGHT_IN / fig_w, 0.06 / fig_h, f"adcov {__version__} · published nominal figures, not observed capabilities",
             fontsize=6.5, ha="right", va="bottom", color="#666666")


def render_map_png(
    path,
    coverage,
    *,
    layer: str,
    altitude_m: float,
    altitude_ref: str = "msl",
    baseline_mask: np.ndarray | None = None,
    variant_mask: np.ndarray | None = None,
    lost_mask: np.ndarray | None = None,
    gained_mask: np.ndarray | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    assumptions: Sequence[str] | str | dict | None = None,
    sites: Sequence[dict] | None = None,
    names: tuple[str, str] | None = None,
    comparison=None,
    zoom: bool = True,
    dpi: int = MAP_DPI,
) -> Path:
    """Draw one coverage map to a PNG (atomically) and return its path.

    Hillshaded terrain (sea flat pale blue, coastline = the DEM's 0.5 m contour) over Natural
    Earth's land, sea and coast (seen where the DEM has no data), country names (Natural
    Earth) and town names (GeoNames), a lat/lon graticule, a geodesic scale bar, site markers with non-overlapping labels, a side panel
    with the areas and the legend, a title, and a footer with the assumptions (also stored
    as the PNG's ``Description`` text chunk).

    Without masks it maps ``coverage`` at the altitude: cells covered by one unit and by
    two or more. With ``baseline_mask`` and ``variant_mask`` it maps a comparison: covered
    before and after (blue), lost (vermillion, hatched ``////``), gained (bluish green,
    hatched the other way), and small "before" and "after" maps in the side panel;
    ``lost_mask``/``gained_mask`` default to the differences.

    Parameters
    ----------
    coverage : Coverage
        Grid, terrain and (for a single-scenario map) the units.
    layer : {"detection", "engagement"}
    altitude_m : float
        Target altitude. [m]
    altitude_ref : {"msl", "agl"}
    sites : list of dict, optional
        ``unit_id``, ``system_name``, ``lat_deg``, ``lon_deg``, ``status`` (active,
        withdrawn, added); default: the coverage's units, active.
    names : (str, str), optional
        Baseline and variant names for a comparison.
    comparison : simulator.compare.Comparison, optional
        Map this comparison at ``layer`` and ``altitude_m``: the masks, names and sites
        (withdrawn / added) default to its own.
    assumptions : list of str, str or dict, optional
        Footer lines; default :func:`assumption_lines` of ``coverage``.
    zoom : bool
        Zoom onto the covered area and the sites (the whole grid when they fill most of it).
    """
    if comparison is not None:
        change = comparison.change(layer, altitude_m)
        altitude_ref = comparison.altitude_ref
        baseline_mask = change.baseline_cells if baseline_mask is None else baseline_mask
        variant_mask = change.variant_cells if variant_mask is None else variant_mask
        lost_mask = change.lost_cells if lost_mask is None else lost_mask
        gained_mask = change.gained_cells if gained_mask is None else gained_mask
        names = names or (comparison.baseline_name, comparison.variant_name)
        sites = comparison_sites(comparison) if sites is None else sites
    grid = coverage.grid
    frame = _map_frame(grid)
    lines = _footer_source(coverage, assumptions, comparison)
    sites = [dict(s) for s in (sites if sites is not None else _sites_of(coverage))]
    before_name, after_name = names or ("baseline", "variant")
    wording = _Wording({"engagement": "Engagement", "detection": "Detection"}.get(layer, layer), _altitude_label(altitude_m, altitude_ref),
                       before_name, after_name)
    areas = _map_areas(coverage, layer, altitude_m, altitude_ref, baseline_mask, variant_mask, lost_mask, gained_mask)
    positions = [frame.to_display(s["lon_deg"], s["lat_deg"]) for s in sites]
    view = frame.view(areas.masks, positions) if zoom else frame.extent
    crop = _crop(frame, view)

    layout = _page_layout(frame, view, lines, dpi)
    ax, basemap = _draw_terrain(layout, grid, frame, view, crop)
    handles, stats = _draw_areas(ax, frame, crop, coverage, areas, wording)
    _draw_coast_and_graticule(ax, grid, frame, view, crop, basemap)
    handles += _draw_sites(ax, sites, positions, areas.comparing, after_name)
    handles += _draw_analysis_edge(ax, grid, frame)
    scale_box = _draw_scale_bar(ax, frame, view)
    _draw_places(ax, frame, view, [(s["lat_deg"], s["lon_deg"]) for s in sites], avoid=scale_box)
    title = _draw_titles(layout, coverage, layer, altitude_ref, wording, sites, areas.comparing, title, subtitle)
    legend_bottom_in = _draw_side_panel(layout, wording, stats, handles)
    if areas.comparing:
        _draw_thumbnails(layout, frame, view, crop, basemap, areas, wording, legend_bottom_in)
    _draw_footer(layout)
    ax.apply_aspect()  # labels are placed in the map's final on-page position
    _place_labels(layout.fig, ax, sites, positions)
    _draw_countries(layout.fig, ax, frame, view, positions)

    buffer = io.BytesIO()
    layout.fig.savefig(buffer, format="png", dpi=dpi,
                       metadata={"Title": title, "Description": "\n".join(lines), "Software": f"adcov {__version__}"},
                       pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return _atomic_write_bytes(Path(path), buffer.getvalue())

"""What the map shows around the overlay -- unit markers, nominal range rings, the legend
line under it -- computed from a :class:`~gui.model.Session` and a
:class:`~gui.state.ViewState`. No Qt: the window hands the results to
:class:`~gui.map_view.MapView` and a label.
"""

from __future__ import annotations

from gui import model


def marker_colour(session, state, unit_id: str) -> str:
    """The unit's colour in the sole / which-unit views, its system's in the others."""
    if state.view in ("sole", "which-unit"):
        return session.unit_colour(unit_id)
    return session.system_colour(session.unit(unit_id).system_id)


def markers_and_rings(session, state) -> tuple[list[dict], list[tuple]]:
    """``(units, rings)`` for :meth:`MapView.set_units` and :meth:`MapView.set_rings`: every
    unit where it stands (as edited), and the flat ring of each active unit when shown."""
    active = set(session.active_ids(state))
    gone_in = None
    if state.view == "difference" and state.difference_against == "comparison" and session.comparison is not None:
        gone_in = session.comparison
    units, rings = [], []
    for unit in session.units:
        shown = session.unit_with_edits(unit.id, state.edits.get(unit.id))
        colour = marker_colour(session, state, unit.id)
        label = unit.id if unit.id in active else f"{unit.id} (off)"
        if gone_in is not None and unit.id in active and unit.id not in gone_in.coverage.envelopes:
            label += f" (not in {gone_in.name})"
        units.append({
            "unit_id": unit.id, "lon_deg": shown.lon_deg, "lat_deg": shown.lat_deg, "colour": colour,
            "label": label, "active": unit.id in active,
            "selected": unit.id == state.selected_unit,
        })
        if state.show_rings and unit.id in active:
            radius = model.nominal_range_km(session.envelope(unit.id, state.edits).figures, state.layer)
            if radius:
                lon, lat = model.range_ring_lonlat(shown.lat_deg, shown.lon_deg, radius)
                rings.append((lon, lat, colour))
    return units, rings


def blend_on_white(rgba) -> str:
    """The colour a translucent RGBA fill shows over white, as #rrggbb."""
    r, g, b, a = rgba
    f = a / 255.0
    return "#{:02x}{:02x}{:02x}".format(*tuple(round(c * f + 255 * (1 - f)) for c in (r, g, b)))


def swatch(colour: str, kind: str = "fill") -> str:
    """A legend swatch in Qt rich text: a filled box, an outline, a dashed line or a dot."""
    if kind == "outline":
        return f"<span style='color:{colour}; font-weight:bold'>▭</span>"
    if kind == "line":
        return f"<span style='color:{colour}; font-weight:bold'>╌╌</span>"
    if kind == "marker":
        return f"<span style='color:{colour}; font-size:12pt'>●</span>"
    return f"<span style='background-color:{colour}; color:{colour}'>&nbsp;&nbsp;&nbsp;&nbsp;</span>"


def legend_html(session, state, overlay: model.Overlay) -> str:
    """The legend under the map: the overlay's entries, the markers, the rings and the sea."""
    nb = lambda text: text.replace(" ", "&nbsp;")
    items = [f"{swatch(blend_on_white(e.rgba), e.kind)}&nbsp;{nb(e.label)}" for e in overlay.legend]
    if state.view in ("sole", "which-unit"):
        markers = nb("markers: colour of their unit")
    else:
        markers = "markers by system: " + ", ".join(
            f"{swatch(session.system_colour(s), 'marker')}&nbsp;{nb(session.catalog.get(s).name)}" for s in session.system_ids()
        )
    items.append(markers)
    if state.show_rings:
        ring_kind = "detection range" if state.layer == "detection" else "longest weapon range"
        items.append(f"{swatch('#444444', 'line')}&nbsp;{nb(f'nominal {ring_kind} (flat, no terrain)')}")
    sea = "#{:02x}{:02x}{:02x}".format(*model.SEA)
    items.append(f"{swatch(sea)}&nbsp;sea")
    return "&nbsp;&nbsp;&nbsp; ".join(items)

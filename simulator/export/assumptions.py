"""The assumptions every report file carries: k factor, terrain, grid, figures, origins, sources.

:func:`report_assumptions` resolves the sources a coverage's figures cite;
:func:`assumption_lines` gives them as short lines (map footers, KML, GeoTIFF tags) and
:func:`assumptions_text` as the full ``ASSUMPTIONS.txt``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path


def report_assumptions(coverage) -> dict:
    """:meth:`Coverage.assumptions` plus the cited sources resolved.

    ``sources`` maps every source id a figure or a unit's placement cites to its title,
    publisher, date and address (from the scenario file's ``sources:``, else the catalog;
    ids neither knows are kept with a note), and ``model`` states in words what "covered"
    means.
    """
    from simulator.catalog import load_catalog
    from simulator.errors import CatalogError

    assumptions = copy.deepcopy(coverage.assumptions())
    ids = sorted(
        {sid for unit in assumptions["units"].values() for sids in unit.get("sources", {}).values() for sid in sids}
        | {sid for p in assumptions.get("placements", {}).values() for sid in p.get("sources", [])}
    )
    catalog = load_catalog()
    scenario_sources = getattr(coverage, "placement_sources", {}) or {}
    sources = {}
    for sid in ids:
        if sid in scenario_sources:  # the scenario file's own citation
            s = scenario_sources[sid]
            sources[sid] = {k: str(s.get(k, "") or "") for k in ("title", "publisher", "date", "address")}
            continue
        try:
            s = catalog.source(sid)
        except CatalogError:
            sources[sid] = {"note": "not in the adcov catalog"}
            continue
        sources[sid] = {"title": s.title, "publisher": s.publisher, "date": str(s.date), "address": s.address}
    assumptions["sources"] = sources
    assumptions["model"] = (
        "A unit covers a cell at altitude h when floor <= h <= ceiling: floor = lowest altitude in line of sight "
        "over the terrain (earth curvature with effective radius k * R, terrain masking) raised to the weapon's "
        "minimum altitude and minimum slant range; ceiling = the weapon's maximum altitude and slant range. "
        "Published nominal figures only; no clutter, multipath, jamming, sector limits unless stated."
    )
    return assumptions


def _terrain_line(coverage) -> str:
    grid = coverage.grid
    terrain = grid.terrain
    paths = [Path(p) for p in terrain.source_paths]
    if len(paths) > 3:
        folder = Path(os.path.commonpath([str(p.parent) for p in paths]))
        names = f"{len(paths)} tiles under {folder.name}/"
    else:
        names = ", ".join(p.name for p in paths) or "array"
    crs = grid.crs.to_string() if grid.crs.to_epsg() is None else f"EPSG:{grid.crs.to_epsg()}"
    if grid.crs.is_geographic:
        x_res, y_res = terrain.resolution
        cell = f'{x_res * 3600:.3g}" x {y_res * 3600:.3g}"'
    else:
        x_res, y_res = terrain.resolution
        cell = f"{x_res:.4g} x {y_res:.4g} m"
    ew_m, ns_m = grid.cell_size_m
    dem_ew_m, dem_ns_m = grid.dem_cell_size_m
    outside = getattr(terrain, "outside_terrain", "error")
    beyond = "; beyond the terrain: sea level" if outside == "sea" else ""
    if grid.area_bounds_deg is not None:
        area = "analysis area: the scenario's box " + ", ".join(f"{v:g}" for v in grid.area_bounds_deg) + " (W, S, E, N deg)"
        clipped = [f"{uid} {u['disk_fraction_outside']:.0%}" for uid, u in coverage.analysis_area()["units"].items()
                   if u["disk_fraction_outside"] >= 0.0005]
        if clipped:
            area += "; nominal disk outside it: " + ", ".join(clipped)
    else:
        area = "analysis area: the units' full nominal disks"
    return (
        f"terrain {names} ({crs}, cells {cell}, ~{dem_ew_m:.0f} x {dem_ns_m:.0f} m, sampled by the rays){beyond}; "
        f"analysis grid {grid.n_rows} x {grid.n_cols} cells of ~{ew_m:.0f} x {ns_m:.0f} m; {area}"
    )


def _fmt_km(value) -> str:
    return "?" if value is None else f"{value:g}"


def _unit_groups(assumptions: dict) -> list[tuple[list[str], dict]]:
    """Units with identical figures (apart from the site), in first-seen order."""
    groups: dict[str, tuple[list[str], dict]] = {}
    for uid, unit in assumptions["units"].items():
        key = json.dumps({k: v for k, v in unit.items() if k not in ("lat_deg", "lon_deg")}, sort_keys=True, default=str)
        groups.setdefault(key, ([], unit))[0].append(uid)
    return list(groups.values())


def _figure_lines(assumptions: dict, *, with_sources: bool = True) -> list[str]:
    """One line per group of identically-figured units: figures, origins and source ids."""
    lines = []
    for uids, unit in _unit_groups(assumptions):
        parts = []
        for w in unit["weapons"]:
            origin = w.get("origin", {})
            ceiling = "no ceiling" if w["max_target_altitude_msl_m"] is None else f"ceiling {w['max_target_altitude_msl_m']:g} m MSL"
            defaulted = [name for name, o in origin.items() if o == "default"]
            overridden = [name for name, o in origin.items() if o == "override"]
            text = (
                f"{w['id']}: slant range {_fmt_km(w['min_range_km'])}-{_fmt_km(w['max_range_km'])} km, "
                f"altitude {w['min_target_altitude_agl_m']:g} m AGL to {ceiling}"
            )
            if overridden:
                text += f" (set by the scenario: {', '.join(overridden)})"
            if defaulted:
                text += f" (not published, defaults: {', '.join(defaulted)})"
            parts.append(text)
        parts.append(f"detection {_fmt_km(unit['detection_range_km'])} km ({unit['detection_origin']})")
        line = (
            f"{unit['system_name']} [{', '.join(uids)}]: antenna {unit['antenna_height_m']:g} m AGL "
            f"({unit['antenna_height_origin']}); " + "; ".join(parts)
        )
        if unit.get("range_mode", "nominal") != "nominal":
            line += f"; range mode {unit['range_mode']}"
        if with_sources and unit.get("sources"):
            cited = "; ".join(f"{fig}: {', '.join(ids)}" for fig, ids in unit["sources"].items())
            line += f". Sources: {cited}"
        lines.append(line)
    return lines


def assumption_lines(coverage, assumptions: dict | None = None) -> list[str]:
    """The assumptions as short lines (map footers, KML, GeoTIFF tags)."""
    assumptions = assumptions or report_assumptions(coverage)
    k = assumptions["k_factor"]
    k_text = "4/3" if abs(k - 4.0 / 3.0) < 1e-9 else f"{k:.4g}"
    r_eff_km = k * assumptions["earth_radius_m"] / 1000.0
    head = f"k = {k_text} (effective earth radius {r_eff_km:,.0f} km); {_terrain_line(coverage)}."
    lines = [head, *_figure_lines(assumptions)]
    lines.append("Published nominal figures only: terrain masking and earth curvature; no clutter, multipath or jamming.")
    return lines


def comparison_assumption_lines(comparison, assumptions: dict | None = None) -> list[str]:
    """Assumption lines of a comparison: shared settings once, the baseline's units, and the
    variant's added or changed units (both scenarios' settings when they differ)."""
    assumptions = assumptions or _comparison_assumptions(comparison)
    base = assumption_lines(comparison.baseline, assumptions["baseline"])
    var = assumption_lines(comparison.variant, assumptions["variant"])
    names = (comparison.baseline_name, comparison.variant_name)
    lines = [base[0]] if base[0] == var[0] else [f"{names[0]}: {base[0]}", f"{names[1]}: {var[0]}"]
    lines += base[1:-1]
    new_ids = set(comparison.added_units) | set(comparison.changed_units)
    variant_units = {uid: u for uid, u in assumptions["variant"]["units"].items() if uid in new_ids}
    if variant_units:
        lines += [f"{names[1]}: {line}" for line in _figure_lines({**assumptions["variant"], "units": variant_units})]
    lines.append(base[-1])
    return lines


def _origin_text(origin) -> str:
    """``{'max_range_km': 'published', ...}`` as ``max range published, ...`` (no Python reprs)."""
    if isinstance(origin, dict):
        return ", ".join(f"{k.removesuffix('_km').removesuffix('_m').replace('_', ' ')} {v}" for k, v in origin.items())
    return str(origin)


def _numbers(values) -> str:
    return ", ".join(f"{float(v):g}" for v in values)


def assumptions_text(coverage, assumptions: dict | None = None, *, title: str = "") -> str:
    """The full ``ASSUMPTIONS.txt``: every figure, its origin and its cited sources."""
    assumptions = assumptions or report_assumptions(coverage)
    out = []
    if title:
        out += [title, "=" * len(title), ""]
    out.append(f"Scenario: {coverage.scenario_name or '(unnamed)'}")
    out.append(f"Effective earth radius factor k = {assumptions['k_factor']:.6g} (earth radius {assumptions['earth_radius_m']:.1f} m)")
    out.append(f"Terrain: {assumptions['terrain']}")
    g = assumptions["analysis_grid"]
    out.append(
        f"Analysis grid: {g['rows']} x {g['cols']} cells of ~{g['cell_size_m'][0]:.0f} x {g['cell_size_m'][1]:.0f} m, "
        f"bounds (W, S, E, N) {_numbers(g['bounds_deg'])} deg, CRS {g['crs']}"
    )
    if "dem_spacing_m" in assumptions:
        dx, dy = assumptions["dem_spacing_m"]
        out.append(f"DEM spacing: ~{dx:.0f} x {dy:.0f} m; the rays sample the DEM at its own spacing")
        out.append(f"Analysis spacing: {g.get('resolution_rule', '')}")
    if assumptions.get("analysis_area"):
        from simulator.analysis_area import analysis_area_lines

        out += analysis_area_lines(assumptions["analysis_area"], all_units=True)
    out += ["", "Model: " + assumptions["model"], "", "Units and the figures used:"]
    for uid, unit in assumptions["units"].items():
        out.append(f"- {uid}: {unit['system_name']} ({unit['system']}) at {unit['lat_deg']:.5f} N, {unit['lon_deg']:.5f} E")
        out.append(f"    antenna height {unit['antenna_height_m']:g} m AGL ({unit['antenna_height_origin']})")
        out.append(f"    detection range {_fmt_km(unit['detection_range_km'])} km ({unit['detection_origin']})")
        for w in unit["weapons"]:
            ceiling = "none" if w["max_target_altitude_msl_m"] is None else f"{w['max_target_altitude_msl_m']:g} m MSL"
            out.append(
                f"    weapon {w['id']} ({w['missile']}): slant range {_fmt_km(w['min_range_km'])}-{_fmt_km(w['max_range_km'])} km, "
                f"min altitude {w['min_target_altitude_agl_m']:g} m AGL, ceiling {ceiling}; origin {_origin_text(w['origin'])}"
            )
        for note in unit.get("defaults_used", []):
            out.append(f"    default: {note}")
        for fig, ids in unit.get("sources", {}).items():
            out.append(f"    source of {fig}: {', '.join(ids)}")
        placement = assumptions.get("placements", {}).get(uid)
        if placement:
            precision = placement.get("position_precision_km")
            where = "site as given" if precision is None else f"site within ~{precision:g} km"
            out.append(
                f"    placement: {placement.get('status') or 'status not stated'}, deployed {placement.get('deployed') or 'unknown'}, "
                f"withdrawn {placement.get('withdrawn') or '-'}; {where}"
            )
            if placement.get("sources"):
                out.append(f"    source of the placement: {', '.join(placement['sources'])}")
            if placement.get("dates_note"):
                out.append(f"    dates: {placement['dates_note']}")
    if assumptions.get("notes"):
        out += ["", "Notes:", *(f"- {n}" for n in assumptions["notes"])]
    out += ["", "Sources cited above:"]
    for sid, s in assumptions.get("sources", {}).items():
        if "title" in s:
            out.append(f"- {sid}: {s['title']}. {s['publisher']}, {s['date']}. {s['address'] or '(no address)'}")
        else:
            out.append(f"- {sid}: {s.get('note', '')}")
    return "\n".join(out) + "\n"


def _comparison_assumptions(comparison) -> dict:
    return {
        "baseline": report_assumptions(comparison.baseline),
        "variant": report_assumptions(comparison.variant),
        "withdrawn_units": list(comparison.withdrawn_units),
        "added_units": list(comparison.added_units),
        "changed_units": list(comparison.changed_units),
    }

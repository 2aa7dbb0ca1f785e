"""The two reports: :func:`write_run_report` (one scenario) and :func:`write_comparison_report`
(baseline vs variant).

Both share one layout -- tables, GeoJSON, KML/KMZ, maps, rasters, ``ASSUMPTIONS.txt``,
``README.txt`` and ``manifest.json`` -- and are written into a staged folder
(:class:`simulator.export.staging._StagedReport`) that replaces ``out_dir`` only once complete.
Every file carries the assumptions it was computed with -- k factor, terrain and its
resolution, antenna heights, the figures used and the sources they come from -- as a
JSON/GeoJSON member, the KML description, GeoTIFF tags, the PNG footer (and its
``Description`` text chunk), and ``ASSUMPTIONS.txt``.
"""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import simulator.export as _export  # the render_* functions are looked up there: tests replace them
from simulator import __version__
from simulator.errors import AdcovError
from simulator.export.assumptions import (
    _comparison_assumptions,
    assumption_lines,
    assumptions_text,
    comparison_assumption_lines,
    report_assumptions,
)
from simulator.export.geojson import _dump_geojson, comparison_geojson, coverage_geojson
from simulator.export.kml import _kmz_bytes, kml_document
from simulator.export.rasters import (
    _write_change_rasters,
    _write_rasters,
    assumption_tags,
)
from simulator.export.sites import _site_features, _sites_of, comparison_sites
from simulator.export.staging import _StagedReport
from simulator.export.style import _altitude_label, _altitude_slug, _slug
from simulator.export.tables import (
    COMPARISON_CSV_COLUMNS,
    comparison_csv,
    marginal_csv,
    summary_csv,
)


def _layers_identical(coverages, altitude_m: float, altitude_ref: str) -> bool:
    """Whether every unit of every coverage covers the same cells in the detection and the
    engagement layer at this altitude (then their maps would be the same picture)."""
    for coverage in coverages:
        for uid in coverage.unit_ids:
            detection = coverage.unit_covered_in_window(uid, "detection", altitude_m, altitude_ref)
            engagement = coverage.unit_covered_in_window(uid, "engagement", altitude_m, altitude_ref)
            if not np.array_equal(detection, engagement):
                return False
    return True


def _identical_note(altitudes, altitude_ref: str, name) -> str:
    """README lines for the detection maps not written because they equal the engagement ones."""
    return "\n".join(
        f"maps/{name(a)} is not written: at {_altitude_label(a, altitude_ref)} every unit covers the same cells in the "
        f"detection and the engagement layer, so it would be identical to maps/{name(a).replace('detection_', 'engagement_', 1)} "
        "(rasters and tables keep both layers)."
        for a in altitudes
    )


def _readme(kind_title: str, what: str, files: Sequence[str], lines: Sequence[str]) -> str:
    out = [kind_title, "=" * len(kind_title), "", what, "",
           f"Written by adcov {__version__} on {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}.", "",
           "Files:"]
    descriptions = {
        ".geojson": "polygons, lon/lat WGS84 (RFC 7946), properties kind/layer/altitude_m/altitude_ref/unit_ids/depth/area_km2",
        ".kml": "Google Earth, one folder per layer and altitude",
        ".kmz": "the same KML, zipped (doc.kml)",
        ".csv": "table",
        ".json": "the full numbers and assumptions",
        ".png": "map / chart",
        ".tif": "GeoTIFF raster in the analysis grid's CRS",
        ".txt": "text",
    }
    for f in files:
        out.append(f"  {f}  -- {descriptions.get(Path(f).suffix, '')}")
    out += ["  manifest.json  -- every file with its size and sha256 (written last)", "",
            "Rasters (in a comparison prefixed with the scenario name): floor_<layer>_unit-<unit>.tif / ceiling_<layer>_unit-<unit>.tif =",
            "lowest / highest target altitude [m MSL] the unit covers over each cell (NaN: not covered); floor_<layer>_combined.tif =",
            "min over units; depth_<layer>_<altitude>.tif = number of units covering each cell at that altitude; in a comparison",
            "change_<layer>_<altitude>.tif = 0 not covered, 1 covered before and after, 2 lost, 3 gained.",
            "A cell is covered at altitude h when some unit's floor <= h <= its ceiling (a unit with several weapons may have gaps",
            "between them; the depth rasters are exact).", "",
            "Assumptions (full list with sources in ASSUMPTIONS.txt):", *(f"  {line}" for line in lines), ""]
    return "\n".join(out)


def _check_layers(layers, valid=("detection", "engagement")):
    bad = [layer for layer in layers if layer not in valid]
    if bad:
        raise AdcovError(f"layers: {', '.join(bad)} not valid; expected one or more of {', '.join(valid)}")


def write_run_report(coverage, summary: dict, out_dir, *, altitudes_m=None, layers=None, altitude_ref: str | None = None) -> list[Path]:
    """Write the report of one scenario run into ``out_dir`` (atomically) and list its files.

    Contents: ``summary.json`` (the summary with the resolved sources), ``summary.csv`` (one
    row per layer/altitude), ``coverage.geojson``, ``coverage.kml`` and ``.kmz``, ``maps/``
    (one PNG per layer and altitude, plus ``area_by_altitude.png``), ``rasters/`` (floor and
    ceiling per unit and layer, combined floor, depth per layer and altitude),
    ``ASSUMPTIONS.txt``, ``README.txt`` and ``manifest.json``.

    Parameters
    ----------
    coverage : Coverage
    summary : dict
        :func:`simulator.coverage.summarize` of ``coverage``.
    out_dir : path
        Report folder; replaced only if it is empty or an earlier adcov report.
    altitudes_m, layers : optional
        Default: those of the summary.
    altitude_ref : {"msl", "agl"}, optional
        Default: the summary's (else "msl").
    """
    layers = list(layers) if layers is not None else list(summary.get("layers", {})) or ["detection", "engagement"]
    _check_layers(layers)
    summary_rows = [r for rows in summary.get("layers", {}).values() for r in rows]
    if altitudes_m is None:
        altitudes_m = list(dict.fromkeys(float(r["altitude_m"]) for r in summary_rows)) or [100.0]
    altitudes_m = [float(a) for a in altitudes_m]
    if altitude_ref is None:
        altitude_ref = summary_rows[0]["altitude_ref"] if summary_rows else "msl"
    assumptions = report_assumptions(coverage)
    lines = assumption_lines(coverage, assumptions)
    name = coverage.scenario_name or "scenario"

    stage = _StagedReport(out_dir, "run")
    try:
        data = copy.deepcopy(summary)
        data["assumptions"] = assumptions
        stage.write_json("summary.json", data)
        stage.write_text("summary.csv", summary_csv(summary))
        collection = coverage_geojson(coverage, layers, altitudes_m, altitude_ref, assumptions=assumptions)
        stage.write_text("coverage.geojson", _dump_geojson(collection))
        groups = [
            ((f"{layer.capitalize()} layer", _altitude_label(alt, altitude_ref)),
             [f for f in collection["features"] if f["properties"]["layer"] == layer and f["properties"]["altitude_m"] == alt])
            for layer in layers for alt in altitudes_m
        ]
        groups.append(("Unit sites", _site_features(_sites_of(coverage))))
        kml = kml_document(groups, name=f"{name}: coverage", description="Assumptions:\n" + "\n".join(lines))
        stage.write_bytes("coverage.kml", kml)
        stage.write_bytes("coverage.kmz", _kmz_bytes(kml))
        both = set(layers) == {"detection", "engagement"}
        identical = [alt for alt in altitudes_m if both and _layers_identical([coverage], alt, altitude_ref)]
        for layer in layers:
            for alt in altitudes_m:
                if layer == "detection" and alt in identical:
                    continue  # the engagement map shows the same cells (README.txt says so)
                _export.render_map_png(stage.path(f"maps/{layer}_{_altitude_slug(alt)}_{altitude_ref}.png"), coverage, layer=layer,
                               altitude_m=alt, altitude_ref=altitude_ref, assumptions=lines)
        rows_by_layer = {layer: [r for r in summary["layers"].get(layer, [])] for layer in layers if summary.get("layers", {}).get(layer)}
        if rows_by_layer:
            _export.render_area_chart_png(stage.path("maps/area_by_altitude.png"), rows_by_layer, altitude_ref=altitude_ref,
                                  title=f"{name}: covered area by target altitude", footer=lines)
        _write_rasters(stage, coverage, "rasters/", layers, altitudes_m, altitude_ref, assumption_tags(lines, assumptions))
        stage.write_text("ASSUMPTIONS.txt", assumptions_text(coverage, assumptions, title=f"Assumptions of the {name} run report"))
        what = (f"Coverage of scenario {name} for layers {', '.join(layers)} at "
                f"{', '.join(_altitude_label(a, altitude_ref) for a in altitudes_m)}.")
        if identical:
            what += "\n\n" + _identical_note(identical, altitude_ref, lambda a: f"detection_{_altitude_slug(a)}_{altitude_ref}.png")
        readme = _readme(f"adcov run report: {name}", what, stage.files + ["README.txt"], lines)
        stage.write_text("README.txt", readme)
        return stage.commit({"scenario": name, "layers": layers, "altitudes_m": altitudes_m, "altitude_ref": altitude_ref,
                             "maps_identical_across_layers_m": identical})
    except BaseException:
        stage.abort()
        raise


def _comparison_kml_groups(collection: dict, layers, altitudes, ref: str, names: tuple[str, str], sites) -> list:
    """KML folders of a comparison: per layer and altitude the variant's coverage, the lost and
    gained areas, and the baseline's coverage (hidden at first); then the unit sites."""
    groups = []
    for layer in layers:
        for alt in altitudes:
            folder = (f"{layer.capitalize()} layer", _altitude_label(alt, ref))
            feats = [f for f in collection["features"] if f["properties"]["layer"] == layer and f["properties"]["altitude_m"] == alt]
            groups.append(((*folder, f"After: {names[1]} coverage"), [f for f in feats if f["properties"].get("role") == "variant"]))
            groups.append(((*folder, "Lost and gained"), [f for f in feats if f["properties"]["kind"] in ("lost", "gained")]))
            groups.append(((*folder, f"Before: {names[0]} coverage (outline)"),
                           [f for f in feats if f["properties"].get("role") == "baseline"], {"visible": False}))
    groups.append(("Unit sites", _site_features(sites)))
    return groups


def write_comparison_report(comparison, out_dir, *, progress=None) -> list[Path]:
    """Write the report of a comparison into ``out_dir`` (atomically) and list its files.

    Contents: ``comparison.json`` (:meth:`Comparison.to_dict` with both scenarios'
    assumptions), ``comparison.csv`` (one row per layer/altitude), ``marginal.csv`` (units
    ranked by what withdrawing only them costs), ``comparison.geojson`` (baseline and variant
    coverage, lost and gained polygons), ``comparison.kml``/``.kmz``, ``maps/`` (one map per
    layer and altitude showing kept / lost / gained, and ``area_by_altitude.png``),
    ``rasters/`` (baseline and variant floors, depth and a change class per altitude),
    ``ASSUMPTIONS.txt``, ``README.txt`` and ``manifest.json``. ``progress(fraction, message)``
    hears of each step (maps take most of the time).
    """
    baseline, variant = comparison.baseline, comparison.variant

    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    if baseline.grid.shape != variant.grid.shape:
        raise AdcovError(
            f"comparison report: baseline grid {baseline.grid.shape} and variant grid {variant.grid.shape} differ; "
            "the two scenarios must share terrain and area"
        )
    layers = list(comparison.layers)
    altitudes = [float(a) for a in comparison.altitudes_m]
    ref = comparison.altitude_ref
    names = (comparison.baseline_name, comparison.variant_name)
    assumptions = _comparison_assumptions(comparison)
    base_lines = assumption_lines(baseline, assumptions["baseline"])
    var_lines = assumption_lines(variant, assumptions["variant"])
    lines = comparison_assumption_lines(comparison, assumptions)
    change_note = []
    if comparison.withdrawn_units:
        change_note.append(f"withdrawn in {names[1]}: {', '.join(comparison.withdrawn_units)}")
    if comparison.added_units:
        change_note.append(f"added: {', '.join(comparison.added_units)}")
    if comparison.changed_units:
        change_note.append(f"figures changed: {', '.join(comparison.changed_units)}")
    change_text = "; ".join(change_note) or "no unit differs"
    sites = comparison_sites(comparison)

    stage = _StagedReport(out_dir, "comparison")
    try:
        data = comparison.to_dict()
        data = copy.deepcopy(data) if isinstance(data, dict) else {"comparison": data}
        data["assumptions"] = assumptions
        stage.write_json("comparison.json", data)
        stage.write_text("comparison.csv", comparison_csv(comparison))
        stage.write_text("marginal.csv", marginal_csv(comparison))
        collection = comparison_geojson(comparison, assumptions=assumptions)
        stage.write_text("comparison.geojson", _dump_geojson(collection))

        groups = _comparison_kml_groups(collection, layers, altitudes, ref, names, sites)
        description = f"{names[0]} (before) vs {names[1]} (after): {change_text}.\nAssumptions:\n" + "\n".join(lines)
        kml = kml_document(groups, name=f"{names[0]} vs {names[1]}", description=description)
        stage.write_bytes("comparison.kml", kml)
        stage.write_bytes("comparison.kmz", _kmz_bytes(kml))

        subtitle_change = change_text[0].upper() + change_text[1:]
        both = set(layers) == {"detection", "engagement"}
        identical = [alt for alt in altitudes if both and _layers_identical([baseline, variant], alt, ref)]
        maps = [(la, a) for la in layers for a in altitudes if not (la == "detection" and a in identical)]
        n_maps = len(maps)
        for i_map, (layer, alt) in enumerate(maps):
            step(0.1 + 0.7 * i_map / max(n_maps, 1), f"map {i_map + 1}/{n_maps}: {layer}, {_altitude_label(alt, ref)}")
            change = comparison.change(layer, alt)
            _export.render_map_png(
                stage.path(f"maps/{layer}_{_altitude_slug(alt)}_{ref}.png"), baseline, layer=layer, altitude_m=alt, altitude_ref=ref,
                baseline_mask=change.baseline_cells, variant_mask=change.variant_cells, lost_mask=change.lost_cells,
                gained_mask=change.gained_cells, names=names, sites=[dict(s) for s in sites], assumptions=lines,
            )
        rows_by_layer = {
            layer: [{"altitude_m": c.altitude_m, "baseline_km2": c.baseline_km2, "variant_km2": c.variant_km2}
                    for c in comparison.changes if c.layer == layer]
            for layer in layers
        }
        _export.render_area_chart_png(stage.path("maps/area_by_altitude.png"), rows_by_layer, names=names, altitude_ref=ref,
                              title=f"Covered area by target altitude: {names[0]} → {names[1]}", subtitle=subtitle_change + ".", footer=lines)
        step(0.85, "rasters")

        _write_rasters(stage, baseline, f"rasters/{_slug(names[0])}_", layers, altitudes, ref,
                       assumption_tags(base_lines, assumptions["baseline"]))
        new_units = [u for u in variant.unit_ids if u in set(comparison.added_units) | set(comparison.changed_units) or u not in baseline.envelopes]
        _write_rasters(stage, variant, f"rasters/{_slug(names[1])}_", layers, altitudes, ref,
                       assumption_tags(var_lines, assumptions["variant"]), unit_ids=new_units)
        _write_change_rasters(stage, comparison, layers, altitudes, ref, assumption_tags(lines, assumptions))

        text = assumptions_text(baseline, assumptions["baseline"], title=f"Assumptions of {names[0]} (before)")
        text += "\n\n" + assumptions_text(variant, assumptions["variant"], title=f"Assumptions of {names[1]} (after)")
        text += f"\n\nDifference: {change_text}.\n"
        stage.write_text("ASSUMPTIONS.txt", text)
        readme = _readme(
            f"adcov comparison report: {names[0]} vs {names[1]}",
            f"What changes between {names[0]} (before) and {names[1]} (after) -- {change_text} -- for layers "
            f"{', '.join(layers)} at {', '.join(_altitude_label(a, ref) for a in altitudes)}. Lost = covered before, not after; "
            "gained = covered after, not before. marginal.csv ranks the baseline units by what withdrawing only that unit costs. "
            f"comparison.csv columns, in order: {', '.join(COMPARISON_CSV_COLUMNS)}, then depth_km2_before_1..N and "
            "depth_km2_after_1..N (km² covered by exactly n units before / after; empty = 0)."
            + ("\n\n" + _identical_note(identical, ref, lambda a: f"detection_{_altitude_slug(a)}_{ref}.png") if identical else ""),
            stage.files + ["README.txt"], lines,
        )
        stage.write_text("README.txt", readme)
        return stage.commit({"baseline": names[0], "variant": names[1], "layers": layers, "altitudes_m": altitudes, "altitude_ref": ref,
                             "maps_identical_across_layers_m": identical})
    except BaseException:
        stage.abort()
        raise

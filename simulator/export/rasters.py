"""GeoTIFF rasters of a report: floors and ceilings per unit, combined floor, depth, change class.

Every raster carries the assumptions as tags (:func:`assumption_tags`): a readable summary
and the full JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from simulator import __version__
from simulator.export.staging import _StagedReport
from simulator.export.style import _altitude_slug
from simulator.export.tables import json_default


def assumption_tags(lines: Sequence[str], assumptions: dict) -> dict[str, str]:
    """GeoTIFF tags carrying the assumptions: a readable summary and the full JSON."""
    return {
        "assumptions": " | ".join(lines),
        "assumptions_json": json.dumps(assumptions, ensure_ascii=False, separators=(",", ":"), default=json_default),
    }


def _raster_tags(coverage, base_tags: Mapping[str, str], **tags) -> dict[str, str]:
    out = {k: ("" if v is None else str(v)) for k, v in tags.items()}
    out["scenario"] = coverage.scenario_name
    out["generator"] = f"adcov {__version__}"
    out.update(base_tags)
    return out


def _full_grid(coverage, window, values: np.ndarray, fill=np.nan) -> np.ndarray:
    out = np.full(coverage.grid.shape, fill, dtype=np.float32)
    out[window] = values
    return out


def _floor_ceiling_full(coverage, uid: str, layer: str):
    """A unit's floor and ceiling [m MSL] on the full grid, NaN where it covers nothing."""
    env = coverage.envelopes[uid]
    floor, ceiling = env.floor_ceiling(layer)
    uncovered = ~np.isfinite(floor)
    floor_full = _full_grid(coverage, env.window, np.where(uncovered, np.nan, floor))
    ceiling_full = _full_grid(coverage, env.window, np.where(uncovered | ~np.isfinite(ceiling), np.nan, ceiling))
    inside = coverage.grid.inside_area
    if inside is not None:
        floor_full[~inside] = np.nan
        ceiling_full[~inside] = np.nan
    return floor_full, ceiling_full


def _write_rasters(stage: _StagedReport, coverage, prefix: str, layers, altitudes, altitude_ref, base_tags, *, unit_ids=None) -> None:
    """Floor/ceiling per unit and layer, combined floor, depth per altitude, under ``prefix``."""
    from simulator.terrain import write_geotiff

    grid = coverage.grid
    unit_ids = coverage.unit_ids if unit_ids is None else unit_ids
    for layer in layers:
        combined = np.full(grid.shape, np.inf, dtype=np.float32)
        for uid in coverage.unit_ids:
            floor, ceiling = _floor_ceiling_full(coverage, uid, layer)
            np.fmin(combined, floor, out=combined)
            if uid not in unit_ids:
                continue
            for quantity, values, meaning in (
                ("floor", floor, "lowest target altitude the unit covers over the cell"),
                ("ceiling", ceiling, "highest target altitude the unit covers"),
            ):
                write_geotiff(
                    stage.path(f"{prefix}{quantity}_{layer}_unit-{uid}.tif"), values, grid.transform, grid.crs, nodata=float("nan"),
                    tags=_raster_tags(coverage, base_tags, quantity=quantity, meaning=meaning, layer=layer, unit_id=uid, units="m MSL"),
                )
        combined[np.isinf(combined)] = np.nan
        write_geotiff(
            stage.path(f"{prefix}floor_{layer}_combined.tif"), combined, grid.transform, grid.crs, nodata=float("nan"),
            tags=_raster_tags(coverage, base_tags, quantity="floor", layer=layer, unit_ids=",".join(coverage.unit_ids), units="m MSL",
                              meaning="lowest floor over all units (min over units); a cell is covered at h when some unit's floor <= h <= its ceiling"),
        )
        dtype = np.uint8 if len(coverage.unit_ids) < 255 else np.uint16
        for altitude in altitudes:
            values = coverage.depth(layer, altitude, altitude_ref).astype(dtype)
            write_geotiff(
                stage.path(f"{prefix}depth_{layer}_{_altitude_slug(altitude)}_{altitude_ref}.tif"), values, grid.transform, grid.crs,
                tags=_raster_tags(coverage, base_tags, quantity="depth", meaning="number of units covering the cell", layer=layer,
                                  altitude_m=f"{float(altitude):g}", altitude_ref=altitude_ref, unit_ids=",".join(coverage.unit_ids), units="count"),
            )


#: Classes of the change rasters.
CHANGE_CLASSES = {0: "not covered before or after", 1: "covered before and after", 2: "lost (covered before only)", 3: "gained (covered after only)"}


def _write_change_rasters(stage, comparison, layers, altitudes, ref, base_tags) -> None:
    from simulator.terrain import write_geotiff

    grid = comparison.baseline.grid
    for layer in layers:
        for alt in altitudes:
            change = comparison.change(layer, alt)
            classes = np.zeros(grid.shape, dtype=np.uint8)
            classes[change.kept_cells] = 1
            classes[change.lost_cells] = 2
            classes[change.gained_cells] = 3
            write_geotiff(
                stage.path(f"rasters/change_{layer}_{_altitude_slug(alt)}_{ref}.tif"), classes, grid.transform, grid.crs,
                tags=_raster_tags(comparison.baseline, base_tags, quantity="change class", layer=layer, altitude_m=f"{alt:g}",
                                  altitude_ref=ref, baseline=comparison.baseline_name, variant=comparison.variant_name,
                                  classes="; ".join(f"{k} = {v}" for k, v in CHANGE_CLASSES.items()), units="class"),
            )

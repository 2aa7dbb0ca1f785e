"""Tables of a report: CSV text (summary, comparison, marginal contributions) and JSON values.

CSV files are written with ``\n`` line ends and empty cells for missing values; JSON files
turn numpy numbers and arrays, paths, dates, dataclasses and sets into plain JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path

import numpy as np

from simulator.export.style import _altitude_slug
from simulator.fileio import csv_text


def json_default(value):
    """``json.dumps(default=...)`` of every JSON adcov writes: numpy numbers, arrays, paths, dates,
    dataclasses and sets as plain JSON."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, _dt.date)):
        return str(value)
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def summary_csv(summary: dict) -> str:
    """One row per layer and altitude: covered km², max depth, km² per unit."""
    units = list(dict.fromkeys(uid for rows in summary["layers"].values() for r in rows for uid in r.get("by_unit_km2", {})))
    header = ["layer", "altitude_m", "altitude_ref", "covered_km2", "max_depth", *(f"{u}_km2" for u in units)]
    rows = []
    for layer, layer_rows in summary["layers"].items():
        for r in layer_rows:
            rows.append([layer, float(r["altitude_m"]), r["altitude_ref"], round(r["covered_km2"], 3), r["max_depth"],
                         *(round(r["by_unit_km2"].get(u, 0.0), 3) for u in units)])
    return csv_text(header, rows)


#: comparison.csv's fixed columns, in this order; then depth_km2_before_<n> for n = 1..N and
#: depth_km2_after_<n> for n = 1..N (N the largest depth on either side; empty = 0 km²).
COMPARISON_CSV_COLUMNS = ("layer", "altitude_m", "altitude_ref", "baseline_km2", "variant_km2", "lost_km2",
                          "gained_km2", "kfold_to_single_km2")


def comparison_csv(comparison) -> str:
    """One row per layer and altitude, columns in :data:`COMPARISON_CSV_COLUMNS` order, then
    the depth histograms before and after (area covered by exactly n units), n ascending."""
    rows = [{"layer": change.layer, **change.to_dict()} for change in comparison.changes]
    top = max([int(n) for row in rows for side in ("depth_km2_before", "depth_km2_after") for n in row[side]] + [0])
    header = [*COMPARISON_CSV_COLUMNS, *(f"depth_km2_before_{n}" for n in range(1, top + 1)),
              *(f"depth_km2_after_{n}" for n in range(1, top + 1))]
    body = []
    for row in rows:
        values = [row[k] for k in COMPARISON_CSV_COLUMNS]
        values += [row["depth_km2_before"].get(str(n)) for n in range(1, top + 1)]
        values += [row["depth_km2_after"].get(str(n)) for n in range(1, top + 1)]
        body.append([round(v, 3) if isinstance(v, float) else v for v in values])
    return csv_text(header, body)


def marginal_csv(comparison) -> str:
    """Each baseline unit's marginal contribution, largest first: what withdrawing only it costs."""
    columns = [(layer, float(alt)) for layer in comparison.layers for alt in comparison.altitudes_m]
    ref = comparison.altitude_ref
    header = ["rank", "unit", "total_lost_km2", *(f"lost_km2_{layer}_{_altitude_slug(alt)}_{ref}" for layer, alt in columns)]
    ranked = sorted(comparison.marginal, key=lambda m: -m.total_lost_km2)
    rows = []
    for rank, m in enumerate(ranked, 1):
        by = m.lost_km2_by_altitude
        cells = []
        for layer, alt in columns:
            values = by.get(layer, {})
            value = values.get(alt, values.get(str(alt), values.get(f"{alt:g}")))
            cells.append(None if value is None else round(float(value), 3))
        rows.append([rank, m.unit, round(float(m.total_lost_km2), 3), *cells])
    return csv_text(header, rows)

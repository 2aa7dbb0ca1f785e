"""``adcov run SCENARIO``: covered area per layer and altitude, with the assumptions used."""

from __future__ import annotations

import argparse
import json
import sys

from simulator.api import run_scenario
from simulator.cli.common import (
    add_cache_options,
    add_grid_options,
    cache_from_args,
    parse_altitudes_m,
    parse_choices,
    parse_date,
    parse_resolution_m,
    parse_scheduler,
    progress_bar,
)
from simulator.coverage import ALTITUDE_REFS, DEFAULT_ALTITUDES_M, LAYERS
from simulator.figures import RANGE_MODES


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="covered area per layer and altitude for a scenario", description=__doc__)
    p.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    p.add_argument("--altitudes-m", default=",".join(f"{a:g}" for a in DEFAULT_ALTITUDES_M), help="comma-separated target altitudes [m] (default %(default)s)")
    p.add_argument("--altitude-ref", choices=ALTITUDE_REFS, default="msl", help="altitudes above mean sea level or above ground (default msl)")
    p.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layers: detection, engagement (default both)")
    p.add_argument("--range", dest="range_mode", choices=RANGE_MODES, default="nominal", help="which published figure of a spread to use (default nominal)")
    p.add_argument("--as-of", help="only units deployed and not withdrawn on this date (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.add_argument("--out", metavar="DIR", help="also write a report folder: GeoJSON, KML/KMZ, GeoTIFF, PNG maps, CSV/JSON, assumptions")
    add_grid_options(p)
    add_cache_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = dict(
        as_of=parse_date(args.as_of, "--as-of"), range_mode=args.range_mode,
        altitudes_m=parse_altitudes_m(args.altitudes_m), altitude_ref=args.altitude_ref,
        layers=parse_choices(args.layers, LAYERS, "--layers"), resolution_m=parse_resolution_m(args.resolution_m),
        cache=cache_from_args(args), scheduler=parse_scheduler(args.scheduler), out=args.out,
    )
    with progress_bar(not args.json) as progress:
        run_result = run_scenario(args.scenario, progress=progress, **options)
    result, written = run_result.summary, run_result.report_files
    if args.json:
        if args.out is not None:
            result = {**result, "report_files": [str(p) for p in written]}
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_summary(result)
        if written:
            print(f"Report written to {args.out} ({len(written)} files):")
            for path in written:
                print(f"  {path}")
    return 0


def print_summary(result: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # a pipe or a file gets full-width tables rather than rich's 80-column default
    console = Console(width=None if sys.stdout.isatty() else 160)
    units = result["active_units"]
    if result.get("as_of"):
        left_out = result.get("inactive_units") or []
        text = f"As of {result['as_of']}: {len(units)} active unit{'s' if len(units) != 1 else ''}"
        if left_out:
            text += "; not active that day: " + ", ".join(
                f"{u['id']} ({u['status']}, deployed {u['deployed'] or 'unknown'}, withdrawn {u['withdrawn'] or '-'})"
                for u in left_out)
        console.print(escape(text))
    for layer, rows in result["layers"].items():
        table = Table(title=f"{result['scenario']} - {layer} coverage", title_justify="left")
        table.add_column(escape(f"altitude [m {rows[0]['altitude_ref'].upper()}]") if rows else "altitude", justify="right")
        table.add_column("covered km²", justify="right")
        table.add_column("max depth", justify="right")
        for uid in units:
            table.add_column(f"{uid} km²", justify="right")
        for row in rows:
            table.add_row(
                f"{row['altitude_m']:g}", f"{row['covered_km2']:,.0f}", str(row["max_depth"]),
                *(f"{row['by_unit_km2'][u]:,.0f}" for u in units),
            )
        console.print(table)
    print_assumptions(console, result["assumptions"])


def print_assumptions(console, assumptions: dict) -> None:
    grid = assumptions["analysis_grid"]
    console.print("[bold]Assumptions[/bold]")
    console.print(f"  k factor {assumptions['k_factor']:.4g}, earth radius {assumptions['earth_radius_m']:.0f} m")
    console.print(f"  terrain: {assumptions['terrain']}")
    console.print(f"  analysis grid: {grid['rows']}x{grid['cols']} cells of ~{grid['cell_size_m'][0]:.0f}x{grid['cell_size_m'][1]:.0f} m, bounds {grid['bounds_deg']} (W,S,E,N deg)")
    if "dem_spacing_m" in assumptions:
        dx, dy = assumptions["dem_spacing_m"]
        console.print(f"  DEM spacing ~{dx:.0f}x{dy:.0f} m (rays sample it); analysis spacing: {grid['resolution_rule']}")
    if assumptions.get("analysis_area"):
        from rich.markup import escape

        from simulator.analysis_area import analysis_area_lines

        for line in analysis_area_lines(assumptions["analysis_area"]):
            console.print("  " + escape(line))
    for uid, unit in assumptions["units"].items():
        weapons = "; ".join(
            f"{w['id']} {w['min_range_km']:g}-{w['max_range_km']:g} km, alt {w['min_target_altitude_agl_m']:g} m AGL-"
            f"{'no ceiling' if w['max_target_altitude_msl_m'] is None else format(w['max_target_altitude_msl_m'], 'g') + ' m'}"
            for w in unit["weapons"]
        )
        console.print(
            f"  {uid}: {unit['system_name']} at {unit['lat_deg']:.4f}N {unit['lon_deg']:.4f}E, antenna {unit['antenna_height_m']:g} m AGL "
            f"({unit['antenna_height_origin']}), detection {unit['detection_range_km']} km ({unit['detection_origin']}), {weapons}"
        )
        for note in unit["defaults_used"]:
            console.print(f"    default: {note}")

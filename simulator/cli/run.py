"""``adcov run SCENARIO``: covered area per layer and altitude, with the assumptions used."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from simulator.api import run_scenario
from simulator.cli.common import (
    add_cache_options,
    add_grid_options,
    cache_from_args,
    parse_altitudes_m,
    parse_choices,
    parse_scheduler,
    progress_bar,
    with_resolution,
)
from simulator.coverage import ALTITUDE_REFS, DEFAULT_ALTITUDES_M, LAYERS
from simulator.errors import AdcovError
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


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise AdcovError(f"{option}: {text!r} is not a date; expected YYYY-MM-DD") from None


def load_for_run(path: str, as_of: str | None):
    """The scenario with the units active on ``--as-of`` (else on the file's own date): the
    date rule of :func:`simulator.api.load_scenario_as_of`, with the option's name in errors."""
    from simulator.api import load_scenario_as_of

    return load_scenario_as_of(path, parse_date(as_of, "--as-of") if as_of else None)


def run(args: argparse.Namespace) -> int:
    altitudes = parse_altitudes_m(args.altitudes_m)
    layers = parse_choices(args.layers, LAYERS, "--layers")
    scheduler = parse_scheduler(args.scheduler)
    if args.out is not None:  # before computing; '' is refused, not ignored
        check_report_out(args.out, [args.scenario])
    scenario = with_resolution(load_for_run(args.scenario, args.as_of), args)
    if not scenario.units:
        raise AdcovError(f"{args.scenario}: no active units{' as of ' + args.as_of if args.as_of else ''}; nothing to compute")
    with progress_bar(not args.json) as progress:
        run_result = run_scenario(scenario, range_mode=args.range_mode, altitudes_m=altitudes, altitude_ref=args.altitude_ref,
                                  layers=layers, cache=cache_from_args(args), scheduler=scheduler, progress=progress,
                                  scenario_file=str(args.scenario))
    coverage, result = run_result.coverage, run_result.summary
    written = []
    if args.out is not None:
        from simulator.export import write_run_report

        written = write_run_report(coverage, result, args.out, altitudes_m=altitudes, layers=layers, altitude_ref=args.altitude_ref)
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


def check_report_out(out, inputs) -> None:
    """Refuse an unusable report folder (``--out DIR``) before anything is computed."""
    from simulator.fileio import check_output_folder

    check_output_folder(out, "--out", inputs=inputs)
    try:
        from simulator.export import check_report_folder
    except ImportError:  # no export module: the writer says so when it is looked up
        return
    try:
        check_report_folder(out)
    except AdcovError as exc:
        raise AdcovError(f"--out: {exc}") from None


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

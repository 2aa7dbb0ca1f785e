"""``adcov compare [BASELINE] [VARIANT]``: coverage lost and gained, and what each unit is worth.

With no scenario given, compares the bundled kurils-2020 (two S-300V4 and a Tor-M2) with
kurils-2023 (the S-300V4s reported withdrawn). The variant can instead be BASELINE with
units withdrawn (--withdraw) or BASELINE on another date (--vs-as-of).
"""

from __future__ import annotations

import argparse
import json
import sys

from simulator.api import DEFAULT_BASELINE, DEFAULT_VARIANT, run_comparison
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
from simulator.cli.run import print_assumptions
from simulator.coverage import ALTITUDE_REFS, DEFAULT_ALTITUDES_M, LAYERS
from simulator.errors import AdcovError
from simulator.figures import RANGE_MODES

EPILOG = """\
examples:
  adcov compare                                       bundled kurils-2020 vs kurils-2023
  adcov compare base.yaml variant.yaml --json         any two scenarios on the same terrain
  adcov compare base.yaml --withdraw unit-a,unit-b    the baseline without some units
  adcov compare base.yaml --as-of 2022-09-15 --vs-as-of 2023-09-01
  adcov compare --range band                          published-range spread (min-max)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="coverage lost and gained between a baseline and a variant",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("baseline", nargs="?", metavar="BASELINE", help=f"baseline scenario YAML (default: the bundled {DEFAULT_BASELINE})")
    p.add_argument(
        "variant", nargs="?", metavar="VARIANT",
        help=f"variant scenario YAML on the same terrain and area (default without BASELINE: the bundled {DEFAULT_VARIANT})",
    )
    p.add_argument("--withdraw", metavar="ID[,ID]", help="variant = BASELINE with these unit ids withdrawn (no recomputation)")
    p.add_argument("--as-of", metavar="DATE", help="the baseline as of this date: units deployed and not withdrawn (YYYY-MM-DD)")
    p.add_argument("--vs-as-of", metavar="DATE", help="the variant as of this date; without VARIANT, the variant is BASELINE itself on that date")
    p.add_argument("--altitudes-m", default=",".join(f"{a:g}" for a in DEFAULT_ALTITUDES_M), help="comma-separated target altitudes [m] (default %(default)s)")
    p.add_argument("--altitude-ref", choices=ALTITUDE_REFS, default="msl", help="altitudes above mean sea level or above ground (default msl)")
    p.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layers: detection, engagement (default both)")
    p.add_argument(
        "--range", dest="range_mode", choices=RANGE_MODES + ("band",), default="nominal",
        help="which published figure of a spread to use; band = min, nominal and max side by side (default nominal)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.add_argument("--out", metavar="DIR", help="also write the report files (GeoJSON, KML, GeoTIFF, PNG maps, CSV/JSON) into DIR")
    add_grid_options(p)
    add_cache_options(p)
    p.set_defaults(func=run_compare)


def _unit_ids(text: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise AdcovError("--withdraw: expected one or more unit ids, comma-separated (e.g. --withdraw iturup-s300v4,kunashir-s300v4)")
    return ids


def run_compare(args: argparse.Namespace) -> int:
    options = dict(
        withdraw=_unit_ids(args.withdraw) if args.withdraw is not None else None,
        as_of=parse_date(args.as_of, "--as-of"), vs_as_of=parse_date(args.vs_as_of, "--vs-as-of"),
        range_mode=args.range_mode, altitudes_m=parse_altitudes_m(args.altitudes_m), altitude_ref=args.altitude_ref,
        layers=parse_choices(args.layers, LAYERS, "--layers"), resolution_m=parse_resolution_m(args.resolution_m),
        cache=cache_from_args(args), scheduler=parse_scheduler(args.scheduler), out=args.out,
    )

    def before_report(comparison) -> None:
        if args.json or not sys.stderr.isatty():  # a terminal shows the progress bar instead
            print(f"adcov compare: writing the report to {args.out} "
                  f"({len(comparison.layers) * len(comparison.altitudes_m)} maps)…", file=sys.stderr, flush=True)

    with progress_bar(not args.json) as progress:
        run = run_comparison(args.baseline, args.variant, progress=progress, before_report=before_report, **options)
    if args.json:
        json.dump(run.band if run.band is not None else run.comparison.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        dated = (args.as_of is not None, args.vs_as_of is not None)
        print_comparison(run.comparison, run.baseline, run.variant, args.range_mode, run.band, dated=dated)
        if args.out is not None:
            print(f"report written to {args.out}")
    return 0


# --------------------------------------------------------------------------- tables


def _km2(value: float) -> str:
    return f"{value:,.0f}"


def _percent(row) -> str:
    change = row.change_percent
    if change is None:
        return "—"
    if abs(change) < 0.05:
        return "0 %" if change == 0 else f"{change:+.2f} %"
    return f"{change:+.1f} %"


def _describe(scenario_or_ids, fallback: str, redated: bool) -> str:
    if isinstance(scenario_or_ids, list):
        return fallback
    as_of = f", as of {scenario_or_ids.as_of}" if scenario_or_ids.as_of else ""
    if scenario_or_ids.title and not redated:
        return f"{scenario_or_ids.name}{as_of} — {scenario_or_ids.title}"
    n = len(scenario_or_ids.units)
    return f"{scenario_or_ids.name}{as_of} ({n} active unit{'' if n == 1 else 's'})"


def _units_text(ids, coverage) -> str:
    if not ids:
        return "none"
    status_words = {"destroyed_claim": "reported destroyed (a claim)", "reported_withdrawn": "reported withdrawn"}

    def one(u):
        placement = getattr(coverage, "placements", {}).get(u, {})
        status = status_words.get(placement.get("status"), "")
        when = f" on {placement['withdrawn']}" if status and placement.get("withdrawn") else ""
        return f"{u} ({coverage.envelopes[u].figures.system_name}{', ' + status + when if status else ''})"

    return ", ".join(one(u) for u in ids)


def print_comparison(comparison, baseline, variant, range_mode: str, band: dict | None = None, *, dated=(False, False)) -> None:
    """The tables of ``adcov compare``; ``dated`` says whether --as-of/--vs-as-of re-dated each side
    (then the file's title, written for the file's own date, is not shown)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    ref = comparison.altitude_ref.upper()
    console.print(f"[bold]Coverage change: {escape(comparison.baseline_name)} → {escape(comparison.variant_name)}[/bold]")
    console.print(f"  baseline:  {escape(_describe(baseline, comparison.baseline_name, dated[0]))}")
    console.print(f"  variant:   {escape(_describe(variant, comparison.variant_name, dated[1]))}")
    console.print(f"  withdrawn: {escape(_units_text(comparison.withdrawn_units, comparison.baseline))}")
    if comparison.added_units:
        console.print(f"  added:     {escape(_units_text(comparison.added_units, comparison.variant))}")
    if comparison.changed_units:
        console.print(f"  changed:   {escape(_units_text(comparison.changed_units, comparison.variant))}")
    range_text = "min, nominal and max of each published spread" if range_mode == "band" else f"{range_mode} published figures"
    console.print(f"  altitudes in m {ref}; {range_text}; areas are geodesic km² inside the scenario area")
    console.print()

    groups = _layer_groups(comparison, band)
    for layers in groups:
        title = _group_title(layers)
        rows = [r for r in comparison.changes if r.layer == layers[0]]
        if band is not None:
            entries = band["layers"][layers[0]]
            quantities = ["baseline", "variant", "lost", "gained"]
            no_gain = all(v == 0 for e in entries for v in e["gained"].values())
            if no_gain:
                quantities.remove("gained")
            table = Table(title=f"{title}: covered area with the min / nominal / max published range "
                                "(one number where all three agree)", title_justify="left")
            cells = [[f"{e['altitude_m']:g}", *(_band_cell(e[q]) for q in quantities)] for e in entries]
            headers = [escape(f"altitude\n[m {ref}]"), *(f"{q} km²" for q in quantities)]
            for i, header in enumerate(headers):
                width = max(len(row[i]) for row in cells)  # numbers never wrap; headers do
                table.add_column(header, justify="right", min_width=width, style="red" if header.startswith("lost") else None)
            for row in cells:
                table.add_row(*row)
            if no_gain:
                table.caption = "gained: 0 km² at every altitude and range mode"
                table.caption_justify = "left"
        else:
            table = Table(title=f"{title}: covered area", title_justify="left")
            table.add_column(escape(f"altitude\n[m {ref}]"), justify="right")
            table.add_column("baseline km²", justify="right")
            table.add_column("variant km²", justify="right")
            table.add_column("lost km²", justify="right", style="red")
            table.add_column("gained km²", justify="right", style="green")
            table.add_column("change", justify="right")
            for row in rows:
                table.add_row(f"{row.altitude_m:g}", _km2(row.baseline_km2), _km2(row.variant_km2), _km2(row.lost_km2), _km2(row.gained_km2), _percent(row))
        console.print(table)

    if comparison.marginal:
        console.print()
        console.print(
            f"[bold]Marginal contribution[/bold]: km² lost if only that unit were withdrawn from "
            f"{escape(comparison.baseline_name)} (the area it alone covers); units ranked by the total over layers and altitudes"
        )
        for layers in groups:
            table = Table(title=f"{_group_title(layers)}: area only this unit covers, km²", title_justify="left")
            table.add_column(escape(f"altitude\n[m {ref}]"), justify="right")
            for rank, m in enumerate(comparison.marginal, 1):
                table.add_column(
                    escape(f"{rank}. {m.unit}\n{comparison.baseline.envelopes[m.unit].figures.system_name}"), justify="right", overflow="fold"
                )
            for altitude in comparison.altitudes_m:
                table.add_row(f"{altitude:g}", *(_km2(m.lost_km2_by_altitude[layers[0]][altitude]) for m in comparison.marginal))
            console.print(table)
        console.print()
    print_assumptions(console, comparison.baseline.assumptions())
    if comparison.added_units or comparison.changed_units or comparison.variant.k_factor != comparison.baseline.k_factor:
        console.print(f"[bold]Variant ({escape(comparison.variant_name)})[/bold]")
        print_assumptions(console, comparison.variant.assumptions())


def _layer_groups(comparison, band: dict | None) -> list[list[str]]:
    """Layers whose every number is the same, grouped (a detection range defaulted to the
    weapon range makes the two layers identical: print them once)."""

    def signature(layer):
        rows = tuple((r.baseline_km2, r.variant_km2, r.lost_km2, r.gained_km2) for r in comparison.changes if r.layer == layer)
        marginal = tuple(tuple(m.lost_km2_by_altitude[layer].values()) for m in comparison.marginal)
        banded = json.dumps(band["layers"][layer], sort_keys=True) if band is not None else ""
        return rows, marginal, banded

    groups: list[tuple[object, list[str]]] = []
    for layer in comparison.layers:
        sig = signature(layer)
        for known, members in groups:
            if known == sig:
                members.append(layer)
                break
        else:
            groups.append((sig, [layer]))
    return [members for _, members in groups]


def _group_title(layers: list[str]) -> str:
    return layers[0] if len(layers) == 1 else f"{' and '.join(layers)} (identical here)"


def _band_cell(values: dict) -> str:
    """``min / nominal / max`` over the range modes (one number when all three agree to the km²)."""
    shown = [_km2(values[f"{mode}_km2"]) for mode in ("min", "nominal", "max")]
    return shown[0] if len(set(shown)) == 1 else " / ".join(shown)

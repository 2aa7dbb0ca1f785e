"""``adcov sweep SCENARIO --out results.csv``: withdrawal combinations, position Monte Carlo, range spread.

Withdrawal sweep (the default): the covered and lost area for every subset of units
withdrawn, per layer and altitude, and the most damaging withdrawals of 1, 2 and 3 units.
With no selection flags it sweeps every withdrawal of one and of two of the scenario's units;
--units sweeps every subset of those units (up to --max-withdrawn of them).

Uncertainty (--positions N, or --range-spread alone): N joint samples of the uncertain units'
sites (uniform in their position_precision_km disk) and/or the published-range modes min,
nominal, max. Writes the covered-area distribution (p10/p50/p90 km²) to the CSV and, in a
folder named after it (results.csv -> results/), the probability of coverage per layer and
altitude as GeoTIFFs (p_<layer>_<alt>m.tif), polygons at the probability --levels
(levels.geojson), per-member areas (members.csv) and the sampled sites (samples.csv).

Runs in this process by default; --scheduler local starts a Dask LocalCluster on 127.0.0.1,
--scheduler tcp://HOST:PORT uses an existing Dask cluster (same results in all three).
Every output is written atomically; Ctrl-C stops cleanly and leaves no output.
"""


from __future__ import annotations

import argparse

from simulator import api
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
from simulator.errors import ArgumentError
from simulator.figures import RANGE_MODES
from simulator.sweep.writers import csv_text

__all__ = ["csv_text", "register", "run_sweep"]  # csv_text: the writer's CSV format, for callers of this module

EPILOG = """\
examples:
  adcov sweep kurils.yaml --out sweep.csv                        withdraw every 1 and 2 units
  adcov sweep kurils.yaml --units a,b,c,d --out all.csv          every subset of four units
  adcov sweep kurils.yaml --positions 200 --seed 1 --land-only --out mc.csv
  adcov sweep kurils.yaml --range-spread --out band.csv          published-range min/nominal/max
  adcov sweep kurils.yaml --positions 200 --scheduler local --out mc.csv
"""

DEFAULT_MAX_WITHDRAWN = api.DEFAULT_MAX_WITHDRAWN


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="withdrawal combinations, position Monte Carlo and range spread (optionally on Dask)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="results table (CSV; Parquet next to it if pyarrow is installed)")
    p.add_argument("--units", metavar="ID[,ID]", help="withdrawal: the units to combine (default all); --positions: the units to sample (default those with position_precision_km)")
    p.add_argument("--max-withdrawn", type=int, metavar="K", help=f"withdraw at most K units at once (default: {DEFAULT_MAX_WITHDRAWN} without --units, all with --units)")
    p.add_argument("--positions", type=int, metavar="N", help="position Monte Carlo with N joint samples")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the position samples (default 0)")
    p.add_argument("--land-only", action="store_true", help="reject position samples on sea (terrain <= 0 m)")
    p.add_argument("--cache-samples", action="store_true",
                   help="also keep the envelopes of sampled positions in the cache (default: only the stated sites)")
    spread = p.add_mutually_exclusive_group()
    spread.add_argument("--range-spread", action="store_true", help="published-range spread: min, nominal and max figures (alone: probability/area band; with --units or --max-withdrawn: the withdrawal table for each mode)")
    spread.add_argument("--range", dest="range_mode", choices=RANGE_MODES, default="nominal", help="which published figure of a spread to use (default nominal)")
    p.add_argument("--altitudes-m", default=",".join(f"{a:g}" for a in DEFAULT_ALTITUDES_M), help="comma-separated target altitudes [m] (default %(default)s)")
    p.add_argument("--altitude-ref", choices=ALTITUDE_REFS, default="msl", help="altitudes above mean sea level or above ground (default msl)")
    p.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layers: detection, engagement (default both)")
    p.add_argument("--levels", default="0.1,0.5,0.9", help="probability levels of the polygons (default %(default)s)")
    p.add_argument("--as-of", help="only units deployed and not withdrawn on this date (YYYY-MM-DD)")
    p.add_argument("--scheduler", metavar="local|tcp://HOST:PORT", help="run the envelope jobs on Dask: a LocalCluster on 127.0.0.1, or an existing scheduler")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes of --scheduler local (default 2)")
    p.add_argument("--top", type=int, default=5, metavar="N", help="how many of the most damaging withdrawals to print per size (default 5)")
    add_grid_options(p, scheduler=False)
    add_cache_options(p)
    p.set_defaults(func=run_sweep)


def _ids(text: str, option: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise ArgumentError(f"{option}: expected one or more unit ids, comma-separated")
    return ids


def _levels(text: str) -> list[float]:
    levels = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ArgumentError(f"--levels: {item!r} is not a number; expected probabilities in (0, 1], e.g. 0.1,0.5,0.9") from None
        if not 0.0 < value <= 1.0:
            raise ArgumentError(f"--levels: {item} is outside (0, 1]")
        levels.append(value)
    if not levels:
        raise ArgumentError("--levels: expected at least one probability in (0, 1]")
    return levels


def run_sweep(args: argparse.Namespace) -> int:
    options = dict(
        out=args.out, as_of=parse_date(args.as_of, "--as-of"),
        units=_ids(args.units, "--units") if args.units is not None else None, max_withdrawn=args.max_withdrawn,
        positions=args.positions, seed=args.seed, land_only=args.land_only, cache_samples=args.cache_samples,
        range_spread=args.range_spread, range_mode=args.range_mode, altitudes_m=parse_altitudes_m(args.altitudes_m),
        altitude_ref=args.altitude_ref, layers=parse_choices(args.layers, LAYERS, "--layers"), levels=_levels(args.levels),
        resolution_m=parse_resolution_m(args.resolution_m), cache=cache_from_args(args),
        scheduler=parse_scheduler(args.scheduler), workers=args.workers,
    )
    with progress_bar() as progress:
        run = api.run_sweep(args.scenario, progress=progress, **options)
    if run.is_ensemble:
        _print_uncertainty(run.result)
    else:
        _print_ranking(run.result, args.top)
    print(f"Wrote {len(run.written)} file(s): {', '.join(str(p) for p in run.written)}")
    if not run.parquet:
        print("(Parquet skipped: pyarrow is not installed)")
    return 0


def _print_ranking(result, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    mode = "nominal" if "nominal" in result.range_modes else result.range_modes[0]
    pairs = len(result.layers) * len(result.altitudes_m)
    console.print(
        f"[bold]{result.scenario_name}[/bold]: {len(result.subsets)} withdrawal subsets of {len(result.units)} units, "
        f"{', '.join(result.layers)} at {', '.join(f'{a:g}' for a in result.altitudes_m)} m {result.altitude_ref.upper()}"
    )
    for size, damages in result.ranking(top=top, range_mode=mode).items():
        table = Table(title=f"Most damaging withdrawals of {size} unit{'s' if size > 1 else ''} ({mode} ranges)", title_justify="left")
        table.add_column("rank", justify="right")
        table.add_column("withdrawn")
        table.add_column("mean lost km²", justify="right")
        for rank, damage in enumerate(damages, 1):
            table.add_row(str(rank), ", ".join(damage.withdrawn), f"{damage.lost_km2:,.0f}")
        console.print(table)
    console.print(f"mean lost km²: the area lost, averaged over the {pairs} swept layer-altitude pairs "
                  "(each listed altitude weighs the same); an area, never more than the analysis area. "
                  "The CSV has the area lost at each layer and altitude.")


def _print_uncertainty(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    what = []
    if result.sampled_units:
        what.append(f"{len({m.sample for m in result.members})} position samples of {', '.join(result.sampled_units)}"
                    f" (seed {result.seed}{', land only' if result.land_only else ''})")
    modes = sorted({m.range_mode for m in result.members}, key=lambda m: RANGE_MODES.index(m))
    what.append(f"range modes {', '.join(modes)}")
    console.print(f"[bold]{result.scenario_name}[/bold]: {len(result.members)} members: {'; '.join(what)}")
    table = Table(title="Covered area distribution", title_justify="left")
    for name in ("layer", f"altitude [m {result.altitude_ref.upper()}]", "p10 km²", "p50 km²", "p90 km²", "mean km²"):
        table.add_column(name, justify="left" if name == "layer" else "right")
    for row in result.rows():
        table.add_row(row[0], f"{row[1]:g}", f"{row[4]:,.0f}", f"{row[5]:,.0f}", f"{row[6]:,.0f}", f"{row[7]:,.0f}")
    console.print(table)

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
import contextlib
import csv
import io
import json
import os
import sys
import uuid
from pathlib import Path

from simulator.cli.common import (
    add_cache_options,
    add_grid_options,
    cache_from_args,
    parse_altitudes_m,
    parse_choices,
    progress_bar,
    with_resolution,
)
from simulator.cli.run import load_for_run
from simulator.coverage import ALTITUDE_REFS, DEFAULT_ALTITUDES_M, LAYERS
from simulator.errors import AdcovError
from simulator.figures import RANGE_MODES
from simulator.fileio import TMP_PREFIX, check_output_file, check_output_folder

EPILOG = """\
examples:
  adcov sweep kurils.yaml --out sweep.csv                        withdraw every 1 and 2 units
  adcov sweep kurils.yaml --units a,b,c,d --out all.csv          every subset of four units
  adcov sweep kurils.yaml --positions 200 --seed 1 --land-only --out mc.csv
  adcov sweep kurils.yaml --range-spread --out band.csv          published-range min/nominal/max
  adcov sweep kurils.yaml --positions 200 --scheduler local --out mc.csv
"""

DEFAULT_MAX_WITHDRAWN = 2


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
        raise AdcovError(f"{option}: expected one or more unit ids, comma-separated")
    return ids


def _levels(text: str) -> list[float]:
    levels = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise AdcovError(f"--levels: {item!r} is not a number; expected probabilities in (0, 1], e.g. 0.1,0.5,0.9") from None
        if not 0.0 < value <= 1.0:
            raise AdcovError(f"--levels: {item} is outside (0, 1]")
        levels.append(value)
    if not levels:
        raise AdcovError("--levels: expected at least one probability in (0, 1]")
    return levels


def _scheduler(text: str | None):
    if text is None:
        return None
    if text == "local" or text.startswith(("tcp://", "tls://")):
        return text
    raise AdcovError(f"--scheduler: {text!r} is not valid; expected local, tcp://HOST:PORT or tls://HOST:PORT")


def _altitude_label(altitude_m: float) -> str:
    return str(int(altitude_m)) if float(altitude_m).is_integer() else repr(float(altitude_m)).replace(".", "p")


class AtomicOutputs:
    """Files written under temporary names, renamed into place together at :meth:`commit`.

    Until the commit nothing is visible under the final names; :meth:`abort` (or an error
    during the commit) removes every temporary file and any file already renamed.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._made: list[Path] = []
        self.written: list[Path] = []

    def make_dir(self, folder: Path) -> Path:
        """A folder for outputs; one this made is removed again by :meth:`abort` if left empty."""
        folder = Path(folder)
        if not folder.is_dir():
            try:
                folder.mkdir()
            except OSError as exc:
                raise AdcovError(f"--out: cannot create the folder {folder}: {exc.strerror or exc}") from exc
            self._made.append(folder)
        return folder

    def temp_for(self, final: Path) -> Path:
        final = Path(final)
        temp = final.with_name(f"{TMP_PREFIX}{final.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{final.suffix}")
        self._pending.append((temp, final))
        return temp

    def write_text(self, final: Path, text: str) -> None:
        temp = self.temp_for(final)
        try:
            with open(temp, "x", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:  # a full disk: ENOSPC, EFBIG, EDQUOT
            raise AdcovError(f"--out: cannot write {final}: {exc.strerror or exc} (no output was replaced)") from exc

    def commit(self) -> list[Path]:
        """Rename every file into place; on failure the files already renamed are put back as they were."""
        done: list[tuple[Path, Path | None]] = []
        try:
            for temp, final in self._pending:
                backup = None
                if os.path.lexists(final):  # keep the previous file until every rename succeeded
                    backup = final.with_name(f"{TMP_PREFIX}{final.name}.{os.getpid()}.old-{uuid.uuid4().hex[:8]}")
                    try:
                        os.link(final, backup, follow_symlinks=False)
                    except OSError:  # no hard links on this file system: no way back for this one
                        backup = None
                os.replace(temp, final)
                done.append((final, backup))
        except BaseException as exc:
            for final, backup in reversed(done):
                with contextlib.suppress(OSError):
                    if backup is None:
                        os.unlink(final)
                    else:
                        os.replace(backup, final)
            for _final, backup in done:
                if backup is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(backup)
            self.abort()
            if isinstance(exc, OSError):
                raise AdcovError(f"--out: cannot put the outputs in place: {exc.strerror or exc} (the previous files are kept)") from exc
            raise
        for _final, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)
        self._pending = []
        self.written = [final for final, _ in done]
        return self.written

    def abort(self) -> None:
        for temp, _final in self._pending:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self._pending = []
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        self._made = []


def csv_text(columns, rows) -> str:
    """CSV with a header; floats as Python writes them (shortest repr, exact round trip); None empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def _write_parquet(outputs: AtomicOutputs, final: Path, columns, rows) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})
    try:
        pq.write_table(table, str(outputs.temp_for(final)))
    except OSError as exc:  # pyarrow's IO errors are OSErrors
        raise AdcovError(f"--out: cannot write {final}: {exc.strerror or exc} (no output was replaced)") from exc
    return True


def run_sweep(args: argparse.Namespace) -> int:
    from simulator import sweep

    altitudes = parse_altitudes_m(args.altitudes_m)
    layers = parse_choices(args.layers, LAYERS, "--layers")
    levels = _levels(args.levels)
    scheduler = _scheduler(args.scheduler)
    if args.out and Path(args.out).suffix.lower() != ".csv":
        raise AdcovError(f"--out: {args.out!r} should name a .csv file (other outputs are written next to it)")
    out = check_output_file(args.out, "--out", inputs=[args.scenario])
    check_output_file(out.with_suffix(".parquet"), "--out (its Parquet companion)", inputs=[args.scenario])
    if args.positions is not None and args.positions < 1:
        raise AdcovError(f"--positions: expected an integer >= 1, got {args.positions}")
    if args.seed < 0:
        raise AdcovError(f"--seed: expected an integer >= 0, got {args.seed}")
    if args.max_withdrawn is not None and args.max_withdrawn < 1:
        raise AdcovError(f"--max-withdrawn: expected an integer >= 1, got {args.max_withdrawn}")
    if args.workers < 1:
        raise AdcovError(f"--workers: expected an integer >= 1, got {args.workers}")
    uncertainty = args.positions is not None or (args.range_spread and args.units is None and args.max_withdrawn is None)
    if args.land_only and args.positions is None:
        raise AdcovError("--land-only applies to position samples; add --positions N")
    if uncertainty and args.max_withdrawn is not None:
        raise AdcovError("--max-withdrawn applies to withdrawal sweeps, not to --positions")
    if uncertainty:
        _check_companion_folder(out)
    scenario = with_resolution(load_for_run(args.scenario, args.as_of), args)
    if not scenario.units:
        raise AdcovError(f"{args.scenario}: no active units{' as of ' + args.as_of if args.as_of else ''}; nothing to sweep")
    units = _ids(args.units, "--units") if args.units is not None else None
    modes = sweep.SPREAD_MODES if args.range_spread else (args.range_mode,)
    common = dict(altitudes_m=altitudes, altitude_ref=args.altitude_ref, layers=layers, cache=cache_from_args(args),
                  scheduler=scheduler, n_workers=args.workers)
    outputs = AtomicOutputs()
    try:
        with progress_bar() as progress:
            if uncertainty:
                result = sweep.coverage_ensemble(
                    scenario, samples=args.positions or 0, seed=args.seed, units=units, land_only=args.land_only,
                    range_modes=modes, progress=progress, cache_samples=args.cache_samples, **common,
                )
            else:
                result = sweep.withdrawal_sweep(
                    scenario, units=units,
                    max_withdrawn=args.max_withdrawn if (args.max_withdrawn is not None or units is not None) else DEFAULT_MAX_WITHDRAWN,
                    range_modes=modes, progress=progress, **common,
                )
        if uncertainty:
            parquet = _write_uncertainty(outputs, out, result, levels)
        else:
            parquet = _write_withdrawals(outputs, out, result)
        written = outputs.commit()
    except BaseException:
        outputs.abort()  # an interrupt too: the command reports it (simulator.cli.main)
        raise
    if uncertainty:
        _print_uncertainty(result)
    else:
        _print_ranking(result, args.top)
    print(f"Wrote {len(written)} file(s): {', '.join(str(p) for p in written)}")
    if not parquet:
        print("(Parquet skipped: pyarrow is not installed)")
    return 0


def _check_companion_folder(out: Path) -> Path:
    """The folder of the uncertainty outputs (results.csv -> results/), checked like --out."""
    folder = out.with_suffix("")
    if os.path.lexists(folder) and not folder.is_dir():
        raise AdcovError(f"--out: the companion folder {str(folder)!r} exists and is not a folder; choose another --out name")
    return check_output_folder(folder, "--out (its companion folder)")


def _write_withdrawals(outputs: AtomicOutputs, out: Path, result) -> bool:
    from simulator.sweep import WITHDRAWAL_COLUMNS

    rows = result.rows()
    parquet = _write_parquet(outputs, out.with_suffix(".parquet"), WITHDRAWAL_COLUMNS, rows)
    outputs.write_text(out, csv_text(WITHDRAWAL_COLUMNS, rows))
    return parquet


def _write_uncertainty(outputs: AtomicOutputs, out: Path, result, levels) -> bool:
    import shapely.geometry

    from simulator.sweep import MEMBER_COLUMNS, SAMPLE_COLUMNS, UNCERTAINTY_COLUMNS
    from simulator.terrain import write_geotiff

    folder = _check_companion_folder(out)  # results.csv -> results/: one folder, not a dozen files beside the CSV
    outputs.make_dir(folder)
    grid = result.grid
    ref = "" if result.altitude_ref == "msl" else f"_{result.altitude_ref}"
    features = []
    for layer in result.layers:
        for altitude_m in result.altitudes_m:
            probability = result.probability(layer, altitude_m)
            final = folder / f"p_{layer}_{_altitude_label(altitude_m)}m{ref}.tif"
            temp = outputs.temp_for(final)
            try:
                write_geotiff(
                    temp, probability, grid.transform, grid.terrain.crs,
                    tags={"quantity": f"probability of {layer} coverage", "altitude_m": f"{altitude_m:g}",
                          "altitude_ref": result.altitude_ref, "members": str(len(result.members)),
                          "scenario": result.scenario_name, "units": "1 (fraction of members)"},
                )
            except AdcovError as exc:  # its message names the temporary file
                raise AdcovError(f"--out: {str(exc).replace(str(temp), str(final))} (no output was replaced)") from exc
            for level in levels:
                geometry = result.polygons_lonlat(layer, altitude_m, level)
                features.append({
                    "type": "Feature",
                    "properties": {"scenario": result.scenario_name, "layer": layer, "altitude_m": float(altitude_m),
                                   "altitude_ref": result.altitude_ref, "probability_min": level,
                                   "members": len(result.members)},
                    "geometry": shapely.geometry.mapping(geometry),
                })
    outputs.write_text(folder / "levels.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    outputs.write_text(folder / "members.csv", csv_text(MEMBER_COLUMNS, result.member_rows()))
    if result.positions:
        outputs.write_text(folder / "samples.csv", csv_text(SAMPLE_COLUMNS, result.sample_rows()))
    rows = result.rows()
    parquet = _write_parquet(outputs, out.with_suffix(".parquet"), UNCERTAINTY_COLUMNS, rows)
    outputs.write_text(out, csv_text(UNCERTAINTY_COLUMNS, rows))
    return parquet


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

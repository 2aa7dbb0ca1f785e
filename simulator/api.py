"""The front door: what a script needs to run a scenario, in one call each.

>>> from simulator import run_scenario                        # doctest: +SKIP
>>> result = run_scenario("scenarios/kurils-2020.yaml")       # doctest: +SKIP
>>> result.summary["layers"]["engagement"][0]["covered_km2"]  # doctest: +SKIP

:func:`load_scenario_as_of` is the one home of the date rule every entry point follows (the
CLI's ``run``, ``compare`` and ``sweep``, the GUI's load and comparison): a date given by the
caller wins; else the file's own ``as_of`` applies; else every unit of the file is active.
:func:`run_scenario` is ``adcov run`` without the printing: load, build the envelopes,
summarize, and the same summary dictionary ``adcov run --json`` prints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.cache import EnvelopeCache
from simulator.coverage import DEFAULT_ALTITUDES_M, LAYERS, Coverage, build_coverage, summarize
from simulator.errors import AdcovError, ArgumentError, OutputError
from simulator.one_observer import ViewshedRun
from simulator.scenario import Scenario, load_scenario

__all__ = ["DEFAULT_BASELINE", "as_date", "DEFAULT_CACHE", "DEFAULT_MAX_WITHDRAWN", "DEFAULT_VARIANT", "ComparisonRun", "RunResult",
           "SweepRun", "ViewshedRun", "check_report_out", "compare_scenarios", "inactive_units", "load_comparison_pair",
           "load_scenario_as_of", "run_comparison", "run_scenario", "run_sweep", "run_viewshed", "viewshed"]

#: ``cache=DEFAULT_CACHE``: the envelope cache in its default folder (``ADCOV_CACHE_DIR`` or the
#: user cache folder); ``cache=None`` computes everything.
DEFAULT_CACHE = "default"


def load_scenario_as_of(path, as_of: dt.date | str | None = None) -> Scenario:
    """The scenario of a file with the units active on a date: ``as_of`` (a date or
    ``YYYY-MM-DD``) if given, else the file's own ``as_of``, else all of them."""
    scenario = load_scenario(path)
    if as_of is not None and as_of != "":
        return scenario.active_as_of(as_date(as_of, "as_of"))
    if scenario.as_of:
        return scenario.active_as_of(scenario.as_of)
    return scenario


def as_date(value, name: str) -> dt.date:
    """``value`` (a date, or ``YYYY-MM-DD`` text) as a date; ArgumentError naming ``name`` (the
    option or parameter) otherwise. The one parser of the dates a user types (CLI, GUI, API)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ArgumentError(f"{name}: {value!r} is not a date; expected YYYY-MM-DD") from None


def inactive_units(scenario: Scenario) -> list[dict]:
    """Units of the file that the date leaves out: id, deployed, withdrawn, status."""
    active = set(scenario.unit_ids)
    return [
        {"id": u.id, "deployed": u.deployed.isoformat() if u.deployed else None,
         "withdrawn": u.withdrawn.isoformat() if u.withdrawn else None, "status": u.status}
        for u in tuple(getattr(scenario, "grid_units", ()) or ())
        if u.id not in active and u not in scenario.withdrawn_units
    ]


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_scenario` returns: the scenario as run, its coverage (for further
    queries, reports and comparisons) and the summary ``adcov run --json`` prints."""

    scenario: Scenario
    coverage: Coverage
    summary: dict
    #: The report folder's files when ``out`` was given, else empty.
    report_files: tuple[Path, ...] = ()

    @property
    def assumptions(self) -> dict:
        return self.summary["assumptions"]

    def __repr__(self) -> str:
        return f"<RunResult {self.scenario.name!r}: {len(self.coverage.envelopes)} units, {self.coverage.grid.n_rows} x {self.coverage.grid.n_cols} cells>"


def run_scenario(
    scenario,
    *,
    as_of: dt.date | str | None = None,
    range_mode: str = "nominal",
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    resolution_m: float | str | None = None,
    cache: EnvelopeCache | str | None = DEFAULT_CACHE,
    scheduler=None,
    progress=None,
    cancel=None,
    scenario_file: str | None = None,
    out=None,
) -> RunResult:
    """Run a scenario (a file path, or a :class:`~simulator.scenario.Scenario` already loaded and
    dated) as ``adcov run`` does: the envelopes of its active units and the covered area per
    layer and altitude; with ``out``, the run report written to that folder (checked before
    anything is computed; see :func:`simulator.export.write_run_report`).

    ``resolution_m`` overrides the scenario's analysis spacing (metres or ``"native"``);
    ``scheduler`` is None (this process), ``"local"`` or ``"tcp://HOST:PORT"`` (see
    :func:`simulator.coverage.build_coverage`); ``scenario_file`` is what the summary names
    as the file (default: the path given).
    """
    if out is not None:  # before computing; '' is refused, not ignored
        check_report_out(out, [scenario] if isinstance(scenario, (str, Path)) else [])
    if isinstance(scenario, (str, Path)):
        scenario_file = str(scenario) if scenario_file is None else scenario_file
        scenario = load_scenario_as_of(scenario, as_of)
    elif as_of is not None:
        scenario = scenario.active_as_of(as_date(as_of, "as_of"))
    scenario = _with_resolution(scenario, resolution_m)
    if not scenario.units:
        where = scenario_file or scenario.name
        raise AdcovError(f"{where}: no active units{' as of ' + str(as_of) if as_of else ''}; nothing to compute")
    cache = _cache(cache)
    inactive = inactive_units(scenario)
    coverage = build_coverage(scenario, range_mode=range_mode, cache=cache, progress=progress, cancel=cancel,
                              scheduler=scheduler)
    summary = summarize(coverage, layers=layers, altitudes_m=altitudes_m, altitude_ref=altitude_ref)
    summary["scenario_file"] = str(scenario_file) if scenario_file is not None else None
    summary["as_of"] = scenario.as_of.isoformat() if scenario.as_of else None
    summary["active_units"] = coverage.unit_ids
    summary["inactive_units"] = inactive
    report_files = ()
    if out is not None:
        from simulator.export import write_run_report

        report_files = tuple(write_run_report(coverage, summary, out, altitudes_m=altitudes_m, layers=layers,
                                              altitude_ref=altitude_ref))
    return RunResult(scenario, coverage, summary, report_files)


def _with_resolution(scenario, resolution_m):
    """``scenario`` with its analysis spacing replaced (unchanged for None, or for unit ids)."""
    if resolution_m is None or not hasattr(scenario, "resolution_m"):
        return scenario
    return dataclasses.replace(scenario, resolution_m=resolution_m)


def _cache(cache) -> EnvelopeCache | None:
    if isinstance(cache, str):
        if cache != DEFAULT_CACHE:
            raise AdcovError(f"cache: {cache!r} is not valid; expected an EnvelopeCache, None or {DEFAULT_CACHE!r}")
        return EnvelopeCache(None)
    return cache


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


def compare_scenarios(baseline, variant, *, as_of=None, vs_as_of=None, **options):
    """``adcov compare`` as a call: a baseline and a variant (files, dated by the rule of
    :func:`load_scenario_as_of`, or scenarios/coverages already loaded; the variant may be
    baseline unit ids to withdraw), compared on one grid. ``options`` are those of
    :func:`simulator.compare.compare` (altitudes, layers, cache, scheduler, ...). Named so
    because ``simulator.compare`` is the module."""
    from simulator.compare import compare

    if isinstance(baseline, (str, Path)):
        baseline = load_scenario_as_of(baseline, as_of)
    if isinstance(variant, (str, Path)):
        variant = load_scenario_as_of(variant, vs_as_of)
    return compare(baseline, variant, **options)


#: ``adcov compare`` with no scenario: the bundled Kuril pair (two S-300V4 and a Tor-M2, then
#: the S-300V4s reported withdrawn).
DEFAULT_BASELINE = "kurils-2020"
DEFAULT_VARIANT = "kurils-2023"


@dataclass(frozen=True)
class ComparisonRun:
    """What :func:`run_comparison` returns: the two sides as compared, the comparison (the
    nominal one in ``band`` mode), the min/nominal/max band (``band`` mode only) and the
    report folder's files (when ``out`` was given)."""

    baseline: Scenario
    #: The variant scenario, or the baseline's unit ids withdrawn.
    variant: Scenario | list[str]
    comparison: object
    band: dict | None = None
    report_files: tuple[Path, ...] = ()


def load_comparison_pair(baseline=None, variant=None, *, withdraw=None, as_of=None, vs_as_of=None):
    """``(baseline Scenario, variant Scenario or unit ids to withdraw)`` as ``adcov compare``
    reads its arguments: no scenario at all is the bundled Kuril pair; the variant is a second
    file, the baseline with ``withdraw`` ids taken out, or the baseline on ``vs_as_of``. Each
    file is dated by the rule of :func:`load_scenario_as_of`."""
    from simulator.scenario import bundled_scenario

    withdraw = list(withdraw) if withdraw else None
    if baseline is None:
        baseline_path = str(bundled_scenario(DEFAULT_BASELINE))
        variant_path = None if (withdraw or vs_as_of) else str(bundled_scenario(DEFAULT_VARIANT))
    else:
        baseline_path, variant_path = baseline, variant
        if variant_path is None and not (withdraw or vs_as_of):
            raise AdcovError(
                f"compare {baseline_path}: no variant; give a VARIANT scenario, --withdraw ID[,ID] or --vs-as-of DATE "
                f"(or no scenario at all to compare the bundled {DEFAULT_BASELINE} and {DEFAULT_VARIANT})"
            )
    if withdraw and variant_path is not None:
        raise AdcovError("--withdraw takes units out of BASELINE: give either a VARIANT scenario or --withdraw, not both")
    baseline_scenario = load_scenario_as_of(baseline_path, as_of)
    if variant_path is not None:
        variant_scenario = load_scenario_as_of(variant_path, vs_as_of)
    elif vs_as_of:
        variant_scenario = load_scenario_as_of(baseline_path, vs_as_of)
    else:
        variant_scenario = None
    if withdraw:
        if variant_scenario is None:
            baseline_scenario.with_units_withdrawn(withdraw)  # unknown ids: the message lists the valid ones
            return baseline_scenario, withdraw
        variant_scenario = variant_scenario.with_units_withdrawn(withdraw)
    return baseline_scenario, variant_scenario


def run_comparison(
    baseline=None,
    variant=None,
    *,
    withdraw: Sequence[str] | None = None,
    as_of: dt.date | str | None = None,
    vs_as_of: dt.date | str | None = None,
    range_mode: str = "nominal",
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    resolution_m: float | str | None = None,
    cache: EnvelopeCache | str | None = DEFAULT_CACHE,
    scheduler=None,
    progress=None,
    out=None,
    before_report=None,
) -> ComparisonRun:
    """``adcov compare`` as one call: read the pair (:func:`load_comparison_pair`), compare
    them on one grid, and with ``out`` write the comparison report there (the folder is
    checked before anything is computed; ``before_report(comparison)`` is called when the
    writing starts, ``progress`` reports both phases).

    ``range_mode`` is a published-range mode (min, nominal, max) or ``"band"``: all three,
    with the band of lost/kept areas in :attr:`ComparisonRun.band`.
    """
    from simulator.compare import compare, compare_range_band

    writer = _comparison_report_writer() if out is not None else None  # fail before computing
    if writer is not None:
        check_report_out(out, [baseline, variant])
    baseline, variant = load_comparison_pair(baseline, variant, withdraw=withdraw, as_of=as_of, vs_as_of=vs_as_of)
    baseline, variant = _with_resolution(baseline, resolution_m), _with_resolution(variant, resolution_m)
    options = dict(altitudes_m=altitudes_m, altitude_ref=altitude_ref, layers=layers, cache=_cache(cache))
    band = None
    if range_mode == "band":
        band, comparisons = compare_range_band(baseline, variant, **options)
        comparison = comparisons["nominal"]
    else:
        comparison = compare(baseline, variant, range_mode=range_mode, progress=progress, scheduler=scheduler, **options)
    report_files = ()
    if writer is not None:
        if before_report is not None:
            before_report(comparison)
        report_files = tuple(writer(comparison, out, progress=progress) or ())
    return ComparisonRun(baseline, variant, comparison, band, report_files)


def _comparison_report_writer():
    """``simulator.export.write_comparison_report`` (AdcovError if that module is not there)."""
    try:
        from simulator.export import write_comparison_report
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name not in ("simulator.export", None):
            raise  # a dependency of the export module is missing: a real bug, keep the traceback
        raise AdcovError("export module not available") from None
    return write_comparison_report


#: ``adcov sweep`` with no --units: every withdrawal of up to this many units.
DEFAULT_MAX_WITHDRAWN = 2


@dataclass(frozen=True)
class SweepRun:
    """What :func:`run_sweep` returns: the sweep's result (a
    :class:`~simulator.sweep.WithdrawalSweep` or :class:`~simulator.sweep.UncertaintyResult`),
    the files put in place, and whether the Parquet table was written (pyarrow installed)."""

    result: object
    written: tuple[Path, ...]
    parquet: bool

    @property
    def is_ensemble(self) -> bool:
        from simulator.sweep import UncertaintyResult

        return isinstance(self.result, UncertaintyResult)


def run_sweep(
    scenario_file,
    *,
    out,
    as_of: dt.date | str | None = None,
    units: Sequence[str] | None = None,
    max_withdrawn: int | None = None,
    positions: int | None = None,
    seed: int = 0,
    land_only: bool = False,
    cache_samples: bool = False,
    range_spread: bool = False,
    range_mode: str = "nominal",
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    levels: Sequence[float] | None = None,
    resolution_m: float | str | None = None,
    cache: EnvelopeCache | str | None = DEFAULT_CACHE,
    scheduler=None,
    workers: int = 2,
    progress=None,
) -> SweepRun:
    """``adcov sweep`` as one call: check the outputs, read the scenario (dated by the rule of
    :func:`load_scenario_as_of`), run the sweep and write the table ``out`` (a .csv; Parquet
    next to it) and an ensemble's companion folder -- all of them, or none.

    An *ensemble* (:func:`simulator.sweep.coverage_ensemble`) when ``positions`` is given, or
    ``range_spread`` alone (no ``units``, no ``max_withdrawn``); else a withdrawal sweep
    (:func:`simulator.sweep.withdrawal_sweep`) of ``units`` (default all, up to
    ``max_withdrawn`` at once; :data:`DEFAULT_MAX_WITHDRAWN` without ``units``), for each
    published-range mode of a ``range_spread``.
    """
    from simulator import sweep
    from simulator.fileio import check_output_file
    from simulator.sweep.writers import check_companion_folder, write_sweep_outputs

    if out and Path(out).suffix.lower() != ".csv":
        raise OutputError(f"--out: {str(out)!r} should name a .csv file (other outputs are written next to it)")
    out_path = check_output_file(out, "--out", inputs=[scenario_file])
    check_output_file(out_path.with_suffix(".parquet"), "--out (its Parquet companion)", inputs=[scenario_file])
    for option, value, low in (("--positions", positions, 1), ("--seed", seed, 0), ("--max-withdrawn", max_withdrawn, 1),
                               ("--workers", workers, 1)):
        if value is not None and value < low:
            raise ArgumentError(f"{option}: expected an integer >= {low}, got {value}")
    ensemble = positions is not None or (range_spread and units is None and max_withdrawn is None)
    if land_only and positions is None:
        raise ArgumentError("--land-only applies to position samples; add --positions N")
    if ensemble and max_withdrawn is not None:
        raise ArgumentError("--max-withdrawn applies to withdrawal sweeps, not to --positions")
    if ensemble:
        check_companion_folder(out_path)
    scenario = _with_resolution(load_scenario_as_of(scenario_file, as_of), resolution_m)
    if not scenario.units:
        raise AdcovError(f"{scenario_file}: no active units{' as of ' + str(as_of) if as_of else ''}; nothing to sweep")
    common = dict(altitudes_m=altitudes_m, altitude_ref=altitude_ref, layers=layers, cache=_cache(cache),
                  scheduler=scheduler, n_workers=workers, progress=progress,
                  range_modes=sweep.SPREAD_MODES if range_spread else (range_mode,))
    if ensemble:
        result = sweep.coverage_ensemble(scenario, samples=positions or 0, seed=seed, units=units, land_only=land_only,
                                         cache_samples=cache_samples, **common)
    else:
        if max_withdrawn is None and units is None:
            max_withdrawn = DEFAULT_MAX_WITHDRAWN
        result = sweep.withdrawal_sweep(scenario, units=units, max_withdrawn=max_withdrawn, **common)
    options = {} if levels is None else {"levels": levels}
    written, parquet = write_sweep_outputs(out_path, result, **options)  # all or nothing; an interrupt leaves no output
    return SweepRun(result, tuple(written), parquet)


def run_viewshed(dem, lat_deg, lon_deg, observer_height_m, target_height_m=0.0, **options):
    """``adcov viewshed`` as one call: the rasters written to ``out`` (and ``floor_out``), both
    or neither; see :func:`simulator.one_observer.run_viewshed`."""
    from simulator import one_observer

    return one_observer.run_viewshed(dem, lat_deg, lon_deg, observer_height_m, target_height_m, **options)


def viewshed(terrain, lat_deg, lon_deg, observer_height_m, target_height_m=0.0, **options):
    """``adcov viewshed`` as a call: ``(visibility uint8, floor float32 m MSL)`` of one observer
    on a DEM (a path, or a terrain already opened); see :func:`simulator.one_observer.viewshed`."""
    from simulator import one_observer

    if isinstance(terrain, (str, Path)):
        from simulator.dem import open_dem

        terrain = open_dem(terrain)
    return one_observer.viewshed(terrain, lat_deg, lon_deg, observer_height_m, target_height_m, **options)

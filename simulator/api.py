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
from simulator.errors import AdcovError
from simulator.scenario import Scenario, load_scenario

__all__ = ["DEFAULT_CACHE", "RunResult", "inactive_units", "load_scenario_as_of", "run_scenario"]

#: ``cache=DEFAULT_CACHE``: the envelope cache in its default folder (``ADCOV_CACHE_DIR`` or the
#: user cache folder); ``cache=None`` computes everything.
DEFAULT_CACHE = "default"


def load_scenario_as_of(path, as_of: dt.date | str | None = None) -> Scenario:
    """The scenario of a file with the units active on a date: ``as_of`` (a date or
    ``YYYY-MM-DD``) if given, else the file's own ``as_of``, else all of them."""
    scenario = load_scenario(path)
    if as_of is not None and as_of != "":
        return scenario.active_as_of(_date(as_of, "as_of"))
    if scenario.as_of:
        return scenario.active_as_of(scenario.as_of)
    return scenario


def _date(value, name: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise AdcovError(f"{name}: {value!r} is not a date; expected YYYY-MM-DD") from None


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
) -> RunResult:
    """Run a scenario (a file path, or a :class:`~simulator.scenario.Scenario` already loaded and
    dated) as ``adcov run`` does: the envelopes of its active units and the covered area per
    layer and altitude.

    ``resolution_m`` overrides the scenario's analysis spacing (metres or ``"native"``);
    ``scheduler`` is None (this process), ``"local"`` or ``"tcp://HOST:PORT"`` (see
    :func:`simulator.coverage.build_coverage`); ``scenario_file`` is what the summary names
    as the file (default: the path given).
    """
    if isinstance(scenario, (str, Path)):
        scenario_file = str(scenario) if scenario_file is None else scenario_file
        scenario = load_scenario_as_of(scenario, as_of)
    elif as_of is not None:
        scenario = scenario.active_as_of(_date(as_of, "as_of"))
    if resolution_m is not None and hasattr(scenario, "resolution_m"):
        scenario = dataclasses.replace(scenario, resolution_m=resolution_m)
    if not scenario.units:
        where = scenario_file or scenario.name
        raise AdcovError(f"{where}: no active units{' as of ' + str(as_of) if as_of else ''}; nothing to compute")
    if isinstance(cache, str):
        if cache != DEFAULT_CACHE:
            raise AdcovError(f"cache: {cache!r} is not valid; expected an EnvelopeCache, None or {DEFAULT_CACHE!r}")
        cache = EnvelopeCache(None)
    inactive = inactive_units(scenario)
    coverage = build_coverage(scenario, range_mode=range_mode, cache=cache, progress=progress, cancel=cancel,
                              scheduler=scheduler)
    summary = summarize(coverage, layers=layers, altitudes_m=altitudes_m, altitude_ref=altitude_ref)
    summary["scenario_file"] = str(scenario_file) if scenario_file is not None else None
    summary["as_of"] = scenario.as_of.isoformat() if scenario.as_of else None
    summary["active_units"] = coverage.unit_ids
    summary["inactive_units"] = inactive
    return RunResult(scenario, coverage, summary)


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


def viewshed(terrain, lat_deg, lon_deg, observer_height_m, target_height_m=0.0, **options):
    """``adcov viewshed`` as a call: ``(visibility uint8, floor float32 m MSL)`` of one observer
    on a DEM (a path, or a terrain already opened); see :func:`simulator.one_observer.viewshed`."""
    from simulator import one_observer

    if isinstance(terrain, (str, Path)):
        from simulator.dem import open_dem

        terrain = open_dem(terrain)
    return one_observer.viewshed(terrain, lat_deg, lon_deg, observer_height_m, target_height_m, **options)

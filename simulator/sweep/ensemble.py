"""Ensembles of scenario members: position Monte Carlo and the published-range spread.

:func:`position_uncertainty` (and :func:`range_spread`) build an *ensemble* of scenario
members -- N joint position samples (sample ``i`` of every uncertain unit together), and/or
the published-range modes min/nominal/max -- and give per cell, layer and altitude the
**probability of coverage** = the fraction of members in which the scenario covers the
cell; polygons at probability levels; the covered-area distribution (p10/p50/p90 km²).

One envelope job runs per distinct (unit, site, range mode); each member is added to the
per-cell counts as soon as all its envelopes are in. Counts are integers and per-member
values are stored by index, so the result does not depend on the order results arrive in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator.cache import EnvelopeCache
from simulator.coverage import DEFAULT_ALTITUDES_M, LAYERS, CancelToken, ProgressCallback
from simulator.coverage_kernels import area_where_positive_m2
from simulator.errors import AdcovError
from simulator.geometry import AnalysisGrid, mask_polygons, to_lonlat
from simulator.progress import scaled_progress
from simulator.sweep.checks import _catalog_or_default, _check_query
from simulator.sweep.engine import DEFAULT_LOCAL_WORKERS, _check_scheduler, run_tasks
from simulator.sweep.masks import EnvelopeJob, GridSpec, UnitMasks, _cache_dir, _grid_spec, _open_grid, _task_function
from simulator.sweep.positions import _sample_units
from simulator.sweep.ranges import SPREAD_MODES, _check_range_modes, _figures_by_mode

#: Probability levels of the polygons, by default.
DEFAULT_LEVELS = (0.1, 0.5, 0.9)
#: Quantiles of the covered-area distribution, in percent.
AREA_PERCENTILES = (10, 50, 90)
#: Largest number of members (samples x range modes) of an ensemble.
MAX_MEMBERS = 100_000


@dataclass(frozen=True)
class Member:
    """One scenario draw: a position sample (or None) with a range mode."""

    index: int
    sample: int | None
    range_mode: str


@dataclass(eq=False)
class UncertaintyResult:
    """Probability of coverage and covered-area distribution over an ensemble of members.

    Attributes
    ----------
    grid : AnalysisGrid
    layers, altitudes_m, altitude_ref
        What was queried.
    members : list of Member
        Sample ``s`` with range mode ``m``, in order: samples outer, modes inner.
    sampled_units : list of str
        Units whose positions were sampled (empty for a range spread alone).
    positions : dict
        ``unit id -> (lat_deg array, lon_deg array)`` of the samples. [deg]
    counts : numpy.ndarray of uint32, (layers, altitudes, rows, cols)
        Members covering each cell.
    areas_km2 : numpy.ndarray of float64, (members, layers, altitudes)
        Covered area of each member (:meth:`Coverage.area_km2`). [km²]
    expected_km2 : numpy.ndarray of float64, (layers, altitudes)
        ``sum(probability * cell area)``, the mean covered area. [km²]
    """

    grid: AnalysisGrid
    scenario_name: str
    layers: tuple[str, ...]
    altitudes_m: tuple[float, ...]
    altitude_ref: str
    members: list[Member]
    sampled_units: list[str]
    positions: dict[str, tuple[np.ndarray, np.ndarray]]
    seed: int | None
    land_only: bool
    counts: np.ndarray
    areas_km2: np.ndarray
    expected_km2: np.ndarray = field(default=None)

    def _index(self, layer: str, altitude_m: float) -> tuple[int, int]:
        if layer not in self.layers:
            raise AdcovError(f"layer {layer!r} was not computed; computed: {', '.join(self.layers)}")
        for i, a in enumerate(self.altitudes_m):
            if math.isclose(a, float(altitude_m), rel_tol=1e-12, abs_tol=1e-9):
                return self.layers.index(layer), i
        raise AdcovError(
            f"altitude {float(altitude_m):g} m was not computed; computed: {', '.join(f'{a:g}' for a in self.altitudes_m)} m "
            f"{self.altitude_ref.upper()}"
        )

    def probability(self, layer: str, altitude_m: float) -> np.ndarray:
        """Fraction of members covering each cell, float32 in [0, 1] (rows, cols)."""
        li, ai = self._index(layer, altitude_m)
        return (self.counts[li, ai] / float(len(self.members))).astype(np.float32)

    def polygons_lonlat(self, layer: str, altitude_m: float, level: float):
        """Cells covered with probability >= ``level``, as a shapely MultiPolygon. [deg, EPSG:4326]

        Built like :meth:`Coverage.polygons` (contour of the cell mask in the grid's
        equal-area CRS, transformed at the edge).
        """
        if not (0.0 < float(level) <= 1.0):
            raise AdcovError(f"level: expected a probability in (0, 1], got {level!r}")
        li, ai = self._index(layer, altitude_m)
        n = len(self.members)
        # count >= level * n, in integers (no rounding surprise at level = k / n)
        mask = self.counts[li, ai] >= math.ceil(float(level) * n - 1e-9)
        geometry, crs = mask_polygons(self.grid, mask)
        return to_lonlat(geometry, crs)

    def area_quantiles_km2(self, layer: str, altitude_m: float, percentiles=AREA_PERCENTILES) -> dict[int, float]:
        """Percentiles of the members' covered area (linear interpolation). [km²]"""
        li, ai = self._index(layer, altitude_m)
        values = np.quantile(self.areas_km2[:, li, ai], [p / 100.0 for p in percentiles])
        return {int(p): float(v) for p, v in zip(percentiles, values, strict=True)}

    def rows(self) -> list[tuple]:
        """Summary table rows: see :data:`UNCERTAINTY_COLUMNS`."""
        out = []
        for li, layer in enumerate(self.layers):
            for ai, altitude_m in enumerate(self.altitudes_m):
                values = self.areas_km2[:, li, ai]
                q = self.area_quantiles_km2(layer, altitude_m)
                by_mode = {}
                for mode in SPREAD_MODES:
                    picked = [values[m.index] for m in self.members if m.range_mode == mode]
                    by_mode[mode] = float(np.mean(picked)) if picked else None
                out.append((
                    layer, float(altitude_m), self.altitude_ref, len(self.members),
                    q[10], q[50], q[90], float(values.mean()), float(values.min()), float(values.max()),
                    float(self.expected_km2[li, ai]),
                    by_mode["min"], by_mode["nominal"], by_mode["max"],
                ))
        return out

    def member_rows(self) -> list[tuple]:
        """Per-member rows: see :data:`MEMBER_COLUMNS`."""
        return [
            (m.index, "" if m.sample is None else m.sample, m.range_mode, layer, float(altitude_m), self.altitude_ref,
             float(self.areas_km2[m.index, li, ai]))
            for m in self.members
            for li, layer in enumerate(self.layers)
            for ai, altitude_m in enumerate(self.altitudes_m)
        ]

    def sample_rows(self) -> list[tuple]:
        """Sampled positions: see :data:`SAMPLE_COLUMNS`."""
        return [
            (s, unit, float(lat[s]), float(lon[s]))
            for unit, (lat, lon) in self.positions.items()
            for s in range(len(lat))
        ]


#: Columns of :meth:`UncertaintyResult.rows` (``mean_<mode>_km2``: mean area of the members
#: with that range mode; empty when the mode was not run).
UNCERTAINTY_COLUMNS = (
    "layer", "altitude_m", "altitude_ref", "members", "p10_km2", "p50_km2", "p90_km2", "mean_km2", "min_km2",
    "max_km2", "expected_km2", "mean_min_km2", "mean_nominal_km2", "mean_max_km2",
)
MEMBER_COLUMNS = ("member", "sample", "range_mode", "layer", "altitude_m", "altitude_ref", "covered_km2")
SAMPLE_COLUMNS = ("sample", "unit", "lat_deg", "lon_deg")


def coverage_ensemble(
    scenario,
    *,
    samples: int = 0,
    seed: int = 0,
    units: Iterable[str] | None = None,
    land_only: bool = False,
    range_modes: Sequence[str] = ("nominal",),
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    cache: EnvelopeCache | None = None,
    scheduler=None,
    n_workers: int = DEFAULT_LOCAL_WORKERS,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    catalog=None,
    cache_samples: bool = False,
) -> UncertaintyResult:
    """Probability of coverage over position samples and/or range modes.

    The members are ``samples`` joint position samples (sample ``i`` of every sampled unit
    together; the other units stay at their stated points) for each of ``range_modes``;
    with ``samples=0``, one member per range mode at the stated positions. See
    :func:`position_uncertainty` and :func:`range_spread` for the usual calls.

    Parameters
    ----------
    scenario : simulator.scenario.Scenario
        Its ``units`` as they are (apply ``Scenario.active_as_of`` first for a date).
    samples : int
        Position samples (0: none).
    seed : int
        Seed of the samples (see :mod:`simulator.sweep.positions`, Notes).
    units : iterable of str, optional
        Units to sample; default every unit with ``position_precision_km``.
    land_only : bool
        Reject samples at or below 0 m terrain.
    range_modes : sequence of {"min", "nominal", "max"}
    altitudes_m, altitude_ref, layers
        The query. [m]
    cache : EnvelopeCache, optional
        Shared line-of-sight cache (workers use the same folder): the units at their stated
        points use it; sampled positions only with ``cache_samples`` (each sample is seen
        once, and hundreds of them would fill the cache with entries never read again).
    scheduler, n_workers
        See :func:`~simulator.sweep.engine.run_tasks`.
    progress : callable(fraction, message), optional
    cancel : CancelToken, optional
    cache_samples : bool
        Also cache the envelopes of sampled positions.
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    modes = _check_range_modes(range_modes)
    _check_ensemble_args(scenario, samples, units, land_only, modes, scheduler)
    catalog = _catalog_or_default(catalog)
    grid = _open_grid(scenario)
    spec = _grid_spec(scenario, grid)
    sampled, positions = _sample_units(scenario, grid, samples, seed, units, land_only)
    members = [
        Member(len(modes) * s + j, s if samples else None, mode)
        for s in range(max(int(samples), 1))
        for j, mode in enumerate(modes)
    ]
    if len(members) > MAX_MEMBERS:
        raise AdcovError(f"{len(members)} members (samples x range modes) exceed the limit of {MAX_MEMBERS}")

    jobs, member_keys, fixed_keys = _ensemble_jobs(
        scenario, catalog, spec, (layers, altitudes, altitude_ref), modes, members, sampled, positions, cache, cache_samples,
    )
    aggregator = _EnsembleAggregator(grid, layers, altitudes, members, member_keys, fixed_keys)
    job_list = list(jobs.values())
    key_of = [job.key for job in job_list]
    run_tasks(
        _task_function(), job_list, scheduler=scheduler, n_workers=n_workers, progress=scaled_progress(progress, 0.0, 0.97),
        cancel=cancel, on_result=lambda i, masks: aggregator.add(key_of[i], masks), label="envelopes",
    )
    aggregator.finish()
    if progress:
        progress(1.0, "ensemble ready")
    return UncertaintyResult(
        grid=grid, scenario_name=scenario.name, layers=layers, altitudes_m=altitudes, altitude_ref=altitude_ref,
        members=members, sampled_units=sampled, positions=positions, seed=int(seed) if samples else None,
        land_only=bool(land_only and samples), counts=aggregator.counts, areas_km2=aggregator.areas_km2,
        expected_km2=_expected_km2(aggregator.counts, grid.cell_area_m2, len(members)),
    )


def _check_ensemble_args(scenario, samples, units, land_only: bool, modes: tuple[str, ...], scheduler) -> None:
    """Refuse a bad ensemble before the grid is opened or a site sampled."""
    _check_scheduler(scheduler)
    if not scenario.units:
        raise AdcovError(f"{scenario.path}: scenario {scenario.name!r} has no active units; nothing to sample")
    if not (isinstance(samples, (int, np.integer)) and samples >= 0):
        raise AdcovError(f"samples: expected an integer >= 0, got {samples!r}")
    if not samples and (units is not None or land_only):
        raise AdcovError("units and land_only choose and constrain position samples; give samples >= 1")
    if max(int(samples), 1) * max(len(modes), 1) > MAX_MEMBERS:
        raise AdcovError(f"{int(samples):,} samples x {len(modes)} range mode(s) exceed the limit of {MAX_MEMBERS:,} members; "
                         "choose fewer samples")


def _ensemble_jobs(scenario, catalog, spec: GridSpec, query, modes, members, sampled, positions, cache, cache_samples
                   ) -> tuple[dict[str, EnvelopeJob], list[list[str]], dict[str, list[str]]]:
    """The distinct envelope jobs of an ensemble, by key; the keys of each member's sampled
    units; the keys of the units at their stated points, per range mode (shared by members)."""
    layers, altitudes, altitude_ref = query
    cache_dir = _cache_dir(cache)
    cache_cap = cache.max_bytes if cache_dir is not None else None
    nominal_figures, plans = _figures_by_mode(scenario, catalog, modes)
    # one job per distinct (unit, site, mode); members refer to them by key
    jobs: dict[str, EnvelopeJob] = {}
    member_keys: list[list[str]] = []
    fixed_keys: dict[str, list[str]] = {mode: [] for mode in modes}
    for mode in modes:
        for u in scenario.units:
            if u.id in positions:
                continue
            job = EnvelopeJob(spec, nominal_figures[(u.id, mode)], scenario.k_factor, layers, altitudes, altitude_ref, cache_dir,
                              plans[u.id], cache_cap)
            jobs.setdefault(job.key, job)
            fixed_keys[mode].append(job.key)
    for member in members:
        keys = []
        for uid in sampled:
            lat, lon = positions[uid]
            figures = dataclasses.replace(
                nominal_figures[(uid, member.range_mode)], lat_deg=float(lat[member.sample]), lon_deg=float(lon[member.sample])
            )
            job = EnvelopeJob(spec, figures, scenario.k_factor, layers, altitudes, altitude_ref,
                              cache_dir if cache_samples else None, plans[uid], cache_cap)
            jobs.setdefault(job.key, job)
            keys.append(job.key)
        member_keys.append(keys)
    return jobs, member_keys, fixed_keys


def _expected_km2(counts: np.ndarray, cell_area_m2, n_members: int) -> np.ndarray:
    """``sum(probability * cell area)`` per layer and altitude, the mean covered area. [km²]"""
    probability_sum = np.empty(counts.shape[:2])
    for li in range(counts.shape[0]):
        for ai in range(counts.shape[1]):
            # float64 probability times cell area, summed in a fixed order
            probability_sum[li, ai] = float(np.sum(counts[li, ai] * cell_area_m2) / n_members)
    return probability_sum / 1e6


class _EnsembleAggregator:
    """Adds each member to the per-cell counts as soon as all its envelopes are in.

    Counts are integers and each member's areas go to its own index, so the result does
    not depend on the order in which job results arrive.
    """

    def __init__(self, grid, layers, altitudes, members, member_keys, fixed_keys):
        self.grid = grid
        self.layers = layers
        self.altitudes = altitudes
        self.members = members
        self.member_keys = member_keys
        self.fixed_keys = fixed_keys
        shape = (len(layers), len(altitudes)) + grid.shape
        if len(members) >= np.iinfo(np.uint32).max:
            raise AdcovError("too many members")
        self.counts = np.zeros(shape, dtype=np.uint32)
        self.areas_km2 = np.full((len(members), len(layers), len(altitudes)), np.nan)
        self.results: dict[str, UnitMasks] = {}
        self.base: dict[str, np.ndarray] = {}
        self.waiting: dict[str, set[int]] = {}
        self.missing = []
        for member, keys in zip(members, member_keys, strict=True):
            needed = set(keys) | set(fixed_keys[member.range_mode])
            self.missing.append(len(needed))
            for key in needed:
                self.waiting.setdefault(key, set()).add(member.index)
        self.uses = {key: len(idx) for key, idx in self.waiting.items()}
        self.done = 0

    def add(self, key: str, masks: UnitMasks) -> None:
        self.results[key] = masks
        for index in sorted(self.waiting.pop(key, ())):
            self.missing[index] -= 1
            if self.missing[index] == 0:
                self._aggregate(self.members[index])

    def _base(self, mode: str) -> np.ndarray:
        if mode not in self.base:
            base = np.zeros((len(self.layers), len(self.altitudes)) + self.grid.shape, dtype=bool)
            for key in self.fixed_keys[mode]:
                for li in range(len(self.layers)):
                    for ai in range(len(self.altitudes)):
                        self.results[key].or_into(base[li, ai], li, ai)
            self.base[mode] = base
        return self.base[mode]

    def _aggregate(self, member: Member) -> None:
        base = self._base(member.range_mode)
        cell_area_m2 = self.grid.cell_area_m2
        for li in range(len(self.layers)):
            for ai in range(len(self.altitudes)):
                covered = base[li, ai].copy()
                for key in self.member_keys[member.index]:
                    self.results[key].or_into(covered, li, ai)
                self.counts[li, ai] += covered
                # exactly Coverage.area_km2
                self.areas_km2[member.index, li, ai] = float(area_where_positive_m2(covered.view(np.uint8), cell_area_m2) / 1e6)
        for key in self.member_keys[member.index]:
            self.uses[key] -= 1
            if self.uses[key] == 0 and not any(key in keys for keys in self.fixed_keys.values()):
                self.results.pop(key, None)  # no member needs it any more
        self.done += 1

    def finish(self) -> None:
        if self.done != len(self.members):
            raise AdcovError(f"internal: {len(self.members) - self.done} of {len(self.members)} members incomplete")


def position_uncertainty(scenario, samples: int, *, seed: int = 0, units=None, land_only: bool = False, **kwargs) -> UncertaintyResult:
    """Position Monte Carlo: ``samples`` joint draws of the uncertain units' sites.

    Keyword arguments go to :func:`coverage_ensemble` (``altitudes_m``, ``altitude_ref``,
    ``layers``, ``range_modes``, ``cache``, ``scheduler``, ``progress``, ``cancel``).
    """
    if not (isinstance(samples, (int, np.integer)) and samples >= 1):
        raise AdcovError(f"samples: expected an integer >= 1, got {samples!r}")
    return coverage_ensemble(scenario, samples=samples, seed=seed, units=units, land_only=land_only, **kwargs)


def range_spread(scenario, **kwargs) -> UncertaintyResult:
    """The published-range spread: members min, nominal and max at the stated positions.

    The probability is the fraction of the three modes covering a cell (0, 1/3, 2/3, 1);
    ``UncertaintyResult.rows()`` gives the band as ``mean_min_km2``/``mean_nominal_km2``/
    ``mean_max_km2``. Keyword arguments go to :func:`coverage_ensemble`.
    """
    kwargs.pop("range_modes", None)
    return coverage_ensemble(scenario, samples=0, range_modes=SPREAD_MODES, **kwargs)


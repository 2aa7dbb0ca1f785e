"""Withdrawal sweeps: every subset of chosen units withdrawn, and the most damaging ones.

:func:`withdrawal_sweep` withdraws every subset (or every subset up to size ``k``) of chosen
units, at chosen layers and altitudes, and tabulates (withdrawn set, layer, altitude,
covered and lost km²), with the most damaging withdrawals of each size. One envelope job
runs per unit and range mode; the subsets are queries over their masks in this process
(:func:`sweep_from_masks`). :func:`withdrawal_sweep_coverage` does the same over an
in-memory :class:`~simulator.coverage.Coverage`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.cache import EnvelopeCache
from simulator.coverage import DEFAULT_ALTITUDES_M, LAYERS, CancelToken, Coverage, ProgressCallback
from simulator.errors import AdcovError, ComputationCancelled
from simulator.geometry import AnalysisGrid
from simulator.progress import scaled_progress
from simulator.sweep.checks import _catalog_or_default, _check_query, _check_unit_ids
from simulator.sweep.engine import DEFAULT_LOCAL_WORKERS, _check_scheduler, run_tasks
from simulator.sweep.masks import EnvelopeJob, UnitMasks, _cache_dir, _grid_spec, _open_grid, _task_function, coverage_masks
from simulator.sweep.ranges import _check_range_modes, _figures_by_mode

#: Largest number of withdrawal subsets a sweep enumerates.
MAX_SUBSETS = 1 << 20
#: Columns of :meth:`WithdrawalSweep.rows`.
WITHDRAWAL_COLUMNS = ("withdrawn", "n_withdrawn", "range_mode", "layer", "altitude_m", "altitude_ref", "covered_km2", "lost_km2")
#: Separator of unit ids in the ``withdrawn`` column (not allowed in a unit id).
WITHDRAWN_SEPARATOR = "+"


@dataclass(frozen=True)
class Damage:
    """A withdrawal and the area it loses: the mean over the ranked layers and altitudes of
    the area lost at each (every listed altitude weighs the same), so it is an area, at most
    the analysis area. [km²]"""

    withdrawn: tuple[str, ...]
    lost_km2: float


@dataclass(eq=False)
class WithdrawalSweep:
    """Covered and lost area for each withdrawn subset, layer, altitude and range mode.

    ``covered_km2[m, s, l, a]`` / ``lost_km2[m, s, l, a]`` for range mode ``m``, subset ``s``
    (:attr:`subsets`, the empty set first), layer ``l`` and altitude ``a``. Lost = covered
    with every unit active and not after the withdrawal (a withdrawal gains nothing).
    """

    scenario_name: str
    units: tuple[str, ...]
    subsets: list[tuple[str, ...]]
    range_modes: tuple[str, ...]
    layers: tuple[str, ...]
    altitudes_m: tuple[float, ...]
    altitude_ref: str
    covered_km2: np.ndarray
    lost_km2: np.ndarray

    def rows(self) -> list[tuple]:
        """Table rows (:data:`WITHDRAWAL_COLUMNS`), subsets in order, then mode, layer, altitude."""
        out = []
        for s, subset in enumerate(self.subsets):
            name = WITHDRAWN_SEPARATOR.join(subset)
            for m, mode in enumerate(self.range_modes):
                for li, layer in enumerate(self.layers):
                    for ai, altitude_m in enumerate(self.altitudes_m):
                        out.append((name, len(subset), mode, layer, float(altitude_m), self.altitude_ref,
                                    float(self.covered_km2[m, s, li, ai]), float(self.lost_km2[m, s, li, ai])))
        return out

    def most_damaging(self, size: int, top: int = 5, *, range_mode: str = "nominal", layer: str | None = None,
                      altitude_m: float | None = None) -> list[Damage]:
        """The ``top`` withdrawals of ``size`` units losing the most area.

        The score is the mean of ``lost_km2`` over the layers and altitudes swept (or only
        the given ``layer`` / ``altitude_m``): the area lost at an altitude picked at random
        among those listed, every listed altitude weighing the same. Ties keep the subset order.
        """
        if range_mode not in self.range_modes:
            raise AdcovError(f"range_mode {range_mode!r} was not swept; swept: {', '.join(self.range_modes)}")
        m = self.range_modes.index(range_mode)
        lost = self.lost_km2[m]
        if layer is not None:
            if layer not in self.layers:
                raise AdcovError(f"layer {layer!r} was not swept; swept: {', '.join(self.layers)}")
            lost = lost[:, [self.layers.index(layer)], :]
        if altitude_m is not None:
            picks = [i for i, a in enumerate(self.altitudes_m) if math.isclose(a, float(altitude_m), rel_tol=1e-12, abs_tol=1e-9)]
            if not picks:
                raise AdcovError(f"altitude {float(altitude_m):g} m was not swept; swept: {', '.join(f'{a:g}' for a in self.altitudes_m)} m")
            lost = lost[:, :, picks]
        scores = [(float(lost[s].mean()), s) for s, subset in enumerate(self.subsets) if len(subset) == size]
        scores.sort(key=lambda item: (-item[0], item[1]))
        return [Damage(self.subsets[s], score) for score, s in scores[:top]]

    def ranking(self, sizes: Iterable[int] = (1, 2, 3), top: int = 5, **kwargs) -> dict[int, list[Damage]]:
        """:meth:`most_damaging` for each size swept."""
        swept = {len(s) for s in self.subsets}
        return {size: self.most_damaging(size, top, **kwargs) for size in sizes if size in swept}


#: Rows (subset x layer x altitude) a withdrawal sweep may produce: checked before anything
#: is computed or allocated (a table of 2^20 subsets x 14 layer-altitudes does not fit).
MAX_RESULT_ROWS = 2_000_000
_CSV_BYTES_PER_ROW = 90  # about, for the estimate in the message


def _check_sweep_size(n: int, max_withdrawn: int | None, n_layers: int = 1, n_altitudes: int = 1) -> int:
    """The number of subsets, after refusing sweeps over :data:`MAX_SUBSETS` subsets or
    :data:`MAX_RESULT_ROWS` result rows (counted, not built)."""
    k = n if max_withdrawn is None else int(max_withdrawn)
    total = sum(math.comb(n, size) for size in range(k + 1))
    if total > MAX_SUBSETS:
        raise AdcovError(
            f"{total} withdrawal subsets of {n} units (up to {k} withdrawn) exceed the limit of {MAX_SUBSETS}; "
            "choose fewer units or a smaller max_withdrawn"
        )
    rows = total * max(n_layers, 1) * max(n_altitudes, 1)
    if rows > MAX_RESULT_ROWS:
        raise AdcovError(
            f"{total:,} withdrawal subsets x {n_layers} layer(s) x {n_altitudes} altitude(s) would be {rows:,} result rows "
            f"(about {rows * _CSV_BYTES_PER_ROW / 2**20:,.0f} MiB of CSV), over the limit of {MAX_RESULT_ROWS:,} rows; "
            "choose fewer units, a smaller max_withdrawn, or fewer altitudes or layers"
        )
    return total


def _subsets(units: Sequence[str], max_withdrawn: int | None, n_layers: int = 1, n_altitudes: int = 1) -> list[tuple[int, ...]]:
    n = len(units)
    k = n if max_withdrawn is None else int(max_withdrawn)
    _check_sweep_size(n, max_withdrawn, n_layers, n_altitudes)
    return [combo for size in range(k + 1) for combo in itertools.combinations(range(n), size)]


def _check_max_withdrawn(max_withdrawn, n_units: int) -> int | None:
    if max_withdrawn is None:
        return None
    if not (isinstance(max_withdrawn, (int, np.integer)) and not isinstance(max_withdrawn, bool) and max_withdrawn >= 1):
        raise AdcovError(f"max_withdrawn: expected an integer >= 1, got {max_withdrawn!r}")
    return min(int(max_withdrawn), n_units)


def sweep_from_masks(
    masks: dict[str, UnitMasks],
    grid: AnalysisGrid,
    *,
    all_units: Sequence[str],
    units: Sequence[str],
    max_withdrawn: int | None,
    layers: tuple[str, ...],
    altitudes_m: tuple[float, ...],
    altitude_ref: str,
    cancel: CancelToken | None = None,
) -> tuple[list[tuple[str, ...]], np.ndarray, np.ndarray]:
    """Covered and lost km² of every subset of ``units`` withdrawn, from per-unit masks.

    Per layer and altitude, each cell gets a bit mask of the chosen units covering it (bit
    ``j`` for ``units[j]``; one more bit for the other units, never withdrawn). Cells with
    the same mask are pooled (``numpy.unique``), so a subset's area is a sum over the few
    distinct masks instead of the cells: ``covered = sum(area[p] for p where p & ~withdrawn)``.

    Returns ``(subsets, covered_km2, lost_km2)`` with arrays of shape (subsets, layers,
    altitudes).
    """
    if len(units) > 63:
        raise AdcovError(f"a withdrawal sweep takes at most 63 units, got {len(units)}")
    index_subsets = _subsets(units, max_withdrawn, len(layers), len(altitudes_m))
    subsets = [tuple(units[i] for i in combo) for combo in index_subsets]
    withdrawn_bits = np.array([sum(1 << i for i in combo) for combo in index_subsets], dtype=np.uint64)
    keep = ~withdrawn_bits
    others = [u for u in all_units if u not in units]
    other_bit = np.uint64(1 << len(units))
    cell_area_m2 = np.asarray(grid.cell_area_m2, dtype=np.float64)
    covered = np.empty((len(subsets), len(layers), len(altitudes_m)))
    lost = np.empty_like(covered)
    bits = np.empty(grid.shape, dtype=np.uint64)
    scratch = np.empty(grid.shape, dtype=bool)
    for li in range(len(layers)):
        for ai in range(len(altitudes_m)):
            if cancel is not None and cancel.cancelled:
                raise ComputationCancelled("computation cancelled")
            bits.fill(0)
            for j, uid in enumerate(list(units) + others):
                bit = np.uint64(1 << j) if j < len(units) else other_bit
                m = masks[uid]
                if not (m.n_rows and m.n_cols):
                    continue
                window = m.window
                bits[window] |= np.where(m.mask(li, ai), bit, np.uint64(0))
            np.not_equal(bits, 0, out=scratch)
            patterns, inverse = np.unique(bits[scratch], return_inverse=True)
            pattern_m2 = np.bincount(inverse.ravel(), weights=cell_area_m2[scratch], minlength=patterns.size)
            for start in range(0, len(subsets), 4096):
                stop = min(start + 4096, len(subsets))
                alive = (patterns[None, :] & keep[start:stop, None]) != 0
                covered[start:stop, li, ai] = np.where(alive, pattern_m2, 0.0).sum(axis=1) / 1e6
                lost[start:stop, li, ai] = np.where(alive, 0.0, pattern_m2).sum(axis=1) / 1e6
    return subsets, covered, lost


def withdrawal_sweep(
    scenario,
    *,
    units: Iterable[str] | None = None,
    max_withdrawn: int | None = None,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    range_modes: Sequence[str] = ("nominal",),
    cache: EnvelopeCache | None = None,
    scheduler=None,
    n_workers: int = DEFAULT_LOCAL_WORKERS,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    catalog=None,
) -> WithdrawalSweep:
    """Every subset (up to ``max_withdrawn`` units) of ``units`` withdrawn from a scenario.

    Parameters
    ----------
    scenario : simulator.scenario.Scenario
        Its ``units`` are the baseline (apply ``Scenario.active_as_of`` first for a date).
    units : iterable of str, optional
        The units to withdraw in combinations (default: every unit). Unknown ids raise
        AdcovError listing the valid ones.
    max_withdrawn : int, optional
        Largest subset size (default: all sizes, ``2**len(units)`` subsets). The empty
        subset (the baseline) is always the first.
    altitudes_m, altitude_ref, layers
        The query. [m]
    range_modes : sequence of {"min", "nominal", "max"}
        One sweep per published-range mode.
    cache, scheduler, n_workers, progress, cancel, catalog
        See :func:`~simulator.sweep.ensemble.coverage_ensemble`. One envelope job per unit and range mode; the
        subsets are queries over their masks in this process.
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    modes = _check_range_modes(range_modes)
    _check_scheduler(scheduler)
    if not scenario.units:
        raise AdcovError(f"{scenario.path}: scenario {scenario.name!r} has no active units; nothing to withdraw")
    chosen = list(scenario.unit_ids) if units is None else _check_unit_ids(scenario, units, "units")
    max_withdrawn = _check_max_withdrawn(max_withdrawn, len(chosen))
    if len(chosen) > 63:
        raise AdcovError(f"units: a withdrawal sweep takes at most 63 units, got {len(chosen)}")
    _check_sweep_size(len(chosen), max_withdrawn, len(layers), len(altitudes))  # before any work
    catalog = _catalog_or_default(catalog)
    grid = _open_grid(scenario)
    spec = _grid_spec(scenario, grid)
    cache_dir = _cache_dir(cache)
    cache_cap = cache.max_bytes if cache_dir is not None else None
    figures, plans = _figures_by_mode(scenario, catalog, modes)
    jobs = [
        EnvelopeJob(spec, figures[(u.id, mode)], scenario.k_factor, layers, altitudes, altitude_ref, cache_dir, plans[u.id],
                    cache_cap)
        for mode in modes
        for u in scenario.units
    ]
    results = run_tasks(_task_function(), jobs, scheduler=scheduler, n_workers=n_workers,
                        progress=scaled_progress(progress, 0.0, 0.9), cancel=cancel, label="envelopes")
    n_units = len(scenario.units)
    covered, lost = [], []
    subsets: list[tuple[str, ...]] = []
    for m, mode in enumerate(modes):
        masks = {u.id: results[m * n_units + i] for i, u in enumerate(scenario.units)}
        subsets, c, lo = sweep_from_masks(
            masks, grid, all_units=list(scenario.unit_ids), units=chosen, max_withdrawn=max_withdrawn,
            layers=layers, altitudes_m=altitudes, altitude_ref=altitude_ref, cancel=cancel,
        )
        covered.append(c)
        lost.append(lo)
        if progress:
            progress(0.9 + 0.1 * (m + 1) / len(modes), f"withdrawal queries ({mode})")
    return WithdrawalSweep(
        scenario_name=scenario.name, units=tuple(chosen), subsets=subsets, range_modes=modes, layers=layers,
        altitudes_m=altitudes, altitude_ref=altitude_ref, covered_km2=np.stack(covered), lost_km2=np.stack(lost),
    )


def withdrawal_sweep_coverage(
    coverage: Coverage,
    *,
    units: Iterable[str] | None = None,
    max_withdrawn: int | None = None,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    cancel: CancelToken | None = None,
) -> WithdrawalSweep:
    """:func:`withdrawal_sweep` over an in-memory :class:`Coverage` (e.g. the GUI's)."""
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    chosen = coverage.unit_ids if units is None else coverage._units(units)
    if len(set(chosen)) != len(chosen) or not chosen:
        raise AdcovError(f"units: expected distinct unit ids; valid: {', '.join(coverage.unit_ids)}")
    max_withdrawn = _check_max_withdrawn(max_withdrawn, len(chosen))
    _check_sweep_size(len(chosen), max_withdrawn, len(layers), len(altitudes))
    masks = coverage_masks(coverage, layers=layers, altitudes_m=altitudes, altitude_ref=altitude_ref)
    subsets, covered, lost = sweep_from_masks(
        masks, coverage.grid, all_units=coverage.unit_ids, units=list(chosen), max_withdrawn=max_withdrawn,
        layers=layers, altitudes_m=altitudes, altitude_ref=altitude_ref, cancel=cancel,
    )
    modes = {env.figures.range_mode for env in coverage.envelopes.values()}
    mode = modes.pop() if len(modes) == 1 else "mixed"
    return WithdrawalSweep(coverage.scenario_name, tuple(chosen), subsets, (mode,), layers, altitudes,
                           altitude_ref, covered[None], lost[None])

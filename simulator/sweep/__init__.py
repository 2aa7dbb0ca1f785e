"""Sweeps: position Monte Carlo, published-range spread and withdrawal combinations.

Each sweep is split in two phases:

1. **Envelope jobs**, independent of each other: one per distinct (unit, site, range mode).
   A job computes the unit's envelope (line of sight cached on disk in the shared
   :class:`~simulator.cache.EnvelopeCache` folder) and returns the unit's covered cells per
   layer and altitude as compact bit masks (:class:`UnitMasks`). Jobs run through
   :func:`run_tasks`: in this process (the default, no Dask import at all), on a
   ``distributed.LocalCluster`` bound to 127.0.0.1 (``scheduler="local"``), or on an existing
   Dask cluster (``scheduler="tcp://HOST:PORT"``).
2. **Queries**, cheap array arithmetic over those masks, always in the calling process.

Results are bit for bit the same in the three modes: sample positions come from seeded
generators on the caller's side, a job is a pure function of its inputs (so a job that a
killed worker loses is simply recomputed, with the same answer), and every aggregate is
order independent (integer counts per cell, per-member values stored by index).

What is computed
----------------
- :func:`position_uncertainty` (and :func:`range_spread`): an *ensemble* of scenario
  members -- N joint position samples (sample ``i`` of every uncertain unit together), and/or
  the published-range modes min/nominal/max -- and per cell, layer and altitude the
  **probability of coverage** = the fraction of members in which the scenario covers the
  cell; polygons at probability levels; the covered-area distribution (p10/p50/p90 km²).
- :func:`withdrawal_sweep`: every subset (or every subset up to size ``k``) of chosen units
  withdrawn, at chosen layers and altitudes, as a table (withdrawn set, layer, altitude,
  covered and lost km²), and the most damaging withdrawals of each size.

Areas are geodesic sums of cell areas (:attr:`AnalysisGrid.cell_area_m2`); polygons are
built in the grid's equal-area CRS and returned in lon/lat (EPSG:4326), as
:meth:`Coverage.polygons`.

Modules
-------
- :mod:`~simulator.sweep.engine`: :func:`run_tasks`, in this process or on Dask.
- :mod:`~simulator.sweep.masks`: envelope jobs and their per-unit masks.
- :mod:`~simulator.sweep.positions`: seeded position samples (how they are drawn: its Notes).
- :mod:`~simulator.sweep.ranges`: the published-range modes of a spread.
- :mod:`~simulator.sweep.ensemble`: the ensembles (position Monte Carlo, range spread).
- :mod:`~simulator.sweep.withdrawals`: withdrawal subsets and their ranking.
- :mod:`~simulator.sweep.writers`: the result tables and companion files on disk.
- :mod:`~simulator.sweep.checks`: argument checks the sweeps share.

Every name is importable from ``simulator.sweep`` itself. The sweeps look
:func:`compute_unit_masks` up here when they start, so replacing
``simulator.sweep.compute_unit_masks`` replaces the task function.
"""

from __future__ import annotations

from simulator.sweep.engine import (
    DEFAULT_LOCAL_WORKERS,
    DEFAULT_RETRIES,
    DEFAULT_SCHEDULER_TIMEOUT_S,
    SCHEDULER_FORMS,
    SCHEDULER_TIMEOUT_ENV,
    run_tasks,
    scheduler_timeout_s,
)
from simulator.sweep.ensemble import (
    AREA_PERCENTILES,
    DEFAULT_LEVELS,
    MAX_MEMBERS,
    MEMBER_COLUMNS,
    SAMPLE_COLUMNS,
    UNCERTAINTY_COLUMNS,
    Member,
    UncertaintyResult,
    coverage_ensemble,
    position_uncertainty,
    range_spread,
)
from simulator.sweep.masks import (
    EnvelopeJob,
    GridSpec,
    UnitMasks,
    _grid_spec,  # noqa: F401 - private, but benchmarks/bench_sweep.py imports it from here
    _open_grid,  # noqa: F401 - private, but benchmarks/bench_sweep.py imports it from here
    compute_unit_masks,
    coverage_masks,
)
from simulator.sweep.positions import MAX_TRIES_PER_SAMPLE, sample_positions
from simulator.sweep.ranges import SPREAD_MODES
from simulator.sweep.withdrawals import (
    MAX_RESULT_ROWS,
    MAX_SUBSETS,
    WITHDRAWAL_COLUMNS,
    WITHDRAWN_SEPARATOR,
    Damage,
    WithdrawalSweep,
    _check_sweep_size,  # noqa: F401 - private, but tests import it from here
    sweep_from_masks,
    withdrawal_sweep,
    withdrawal_sweep_coverage,
)
from simulator.sweep.writers import write_sweep_outputs

__all__ = [
    "AREA_PERCENTILES",
    "DEFAULT_LEVELS",
    "DEFAULT_LOCAL_WORKERS",
    "DEFAULT_RETRIES",
    "DEFAULT_SCHEDULER_TIMEOUT_S",
    "MAX_MEMBERS",
    "MAX_RESULT_ROWS",
    "MAX_SUBSETS",
    "MAX_TRIES_PER_SAMPLE",
    "MEMBER_COLUMNS",
    "SAMPLE_COLUMNS",
    "SCHEDULER_FORMS",
    "SCHEDULER_TIMEOUT_ENV",
    "SPREAD_MODES",
    "UNCERTAINTY_COLUMNS",
    "WITHDRAWAL_COLUMNS",
    "WITHDRAWN_SEPARATOR",
    "Damage",
    "EnvelopeJob",
    "GridSpec",
    "Member",
    "UncertaintyResult",
    "UnitMasks",
    "WithdrawalSweep",
    "compute_unit_masks",
    "coverage_ensemble",
    "coverage_masks",
    "position_uncertainty",
    "range_spread",
    "run_tasks",
    "sample_positions",
    "scheduler_timeout_s",
    "sweep_from_masks",
    "withdrawal_sweep",
    "withdrawal_sweep_coverage",
    "write_sweep_outputs",
]

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

Sampling (Notes)
----------------
A unit with ``position_precision_km = R`` is placed uniformly in the geodesic disk of radius
``R`` around its stated point: distance ``R sqrt(u)`` and azimuth ``360 v`` degrees (``u, v``
uniform on [0, 1)), then the direct geodesic problem on WGS84 (``pyproj.Geod.fwd``, Karney
2013). ``sqrt`` makes the density uniform per unit area (for R much smaller than the earth
radius). The generator of each unit is ``numpy.random.default_rng(SeedSequence([seed,
*sha256(unit id)]))``: the samples of one unit do not depend on the other units, on the order
of units in the file, or on where the jobs run. Candidates off the terrain -- and, with
``land_only``, on terrain at or below 0 m (sea) -- are rejected and redrawn, at most
:data:`MAX_TRIES_PER_SAMPLE` times per sample on average. With ``R = 0`` every sample is the
stated point itself, and the probability map equals the deterministic coverage.

Areas are geodesic sums of cell areas (:attr:`AnalysisGrid.cell_area_m2`); polygons are
built in the grid's equal-area CRS and returned in lon/lat (EPSG:4326), as
:meth:`Coverage.polygons`.

References
----------
Karney, C. F. F., "Algorithms for geodesics", J. Geodesy 87, 43-55 (2013).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import itertools
import json
import math
import os
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator.cache import EnvelopeCache
from simulator.coverage import (
    DEFAULT_ALTITUDES_M,
    LAYERS,
    CancelToken,
    check_query,
    Coverage,
    ProgressCallback,
    area_where_positive_m2,
    analysis_terrain,
    build_unit_envelope,
    plan_range_m_for,
)
from simulator.errors import AdcovError, ComputationCancelled
from simulator.figures import RANGE_MODES, UnitFigures, resolve_unit_figures
from simulator.geometry import WGS84_GEOD, AnalysisGrid, mask_polygons, to_lonlat

#: Probability levels of the polygons, by default.
DEFAULT_LEVELS = (0.1, 0.5, 0.9)
#: Quantiles of the covered-area distribution, in percent.
AREA_PERCENTILES = (10, 50, 90)
#: Range modes of a published-range spread, in order.
SPREAD_MODES = ("min", "nominal", "max")
#: Rejection sampling gives up after this many candidates per wanted sample (on average).
MAX_TRIES_PER_SAMPLE = 200
#: Largest number of withdrawal subsets a sweep enumerates.
MAX_SUBSETS = 1 << 20
#: Largest number of members (samples x range modes) of an ensemble.
MAX_MEMBERS = 100_000
#: How often a Dask task is retried after an exception (a killed worker is handled by Dask).
DEFAULT_RETRIES = 2
#: Workers of ``scheduler="local"`` (one thread each).
DEFAULT_LOCAL_WORKERS = 2

#: Forms ``scheduler=`` accepts (for messages).
SCHEDULER_FORMS = "None (in this process), 'local' (a LocalCluster on 127.0.0.1), 'tcp://HOST:PORT' or 'tls://HOST:PORT' (an existing Dask scheduler), or a distributed.Client"


# --------------------------------------------------------------------------- the engine


def _check_scheduler(scheduler) -> None:
    if scheduler is None or scheduler == "local":
        return
    if isinstance(scheduler, str):
        if scheduler.startswith(("tcp://", "tls://")) and len(scheduler.split("://", 1)[1]) > 0:
            return
        raise AdcovError(f"scheduler: {scheduler!r} is not valid; expected {SCHEDULER_FORMS}")
    if type(scheduler).__name__ == "Client":
        return
    raise AdcovError(f"scheduler: {type(scheduler).__name__} is not valid; expected {SCHEDULER_FORMS}")


def run_tasks(
    func: Callable,
    items: Sequence,
    *,
    scheduler=None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_result: Callable[[int, object], None] | None = None,
    retries: int = DEFAULT_RETRIES,
    n_workers: int = DEFAULT_LOCAL_WORKERS,
    label: str = "tasks",
) -> list | None:
    """Run ``func(item)`` for every item: in this process, on a local or an existing Dask cluster.

    Parameters
    ----------
    func : callable
        A top-level (importable) function, pure: the same item gives the same result
        wherever and however often it runs.
    items : sequence
        Picklable arguments, one task each.
    scheduler : None, "local", "tcp://HOST:PORT", "tls://HOST:PORT" or distributed.Client
        ``None`` runs the tasks here, one after the other, without importing Dask.
        ``"local"`` starts a ``distributed.LocalCluster`` of ``n_workers`` processes (one
        thread each) whose scheduler, workers and dashboards listen on 127.0.0.1 only, and
        closes it at the end. An address connects to an existing scheduler (every worker,
        and the scheduler, must import the same ``simulator`` and see the same terrain
        files). A Client is used as is and left open.
    progress : callable(fraction, message), optional
        Called after each finished task (in the calling thread).
    cancel : CancelToken, optional
        Checked between tasks; when set, pending Dask tasks are cancelled and
        :class:`~simulator.errors.ComputationCancelled` is raised.
    on_result : callable(index, result), optional
        Called in the calling thread as each result arrives (completion order with Dask);
        results are then not kept, and ``None`` is returned.
    retries : int
        Dask retries of a task that raised (a lost worker's tasks are rescheduled anyway).
    n_workers : int
        Worker processes of ``scheduler="local"``.
    label : str
        Prefix of the Dask task keys and of the progress messages.

    Returns
    -------
    list or None
        The results in item order (``None`` with ``on_result``).
    """
    _check_scheduler(scheduler)
    items = list(items)
    n = len(items)
    results: list | None = None if on_result is not None else [None] * n

    def deliver(i, value, done):
        if on_result is not None:
            on_result(i, value)
        else:
            results[i] = value
        if progress:
            progress(done / max(n, 1), f"{label} {done}/{n}")

    if scheduler is None:
        for i, item in enumerate(items):
            if cancel is not None and cancel.cancelled:
                raise ComputationCancelled("computation cancelled")
            deliver(i, func(item), i + 1)
        return results
    if n == 0:
        return results
    with _dask_client(scheduler, n_workers) as client:
        from distributed import as_completed

        token = uuid.uuid4().hex[:12]
        futures = [
            client.submit(func, item, key=f"adcov-{label}-{token}-{i}", pure=False, retries=retries)
            for i, item in enumerate(items)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        pending = set(index)
        try:
            ready = as_completed(futures)
            done = 0
            while pending:
                if cancel is not None and cancel.cancelled:
                    raise ComputationCancelled("computation cancelled")
                batch = ready.next_batch(block=False)
                if not batch:
                    time.sleep(0.02)
                    continue
                for future in batch:
                    value = future.result()  # re-raises the task's exception
                    pending.discard(future.key)
                    future.release()
                    done += 1
                    deliver(index[future.key], value, done)
        finally:
            if pending:
                client.cancel([f for f in futures if f.key in pending])
    return results


SCHEDULER_TIMEOUT_ENV = "ADCOV_SCHEDULER_TIMEOUT_S"
DEFAULT_SCHEDULER_TIMEOUT_S = 5.0


def scheduler_timeout_s() -> float:
    """How long to wait for an existing Dask scheduler to answer and to have a worker:
    ``$ADCOV_SCHEDULER_TIMEOUT_S`` seconds, default :data:`DEFAULT_SCHEDULER_TIMEOUT_S`."""
    text = os.environ.get(SCHEDULER_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_SCHEDULER_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and 0 < value <= 86_400):
        raise AdcovError(f"{SCHEDULER_TIMEOUT_ENV}={text!r} is not valid; expected seconds in (0, 86400]")
    return value


def _connect_client(client_class, address: str, timeout_s: float):
    """A Client of the scheduler at ``address`` that has at least one worker, or AdcovError
    within about ``timeout_s`` twice: Dask's own timeout does not cover a peer that accepts
    the connection and never answers, so the connection is made in a thread with a deadline."""
    found: dict = {}

    def connect() -> None:
        try:
            found["client"] = client_class(address, timeout=f"{timeout_s}s")
        except BaseException as exc:  # noqa: BLE001 - reported in the caller's thread
            # the message only: the traceback would keep the half-made Client alive until
            # exit, whose __del__ then waits 10 s and prints "Exception ignored"
            found["error"] = _first_line(exc)
            exc.__traceback__ = None
            del exc
            gc.collect()

    thread = threading.Thread(target=connect, name="adcov-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    how_to = f"the limit is {timeout_s:g} s (set {SCHEDULER_TIMEOUT_ENV} to change it)"
    if thread.is_alive():
        raise AdcovError(f"no answer from the Dask scheduler at {address} within {timeout_s:g} s: something accepted "
                         f"the connection but did not speak Dask's protocol; {how_to}")
    if "error" in found:
        message = found["error"]
        if address.startswith("tls://"):
            raise AdcovError(f"cannot connect to the Dask scheduler at {address}: {message}; a tls:// "
                             "scheduler needs Dask's TLS settings (distributed.comm.tls.* in the Dask config)") from None
        raise AdcovError(f"cannot connect to the Dask scheduler at {address}: {message}; {how_to}") from None
    client = found["client"]
    if not client.scheduler_info().get("workers"):
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except BaseException as exc:  # TimeoutError (dask's own type varies by version)
            with contextlib.suppress(Exception):
                client.close()
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise AdcovError(f"the Dask scheduler at {address} has no worker (waited {timeout_s:g} s); start one with "
                             f"`dask worker {address}`; {how_to}") from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _dask_client:
    """Context manager: a Client for ``scheduler``, closing what it started."""

    def __init__(self, scheduler, n_workers: int):
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.owned: list = []

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise AdcovError(
                f"scheduler {self.scheduler!r} needs Dask's distributed package ({exc}); install it with "
                "pip install 'adcov[distributed]', or run in this process (no scheduler)"
            ) from None
        if isinstance(self.scheduler, Client):
            return self.scheduler
        if self.scheduler == "local":
            if not (isinstance(self.n_workers, int) and self.n_workers >= 1):
                raise AdcovError(f"n_workers: expected an integer >= 1, got {self.n_workers!r}")
            cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                # one core per worker process: numba's own threads would oversubscribe
                env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
            )
            self.owned.append(cluster)
            client = Client(cluster)
            self.owned.insert(0, client)
            return client
        client = _connect_client(Client, self.scheduler, scheduler_timeout_s())
        self.owned.append(client)
        return client

    def __exit__(self, *exc_info):
        for thing in self.owned:
            with contextlib.suppress(Exception):  # closing must not hide the real error
                thing.close()
        return False


# --------------------------------------------------------------------------- envelope jobs


@dataclass(frozen=True)
class GridSpec:
    """How a worker process finds the analysis grid: terrain files, void policy, area."""

    terrain_paths: tuple[str, ...]
    void_policy: str
    area_bounds_deg: tuple[float, float, float, float] | None
    grid_key: str
    outside_terrain: str = "error"
    #: placement of the analysis grid on the DEM: row_off, col_off, n_rows, n_cols, factor
    placement: tuple[int, int, int, int, int] = (0, 0, 0, 0, 1)
    extent: str = "dem"


_GRIDS: dict[GridSpec, AnalysisGrid] = {}
_GRIDS_LOCK = threading.Lock()
_GRIDS_MAX = 4


def _remember_grid(spec: GridSpec, grid: AnalysisGrid) -> None:
    with _GRIDS_LOCK:
        _GRIDS.pop(spec, None)
        _GRIDS[spec] = grid
        while len(_GRIDS) > _GRIDS_MAX:
            _GRIDS.pop(next(iter(_GRIDS)))


def _grid_for(spec: GridSpec) -> AnalysisGrid:
    """The analysis grid of a spec in this process (opened once per process)."""
    with _GRIDS_LOCK:
        grid = _GRIDS.get(spec)
    if grid is not None:
        return grid
    from simulator.dem import open_dem

    if not spec.terrain_paths:
        raise AdcovError("the sweep's terrain has no files; a worker can only open terrain read from files")
    paths = list(spec.terrain_paths)
    terrain = open_dem(paths if len(paths) > 1 else paths[0], void_policy=spec.void_policy,
                       outside_terrain="sea" if spec.outside_terrain == "sea" else "error")
    row_off, col_off, n_rows, n_cols, factor = spec.placement
    grid = AnalysisGrid(terrain, row_off, col_off, n_rows, n_cols, spec.area_bounds_deg, factor=factor, extent=spec.extent)
    if grid.key != spec.grid_key:
        raise AdcovError(
            f"the terrain {', '.join(spec.terrain_paths)} read by this process differs from the caller's "
            f"(grid {grid.key[:12]} vs {spec.grid_key[:12]}): every Dask worker must see the same terrain files"
        )
    _remember_grid(spec, grid)
    return grid


@dataclass(frozen=True)
class EnvelopeJob:
    """One unit's envelope and its covered cells at the queried layers and altitudes."""

    grid: GridSpec
    figures: UnitFigures
    k_factor: float
    layers: tuple[str, ...]
    altitudes_m: tuple[float, ...]
    altitude_ref: str
    cache_dir: str | None
    plan_range_m: float | None = None
    cache_max_bytes: int | None = None  # the caller's cap travels with the folder

    @property
    def key(self) -> str:
        """Identity of the job's result (everything it depends on)."""
        return _job_key(self.grid.grid_key, self.figures, self.k_factor, self.layers, self.altitudes_m, self.altitude_ref,
                        self.plan_range_m)


def _job_key(grid_key, figures: UnitFigures, k_factor, layers, altitudes_m, altitude_ref, plan_range_m=None) -> str:
    payload = json.dumps(
        {
            "plan_range_m": plan_range_m,
            "grid": grid_key,
            "unit": figures.unit_id,
            "figures": figures.to_dict(),
            "k_factor": float(k_factor),
            "layers": list(layers),
            "altitudes_m": [float(a) for a in altitudes_m],
            "altitude_ref": altitude_ref,
        },
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class UnitMasks:
    """Covered cells of one unit's envelope on its window of the analysis grid.

    ``packed[layer_index * len(altitudes_m) + altitude_index]`` is the zlib-compressed
    ``numpy.packbits`` of the window's boolean mask (cells outside the area of interest are
    False), exactly the cells :meth:`Coverage.unit_covered` reports.
    """

    job_key: str
    unit_id: str
    row0: int
    col0: int
    n_rows: int
    n_cols: int
    layers: tuple[str, ...]
    altitudes_m: tuple[float, ...]
    packed: tuple[bytes, ...]

    @property
    def window(self) -> tuple[slice, slice]:
        return (slice(self.row0, self.row0 + self.n_rows), slice(self.col0, self.col0 + self.n_cols))

    def mask(self, layer_index: int, altitude_index: int) -> np.ndarray:
        """Boolean mask of the window (rows, cols)."""
        data = self.packed[layer_index * len(self.altitudes_m) + altitude_index]
        n = self.n_rows * self.n_cols
        bits = np.unpackbits(np.frombuffer(zlib.decompress(data), dtype=np.uint8), count=n)
        return bits.view(bool).reshape(self.n_rows, self.n_cols)

    def or_into(self, covered: np.ndarray, layer_index: int, altitude_index: int) -> None:
        """``covered[window] |= mask`` on a full-grid boolean array."""
        if self.n_rows and self.n_cols:
            covered[self.window] |= self.mask(layer_index, altitude_index)


def compute_unit_masks(job: EnvelopeJob) -> UnitMasks:
    """Run one :class:`EnvelopeJob` (the task function of every sweep; pure, idempotent).

    The line of sight is read from / written to ``job.cache_dir`` (atomic writes: jobs
    running twice, e.g. after a worker was lost, write the same entry). A site from which
    no analysis cell lies within range covers nothing.
    """
    grid = _grid_for(job.grid)
    cache = EnvelopeCache(job.cache_dir, max_bytes=job.cache_max_bytes) if job.cache_dir is not None else None
    figures = job.figures
    try:
        envelope = build_unit_envelope(grid, figures, job.k_factor, cache=cache, plan_range_m=job.plan_range_m)
    except AdcovError as exc:
        if not str(exc).startswith("no analysis cell lies within range"):
            raise
        return UnitMasks(job.key, figures.unit_id, 0, 0, 0, 0, tuple(job.layers), tuple(job.altitudes_m), ())
    rows, cols = envelope.window
    inside = grid.inside_area
    inside_window = inside[rows, cols] if inside is not None else None
    terrain_window = analysis_terrain(grid, rows.start, rows.stop, cols.start, cols.stop) if job.altitude_ref == "agl" else None
    packed = []
    for layer in job.layers:
        for altitude_m in job.altitudes_m:
            # exactly Coverage.unit_covered: float32 altitudes, MSL or terrain + AGL
            altitude_msl = np.float32(altitude_m) if terrain_window is None else terrain_window + np.float32(altitude_m)
            hit = envelope.covered(layer, altitude_msl)
            if inside_window is not None:
                hit = hit & inside_window
            packed.append(zlib.compress(np.packbits(np.ascontiguousarray(hit, dtype=bool)).tobytes(), 1))
    return UnitMasks(
        job.key, figures.unit_id, rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start,
        tuple(job.layers), tuple(job.altitudes_m), tuple(packed),
    )


# --------------------------------------------------------------------------- validation


def _check_query(altitudes_m, altitude_ref: str, layers) -> tuple[tuple[float, ...], str, tuple[str, ...]]:
    altitudes, altitude_ref, layers = check_query(altitudes_m, altitude_ref, layers, unique=True)
    return tuple(altitudes), altitude_ref, tuple(layers)


def _check_unit_ids(scenario, unit_ids, what: str) -> list[str]:
    valid = list(scenario.unit_ids)
    ids = [unit_ids] if isinstance(unit_ids, str) else [str(u) for u in unit_ids]
    unknown = [u for u in ids if u not in valid]
    if unknown:
        raise AdcovError(
            f"{what}: unknown unit id(s) {', '.join(map(repr, unknown))} in scenario {scenario.name!r}; "
            f"valid: {', '.join(valid) or 'none (no active units)'}"
        )
    dupes = sorted({u for u in ids if ids.count(u) > 1})
    if dupes:
        raise AdcovError(f"{what}: unit id(s) {', '.join(dupes)} listed twice")
    if not ids:
        raise AdcovError(f"{what}: expected at least one unit id; valid: {', '.join(valid)}")
    return ids


def _grid_spec(scenario, grid: AnalysisGrid) -> GridSpec:
    spec = GridSpec(
        tuple(str(p) for p in scenario.terrain_paths), scenario.void_policy,
        tuple(scenario.area_bounds_deg) if scenario.area_bounds_deg is not None else None, grid.key,
        getattr(scenario, "outside_terrain", "error"),
        (grid.row_off, grid.col_off, grid.n_rows, grid.n_cols, grid.factor), grid.extent,
    )
    _remember_grid(spec, grid)
    return spec


def _open_grid(scenario, catalog=None) -> AnalysisGrid:
    from simulator.analysis_area import open_scenario_terrain, scenario_grid
    from simulator.catalog import load_catalog

    return scenario_grid(scenario, open_scenario_terrain(scenario), catalog or load_catalog())


def _cache_dir(cache: EnvelopeCache | None) -> str | None:
    if cache is None or not cache.enabled:
        return None
    return str(cache.directory.resolve())


def _scaled(progress: ProgressCallback | None, start: float, stop: float) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (stop - start) * fraction, message)


# --------------------------------------------------------------------------- position sampling


def _unit_rng(seed: int, unit_id: str) -> np.random.Generator:
    words = np.frombuffer(hashlib.sha256(unit_id.encode()).digest()[:16], dtype="<u4")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(int(w) for w in words)]))


def sample_positions(
    unit_id: str,
    lat_deg: float,
    lon_deg: float,
    radius_km: float,
    n_samples: int,
    *,
    seed: int = 0,
    terrain=None,
    land_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded positions uniform in the geodesic disk of ``radius_km`` around a point.

    Parameters
    ----------
    unit_id : str
        Seeds the unit's own generator together with ``seed`` (see the module Notes).
    lat_deg, lon_deg : float
        Stated point. [deg]
    radius_km : float
        Disk radius, ``position_precision_km``; 0 returns the point ``n_samples`` times. [km]
    n_samples : int
    seed : int
        Non-negative integer.
    terrain : simulator.terrain.Terrain, optional
        Candidates where bilinear sampling is undefined (off the terrain) are rejected.
    land_only : bool
        Also reject candidates whose terrain elevation is <= 0 m (needs ``terrain``).

    Returns
    -------
    lat_deg, lon_deg : numpy.ndarray of float64
        Shape ``(n_samples,)``. [deg]

    Raises
    ------
    AdcovError
        No (or too little) acceptable ground in the disk: fewer than ``n_samples`` candidates
        accepted after ``MAX_TRIES_PER_SAMPLE * n_samples`` draws.
    """
    if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
        raise AdcovError(f"samples: expected an integer >= 1, got {n_samples!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise AdcovError(f"seed: expected an integer >= 0, got {seed!r}")
    radius_m = float(radius_km) * 1000.0
    if not (math.isfinite(radius_m) and radius_m >= 0):
        raise AdcovError(f"unit {unit_id}: position_precision_km: expected a number >= 0 [km], got {radius_km!r}")
    if land_only and terrain is None:
        raise AdcovError("land_only needs the terrain to test candidates")

    def acceptable(lat, lon):
        if terrain is None:
            return np.ones(lat.shape, dtype=bool)
        elevation = terrain.sample_m(lat, lon, outside="nan")
        ok = np.isfinite(elevation)
        if land_only:
            ok &= np.nan_to_num(elevation, nan=0.0) > 0.0
        return ok

    where = f"unit {unit_id} at {lat_deg:.5f}N {lon_deg:.5f}E"
    if radius_m == 0.0:
        lat, lon = np.full(n_samples, float(lat_deg)), np.full(n_samples, float(lon_deg))
        if not acceptable(lat[:1], lon[:1])[0]:
            what = "on land (terrain > 0 m)" if land_only else "on the terrain"
            raise AdcovError(f"{where}: position_precision_km is 0 and the point is not {what}; "
                             f"give a precision > 0{' or drop land-only' if land_only else ''}")
        return lat, lon
    rng = _unit_rng(seed, unit_id)
    out_lat: list[np.ndarray] = []
    out_lon: list[np.ndarray] = []
    accepted = tried = 0
    budget = MAX_TRIES_PER_SAMPLE * n_samples
    batch = max(64, min(4096, n_samples))
    while accepted < n_samples:
        if tried >= budget:
            what = "land (terrain > 0 m) on the terrain" if land_only else "terrain"
            raise AdcovError(
                f"{where}: found {what} for only {accepted} of {n_samples} samples in {tried} tries within "
                f"{radius_km:g} km (about {100.0 * accepted / max(tried, 1):.2g}% of the disk qualifies); "
                f"{'drop land-only or ' if land_only else ''}check the position and position_precision_km"
            )
        u = rng.random((batch, 2))
        tried += batch
        distance_m = radius_m * np.sqrt(u[:, 0])
        azimuth_deg = 360.0 * u[:, 1]
        lon, lat, _ = WGS84_GEOD.fwd(np.full(batch, float(lon_deg)), np.full(batch, float(lat_deg)), azimuth_deg, distance_m)
        lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        ok = acceptable(lat, lon)
        out_lat.append(lat[ok])
        out_lon.append(lon[ok])
        accepted += int(ok.sum())
    return np.concatenate(out_lat)[:n_samples], np.concatenate(out_lon)[:n_samples]


# --------------------------------------------------------------------------- ensembles


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
        return {int(p): float(v) for p, v in zip(percentiles, values)}

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


def _catalog_or_default(catalog):
    if catalog is not None:
        return catalog
    from simulator.catalog import load_catalog

    return load_catalog()


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
        Seed of the samples (see the module Notes).
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
        See :func:`run_tasks`.
    progress : callable(fraction, message), optional
    cancel : CancelToken, optional
    cache_samples : bool
        Also cache the envelopes of sampled positions.
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    modes = (range_modes,) if isinstance(range_modes, str) else tuple(range_modes)
    bad = [m for m in modes if m not in RANGE_MODES]
    if bad or not modes or len(set(modes)) != len(modes):
        raise AdcovError(f"range_modes: {', '.join(map(repr, modes)) or 'none'} not valid; expected distinct values of {', '.join(RANGE_MODES)}")
    _check_scheduler(scheduler)
    if not scenario.units:
        raise AdcovError(f"{scenario.path}: scenario {scenario.name!r} has no active units; nothing to sample")
    if not (isinstance(samples, (int, np.integer)) and samples >= 0):
        raise AdcovError(f"samples: expected an integer >= 0, got {samples!r}")
    if not samples and (units is not None or land_only):
        raise AdcovError("units and land_only choose and constrain position samples; give samples >= 1")
    if max(int(samples), 1) * max(len(modes), 1) > MAX_MEMBERS:  # before the grid is opened or a site sampled
        raise AdcovError(f"{int(samples):,} samples x {len(modes)} range mode(s) exceed the limit of {MAX_MEMBERS:,} members; "
                         "choose fewer samples")
    catalog = _catalog_or_default(catalog)
    grid = _open_grid(scenario)
    spec = _grid_spec(scenario, grid)

    sampled: list[str] = []
    positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if samples:
        with_precision = [u.id for u in scenario.units if u.position_precision_km is not None]
        if units is None:
            sampled = with_precision
            if not sampled:
                raise AdcovError(
                    f"{scenario.path}: no unit of scenario {scenario.name!r} states position_precision_km; "
                    "give it to the units whose position is uncertain"
                )
        else:
            sampled = _check_unit_ids(scenario, units, "units")
            missing = [u for u in sampled if u not in with_precision]
            if missing:
                raise AdcovError(
                    f"units: {', '.join(missing)} state(s) no position_precision_km in scenario {scenario.name!r}; "
                    f"units with one: {', '.join(with_precision) or 'none'}"
                )
        for uid in sampled:
            spec_unit = scenario.unit(uid)
            positions[uid] = sample_positions(
                uid, spec_unit.lat_deg, spec_unit.lon_deg, spec_unit.position_precision_km, int(samples),
                seed=int(seed), terrain=grid.terrain, land_only=land_only,
            )
    members = [
        Member(len(modes) * s + j, s if samples else None, mode)
        for s in range(max(int(samples), 1))
        for j, mode in enumerate(modes)
    ]
    if len(members) > MAX_MEMBERS:
        raise AdcovError(f"{len(members)} members (samples x range modes) exceed the limit of {MAX_MEMBERS}")

    # jobs: one per distinct (unit, site, mode); members refer to them by key
    cache_dir = _cache_dir(cache)
    cache_cap = cache.max_bytes if cache_dir is not None else None
    nominal_figures = {
        (u.id, mode): resolve_unit_figures(u, catalog.get(u.system_id), scenario.default_antenna_height_m, mode)
        for u in scenario.units
        for mode in modes
    }
    plans = {u.id: plan_range_m_for(u, catalog.get(u.system_id), scenario.default_antenna_height_m) for u in scenario.units}
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

    aggregator = _EnsembleAggregator(grid, layers, altitudes, members, member_keys, fixed_keys)
    job_list = list(jobs.values())
    key_of = [job.key for job in job_list]
    run_tasks(
        compute_unit_masks, job_list, scheduler=scheduler, n_workers=n_workers, progress=_scaled(progress, 0.0, 0.97),
        cancel=cancel, on_result=lambda i, masks: aggregator.add(key_of[i], masks), label="envelopes",
    )
    aggregator.finish()
    if progress:
        progress(1.0, "ensemble ready")
    cell_area_m2 = grid.cell_area_m2
    probability_sum = np.empty((len(layers), len(altitudes)))
    for li in range(len(layers)):
        for ai in range(len(altitudes)):
            # float64 probability times cell area, summed in a fixed order
            probability_sum[li, ai] = float(np.sum(aggregator.counts[li, ai] * cell_area_m2) / len(members))
    return UncertaintyResult(
        grid=grid, scenario_name=scenario.name, layers=layers, altitudes_m=altitudes, altitude_ref=altitude_ref,
        members=members, sampled_units=sampled, positions=positions, seed=int(seed) if samples else None,
        land_only=bool(land_only and samples), counts=aggregator.counts, areas_km2=aggregator.areas_km2,
        expected_km2=probability_sum / 1e6,
    )


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
        for member, keys in zip(members, member_keys):
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


# --------------------------------------------------------------------------- withdrawal sweep


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
        See :func:`coverage_ensemble`. One envelope job per unit and range mode; the
        subsets are queries over their masks in this process.
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    modes = (range_modes,) if isinstance(range_modes, str) else tuple(range_modes)
    bad = [m for m in modes if m not in RANGE_MODES]
    if bad or not modes or len(set(modes)) != len(modes):
        raise AdcovError(f"range_modes: {', '.join(map(repr, modes)) or 'none'} not valid; expected distinct values of {', '.join(RANGE_MODES)}")
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
    jobs = [
        EnvelopeJob(spec, resolve_unit_figures(u, catalog.get(u.system_id), scenario.default_antenna_height_m, mode),
                    scenario.k_factor, layers, altitudes, altitude_ref, cache_dir,
                    plan_range_m_for(u, catalog.get(u.system_id), scenario.default_antenna_height_m), cache_cap)
        for mode in modes
        for u in scenario.units
    ]
    results = run_tasks(compute_unit_masks, jobs, scheduler=scheduler, n_workers=n_workers,
                        progress=_scaled(progress, 0.0, 0.9), cancel=cancel, label="envelopes")
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


def coverage_masks(coverage: Coverage, *, layers, altitudes_m, altitude_ref: str = "msl") -> dict[str, UnitMasks]:
    """Per-unit masks of an in-memory :class:`Coverage` (no line of sight recomputed)."""
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    out = {}
    for uid in coverage.unit_ids:
        env = coverage.envelopes[uid]
        rows, cols = env.window
        packed = []
        for layer in layers:
            for altitude_m in altitudes:
                hit = coverage.unit_covered(uid, layer, altitude_m, altitude_ref)[rows, cols]
                packed.append(zlib.compress(np.packbits(hit).tobytes(), 1))
        out[uid] = UnitMasks("", uid, rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start,
                             layers, altitudes, tuple(packed))
    return out


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

"""Envelope jobs and their results: each unit's covered cells as compact bit masks.

An :class:`EnvelopeJob` is one distinct (unit, site, range mode) of a sweep: it computes the
unit's envelope (line of sight cached on disk in the shared
:class:`~simulator.cache.EnvelopeCache` folder) and returns the unit's covered cells per
layer and altitude as a :class:`UnitMasks`. :func:`compute_unit_masks` is the task function
every sweep hands to :func:`~simulator.sweep.engine.run_tasks`; the sweeps' queries are
array arithmetic over its masks, in the calling process.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from simulator.cache import EnvelopeCache
from simulator.coverage import Coverage
from simulator.envelope import build_unit_envelope
from simulator.errors import AdcovError, NothingInRangeError
from simulator.figures import UnitFigures
from simulator.geometry import AnalysisGrid
from simulator.line_of_sight import analysis_terrain
from simulator.sweep.checks import _check_query


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
    except NothingInRangeError:
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


def _task_function():
    """:func:`compute_unit_masks` as ``simulator.sweep`` exports it, looked up when a sweep
    starts: a replacement there (tests interrupt a sweep that way) is the one that runs."""
    import simulator.sweep

    return simulator.sweep.compute_unit_masks

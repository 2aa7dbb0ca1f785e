"""Coverage of a scenario: its units' envelopes on one analysis grid, and the queries over them.

An envelope holds, for one unit and layer, ``floor`` and ``ceiling`` rasters [m MSL]: the
unit covers a cell at altitude ``h`` exactly when ``floor <= h <= ceiling``
(:mod:`simulator.envelope`, which also holds the geometry of the range limits: the
slant-range sphere, Doerry 2013). Line of sight runs once per unit
(:mod:`simulator.line_of_sight`, cached on disk); every query -- a new altitude, reference,
layer or set of active units -- is array arithmetic over the stored envelopes (the numba
kernels of :mod:`simulator.coverage_kernels`).

The functions and classes those modules held when they were part of this one are re-exported
here; the line-of-sight settings (``RAY_MEMORY_BYTES``, ``DEM_WINDOW_BYTES``, ...) live in
:mod:`simulator.line_of_sight` alone (set them there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyproj

from simulator.cache import EnvelopeCache
from simulator.coverage_kernels import (
    QUERY_TILE,
    _covered_area_m2,
    area_and_count_by_value,
    area_where_positive_m2,
    change_index_and_area_m2,
)
from simulator.envelope import (
    EnvelopeComponent,
    UnitEnvelope,
    build_unit_envelope,
    layer_components,
    slant_range_altitude_msl_m,
    unit_max_range_m,
)
from simulator.errors import AdcovError, ArgumentError, ComputationCancelled
from simulator.figures import UnitFigures, resolve_unit_figures
from simulator.geometry import EARTH_MEAN_RADIUS_M, AnalysisGrid, mask_polygons, to_lonlat
from simulator.line_of_sight import (
    LineOfSight,
    RayPlan,
    _PlanAhead,
    analysis_terrain,
    compute_line_of_sight,
    dem_window,
    line_of_sight_key,
    plan_line_of_sight,
    site_terrain_m,
    trace_line_of_sight,
)

__all__ = [
    # the coverage model (this module)
    "ALTITUDE_REFS", "DEFAULT_ALTITUDES_M", "LAYERS", "CancelToken", "Coverage", "EnvelopeTask", "ProgressCallback",
    "build_coverage", "check_query", "compute_envelope_task", "plan_range_m_for", "summarize",
    # simulator.line_of_sight
    "LineOfSight", "RayPlan", "analysis_terrain", "compute_line_of_sight", "dem_window", "line_of_sight_key",
    "plan_line_of_sight", "site_terrain_m", "trace_line_of_sight",
    # simulator.envelope
    "EnvelopeComponent", "UnitEnvelope", "build_unit_envelope", "layer_components", "slant_range_altitude_msl_m",
    "unit_max_range_m",
    # simulator.coverage_kernels
    "QUERY_TILE", "area_and_count_by_value", "area_where_positive_m2", "change_index_and_area_m2",
]

LAYERS = ("detection", "engagement")
ALTITUDE_REFS = ("msl", "agl")
DEFAULT_ALTITUDES_M = (30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 20000.0)

from simulator.progress import CancelToken, ProgressCallback  # re-exported: their home is simulator.progress


def check_query(altitudes_m, altitude_ref: str, layers, *, unique: bool = False) -> tuple[list[float], str, list[str]]:
    """Validate the arguments of a coverage query: altitudes [m] (a number or an iterable of
    finite numbers), an altitude reference and one or more layers; ``unique`` refuses
    repeated altitudes or layers. Raises AdcovError naming the bad value and what is valid."""
    if altitude_ref not in ALTITUDE_REFS:
        raise ArgumentError(f"altitude_ref: {altitude_ref!r} is not valid; expected one of {', '.join(ALTITUDE_REFS)}")
    layers = [layers] if isinstance(layers, str) else list(layers)
    bad = [layer for layer in layers if layer not in LAYERS]
    if bad or not layers:
        raise ArgumentError(f"layers: {', '.join(map(repr, bad)) or 'none given'} not valid; expected one or more of {', '.join(LAYERS)}")
    values = [altitudes_m] if np.ndim(altitudes_m) == 0 else list(np.asarray(altitudes_m, dtype=object).ravel())
    altitudes = []
    for value in values:
        try:
            altitude = float(value)
        except (TypeError, ValueError):
            raise ArgumentError(f"altitudes_m: {value!r} is not a number; expected altitudes in metres") from None
        if not math.isfinite(altitude):
            raise ArgumentError(f"altitudes_m: {value!r} is not finite; expected altitudes in metres")
        altitudes.append(altitude)
    if not altitudes:
        raise ArgumentError("altitudes_m: expected at least one altitude [m]")
    if unique and len(set(layers)) != len(layers):
        raise ArgumentError(f"layers: {', '.join(layers)} lists a layer twice")
    if unique and len(set(altitudes)) != len(altitudes):
        raise ArgumentError(f"altitudes_m: {', '.join(f'{a:g}' for a in altitudes)} lists an altitude twice")
    return altitudes, altitude_ref, layers


def _check_choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise ArgumentError(f"{name}: {value!r} is not valid; expected one of {', '.join(valid)}")
    return value


@dataclass
class Coverage:
    """Envelopes of a scenario's units on one analysis grid, and the queries over them."""

    grid: AnalysisGrid
    envelopes: dict[str, UnitEnvelope]
    k_factor: float
    earth_radius_m: float = EARTH_MEAN_RADIUS_M
    scenario_name: str = ""
    notes: list[str] = field(default_factory=list)
    #: Per unit, where its site and dates come from (status, dates, position precision,
    #: placement source ids): what the scenario file says, for reports to cite.
    placements: dict[str, dict] = field(default_factory=dict)
    #: The scenario's own sources (``sources:`` of the file), by id.
    placement_sources: dict[str, dict] = field(default_factory=dict)

    def __repr__(self) -> str:
        g = self.grid
        ew_m, ns_m = g.cell_size_m
        return (f"<Coverage {self.scenario_name!r}: {len(self.envelopes)} units ({', '.join(self.envelopes)}) on a "
                f"{g.n_rows} x {g.n_cols} grid of ~{ew_m:.0f} x {ns_m:.0f} m cells, k = {self.k_factor:.4g}>")

    @property
    def unit_ids(self) -> list[str]:
        return list(self.envelopes)

    def subset(self, unit_ids: Iterable[str]) -> "Coverage":
        """The same grid and envelopes restricted to some units (no recomputation)."""
        ids = self._units(unit_ids)
        return Coverage(self.grid, {u: self.envelopes[u] for u in self.unit_ids if u in ids}, self.k_factor,
                        self.earth_radius_m, self.scenario_name, list(self.notes),
                        {u: p for u, p in self.placements.items() if u in ids}, dict(self.placement_sources))

    def without(self, unit_ids: Iterable[str]) -> "Coverage":
        """The coverage with some units withdrawn (unknown ids are an error)."""
        gone = set(self._units(unit_ids))
        return self.subset([u for u in self.unit_ids if u not in gone])

    def _units(self, units: Iterable[str] | None) -> list[str]:
        if units is None:
            return self.unit_ids
        units = list(units)
        unknown = [u for u in units if u not in self.envelopes]
        if unknown:
            raise AdcovError(f"unknown unit id(s) {', '.join(unknown)}; valid: {', '.join(self.unit_ids)}")
        return units

    def _altitude_msl(self, env: UnitEnvelope, altitude_m: float, altitude_ref: str):
        if altitude_ref == "msl":
            return np.float32(altitude_m)
        return self.grid.elevation_m[env.window] + np.float32(altitude_m)

    def unit_covered(self, unit_id: str, layer: str, altitude_m: float, altitude_ref: str = "msl") -> np.ndarray:
        """Full-grid boolean mask of the cells one unit covers."""
        hit = self.unit_covered_in_window(unit_id, layer, altitude_m, altitude_ref)
        out = np.zeros(self.grid.shape, dtype=bool)
        out[self.envelopes[unit_id].window] = hit
        return out

    def unit_covered_km2(self, unit_id: str, layer: str, altitude_m: float, altitude_ref: str = "msl") -> float:
        """Area one unit covers (inside the area of interest): ``area_km2(unit_covered(...))``
        without building the full-grid mask. [km^2]"""
        _check_choice("layer", layer, LAYERS)
        _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
        env = self.envelopes[self._units([unit_id])[0]]
        components = env.layers[layer]
        if len(components) != 1:
            return self.area_km2(self.unit_covered(unit_id, layer, altitude_m, altitude_ref))
        rows, cols = env.window
        is_agl = altitude_ref == "agl"
        comp = components[0]
        terrain = np.ascontiguousarray(self.grid.elevation_m[env.window], dtype=np.float32) if is_agl else comp.floor_msl_m
        return float(_covered_area_m2(self.grid.n_rows, rows.start, cols.start, comp.floor_msl_m, comp.ceiling_msl_m,
                                      terrain, np.float32(altitude_m), is_agl, self.grid.cell_area_m2) / 1e6)

    def unit_covered_in_window(self, unit_id: str, layer: str, altitude_m: float, altitude_ref: str = "msl") -> np.ndarray:
        """The cells one unit covers, inside its envelope's window only
        (``grid[envelopes[unit_id].window]``; every covered cell lies there)."""
        _check_choice("layer", layer, LAYERS)
        _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
        env = self.envelopes[self._units([unit_id])[0]]
        hit = env.covered(layer, self._altitude_msl(env, altitude_m, altitude_ref))
        inside = self.grid.inside_area
        if inside is not None:
            hit &= inside[env.window]
        return hit

    def depth(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units: Iterable[str] | None = None) -> np.ndarray:
        """Number of active units covering each cell (uint16)."""
        _check_choice("layer", layer, LAYERS)
        _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
        depth = np.zeros(self.grid.shape, dtype=np.uint16)
        for unit_id in self._units(units):
            env = self.envelopes[unit_id]
            terrain = self.grid.elevation_m[env.window] if altitude_ref == "agl" else None
            env.add_to_depth(depth, layer, altitude_m, terrain)
        return self._clip_to_area(depth)

    def _clip_to_area(self, values: np.ndarray, outside=0) -> np.ndarray:
        """Zero (or ``outside``) the cells outside the area of interest, in place."""
        inside = self.grid.inside_area
        if inside is not None:
            values[~inside] = outside
        return values

    def covered(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units: Iterable[str] | None = None) -> np.ndarray:
        """Cells covered by at least one active unit."""
        return self.depth(layer, altitude_m, altitude_ref, units) > 0

    def covering_units(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units: Iterable[str] | None = None) -> np.ndarray:
        """Bit mask per cell (uint64): bit ``i`` set when ``self.unit_ids[i]`` covers the cell."""
        ids = self._units(units)
        if len(self.unit_ids) > 64:
            raise AdcovError("covering_units supports at most 64 units per scenario")
        bits = np.zeros(self.grid.shape, dtype=np.uint64)
        for unit_id in ids:
            env = self.envelopes[unit_id]
            bit = np.uint64(1) << np.uint64(self.unit_ids.index(unit_id))
            hit = env.covered(layer, self._altitude_msl(env, altitude_m, altitude_ref))
            bits[env.window] |= np.where(hit, bit, np.uint64(0))
        return self._clip_to_area(bits)

    def units_at(self, row: int, col: int, layer: str, altitude_m: float, altitude_ref: str = "msl", units=None) -> list[str]:
        """Ids of the active units covering one analysis cell."""
        found = []
        inside = self.grid.inside_area
        if inside is not None and not inside[row, col]:
            return found
        for unit_id in self._units(units):
            env = self.envelopes[unit_id]
            rs, cs = env.window
            if rs.start <= row < rs.stop and cs.start <= col < cs.stop:
                lr, lc = row - rs.start, col - cs.start
                h = altitude_m if altitude_ref == "msl" else float(self.grid.elevation_m[row, col]) + altitude_m
                if any(c.floor_msl_m[lr, lc] <= h <= c.ceiling_msl_m[lr, lc] for c in env.layers[layer]):
                    found.append(unit_id)
        return found

    def sole_coverage(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units=None) -> np.ndarray:
        """Index into ``unit_ids`` of the only unit covering a cell; -1 where 0 or >= 2 cover it."""
        ids = self._units(units)
        depth = np.zeros(self.grid.shape, dtype=np.uint16)
        last = np.full(self.grid.shape, -1, dtype=np.int16)
        for unit_id in ids:
            env = self.envelopes[unit_id]
            hit = env.covered(layer, self._altitude_msl(env, altitude_m, altitude_ref))
            depth[env.window] += hit
            last[env.window] = np.where(hit, self.unit_ids.index(unit_id), last[env.window])
        return self._clip_to_area(np.where(depth == 1, last, -1).astype(np.int16), -1)

    def area_km2(self, mask: np.ndarray) -> float:
        """Geodesic area of the cells where ``mask`` is true (or > 0). [km^2]"""
        mask = np.asarray(mask)
        if mask.shape != self.grid.shape:
            raise AdcovError(f"mask shape {mask.shape} is not the analysis grid's {self.grid.shape}")
        if mask.dtype == np.bool_:
            mask = mask.view(np.uint8)
        return float(area_where_positive_m2(mask, self.grid.cell_area_m2) / 1e6)

    def polygons(self, mask: np.ndarray, *, lonlat: bool = False):
        """Polygons of a mask: shapely MultiPolygon in the grid's equal-area CRS [m], or
        transformed to lon/lat [deg] with ``lonlat=True``. Returns ``(geometry, crs)``."""
        geometry, crs = mask_polygons(self.grid, mask)
        if lonlat:
            return to_lonlat(geometry, crs), pyproj.CRS.from_epsg(4326)
        return geometry, crs

    def covered_km2(self, layer: str, altitude_m: float, altitude_ref: str = "msl", units=None) -> float:
        """Area covered by at least one active unit. [km^2]"""
        return self.area_km2(self.depth(layer, altitude_m, altitude_ref, units))

    def analysis_area(self) -> dict:
        """How the analysis area was chosen and, per unit, the fraction of its nominal disk
        outside it (``units.<id>.disk_fraction_outside``, 0-1)."""
        cached = self.__dict__.get("_analysis_area")
        if cached is not None:
            return cached
        from simulator.analysis_area import UnitDisk, disk_fraction_outside

        grid = self.grid
        kinds = {"area": "the scenario's area (a box)", "disks": "the union of the units' largest nominal disks",
                 "dem": "the whole terrain"}
        units = {}
        for uid, env in self.envelopes.items():
            f = env.figures
            radius_km = max([f.detection_range_km or 0.0] + [w.max_range_km for w in f.weapons])
            fraction = disk_fraction_outside(grid, UnitDisk(uid, f.lat_deg, f.lon_deg, radius_km * 1000.0))
            units[uid] = {"nominal_radius_km": radius_km, "disk_fraction_outside": round(fraction, 4)}
        result = {
            "extent": grid.extent,
            "described": kinds.get(grid.extent, grid.extent),
            "area_bounds_deg": list(grid.area_bounds_deg) if grid.area_bounds_deg is not None else None,
            "outside_terrain": getattr(grid.terrain, "outside_terrain", "error"),
            "units": units,
        }
        self.__dict__["_analysis_area"] = result
        return result

    def assumptions(self) -> dict:
        """Everything an analyst must cite: k, terrain, grid, per-unit figures and defaults."""
        terrain = self.grid.terrain
        dem_dx_m, dem_dy_m = self.grid.dem_cell_size_m
        return {
            "k_factor": self.k_factor,
            "earth_radius_m": self.earth_radius_m,
            "terrain": terrain.describe() if hasattr(terrain, "describe") else str(terrain.source_paths),
            "terrain_sources": [str(p) for p in terrain.source_paths],
            "dem_spacing_m": [round(dem_dx_m, 1), round(dem_dy_m, 1)],
            "analysis_grid": {
                "rows": self.grid.n_rows,
                "cols": self.grid.n_cols,
                "cell_size_m": [round(v, 1) for v in self.grid.cell_size_m],
                "dem_cells_per_cell": self.grid.factor,
                "resolution_rule": self.grid.resolution_rule,
                "rays_sample": "the DEM at its own spacing (never the analysis grid)",
                "bounds_deg": [round(v, 5) for v in self.grid.bounds_deg],
                "crs": self.grid.crs.to_string(),
            },
            "analysis_area": self.analysis_area(),
            "units": {uid: env.figures.to_dict() for uid, env in self.envelopes.items()},
            "placements": {uid: dict(self.placements[uid]) for uid in self.envelopes if uid in self.placements},
            "notes": list(self.notes),
        }


def build_coverage(
    scenario,
    *,
    range_mode: str = "nominal",
    cache: EnvelopeCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    terrain=None,
    catalog=None,
    grid: AnalysisGrid | None = None,
    reuse: "Coverage | None" = None,
    resolution_m: float | str | None = None,
    scheduler=None,
) -> Coverage:
    """Envelopes of every active unit of a scenario (line of sight cached on disk).

    Parameters
    ----------
    scenario : simulator.scenario.Scenario
        Loaded scenario (its ``units`` are the active ones).
    range_mode : {"nominal", "min", "max"}
        Which published figure of a spread to use.
    cache : EnvelopeCache, optional
        Disk cache; ``None`` computes everything.
    progress : callable(fraction, message), optional
    cancel : CancelToken, optional
    terrain : Terrain, optional
        Already opened terrain (else the scenario's files are opened).
    grid : AnalysisGrid, optional
        Use this analysis grid (the caller has checked it is the scenario's).
    reuse : Coverage, optional
        Envelopes on the same grid and sphere to take as they are for units whose resolved
        figures are equal (no line of sight recomputed for them).
    resolution_m : float or "native", optional
        Analysis spacing instead of the scenario's (see :mod:`simulator.analysis_area`).
    scheduler : None, "local", "tcp://HOST:PORT" or distributed.Client
        Where the envelopes are computed: in this process (None), or one Dask task per
        unit (:func:`simulator.sweep.run_tasks`); each worker reads its own DEM window and
        the results are the same bit for bit.
    """
    from simulator.analysis_area import open_scenario_terrain, scenario_grid
    from simulator.catalog import load_catalog

    catalog = catalog or load_catalog()
    if grid is None:
        if terrain is None:
            terrain = open_scenario_terrain(scenario)
        grid = scenario_grid(scenario, terrain, catalog, resolution_m=resolution_m)
    reusable = {}
    if reuse is not None and reuse.grid.key == grid.key and reuse.k_factor == scenario.k_factor and reuse.earth_radius_m == EARTH_MEAN_RADIUS_M:
        reusable = reuse.envelopes
    envelopes: dict[str, UnitEnvelope] = {}
    units = list(scenario.units)
    todo: list[UnitFigures] = []
    plans: dict[str, float] = {}
    for unit in units:
        system = catalog.get(unit.system_id)
        figures = resolve_unit_figures(unit, system, scenario.default_antenna_height_m, range_mode)
        plans[unit.id] = plan_range_m_for(unit, system, scenario.default_antenna_height_m)
        previous = reusable.get(unit.id)
        if previous is not None and previous.figures == figures:
            envelopes[unit.id] = previous
        else:
            todo.append(figures)
    if scheduler is None:
        sites = [(f.lat_deg, f.lon_deg, f.antenna_height_m, unit_max_range_m(f), plans.get(f.unit_id)) for f in todo]
        with _PlanAhead(grid, sites, scenario.k_factor, cache) as ahead:
            for i, figures in enumerate(todo):
                if cancel is not None and cancel.cancelled:
                    raise ComputationCancelled("computation cancelled")
                if progress:
                    reach_km = plans[figures.unit_id] / 1000.0
                    progress(i / max(len(todo), 1),
                             f"line of sight {i + 1}/{len(todo)}: {figures.unit_id} ({figures.system_name}, {reach_km:g} km)")
                envelopes[figures.unit_id] = build_unit_envelope(grid, figures, scenario.k_factor, cache=cache,
                                                                 plan_range_m=plans[figures.unit_id],
                                                                 planned=ahead.planned(i))
    elif todo:
        from simulator.sweep import run_tasks

        cache_dir = str(cache.directory) if cache is not None and cache.enabled else None
        cap = cache.max_bytes if cache_dir is not None else None
        items = [EnvelopeTask(grid, figures, float(scenario.k_factor), EARTH_MEAN_RADIUS_M, cache_dir, plans[figures.unit_id], cap)
                 for figures in todo]
        for figures, envelope in zip(todo, run_tasks(compute_envelope_task, items, scheduler=scheduler,
                                                     progress=progress, cancel=cancel, label="envelopes"), strict=True):
            envelopes[figures.unit_id] = envelope
    # file order, whatever order they were computed or reused in
    envelopes = {unit.id: envelopes[unit.id] for unit in units}
    if progress:
        progress(1.0, "envelopes ready")
    placements = {unit.id: _placement(unit) for unit in units}
    cited = {sid for p in placements.values() for sid in p["sources"]}
    placement_sources = {
        sid: {k: (v if isinstance(v, (str, int, float)) or v is None else str(v)) for k, v in dict(entry).items()}
        for sid, entry in (scenario.sources or {}).items()
        if sid in cited
    }
    return Coverage(grid, envelopes, scenario.k_factor, scenario_name=scenario.name, notes=[],
                    placements=placements, placement_sources=placement_sources)


def plan_range_m_for(unit, system, default_antenna_height_m) -> float:
    """The range a unit's rays are planned for: the top of its published spread, so that its
    min, nominal and max range modes share one line-of-sight floor. [m]"""
    widest = resolve_unit_figures(unit, system, default_antenna_height_m, "max")
    return 1000.0 * max([widest.detection_range_km or 0.0] + [w.max_range_km for w in widest.weapons])


@dataclass(frozen=True)
class EnvelopeTask:
    """One unit's envelope, as a Dask task: the grid travels as metadata (file paths and
    placement), and the worker reads its own DEM window."""

    grid: AnalysisGrid
    figures: UnitFigures
    k_factor: float
    earth_radius_m: float
    cache_dir: str | None
    plan_range_m: float | None = None
    cache_max_bytes: int | None = None


def compute_envelope_task(task: EnvelopeTask) -> UnitEnvelope:
    """Run one :class:`EnvelopeTask` (in this process or on a Dask worker)."""
    cache = EnvelopeCache(task.cache_dir, max_bytes=task.cache_max_bytes) if task.cache_dir is not None else None
    return build_unit_envelope(task.grid, task.figures, task.k_factor, earth_radius_m=task.earth_radius_m, cache=cache,
                               plan_range_m=task.plan_range_m)


def _placement(unit) -> dict:
    """What a scenario says about a unit's site and dates (for reports)."""
    return {
        "status": unit.status,
        "deployed": unit.deployed.isoformat() if unit.deployed else None,
        "withdrawn": unit.withdrawn.isoformat() if unit.withdrawn else None,
        "position_precision_km": unit.position_precision_km,
        "sources": list(unit.sources),
        "dates_note": unit.dates_note or "",
    }


def summarize(
    coverage: Coverage,
    *,
    layers: Sequence[str] = LAYERS,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    units: Iterable[str] | None = None,
) -> dict:
    """Areas per layer and altitude: ``layers.<layer>[]`` with ``altitude_m``,
    ``altitude_ref``, ``covered_km2``, ``max_depth`` and ``by_unit_km2``."""
    _check_choice("altitude_ref", altitude_ref, ALTITUDE_REFS)
    ids = coverage._units(units)
    result: dict = {"scenario": coverage.scenario_name, "layers": {}, "assumptions": coverage.assumptions()}
    for layer in layers:
        _check_choice("layer", layer, LAYERS)
        rows = []
        for altitude_m in altitudes_m:
            depth = coverage.depth(layer, altitude_m, altitude_ref, ids)
            by_unit = {uid: coverage.unit_covered_km2(uid, layer, altitude_m, altitude_ref) for uid in ids}
            rows.append(
                {
                    "altitude_m": float(altitude_m),
                    "altitude_ref": altitude_ref,
                    "covered_km2": coverage.area_km2(depth),
                    "max_depth": int(depth.max()) if depth.size else 0,
                    "by_unit_km2": by_unit,
                }
            )
        result["layers"][layer] = rows
    return result

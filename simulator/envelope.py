"""Envelopes of one unit: the altitudes it covers over each analysis cell of its window.

An envelope holds, for one unit and layer, ``floor`` and ``ceiling`` rasters [m MSL]: the
unit covers a cell at altitude ``h`` exactly when ``floor <= h <= ceiling``. A unit's
engagement layer is the union of its weapons' envelopes (one floor/ceiling pair each);
the detection layer has one pair (the sensor). :func:`build_unit_envelope` bounds the unit's
line of sight (:mod:`simulator.line_of_sight`) by its range and altitude limits.

Geometry of the range limits (effective-earth sphere, radius ``R_eff``, antenna at
``a = R_eff + H0``, target at ``b = R_eff + h``, ground range ``d``, ``phi = d / R_eff``):
the slant range is ``r**2 = a**2 + b**2 - 2 a b cos(phi)`` (law of cosines; Doerry 2013),
increasing in ``h`` above ``b = a cos(phi)``; so a maximum slant range ``R_max`` bounds the
target between ``b = a cos(phi) -/+ sqrt(R_max**2 - a**2 sin(phi)**2)`` (the lower root
raises the floor, the upper is the ceiling), and a minimum slant range ``R_min`` raises the
floor to the upper root with ``R_min``.

References
----------
Doerry, A. W., "Earth Curvature and Atmospheric Refraction Effects on Radar Signal
Propagation", Sandia Report SAND2012-10690, 2013.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np

from simulator.cache import EnvelopeCache
from simulator.coverage_kernels import _add_covered, _add_covered_tiled, _tile_bounds
from simulator.errors import AdcovError
from simulator.figures import UnitFigures
from simulator.geometry import EARTH_MEAN_RADIUS_M, AnalysisGrid, effective_radius_m
from simulator.line_of_sight import LineOfSight, RayPlan, analysis_terrain, compute_line_of_sight


def slant_range_altitude_msl_m(
    ground_range_m: np.ndarray,
    antenna_altitude_msl_m: float,
    slant_range_m: float,
    effective_radius_m_: float,
) -> np.ndarray:
    """Altitude [m MSL] at which the slant range from the antenna equals ``slant_range_m``.

    ``b = a cos(phi) + sqrt(R**2 - a**2 sin(phi)**2)`` with ``a = R_eff + H0``,
    ``phi = d / R_eff`` (module docstring, Doerry 2013). ``-inf`` where even the
    closest point of that vertical is farther than ``R`` (no altitude reaches it), and
    ``-inf`` also means "no constraint" for a minimum range that every altitude satisfies:
    callers treat the two cases separately via the sign convention documented there.
    """
    a = effective_radius_m_ + antenna_altitude_msl_m
    phi = np.asarray(ground_range_m, dtype=np.float64) / effective_radius_m_
    perpendicular = a * np.sin(phi)
    under = slant_range_m**2 - perpendicular**2
    with np.errstate(invalid="ignore"):
        b = a * np.cos(phi) + np.sqrt(np.where(under >= 0, under, np.nan))
    return np.where(under >= 0, b - effective_radius_m_, -np.inf)


@dataclass(frozen=True)
class EnvelopeComponent:
    """One covered altitude interval per cell: a weapon's, or the sensor's."""

    name: str
    floor_msl_m: np.ndarray  # float32, window of the unit; +inf where not covered at all
    ceiling_msl_m: np.ndarray  # float32; -inf where not covered at all


@dataclass(frozen=True)
class UnitEnvelope:
    """Everything a query needs about one unit on the analysis grid."""

    unit_id: str
    figures: UnitFigures
    los: LineOfSight
    layers: dict[str, tuple[EnvelopeComponent, ...]]

    @property
    def window(self) -> tuple[slice, slice]:
        return self.los.window

    def __repr__(self) -> str:
        rows, cols = self.window
        layers = "; ".join(f"{name}: {', '.join(c.name for c in comps) or 'none'}" for name, comps in self.layers.items())
        return (f"<UnitEnvelope {self.unit_id!r} ({self.figures.system_name}) rows {rows.start}:{rows.stop}, "
                f"cols {cols.start}:{cols.stop}, antenna {self.los.antenna_altitude_msl_m:.0f} m MSL, "
                f"range {self.los.max_range_m / 1000:g} km; {layers}>")

    def covered(self, layer: str, altitude_msl_m: np.ndarray | float) -> np.ndarray:
        """Covered cells of the unit's window at the given altitude(s) [m MSL]."""
        components = self.layers[layer]
        if not components:
            return np.zeros(self.los.floor_msl_m.shape, dtype=bool)
        out = None
        for comp in components:
            hit = (comp.floor_msl_m <= altitude_msl_m) & (altitude_msl_m <= comp.ceiling_msl_m)
            out = hit if out is None else (out | hit)
        return out

    @cached_property
    def _stacked(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {
            layer: (
                np.stack([c.floor_msl_m for c in comps]) if comps else np.empty((0,) + self.los.floor_msl_m.shape, np.float32),
                np.stack([c.ceiling_msl_m for c in comps]) if comps else np.empty((0,) + self.los.floor_msl_m.shape, np.float32),
            )
            for layer, comps in self.layers.items()
        }

    def _bounds(self, layer: str, terrain_m: np.ndarray | None) -> np.ndarray:
        key = (layer, terrain_m is not None)
        cache = self.__dict__.setdefault("_tile_bounds_cache", {})
        if key not in cache:
            comp = self.layers[layer][0]
            terrain = terrain_m if terrain_m is not None else comp.floor_msl_m
            cache[key] = _tile_bounds(comp.floor_msl_m, comp.ceiling_msl_m, terrain, terrain_m is not None)
        return cache[key]

    def add_to_depth(self, depth: np.ndarray, layer: str, altitude_m: float, terrain_m: np.ndarray | None) -> None:
        """Add 1 to ``depth`` (full grid) where this unit covers the altitude.

        ``terrain_m`` is the terrain on the unit's window for an altitude above ground, or
        None for an altitude above mean sea level. A single-interval layer (the usual case,
        see :func:`layer_components`) skips whole tiles using their floor/ceiling bounds.
        """
        components = self.layers[layer]
        if not components:
            return
        rows, cols = self.window
        is_agl = terrain_m is not None
        if len(components) == 1:
            comp = components[0]
            terrain = terrain_m if is_agl else comp.floor_msl_m
            _add_covered_tiled(depth, rows.start, cols.start, comp.floor_msl_m, comp.ceiling_msl_m, terrain,
                               self._bounds(layer, terrain_m), np.float32(altitude_m), is_agl)
            return
        floors, ceilings = self._stacked[layer]
        terrain = terrain_m if is_agl else floors[0]
        _add_covered(depth, rows.start, cols.start, floors, ceilings, terrain, np.float32(altitude_m), is_agl)

    def floor_ceiling(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """Lowest floor and highest ceiling over the layer's components [m MSL].

        Exact bounds of the covered altitudes; the union of the components' intervals may
        still have gaps between them (use :meth:`covered` for exact answers).
        """
        components = self.layers[layer]
        shape = self.los.floor_msl_m.shape
        if not components:
            return np.full(shape, np.inf, np.float32), np.full(shape, -np.inf, np.float32)
        floor = np.minimum.reduce([c.floor_msl_m for c in components])
        ceiling = np.maximum.reduce([c.ceiling_msl_m for c in components])
        return floor, ceiling


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _layer_intervals(los_floor, terrain, ground_range, antenna_altitude_m, re_m, limits):
    """Covered altitude interval of each component of a layer, and their union.

    ``limits[k] = (min_range_m, max_range_m, min_agl_m, max_msl_m)``. Per cell the floor is
    ``max(line of sight, terrain + min_agl, upper min-slant altitude, lower max-slant
    altitude)`` and the ceiling ``min(upper max-slant altitude, max_msl)`` with the slant-range altitude of the module
    docstring (Doerry 2013, law of cosines on the effective-earth sphere); an empty interval is stored as ``(+inf, -inf)``.
    Returns the per-component floors and ceilings (float32, shape (K, rows, cols)), the
    union's lowest floor and highest ceiling, and whether any cell's union has a gap.
    """
    n_comp = limits.shape[0]
    rows, cols = los_floor.shape
    floors = np.empty((n_comp, rows, cols), dtype=np.float32)
    ceilings = np.empty((n_comp, rows, cols), dtype=np.float32)
    union_floor = np.empty((rows, cols), dtype=np.float32)
    union_ceiling = np.empty((rows, cols), dtype=np.float32)
    gap_rows = np.zeros(rows, dtype=np.bool_)
    a_m = re_m + antenna_altitude_m
    for r in numba.prange(rows):
        fl_local = np.empty(n_comp)
        ce_local = np.empty(n_comp)
        for c in range(cols):
            f0 = los_floor[r, c]
            phi = ground_range[r, c] / re_m
            perpendicular = a_m * math.sin(phi)
            base = a_m * math.cos(phi) - re_m
            lowest = np.inf
            highest = -np.inf
            for k in range(n_comp):
                fl = np.inf
                ce = -np.inf
                if not math.isnan(f0):
                    fl = max(f0, terrain[r, c] + limits[k, 2])
                    if limits[k, 0] > 0.0:
                        under = limits[k, 0] * limits[k, 0] - perpendicular * perpendicular
                        if under >= 0.0:
                            fl = max(fl, base + math.sqrt(under))
                    under = limits[k, 1] * limits[k, 1] - perpendicular * perpendicular
                    if under >= 0.0:
                        # the slant-range sphere bounds the altitudes from both sides: its
                        # lower intersection raises the floor (a high antenna cannot reach
                        # targets far below it), its upper one is the ceiling
                        fl = max(fl, base - math.sqrt(under))
                        ce = min(base + math.sqrt(under), limits[k, 3])
                    if ce < fl:
                        fl = np.inf
                        ce = -np.inf
                floors[k, r, c] = fl
                ceilings[k, r, c] = ce
                fl_local[k] = fl
                ce_local[k] = ce
                lowest = min(lowest, fl)
                highest = max(highest, ce)
            union_floor[r, c] = lowest
            union_ceiling[r, c] = highest
            if n_comp > 1 and not gap_rows[r]:
                # sort the intervals by floor (insertion sort: K is a handful), then sweep:
                # a gap is an interval starting above everything reached so far
                for i in range(1, n_comp):
                    fk = fl_local[i]
                    ck = ce_local[i]
                    j = i - 1
                    while j >= 0 and fl_local[j] > fk:
                        fl_local[j + 1] = fl_local[j]
                        ce_local[j + 1] = ce_local[j]
                        j -= 1
                    fl_local[j + 1] = fk
                    ce_local[j + 1] = ck
                reach = ce_local[0]
                for i in range(1, n_comp):
                    if fl_local[i] == np.inf:
                        break
                    if fl_local[i] > reach:
                        gap_rows[r] = True
                        break
                    reach = max(reach, ce_local[i])
    return floors, ceilings, union_floor, union_ceiling, gap_rows.any()


def layer_components(names, los: LineOfSight, terrain_m, re_m, limits) -> tuple[EnvelopeComponent, ...]:
    """Envelope components of a layer (one per weapon or sensor), merged into one interval
    per cell when the union is gap-free everywhere (exact; half the work per query)."""
    if not names:
        return ()
    floors, ceilings, union_floor, union_ceiling, has_gap = _layer_intervals(
        los.floor_msl_m, np.ascontiguousarray(terrain_m, dtype=np.float32), los.ground_range_m,
        float(los.antenna_altitude_msl_m), float(re_m), np.asarray(limits, dtype=np.float64).reshape(-1, 4),
    )
    if len(names) == 1 or not has_gap:
        return (EnvelopeComponent(names[0] if len(names) == 1 else "union", union_floor, union_ceiling),)
    return tuple(EnvelopeComponent(name, floors[k], ceilings[k]) for k, name in enumerate(names))


def unit_max_range_m(figures: UnitFigures) -> float:
    """A unit's farthest range, sensor or weapon: what its line of sight is computed to. [m]"""
    return max([figures.detection_range_km or 0.0] + [w.max_range_km for w in figures.weapons]) * 1000.0


def build_unit_envelope(
    grid: AnalysisGrid,
    figures: UnitFigures,
    k_factor: float,
    *,
    earth_radius_m: float = EARTH_MEAN_RADIUS_M,
    cache: EnvelopeCache | None = None,
    plan_range_m: float | None = None,
    planned: "Callable[[], RayPlan] | None" = None,
) -> UnitEnvelope:
    """Detection and engagement envelopes of one unit (see the module docstring);
    ``plan_range_m`` and ``planned``: see :func:`~simulator.line_of_sight.compute_line_of_sight`."""
    max_range_m = unit_max_range_m(figures)
    if max_range_m <= 0:
        raise AdcovError(f"unit {figures.unit_id}: no range to compute (no detection or weapon range known)")
    los = compute_line_of_sight(
        grid,
        figures.lat_deg,
        figures.lon_deg,
        figures.antenna_height_m,
        k_factor,
        max_range_m,
        earth_radius_m=earth_radius_m,
        cache=cache,
        plan_range_m=plan_range_m,
        planned=planned,
    )
    re_m = effective_radius_m(k_factor, earth_radius_m)
    rows, cols = los.window
    terrain = analysis_terrain(grid, rows.start, rows.stop, cols.start, cols.stop)
    layers: dict[str, tuple[EnvelopeComponent, ...]] = {}
    if figures.detection_range_km:
        layers["detection"] = layer_components(
            [figures.detection_name], los, terrain, re_m, [(0.0, figures.detection_range_km * 1000.0, 0.0, math.inf)]
        )
    else:
        layers["detection"] = ()
    layers["engagement"] = layer_components(
        [w.id for w in figures.weapons], los, terrain, re_m,
        [(w.min_range_km * 1000.0, w.max_range_km * 1000.0, w.min_target_altitude_agl_m, w.max_target_altitude_msl_m)
         for w in figures.weapons],
    )
    return UnitEnvelope(figures.unit_id, figures, los, layers)

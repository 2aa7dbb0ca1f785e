"""What the GUI draws, computed from a :class:`~gui.state.ViewState` and the simulator API.

No Qt here, and no physics: every number comes from a :mod:`simulator` call (coverage
queries, comparisons, figures, envelopes); this module only chooses which call answers the
current view and turns the answer into pictures -- a ``uint8`` index image plus a 256-entry
RGBA lookup table (the cheapest thing pyqtgraph draws), a legend and the stats text.

Colours are the Okabe & Ito (2008) colour-blind-safe palette: lost = vermillion, kept = blue,
gained = bluish green; units and systems take the palette in order.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from gui.state import ALTITUDE_MAX_M, ALTITUDE_MIN_M, EDITABLE_FIELDS, ViewState
from simulator.api import load_scenario_as_of
from simulator.cache import EnvelopeCache
from simulator.compare import compare_coverages, coverage_reusing, require_same_grid
from simulator.coverage import (
    CancelToken,
    Coverage,
    UnitEnvelope,
    build_coverage,
    build_unit_envelope,
    change_index_and_area_m2,
    plan_range_m_for,
)
from simulator.errors import AdcovError, ComputationCancelled
from simulator.figures import UnitFigures, resolve_unit_figures
from simulator.geometry import WGS84_GEOD
from simulator.scenario import Scenario, UnitSpec, load_scenario

ProgressCallback = Callable[[float, str], None]

# --------------------------------------------------------------------------- colours

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
LOST = OKABE_ITO["vermillion"]
KEPT = OKABE_ITO["blue"]
GAINED = OKABE_ITO["bluish_green"]
COVERED = OKABE_ITO["blue"]
#: Units take these in order in the sole / which-unit views (dark blue before sky blue, which
#: is too close to the sea's pale blue).
CATEGORY_COLOURS = (
    OKABE_ITO["orange"],
    OKABE_ITO["blue"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["yellow"],
    OKABE_ITO["black"],
)
#: Systems (markers in the coverage, depth and difference views) take these in order: none is
#: the coverage blue, the difference view's vermillion / blue / green, or depth-1 yellow.
SYSTEM_COLOURS = (
    OKABE_ITO["orange"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
    OKABE_ITO["yellow"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["blue"],
)
#: Depth 1, 2, 3, ... (viridis, colour-blind safe and monotone in lightness).
DEPTH_COLOURS = ("#FDE725", "#7AD151", "#22A884", "#2A788E", "#414487", "#440154")
#: Cells covered by two or more units in the sole-coverage view.
SHARED = "#7F7F7F"
SEA = (214, 230, 241)
COAST = (60, 72, 84)

#: Overlay opacity (0-255) of filled areas; outlines are opaque.
FILL_ALPHA = 135
#: Altitudes of the area-vs-altitude plot. [m]
CURVE_ALTITUDES_M = tuple(float(a) for a in np.geomspace(ALTITUDE_MIN_M, ALTITUDE_MAX_M, 31))


def rgba(hex_colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), int(alpha))


@dataclass(frozen=True)
class LegendEntry:
    """One legend line: a swatch (``kind`` fill / outline / marker / line) and its text."""

    label: str
    rgba: tuple[int, int, int, int]
    kind: str = "fill"


@dataclass(frozen=True)
class Overlay:
    """The coverage overlay: ``index`` (rows, cols) uint8 into ``lut`` (256, 4) uint8 RGBA."""

    index: np.ndarray
    lut: np.ndarray
    legend: tuple[LegendEntry, ...]
    title: str


def _lut(entries: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    lut = np.zeros((256, 4), np.uint8)
    for i, colour in entries.items():
        lut[i] = colour
    return lut


# --------------------------------------------------------------------------- terrain picture


def terrain_rgb(elevation_m: np.ndarray, cell_size_m: tuple[float, float]) -> np.ndarray:
    """Hillshaded terrain for the base map, uint8 (rows, cols, 3); sea flat pale blue.

    Land: a light warm tint darkening with height, times a Lambertian hillshade (sun from
    the north-west, 45 degrees up; relief exaggerated 3x so 1 km cells still show it). Sea
    (terrain <= 0 m, the DEM's sea level): flat :data:`SEA`. Cosmetic only.
    """
    z = np.asarray(elevation_m, dtype=np.float64)
    dx_m, dy_m = (max(float(v), 1e-9) for v in cell_size_m)
    gy, gx = np.gradient(z * 3.0, dy_m, dx_m)  # rows run south (gy: d/d(south))
    # normal of the surface (east, north, up); rows increase southwards
    nx, ny, nz = -gx, gy, np.ones_like(z)
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    az, alt = math.radians(315.0), math.radians(45.0)
    sun = (math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt))
    shade = np.clip((nx * sun[0] + ny * sun[1] + nz * sun[2]) / norm, 0.0, 1.0)
    top = max(float(np.percentile(z[z > 0], 99)) if np.any(z > 0) else 1.0, 1.0)
    t = np.clip(z / top, 0.0, 1.0)[..., None]
    low = np.array([236.0, 231.0, 214.0])
    high = np.array([170.0, 150.0, 122.0])
    tint = low * (1 - t) + high * t
    light = (0.55 + 0.45 * shade / max(sun[2], 1e-9))[..., None]
    land = np.clip(tint * np.clip(light, 0.0, 1.15), 0, 255)
    sea = z <= 0.0
    out = np.where(sea[..., None], np.array(SEA, dtype=np.float64), land)
    return np.ascontiguousarray(out.astype(np.uint8))


#: The context picture (terrain around the analysis grid) is at most this many pixels across.
CONTEXT_MAX_PX = 1200
#: ... and reaches this fraction of the grid's size past each of its edges (within the DEM).
CONTEXT_MARGIN = 0.6


def context_picture(grid, max_px: int = CONTEXT_MAX_PX, margin: float = CONTEXT_MARGIN):
    """Hillshaded terrain around the analysis grid, from a decimated read of the DEM, so the
    map is not a void where the analysis stops: ``(rgba uint8 (rows, cols, 4), transform)``
    with the transform in the grid's CRS; transparent where the DEM has no data (beyond it).
    Cosmetic only: nothing is computed on it."""
    from affine import Affine

    source = grid.terrain
    dem_rows, dem_cols = source.shape
    span_r, span_c = grid.n_rows * grid.factor, grid.n_cols * grid.factor
    r0 = max(int(grid.row_off - margin * span_r), 0)
    r1 = min(int(grid.row_off + span_r + margin * span_r), dem_rows)
    c0 = max(int(grid.col_off - margin * span_c), 0)
    c1 = min(int(grid.col_off + span_c + margin * span_c), dem_cols)
    if r1 <= r0 or c1 <= c0:
        return None
    step = max(1, math.ceil(max(r1 - r0, c1 - c0) / max_px))
    rows, cols = np.arange(r0, r1, step), np.arange(c0, c1, step)
    if hasattr(source, "read_lattice"):
        elevation = source.read_lattice(rows, cols)
    else:  # a Terrain held in memory
        elevation = np.asarray(source.elevation_m, dtype=np.float32)[np.ix_(rows, cols)]
    missing = ~np.isfinite(elevation)
    dem_ew_m, dem_ns_m = grid.dem_cell_size_m
    rgb = terrain_rgb(np.where(missing, 0.0, elevation), (dem_ew_m * step, dem_ns_m * step))
    rgb[coastline(np.where(missing, 0.0, elevation))] = COAST
    alpha = np.where(missing, 0, 255).astype(np.uint8)[..., None]
    transform = source.transform @ Affine.translation(c0, r0) @ Affine.scale(step)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=2)), transform


def coastline(elevation_m: np.ndarray) -> np.ndarray:
    """Land cells next to sea (4-neighbours), bool -- drawn above the overlay."""
    land = np.asarray(elevation_m) > 0.0
    edge = np.zeros_like(land)
    edge[1:, :] |= land[1:, :] & ~land[:-1, :]
    edge[:-1, :] |= land[:-1, :] & ~land[1:, :]
    edge[:, 1:] |= land[:, 1:] & ~land[:, :-1]
    edge[:, :-1] |= land[:, :-1] & ~land[:, 1:]
    return edge


# --------------------------------------------------------------------------- the session


@dataclass
class ComparisonSide:
    """The scenario the difference view compares with, and its coverage (as of its date)."""

    scenario: Scenario
    coverage: Coverage

    @property
    def name(self) -> str:
        return self.scenario.name


@dataclass
class Session:
    """A loaded scenario: the envelopes of every unit of the file, and of edited units.

    ``coverage`` holds the envelope of each unit of ``scenario.units`` with its figures from
    the file; ``edited`` holds envelopes computed for edits (key: unit id and the edited
    fields), so that undoing an edit or coming back to it costs nothing.
    """

    scenario: Scenario
    coverage: Coverage
    catalog: object
    range_mode: str = "nominal"
    edited: dict = field(default_factory=dict)
    comparison: ComparisonSide | None = None
    #: depth rasters of recent (units, layer, altitude) questions: the overlay and the stats
    #: of one redraw ask for the same ones (:func:`coverage_depth`)
    depth_memo: dict = field(default_factory=dict, repr=False, compare=False)

    # -- units --------------------------------------------------------------------------
    @property
    def units(self) -> tuple[UnitSpec, ...]:
        return self.scenario.units

    @property
    def unit_ids(self) -> list[str]:
        return [u.id for u in self.scenario.units]

    def unit(self, unit_id: str) -> UnitSpec:
        return self.scenario.unit(unit_id)

    def unit_index(self, unit_id: str) -> int:
        return self.unit_ids.index(unit_id)

    def unit_colour(self, unit_id: str) -> str:
        return CATEGORY_COLOURS[self.unit_index(unit_id) % len(CATEGORY_COLOURS)]

    def system_ids(self) -> list[str]:
        return list(dict.fromkeys(u.system_id for u in self.units))

    def system_colour(self, system_id: str) -> str:
        return SYSTEM_COLOURS[self.system_ids().index(system_id) % len(SYSTEM_COLOURS)]

    def default_state(self) -> dict:
        """State fields a newly opened scenario starts from (what ``adcov run`` computes)."""
        return {"as_of": self.scenario.as_of, "withdrawn": frozenset(), "edits": {}, "selected_unit": None}

    # -- figures and envelopes ----------------------------------------------------------
    def unit_with_edits(self, unit_id: str, fields) -> UnitSpec:
        unit = self.unit(unit_id)
        changes = {k: float(v) for k, v in dict(fields or {}).items() if k in EDITABLE_FIELDS}
        return dataclasses.replace(unit, **changes) if changes else unit

    def figures_for(self, unit_id: str, fields=None) -> UnitFigures:
        """The unit's figures (:func:`simulator.figures.resolve_unit_figures`), with edits."""
        if not fields:
            return self.coverage.envelopes[unit_id].figures
        unit = self.unit_with_edits(unit_id, fields)
        return resolve_unit_figures(unit, self.catalog.get(unit.system_id), self.scenario.default_antenna_height_m, self.range_mode)

    @staticmethod
    def _edit_key(unit_id: str, fields) -> tuple:
        return (unit_id, tuple(sorted((k, float(v)) for k, v in dict(fields).items())))

    def has_envelope(self, unit_id: str, fields=None) -> bool:
        return not fields or self._edit_key(unit_id, fields) in self.edited

    def build_edited_envelope(self, unit_id: str, fields, *, cache: EnvelopeCache | None = None) -> UnitEnvelope:
        """Envelope of one unit with edited site/antenna (:func:`build_unit_envelope`, same grid).

        Thread-safe (no shared state is written): call it off the GUI thread, then
        :meth:`store_edited_envelope` on the GUI thread.
        """
        figures = self.figures_for(unit_id, fields)
        unit = self.unit_with_edits(unit_id, fields)
        plan_m = plan_range_m_for(unit, self.catalog.get(unit.system_id), self.scenario.default_antenna_height_m)
        return build_unit_envelope(self.coverage.grid, figures, self.scenario.k_factor, cache=cache, plan_range_m=plan_m)

    def store_edited_envelope(self, unit_id: str, fields, envelope: UnitEnvelope) -> None:
        self.edited[self._edit_key(unit_id, fields)] = envelope

    def envelope(self, unit_id: str, edits=None) -> UnitEnvelope:
        """The envelope for the unit's current edits, or the file's while that one is pending."""
        fields = (edits or {}).get(unit_id)
        if fields:
            env = self.edited.get(self._edit_key(unit_id, fields))
            if env is not None:
                return env
        return self.coverage.envelopes[unit_id]

    def pending_edits(self, state: ViewState) -> list[str]:
        """Edited units whose envelope is not computed yet."""
        return [uid for uid, fields in state.edits.items() if uid in self.coverage.envelopes and not self.has_envelope(uid, fields)]

    # -- which units count --------------------------------------------------------------
    def active_ids(self, state: ViewState) -> list[str]:
        """Units checked in the list and active on the state's date (``Scenario.active_as_of``)."""
        dated = self.scenario.active_as_of(state.as_of) if state.as_of is not None else self.scenario
        return [uid for uid in dated.unit_ids if uid not in state.withdrawn]

    def event_dates(self) -> list[_dt.date]:
        """Days on which a unit of the scenario is deployed or withdrawn, sorted."""
        return sorted({d for u in self.units for d in (u.deployed, u.withdrawn) if d is not None})

    def current_coverage(self, state: ViewState) -> Coverage:
        """The coverage the GUI shows: active units, edited envelopes where edited."""
        ids = self.active_ids(state)
        envelopes = {uid: self.envelope(uid, state.edits) for uid in ids}
        return dataclasses.replace(self.coverage, envelopes=envelopes, scenario_name=f"{self.scenario.name} (current)")

    def loaded_ids(self) -> list[str]:
        """Units of the scenario as loaded: those active on its ``as_of`` (as ``adcov run``)."""
        day = self.scenario.as_of
        return list(self.scenario.active_as_of(day).unit_ids if day is not None else self.scenario.unit_ids)

    def loaded_coverage(self) -> Coverage:
        return dataclasses.replace(
            self.coverage.subset(self.loaded_ids()), scenario_name=f"{self.scenario.name} (as loaded)"
        )

    def timeline_bounds(self) -> tuple[_dt.date, _dt.date] | None:
        """First and last day worth showing on the "as of" slider (None: no dates at all)."""
        days = [d for u in self.units for d in (u.deployed, u.withdrawn) if d is not None]
        if self.scenario.as_of is not None:
            days.append(self.scenario.as_of)
        if self.comparison is not None and self.comparison.scenario.as_of is not None:
            days.append(self.comparison.scenario.as_of)
        if not days:
            return None
        first, last = min(days), max(days)
        return first - _dt.timedelta(days=365), last + _dt.timedelta(days=365)

    # -- the difference view ------------------------------------------------------------
    def difference_sides(self, state: ViewState) -> tuple[Coverage, Coverage, str, str]:
        """(baseline, variant, baseline name, variant name) of the difference view."""
        current = self.current_coverage(state)
        current_name = f"{self.scenario.name} (current)"
        if state.difference_against == "comparison" and self.comparison is not None:
            return current, self.comparison.coverage, current_name, self.comparison.name
        return self.loaded_coverage(), current, f"{self.scenario.name} (as loaded)", current_name


def load_session(
    path: str | Path,
    *,
    cache: EnvelopeCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    range_mode: str = "nominal",
    resolution_m: float | str | None = None,
) -> Session:
    """Load a scenario and build the envelopes of all its units (long: run it in a worker);
    ``resolution_m`` replaces the scenario's analysis spacing ("native" or metres)."""
    from simulator.catalog import load_catalog

    if progress:
        progress(0.0, f"reading {Path(path).name}")
    scenario = load_scenario(path)
    if resolution_m is not None:
        scenario = dataclasses.replace(scenario, resolution_m=resolution_m)
    if cancel is not None and cancel.cancelled:
        raise ComputationCancelled("computation cancelled")
    coverage = build_coverage(scenario, range_mode=range_mode, cache=cache, progress=progress, cancel=cancel)
    return Session(scenario=scenario, coverage=coverage, catalog=load_catalog(), range_mode=range_mode)


def load_comparison(
    path: str | Path,
    reference: Coverage,
    *,
    cache: EnvelopeCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    range_mode: str = "nominal",
) -> ComparisonSide:
    """Load the variant to compare with: its units as of its ``as_of`` (as ``adcov compare``),
    reusing the reference's envelopes for unchanged units."""
    scenario = load_scenario_as_of(path)
    if coverage_reusing is not None:
        coverage = coverage_reusing(scenario, reference, range_mode=range_mode, cache=cache, progress=progress, cancel=cancel)
    else:  # pragma: no cover - until simulator/compare.py exists
        coverage = build_coverage(scenario, range_mode=range_mode, cache=cache, progress=progress, cancel=cancel)
        if coverage.grid.key != reference.grid.key:
            raise AdcovError(f"{path}: its analysis grid differs from the open scenario's; a comparison needs the same terrain and area")
    return ComparisonSide(scenario=scenario, coverage=coverage)


# --------------------------------------------------------------------------- overlays


DEPTH_MEMO_ENTRIES = 8


def coverage_depth(session: Session, coverage: Coverage, layer: str, altitude_m: float, altitude_ref: str) -> np.ndarray:
    """``coverage.depth(...)`` (read-only), remembered for the last few questions.

    The key holds the identity of each envelope object (kept alive in the entry, so an id is
    never reused while remembered): an edited or withdrawn unit is a different key."""
    envelopes = tuple(coverage.envelopes.items())
    key = (tuple((uid, id(env)) for uid, env in envelopes), id(coverage.grid), layer, float(altitude_m), altitude_ref)
    memo = session.depth_memo
    entry = memo.pop(key, None)
    if entry is None:
        depth = coverage.depth(layer, altitude_m, altitude_ref)
        depth.flags.writeable = False
        entry = (envelopes, coverage.grid, depth)
    memo[key] = entry  # most recent last
    while len(memo) > DEPTH_MEMO_ENTRIES:
        memo.pop(next(iter(memo)))
    return entry[2]


def _alt_text(altitude_m: float, altitude_ref: str) -> str:
    return f"{altitude_m:,.0f} m {altitude_ref.upper()}"


def overlay_for(session: Session, state: ViewState) -> Overlay:
    """The overlay of the state's view, layer, altitude and units."""
    layer, alt, ref = state.layer, state.altitude_m, state.altitude_ref
    where = f"{layer}, {_alt_text(alt, ref)}"
    if state.view == "difference":
        return difference_overlay(session, state)
    current = session.current_coverage(state)
    if state.view == "coverage":
        covered = coverage_depth(session, current, layer, alt, ref) > 0
        return Overlay(
            covered.view(np.uint8),
            _lut({1: rgba(COVERED, FILL_ALPHA)}),
            (LegendEntry(f"covered ({where})", rgba(COVERED, FILL_ALPHA)),),
            f"Coverage — {where}",
        )
    if state.view == "depth":
        depth = coverage_depth(session, current, layer, alt, ref)
        n = len(DEPTH_COLOURS)
        index = np.minimum(depth, n).astype(np.uint8)
        top = int(depth.max()) if depth.size else 0
        legend = []
        for d in range(1, min(max(top, 1), n) + 1):
            label = f"{d}+ units" if d == n and top > n else f"{d} unit{'s' if d > 1 else ''}"
            legend.append(LegendEntry(label, rgba(DEPTH_COLOURS[d - 1], FILL_ALPHA + 40)))
        return Overlay(index, _lut({d: rgba(DEPTH_COLOURS[d - 1], FILL_ALPHA + 40) for d in range(1, n + 1)}),
                       tuple(legend), f"Depth: units covering each cell — {where}")
    if state.view == "sole":
        depth = coverage_depth(session, current, layer, alt, ref)
        index = (depth >= 2).view(np.uint8)
        lut = {1: rgba(SHARED, 90)}
        legend = [LegendEntry("covered by 2+ units", rgba(SHARED, 90))]
        for uid in current.unit_ids:
            # a unit alone covers a cell where it covers it and the depth is 1 (the same cells
            # as Coverage.sole_coverage), found inside its own window
            env = current.envelopes[uid]
            rows, cols = env.window
            alone = current.unit_covered_in_window(uid, layer, alt, ref) & (depth[rows, cols] == 1)
            k = 2 + session.unit_index(uid)
            index[rows, cols][alone] = k
            colour = rgba(session.unit_colour(uid), FILL_ALPHA + 50)
            lut[k] = colour
            legend.append(LegendEntry(f"only {uid}", colour))
        return Overlay(index, _lut(lut), tuple(legend), f"Sole coverage: what one unit alone covers — {where}")
    if state.view == "which-unit":
        index = (coverage_depth(session, current, layer, alt, ref) > 0).view(np.uint8)
        lut = {1: rgba(SHARED, 75)}
        legend = [LegendEntry("covered (any unit)", rgba(SHARED, 75))]
        for uid in current.unit_ids:
            # the unit's window holds all its cells: the outline is found there alone
            rows, cols = current.envelopes[uid].window
            window = current.unit_covered_in_window(uid, layer, alt, ref)
            if not window.any():
                legend.append(LegendEntry(f"{uid} (covers nothing here)", rgba(session.unit_colour(uid)), "outline"))
                continue
            k = 2 + session.unit_index(uid)
            sub = index[rows, cols]
            sub[outline_cells(window, 3)] = k
            lut[k] = rgba(session.unit_colour(uid))
            legend.append(LegendEntry(f"edge of {uid}'s coverage", rgba(session.unit_colour(uid)), "outline"))
        return Overlay(index, _lut(lut), tuple(legend), f"Which unit covers where — {where}")
    raise AdcovError(f"unknown view {state.view!r}")


def outline_cells(mask: np.ndarray, width: int) -> np.ndarray:
    """The cells of ``mask`` within 4-neighbour (L1) distance ``width`` of a cell outside it,
    the grid's outside counted as outside: ``mask & ~binary_erosion(mask, cross, width,
    border_value=0)`` in scipy's terms, the erosion compiled (several times faster than
    scipy's on full-disk grids)."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"outline_cells needs a 2-D mask, not shape {mask.shape}")
    eroded, spare = mask.copy(), np.empty_like(mask)
    for _ in range(max(int(width), 0)):
        _erode_cross_once(eroded, spare)
        eroded, spare = spare, eroded
    return mask & ~eroded


@numba.njit(cache=True, parallel=True)
def _erode_cross_once(src, dst):
    """One erosion by the 4-neighbour cross, outside the grid counted as empty."""
    rows, cols = src.shape
    for r in numba.prange(rows):
        for c in range(cols):
            dst[r, c] = (
                src[r, c] and 0 < r < rows - 1 and 0 < c < cols - 1
                and src[r - 1, c] and src[r + 1, c] and src[r, c - 1] and src[r, c + 1]
            )


def difference_masks(session: Session, state: ViewState, *, marginal: bool = True):
    """The comparison API's answer for the difference view (:func:`compare_coverages`);
    ``marginal=False`` skips the marginal ranking (the map does not show it)."""
    baseline, variant, b_name, v_name = session.difference_sides(state)
    comparison = compare_coverages(
        baseline, variant, altitudes_m=[state.altitude_m], altitude_ref=state.altitude_ref,
        layers=[state.layer], baseline_name=b_name, variant_name=v_name, marginal=marginal,
    )
    return comparison, comparison.change(state.layer, state.altitude_m)


def difference_overlay(session: Session, state: ViewState) -> Overlay:
    """Lost / kept / gained cells of :func:`difference_masks`, from the remembered depth
    rasters in one pass (:func:`~simulator.coverage.change_index_and_area_m2`; the same cells
    and km² as ``compare_coverages``, which the tests check) rather than a full comparison
    at every altitude step."""
    baseline, variant, b_name, v_name = session.difference_sides(state)
    require_same_grid(baseline, variant, b_name, v_name)
    layer, alt, ref = state.layer, state.altitude_m, state.altitude_ref
    before = coverage_depth(session, baseline, layer, alt, ref)
    after = coverage_depth(session, variant, layer, alt, ref)
    index, areas_m2 = change_index_and_area_m2(before, after, baseline.grid.cell_area_m2)
    lost_km2, kept_km2, gained_km2 = (float(a) / 1e6 for a in areas_m2[1:])
    lut = {1: rgba(LOST, FILL_ALPHA + 60), 2: rgba(KEPT, FILL_ALPHA + 20), 3: rgba(GAINED, FILL_ALPHA + 60)}
    legend = (
        LegendEntry(f"lost: {lost_km2:,.0f} km²", lut[1]),
        LegendEntry(f"kept: {kept_km2:,.0f} km²", lut[2]),
        LegendEntry(f"gained: {gained_km2:,.0f} km²", lut[3]),
    )
    where = f"{layer}, {_alt_text(alt, ref)}"
    title = f"Difference: {b_name} → {v_name} — {where}"
    return Overlay(index, _lut(lut), legend, title)


# --------------------------------------------------------------------------- stats


@dataclass(frozen=True)
class Stats:
    """Areas for the current settings (all from ``Coverage.covered_km2``). [km²]"""

    layer: str
    altitude_m: float
    altitude_ref: str
    active_units: tuple[str, ...]
    current_km2: float
    loaded_km2: float
    comparison_km2: float | None
    comparison_name: str | None
    scenario_name: str

    @property
    def change_km2(self) -> float:
        return self.current_km2 - self.loaded_km2

    @property
    def change_percent(self) -> float | None:
        return None if self.loaded_km2 <= 0 else 100.0 * self.change_km2 / self.loaded_km2

    def text(self) -> str:
        where = f"{self.layer}, {_alt_text(self.altitude_m, self.altitude_ref)}"
        lines = [f"<b>Covered ({where})</b>: {self.current_km2:,.0f} km² with {len(self.active_units)} unit(s)"]
        pct = self.change_percent
        pct_text = "" if pct is None else f" ({pct:+.1f} %)"
        lines.append(
            f"Baseline {self.scenario_name} as loaded: {self.loaded_km2:,.0f} km²; "
            f"change {self.change_km2:+,.0f} km²{pct_text}"
        )
        if self.comparison_km2 is not None:
            d = self.comparison_km2 - self.current_km2
            lines.append(f"Comparison {self.comparison_name}: {self.comparison_km2:,.0f} km² ({d:+,.0f} km² vs current)")
        return "<br>".join(lines)


def stats_for(session: Session, state: ViewState) -> Stats:
    layer, alt, ref = state.layer, state.altitude_m, state.altitude_ref
    current = session.current_coverage(state)
    loaded = session.loaded_coverage()
    comparison_km2 = None
    if session.comparison is not None:
        other = session.comparison.coverage
        comparison_km2 = other.area_km2(coverage_depth(session, other, layer, alt, ref))
    return Stats(
        layer=layer,
        altitude_m=alt,
        altitude_ref=ref,
        active_units=tuple(current.unit_ids),
        current_km2=current.area_km2(coverage_depth(session, current, layer, alt, ref)),
        loaded_km2=loaded.area_km2(coverage_depth(session, loaded, layer, alt, ref)),
        comparison_km2=comparison_km2,
        comparison_name=session.comparison.name if session.comparison else None,
        scenario_name=session.scenario.name,
    )


def area_curve(coverage: Coverage, layer: str, altitude_ref: str, altitudes_m: Sequence[float] = CURVE_ALTITUDES_M) -> np.ndarray:
    """Covered area at each altitude (``Coverage.covered_km2``). [km²]"""
    return np.array([coverage.covered_km2(layer, a, altitude_ref) for a in altitudes_m])


# --------------------------------------------------------------------------- read-outs


def cell_info(session: Session, state: ViewState, row: int, col: int) -> dict:
    """What the cursor read-out shows for one analysis cell."""
    grid = session.coverage.grid
    lon, lat = grid.pixel_to_lonlat(row, col)
    terrain_m = float(grid.elevation_m[row, col])
    current = session.current_coverage(state)
    covering = current.units_at(row, col, state.layer, state.altitude_m, state.altitude_ref)
    floor_m, floor_unit = math.inf, None
    for uid in current.unit_ids:
        env = current.envelopes[uid]
        rs, cs = env.window
        if rs.start <= row < rs.stop and cs.start <= col < cs.stop:
            floor, ceiling = env.floor_ceiling(state.layer)
            value = float(floor[row - rs.start, col - cs.start])
            if value < floor_m and value <= float(ceiling[row - rs.start, col - cs.start]):
                floor_m, floor_unit = value, uid
    return {
        "row": row,
        "col": col,
        "lon_deg": float(lon),
        "lat_deg": float(lat),
        "terrain_m": terrain_m,
        "sea": terrain_m <= 0.0,
        "covering_units": covering,
        "floor_msl_m": None if not math.isfinite(floor_m) else floor_m,
        "floor_unit": floor_unit,
    }


def format_lat_lon(lat_deg: float, lon_deg: float) -> str:
    return f"{abs(lat_deg):.4f}°{'N' if lat_deg >= 0 else 'S'} {abs(lon_deg):.4f}°{'E' if lon_deg >= 0 else 'W'}"


def cell_info_text(info: dict, state: ViewState) -> str:
    ground = "sea" if info["sea"] else f"terrain {info['terrain_m']:,.0f} m"
    parts = [format_lat_lon(info["lat_deg"], info["lon_deg"]), ground]
    if info["floor_msl_m"] is None:
        parts.append(f"no active unit reaches here ({state.layer})")
    else:
        agl = info["floor_msl_m"] - max(info["terrain_m"], 0.0)
        parts.append(f"floor {info['floor_msl_m']:,.0f} m MSL ({agl:,.0f} m above ground/sea) by {info['floor_unit']}")
    covering = info["covering_units"]
    parts.append(
        f"at {_alt_text(state.altitude_m, state.altitude_ref)}: "
        + (", ".join(covering) if covering else "not covered")
    )
    return " · ".join(parts)


def range_ring_lonlat(lat_deg: float, lon_deg: float, radius_km: float, n: int = 181) -> tuple[np.ndarray, np.ndarray]:
    """A geodesic circle (WGS84) around a site: the nominal, terrain-blind range. [deg]"""
    az = np.linspace(0.0, 360.0, n)
    lon, lat, _ = WGS84_GEOD.fwd(np.full(n, lon_deg), np.full(n, lat_deg), az, np.full(n, radius_km * 1000.0))
    return np.asarray(lon), np.asarray(lat)


def nominal_range_km(figures: UnitFigures, layer: str) -> float | None:
    """The flat ring radius of a layer: detection range, or the longest weapon range. [km]"""
    if layer == "detection":
        return figures.detection_range_km
    ranges = [w.max_range_km for w in figures.weapons]
    return max(ranges) if ranges else None


# --------------------------------------------------------------------------- unit details


def unit_details_html(session: Session, unit_id: str, edits=None) -> str:
    """System, figures with their origin and sources, dates and antenna height of a unit."""
    unit = session.unit_with_edits(unit_id, (edits or {}).get(unit_id))
    figures = session.figures_for(unit_id, (edits or {}).get(unit_id))
    system = session.catalog.get(unit.system_id)

    def esc(text) -> str:
        return html.escape(str(text), quote=False)  # &, < and >: element content

    rows = [
        f"<b>{esc(unit.id)}</b> — {esc(system.name)}{' (' + esc(system.nato_name) + ')' if system.nato_name else ''}",
        f"Status: {esc(unit.status.replace('_', ' '))}",
        f"Site: {format_lat_lon(unit.lat_deg, unit.lon_deg)}"
        + (f" (± {unit.position_precision_km:g} km)" if unit.position_precision_km is not None else ""),
        f"Antenna: {figures.antenna_height_m:g} m above ground ({esc(figures.antenna_height_origin)})",
        "Dates: deployed " + (unit.deployed.isoformat() if unit.deployed else "unknown")
        + ", withdrawn " + (unit.withdrawn.isoformat() if unit.withdrawn else "—"),
    ]
    if unit.dates_note:
        rows.append(f"<i>{esc(unit.dates_note)}</i>")
    det = figures.detection_range_km
    det_src = ", ".join(figures.sources.get("detection_range_km", []))
    rows.append(
        f"Detection: {det:g} km ({esc(figures.detection_origin)}{'; sources ' + esc(det_src) if det_src else ''})"
        if det else "Detection: unknown"
    )
    for w in figures.weapons:
        ceiling = "no ceiling known" if math.isinf(w.max_target_altitude_msl_m) else f"{w.max_target_altitude_msl_m:g} m"
        srcs = sorted({s for k, v in figures.sources.items() if k.startswith(w.id + ".") for s in v})
        rows.append(
            f"Weapon {esc(w.id)} {esc(w.missile)}: {w.min_range_km:g}–{w.max_range_km:g} km, "
            f"{w.min_target_altitude_agl_m:g} m AGL – {ceiling}"
            f" (max range {esc(w.origin.get('max_range_km', '?'))}{'; sources ' + esc(', '.join(srcs)) if srcs else ''})"
        )
    for note in figures.defaults_used:
        rows.append(f"<span style='color:#8a5a00'>default: {esc(note)}</span>")
    if unit.sources:
        rows.append("Placement sources: " + esc(", ".join(unit.sources)))
    if unit.notes:
        rows.append(f"<i>{esc(unit.notes)}</i>")
    return "<br>".join(rows)




# --------------------------------------------------------------------------- saving


def variant_arguments(session: Session, state: ViewState) -> dict:
    """Keyword arguments of :func:`simulator.variant.write_variant_scenario` for the state."""
    ids = set(session.unit_ids)
    withdraw = [uid for uid in session.unit_ids if uid in state.withdrawn]
    override = {uid: dict(fields) for uid, fields in state.edits.items() if uid in ids and fields}
    return {"withdraw": withdraw, "override": override, "as_of": state.as_of}


def save_variant(session: Session, state: ViewState, path: str | Path) -> Scenario:
    """Write the state as a scenario file extending the open one (see :mod:`simulator.variant`)."""
    from simulator.variant import write_variant_scenario

    args = variant_arguments(session, state)
    parts = []
    if args["withdraw"]:
        parts.append("withdraws " + ", ".join(args["withdraw"]))
    if args["override"]:
        parts.append("changes " + ", ".join(args["override"]))
    if args["as_of"] is not None:
        parts.append(f"as of {args['as_of'].isoformat()}")
    header = (
        f"Saved by adcov-gui from {session.scenario.path.name} on {_dt.date.today().isoformat()}.\n"
        f"Re-run headless: adcov run {Path(path).name}"
    )
    return write_variant_scenario(
        path, session.scenario.path, title=f"{session.scenario.name} variant: " + ("; ".join(parts) or "unchanged"),
        header=header, **args,
    )

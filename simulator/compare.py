"""Baseline vs variant coverage: area lost and gained, depth change, marginal contributions.

A comparison puts two :class:`~simulator.coverage.Coverage` objects on the *same* analysis
grid side by side and answers, per layer and target altitude:

- ``baseline_km2`` / ``variant_km2``: covered area before and after;
- ``lost_km2`` (covered before and not after), ``gained_km2`` (not before, covered after);
  since both are sums of the same geodesic cell areas, ``lost - gained = baseline - variant``;
- the depth histogram (area covered by exactly ``n`` units) before and after, and the cells
  that went from k-fold (``n >= 2``) to single coverage;
- each baseline unit's **marginal contribution**: the area that withdrawing *only* that unit
  would lose, i.e. the cells it alone covers (``Coverage.sole_coverage``).

A variant is a scenario (a file with ``extends:``/``withdraw:``/``override:``), a
:class:`Coverage`, or a list of unit ids withdrawn from the baseline. Units whose figures
(:class:`~simulator.figures.UnitFigures`), grid and refraction are identical in both reuse
the baseline's envelope object, so only changed or added units run line of sight (and the
disk cache usually has those too); a withdrawal by ids recomputes nothing.

Areas are geodesic (WGS84) sums of cell areas, ``AnalysisGrid.cell_area_m2``; polygons are
built in the grid's equal-area CRS and returned in lon/lat (EPSG:4326). Nothing here imports
Qt: the GUI, the CLI (``adcov compare``) and scripts call the same functions.

Examples
--------
>>> from simulator.compare import compare
>>> from simulator.scenario import bundled_scenario, load_scenario
>>> kurils = load_scenario(bundled_scenario("kurils-2020"))
>>> result = compare(kurils, ["iturup-s300v4", "kunashir-s300v4"], altitudes_m=[10000.0],
...                  layers=["engagement"])
>>> row = result.change("engagement", 10000.0)
>>> row.gained_km2, row.lost_km2 > 200_000
(0.0, True)
>>> result.marginal[-1].unit
'iturup-tor-m2'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from simulator.cache import EnvelopeCache
from simulator.comparison_model import POLYGON_KINDS as POLYGON_KINDS
from simulator.comparison_model import Comparison, LayerAltitudeChange, MarginalContribution
from simulator.coverage import (
    DEFAULT_ALTITUDES_M,
    LAYERS,
    CancelToken,
    Coverage,
    ProgressCallback,
    area_and_count_by_value,
    build_coverage,
    check_query,
)
from simulator.errors import AdcovError
from simulator.figures import RANGE_MODES
from simulator.progress import scaled_progress

#: Range modes a band reports, in order.
BAND_MODES = ("min", "nominal", "max")


# --------------------------------------------------------------------------- validation


def _check_query(altitudes_m, altitude_ref: str, layers) -> tuple[list[float], str, list[str]]:
    return check_query(altitudes_m, altitude_ref, layers)


def _grid_difference(a, b) -> str | None:
    """Why two analysis grids differ (None if they are the same grid)."""
    if a.key == b.key:
        return None
    reasons = []
    if a.terrain.identity != b.terrain.identity:
        names_a = ", ".join(Path(p).name for p in a.terrain.source_paths) or "in-memory terrain"
        names_b = ", ".join(Path(p).name for p in b.terrain.source_paths) or "in-memory terrain"
        reasons.append(f"terrain {names_a} ({a.terrain.identity[:12]}) vs {names_b} ({b.terrain.identity[:12]})")
    if a.area_bounds_deg != b.area_bounds_deg:
        reasons.append(f"area (west, south, east, north deg) {a.area_bounds_deg} vs {b.area_bounds_deg}")
    if (a.row_off, a.col_off, a.n_rows, a.n_cols, a.factor) != (b.row_off, b.col_off, b.n_rows, b.n_cols, b.factor):
        reasons.append(f"analysis window rows/cols {a.n_rows}x{a.n_cols} at ({a.row_off}, {a.col_off}) every {a.factor} DEM cells "
                       f"vs {b.n_rows}x{b.n_cols} at ({b.row_off}, {b.col_off}) every {b.factor}")
    return "; ".join(reasons) or "grid keys differ"


def require_same_grid(baseline: Coverage, variant: Coverage, baseline_name: str, variant_name: str) -> None:
    why = _grid_difference(baseline.grid, variant.grid)
    if why:
        raise AdcovError(
            f"cannot compare {variant_name or 'the variant'} with {baseline_name or 'the baseline'}: "
            f"their analysis grids differ ({why}); a variant must use the same terrain and area as its baseline"
        )


# --------------------------------------------------------------------------- core


def _cell_area_km2(coverage: Coverage) -> np.ndarray:
    """Cell areas in km², computed once per grid (read-only)."""
    grid = coverage.grid
    held = grid.__dict__.get("_cell_area_km2")
    if held is None:
        held = np.broadcast_to(np.asarray(grid.cell_area_m2, dtype=np.float64), grid.shape) / 1e6
        held.flags.writeable = False
        grid.__dict__["_cell_area_km2"] = held  # a frozen dataclass: cached beside its cached properties
    return held


def _depth_km2(depth: np.ndarray, cell_km2: np.ndarray) -> dict[int, float]:
    """Area per depth value ``n >= 1`` that occurs. [km²]"""
    if depth.size == 0:
        return {}
    top = int(depth.max())
    if top == 0:
        return {}
    areas, counts = area_and_count_by_value(depth, cell_km2, top + 1)
    return {int(n): float(areas[n]) for n in range(1, top + 1) if counts[n]}


def _layer_altitude_change(baseline: Coverage, variant: Coverage, layer: str, altitude_m: float, altitude_ref: str, cell_km2) -> LayerAltitudeChange:
    before = baseline.depth(layer, altitude_m, altitude_ref)
    after = variant.depth(layer, altitude_m, altitude_ref)
    covered_before, covered_after = before > 0, after > 0
    lost = covered_before & ~covered_after
    gained = ~covered_before & covered_after
    kept = covered_before & covered_after
    kfold_to_single = (before >= 2) & (after == 1)
    return LayerAltitudeChange(
        layer=layer,
        altitude_m=float(altitude_m),
        altitude_ref=altitude_ref,
        baseline_km2=baseline.area_km2(covered_before),
        variant_km2=variant.area_km2(covered_after),
        lost_km2=baseline.area_km2(lost),
        gained_km2=baseline.area_km2(gained),
        depth_km2_before=_depth_km2(before, cell_km2),
        depth_km2_after=_depth_km2(after, cell_km2),
        lost_cells=lost,
        gained_cells=gained,
        kept_cells=kept,
        kfold_to_single_cells=kfold_to_single,
        kfold_to_single_km2=baseline.area_km2(kfold_to_single),
    )


def marginal_contributions(
    coverage: Coverage,
    *,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
) -> list[MarginalContribution]:
    """Each unit's marginal contribution, ranked most costly first.

    The area lost by withdrawing only unit ``u`` is the area of the cells that ``u`` alone
    covers: ``covered(all) & ~covered(all - {u})`` is exactly ``depth == 1 and u covers``,
    the same set ``coverage.without([u])`` would give, found for every unit in one pass
    (:meth:`Coverage.sole_coverage`) instead of one query per unit.

    Parameters
    ----------
    coverage : Coverage
        The baseline.
    altitudes_m : sequence of float
        Target altitudes. [m]
    altitude_ref : {"msl", "agl"}
    layers : sequence of {"detection", "engagement"}

    Returns
    -------
    list of MarginalContribution
        Sorted by ``total_lost_km2`` descending; ties keep the coverage's unit order.
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    ids = coverage.unit_ids
    cell_km2 = _cell_area_km2(coverage)
    lost = {uid: {layer: {} for layer in layers} for uid in ids}
    for layer in layers:
        for altitude in altitudes:
            sole = coverage.sole_coverage(layer, altitude, altitude_ref)
            alone = sole >= 0
            per_unit = np.bincount(sole[alone], weights=cell_km2[alone], minlength=len(ids))
            for i, uid in enumerate(ids):
                lost[uid][layer][altitude] = float(per_unit[i])
    result = [
        MarginalContribution(uid, lost[uid], float(sum(v for by_alt in lost[uid].values() for v in by_alt.values())))
        for uid in ids
    ]
    order = {uid: i for i, uid in enumerate(ids)}
    return sorted(result, key=lambda m: (-m.total_lost_km2, order[m.unit]))


def _unit_sets(baseline: Coverage, variant: Coverage) -> tuple[list[str], list[str], list[str]]:
    withdrawn = [u for u in baseline.unit_ids if u not in variant.envelopes]
    added = [u for u in variant.unit_ids if u not in baseline.envelopes]
    changed = []
    same_sphere = (baseline.k_factor, baseline.earth_radius_m) == (variant.k_factor, variant.earth_radius_m)
    for uid in baseline.unit_ids:
        if uid not in variant.envelopes:
            continue
        before, after = baseline.envelopes[uid], variant.envelopes[uid]
        if before is after:
            continue
        if not same_sphere or before.figures != after.figures:
            changed.append(uid)
    return withdrawn, added, changed


def compare_coverages(
    baseline: Coverage,
    variant: Coverage,
    *,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    baseline_name: str = "",
    variant_name: str = "",
    marginal: bool = True,
) -> Comparison:
    """Compare two coverages on the same analysis grid (no line of sight runs).

    Parameters
    ----------
    baseline, variant : Coverage
        Both on the same :class:`~simulator.geometry.AnalysisGrid` (same terrain content,
        window and area); otherwise :class:`AdcovError` says what differs.
    altitudes_m : sequence of float
        Target altitudes. [m]
    altitude_ref : {"msl", "agl"}
        Reference of ``altitudes_m``.
    layers : sequence of {"detection", "engagement"}
    baseline_name, variant_name : str
        Labels for output; default: the coverages' scenario names.
    marginal : bool
        Also rank the baseline units' marginal contributions (False leaves
        ``Comparison.marginal`` empty: an interactive view that shows only the change).

    Returns
    -------
    Comparison
        One :class:`LayerAltitudeChange` per layer and altitude (layer-major order) and the
        baseline units' marginal contributions, most costly first.

    Notes
    -----
    ``lost = covered_before & ~covered_after`` and ``gained = ~covered_before & covered_after``
    are disjoint, and ``covered_before = lost | kept``, ``covered_after = gained | kept``, so
    ``lost_km2 - gained_km2 = baseline_km2 - variant_km2`` up to floating-point summation
    (the same geodesic cell areas are summed on both sides).
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    baseline_name = baseline_name or baseline.scenario_name or "baseline"
    variant_name = variant_name or variant.scenario_name or "variant"
    require_same_grid(baseline, variant, baseline_name, variant_name)
    cell_km2 = _cell_area_km2(baseline)
    changes = [
        _layer_altitude_change(baseline, variant, layer, altitude, altitude_ref, cell_km2)
        for layer in layers
        for altitude in altitudes
    ]
    withdrawn, added, changed = _unit_sets(baseline, variant)
    return Comparison(
        baseline=baseline,
        variant=variant,
        baseline_name=baseline_name,
        variant_name=variant_name,
        withdrawn_units=withdrawn,
        added_units=added,
        changed_units=changed,
        altitude_ref=altitude_ref,
        altitudes_m=altitudes,
        layers=layers,
        changes=changes,
        marginal=marginal_contributions(baseline, altitudes_m=altitudes, altitude_ref=altitude_ref, layers=layers)
        if marginal else [],
    )


def _is_scenario(obj) -> bool:
    from simulator.scenario import Scenario

    return isinstance(obj, Scenario)


def _scenario_label(scenario) -> str:
    return scenario.name


def _same_terrain_source(scenario, terrain, other_scenario=None) -> bool:
    """Whether a scenario names the same terrain files and policies as an opened terrain (or
    as another scenario)."""
    def norm(paths):
        return tuple(Path(p).resolve() for p in paths)

    if other_scenario is not None:
        return (bool(scenario.terrain_paths) and norm(scenario.terrain_paths) == norm(other_scenario.terrain_paths)
                and scenario.void_policy == other_scenario.void_policy
                and getattr(scenario, "outside_terrain", "error") == getattr(other_scenario, "outside_terrain", "error")
                and scenario.area_bounds_deg == other_scenario.area_bounds_deg)
    outside = "sea" if getattr(scenario, "outside_terrain", "error") == "sea" else "error"
    return (
        bool(scenario.terrain_paths)
        and norm(scenario.terrain_paths) == norm(getattr(terrain, "source_paths", ()))
        and scenario.void_policy == getattr(terrain, "void_policy", None)
        and outside == getattr(terrain, "outside_terrain", "error")
    )


def coverage_reusing(
    scenario,
    reference: Coverage,
    *,
    range_mode: str = "nominal",
    cache: EnvelopeCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    catalog=None,
    scheduler=None,
) -> Coverage:
    """Coverage of ``scenario``, reusing ``reference``'s envelopes wherever nothing changed.

    Builds the same envelopes as :func:`~simulator.coverage.build_coverage`, except that a
    unit whose resolved figures (:class:`~simulator.figures.UnitFigures`: system, site,
    antenna height, ranges, altitudes, range mode) equal the reference's, on the same grid
    with the same ``k_factor``, takes the reference's :class:`UnitEnvelope` object as is.
    The terrain object is reused too when the scenario names the same files and void policy.

    Raises
    ------
    AdcovError
        The scenario's analysis grid (terrain content, area) differs from the reference's.
    """
    from simulator.analysis_area import open_scenario_terrain
    from simulator.catalog import load_catalog

    catalog = catalog or load_catalog()
    if range_mode not in RANGE_MODES:
        raise AdcovError(f"range_mode: {range_mode!r} is not valid; expected one of {', '.join(RANGE_MODES)}")
    ref = reference.grid
    ref_terrain = ref.terrain
    terrain = ref_terrain if _same_terrain_source(scenario, ref_terrain) else open_scenario_terrain(scenario)
    reasons = []
    if terrain.identity != ref_terrain.identity:
        names_a = ", ".join(Path(p).name for p in ref_terrain.source_paths) or "in-memory terrain"
        names_b = ", ".join(Path(p).name for p in terrain.source_paths) or "in-memory terrain"
        reasons.append(f"terrain {names_a} vs {names_b}")
    if scenario.area_bounds_deg != ref.area_bounds_deg:
        reasons.append(f"area (west, south, east, north deg) {ref.area_bounds_deg} vs {scenario.area_bounds_deg}")
    if reasons:
        raise AdcovError(
            f"{scenario.path}: scenario {scenario.name!r} cannot be compared with {reference.scenario_name or 'the baseline'}: "
            f"its analysis grid differs ({'; '.join(reasons)}); a variant must use the same terrain and area as its baseline"
        )
    # share the grid object (and its cached cell areas) and unchanged envelopes
    return build_coverage(
        scenario, range_mode=range_mode, cache=cache, progress=progress, cancel=cancel,
        catalog=catalog, grid=reference.grid, reuse=reference, scheduler=scheduler,
    )




def _withdrawal_ids(baseline, variant) -> list[str] | None:
    """The unit ids a variant given as ids withdraws (checked against a baseline scenario), or
    None for a variant scenario or coverage."""
    if _is_scenario(variant) or isinstance(variant, Coverage):
        return None
    if isinstance(variant, str):
        withdraw_ids = [variant]
    else:
        try:
            withdraw_ids = [str(u) for u in variant]
        except TypeError:
            raise AdcovError(
                f"variant: expected a Scenario, a Coverage or unit ids to withdraw, got {type(variant).__name__}"
            ) from None
    if not withdraw_ids:
        raise AdcovError("variant: no unit ids to withdraw; expected at least one")
    if _is_scenario(baseline):
        baseline.with_units_withdrawn(withdraw_ids)  # fail fast, naming the valid ids
    return withdraw_ids


def compare(
    baseline,
    variant,
    *,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    range_mode: str = "nominal",
    cache: EnvelopeCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    resolution_m: float | str | None = None,
    scheduler=None,
) -> Comparison:
    """Compare a baseline with a variant: areas lost and gained, depth, marginal contributions.

    Parameters
    ----------
    baseline : Scenario or Coverage
        A scenario uses its ``units`` as they are (apply ``Scenario.active_as_of`` first for
        a date).
    variant : Scenario, Coverage, or iterable of str
        Another scenario on the same terrain and area (typically one that ``extends`` the
        baseline), a coverage, or the ids of baseline units to withdraw (nothing recomputed:
        :meth:`Coverage.without`).
    altitudes_m : sequence of float
        Target altitudes. [m]
    altitude_ref : {"msl", "agl"}
    layers : sequence of {"detection", "engagement"}
    range_mode : {"nominal", "min", "max"}
        Which published figure of a spread to use for scenarios.
    cache : EnvelopeCache, optional
        Line-of-sight disk cache; None computes what is not reused.
    progress : callable(fraction, message), optional
    cancel : CancelToken, optional
    resolution_m : float or "native", optional
        Analysis spacing instead of the scenarios' (see :mod:`simulator.analysis_area`).
    scheduler : None, "local", "tcp://HOST:PORT" or distributed.Client
        Where envelopes are computed (one Dask task per unit; same results).

    Returns
    -------
    Comparison
        See :func:`compare_coverages`. Unchanged units of a variant scenario share the
        baseline's envelope objects.

    Raises
    ------
    AdcovError
        Unknown unit ids (the message lists the valid ones), a variant on another terrain or
        area, bad layers/altitude reference/range mode.
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    if range_mode not in RANGE_MODES:
        raise AdcovError(f"range_mode: {range_mode!r} is not valid; expected one of {', '.join(RANGE_MODES)}")
    withdraw_ids = _withdrawal_ids(baseline, variant)
    if _is_scenario(baseline):
        split = 1.0 if withdraw_ids is not None or isinstance(variant, Coverage) else 0.6
        baseline_name = _scenario_label(baseline)
        grid = None
        if _is_scenario(variant) and _same_terrain_source(variant, None, baseline):
            # one grid for both sides: the union of both scenarios' disks
            from simulator.analysis_area import open_scenario_terrain, scenario_grid
            from simulator.catalog import load_catalog

            grid = scenario_grid([baseline, variant], open_scenario_terrain(baseline), load_catalog(),
                                 resolution_m=resolution_m)
        baseline_cov = build_coverage(baseline, range_mode=range_mode, cache=cache, progress=scaled_progress(progress, 0.0, split),
                                      cancel=cancel, grid=grid, resolution_m=resolution_m, scheduler=scheduler)
    elif isinstance(baseline, Coverage):
        split = 0.0
        baseline_name = baseline.scenario_name or "baseline"
        baseline_cov = baseline
    else:
        raise AdcovError(f"baseline: expected a Scenario or a Coverage, got {type(baseline).__name__}")

    if withdraw_ids is not None:
        variant_cov = baseline_cov.without(withdraw_ids)
        variant_name = f"{baseline_name} without {', '.join(withdraw_ids)}"
    elif isinstance(variant, Coverage):
        variant_cov = variant
        variant_name = variant.scenario_name or "variant"
    else:
        variant_cov = coverage_reusing(
            variant, baseline_cov, range_mode=range_mode, cache=cache, progress=scaled_progress(progress, split, 1.0), cancel=cancel,
            scheduler=scheduler,
        )
        variant_name = _scenario_label(variant)
    if variant_name == baseline_name:
        baseline_as_of = getattr(baseline, "as_of", None)
        variant_as_of = getattr(variant, "as_of", None)
        if baseline_as_of and variant_as_of and baseline_as_of != variant_as_of:
            baseline_name, variant_name = f"{baseline_name} as of {baseline_as_of}", f"{variant_name} as of {variant_as_of}"
        else:
            variant_name = f"{variant_name} (variant)"
    variant_cov = dataclasses.replace(variant_cov, scenario_name=variant_name) if withdraw_ids is not None else variant_cov
    return compare_coverages(
        baseline_cov,
        variant_cov,
        altitudes_m=altitudes,
        altitude_ref=altitude_ref,
        layers=layers,
        baseline_name=baseline_name,
        variant_name=variant_name,
    )


# --------------------------------------------------------------------------- timeline


def timeline_dates(scenario) -> list[dt.date]:
    """Dates on which the scenario's set of active units changes (deployed/withdrawn), sorted."""
    days = {d for u in scenario.units for d in (u.deployed, u.withdrawn) if d is not None}
    return sorted(days)


def compare_as_of(scenario, baseline_date, variant_date, **kwargs) -> Comparison:
    """Compare a scenario with itself at two dates (``Scenario.active_as_of``).

    Keyword arguments go to :func:`compare`; the variant reuses every baseline envelope
    (the units are the same, only which are active differs).
    """
    return compare(scenario.active_as_of(baseline_date), scenario.active_as_of(variant_date), **kwargs)


def coverage_over_time(
    scenario,
    dates: Iterable[dt.date | str] | None = None,
    *,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    range_mode: str = "nominal",
    cache: EnvelopeCache | None = None,
    coverage: Coverage | None = None,
) -> list[dict]:
    """Covered area as of each date, from the units' ``deployed``/``withdrawn`` dates.

    Line of sight runs once for every unit of the scenario; each date is then a subset of
    those envelopes (:meth:`Coverage.subset`).

    Parameters
    ----------
    scenario : Scenario
        All its units, with their dates (:meth:`UnitSpec.active_on`).
    dates : iterable of date or "YYYY-MM-DD", optional
        Default: :func:`timeline_dates` (each day the set of active units changes).
    altitudes_m, altitude_ref, layers, range_mode, cache
        As for :func:`compare`.
    coverage : Coverage, optional
        Envelopes of all the scenario's units, if already built.

    Returns
    -------
    list of dict
        One per date: ``{"date": "YYYY-MM-DD", "active_units": [...], "layers": {layer:
        [{"altitude_m", "altitude_ref", "covered_km2"}]}}``.
    """
    from simulator.scenario import _as_date

    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    days = [_as_date(d) for d in (timeline_dates(scenario) if dates is None else dates)]
    if coverage is None:
        coverage = build_coverage(scenario, range_mode=range_mode, cache=cache)
    rows = []
    for day in days:
        active = [u.id for u in scenario.units if u.active_on(day) and u.id in coverage.envelopes]
        rows.append(
            {
                "date": day.isoformat(),
                "active_units": active,
                "layers": {
                    layer: [
                        {"altitude_m": a, "altitude_ref": altitude_ref, "covered_km2": coverage.covered_km2(layer, a, altitude_ref, active)}
                        for a in altitudes
                    ]
                    for layer in layers
                },
            }
        )
    return rows


# --------------------------------------------------------------------------- published-range spread


def range_band(
    scenario,
    *,
    altitudes_m: Sequence[float] = DEFAULT_ALTITUDES_M,
    altitude_ref: str = "msl",
    layers: Sequence[str] = LAYERS,
    cache: EnvelopeCache | None = None,
) -> dict:
    """Covered area with the published spread's minimum, nominal and maximum figures.

    Returns
    -------
    dict
        ``{"scenario", "altitude_ref", "layers": {layer: [{"altitude_m", "altitude_ref",
        "min_km2", "nominal_km2", "max_km2"}]}}``. ``min``/``max`` name the range mode (every
        figure with a published spread takes its low/high end, see
        :func:`~simulator.figures.resolve_unit_figures`), not the smaller/larger area.
    """
    altitudes, altitude_ref, layers = _check_query(altitudes_m, altitude_ref, layers)
    coverages = {mode: build_coverage(scenario, range_mode=mode, cache=cache) for mode in BAND_MODES}
    result = {"scenario": scenario.name, "altitude_ref": altitude_ref, "layers": {}}
    for layer in layers:
        result["layers"][layer] = [
            {
                "altitude_m": a,
                "altitude_ref": altitude_ref,
                **{f"{mode}_km2": coverages[mode].covered_km2(layer, a, altitude_ref) for mode in BAND_MODES},
            }
            for a in altitudes
        ]
    return result


def comparison_band(comparisons: Mapping[str, Comparison]) -> dict:
    """One band dict from the same comparison run with range modes min, nominal and max.

    Returns
    -------
    dict
        ``{"baseline", "variant", "altitude_ref", "withdrawn_units", "added_units",
        "changed_units", "layers": {layer: [{"altitude_m", "altitude_ref", "baseline": {...},
        "variant": {...}, "lost": {...}, "gained": {...}}]}}`` where each ``{...}`` is
        ``{"min_km2", "nominal_km2", "max_km2"}``.
    """
    missing = [m for m in BAND_MODES if m not in comparisons]
    if missing:
        raise AdcovError(f"comparison_band: missing range mode(s) {', '.join(missing)}; expected {', '.join(BAND_MODES)}")
    nominal = comparisons["nominal"]
    layers: dict[str, list[dict]] = {layer: [] for layer in nominal.layers}
    for row in nominal.changes:
        by_mode = {mode: comparisons[mode].change(row.layer, row.altitude_m) for mode in BAND_MODES}
        entry = {"altitude_m": row.altitude_m, "altitude_ref": row.altitude_ref}
        for quantity in ("baseline", "variant", "lost", "gained"):
            entry[quantity] = {f"{mode}_km2": getattr(by_mode[mode], f"{quantity}_km2") for mode in BAND_MODES}
        layers[row.layer].append(entry)
    return {
        "baseline": nominal.baseline_name,
        "variant": nominal.variant_name,
        "altitude_ref": nominal.altitude_ref,
        "range_modes": list(BAND_MODES),
        "withdrawn_units": list(nominal.withdrawn_units),
        "added_units": list(nominal.added_units),
        "changed_units": list(nominal.changed_units),
        "layers": layers,
    }


def compare_range_band(baseline, variant, **kwargs) -> tuple[dict, dict[str, Comparison]]:
    """Run :func:`compare` with range modes min, nominal and max; return the band dict and the three comparisons."""
    kwargs.pop("range_mode", None)
    comparisons = {mode: compare(baseline, variant, range_mode=mode, **kwargs) for mode in BAND_MODES}
    return comparison_band(comparisons), comparisons

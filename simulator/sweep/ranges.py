"""Published-range modes of a sweep: which of a system's min/nominal/max figures each member uses.

:func:`~simulator.sweep.ensemble.range_spread` runs the three modes as members of one
ensemble; a withdrawal sweep runs one table per mode.
"""

from __future__ import annotations

from simulator.coverage import plan_range_m_for
from simulator.errors import AdcovError
from simulator.figures import RANGE_MODES, UnitFigures, resolve_unit_figures

#: Range modes of a published-range spread, in order.
SPREAD_MODES = ("min", "nominal", "max")


def _check_range_modes(range_modes) -> tuple[str, ...]:
    """``range_modes`` as a tuple of distinct modes of :data:`~simulator.figures.RANGE_MODES`."""
    modes = (range_modes,) if isinstance(range_modes, str) else tuple(range_modes)
    bad = [m for m in modes if m not in RANGE_MODES]
    if bad or not modes or len(set(modes)) != len(modes):
        raise AdcovError(f"range_modes: {', '.join(map(repr, modes)) or 'none'} not valid; expected distinct values of {', '.join(RANGE_MODES)}")
    return modes


def _figures_by_mode(scenario, catalog, modes) -> tuple[dict[tuple[str, str], UnitFigures], dict[str, float]]:
    """Each unit's figures per range mode, ``{(unit id, mode): UnitFigures}``, and its plan
    range, ``{unit id: plan_range_m}`` (the same in every mode). [m]"""
    figures = {
        (u.id, mode): resolve_unit_figures(u, catalog.get(u.system_id), scenario.default_antenna_height_m, mode)
        for u in scenario.units
        for mode in modes
    }
    plans = {u.id: plan_range_m_for(u, catalog.get(u.system_id), scenario.default_antenna_height_m) for u in scenario.units}
    return figures, plans

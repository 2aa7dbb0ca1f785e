"""The scenario model: the resolved :class:`Scenario` and its :class:`UnitSpec` units.

These are what :func:`~simulator.scenario.load_scenario` returns, with the ``extends`` chain
applied, paths absolute and catalog systems resolved. They carry the date rules: a unit is in
place from ``deployed`` (inclusive) until ``withdrawn`` (exclusive), and
``scenario.active_as_of(day)`` keeps the units in place that day.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import Problem, ScenarioError


@dataclass(frozen=True)
class UnitSpec:
    """A resolved unit: catalog system resolved, overrides applied.

    ``antenna_height_m`` is the unit's own override (``None`` when the scenario assumption
    :attr:`Scenario.default_antenna_height_m` applies); ``figures`` holds only the figures the
    scenario overrides. Dates: the unit is in place from ``deployed`` (inclusive) until
    ``withdrawn`` (exclusive); ``None`` means open/unknown.
    """

    id: str
    system_id: str
    system_name: str
    lat_deg: float
    lon_deg: float
    position_precision_km: float | None
    antenna_height_m: float | None
    range_km: float | None
    figures: Mapping[str, float] = field(hash=False)
    deployed: _dt.date | None
    withdrawn: _dt.date | None
    status: str
    sources: tuple[str, ...]
    notes: str
    dates_note: str = ""

    def active_on(self, day: _dt.date) -> bool:
        """True if the unit is in place on ``day``: ``deployed <= day < withdrawn``.

        >>> import datetime
        >>> u = UnitSpec('a', 's', 'S', 0.0, 0.0, None, None, None, {},
        ...              datetime.date(2020, 12, 1), datetime.date(2023, 8, 31), 'planned', (), '')
        >>> u.active_on(datetime.date(2023, 8, 30)), u.active_on(datetime.date(2023, 8, 31))
        (True, False)
        """
        day = _as_date(day)
        if self.deployed is not None and day < self.deployed:
            return False
        if self.withdrawn is not None and day >= self.withdrawn:
            return False
        return True

    def __repr__(self) -> str:
        ns = "N" if self.lat_deg >= 0 else "S"
        ew = "E" if self.lon_deg >= 0 else "W"
        antenna = (
            f"antenna {self.antenna_height_m:g} m AGL"
            if self.antenna_height_m is not None
            else "antenna: scenario assumption"
        )
        return (
            f"UnitSpec({self.id!r}, {self.system_name}, {abs(self.lat_deg):.3f}°{ns} "
            f"{abs(self.lon_deg):.3f}°{ew}, {antenna})"
        )


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario: the ``extends`` chain applied, paths absolute, systems resolved."""

    path: Path
    name: str
    title: str
    description: str
    terrain_paths: tuple[Path, ...]
    void_policy: str
    area_bounds_deg: tuple[float, float, float, float] | None
    k_factor: float
    default_antenna_height_m: float | None
    units: tuple[UnitSpec, ...]
    withdrawn_units: tuple[UnitSpec, ...]
    extends: Path | None
    as_of: _dt.date | None
    sources: Mapping[str, Mapping] = field(hash=False)
    #: Analysis spacing [m], "native", or None for the default rule (simulator.analysis_area).
    resolution_m: float | str | None = None
    #: What lies beyond the terrain: "error", "sea" or "clip".
    outside_terrain: str = "error"
    #: Every unit the file chain places (withdrawn and not yet active ones included): the
    #: analysis grid covers all their disks, so that variants and dates share one grid.
    grid_units: tuple[UnitSpec, ...] = field(default=(), hash=False)

    def __repr__(self) -> str:
        terrain = ", ".join(p.name for p in self.terrain_paths) or "none"
        return (
            f"Scenario({self.name!r}, {len(self.units)} units, {len(self.withdrawn_units)} withdrawn, "
            f"terrain {terrain})"
        )

    @property
    def unit_ids(self) -> tuple[str, ...]:
        """Ids of the units present (not withdrawn), in file order."""
        return tuple(u.id for u in self.units)

    def _error(self, message: str) -> ScenarioError:
        return ScenarioError(Problem(file=str(self.path), line=None, key_path="", message=message))

    def unit(self, unit_id: str) -> UnitSpec:
        """The unit with this id; :class:`ScenarioError` listing the valid ids otherwise."""
        for u in self.units:
            if u.id == unit_id:
                return u
        raise self._error(f"no unit {unit_id!r}{_withdrawn_hint(unit_id, self.withdrawn_units)}; {_ids_text(self.unit_ids)}")

    def with_units_withdrawn(self, unit_ids: Iterable[str] | str) -> Scenario:
        """A copy without these units (moved to ``withdrawn_units``); unknown ids raise."""
        wanted = [unit_ids] if isinstance(unit_ids, str) else list(unit_ids)
        present = set(self.unit_ids)
        unknown = [uid for uid in wanted if uid not in present]
        if unknown:
            names = ", ".join(repr(u) for u in unknown)
            hint = "".join(_withdrawn_hint(u, self.withdrawn_units) for u in unknown)
            raise self._error(f"cannot withdraw unknown unit(s) {names}{hint}; {_ids_text(self.unit_ids)}")
        gone = set(wanted)
        return dataclasses.replace(
            self,
            units=tuple(u for u in self.units if u.id not in gone),
            withdrawn_units=self.withdrawn_units + tuple(u for u in self.units if u.id in gone),
        )

    def active_as_of(self, day: _dt.date) -> Scenario:
        """A copy keeping only the units active on ``day`` (see :meth:`UnitSpec.active_on`)."""
        day = _as_date(day)
        return dataclasses.replace(self, units=tuple(u for u in self.units if u.active_on(day)), as_of=day)


def _as_date(day: Any) -> _dt.date:
    if isinstance(day, _dt.datetime):
        return day.date()
    if isinstance(day, _dt.date):
        return day
    if isinstance(day, str):
        try:
            return _dt.date.fromisoformat(day)
        except ValueError:
            pass
    raise ScenarioError(f"expected a date (YYYY-MM-DD), got {day!r}")


def _ids_text(ids: Sequence[str]) -> str:
    return "valid ids: " + ", ".join(ids) if ids else "the scenario has no units"


def _withdrawn_hint(unit_id: str, withdrawn: Iterable[UnitSpec]) -> str:
    return " (it is withdrawn)" if any(u.id == unit_id for u in withdrawn) else ""

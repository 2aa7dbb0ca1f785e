"""Unit resolution: the ``units``/``add``, ``withdraw`` and ``override`` lists of one file.

Each unit's catalog system and sources are looked up, its fields checked against each other
(dates in order, figures in order) and the result applied over the units inherited along the
``extends`` chain (:mod:`simulator.scenario.resolve`). Every problem is recorded, not only
the first of a unit.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from simulator.located_yaml import LocatedDoc, format_key_path
from simulator.scenario.model import UnitSpec, _ids_text
from simulator.scenario.problems import _EXPECT, _got
from simulator.scenario.schema import Figures, Unit, UnitOverride, WithdrawEntry, _parse_iso_date, _withdraw_item

if TYPE_CHECKING:  # annotations only: resolve imports this module
    from simulator.scenario.resolve import _Report, _Resolved


@dataclass
class _UnitState:
    spec: UnitSpec
    display: str
    line: int | None
    key_path: str


class _UnitResolver:
    """Checks and resolves the units of one file: ``units``/``add``, ``withdraw``, ``override``."""

    def __init__(self, report: _Report):
        self.report = report
        self.add = report.add
        self.known_source_ids = report.known_source_ids

    @property
    def catalog(self):
        return self.report.catalog

    def _unit_model(self, doc: LocatedDoc, key: str, i: int, cls: type[BaseModel]) -> Any:
        raw = doc.data[key][i]
        try:
            return cls.model_validate(raw)
        except ValidationError:
            return None  # its problems are reported by the whole-file validation

    def _list(self, doc: LocatedDoc, key: str) -> list:
        raw = doc.data.get(key)
        return raw if isinstance(raw, list) else []

    def _check_sources(self, doc: LocatedDoc, res: _Resolved, path: tuple, ids: Sequence[str]) -> None:
        known = self.known_source_ids(res.sources)
        if self.catalog is None:
            return
        for j, sid in enumerate(ids):
            if sid not in known:
                close = difflib.get_close_matches(sid, sorted(known), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                self.add(doc, doc.line(path + (j,)), path + (j,),
                         f"unknown source id {sid!r}{hint} (define it under the scenario's 'sources' "
                         "with title, publisher, date, address, or use a catalog source id)")

    def _resolve_system(self, doc: LocatedDoc, path: tuple, name: str):
        cat = self.catalog
        if cat is None:
            self.add(doc, doc.line(path), path, f"cannot resolve system {name!r}: {self.report.catalog_error}")
            return None
        from simulator.errors import CatalogError

        try:
            return cat.get(name)
        except CatalogError:
            try:
                close = list(cat.close_matches(name, n=5))
            except Exception:  # noqa: BLE001 - suggestions are best effort
                close = []
            if close:
                hint = "; close catalog names: " + ", ".join(repr(c) for c in close)
            else:
                hint = "; catalog ids: " + ", ".join(sorted(getattr(cat, "systems", {}) or {}))
            self.add(doc, doc.line(path), path, f"unknown system {name!r}{hint} (list them with `adcov systems`)")
            return None

    def _check_unit_fields(self, doc: LocatedDoc, base: tuple, deployed, withdrawn, figures, range_km) -> None:
        if deployed is not None and withdrawn is not None and withdrawn < deployed:
            self.add(doc, doc.line(base + ("withdrawn",)), base + ("withdrawn",),
                     f"expected a date ≥ deployed ({deployed.isoformat()}), got {withdrawn.isoformat()}")
        figs = dict(figures or {})
        for lo, hi, what in (("min_range_km", "max_range_km", "km"),
                             ("min_target_altitude_m", "max_target_altitude_m", "m")):
            if figs.get(lo) is not None and figs.get(hi) is not None and figs[lo] >= figs[hi]:
                self.add(doc, doc.line(base + ("figures", lo)), base + ("figures", lo),
                         f"expected {lo} < {hi} ({_got(figs[hi])} {what}), got {_got(figs[lo])}")
        if range_km is not None and figs.get("max_range_km") is not None:
            self.add(doc, doc.line(base + ("range_km",)), base + ("range_km",),
                     "both range_km and figures.max_range_km given; they set the same figure, keep one")

    def place(self, doc: LocatedDoc, res: _Resolved, key: str) -> None:
        """Check and resolve the units under ``key`` ('units' or 'add').

        Each check looks only at the fields it needs, so a unit with one bad field still gets
        its other fields checked (every problem is reported, not just the first).
        """
        first_line: dict[str, int | None] = {}
        for i, raw in enumerate(self._list(doc, key)):
            base = (key, i)
            if not isinstance(raw, dict):
                continue  # reported by the schema validation
            uid = raw.get("id")
            usable = True
            if isinstance(uid, str):
                line = doc.line(base + ("id",))
                if uid in first_line:
                    self.add(doc, line, base + ("id",),
                             f"duplicate unit id {uid!r}: also on line {first_line[uid]}; ids must be unique")
                    usable = False
                elif uid in res.units or uid in res.withdrawn:
                    where = res.units.get(uid) or res.withdrawn.get(uid)
                    state = "withdrawn" if uid in res.withdrawn else "present"
                    self.add(doc, line, base + ("id",),
                             f"unit id {uid!r} already exists ({state}, from {where.display}:{where.line}); "
                             "use 'override' to change it or choose a new id")
                    usable = False
                first_line.setdefault(uid, line)
            system = None
            if isinstance(raw.get("system"), str) and raw.get("system"):
                system = self._resolve_system(doc, base + ("system",), raw["system"])
            if isinstance(raw.get("sources"), list) and all(isinstance(s, str) for s in raw["sources"]):
                self._check_sources(doc, res, base + ("sources",), raw["sources"])
            figures = raw.get("figures")
            try:
                figures = Figures.model_validate(figures).model_dump(exclude_none=True) if isinstance(figures, dict) else None
            except ValidationError:
                figures = None
            range_km = raw.get("range_km")
            self._check_unit_fields(
                doc, base, _date_or_none(raw.get("deployed")), _date_or_none(raw.get("withdrawn")),
                figures, range_km if isinstance(range_km, (int, float)) and not isinstance(range_km, bool) else None,
            )
            unit = self._unit_model(doc, key, i, Unit)
            if unit is None or system is None or not usable:
                continue
            spec = UnitSpec(
                id=unit.id,
                system_id=str(system.id),
                system_name=str(system.name),
                lat_deg=float(unit.lat_deg),
                lon_deg=float(unit.lon_deg),
                position_precision_km=_opt_float(unit.position_precision_km),
                antenna_height_m=_opt_float(unit.antenna_height_m),
                range_km=_opt_float(unit.range_km),
                figures=types.MappingProxyType(
                    {k: float(v) for k, v in (unit.figures.model_dump(exclude_none=True) if unit.figures else {}).items()}
                ),
                deployed=unit.deployed,
                withdrawn=unit.withdrawn,
                status=unit.status,
                sources=tuple(unit.sources or ()),
                notes=unit.notes or "",
                dates_note=unit.dates_note or "",
            )
            res.units[unit.id] = _UnitState(spec, doc.display, doc.line(base), format_key_path(base))

    def withdraw(self, doc: LocatedDoc, res: _Resolved, *, parent_complete: bool) -> None:
        seen: dict[str, int | None] = {}
        for i, raw in enumerate(self._list(doc, "withdraw")):
            base = ("withdraw", i)
            uid = raw if isinstance(raw, str) else raw.get("id") if isinstance(raw, dict) else None
            idpath = base if isinstance(raw, str) else base + ("id",)
            if isinstance(raw, dict) and isinstance(raw.get("sources"), list) and all(isinstance(s, str) for s in raw["sources"]):
                self._check_sources(doc, res, base + ("sources",), raw["sources"])
            if not isinstance(uid, str):
                continue
            line = doc.line(idpath)
            if uid in seen:
                self.add(doc, line, idpath, f"unit {uid!r} is withdrawn twice (also on line {seen[uid]})")
                continue
            seen[uid] = line
            if uid not in res.units:
                if parent_complete or uid in res.withdrawn:
                    hint = " (already withdrawn)" if uid in res.withdrawn else ""
                    self.add(doc, line, idpath,
                             f"cannot withdraw unit {uid!r}: no such unit{hint}; {_ids_text(list(res.units))}")
                continue
            try:
                entry = WithdrawEntry.model_validate(_withdraw_item(raw))
            except ValidationError:
                continue
            state = res.units.pop(uid)
            spec = state.spec
            notes = spec.notes
            if entry.note:
                notes = f"{notes}\n{entry.note}".strip() if notes else entry.note
            spec = dataclasses.replace(
                spec,
                withdrawn=entry.date if entry.date is not None else spec.withdrawn,
                sources=tuple(dict.fromkeys(spec.sources + tuple(entry.sources or ()))),
                notes=notes,
            )
            res.withdrawn[uid] = _UnitState(spec, doc.display, line, format_key_path(idpath))

    def override(self, doc: LocatedDoc, res: _Resolved, *, parent_complete: bool) -> None:
        seen: dict[str, int | None] = {}
        for i, raw in enumerate(self._list(doc, "override")):
            base = ("override", i)
            if not isinstance(raw, dict):
                continue
            uid = raw.get("id")
            if isinstance(raw.get("sources"), list) and all(isinstance(s, str) for s in raw["sources"]):
                self._check_sources(doc, res, base + ("sources",), raw["sources"])
            system = None
            if isinstance(raw.get("system"), str) and raw.get("system"):
                system = self._resolve_system(doc, base + ("system",), raw["system"])
            if not isinstance(uid, str):
                continue
            line = doc.line(base + ("id",))
            if uid in seen:
                self.add(doc, line, base + ("id",), f"unit {uid!r} is overridden twice (also on line {seen[uid]})")
                continue
            seen[uid] = line
            if uid not in res.units:
                if parent_complete or uid in res.withdrawn:
                    hint = " (it is withdrawn)" if uid in res.withdrawn else ""
                    self.add(doc, line, base + ("id",),
                             f"cannot override unit {uid!r}: no such unit{hint}; {_ids_text(list(res.units))}")
                continue
            ov = self._unit_model(doc, "override", i, UnitOverride)
            if ov is None or ("system" in raw and system is None):
                continue
            state = res.units[uid]
            spec = state.spec
            given = ov.model_fields_set - {"id"}
            changes: dict[str, Any] = {}
            for name in given:
                value = getattr(ov, name)
                if name == "system":
                    changes["system_id"], changes["system_name"] = str(system.id), str(system.name)
                elif name == "figures":
                    merged = dict(spec.figures)
                    merged.update(value.model_dump(exclude_none=True) if value else {})
                    changes["figures"] = types.MappingProxyType({k: float(v) for k, v in merged.items()})
                elif name == "sources":
                    changes["sources"] = tuple(value or ())
                elif name in ("notes", "dates_note"):
                    changes[name] = value or ""
                elif name == "status":
                    if value is not None:
                        changes["status"] = value
                elif name in ("lat_deg", "lon_deg"):
                    if value is None:
                        self.add(doc, doc.line(base + (name,)), base + (name,),
                                 f"expected {_EXPECT[name]}, got nothing (null)")
                        continue
                    changes[name] = float(value)
                elif name in ("position_precision_km", "antenna_height_m", "range_km"):
                    changes[name] = _opt_float(value)
                else:
                    changes[name] = value
            new = dataclasses.replace(spec, **changes)
            self._check_unit_fields(doc, base, new.deployed, new.withdrawn, new.figures, new.range_km)
            moved = "lat_deg" in changes or "lon_deg" in changes
            res.units[uid] = _UnitState(
                new,
                doc.display if moved else state.display,
                doc.line(base) if moved else state.line,
                format_key_path(base) if moved else state.key_path,
            )


def _date_or_none(value: Any) -> _dt.date | None:
    try:
        return _parse_iso_date(value) if value is not None else None
    except Exception:  # noqa: BLE001 - an invalid date is reported by the schema validation
        return None


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)

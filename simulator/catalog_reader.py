"""Reading the catalog file: YAML to :mod:`simulator.catalog_model` objects, validated.

:class:`_Reader` checks every entry and collects every problem with the file, line and key
path (a figure whose source is not in ``sources:``, a nominal outside its spread or not among
the reported values, a value that is not a number, an unknown quantity that still has a
nominal, ...) as :class:`~simulator.errors.Problem` records; :func:`_parse_catalog` raises
:class:`~simulator.errors.CatalogError` carrying them. :func:`simulator.catalog.load_catalog` is
the way in.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

import yaml

from simulator.catalog_model import (
    SENSOR_QUANTITIES,
    WEAPON_QUANTITIES,
    Catalog,
    Figure,
    PublishedFigure,
    Sensor,
    Source,
    System,
    Weapon,
)
from simulator.errors import CatalogError, Problem
from simulator.located_yaml import load_with_lines

#: Figure qualifiers used by the reference sheet.
QUALIFIERS = frozenset({"up_to", "about", "more_than", "range_band", "exact", "estimate_by_source"})
#: Source confidence tiers (of the source, not the figure): A official … D blog/forum.
CONFIDENCE_TIERS = ("A", "B", "C", "D")
#: Units whose figure values are text rather than numbers.
TEXT_UNITS = frozenset({"text", "date"})
SCHEMA_VERSION = 1

# Name suffix -> the unit a quantity with that name must use (longest suffix first).
_UNIT_SUFFIXES = (("_m_s", "m/s"), ("_km", "km"), ("_min", "min"), ("_m", "m"))
_ID_PATTERN = re.compile(r"[a-z0-9_]+")
# Relative tolerance when comparing floats that should be equal (spread ends vs reported values).
_RELATIVE_TOLERANCE = 1e-9
# The message of a CatalogError lists at most this many problems (its ``problems`` has them all).
_SHOWN_PROBLEMS = 50


def _parse_catalog(text: str, label: str) -> Catalog:
    # data exactly as yaml.safe_load builds it, and the line of every key path for messages
    try:
        data, lines = load_with_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(Problem(label, line, "", f"not valid YAML: {problem}")) from exc
    reader = _Reader(label, lines)
    catalog = reader.read(data)
    if reader.problems:
        raise CatalogError(reader.problems, shown=_SHOWN_PROBLEMS)
    return catalog


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_RELATIVE_TOLERANCE, abs_tol=1e-12)


def _expected_unit(quantity_name: str) -> str | None:
    for suffix, unit in _UNIT_SUFFIXES:
        if quantity_name.endswith(suffix):
            return unit
    return None


_MISSING = object()
_SYSTEM_INDEX = re.compile(r"systems\[(\d+)\]")


class _Reader:
    """Turns the parsed YAML into model objects, collecting every problem with file:line and key path.

    ``problems`` are :class:`~simulator.errors.Problem` records, in the order found.
    """

    _SOURCE_KEYS = {"title", "publisher", "date", "address", "language", "confidence", "note", "via"}
    _SYSTEM_KEYS = {"id", "names", "nato_name", "role", "country", "related_sources", "notes",
                    "weapons", "sensors", "other_figures"}
    _WEAPON_KEYS = {"id", "missile", "notes", "other_figures", *WEAPON_QUANTITIES}
    _SENSOR_KEYS = {"id", "name", "notes", *SENSOR_QUANTITIES}
    _QUANTITY_KEYS = {"unit", "unknown", "figures", "nominal", "spread", "nominal_reason"}
    _FIGURE_KEYS = {"value", "value_low", "unit", "qualifier", "as_published", "converted_from",
                    "source", "note"}

    def __init__(self, label: str, lines: dict[str, int]):
        self.label = label
        self.lines = lines
        self.problems: list[Problem] = []
        self.source_ids: set[str] = set()
        self.system_ids: dict[int, str] = {}  # index in `systems:` -> id, to name systems in messages

    # -- reporting helpers
    def problem(self, key_path: str, message: str) -> None:
        system = _SYSTEM_INDEX.match(key_path)
        if system and int(system.group(1)) in self.system_ids:
            message = f"{message} (system {self.system_ids[int(system.group(1))]!r})"
        self.problems.append(Problem(self.label, self.lines.get(key_path), key_path, message))

    def mapping(self, value: object, key_path: str, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(key_path, f"expected a mapping, got {type(value).__name__}")
            return None
        extra = sorted(str(k) for k in value if k not in allowed)
        if extra:
            self.problem(key_path, f"unexpected key(s) {', '.join(extra)}; valid keys: {', '.join(sorted(allowed))}")
        return value

    def text(self, data: dict, key: str, key_path: str, *, required: bool = True) -> str | None:
        value = data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.problem(f"{key_path}.{key}", "missing; expected a non-empty string")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{key_path}.{key}", f"expected a non-empty string, got {value!r}")
            return None
        return value

    def identifier(self, data: dict, key_path: str) -> str | None:
        value = self.text(data, "id", key_path)
        if value is not None and not _ID_PATTERN.fullmatch(value):
            self.problem(f"{key_path}.id", f"expected lower-case letters, digits and '_', got {value!r}")
        return value

    # -- top level
    def read(self, data: object) -> Catalog | None:
        """The catalog, or None with ``problems`` said; a name that selects two systems raises
        the :class:`~simulator.errors.CatalogError` of :class:`Catalog` (with its own problems)."""
        top = self.mapping(data, "", {"schema_version", "compiled_from", "systems", "sources"})
        if top is None:
            return None
        if top.get("schema_version") != SCHEMA_VERSION:
            self.problem("schema_version", f"expected {SCHEMA_VERSION}, got {top.get('schema_version')!r}")
        raw_sources = top.get("sources")
        if not isinstance(raw_sources, dict) or not raw_sources:
            self.problem("sources", "expected a non-empty mapping of source id -> source")
            raw_sources = {}
        self.source_ids = {str(k) for k in raw_sources}
        sources = {}
        for source_id, raw in raw_sources.items():
            source = self.read_source(str(source_id), raw)
            if source is not None:
                sources[source.id] = source
        raw_systems = top.get("systems")
        if not isinstance(raw_systems, list) or not raw_systems:
            self.problem("systems", "expected a non-empty list of systems")
            raw_systems = []
        systems: dict[str, System] = {}
        part_ids: dict[str, str] = {}
        for index, raw in enumerate(raw_systems):
            key_path = f"systems[{index}]"
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                self.system_ids[index] = raw["id"]
            system = self.read_system(raw, key_path)
            if system is None:
                continue
            if system.id in systems:
                self.problem(f"{key_path}.id", f"duplicate system id {system.id!r}")
                continue
            for part in (*system.weapons, *system.sensors):
                if part.id in part_ids:
                    self.problem(key_path, f"weapon/sensor id {part.id!r} already used in system {part_ids[part.id]!r}")
                part_ids[part.id] = system.id
            systems[system.id] = system
        if self.problems:
            return None
        # a name or id that selects two systems: Catalog raises a CatalogError with those problems
        return Catalog(systems, sources, self.label)

    def read_source(self, source_id: str, raw: object) -> Source | None:
        key_path = f"sources.{source_id}"
        if not _ID_PATTERN.fullmatch(source_id):
            self.problem(key_path, f"source id {source_id!r}: expected lower-case letters, digits and '_'")
        data = self.mapping(raw, key_path, self._SOURCE_KEYS)
        if data is None:
            return None
        fields = {key: self.text(data, key, key_path, required=key in {"title", "publisher", "date", "confidence"})
                  for key in sorted(self._SOURCE_KEYS)}
        if fields["confidence"] is not None and fields["confidence"] not in CONFIDENCE_TIERS:
            self.problem(f"{key_path}.confidence",
                         f"expected one of {', '.join(CONFIDENCE_TIERS)}, got {fields['confidence']!r}")
        if any(fields[key] is None for key in ("title", "publisher", "date", "confidence")):
            return None
        return Source(id=source_id, **fields)

    def read_system(self, raw: object, key_path: str) -> System | None:
        data = self.mapping(raw, key_path, self._SYSTEM_KEYS)
        if data is None:
            return None
        system_id = self.identifier(data, key_path)
        names = data.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            self.problem(f"{key_path}.names", f"expected a non-empty list of names, got {names!r}")
            names = None
        nato_name = self.text(data, "nato_name", key_path, required=False)
        role = self.text(data, "role", key_path)
        country = self.text(data, "country", key_path)
        notes = self.text(data, "notes", key_path, required=False)
        related = data.get("related_sources", [])
        if not isinstance(related, list) or not all(isinstance(r, str) for r in related):
            self.problem(f"{key_path}.related_sources", f"expected a list of source ids, got {related!r}")
            related = []
        for index, source_id in enumerate(related):
            self.check_source(source_id, f"{key_path}.related_sources[{index}]")

        raw_weapons = data.get("weapons")
        weapons = []
        if not isinstance(raw_weapons, list) or not raw_weapons:
            self.problem(f"{key_path}.weapons", "expected a non-empty list of weapons")
        else:
            for index, raw_weapon in enumerate(raw_weapons):
                weapons.append(self.read_weapon(raw_weapon, f"{key_path}.weapons[{index}]"))
        raw_sensors = data.get("sensors")
        sensors = []
        if not isinstance(raw_sensors, list):
            self.problem(f"{key_path}.sensors", "expected a list of sensors (may be empty)")
        else:
            for index, raw_sensor in enumerate(raw_sensors):
                sensors.append(self.read_sensor(raw_sensor, f"{key_path}.sensors[{index}]"))
        other = self.read_other_figures(data.get("other_figures", {}), f"{key_path}.other_figures")

        parts = [system_id, names, role, country, other, *weapons, *sensors]
        if any(part is None for part in parts):
            return None
        return System(
            id=system_id,
            names=tuple(names),
            nato_name=nato_name,
            role=role,
            country=country,
            weapons=tuple(weapons),
            sensors=tuple(sensors),
            other_figures=other,
            notes=notes,
            related_sources=tuple(related),
        )

    def read_weapon(self, raw: object, key_path: str) -> Weapon | None:
        data = self.mapping(raw, key_path, self._WEAPON_KEYS)
        if data is None:
            return None
        weapon_id = self.identifier(data, key_path)
        missile = self.text(data, "missile", key_path)
        notes = self.text(data, "notes", key_path, required=False)
        quantities = {name: self.read_quantity(name, data.get(name, _MISSING), f"{key_path}.{name}")
                      for name in WEAPON_QUANTITIES}
        other = self.read_other_figures(data.get("other_figures", {}), f"{key_path}.other_figures")
        if weapon_id is None or missile is None or other is None or None in quantities.values():
            return None
        return Weapon(id=weapon_id, missile=missile, notes=notes, other_figures=other, **quantities)

    def read_sensor(self, raw: object, key_path: str) -> Sensor | None:
        data = self.mapping(raw, key_path, self._SENSOR_KEYS)
        if data is None:
            return None
        sensor_id = self.identifier(data, key_path)
        name = self.text(data, "name", key_path)
        notes = self.text(data, "notes", key_path, required=False)
        quantities = {q: self.read_quantity(q, data.get(q, _MISSING), f"{key_path}.{q}") for q in SENSOR_QUANTITIES}
        if sensor_id is None or name is None or None in quantities.values():
            return None
        return Sensor(id=sensor_id, name=name, notes=notes, **quantities)

    def read_other_figures(self, raw: object, key_path: str) -> dict[str, PublishedFigure] | None:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(key_path, f"expected a mapping of figure name -> figures, got {type(raw).__name__}")
            return None
        result = {}
        for name, value in raw.items():
            if not isinstance(name, str) or not _ID_PATTERN.fullmatch(name):
                self.problem(f"{key_path}.{name}", "expected a name of lower-case letters, digits and '_'")
                continue
            quantity = self.read_quantity(name, value, f"{key_path}.{name}")
            if quantity is not None:
                result[name] = quantity
        return result if len(result) == len(raw) else None

    def check_source(self, source_id: object, key_path: str) -> None:
        if not isinstance(source_id, str) or source_id not in self.source_ids:
            close = difflib.get_close_matches(str(source_id), sorted(self.source_ids), n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            self.problem(key_path, f"source {source_id!r} is not defined under `sources:`{hint}")

    # -- quantities and figures
    def read_quantity(self, name: str, raw: object, key_path: str) -> PublishedFigure | None:
        if raw is _MISSING:
            self.problem(key_path, "missing; give the figures or `unknown: true` with a nominal_reason")
            return None
        data = self.mapping(raw, key_path, self._QUANTITY_KEYS)
        if data is None:
            return None
        ok = True
        unit = data.get("unit")
        expected_unit = _expected_unit(name)
        if not isinstance(unit, str) or not unit:
            self.problem(f"{key_path}.unit", f"expected a unit string, got {unit!r}")
            ok = False
        elif expected_unit is not None and unit != expected_unit:
            self.problem(f"{key_path}.unit", f"a quantity named {name!r} must be in {expected_unit!r}, got {unit!r}")
            ok = False
        reason = self.text(data, "nominal_reason", key_path)
        ok = ok and reason is not None
        unknown = data.get("unknown", False)
        if unknown not in (True, False):
            self.problem(f"{key_path}.unknown", f"expected true or false, got {unknown!r}")
            return None
        if unknown:
            for key in ("figures", "nominal", "spread"):
                if data.get(key) not in (None, []):
                    self.problem(f"{key_path}.{key}", "an unknown quantity has no figures, nominal or spread")
                    ok = False
            if not ok:
                return None
            return PublishedFigure(name, unit, (), None, None, None, reason)

        raw_figures = data.get("figures")
        if not isinstance(raw_figures, list) or not raw_figures:
            self.problem(f"{key_path}.figures", "expected a non-empty list of figures (or `unknown: true`)")
            return None
        figures = [self.read_figure(f, unit, f"{key_path}.figures[{i}]") for i, f in enumerate(raw_figures)]
        if None in figures or not ok:
            return None
        numbers = [v for f in figures for v in (f.value, f.value_low) if isinstance(v, float)]
        nominal = data.get("nominal")
        spread = data.get("spread")
        if not numbers:  # text figures: no numeric nominal or spread
            if nominal is not None or spread is not None:
                self.problem(key_path, "text figures take no nominal or spread")
                return None
            return PublishedFigure(name, unit, tuple(figures), None, None, None, reason)
        if not _is_number(nominal):
            self.problem(f"{key_path}.nominal", f"expected a number (one of the reported values), got {nominal!r}")
            return None
        nominal = float(nominal)
        if not any(_close(nominal, v) for v in numbers):
            self.problem(f"{key_path}.nominal",
                         f"{nominal:g} is not one of the reported values ({', '.join(f'{v:g}' for v in sorted(set(numbers)))})")
            ok = False
        low, high = min(numbers), max(numbers)
        spread_min = spread_max = None
        if spread is None:
            if not _close(low, high):
                self.problem(f"{key_path}.spread", f"sources disagree; expected spread: [{low:g}, {high:g}]")
                ok = False
        elif not (isinstance(spread, list) and len(spread) == 2 and all(_is_number(v) for v in spread)):
            self.problem(f"{key_path}.spread", f"expected [min, max] as two numbers, got {spread!r}")
            ok = False
        else:
            spread_min, spread_max = float(spread[0]), float(spread[1])
            if not (spread_min <= nominal <= spread_max):
                self.problem(f"{key_path}.nominal",
                             f"{nominal:g} lies outside the spread [{spread_min:g}, {spread_max:g}]")
                ok = False
            if not (_close(spread_min, low) and _close(spread_max, high)):
                self.problem(f"{key_path}.spread",
                             f"expected [{low:g}, {high:g}] (min and max of the reported values), "
                             f"got [{spread_min:g}, {spread_max:g}]")
                ok = False
            if _close(low, high):
                self.problem(f"{key_path}.spread", "all reported values agree; remove the spread")
                ok = False
        if not ok:
            return None
        return PublishedFigure(name, unit, tuple(figures), nominal, spread_min, spread_max, reason)

    def read_figure(self, raw: object, unit: str, key_path: str) -> Figure | None:
        data = self.mapping(raw, key_path, self._FIGURE_KEYS)
        if data is None:
            return None
        ok = True
        figure_unit = data.get("unit")
        if figure_unit != unit:
            self.problem(f"{key_path}.unit", f"expected {unit!r} (the quantity's unit), got {figure_unit!r}")
            ok = False
        value = data.get("value", _MISSING)
        value_low = data.get("value_low")
        if unit in TEXT_UNITS:
            if not isinstance(value, str) or not value.strip():
                self.problem(f"{key_path}.value", f"expected text for unit {unit!r}, got {value!r}")
                ok = False
            if value_low is not None:
                self.problem(f"{key_path}.value_low", f"a {unit!r} figure has no value_low")
                ok = False
        else:
            if not _is_number(value) or value < 0:
                shown = "nothing" if value is _MISSING else repr(value)
                self.problem(f"{key_path}.value", f"expected a number >= 0 [{unit}], got {shown}")
                ok = False
            if value_low is not None and (not _is_number(value_low) or value_low < 0):
                self.problem(f"{key_path}.value_low", f"expected a number >= 0 [{unit}], got {value_low!r}")
                ok = False
            elif ok and value_low is not None and value_low > value:
                self.problem(f"{key_path}.value_low", f"{value_low:g} exceeds the band's top value {value:g}")
                ok = False
        qualifier = data.get("qualifier")
        if qualifier is not None and qualifier not in QUALIFIERS:
            self.problem(f"{key_path}.qualifier", f"expected one of {', '.join(sorted(QUALIFIERS))}, got {qualifier!r}")
            ok = False
        source_id = data.get("source")
        before = len(self.problems)
        self.check_source(source_id, f"{key_path}.source")
        ok = ok and len(self.problems) == before
        texts = {key: self.text(data, key, key_path, required=False) for key in ("as_published", "converted_from", "note")}
        if not ok:
            return None
        return Figure(
            value=value if unit in TEXT_UNITS else float(value),
            unit=unit,
            qualifier=qualifier,
            as_published=texts["as_published"],
            source_id=source_id,
            note=texts["note"],
            converted_from=texts["converted_from"],
            value_low=float(value_low) if value_low is not None else None,
        )

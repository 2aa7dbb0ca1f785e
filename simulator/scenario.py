"""Scenario files: schema, loading, ``extends``/``withdraw``/``add``/``override``, validation.

A scenario file is YAML (``schema_version: 1``) that names its terrain and area and places
units (a catalog system at a site, with dates and the sources for that placement). A file can
``extends`` another and ``withdraw``, ``add`` or ``override`` units: "what if this unit leaves"
is a scenario variant, so the GUI, the CLI and scripts all ask it the same way.

Loading collects *every* problem in a file and along its ``extends`` chain and raises one
:class:`~simulator.errors.ScenarioError`; each :class:`~simulator.errors.Problem` says where
(file, line, key path such as ``units[2].antenna_height_m``), what is wrong and what would be
valid::

    kurils.yaml:14: units[2].antenna_height_m: expected a number ≥ 0 [m], got -5

Notes
-----
- YAML is read with PyYAML's pure-Python ``SafeLoader`` (no arbitrary tags) and composed into
  nodes first, so every value keeps the line it came from. Aliases are expanded under a node
  budget and recursive aliases are refused, so alias bombs become a problem, not a hang.
- Paths (``terrain``, ``extends``) are resolved relative to the file that names them.
- Along an ``extends`` chain a file inherits ``terrain``, ``area``, ``k_factor``,
  ``assumptions``, ``as_of`` and ``sources`` unless it sets them; ``name``, ``title`` and
  ``description`` belong to each file. In a file that extends another, ``withdraw`` is applied
  first, then ``override`` (given fields replace the inherited ones; ``figures`` are merged per
  key), then ``add``. Withdrawn units are kept in :attr:`Scenario.withdrawn_units`, with the
  withdrawal's date, sources and note applied; their ids cannot be reused.
- Top-level keys starting with ``x-`` are ignored: a place for YAML anchors shared by units.
- ``as_of`` is metadata: :func:`load_scenario` returns every unit of the file whatever its
  dates; ``scenario.active_as_of(scenario.as_of)`` keeps those active on that day.
- A unit's ``antenna_height_m`` stays ``None`` unless the unit sets it; the scenario-wide
  assumption is :attr:`Scenario.default_antenna_height_m`, kept apart so outputs can say
  which heights are assumptions.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import json
import math
import os
import stat
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from simulator.errors import AdcovError, Problem, ScenarioError, TerrainError

__all__ = [
    "SCHEMA_VERSION",
    "STATUSES",
    "VOID_POLICIES",
    "Scenario",
    "UnitSpec",
    "bundled_scenario",
    "bundled_scenarios_dir",
    "load_scenario",
    "scenario_json_schema",
    "validate_scenario_files",
]

SCHEMA_VERSION = 1
STATUSES = ("reported_deployed", "reported_withdrawn", "hypothetical", "planned", "destroyed_claim")
VOID_POLICIES = ("fill", "sea", "error")
DEFAULT_K_FACTOR = 4.0 / 3.0
FIGURE_KEYS = (
    "detection_range_km",
    "min_range_km",
    "max_range_km",
    "min_target_altitude_m",
    "max_target_altitude_m",
)

# Guards against hostile or runaway documents (alias bombs, deep nesting, huge files).
_MAX_FILE_BYTES = 16 * 1024 * 1024
_MAX_NODES = 200_000  # values built, counting every expansion of an alias
_MAX_DEPTH = 64  # nesting of mappings/sequences
_MAX_EXTENDS_DEPTH = 32

_ID_RE = r"^[A-Za-z0-9_.-]+$"


# --------------------------------------------------------------------------- schema (pydantic)


def _parse_iso_date(value: Any) -> _dt.date:
    """Accept a YAML date or a ``YYYY-MM-DD`` string; refuse datetimes and anything else."""
    if isinstance(value, _dt.datetime):
        raise PydanticCustomError("iso_date", "expected an ISO date YYYY-MM-DD without a time")
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise PydanticCustomError("iso_date", "expected an ISO date YYYY-MM-DD ({reason})", {"reason": str(exc)}) from None
    raise PydanticCustomError("iso_date", "expected an ISO date YYYY-MM-DD")


IsoDate = Annotated[
    _dt.date,
    PlainValidator(_parse_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}),
]
Number = Annotated[float, Strict()]  # int or float; not bool, not text; NaN/inf refused by config
Text = Annotated[str, Strict()]


def _check_schema_version(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value == SCHEMA_VERSION:
        return value
    raise PydanticCustomError(
        "schema_version",
        "unsupported schema_version; expected {expected} (the only version this adcov reads)",
        {"expected": SCHEMA_VERSION},
    )


def _source_date_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, _dt.date) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Figures(_Model):
    """Per-unit overrides of published figures; each replaces the catalog figure (or default)."""

    detection_range_km: Number | None = Field(
        None, gt=0, description="Sensor detection (instrumented) range. [km]"
    )
    min_range_km: Number | None = Field(
        None, ge=0, description="Minimum engagement slant range of every weapon. [km]"
    )
    max_range_km: Number | None = Field(
        None, gt=0, description="Maximum engagement slant range of every weapon. [km]"
    )
    min_target_altitude_m: Number | None = Field(
        None, description="Lowest engageable target altitude of every weapon. [m]"
    )
    max_target_altitude_m: Number | None = Field(
        None, description="Highest engageable target altitude (ceiling) of every weapon. [m]"
    )


#: Unit ids name output files (``floor_<layer>_unit-<id>.tif``): a file-name-safe alphabet and
#: a length every file system takes.
_ID_MAX_CHARS = 64
_UnitId = Annotated[str, Strict(), Field(min_length=1, max_length=_ID_MAX_CHARS, pattern=_ID_RE)]


class _UnitFields(_Model):
    """Every unit field, all optional: the base of :class:`Unit` and :class:`UnitOverride`."""

    id: _UnitId | None = Field(
        None, description="Unit id, unique in the scenario: letters, digits, '_', '.', '-'."
    )
    system: Text | None = Field(
        None,
        min_length=1,
        description="Catalog system id or any of its names (e.g. s300v4, 'S-300V4'); see `adcov systems`.",
    )
    lat_deg: Number | None = Field(
        None,
        ge=-90,
        le=90,
        validation_alias=AliasChoices("lat_deg", "lat"),
        description="Site latitude, WGS84 (alias: lat). [deg]",
    )
    lon_deg: Number | None = Field(
        None,
        ge=-180,
        le=180,
        validation_alias=AliasChoices("lon_deg", "lon"),
        description="Site longitude, WGS84, east positive (alias: lon). [deg]",
    )
    position_precision_km: Number | None = Field(
        None, ge=0, description="How far the real site may lie from lat/lon. [km]"
    )
    antenna_height_m: Number | None = Field(
        None,
        ge=0,
        description="Antenna/mast height above ground; overrides the scenario assumption. [m]",
    )
    range_km: Number | None = Field(
        None, gt=0, description="Overrides the maximum engagement slant range of every weapon. [km]"
    )
    figures: Figures | None = Field(None, description="Overrides of published figures for this unit.")
    deployed: IsoDate | None = Field(None, description="First day in place (YYYY-MM-DD); empty = unknown.")
    withdrawn: IsoDate | None = Field(
        None, description="First day no longer in place (YYYY-MM-DD); empty = still there / unknown."
    )
    dates_note: Text | None = Field(None, description="What the sources say about the dates.")
    status: Literal[STATUSES] | None = Field(  # type: ignore[valid-type]
        None, description="Reporting status of this placement."
    )
    sources: list[Text] | None = Field(
        None, description="Source ids for this placement (catalog sources or this file's `sources`)."
    )
    notes: Text | None = Field(None, description="Free text.")


class Unit(_UnitFields):
    """One deployed system at a site."""

    id: _UnitId = Field(description="Unit id, unique in the scenario: 1-64 letters, digits, '_', '.', '-'.")
    system: Text = Field(
        min_length=1,
        description="Catalog system id or any of its names (e.g. s300v4, 'S-300V4'); see `adcov systems`.",
    )
    lat_deg: Number = Field(
        ge=-90,
        le=90,
        validation_alias=AliasChoices("lat_deg", "lat"),
        description="Site latitude, WGS84 (alias: lat). [deg]",
    )
    lon_deg: Number = Field(
        ge=-180,
        le=180,
        validation_alias=AliasChoices("lon_deg", "lon"),
        description="Site longitude, WGS84, east positive (alias: lon). [deg]",
    )
    status: Literal[STATUSES] = Field(  # type: ignore[valid-type]
        "hypothetical", description="Reporting status of this placement (default hypothetical)."
    )


class UnitOverride(_UnitFields):
    """Partial update of an inherited unit: ``id`` plus the fields to replace."""

    id: _UnitId = Field(description="Id of the inherited unit to change.")


class WithdrawEntry(_Model):
    """A unit removed from the inherited scenario, with when and why."""

    id: _UnitId = Field(description="Id of the inherited unit to withdraw.")
    date: IsoDate | None = Field(None, description="Withdrawal date (YYYY-MM-DD), if known.")
    sources: list[Text] | None = Field(None, description="Source ids reporting the withdrawal.")
    note: Text | None = Field(None, description="Free text about the withdrawal.")


def _withdraw_item(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class TerrainSpec(_Model):
    """Terrain rasters (any GDAL raster: GeoTIFF, DTED, SRTM .hgt) and their void policy."""

    paths: list[Annotated[str, Strict(), Field(min_length=1)]] = Field(
        min_length=1, description="Raster paths, relative to this scenario file."
    )
    void_policy: Literal[VOID_POLICIES] = Field(  # type: ignore[valid-type]
        "fill", description="What to do with DEM voids: fill, treat as sea level, or error."
    )


def _terrain_item(value: Any) -> Any:
    if isinstance(value, str):
        return {"paths": [value]}
    if isinstance(value, list):
        return {"paths": value}
    return value


class Area(_Model):
    """Analysis area, WGS84 degrees; west < east, south < north."""

    west_deg: Number = Field(ge=-180, le=180, description="Western edge. [deg]")
    south_deg: Number = Field(ge=-90, le=90, description="Southern edge. [deg]")
    east_deg: Number = Field(ge=-180, le=180, description="Eastern edge. [deg]")
    north_deg: Number = Field(ge=-90, le=90, description="Northern edge. [deg]")


class Assumptions(_Model):
    """Scenario-wide assumptions standing in for figures no source gives."""

    antenna_height_m: Number | None = Field(
        None,
        ge=0,
        description="Default antenna/mast height above ground for every unit (no source gives one). [m]",
    )


class SourceEntry(_Model):
    """A placement source not in the catalog."""

    title: Text = Field(min_length=1, description="Title as published.")
    publisher: Text | None = Field(None, description="Publisher or outlet.")
    date: Annotated[Text | None, BeforeValidator(_source_date_text)] = Field(
        None, description="Publication date (YYYY-MM-DD) or what the source shows."
    )
    address: Text | None = Field(None, description="URL or other address.")
    note: Text | None = Field(None, description="Free text.")


class ScenarioFile(_Model):
    """An adcov scenario file (YAML), schema_version 1."""

    schema_version: Annotated[int, PlainValidator(_check_schema_version), WithJsonSchema({"const": 1})] = Field(
        description="Scenario file format version; must be 1."
    )
    name: Text | None = Field(None, description="Short name (default: the file name without .yaml).")
    title: Text | None = Field(None, description="One-line title.")
    description: Text | None = Field(None, description="What the scenario shows and from which sources.")
    as_of: IsoDate | None = Field(None, description="The day the scenario describes (YYYY-MM-DD).")
    extends: Text | None = Field(
        None, min_length=1, description="Scenario file this one varies, relative to this file."
    )
    terrain: Annotated[TerrainSpec, BeforeValidator(_terrain_item)] | None = Field(
        None,
        description="A raster path, a list of paths, or {paths, void_policy}; relative to this file. "
        "Inherited through extends.",
    )
    area: Area | None = Field(
        None,
        description="Analysis area [deg]; inherited through extends. Without one, the area is the union of every "
        "unit's largest nominal disk; with one, outputs state each unit's fraction of its disk outside it.",
    )
    resolution_m: Annotated[float, Strict(), Field(gt=0, le=100_000)] | Literal["native"] | None = Field(
        None,
        description="Analysis grid spacing [m] (whole DEM cells, aligned with the DEM), or 'native' for the DEM's "
        "own spacing. Default: the DEM's spacing, coarsened only when a unit's disk would exceed "
        "2,000,000 cells. Rays always sample the DEM at its own spacing. Inherited.",
    )
    outside_terrain: Literal["error", "sea", "clip"] | None = Field(
        None,
        description="Where a unit's disk reaches past the terrain: 'error' (default: stop and name the unit), "
        "'sea' (sea level, 0 m, beyond the terrain) or 'clip' (the analysis stops at the terrain's edge). Inherited.",
    )
    k_factor: Number | None = Field(
        None,
        ge=0.1,
        le=100,
        description="Effective earth radius factor for refraction, 0.1 to 100 (default 4/3; 1 = geometric). Inherited.",
    )
    assumptions: Assumptions | None = Field(None, description="Scenario assumptions; inherited.")
    sources: dict[str, SourceEntry] | None = Field(
        None, description="Placement sources not in the catalog: source id -> {title, publisher, date, address}."
    )
    units: list[Unit] | None = Field(None, description="Units (not in a file that extends another: use add).")
    withdraw: list[Annotated[WithdrawEntry, BeforeValidator(_withdraw_item)]] | None = Field(
        None, description="Inherited units to remove: ids or {id, date, sources, note}."
    )
    add: list[Unit] | None = Field(None, description="Units added to the inherited ones.")
    override: list[UnitOverride] | None = Field(
        None, description="Partial updates of inherited units: {id, <fields to replace>}."
    )


# --------------------------------------------------------------------------- resolved types


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


# --------------------------------------------------------------------------- YAML with lines

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_CORE_SCALAR_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp", "value")
}



class _Abort(Exception):
    """Stop building a document; the problem is already recorded."""


@dataclass
class _Doc:
    """A parsed YAML document and where each value came from."""

    display: str
    data: Any = None
    value_lines: dict = field(default_factory=dict)  # path -> line of the value node
    key_lines: dict = field(default_factory=dict)  # path -> line of the key node
    unusable: set = field(default_factory=set)  # paths whose value could not be read

    def line(self, path: tuple) -> int | None:
        """Line of ``path``: of its key when it has one (``area:``), else of its value.

        For a missing key, the line of the nearest existing parent.
        """
        path = tuple(path)
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            if path in self.value_lines:
                return self.value_lines[path]
            path = path[:-1]
        return self.value_lines.get((), 1)


#: Characters refused in any scalar of a scenario: C0/C1 controls but tab and line breaks,
#: DEL, lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class _Builder:
    """Builds plain Python data from a composed node graph, recording lines per key path."""

    def __init__(self, loader: yaml.SafeLoader, doc: _Doc, problems: list[Problem]):
        self.loader = loader
        self.doc = doc
        self.problems = problems
        self.budget = _MAX_NODES
        self.active: set[int] = set()

    def problem(self, node: yaml.Node | None, path: tuple, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None and node.start_mark is not None else None
        self.problems.append(Problem(self.doc.display, line, _key_path(path), message))

    def build(self, node: yaml.Node, path: tuple, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            self.problem(node, path, f"document too large: more than {_MAX_NODES} values once aliases are expanded")
            raise _Abort
        if depth > _MAX_DEPTH:
            self.problem(node, path, f"nested more than {_MAX_DEPTH} levels deep")
            raise _Abort
        self.doc.value_lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self.active:
            self.problem(node, path, "recursive alias: a value that contains itself")
            raise _Abort
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ_TAG:
                    self._unsupported_tag(node, path)
                return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
            if node.tag != _MAP_TAG:
                self._unsupported_tag(node, path)
            return self._mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def _unsupported_tag(self, node: yaml.Node, path: tuple) -> None:
        self.problem(node, path, f"unsupported YAML tag {node.tag!r}; use plain mappings, lists and values")
        self.doc.unusable.add(path)

    def _scalar(self, node: yaml.ScalarNode, path: tuple) -> Any:
        bad = _UNPRINTABLE.search(node.value) if isinstance(node.value, str) else None
        if bad is not None:
            # escapes such as "\e[2J" reach a terminal raw, a lone surrogate breaks every writer
            char = bad.group()
            what = "a lone surrogate" if 0xD800 <= ord(char) <= 0xDFFF else "a control character"
            self.problem(node, path, f"text holds {what} (U+{ord(char):04X} at character {bad.start() + 1}); "
                                     "expected printable text (tabs and line breaks allowed)")
            self.doc.unusable.add(path)
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except Exception as exc:  # noqa: BLE001 - any constructor failure is a problem of the input
            if node.tag in _CORE_SCALAR_TAGS:
                return node.value  # e.g. 2020-02-30: keep the text; the schema says what is expected
            self.problem(node, path, f"unsupported YAML tag {node.tag!r} ({_first_line(exc)})")
            self.doc.unusable.add(path)
            return None

    def _pairs(self, node: yaml.MappingNode, path: tuple, depth: int) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """Key/value node pairs of a mapping with YAML merge keys (``<<``) applied."""
        explicit: list[tuple[yaml.Node, yaml.Node, bool]] = []
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                if isinstance(value_node, yaml.MappingNode):
                    sources = [value_node]
                elif isinstance(value_node, yaml.SequenceNode) and all(
                    isinstance(n, yaml.MappingNode) for n in value_node.value
                ):
                    sources = list(value_node.value)
                else:
                    self.problem(value_node, path, "a merge key '<<' needs a mapping or a list of mappings")
                    self.doc.unusable.add(path)
                    continue
                for src in sources:
                    if id(src) in self.active or depth > _MAX_DEPTH:
                        self.problem(src, path, "recursive merge: a mapping that merges itself")
                        raise _Abort
                    self.budget -= len(src.value)
                    self.active.add(id(src))
                    try:
                        merged.extend((k, v, True) for k, v, _ in self._pairs(src, path, depth + 1))
                    finally:
                        self.active.discard(id(src))
            else:
                explicit.append((key_node, value_node, False))
        return merged + explicit

    def _mapping(self, node: yaml.MappingNode, path: tuple, depth: int) -> dict:
        out: dict[str, Any] = {}
        explicit_line: dict[str, int] = {}
        seen_nodes: dict[str, tuple[yaml.Node, yaml.Node, bool]] = {}
        for key_node, value_node, from_merge in self._pairs(node, path, depth):
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "mapping keys must be plain text, not a list or a mapping")
                self.doc.unusable.add(path)
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if not from_merge:
                if key in explicit_line:
                    self.problem(
                        key_node, path + (key,), f"duplicate key {key!r} (also on line {explicit_line[key]})"
                    )
                    continue
                explicit_line[key] = line
            elif key in seen_nodes:
                continue  # earlier merge sources win; explicit keys override below
            seen_nodes[key] = (key_node, value_node, from_merge)
        for key, (key_node, value_node, _) in seen_nodes.items():
            child = path + (key,)
            self.doc.key_lines[child] = key_node.start_mark.line + 1
            self.doc.value_lines[child] = value_node.start_mark.line + 1
            out[key] = self.build(value_node, child, depth + 1)
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _TooManyNodes(yaml.YAMLError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops composing past :data:`_MAX_NODES` nodes: a 16 MiB
    flow list of 8 M scalars would otherwise build gigabytes of nodes before any check."""

    def __init__(self, stream):
        super().__init__(stream)
        self._nodes_left = _MAX_NODES

    def compose_node(self, parent, index):
        self._nodes_left -= 1
        if self._nodes_left < 0:
            raise _TooManyNodes(f"more than {_MAX_NODES} values in the file")
        return super().compose_node(parent, index)


def _parse_document(text: str, display: str, problems: list[Problem]) -> _Doc | None:
    """Compose ``text`` with the safe loader and build data + line maps; None if unusable."""
    doc = _Doc(display)
    loader = None
    try:
        try:
            loader = _BoundedLoader(text)
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = exc.problem or exc.context or "invalid YAML"
            extra = ""
            if exc.context and exc.problem and exc.context_mark is not None:
                extra = f" ({exc.context} at line {exc.context_mark.line + 1})"
            problems.append(
                Problem(display, mark.line + 1 if mark else None, "", f"YAML syntax error: {what}{extra}")
            )
            return None
        except yaml.reader.ReaderError as exc:
            pos = exc.position if isinstance(exc.position, int) else 0
            problems.append(
                Problem(
                    display,
                    text.count("\n", 0, pos) + 1,
                    "",
                    f"unacceptable character #x{exc.character:04x} ({exc.reason}); "
                    "expected printable UTF-8 text" if isinstance(exc.character, int) else f"YAML error: {exc}",
                )
            )
            return None
        except _TooManyNodes:
            problems.append(Problem(display, _current_line(loader), "",
                                    f"document too large: more than {_MAX_NODES} values (a scenario holds far fewer)"))
            return None
        except yaml.YAMLError as exc:
            problems.append(Problem(display, None, "", f"YAML error: {_first_line(exc)}"))
            return None
        except RecursionError:
            problems.append(Problem(display, _current_line(loader), "", f"YAML nested too deeply (keep it under {_MAX_DEPTH} levels)"))
            return None
        if node is None:
            problems.append(
                Problem(display, 1, "", "the file is empty; expected a mapping that starts with 'schema_version: 1'")
            )
            return None
        doc.value_lines[()] = node.start_mark.line + 1
        try:
            doc.data = _Builder(loader, doc, problems).build(node, (), 0)
        except _Abort:
            return None
        except RecursionError:
            problems.append(Problem(display, None, "", f"YAML nested too deeply (keep it under {_MAX_DEPTH} levels)"))
            return None
        return doc
    finally:
        if loader is not None:
            loader.dispose()


def _current_line(loader: yaml.SafeLoader | None) -> int | None:
    try:
        return loader.get_mark().line + 1 if loader is not None else None
    except Exception:  # noqa: BLE001 - only a hint for the message
        return None


def _read_text(path: Path, display: str, problems: list[Problem]) -> str | None:
    """Read a scenario file as UTF-8 text; problems for missing, unreadable or non-UTF-8 files."""
    try:
        if not path.exists():
            problems.append(Problem(display, None, "", f"file not found: {_abs(path)}"))
            return None
        if not path.is_file():
            problems.append(Problem(display, None, "", f"not a regular file: {_abs(path)}"))
            return None
        # O_NONBLOCK and a check of what was opened: a FIFO swapped in after the test above
        # must not block the read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                problems.append(Problem(display, None, "", f"not a regular file: {_abs(path)}"))
                return None
            raw = fh.read(_MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:
        problems.append(Problem(display, None, "", f"cannot read file: {exc}"))
        return None
    if len(raw) > _MAX_FILE_BYTES:
        problems.append(Problem(display, None, "", f"file larger than {_MAX_FILE_BYTES // 2**20} MiB"))
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.append(
            Problem(
                display,
                line,
                "",
                f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}; save the file as UTF-8",
            )
        )
        return None


def _abs(path: Path) -> str:
    try:
        return str(Path(os.path.abspath(path)))
    except (OSError, ValueError):
        return str(path)


# --------------------------------------------------------------------------- pydantic errors -> problems

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _key_path(path: Iterable[Any]) -> str:
    """``('units', 2, 'antenna_height_m')`` -> ``'units[2].antenna_height_m'``."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT_RE.fullmatch(seg):
            out += ("." if out else "") + seg
        else:
            out += f"[{seg!r}]"
    return out


_EXPECT = {
    "schema_version": "1",
    "name": "text",
    "title": "text",
    "description": "text",
    "dates_note": "text",
    "notes": "text",
    "note": "text",
    "publisher": "text",
    "address": "text",
    "as_of": "an ISO date YYYY-MM-DD",
    "deployed": "an ISO date YYYY-MM-DD",
    "withdrawn": "an ISO date YYYY-MM-DD",
    "date": "an ISO date YYYY-MM-DD",
    "extends": "a path to another scenario file, relative to this one",
    "terrain": "a raster path, a list of paths, or a mapping {paths: [...], void_policy: fill|sea|error}",
    "paths": "a list of raster paths",
    "void_policy": "one of " + ", ".join(VOID_POLICIES),
    "area": "a mapping {west_deg, south_deg, east_deg, north_deg}",
    "west_deg": "a number in [-180, 180] [deg]",
    "east_deg": "a number in [-180, 180] [deg]",
    "south_deg": "a number in [-90, 90] [deg]",
    "north_deg": "a number in [-90, 90] [deg]",
    "k_factor": "a number from 0.1 to 100 (effective earth radius factor; 4/3 = standard refraction)",
    "resolution_m": "a number of metres in (0, 100000] or 'native' (the DEM's own spacing)",
    "outside_terrain": "one of error, sea, clip",
    "assumptions": "a mapping {antenna_height_m}",
    "sources": "a list of source ids",
    "units": "a list of units (mappings with id, system, lat_deg, lon_deg, ...)",
    "add": "a list of units (mappings with id, system, lat_deg, lon_deg, ...)",
    "withdraw": "a list of unit ids or of {id, date, sources, note}",
    "override": "a list of {id, <unit fields to replace>}",
    "id": "an id of 1 to 64 letters, digits, '_', '.' or '-' (e.g. iturup-s300v4)",
    "system": "a catalog system id or name (list them with `adcov systems`)",
    "lat_deg": "a number in [-90, 90] [deg]",
    "lat": "a number in [-90, 90] [deg]",
    "lon_deg": "a number in [-180, 180] [deg]",
    "lon": "a number in [-180, 180] [deg]",
    "position_precision_km": "a number ≥ 0 [km]",
    "antenna_height_m": "a number ≥ 0 [m]",
    "range_km": "a number > 0 [km]",
    "figures": "a mapping of figure overrides (" + ", ".join(FIGURE_KEYS) + ")",
    "detection_range_km": "a number > 0 [km]",
    "min_range_km": "a number ≥ 0 [km]",
    "max_range_km": "a number > 0 [km]",
    "min_target_altitude_m": "a number [m]",
    "max_target_altitude_m": "a number [m]",
    "status": "one of " + ", ".join(STATUSES),
}

_TYPE_EXPECT = {
    "string_type": "text",
    "string_too_short": "non-empty text",
    "float_type": "a number",
    "int_type": "a whole number",
    "list_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "iso_date": "an ISO date YYYY-MM-DD",
}


def _got(value: Any) -> str:
    """Show a found value the way the user wrote it (YAML-ish), shortened."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # more digits than Python converts
            return "a number too large to show"
        return text if len(text) <= 30 else text[:27] + "..."
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _clean_loc(loc: tuple, raw: Any) -> tuple:
    """Map a pydantic ``loc`` onto the document's key path (drops validator/union tags)."""
    out: list[Any] = []
    cur = raw
    for i, seg in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(cur, dict) and isinstance(seg, str) and seg in cur:
            out.append(seg)
            cur = cur[seg]
        elif isinstance(cur, list) and isinstance(seg, int) and 0 <= seg < len(cur):
            out.append(seg)
            cur = cur[seg]
        elif isinstance(cur, dict) and isinstance(seg, str) and last:
            out.append(seg)  # a missing key
            cur = None
        # else: a tag pydantic adds (union member, function name): not part of the document
    return tuple(out)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_keys(model: type[BaseModel]) -> dict[str, str]:
    """Accepted mapping keys of ``model`` -> canonical field name (aliases included)."""
    keys: dict[str, str] = {}
    for name, info in model.model_fields.items():
        keys[name] = name
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str):
                    keys.setdefault(choice, name)
    return keys


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The schema model describing the mapping at ``path`` of a scenario document."""
    tp: Any = ScenarioFile
    for seg in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(seg, str):
            name = _field_keys(tp).get(seg)
            if name is None:
                return None
            tp = tp.model_fields[name].annotation
        elif typing.get_origin(tp) is list and isinstance(seg, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict and isinstance(seg, str):
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


# Words people write for our keys, for "did you mean" suggestions.
_SYNONYMS = {
    "lat_deg": ("latitude", "lat"),
    "lon_deg": ("longitude", "long", "lng", "lon"),
    "antenna_height_m": ("antenna_height", "height", "mast_height", "antenna"),
    "position_precision_km": ("precision_km", "precision", "position_precision", "accuracy"),
    "range_km": ("range", "max_range"),
    "deployed": ("deployed_on", "deploy_date", "from", "start"),
    "withdrawn": ("withdrawn_on", "withdraw_date", "until", "end"),
    "k_factor": ("k", "refraction", "kfactor"),
    "resolution_m": ("resolution", "cell_size_m", "spacing_m"),
    "schema_version": ("version", "schema"),
    "system": ("system_id", "type", "sam"),
    "notes": ("note", "comment", "comments"),
    "paths": ("path", "files", "file"),
    "west_deg": ("west", "w", "min_lon"),
    "east_deg": ("east", "e", "max_lon"),
    "south_deg": ("south", "s", "min_lat"),
    "north_deg": ("north", "n", "max_lat"),
}


def suggest_key(unknown: str, valid: Iterable[str]) -> str | None:
    """The valid key closest to ``unknown`` (through spelling or a common synonym), or None.

    >>> suggest_key('lattitude', ['id', 'system', 'lat_deg', 'lon_deg'])
    'lat_deg'
    """
    best, best_score = None, 0.0
    probe = unknown.lower()
    for key in valid:
        forms = {key, key.rsplit("_", 1)[0] if key.endswith(("_m", "_km", "_deg")) else key}
        forms.update(_SYNONYMS.get(key, ()))
        for form in forms:
            score = 1.0 if probe == form else difflib.SequenceMatcher(None, probe, form).ratio()
            if score > best_score:
                best, best_score = key, score
    return best if best_score >= 0.75 else None


def _message_for(err: Mapping[str, Any], path: tuple) -> str:
    etype = err.get("type", "")
    value = err.get("input")
    last_name = next((seg for seg in reversed(path) if isinstance(seg, str)), "")
    is_item = bool(path) and isinstance(path[-1], int)
    expect = None if is_item else _EXPECT.get(last_name)
    if path == ("sources",):
        expect = "a mapping: source id -> {title, publisher, date, address}"
    elif len(path) == 2 and path[0] == "sources":
        expect = "a mapping {title, publisher, date, address, note}"
    if etype == "missing":
        return f"missing required key; expected {expect or 'a value'}"
    if etype in ("iso_date", "schema_version"):
        base = err.get("msg", "")
        return f"{base}, got {_got(value)}"
    if etype == "literal_error" and expect is None:
        expected = (err.get("ctx") or {}).get("expected", "")
        return f"expected one of {expected}, got {_got(value)}"
    if expect is None:
        expect = _TYPE_EXPECT.get(etype)
    if expect is None:
        return f"{err.get('msg', 'invalid value')}, got {_got(value)}"
    if etype == "string_pattern_mismatch" and last_name == "id":
        return f"expected {expect}, got {_got(value)}"
    if etype == "too_short" and isinstance(value, list):
        return f"expected {expect}, got an empty list"
    return f"expected {expect}, got {_got(value)}"


def _validation_problems(exc: ValidationError, doc: _Doc, prefix: tuple = ()) -> list[Problem]:
    """Problems (with lines) from a pydantic error on the data at ``prefix`` of ``doc``."""
    problems: list[Problem] = []
    seen: set[tuple] = set()
    root = doc.data
    for seg in prefix:
        root = root[seg]
    errors = [(err, prefix + _clean_loc(tuple(err.get("loc", ())), root)) for err in exc.errors(include_url=False)]
    # A missing key next to an unknown key that looks like it ('lattitude' for lat_deg) is one
    # problem, reported once as the unknown key.
    explained: set[tuple] = set()
    for err, path in errors:
        if err.get("type") == "extra_forbidden" and path:
            model = _model_at(path[:-1])
            if model is not None:
                suggestion = suggest_key(str(path[-1]), list(dict.fromkeys(_field_keys(model).values())))
                if suggestion:
                    explained.add(path[:-1] + (suggestion,))
    for err, path in errors:
        if any(path[: len(bad)] == bad for bad in doc.unusable):
            continue  # already reported (unsupported tag, merge problem)
        etype = err.get("type", "")
        if etype == "missing" and path in explained:
            continue
        if etype == "extra_forbidden":
            parent, key = path[:-1], str(path[-1]) if path else ""
            problems.append(Problem(doc.display, doc.line(path), _key_path(path), _unknown_key_message(key, parent, doc)))
        else:
            message = _message_for(err, path)
            dedupe = (path, message)
            if dedupe in seen:
                continue
            seen.add(dedupe)
            problems.append(Problem(doc.display, doc.line(path), _key_path(path), message))
    return problems


def _unknown_key_message(key: str, parent: tuple, doc: _Doc) -> str:
    model = _model_at(parent)
    if model is None:
        return f"unknown key {key!r}"
    keys = _field_keys(model)
    data = doc.data
    try:
        for seg in parent:
            data = data[seg]
    except (KeyError, IndexError, TypeError):
        data = None
    if isinstance(data, dict):
        for alias, name in keys.items():
            if alias != name and key in (alias, name) and alias in data and name in data:
                return f"both {name!r} and its alias {alias!r} given; keep one"
    canonical = list(dict.fromkeys(keys.values()))
    suggestion = suggest_key(key, canonical)
    listed = ", ".join(
        name + "".join(f" (or {a})" for a, n in keys.items() if n == name and a != name) for name in canonical
    )
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    extension = "; top-level keys starting with 'x-' are ignored (for YAML anchors)" if not parent else ""
    return f"unknown key {key!r}{hint} (valid keys: {listed}{extension})"


# --------------------------------------------------------------------------- loading and resolving


def _catalog():
    from simulator.catalog import load_catalog

    return load_catalog()


@dataclass
class _UnitState:
    spec: UnitSpec
    display: str
    line: int | None
    key_path: str


@dataclass
class _Resolved:
    """State after applying one file of the chain (possibly partial if it had problems)."""

    path: Path
    display: str
    doc: _Doc
    model_name: str | None = None
    name: str = ""
    title: str = ""
    description: str = ""
    as_of: _dt.date | None = None
    terrain_paths: tuple[Path, ...] = ()
    terrain_declared: tuple[str, int | None, str] | None = None  # display, line, key path
    void_policy: str = "fill"
    area: tuple[float, float, float, float] | None = None
    resolution_m: float | str | None = None
    outside_terrain: str = "error"
    k_factor: float = DEFAULT_K_FACTOR
    antenna_height_m: float | None = None
    sources: dict[str, dict] = field(default_factory=dict)
    units: dict[str, _UnitState] = field(default_factory=dict)
    withdrawn: dict[str, _UnitState] = field(default_factory=dict)
    extends: Path | None = None
    complete: bool = True
    terrain_mentioned: bool = False  # some file of the chain has a 'terrain' key (valid or not)


class _Loader:
    def __init__(self, *, check_terrain: bool):
        self.check_terrain = check_terrain
        self.problems: list[Problem] = []
        self._catalog = None
        self._catalog_error: str | None = None

    # -- helpers ---------------------------------------------------------------------------
    @property
    def catalog(self):
        if self._catalog is None and self._catalog_error is None:
            try:
                self._catalog = _catalog()
            except AdcovError as exc:
                self._catalog_error = str(exc)
        return self._catalog

    def add(self, doc_or_display: _Doc | str, line: int | None, path: tuple | str, message: str) -> None:
        display = doc_or_display.display if isinstance(doc_or_display, _Doc) else doc_or_display
        key = path if isinstance(path, str) else _key_path(path)
        self.problems.append(Problem(display, line, key, message))

    def known_source_ids(self, scenario_sources: Mapping[str, Any]) -> set[str]:
        ids = set(scenario_sources)
        cat = self.catalog
        if cat is not None:
            ids.update(getattr(cat, "sources", {}) or {})
        return ids

    # -- one file --------------------------------------------------------------------------
    def resolve(self, path: Path, display: str, stack: tuple[Path, ...]) -> _Resolved | None:
        text = _read_text(path, display, self.problems)
        if text is None:
            return None
        parse_problems: list[Problem] = []
        doc = _parse_document(text, display, parse_problems)
        data = doc.data if doc is not None else None
        looks_like_scenario = (isinstance(data, dict) and "schema_version" in data) or (
            doc is None and re.search(r"^schema_version\s*:", text, re.MULTILINE) is not None)  # its syntax errors help
        if stack and not looks_like_scenario:
            # a file named by `extends` that is not a scenario: say so, and show none of it
            self.problems.append(Problem(display, None, "", "not an adcov scenario (no 'schema_version' at its top "
                                                            "level); extends names scenario files only, and the "
                                                            "content of other files is not shown"))
            return None
        self.problems.extend(parse_problems)
        if doc is None:
            return None
        if not isinstance(data, dict):
            self.add(doc, doc.line(()), "", f"expected a mapping (key: value) at the top level, got {_got(data)}; "
                     "a scenario starts with 'schema_version: 1'")
            return None
        try:
            real = Path(os.path.abspath(path))
        except (OSError, ValueError):
            real = path

        # Top-level keys starting with 'x-' are ignored: a place for YAML anchors (&base).
        data = {k: v for k, v in data.items() if not k.startswith("x-")}
        model: ScenarioFile | None
        try:
            model = ScenarioFile.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(_validation_problems(exc, doc))
            model = None
        complete = model is not None

        def part(key: str) -> Any:
            """The validated value of a top-level key, even if other keys are invalid."""
            if model is not None:
                return getattr(model, key)
            raw = data.get(key)
            if raw is None:
                return None
            try:
                return ScenarioFile.model_validate({"schema_version": SCHEMA_VERSION, key: raw}).__getattribute__(key)
            except ValidationError:
                return None

        res = _Resolved(path=real, display=display, doc=doc)
        extends = part("extends") if isinstance(data.get("extends"), str) else None

        # -- extends chain -----------------------------------------------------------------
        parent: _Resolved | None = None
        if extends is not None:
            line = doc.line(("extends",))
            parent_real = (real.parent / extends) if not os.path.isabs(extends) else Path(extends)
            parent_display = os.path.normpath(os.path.join(os.path.dirname(display), extends))
            try:
                parent_real = Path(os.path.abspath(parent_real))
                exists = parent_real.is_file()
                special = not exists and parent_real.exists()
            except (OSError, ValueError):
                exists = special = False
            chain = stack + (real,)
            if parent_real in chain:
                names = [p.name for p in chain[chain.index(parent_real):]] + [parent_real.name]
                self.add(doc, line, "extends", "extends cycle: " + " → ".join(names))
                complete = False
            elif len(chain) > _MAX_EXTENDS_DEPTH:
                self.add(doc, line, "extends", f"extends chain longer than {_MAX_EXTENDS_DEPTH} files")
                complete = False
            elif special:
                self.add(doc, line, "extends", f"extends names {parent_real}, which is not a regular file "
                                               "(a folder, FIFO or device); expected a .yaml scenario file")
                complete = False
            elif not exists:
                self.add(doc, line, "extends", f"extends file not found: {parent_real}")
                complete = False
            elif parent_real.suffix.lower() not in (".yaml", ".yml"):
                self.add(doc, line, "extends", f"extends names {parent_real.name}, not a scenario file "
                                               "(expected a .yaml or .yml adcov scenario)")
                complete = False
            else:
                parent = self.resolve(parent_real, parent_display, chain)
                if parent is None or not parent.complete:
                    complete = False
            res.extends = parent_real
        elif "extends" in data and data.get("extends") is not None and model is None:
            complete = False

        if parent is not None:
            res.as_of = parent.as_of
            res.terrain_mentioned = parent.terrain_mentioned
            res.terrain_paths, res.terrain_declared = parent.terrain_paths, parent.terrain_declared
            res.void_policy, res.area = parent.void_policy, parent.area
            res.resolution_m, res.outside_terrain = parent.resolution_m, parent.outside_terrain
            res.k_factor, res.antenna_height_m = parent.k_factor, parent.antenna_height_m
            res.sources = dict(parent.sources)
            res.units = dict(parent.units)
            res.withdrawn = dict(parent.withdrawn)

        # -- scalars and settings ----------------------------------------------------------
        stem = Path(display).stem if display else real.stem
        name = part("name")
        title = part("title")
        description = part("description")
        res.name = name if name else stem
        res.title = title if title else res.name
        res.description = description or ""
        as_of = part("as_of")
        if as_of is not None:
            res.as_of = as_of

        terrain = part("terrain")
        if "terrain" in data or ("extends" in data and parent is None):
            res.terrain_mentioned = True  # invalid or unknown: reported elsewhere, not as missing
        if terrain is not None:
            res.terrain_paths = tuple(Path(os.path.abspath(real.parent / p)) for p in terrain.paths)
            res.void_policy = terrain.void_policy
            res.terrain_declared = (display, doc.line(("terrain",)), "terrain")
            if self.check_terrain:
                self._check_terrain_files(doc, data.get("terrain"), res.terrain_paths, tuple(terrain.paths))

        area = part("area")
        if area is not None:
            ok = True
            if area.west_deg >= area.east_deg:
                self.add(doc, doc.line(("area",)), "area",
                         f"expected west_deg < east_deg, got west_deg {_got(area.west_deg)} ≥ east_deg {_got(area.east_deg)}")
                ok = False
            if area.south_deg >= area.north_deg:
                self.add(doc, doc.line(("area",)), "area",
                         f"expected south_deg < north_deg, got south_deg {_got(area.south_deg)} ≥ north_deg {_got(area.north_deg)}")
                ok = False
            if ok:
                res.area = (area.west_deg, area.south_deg, area.east_deg, area.north_deg)

        resolution = part("resolution_m")
        if resolution is not None:
            res.resolution_m = resolution if resolution == "native" else float(resolution)
        outside = part("outside_terrain")
        if outside is not None:
            res.outside_terrain = outside
        k = part("k_factor")
        if k is not None:
            res.k_factor = float(k)
        assumptions = part("assumptions")
        if assumptions is not None and assumptions.antenna_height_m is not None:
            res.antenna_height_m = float(assumptions.antenna_height_m)

        sources = part("sources")
        if sources is not None:
            for sid, entry in sources.items():
                res.sources[sid] = {k: v for k, v in entry.model_dump().items() if v is not None}
        elif isinstance(data.get("sources"), dict):
            # keep the ids of the entries that validate, so units citing them are not flagged twice
            for sid, raw_entry in data["sources"].items():
                try:
                    entry = SourceEntry.model_validate(raw_entry)
                except ValidationError:
                    res.sources[sid] = {}
                    continue
                res.sources[sid] = {k: v for k, v in entry.model_dump().items() if v is not None}

        # -- units -------------------------------------------------------------------------
        if extends is None and "extends" not in data:
            for key in ("withdraw", "add", "override"):
                if key in data:
                    self.add(doc, doc.line((key,)), key,
                             f"'{key}' needs 'extends' (the scenario whose units it changes); "
                             "list this file's units under 'units'")
            self._units(doc, res, "units")
        else:
            if "units" in data:
                self.add(doc, doc.line(("units",)), "units",
                         "a file that extends another lists new units under 'add' "
                         "(and changes inherited ones with 'withdraw' or 'override'), not 'units'")
            self._withdraw(doc, res, parent_complete=complete)
            self._override(doc, res, parent_complete=complete)
            self._units(doc, res, "add")

        res.complete = complete and not any(p.file == display for p in self.problems)
        return res

    def _check_terrain_files(self, doc: _Doc, raw: Any, paths: tuple[Path, ...], written: tuple = ()) -> None:
        from simulator.terrain_safety import check_terrain_file, remote_reason

        for i, p in enumerate(paths):
            if isinstance(raw, str):
                kp: tuple = ("terrain",)
            elif isinstance(raw, list):
                kp = ("terrain", i)
            else:
                kp = ("terrain", "paths", i) if isinstance(raw, dict) and isinstance(raw.get("paths"), list) else ("terrain", "paths")
            as_written = str(written[i]) if i < len(written) else str(p)
            reason = remote_reason(as_written)
            if reason:
                self.add(doc, doc.line(kp), kp, f"terrain {as_written!r} is {reason}: adcov reads local raster files "
                                                 "only and never the network")
            elif not _exists(p):
                self.add(doc, doc.line(kp), kp, f"terrain file not found: {p}")
            elif not p.is_dir():
                try:
                    check_terrain_file(p)  # regular raster files only; a VRT's sources too
                except TerrainError as exc:
                    self.add(doc, doc.line(kp), kp, str(exc))

    def _unit_model(self, doc: _Doc, key: str, i: int, cls: type[BaseModel]) -> Any:
        raw = doc.data[key][i]
        try:
            return cls.model_validate(raw)
        except ValidationError:
            return None  # its problems are reported by the whole-file validation

    def _list(self, doc: _Doc, key: str) -> list:
        raw = doc.data.get(key)
        return raw if isinstance(raw, list) else []

    def _check_sources(self, doc: _Doc, res: _Resolved, path: tuple, ids: Sequence[str]) -> None:
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

    def _resolve_system(self, doc: _Doc, path: tuple, name: str):
        cat = self.catalog
        if cat is None:
            self.add(doc, doc.line(path), path, f"cannot resolve system {name!r}: {self._catalog_error}")
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

    def _check_unit_fields(self, doc: _Doc, base: tuple, deployed, withdrawn, figures, range_km) -> None:
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

    def _units(self, doc: _Doc, res: _Resolved, key: str) -> None:
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
            res.units[unit.id] = _UnitState(spec, doc.display, doc.line(base), _key_path(base))

    def _withdraw(self, doc: _Doc, res: _Resolved, *, parent_complete: bool) -> None:
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
            res.withdrawn[uid] = _UnitState(spec, doc.display, line, _key_path(idpath))

    def _override(self, doc: _Doc, res: _Resolved, *, parent_complete: bool) -> None:
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
                _key_path(base) if moved else state.key_path,
            )

    # -- whole chain -------------------------------------------------------------------------
    def finish(self, res: _Resolved) -> Scenario | None:
        if not res.terrain_paths and not res.terrain_mentioned:
            self.add(res.doc, res.doc.line(()), "terrain",
                     "missing required key; expected a raster path, a list of paths, or "
                     "{paths: [...], void_policy: fill|sea|error} (here or in the file it extends)")
        elif self.check_terrain and res.units and all(_file_or_folder(p) for p in res.terrain_paths):
            self._check_inside_terrain(res)
        return Scenario(
            path=res.path,
            name=res.name,
            title=res.title,
            description=res.description,
            terrain_paths=res.terrain_paths,
            void_policy=res.void_policy,
            area_bounds_deg=res.area,
            k_factor=res.k_factor,
            default_antenna_height_m=res.antenna_height_m,
            units=tuple(s.spec for s in res.units.values()),
            withdrawn_units=tuple(s.spec for s in res.withdrawn.values()),
            extends=res.extends,
            as_of=res.as_of,
            sources=types.MappingProxyType({k: types.MappingProxyType(dict(v)) for k, v in res.sources.items()}),
            resolution_m=res.resolution_m,
            outside_terrain=res.outside_terrain,
            grid_units=tuple(s.spec for s in res.units.values()) + tuple(s.spec for s in res.withdrawn.values()),
        )

    def _check_inside_terrain(self, res: _Resolved) -> None:
        import numpy as np

        from simulator.dem import open_dem

        display, line, key_path = res.terrain_declared or (res.display, None, "terrain")
        paths = [str(p) for p in res.terrain_paths]
        try:
            # metadata only: windows are read when envelopes are computed
            terrain = open_dem(paths if len(paths) > 1 else paths[0], void_policy=res.void_policy,
                               outside_terrain="sea" if res.outside_terrain == "sea" else "error")
        except Exception as exc:  # noqa: BLE001 - a bad raster is bad input, whatever rasterio raises
            self.add(display, line, key_path, f"cannot open terrain: {_first_line(exc)}")
            return
        states = list(res.units.values())
        lat = np.array([st.spec.lat_deg for st in states], dtype=float)
        lon = np.array([st.spec.lon_deg for st in states], dtype=float)
        inside = np.asarray(terrain.contains(lat, lon), dtype=bool).reshape(-1)
        w, s, e, n = (float(v) for v in terrain.bounds_deg)
        names = ", ".join(p.name for p in res.terrain_paths)
        for state, ok in zip(states, inside):
            if not ok:
                u = state.spec
                self.add(state.display, state.line, state.key_path,
                         f"unit {u.id!r} at lat_deg {u.lat_deg:g}, lon_deg {u.lon_deg:g} lies outside the "
                         f"terrain ({names}: west_deg {w:.4f}, south_deg {s:.4f}, east_deg {e:.4f}, "
                         f"north_deg {n:.4f})")


def _date_or_none(value: Any) -> _dt.date | None:
    try:
        return _parse_iso_date(value) if value is not None else None
    except Exception:  # noqa: BLE001 - an invalid date is reported by the schema validation
        return None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _file_or_folder(path: Path) -> bool:
    """A regular file or a directory (not a device, FIFO or socket that could block a read)."""
    try:
        return path.is_file() or path.is_dir()
    except (OSError, ValueError):
        return False


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _sorted_problems(problems: list[Problem]) -> list[Problem]:
    order: dict[str, int] = {}
    for p in problems:
        order.setdefault(p.file, len(order))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (order[p.file], p.line if p.line is not None else -1))


def load_scenario(path: str | os.PathLike, *, check_terrain: bool = True) -> Scenario:
    """Load, validate and resolve a scenario file (and the chain it ``extends``).

    Parameters
    ----------
    path
        The scenario file; problems name it as given.
    check_terrain
        Also check that the terrain files exist and every unit lies inside them (opens the
        rasters). Off, terrain paths are resolved but not touched.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With every problem found, each with file, line, key path, what is wrong and what is
        valid.
    """
    try:
        display = os.fspath(path)
    except TypeError:
        raise ScenarioError(f"expected a path to a scenario file, got {path!r}") from None
    if isinstance(display, bytes):
        display = os.fsdecode(display)
    loader = _Loader(check_terrain=check_terrain)
    res = loader.resolve(Path(display), display, ())
    scenario = loader.finish(res) if res is not None else None
    if loader.problems or scenario is None:
        raise ScenarioError(_sorted_problems(loader.problems) or [Problem(display, None, "", "cannot load scenario")])
    return scenario


def validate_scenario_files(paths: Iterable[str | os.PathLike], *, check_terrain: bool = True) -> list[Problem]:
    """Every problem in these files (empty list: all valid)."""
    problems: list[Problem] = []
    for p in paths:
        try:
            load_scenario(p, check_terrain=check_terrain)
        except ScenarioError as exc:
            problems.extend(exc.problems)
        except AdcovError as exc:
            problems.append(Problem(os.fspath(p), None, "", str(exc)))
    return problems


# --------------------------------------------------------------------------- JSON Schema


def scenario_json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the scenario file format, for editors and docs."""
    schema = ScenarioFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adcov scenario file"
    schema["description"] = (
        "An adcov scenario (YAML, schema_version 1): terrain, area and units (a catalog system at a "
        "site with dates and sources). A file can 'extends' another and 'withdraw', 'add' or "
        "'override' units. Names carry units: _deg degrees, _m metres, _km kilometres."
    )
    defs = schema.get("$defs", {})
    props = schema["properties"]
    props["k_factor"]["default"] = DEFAULT_K_FACTOR
    schema["patternProperties"] = {
        "^x-": {"description": "Ignored by adcov: a place for YAML anchors (&name) shared by units."}
    }
    props["terrain"] = {
        "description": props["terrain"].get("description", ""),
        "anyOf": [
            {"type": "string", "minLength": 1, "description": "One raster path, relative to this file."},
            {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
             "description": "Raster paths (a mosaic), relative to this file."},
            {"$ref": "#/$defs/TerrainSpec"},
            {"type": "null"},
        ],
    }
    withdraw = props["withdraw"]
    withdraw["anyOf"] = [
        {
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": "string", "pattern": _ID_RE, "description": "Id of the inherited unit to withdraw."},
                    {"$ref": "#/$defs/WithdrawEntry"},
                ]
            },
        },
        {"type": "null"},
    ]
    for name in ("Unit", "UnitOverride"):
        d = defs.get(name)
        if not d:
            continue
        p = d["properties"]
        for short, full in (("lat", "lat_deg"), ("lon", "lon_deg")):
            alias = dict(p[full])
            alias["description"] = f"Alias of {full}. " + alias.get("description", "")
            p[short] = alias
        if name == "Unit":
            required = [r for r in d.get("required", []) if r not in ("lat_deg", "lon_deg")]
            d["required"] = required
            d["allOf"] = [
                {"anyOf": [{"required": ["lat_deg"]}, {"required": ["lat"]}]},
                {"anyOf": [{"required": ["lon_deg"]}, {"required": ["lon"]}]},
            ]
    json.dumps(schema)  # must be plain JSON
    return schema


# --------------------------------------------------------------------------- bundled scenarios


def bundled_scenarios_dir() -> Path:
    """Directory of the bundled scenarios: ``<repo>/scenarios`` or the installed copy."""
    here = Path(__file__).resolve().parent
    candidates = (here.parent / "scenarios", here / "_bundled_scenarios")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def bundled_scenario(name: str) -> Path:
    """Path of a bundled scenario by name (``'kurils-2020'``); unknown names list the valid ones."""
    directory = bundled_scenarios_dir()
    names = sorted(p.stem for p in directory.glob("*.yaml"))
    stem = name[:-5] if name.endswith(".yaml") else name
    if stem in names:
        return directory / f"{stem}.yaml"
    close = difflib.get_close_matches(stem, names, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ScenarioError(
        Problem(str(directory), None, "", f"no bundled scenario {name!r}{hint} (bundled: {', '.join(names) or 'none'})")
    )

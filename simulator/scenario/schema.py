"""The scenario file format: pydantic models of the YAML schema, and its JSON Schema.

The models validate one file as written (before ``extends`` is resolved); every key is
optional but what each file must hold itself. Names carry units: ``_deg`` degrees, ``_m``
metres, ``_km`` kilometres. How a failed validation is explained to the user is in
:mod:`simulator.scenario.problems`.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1
STATUSES = ("reported_deployed", "reported_withdrawn", "hypothetical", "planned", "destroyed_claim")
VOID_POLICIES = ("fill", "sea", "error")
from simulator.constants import DEFAULT_K_FACTOR  # noqa: F401 - re-exported: the one default k

FIGURE_KEYS = (
    "detection_range_km",
    "min_range_km",
    "max_range_km",
    "min_target_altitude_m",
    "max_target_altitude_m",
)
_ID_RE = r"^[A-Za-z0-9_.-]+$"


# --------------------------------------------------------------------------- models


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

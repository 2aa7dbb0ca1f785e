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

The package holds one concept per module:

- :mod:`~simulator.scenario.schema`: the YAML schema (pydantic models) and its JSON Schema;
- :mod:`~simulator.scenario.problems`: how each invalid value is explained;
- :mod:`~simulator.scenario.model`: :class:`Scenario` and :class:`UnitSpec`, with the date rules;
- :mod:`~simulator.scenario.resolve`: reading, ``extends`` chains, catalog lookups, terrain
  checks, and the bundled scenarios.

YAML is read with lines by :mod:`simulator.located_yaml`, shared with the catalog.

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

# Everything importable from simulator.scenario before the split stays importable here: the
# public API, the schema models and constants, suggest_key, and the private helpers other
# modules and tests use (_as_date, _UnitId).
from simulator.scenario.model import Scenario, UnitSpec, _as_date
from simulator.scenario.problems import suggest_key
from simulator.scenario.resolve import (
    bundled_scenario,
    bundled_scenarios_dir,
    load_scenario,
    validate_scenario_files,
)
from simulator.scenario.schema import (
    DEFAULT_K_FACTOR,
    FIGURE_KEYS,
    SCHEMA_VERSION,
    STATUSES,
    VOID_POLICIES,
    Area,
    Assumptions,
    Figures,
    IsoDate,
    Number,
    ScenarioFile,
    SourceEntry,
    TerrainSpec,
    Text,
    Unit,
    UnitOverride,
    WithdrawEntry,
    _UnitId,
    scenario_json_schema,
)

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
    # kept importable from before the split (schema models and constants, helpers)
    "DEFAULT_K_FACTOR",
    "FIGURE_KEYS",
    "Area",
    "Assumptions",
    "Figures",
    "IsoDate",
    "Number",
    "ScenarioFile",
    "SourceEntry",
    "TerrainSpec",
    "Text",
    "Unit",
    "UnitOverride",
    "WithdrawEntry",
    "_UnitId",
    "_as_date",
    "suggest_key",
]

"""The published-systems catalog: the data file ``simulator/data/catalog.yaml`` and its model.

The catalog is data, not code. Each system lists the figures published for it (sensor detection
range and antenna height; per weapon the minimum and maximum slant range, the maximum range
against ballistic missiles and the minimum and maximum target altitude), every figure with its
source. For each quantity the catalog also names a ``nominal`` value (the one the engine uses),
the ``spread`` of what sources reported where they disagree, and a one-sentence
``nominal_reason``. A quantity no accessible source gives is *unknown* and has no nominal.

Nominal figures are press/marketing maxima for ideal targets, not engagement envelopes for a
given target, geometry or terrain.

The loader validates the file and raises :class:`~simulator.errors.CatalogError` naming the file,
line and key path of every problem: a figure whose source is not in ``sources:``, a nominal outside
its spread or not among the reported values, a value that is not a number, an unknown quantity
that still has a nominal, and so on. Like a :class:`~simulator.errors.ScenarioError`, it carries
them as ``problems``, a list of :class:`~simulator.errors.Problem` records.

Examples
--------
>>> from simulator.catalog import load_catalog
>>> catalog = load_catalog()
>>> system = catalog.get("s300v4")
>>> system.name
'S-300V4'
>>> system.max_engagement_range_km
400.0
>>> catalog.get("Tor-M2").weapons[0].max_range_km.spread_min
11.27
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The model (catalog_model) and the reader (catalog_reader) are named here too, so that
# ``simulator.catalog`` keeps offering every name it always did; ``name as name`` marks a re-export.
from simulator.catalog_model import SENSOR_QUANTITIES as SENSOR_QUANTITIES
from simulator.catalog_model import WEAPON_QUANTITIES as WEAPON_QUANTITIES
from simulator.catalog_model import Catalog as Catalog
from simulator.catalog_model import Figure as Figure
from simulator.catalog_model import PublishedFigure as PublishedFigure
from simulator.catalog_model import Sensor as Sensor
from simulator.catalog_model import Source as Source
from simulator.catalog_model import System as System
from simulator.catalog_model import Weapon as Weapon
from simulator.catalog_reader import CONFIDENCE_TIERS as CONFIDENCE_TIERS
from simulator.catalog_reader import QUALIFIERS as QUALIFIERS
from simulator.catalog_reader import SCHEMA_VERSION as SCHEMA_VERSION
from simulator.catalog_reader import TEXT_UNITS as TEXT_UNITS
from simulator.catalog_reader import _parse_catalog
from simulator.errors import CatalogError, Problem

__all__ = [
    "Catalog",
    "Figure",
    "PublishedFigure",
    "Sensor",
    "Source",
    "System",
    "Weapon",
    "load_catalog",
    "system_to_dict",
]

_PACKAGED_RESOURCE = ("data", "catalog.yaml")


# ---------------------------------------------------------------------------------------- loading
def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog file.

    Parameters
    ----------
    path
        A catalog YAML file; None (the default) loads the catalog packaged with adcov, once, and
        returns the same object on later calls.

    Raises
    ------
    CatalogError
        The file cannot be read or parsed, or fails validation; its ``problems`` are
        :class:`~simulator.errors.Problem` records naming the file, line and key path of every
        problem found, and its message lists them one a line (at most 50, then how many more).
    """
    if path is None:
        return _load_packaged_catalog()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(Problem(str(path), None, "", f"cannot read the catalog: {exc.strerror or exc}")) from exc
    return _parse_catalog(text, str(path))


@functools.lru_cache(maxsize=1)
def _load_packaged_catalog() -> Catalog:
    resource = importlib.resources.files("simulator")
    for part in _PACKAGED_RESOURCE:
        resource = resource.joinpath(part)
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(Problem(str(resource), None, "", f"cannot read the packaged catalog: {exc}")) from exc
    return _parse_catalog(text, str(resource))


# ------------------------------------------------------------------------------------ JSON export
def _source_to_dict(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "title": source.title,
        "publisher": source.publisher,
        "date": source.date,
        "address": source.address,
        "language": source.language,
        "confidence": source.confidence,
        "note": source.note,
        "via": source.via,
    }


def _published_figure_to_dict(quantity: PublishedFigure, catalog: Catalog) -> dict[str, Any]:
    return {
        "name": quantity.name,
        "unit": quantity.unit,
        "known": quantity.known,
        "nominal": quantity.nominal,
        "spread": [quantity.spread_min, quantity.spread_max] if quantity.spread_min is not None else None,
        "nominal_reason": quantity.nominal_reason,
        "figures": [
            {
                "value": f.value,
                "value_low": f.value_low,
                "unit": f.unit,
                "qualifier": f.qualifier,
                "as_published": f.as_published,
                "converted_from": f.converted_from,
                "note": f.note,
                "source": _source_to_dict(catalog.source(f.source_id)),
            }
            for f in quantity.figures
        ],
    }


def system_to_dict(system: System, catalog: Catalog) -> dict[str, Any]:
    """A JSON-ready description of ``system``: every figure with its full source.

    Parameters
    ----------
    system
        A system of ``catalog``.
    catalog
        The catalog whose ``sources`` the figures cite.

    Returns
    -------
    dict
        Plain dicts, lists, strings, numbers and None only. Ranges in km, altitudes in m.
    """
    def quantities(mapping: Mapping[str, PublishedFigure]) -> dict[str, Any]:
        return {name: _published_figure_to_dict(q, catalog) for name, q in mapping.items()}

    return {
        "id": system.id,
        "name": system.name,
        "names": list(system.names),
        "nato_name": system.nato_name,
        "role": system.role,
        "country": system.country,
        "notes": system.notes,
        "max_engagement_range_km": system.max_engagement_range_km,
        "max_target_altitude_m": system.max_target_altitude_m,
        "detection_range_km": _published_figure_to_dict(system.detection_range_km, catalog),
        "weapons": [
            {
                "id": weapon.id,
                "missile": weapon.missile,
                "notes": weapon.notes,
                **quantities({q.name: q for q in weapon.quantities}),
                "other_figures": quantities(weapon.other_figures),
            }
            for weapon in system.weapons
        ],
        "sensors": [
            {
                "id": sensor.id,
                "name": sensor.name,
                "notes": sensor.notes,
                "detection_range_km": _published_figure_to_dict(sensor.detection_range_km, catalog),
                "antenna_height_m": _published_figure_to_dict(sensor.antenna_height_m, catalog),
            }
            for sensor in system.sensors
        ],
        "other_figures": quantities(system.other_figures),
        "related_sources": [_source_to_dict(catalog.source(s)) for s in system.related_sources],
        "source_ids": list(system.source_ids),
    }

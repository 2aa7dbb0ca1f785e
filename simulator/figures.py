"""The figures an envelope is computed from, per unit: published, overridden or defaulted.

Order of precedence for every figure: the unit's override in the scenario, then the
catalog's published value (nominal, or the spread's min/max with ``range_mode``), then a
stated default (design.md, "Unknown figures"): no ceiling, minimum altitude 0 m above
ground, minimum range 0, detection range = the largest weapon range, antenna height =
the scenario's assumption or :data:`DEFAULT_ANTENNA_HEIGHT_M`. Every default that stood in
for a missing published figure is listed in :attr:`UnitFigures.defaults_used`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulator.errors import AdcovError

#: Antenna height used when neither the unit nor the scenario states one. [m]
DEFAULT_ANTENNA_HEIGHT_M = 10.0

RANGE_MODES = ("nominal", "min", "max")


@dataclass(frozen=True)
class WeaponFigures:
    """One weapon's envelope figures as used. Altitude references are in the names."""

    id: str
    missile: str
    min_range_km: float
    max_range_km: float
    min_target_altitude_agl_m: float
    max_target_altitude_msl_m: float  # inf = no published ceiling
    origin: dict[str, str] = field(default_factory=dict)  # figure -> published|override|default


@dataclass(frozen=True)
class UnitFigures:
    """Everything about a unit that shapes its envelope, with where each figure came from."""

    unit_id: str
    system_id: str
    system_name: str
    lat_deg: float
    lon_deg: float
    antenna_height_m: float
    antenna_height_origin: str
    detection_range_km: float | None
    detection_origin: str
    detection_name: str
    weapons: tuple[WeaponFigures, ...]
    range_mode: str
    defaults_used: tuple[str, ...]
    sources: dict[str, list[str]]  # figure path -> source ids

    def to_dict(self) -> dict:
        return {
            "system": self.system_id,
            "system_name": self.system_name,
            "lat_deg": self.lat_deg,
            "lon_deg": self.lon_deg,
            "antenna_height_m": self.antenna_height_m,
            "antenna_height_origin": self.antenna_height_origin,
            "detection_range_km": self.detection_range_km,
            "detection_origin": self.detection_origin,
            "range_mode": self.range_mode,
            "weapons": [
                {
                    "id": w.id,
                    "missile": w.missile,
                    "min_range_km": w.min_range_km,
                    "max_range_km": w.max_range_km,
                    "min_target_altitude_agl_m": w.min_target_altitude_agl_m,
                    "max_target_altitude_msl_m": (None if math.isinf(w.max_target_altitude_msl_m) else w.max_target_altitude_msl_m),
                    "origin": dict(w.origin),
                }
                for w in self.weapons
            ],
            "defaults_used": list(self.defaults_used),
            "sources": {k: list(v) for k, v in self.sources.items()},
        }


def _published(figure, range_mode: str) -> float | None:
    """Value of a catalog PublishedFigure for the range mode (None when unknown)."""
    if figure is None or figure.nominal is None:
        return None
    if range_mode == "min" and figure.spread_min is not None:
        return float(figure.spread_min)
    if range_mode == "max" and figure.spread_max is not None:
        return float(figure.spread_max)
    return float(figure.nominal)


def _sources(figure) -> list[str]:
    return sorted({f.source_id for f in getattr(figure, "figures", ()) if getattr(f, "source_id", None)})


def resolve_unit_figures(unit, system, scenario_antenna_height_m: float | None, range_mode: str = "nominal") -> UnitFigures:
    """Figures of one scenario unit (a ``UnitSpec``) against its catalog ``System``."""
    if range_mode not in RANGE_MODES:
        raise AdcovError(f"range mode {range_mode!r} is not valid; expected one of {', '.join(RANGE_MODES)}")
    overrides = dict(getattr(unit, "figures", None) or {})
    if getattr(unit, "range_km", None) is not None:
        overrides.setdefault("max_range_km", float(unit.range_km))
    defaults: list[str] = []
    sources: dict[str, list[str]] = {}

    weapons = []
    for weapon in system.weapons:
        origin = {}
        values = {}
        for name, catalog_figure, default in (
            ("min_range_km", weapon.min_range_km, 0.0),
            ("max_range_km", weapon.max_range_km, None),
            ("min_target_altitude_m", weapon.min_target_altitude_m, 0.0),
            ("max_target_altitude_m", weapon.max_target_altitude_m, math.inf),
        ):
            if name in overrides:
                values[name], origin[name] = float(overrides[name]), "override"
                continue
            published = _published(catalog_figure, range_mode)
            if published is not None:
                values[name], origin[name] = published, "published"
                sources[f"{weapon.id}.{name}"] = _sources(catalog_figure)
            else:
                values[name], origin[name] = default, "default"
        if values["max_range_km"] is None:
            defaults.append(f"weapon {weapon.id}: no published max range; not modelled")
            continue
        for name in ("min_range_km", "min_target_altitude_m", "max_target_altitude_m"):
            if origin[name] == "default":
                shown = "none" if math.isinf(values[name]) else f"{values[name]:g}"
                defaults.append(f"weapon {weapon.id}: {name} unknown, default {shown}")
        weapons.append(
            WeaponFigures(
                id=weapon.id,
                missile=str(weapon.missile or ""),
                min_range_km=values["min_range_km"],
                max_range_km=values["max_range_km"],
                min_target_altitude_agl_m=values["min_target_altitude_m"],
                max_target_altitude_msl_m=values["max_target_altitude_m"],
                origin=origin,
            )
        )

    detection_name = "sensor"
    if "detection_range_km" in overrides:
        detection_km, detection_origin = float(overrides["detection_range_km"]), "override"
    else:
        figure = system.detection_range_km
        detection_km = _published(figure, range_mode)
        if detection_km is not None:
            detection_origin = "published"
            detection_name = getattr(figure, "name", None) or "sensor"
            sources["detection_range_km"] = _sources(figure)
        elif weapons:
            detection_km = max(w.max_range_km for w in weapons)
            detection_origin = "default"
            defaults.append(f"detection range unknown, default = largest weapon range {detection_km:g} km")
        else:
            detection_km, detection_origin = None, "unknown"

    if getattr(unit, "antenna_height_m", None) is not None:
        antenna_m, antenna_origin = float(unit.antenna_height_m), "unit"
    elif scenario_antenna_height_m is not None:
        antenna_m, antenna_origin = float(scenario_antenna_height_m), "scenario assumption"
    else:
        antenna_m, antenna_origin = DEFAULT_ANTENNA_HEIGHT_M, "default"
        defaults.append(f"antenna height unknown, default {DEFAULT_ANTENNA_HEIGHT_M:g} m")

    return UnitFigures(
        unit_id=unit.id,
        system_id=system.id,
        system_name=system.name,
        lat_deg=float(unit.lat_deg),
        lon_deg=float(unit.lon_deg),
        antenna_height_m=antenna_m,
        antenna_height_origin=antenna_origin,
        detection_range_km=detection_km,
        detection_origin=detection_origin,
        detection_name=detection_name,
        weapons=tuple(weapons),
        range_mode=range_mode,
        defaults_used=tuple(defaults),
        sources=sources,
    )

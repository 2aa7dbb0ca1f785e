"""The catalog's data model: systems, their weapons and sensors, published figures, sources.

The model and its lookups (:meth:`Catalog.get` by id or any name, close matches); the file
format, its validation and the loader are in :mod:`simulator.catalog_reader` and
:mod:`simulator.catalog` (which names all of it and documents what the catalog holds).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from simulator.errors import CatalogError, Problem, UnknownSystemError

#: Envelope quantities every weapon entry carries (known or unknown), in display order.
WEAPON_QUANTITIES = (
    "min_range_km",
    "max_range_km",
    "max_range_ballistic_km",
    "min_target_altitude_m",
    "max_target_altitude_m",
)
#: Quantities every sensor entry carries (known or unknown).
SENSOR_QUANTITIES = ("detection_range_km", "antenna_height_m")

_PARENTHETICAL = re.compile(r"\s*\([^)]*\)")
_IGNORED_IN_NAMES = re.compile(r"[-\s_]")


# ----------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Source:
    """A public source of figures, as recorded by the reference sheet.

    ``confidence`` is the sheet compiler's tier for the source (A official or manufacturer, B
    established outlet, C state-affiliated or aggregator, D blog or forum), not for any figure.
    """

    id: str
    title: str
    publisher: str
    date: str
    address: str | None
    language: str | None
    confidence: str
    note: str | None
    via: str | None


@dataclass(frozen=True)
class Figure:
    """One figure as one source reported it.

    ``value`` is a number in ``unit`` (or text when ``unit`` is ``text`` or ``date``);
    ``value_low`` is the low end when the source gave a band ("120-400 km");
    ``as_published`` is the figure as printed; ``converted_from`` names the original unit when
    the value was converted (1 mi = 1.609344 km, 1 ft = 0.3048 m).
    """

    value: float | str
    unit: str
    qualifier: str | None
    as_published: str | None
    source_id: str
    note: str | None
    converted_from: str | None
    value_low: float | None


@dataclass(frozen=True)
class PublishedFigure:
    """Every reported figure for one quantity, and the nominal value chosen from them.

    ``nominal`` is None when no source gives the quantity (then ``figures`` is empty) or when the
    figures are text. ``spread_min``/``spread_max`` span every reported value (both ends of
    bands) and are None where the sources agree.
    """

    name: str
    unit: str
    figures: tuple[Figure, ...]
    nominal: float | None
    spread_min: float | None
    spread_max: float | None
    nominal_reason: str

    @property
    def known(self) -> bool:
        """Whether a nominal value exists for this quantity."""
        return self.nominal is not None

    @property
    def source_ids(self) -> tuple[str, ...]:
        """Source ids of the figures, in order, without repeats."""
        return tuple(dict.fromkeys(f.source_id for f in self.figures))


@dataclass(frozen=True)
class Weapon:
    """One weapon (missile or gun) of a system, with its published envelope.

    Ranges are slant ranges as published [km]; altitudes are target altitudes [m].
    ``max_range_km`` is against aircraft / aerodynamic targets; ``max_range_ballistic_km``
    against ballistic missiles. ``other_figures`` holds further sourced figures attached to this
    weapon (target speed, simultaneous targets, …).
    """

    id: str
    missile: str
    min_range_km: PublishedFigure
    max_range_km: PublishedFigure
    max_range_ballistic_km: PublishedFigure
    min_target_altitude_m: PublishedFigure
    max_target_altitude_m: PublishedFigure
    notes: str | None = None
    other_figures: dict[str, PublishedFigure] = field(default_factory=dict, hash=False)

    @property
    def quantities(self) -> tuple[PublishedFigure, ...]:
        """The five envelope quantities in display order."""
        return tuple(getattr(self, name) for name in WEAPON_QUANTITIES)


@dataclass(frozen=True)
class Sensor:
    """A sensor of a system: detection range [km] and antenna height above ground [m]."""

    id: str
    name: str
    detection_range_km: PublishedFigure
    antenna_height_m: PublishedFigure
    notes: str | None = None


@dataclass(frozen=True)
class System:
    """One air-defense system of the catalog."""

    id: str
    names: tuple[str, ...]
    nato_name: str | None
    role: str
    country: str
    weapons: tuple[Weapon, ...]
    sensors: tuple[Sensor, ...]
    other_figures: dict[str, PublishedFigure] = field(default_factory=dict, hash=False)
    notes: str | None = None
    related_sources: tuple[str, ...] = ()

    def __repr__(self) -> str:
        reach = self.max_engagement_range_km
        reach_text = f"{_format_number(reach)} km" if reach is not None else "range unknown"
        return f"System({self.id!r}, {self.name}, {reach_text})"

    @property
    def name(self) -> str:
        """The display name (the first of ``names``)."""
        return self.names[0]

    @property
    def detection_range_km(self) -> PublishedFigure:
        """The known sensor detection range with the largest nominal, or an unknown figure. [km]"""
        known = [s.detection_range_km for s in self.sensors if s.detection_range_km.known]
        if known:
            return max(known, key=lambda pf: pf.nominal)
        return PublishedFigure(
            name="detection_range_km",
            unit="km",
            figures=(),
            nominal=None,
            spread_min=None,
            spread_max=None,
            nominal_reason="Unknown: no sensor of this system has a published detection range.",
        )

    @property
    def longest_range_weapon(self) -> Weapon | None:
        """The weapon with the largest nominal ``max_range_km``, or None if none is known."""
        known = [w for w in self.weapons if w.max_range_km.known]
        return max(known, key=lambda w: w.max_range_km.nominal) if known else None

    @property
    def max_engagement_range_km(self) -> float | None:
        """Largest nominal maximum range against aircraft over the weapons, None if unknown. [km]"""
        weapon = self.longest_range_weapon
        return weapon.max_range_km.nominal if weapon else None

    @property
    def max_target_altitude_m(self) -> float | None:
        """Largest nominal maximum target altitude over the weapons, None if unknown. [m]"""
        known = [w.max_target_altitude_m.nominal for w in self.weapons if w.max_target_altitude_m.known]
        return max(known) if known else None

    def published_figures(self) -> Iterator[tuple[str, PublishedFigure]]:
        """Every quantity of the system with a dotted location, e.g. ``weapons.s400_40n6.max_range_km``."""
        for weapon in self.weapons:
            for quantity in weapon.quantities:
                yield f"weapons.{weapon.id}.{quantity.name}", quantity
            for name, quantity in weapon.other_figures.items():
                yield f"weapons.{weapon.id}.other_figures.{name}", quantity
        for sensor in self.sensors:
            yield f"sensors.{sensor.id}.detection_range_km", sensor.detection_range_km
            yield f"sensors.{sensor.id}.antenna_height_m", sensor.antenna_height_m
        for name, quantity in self.other_figures.items():
            yield f"other_figures.{name}", quantity

    @property
    def source_ids(self) -> tuple[str, ...]:
        """Every source id the system's figures and related sources use, without repeats."""
        ids: dict[str, None] = {}
        for _, quantity in self.published_figures():
            ids.update(dict.fromkeys(quantity.source_ids))
        ids.update(dict.fromkeys(self.related_sources))
        return tuple(ids)


def _normalise_name(name: str) -> str:
    """Key used to match names: case-folded, without '-', '_' or whitespace."""
    return _IGNORED_IN_NAMES.sub("", name).casefold()


def _aliases(system: System) -> list[str]:
    """Spellings that select ``system``: its id, each name, each name without parentheticals."""
    aliases = [system.id]
    for name in system.names:
        aliases.append(name)
        short = _PARENTHETICAL.sub("", name).strip()
        if short and short != name:
            aliases.append(short)
    return aliases


class Catalog:
    """The published-systems catalog: systems by id and the sources their figures cite.

    Look systems up with :meth:`get`, which accepts an id or any name, ignoring case and the
    characters '-', '_' and spaces. Iterating a catalog yields its systems.
    """

    def __init__(self, systems: Mapping[str, System], sources: Mapping[str, Source], path: str = "<catalog>"):
        self.systems: dict[str, System] = dict(systems)
        self.sources: dict[str, Source] = dict(sources)
        self.path = path
        self._by_alias: dict[str, str] = {}
        clashes = []
        for system in self.systems.values():
            for alias in _aliases(system):
                key = _normalise_name(alias)
                owner = self._by_alias.setdefault(key, system.id)
                if owner != system.id:
                    clashes.append(Problem(path, None, "", f"name {alias!r} of system {system.id!r} also selects system {owner!r}"))
        if clashes:
            raise CatalogError(clashes, note="(every id and name must select one system only)")

    def __repr__(self) -> str:
        return f"Catalog({len(self.systems)} systems, {len(self.sources)} sources, from {self.path})"

    def __iter__(self) -> Iterator[System]:
        return iter(self.systems.values())

    def __len__(self) -> int:
        return len(self.systems)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, System):
            return self.systems.get(item.id) is item
        return isinstance(item, str) and _normalise_name(item) in self._by_alias

    def get(self, name_or_id: str) -> System:
        """The system with this id or name.

        Matching ignores case and the characters '-', '_' and spaces, so ``'S-300V4'``,
        ``'s300v4'`` and ``'S300V4'`` all select the S-300V4.

        Raises
        ------
        UnknownSystemError
            No system has that id or name; the message lists close matches.
        """
        system_id = self._by_alias.get(_normalise_name(str(name_or_id)))
        if system_id is not None:
            return self.systems[system_id]
        close = self.close_matches(str(name_or_id))
        hint = f"close matches: {', '.join(close)}" if close else "no close match"
        raise UnknownSystemError(
            f"unknown system {name_or_id!r} in the catalog ({hint}); "
            f"run `adcov systems` to list all {len(self)} systems"
        )

    def close_matches(self, name: str, n: int = 5) -> list[str]:
        """Display names of up to ``n`` systems whose id or names resemble ``name``, best first."""
        query = _normalise_name(name)
        if not query:
            return []
        scores: dict[str, float] = {}
        for alias, system_id in self._by_alias.items():
            score = difflib.SequenceMatcher(None, query, alias).ratio()
            if len(query) >= 2 and (query in alias or alias in query):
                score = max(score, 0.8)
            if score >= 0.6:
                scores[system_id] = max(score, scores.get(system_id, 0.0))
        ranked = sorted(scores, key=lambda system_id: (-scores[system_id], system_id))
        return [self.systems[system_id].name for system_id in ranked[:n]]

    def source(self, source_id: str) -> Source:
        """The source with this id.

        Raises
        ------
        CatalogError
            No source has that id.
        """
        try:
            return self.sources[source_id]
        except KeyError:
            close = difflib.get_close_matches(source_id, list(self.sources), n=3)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise CatalogError(f"unknown source id {source_id!r} in {self.path}{hint}") from None


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"

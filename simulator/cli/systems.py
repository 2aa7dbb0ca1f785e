"""``adcov systems [NAME] [--json]``: list the published-systems catalog or show one system.

Without NAME: a table of every system (nominal maximum range and its spread, ceiling,
detection range, number of sources). With NAME: every figure of that system, with its
qualifier, the text as published and its full source. ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from simulator.catalog import (
    Catalog,
    Figure,
    PublishedFigure,
    System,
    load_catalog,
    system_to_dict,
)

UNKNOWN = "unknown"
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)")
_UNIT_SUFFIXES = ("_m_s", "_km", "_min", "_m")

_QUANTITY_LABELS = {
    "min_range_km": "minimum range",
    "max_range_km": "maximum range (aircraft)",
    "max_range_ballistic_km": "maximum range (ballistic missiles)",
    "min_target_altitude_m": "minimum target altitude",
    "max_target_altitude_m": "maximum target altitude",
    "detection_range_km": "detection range",
    "antenna_height_m": "antenna height",
    "deploy_time_min": "deployment time",
}


def _label(name: str) -> str:
    """Readable label of a quantity name, without its unit suffix (the unit is shown apart)."""
    if name in _QUANTITY_LABELS:
        return _QUANTITY_LABELS[name]
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ")


def _short(text: str | None) -> str:
    """A name without its parenthetical remarks, for the overview table."""
    if not text:
        return "—"
    return _PARENTHETICAL.sub("", text).strip() or text


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``systems`` subcommand."""
    parser = subparsers.add_parser(
        "systems",
        help="list the published-systems catalog, or show one system with every figure and source",
        description=(
            "List the catalog of published air-defense systems, or show one system with every "
            "published figure, its qualifier, the text as published and its source. Nominal "
            "figures are press/marketing maxima, not engagement envelopes."
        ),
    )
    parser.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="system id or name, e.g. S-300V4, s300v4 or Tor-M2 (case, '-', '_' and spaces ignored)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the catalog or one system; return the exit status."""
    catalog = load_catalog()
    if args.name is None:
        if args.json:
            _print_json([system_to_dict(system, catalog) for system in catalog])
        else:
            _console().print(_systems_table(catalog))
        return 0
    system = catalog.get(args.name)
    if args.json:
        _print_json(system_to_dict(system, catalog))
    else:
        _print_system(system, catalog, _console())
    return 0


# Width used when stdout is a pipe or file and COLUMNS is unset (rich would assume 80).
_PIPE_WIDTH = 160


def _console() -> Console:
    # Created per call so that it writes to the current sys.stdout (redirected by tests or pipes).
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(file=sys.stdout, highlight=False, width=_PIPE_WIDTH)
    return console


def _print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _number(value: float | None) -> str:
    if value is None:
        return UNKNOWN
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _nominal_with_spread(quantity: PublishedFigure | None) -> str:
    if quantity is None or not quantity.known:
        return UNKNOWN
    text = _number(quantity.nominal)
    if quantity.spread_min is not None:
        text += f" ({_number(quantity.spread_min)}–{_number(quantity.spread_max)})"
    return text


def _systems_table(catalog: Catalog) -> Table:
    table = Table(
        title=(
            "Published air-defense systems: nominal figures (press/marketing maxima), "
            "spread of reported values in parentheses"
        ),
        title_justify="left",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("name")
    table.add_column("NATO name")
    table.add_column("max range km", justify="right")
    table.add_column("max range BM km", justify="right")
    table.add_column("max altitude m", justify="right")
    table.add_column("detection km", justify="right")
    table.add_column("sources", justify="right")
    for system in catalog:
        weapon = system.longest_range_weapon
        ballistic = [w.max_range_ballistic_km for w in system.weapons if w.max_range_ballistic_km.known]
        longest_ballistic = max(ballistic, key=lambda q: q.nominal) if ballistic else None
        table.add_row(
            Text(system.id),
            Text(_short(system.name)),
            Text(_short(system.nato_name)),
            Text(_nominal_with_spread(weapon.max_range_km if weapon else None)),
            Text(_nominal_with_spread(longest_ballistic)),
            Text(_number(system.max_target_altitude_m)),
            Text(_nominal_with_spread(system.detection_range_km)),
            Text(str(len(system.source_ids))),
        )
    return table


def _line(console: Console, text: str, indent: int = 0, style: str | None = None) -> None:
    # Text objects: no markup parsing ("[km]" stays literal); soft_wrap keeps addresses whole.
    console.print(Text(" " * indent + text, style=style or ""), soft_wrap=True)


def _figure_line(figure: Figure, catalog: Catalog) -> str:
    if figure.value_low is not None:
        value = f"{_number(figure.value_low)}–{_number(figure.value)} {figure.unit}"
    elif isinstance(figure.value, str):
        value = figure.value
    else:
        value = f"{_number(figure.value)} {figure.unit}"
    parts = [value]
    if figure.qualifier:
        parts.append(figure.qualifier)
    if figure.as_published:
        parts.append(f"as published: “{figure.as_published}”")
    if figure.converted_from:
        parts.append(f"converted from {figure.converted_from}")
    if figure.note:
        parts.append(f"note: {figure.note}")
    return "- " + "; ".join(parts)


def _source_lines(source_id: str, catalog: Catalog) -> list[str]:
    source = catalog.source(source_id)
    lines = [f"source: {source.publisher}, “{source.title}”, {source.date} (tier {source.confidence}; id {source.id})"]
    if source.via:
        lines.append(f"via: {source.via}")
    if source.address:
        lines.append(source.address)
    return lines


def _print_quantity(console: Console, quantity: PublishedFigure, catalog: Catalog, indent: int) -> None:
    label = _label(quantity.name)
    if not quantity.figures:
        _line(console, f"{label} [{quantity.unit}]: {UNKNOWN}", indent, "bold")
    elif quantity.known:
        _line(console, f"{label} [{quantity.unit}]: nominal {_nominal_with_spread(quantity)}", indent, "bold")
    else:
        _line(console, f"{label}: (text)", indent, "bold")
    _line(console, f"why: {quantity.nominal_reason}", indent + 2)
    for figure in quantity.figures:
        _line(console, _figure_line(figure, catalog), indent + 2)
        for source_line in _source_lines(figure.source_id, catalog):
            _line(console, source_line, indent + 6)


def _print_system(system: System, catalog: Catalog, console: Console) -> None:
    _line(console, f"{system.name} ({system.id})", style="bold")
    if len(system.names) > 1:
        _line(console, f"also: {', '.join(system.names[1:])}")
    _line(console, f"NATO name: {system.nato_name or '—'}")
    _line(console, f"role: {system.role}; country: {system.country}")
    if system.notes:
        _line(console, f"notes: {system.notes}")
    _line(console, "Nominal figures are press/marketing maxima for ideal targets, not engagement envelopes.")
    for weapon in system.weapons:
        console.print()
        _line(console, f"weapon {weapon.id}: {weapon.missile}", style="bold underline")
        if weapon.notes:
            _line(console, f"notes: {weapon.notes}", 2)
        for quantity in weapon.quantities:
            _print_quantity(console, quantity, catalog, 2)
        for quantity in weapon.other_figures.values():
            _print_quantity(console, quantity, catalog, 2)
    for sensor in system.sensors:
        console.print()
        _line(console, f"sensor {sensor.id}: {sensor.name}", style="bold underline")
        if sensor.notes:
            _line(console, f"notes: {sensor.notes}", 2)
        _print_quantity(console, sensor.detection_range_km, catalog, 2)
        _print_quantity(console, sensor.antenna_height_m, catalog, 2)
    if system.other_figures:
        console.print()
        _line(console, "other figures", style="bold underline")
        for quantity in system.other_figures.values():
            _print_quantity(console, quantity, catalog, 2)
    if system.related_sources:
        console.print()
        _line(console, "related sources (no figures)", style="bold underline")
        for source_id in system.related_sources:
            for index, source_line in enumerate(_source_lines(source_id, catalog)):
                _line(console, source_line, 2 if index == 0 else 4)

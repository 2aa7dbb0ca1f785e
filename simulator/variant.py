"""Write a scenario variant: ``extends:`` a scenario file, then ``withdraw:``/``override:``/``add:``.

A GUI session (units unchecked, a unit moved, an antenna raised, another "as of" day) is saved
as a small scenario file that extends the file it started from, so the same question can be
re-run headless (``adcov run variant.yaml``) and gives the same units and numbers.

The file is written atomically (:func:`simulator.fileio.write_bytes_atomically`): to a
temporary file in the destination folder, validated by loading it back with
:func:`simulator.scenario.load_scenario`, then moved into place with ``os.replace``. An
invalid variant raises :class:`~simulator.errors.ScenarioError` (naming the destination file)
and leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from simulator.errors import Problem, ScenarioError
from simulator.fileio import write_bytes_atomically
from simulator.scenario import SCHEMA_VERSION, Scenario, load_scenario

__all__ = ["variant_document", "write_variant_scenario"]

#: Unit fields an ``override:`` entry may set (the scenario schema's unit fields, minus ``id``).
OVERRIDE_FIELDS = (
    "system",
    "lat_deg",
    "lon_deg",
    "position_precision_km",
    "antenna_height_m",
    "range_km",
    "figures",
    "deployed",
    "withdrawn",
    "dates_note",
    "status",
    "sources",
    "notes",
)


def _plain(value: Any, where: str) -> Any:
    """A YAML-safe plain value (dates stay dates, floats finite, numpy scalars unwrapped)."""
    if isinstance(value, _dt.datetime):
        raise ScenarioError(f"{where}: expected a date (YYYY-MM-DD), got a date and time {value!r}")
    if isinstance(value, _dt.date):
        return value  # safe_dump writes an unquoted ISO date
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ScenarioError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    try:  # numpy scalars
        return _plain(value.item(), where)
    except AttributeError:
        raise ScenarioError(f"{where}: cannot write a value of type {type(value).__name__}") from None


def _extends_text(path: Path, baseline_path: Path) -> str:
    """``baseline_path`` relative to the folder of ``path`` (POSIX separators), else absolute."""
    try:
        rel = os.path.relpath(baseline_path.resolve(), path.resolve().parent)
    except ValueError:  # another drive on Windows
        return baseline_path.resolve().as_posix()
    return Path(rel).as_posix()


def variant_document(
    path: str | os.PathLike,
    baseline_path: str | os.PathLike,
    *,
    withdraw: Iterable[str | Mapping] = (),
    override: Mapping[str, Mapping[str, Any]] | None = None,
    add: Iterable[Mapping[str, Any]] = (),
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    as_of: _dt.date | str | None = None,
) -> dict:
    """The variant as a plain mapping (what :func:`write_variant_scenario` writes)."""
    path = Path(path)
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "extends": _extends_text(path, Path(baseline_path))}
    doc["name"] = name or path.stem
    if title:
        doc["title"] = title
    if description:
        doc["description"] = description
    if as_of is not None:
        if isinstance(as_of, str):
            try:
                as_of = _dt.date.fromisoformat(as_of)
            except ValueError:
                raise ScenarioError(f"as_of: expected a date YYYY-MM-DD, got {as_of!r}") from None
        doc["as_of"] = _plain(as_of, "as_of")
    withdraw_list = []
    for i, entry in enumerate(withdraw):
        if isinstance(entry, str):
            withdraw_list.append(entry)
        elif isinstance(entry, Mapping):
            withdraw_list.append(_plain(dict(entry), f"withdraw[{i}]"))
        else:
            raise ScenarioError(f"withdraw[{i}]: expected a unit id or {{id, date, sources, note}}, got {entry!r}")
    if withdraw_list:
        doc["withdraw"] = withdraw_list
    override_list = []
    for uid, fields in (override or {}).items():
        unknown = sorted(set(fields) - set(OVERRIDE_FIELDS))
        if unknown:
            raise ScenarioError(
                f"override[{uid}]: unknown field(s) {', '.join(unknown)}; expected any of {', '.join(OVERRIDE_FIELDS)}"
            )
        if not fields:
            continue
        override_list.append({"id": str(uid), **_plain(dict(fields), f"override[{uid}]")})
    if override_list:
        doc["override"] = override_list
    add_list = [_plain(dict(unit), f"add[{i}]") for i, unit in enumerate(add)]
    if add_list:
        doc["add"] = add_list
    return doc


def write_variant_scenario(
    path: str | os.PathLike,
    baseline_path: str | os.PathLike,
    *,
    withdraw: Iterable[str | Mapping] = (),
    override: Mapping[str, Mapping[str, Any]] | None = None,
    add: Iterable[Mapping[str, Any]] = (),
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    as_of: _dt.date | str | None = None,
    header: str | None = None,
) -> Scenario:
    """Write a scenario file that extends ``baseline_path``; return it loaded.

    Parameters
    ----------
    path
        Destination ``.yaml`` file (replaced atomically if it exists).
    baseline_path
        The scenario file the variant extends; written relative to ``path``'s folder.
    withdraw
        Ids of inherited units to withdraw, or ``{id, date, sources, note}`` mappings.
    override
        ``{unit_id: {field: value}}``: fields replacing the inherited unit's (``lat_deg``,
        ``lon_deg``, ``antenna_height_m``, ``figures``, ...; see :data:`OVERRIDE_FIELDS`).
    add
        New units, each a full unit mapping (``id``, ``system``, ``lat_deg``, ``lon_deg``...).
    name, title, description
        Metadata of the variant (``name`` defaults to the file name without ``.yaml``).
    as_of
        The day the variant describes; headless runs keep the units active on it.
    header
        Comment lines written at the top of the file (without ``#``).

    Returns
    -------
    Scenario
        The written file, loaded and validated by :func:`load_scenario`.

    Raises
    ------
    ScenarioError
        The variant does not validate (e.g. it withdraws an unknown unit or moves one off
        the terrain); its problems name ``path``. Nothing is written then.
    """
    path = Path(path)
    doc = variant_document(
        path, baseline_path, withdraw=withdraw, override=override, add=add,
        name=name, title=title, description=description, as_of=as_of,
    )
    lines = [f"# {line}".rstrip() for line in (header or "").splitlines()]
    text = ("\n".join(lines) + "\n" if lines else "") + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)

    def loads_back(tmp: Path) -> None:
        """Validate the written file before it replaces anything; problems name ``path``."""
        try:
            load_scenario(tmp)
        except ScenarioError as exc:
            shown = os.fspath(path)
            raise ScenarioError(
                [Problem(shown if p.file == os.fspath(tmp) or Path(p.file) == tmp else p.file, p.line, p.key_path, p.message)
                 for p in exc.problems]
            ) from None

    write_bytes_atomically(path, text.encode("utf-8"), fsync=True, check=loads_back)
    return load_scenario(path)

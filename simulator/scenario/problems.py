"""Problem texts: how each invalid value of a scenario file is explained.

A pydantic :class:`~pydantic.ValidationError` becomes one :class:`~simulator.errors.Problem`
per invalid value, located in the document (file, line, key path such as
``units[2].antenna_height_m``), saying what is wrong and what would be valid::

    kurils.yaml:14: units[2].antenna_height_m: expected a number ≥ 0 [m], got -5

Unknown keys get a "did you mean" from spelling and common synonyms (``lattitude`` →
``lat_deg``) and the list of valid keys.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ValidationError

from simulator.errors import Problem
from simulator.located_yaml import LocatedDoc, format_key_path
from simulator.scenario.schema import FIGURE_KEYS, STATUSES, VOID_POLICIES, ScenarioFile

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


def _validation_problems(exc: ValidationError, doc: LocatedDoc, prefix: tuple = ()) -> list[Problem]:
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
            message = _unknown_key_message(key, parent, doc)
            problems.append(Problem(doc.display, doc.line(path), format_key_path(path), message))
        else:
            message = _message_for(err, path)
            dedupe = (path, message)
            if dedupe in seen:
                continue
            seen.add(dedupe)
            problems.append(Problem(doc.display, doc.line(path), format_key_path(path), message))
    return problems


def _unknown_key_message(key: str, parent: tuple, doc: LocatedDoc) -> str:
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

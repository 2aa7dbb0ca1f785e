"""The GUI's view state: plain Python, no Qt (glue's ``State`` / napari's ``Dims`` pattern).

Widgets are bound to a :class:`ViewState`: they write through :meth:`ViewState.set` and
redraw from the callbacks it fires, so tests (and scripts) can drive the GUI by changing the
state and assert the widgets, or drive a widget and assert the state.

Every field is validated on assignment; a change fires each callback once with the mapping
of the fields that changed (several fields set together fire once).
"""

from __future__ import annotations

import datetime as _dt
import math
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from simulator.coverage import ALTITUDE_REFS, LAYERS

#: View modes of the map, in menu order.
VIEWS = ("coverage", "depth", "which-unit", "sole", "difference")
VIEW_TITLES = {
    "coverage": "Coverage",
    "depth": "Depth (units covering)",
    "which-unit": "Which unit",
    "sole": "Sole coverage",
    "difference": "Difference (lost / kept / gained)",
}
#: What the difference view compares the current state with.
DIFFERENCE_AGAINST = ("comparison", "loaded")
#: Range of the altitude slider (log scale). [m]
ALTITUDE_MIN_M = 10.0
ALTITUDE_MAX_M = 30_000.0
#: Unit fields the GUI can edit (then only that unit's envelope is recomputed).
EDITABLE_FIELDS = ("lat_deg", "lon_deg", "antenna_height_m")

Callback = Callable[[Mapping[str, Any]], None]


def _path_or_none(value):
    return None if value is None else Path(value)


def _altitude(value) -> float:
    value = float(value)
    if not math.isfinite(value) or not (ALTITUDE_MIN_M <= value <= ALTITUDE_MAX_M):
        raise ValueError(f"altitude_m: expected {ALTITUDE_MIN_M:g} to {ALTITUDE_MAX_M:g} m, got {value}")
    return value


def _choice(name: str, valid: tuple[str, ...]):
    def check(value):
        if value not in valid:
            raise ValueError(f"{name}: {value!r} is not valid; expected one of {', '.join(valid)}")
        return value

    return check


def _date_or_none(value):
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        return _dt.date.fromisoformat(value)
    raise ValueError(f"as_of: expected a date or None, got {value!r}")


def _ids(value) -> frozenset:
    if isinstance(value, str):
        raise TypeError("withdrawn: expected a collection of unit ids, not one string")
    return frozenset(str(v) for v in value)


def _edits(value) -> Mapping[str, Mapping[str, float]]:
    out = {}
    for uid, fields in dict(value).items():
        bad = set(fields) - set(EDITABLE_FIELDS)
        if bad:
            raise ValueError(f"edits[{uid}]: cannot edit {', '.join(sorted(bad))}; editable: {', '.join(EDITABLE_FIELDS)}")
        clean = {}
        for name, v in fields.items():
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"edits[{uid}].{name}: expected a finite number, got {v}")
            if name == "antenna_height_m" and v < 0:
                raise ValueError(f"edits[{uid}].antenna_height_m: expected a number >= 0 [m], got {v}")
            if name == "lat_deg" and not -90 <= v <= 90:
                raise ValueError(f"edits[{uid}].lat_deg: expected -90 to 90 [deg], got {v}")
            if name == "lon_deg" and not -180 <= v <= 180:
                raise ValueError(f"edits[{uid}].lon_deg: expected -180 to 180 [deg], got {v}")
            clean[name] = v
        if clean:
            out[str(uid)] = types.MappingProxyType(clean)
    return types.MappingProxyType(out)


_FIELDS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "scenario_path": (None, _path_or_none),
    "comparison_path": (None, _path_or_none),
    "altitude_m": (1000.0, _altitude),
    "altitude_ref": ("msl", _choice("altitude_ref", ALTITUDE_REFS)),
    "layer": ("engagement", _choice("layer", LAYERS)),
    "view": ("coverage", _choice("view", VIEWS)),
    "difference_against": ("comparison", _choice("difference_against", DIFFERENCE_AGAINST)),
    "as_of": (None, _date_or_none),
    "withdrawn": (frozenset(), _ids),
    "edits": (types.MappingProxyType({}), _edits),
    "selected_unit": (None, lambda v: None if v is None else str(v)),
    "show_rings": (True, bool),
}


class ViewState:
    """What the GUI shows, independent of any widget.

    Fields
    ------
    scenario_path, comparison_path : Path or None
        The scenario open, and the variant the difference view compares with.
    altitude_m : float
        Target altitude, 10 m to 30 km. [m]
    altitude_ref : {"msl", "agl"}
    layer : {"detection", "engagement"}
    view : one of :data:`VIEWS`
    difference_against : {"comparison", "loaded"}
        Difference view: current state vs the comparison scenario, or the scenario as
        loaded vs the current state.
    as_of : date or None
        Only units active on that day count (``UnitSpec.active_on``); None: every unit.
    withdrawn : frozenset of str
        Units the user unchecked.
    edits : mapping unit id -> {lat_deg, lon_deg, antenna_height_m}
        Per-unit changes from the file's values.
    selected_unit : str or None
    show_rings : bool
        Draw the nominal (flat-earth) range rings.

    Examples
    --------
    >>> state = ViewState()
    >>> seen = []
    >>> state.add_callback(lambda changes: seen.append(sorted(changes)))
    >>> state.set(altitude_m=300, layer="detection")  # returns what changed
    {'altitude_m': 300.0, 'layer': 'detection'}
    >>> seen, state.altitude_m
    ([['altitude_m', 'layer']], 300.0)
    >>> state.set(altitude_m=300.0)  # no change, no callback
    {}
    >>> len(seen)
    1
    """

    __slots__ = ("_blocked", "_callbacks", "_values")

    def __init__(self, **values):
        object.__setattr__(self, "_values", {name: check(default) for name, (default, check) in _FIELDS.items()})
        object.__setattr__(self, "_callbacks", [])
        object.__setattr__(self, "_blocked", 0)
        if values:
            self.set(**values)

    # -- fields ---------------------------------------------------------------------------
    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"ViewState has no field {name!r}; fields: {', '.join(_FIELDS)}") from None

    def __setattr__(self, name: str, value) -> None:
        self.set(**{name: value})

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items() if k not in ("edits",))
        return f"ViewState({shown}, edits={dict(self.edits)!r})"

    def set(self, **changes) -> dict[str, Any]:
        """Validate and apply; fire callbacks once with the fields that changed."""
        unknown = [k for k in changes if k not in _FIELDS]
        if unknown:
            raise AttributeError(f"ViewState has no field(s) {', '.join(unknown)}; fields: {', '.join(_FIELDS)}")
        clean = {name: _FIELDS[name][1](value) for name, value in changes.items()}
        changed = {name: value for name, value in clean.items() if self._values[name] != value}
        if not changed:
            return {}
        self._values.update(changed)
        if not self._blocked:
            for callback in list(self._callbacks):
                callback(types.MappingProxyType(changed))
        return changed

    # -- callbacks ------------------------------------------------------------------------
    def add_callback(self, callback: Callback) -> None:
        self._callbacks.append(callback)

    def remove_callback(self, callback: Callback) -> None:
        self._callbacks.remove(callback)

    # -- helpers --------------------------------------------------------------------------
    def withdraw(self, unit_id: str) -> None:
        self.set(withdrawn=self.withdrawn | {unit_id})

    def restore(self, unit_id: str) -> None:
        self.set(withdrawn=self.withdrawn - {unit_id})

    def set_unit_active(self, unit_id: str, active: bool) -> None:
        (self.restore if active else self.withdraw)(unit_id)

    def set_edit(self, unit_id: str, **fields: float) -> None:
        """Change (merge) a unit's edited fields."""
        edits = {k: dict(v) for k, v in self.edits.items()}
        edits.setdefault(unit_id, {}).update(fields)
        self.set(edits=edits)

    def clear_edit(self, unit_id: str) -> None:
        if unit_id in self.edits:
            self.set(edits={k: dict(v) for k, v in self.edits.items() if k != unit_id})

    def reset_units(self, unit_ids: Iterable[str] = ()) -> None:
        """Forget withdrawals and edits (of every unit, or of those given)."""
        ids = set(unit_ids)
        if not ids:
            self.set(withdrawn=frozenset(), edits={})
        else:
            self.set(
                withdrawn=self.withdrawn - ids,
                edits={k: dict(v) for k, v in self.edits.items() if k not in ids},
            )

"""Unit edits and the profile that follows them: the window's bookkeeping, without Qt.

An *edit* is a unit's latitude, longitude or antenna height changed from the scenario file's
value (``ViewState.edits``). :class:`EditBook` remembers what the state alone does not: the
edits as last saved (for "unsaved edits" on quitting), the last edit of each unit whose
envelope was built (where a failed recomputation goes back to) and which envelopes are being
built. :class:`ProfileRequest` is the line-of-sight profile on screen -- from which unit to
which point, for which figures -- so the window can redraw it when that unit is edited,
dragged or reset.

Everything here is plain Python over :class:`~gui.model.Session` and
:class:`~gui.state.ViewState`; the import-linter contract in pyproject.toml keeps Qt out.

Examples
--------
>>> file = {"lat_deg": 45.0, "lon_deg": 147.5, "antenna_height_m": 30.0}
>>> edits_with({}, "tor", {"lat_deg": 45.1, "lon_deg": 147.5}, file)  # the longitude is the file's
{'tor': {'lat_deg': 45.1}}
>>> edits_with({"tor": {"lat_deg": 45.1}}, "tor", {"lat_deg": 45.0}, file)  # back to the file: no edit
{}
>>> book = EditBook()
>>> book.unsaved({"tor": {"lat_deg": 45.1}})
True
>>> book.mark_saved({"tor": {"lat_deg": 45.1}})
>>> book.unsaved({"tor": {"lat_deg": 45.1}}), book.unsaved({})
(False, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gui.model import format_lat_lon

#: An edited value within this of the file's is the file's (no edit).
SAME_VALUE = 1e-9

Edits = Mapping[str, Mapping[str, float]]


def plain_edits(edits: Edits) -> dict[str, dict[str, float]]:
    """A mutable copy of ``ViewState.edits`` (a read-only mapping of read-only mappings)."""
    return {uid: dict(fields) for uid, fields in edits.items()}


def file_values(session, unit_id: str) -> dict[str, float]:
    """The unit's editable fields as the scenario file gives them (its loaded figures)."""
    figures = session.coverage.envelopes[unit_id].figures
    return {"lat_deg": figures.lat_deg, "lon_deg": figures.lon_deg, "antenna_height_m": figures.antenna_height_m}


def edits_with(edits: Edits, unit_id: str, fields: Mapping[str, float], file: Mapping[str, float]) -> dict:
    """``edits`` with ``fields`` merged into the unit's; only the fields that differ from the
    file's values (``file``) count, and a unit left with none is no longer edited."""
    merged = {**dict(edits.get(unit_id, {})), **fields}
    changed = {k: float(v) for k, v in merged.items() if abs(float(v) - file[k]) > SAME_VALUE}
    out = {uid: dict(f) for uid, f in edits.items() if uid != unit_id}
    if changed:
        out[unit_id] = changed
    return out


def edit_unit(session, edits: Edits, unit_id: str, **fields: float) -> dict:
    """The edits after moving a unit or changing its antenna height (see :func:`edits_with`)."""
    return edits_with(edits, unit_id, fields, file_values(session, unit_id))


class EditBook:
    """What the window remembers about edits between state changes.

    ``saved``: the edits when the scenario was opened (none) or last saved; ``good``: per
    unit, the last edited fields whose envelope was built; ``building``: the envelopes being
    built (edit key -> whatever the caller runs them with, e.g. its task).
    """

    def __init__(self):
        self.saved: dict[str, dict[str, float]] = {}
        self.good: dict[str, dict[str, float]] = {}
        self.building: dict[tuple, Any] = {}

    def reset(self) -> None:
        """A scenario was opened: nothing saved, built or building for it yet."""
        self.saved, self.good, self.building = {}, {}, {}

    # -- saving -----------------------------------------------------------------------------
    def mark_saved(self, edits: Edits) -> None:
        self.saved = plain_edits(edits)

    def unsaved(self, edits: Edits) -> bool:
        """Whether there are edits, and they are not the ones last saved."""
        current = plain_edits(edits)
        return bool(current) and current != self.saved

    # -- building envelopes -----------------------------------------------------------------
    def to_build(self, session, state) -> list[tuple[str, dict[str, float], tuple]]:
        """(unit id, fields, key) of each edited unit whose envelope is neither built nor being built."""
        out = []
        for uid in session.pending_edits(state):
            fields = dict(state.edits[uid])
            key = session._edit_key(uid, fields)
            if key not in self.building:
                out.append((uid, fields, key))
        return out

    def started(self, key: tuple, job: Any) -> None:
        self.building[key] = job

    def finished(self, key: tuple) -> None:
        """A build ended (built, failed or cancelled), whichever session it was for."""
        self.building.pop(key, None)

    def built(self, unit_id: str, fields: Mapping[str, float]) -> None:
        self.good[unit_id] = dict(fields)

    def restored(self, edits: Edits, unit_id: str) -> dict:
        """``edits`` with the unit back to its last built edit (or to the file's values) after
        its recomputation failed or was cancelled."""
        out = {uid: dict(f) for uid, f in edits.items() if uid != unit_id}
        if unit_id in self.good:
            out[unit_id] = self.good[unit_id]
        return out


def sea_warning(unit_id: str, envelope) -> str:
    """What to say when an edit puts a unit on the sea (terrain at or below 0 m at its site:
    a land-based unit there is unlikely); "" when it stands on land."""
    terrain_m = envelope.los.site_terrain_m
    if not terrain_m <= 0.0:
        return ""
    where = format_lat_lon(envelope.figures.lat_deg, envelope.figures.lon_deg)
    return f"⚠ {unit_id} now stands on the sea (terrain {terrain_m:.0f} m at {where}): a land-based unit there is unlikely"


# ------------------------------------------------------------------------------ the profile


@dataclass(frozen=True)
class ProfileRequest:
    """The profile on screen: from ``unit_id`` to (``lat_deg``, ``lon_deg``), drawn for ``figures``."""

    lat_deg: float
    lon_deg: float
    unit_id: str
    figures: Any

    def is_stale(self, session, edits: Edits) -> bool:
        """Whether the unit's envelope changed since it was drawn (an applied edit, a drag,
        back to the file's values): then it is drawn again, so its text and line always
        describe the unit as it is."""
        if session is None or self.unit_id not in session.unit_ids:
            return False
        return session.envelope(self.unit_id, edits).figures != self.figures


def profile_unit(session, state, unit_id: str | None = None) -> str | None:
    """The unit a profile starts from: the one given, else the selected one, else the first
    active unit, else the first unit (None: the scenario has no unit)."""
    uid = unit_id or state.selected_unit
    if uid is None or uid not in session.unit_ids:
        active = session.active_ids(state)
        uid = active[0] if active else (session.unit_ids[0] if session.unit_ids else None)
    return uid


def line_of_sight(session, state, lat_deg: float, lon_deg: float, unit_id: str | None = None):
    """``(profile, request)``: :func:`simulator.profile.line_of_sight_profile` from the unit of
    :func:`profile_unit` (as edited) to a point; None when there is no unit. Raises
    :class:`~simulator.errors.AdcovError` when the point cannot be profiled."""
    from simulator.profile import line_of_sight_profile

    uid = profile_unit(session, state, unit_id)
    if uid is None:
        return None
    env = session.envelope(uid, state.edits)
    coverage = dataclasses.replace(session.coverage, envelopes={uid: env})  # the unit's own envelope floor
    profile = line_of_sight_profile(coverage, env.figures, session.scenario.k_factor, lat_deg, lon_deg)
    return profile, ProfileRequest(lat_deg, lon_deg, uid, env.figures)

"""The profile panel: the line-of-sight profile under the map (:class:`~gui.profile_view.ProfileDock`)
and its dashed line on the map.

A click on the map draws the profile from the selected unit (else the first active one) to
that point (:func:`gui.edits.line_of_sight`). It follows the state by itself: when the
edits change the envelope of the profile's unit (an applied edit, a drag, back to the
file's values) the profile is drawn again, so its text and line always describe the unit
as it is (:meth:`gui.edits.ProfileRequest.is_stale`). It writes nothing. Not state, so from
the window: :meth:`ProfilePanel.clear` for a newly opened scenario, and :meth:`ProfilePanel.refresh`
when an edited unit's envelope is built.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtWidgets

from gui import edits, model
from gui.map_view import MapView
from gui.profile_view import ProfileDock
from gui.state import ViewState
from simulator.errors import AdcovError

#: What the profile says before the first click on a scenario's map.
HINT = "Click the map to draw the line of sight from the selected unit to that point."


def _raise(title: str, exc: BaseException) -> None:
    raise exc


class ProfilePanel(ProfileDock):
    """The profile dock of ``window`` (a QMainWindow) for the open session (``session()``),
    drawing its line on ``map_view``; ``report(title, exc)`` shows an error (default: raise it)."""

    def __init__(self, window: QtWidgets.QMainWindow, state: ViewState, session: Callable[[], model.Session | None],
                 map_view: MapView, *, report: Callable[[str, BaseException], None] | None = None):
        super().__init__(window)
        self.state = state
        self._session = session
        self.map = map_view
        self._report = report or _raise
        #: the profile on screen (:class:`gui.edits.ProfileRequest`; None: none)
        self.request: edits.ProfileRequest | None = None
        map_view.map_clicked.connect(self._on_map_clicked)
        state.add_callback(self._on_state_changed)

    def _on_state_changed(self, changes) -> None:
        if "edits" in changes:
            self.refresh()

    def refresh(self) -> None:
        """Draw the profile again when its unit's envelope changed since it was drawn."""
        request = self.request
        if request is not None and request.is_stale(self._session(), self.state.edits):
            self.line_of_sight(request.lat_deg, request.lon_deg, request.unit_id)

    def clear(self, message: str = HINT) -> None:
        """No profile (a newly opened scenario): the hint, and no line on the map."""
        self.view.clear(message)
        self.map.set_profile_line()
        self.request = None

    def line_of_sight(self, lat_deg: float, lon_deg: float, unit_id: str | None = None):
        """Line of sight from a unit (the given, else the selected, else the first active) to
        a point, drawn; the profile, or None (no unit, or an error, reported)."""
        try:
            found = edits.line_of_sight(self._session(), self.state, lat_deg, lon_deg, unit_id)
        except AdcovError as exc:
            self._report("Cannot draw the profile", exc)
            return None
        if found is None:
            return None
        profile, request = found
        self.show_profile(profile)
        self.map.set_profile_line([profile.site_lon_deg, lon_deg], [profile.site_lat_deg, lat_deg])
        self.request = request
        return profile

    def _on_map_clicked(self, row: int, col: int, x: float, y: float) -> None:
        if self._session() is None:
            return
        lon, lat = self.map.map_to_lonlat(x, y)
        self.line_of_sight(lat, lon)

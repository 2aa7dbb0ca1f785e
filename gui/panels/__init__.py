"""The window's panels, each bound to the :class:`~gui.state.ViewState` (napari's ``QtDims``
pattern).

A panel takes the state and read-only accessors (a callable returning the open
:class:`~gui.model.Session`, or None); it subscribes to the state itself, updates only its
own widgets, and writes only through the state (``state.set(...)`` and its helpers) or
through a small callback the window gives it for what is not state (applying a unit edit,
reporting an error). What the state does not announce -- a scenario or a comparison opened,
an edited unit's envelope built -- the window tells them. :class:`~gui.main_window.MainWindow`
composes them into its docks and menus and keeps the session, the background work and the
file actions.

* :class:`UnitsPanel`: unit tree with withdraw check boxes, details, the edit box;
* :class:`QueryPanel`: target altitude (slider, spin box, MSL / AGL), layer, view,
  difference, range rings;
* :class:`TimelinePanel`: "as of" check box, slider and the units' dates;
* :class:`StatsPanel`: stats text and the area-vs-altitude chart, recomputed as the state
  changes;
* :class:`ViewMenu`: the View menu's view modes (the same field as the query panel's View);
* :class:`~gui.panels.map.MapPanel`: the map's title, overlay, markers, rings and legend,
  redrawn as the state changes, and the cursor read-out;
* :class:`~gui.panels.profile.ProfilePanel`: the line-of-sight profile of a clicked point,
  drawn again when its unit is edited;
* :class:`~gui.panels.file_menu.FileMenu`: the File menu's actions (open, compare, save,
  exports), enabled by the state.

The map and stats panels redraw at once after a change, or after a quiet time while a
slider moves (:class:`~gui.panels.redraw.Redraw`).
"""

from gui import qt_compat
from gui.panels.query import QueryPanel, ViewMenu, altitude_to_slider, slider_to_altitude
from gui.panels.stats import StatsPanel
from gui.panels.timeline import TimelinePanel
from gui.panels.units import UnitsPanel

qt_compat.protect_none()  # PySide6 6.12 on CPython 3.11 leaks references to None (panels used alone)

__all__ = ["QueryPanel", "StatsPanel", "TimelinePanel", "UnitsPanel", "ViewMenu", "altitude_to_slider", "slider_to_altitude"]

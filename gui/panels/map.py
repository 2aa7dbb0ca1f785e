"""The map panel: the view's title, the map (:class:`~gui.map_view.MapView`), the legend line
under it, and the cursor read-out (a label the window puts in its status bar).

It follows the state by itself: the overlay, title, legend, markers and rings are drawn
again after a change (:class:`~gui.panels.redraw.Redraw`: at once, or after a quiet time
while the altitude slider or the day moves), only the markers when only the selection
changes. It writes through the state: a clicked marker selects its unit, a dragged marker
selects it and moves it (through the window's ``apply_edit(unit_id, **fields)``, as the
units panel's Apply). What is not state comes from the window: the terrain of a newly
opened scenario (:meth:`MapPanel.show_terrain`), what is being opened
(:meth:`MapPanel.show_loading`) and a redraw when the session changes under the state
(:meth:`MapPanel.draw`). A click on the map (a profile) is the profile panel's.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gui import map_content, model
from gui.map_view import MapView
from gui.panels.redraw import Redraw
from gui.state import ViewState
from simulator.errors import AdcovError


def _raise(title: str, exc: BaseException) -> None:
    raise exc


class MapPanel(QtWidgets.QWidget):
    """Title, map and legend of the open session (``session()``, None when none).

    ``apply_edit(unit_id, **fields)`` applies a dragged marker's new position;
    ``report(title, exc)`` shows an error (default: raise it).
    """

    #: an overlay was computed and shown
    overlay_drawn = QtCore.Signal()

    def __init__(self, state: ViewState, session: Callable[[], model.Session | None], *,
                 apply_edit: Callable[..., None] | None = None,
                 report: Callable[[str, BaseException], None] | None = None, parent=None):
        super().__init__(parent)
        self.state = state
        self._session = session
        self._apply_edit = apply_edit
        self._report = report or _raise
        #: the overlay on screen (None: none drawn yet)
        self.current_overlay: model.Overlay | None = None
        #: the name of the scenario being opened (None: none is)
        self.loading: str | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        self.map_title = QtWidgets.QLabel("Open a scenario (File ▸ Open, or drop a .yaml file here).")
        self.map_title.setObjectName("mapTitle")
        self.map_title.setWordWrap(True)
        font = self.map_title.font()
        font.setPointSize(font.pointSize() + 1)
        font.setBold(True)
        self.map_title.setFont(font)
        layout.addWidget(self.map_title)
        self.map = MapView()
        layout.addWidget(self.map, 1)
        self.legend = QtWidgets.QLabel()
        self.legend.setObjectName("mapLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        # two lines reserved: a legend that wraps at one altitude and not at the next would
        # resize the map (a jump, and the hillshade re-rendered) at every such step
        self.legend.setMinimumHeight(2 * QtGui.QFontMetrics(self.legend.font()).lineSpacing() + 6)
        layout.addWidget(self.legend)
        self.cursor_label = QtWidgets.QLabel()
        self.cursor_label.setObjectName("cursorLabel")
        self.map.unit_clicked.connect(lambda uid: self.state.set(selected_unit=uid))
        self.map.unit_moved.connect(self._on_marker_moved)
        self.map.cursor_moved.connect(self._on_cursor)
        self.map.cursor_left.connect(lambda: self.cursor_label.setText(""))
        self.redraw = Redraw(state, session, self.draw, parent=self)
        state.add_callback(self._on_state_changed)

    # ------------------------------------------------------------------ state -> map
    def _on_state_changed(self, changes) -> None:
        if set(changes) <= {"selected_unit"}:  # any other change redraws the whole map (self.redraw)
            self.refresh_markers()

    def draw(self) -> None:
        """Compute the state's overlay and show it now (a redraw waiting for its quiet time
        included); a failure is reported and leaves the last good overlay on screen."""
        self.redraw.cancel()
        session = self._session()
        if session is None:
            return
        try:
            overlay = model.overlay_for(session, self.state)
        except AdcovError as exc:
            self._report("Cannot draw this view", exc)
            return
        self.current_overlay = overlay
        self.show_overlay(overlay, session.pending_edits(self.state))
        self.overlay_drawn.emit()

    def flush(self) -> None:
        """Draw a redraw waiting for its quiet time now (tests, benchmarks, screenshots)."""
        self.redraw.flush()

    def show_overlay(self, overlay: model.Overlay, pending: list[str]) -> None:
        """An overlay, its title (with the units still being recomputed), the markers and
        rings, and the legend."""
        session = self._session()
        self.map.set_overlay(overlay.index, overlay.lut)
        note = f" — recomputing {', '.join(pending)}…" if pending else ""
        self.map_title.setText(overlay.title + note)
        self.refresh_markers()
        self.legend.setText(map_content.legend_html(session, self.state, overlay))

    def refresh_markers(self) -> None:
        session = self._session()
        if session is not None:
            units, rings = map_content.markers_and_rings(session, self.state)
            self.map.set_units(units)
            self.map.set_rings(rings)

    # ------------------------------------------------------------------ session -> map (not state)
    def show_terrain(self, session: model.Session, terrain_rgb, coast, context=None) -> None:
        """A newly opened scenario's grid and pictures (:func:`gui.jobs.load`), and the towns
        around its units; the overlay follows with :meth:`draw`."""
        self.map.set_grid(session.coverage.grid, terrain_rgb, coast, context=context)
        self.map.set_town_sites([(u.lat_deg, u.lon_deg) for u in session.units])

    def show_loading(self, name: str | None) -> None:
        """Say on the map which scenario is being opened (None: none is any more; the title
        stays until the next overlay)."""
        self.loading = name
        if name:
            self.map_title.setText(f"Loading {name}: reading the scenario…")

    def show_progress(self, fraction: float, message: str) -> None:
        """Background work's progress, in the title while a scenario is being opened (line of
        sight can take a while on fine terrain)."""
        if self.loading:
            self.map_title.setText(f"Loading {self.loading}: {message} ({fraction:.0%})")

    # ------------------------------------------------------------------ map -> state
    def _on_marker_moved(self, unit_id: str, lon: float, lat: float) -> None:
        self.state.set(selected_unit=unit_id)
        if self._apply_edit is not None:
            self._apply_edit(unit_id, lat_deg=round(lat, 5), lon_deg=round(lon, 5))

    def _on_cursor(self, row: int, col: int) -> None:
        session = self._session()
        if session is None:
            return
        info = model.cell_info(session, self.state, row, col)
        self.cursor_label.setText(model.cell_info_text(info, self.state))

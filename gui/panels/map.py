"""The map panel: the view's title, the map (:class:`~gui.map_view.MapView`) and the legend
line under it.

The overlay is the expensive part of a redraw, so the window decides when to draw it
(debounced while the altitude slider moves) and calls :meth:`MapPanel.show_overlay`; the
panel follows the state by itself where that is cheap -- the markers when only the selected
unit changes -- and writes the selection when a marker is clicked. What a click on the map
or a dragged marker means (a profile, an edit) is the window's business: it connects to
``map.map_clicked`` and ``map.unit_moved``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gui import map_content, model
from gui.map_view import MapView
from gui.state import ViewState


class MapPanel(QtWidgets.QWidget):
    """Title, map and legend of the open session (``session()``, None when none)."""

    def __init__(self, state: ViewState, session: Callable[[], model.Session | None], parent=None):
        super().__init__(parent)
        self.state = state
        self._session = session
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
        self.map.unit_clicked.connect(lambda uid: self.state.set(selected_unit=uid))
        state.add_callback(self._on_state_changed)

    def _on_state_changed(self, changes) -> None:
        if set(changes) <= {"selected_unit"}:  # any other change redraws the whole map (the window)
            self.refresh_markers()

    def show_overlay(self, overlay: model.Overlay, pending: list[str]) -> None:
        """The overlay just computed, its title (with the units still being recomputed),
        the markers and rings, and the legend."""
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

"""The timeline panel: count only the units active on a day (their deployed / withdrawn
dates), chosen on a slider that spans the scenario's dates.

Reads and writes ``as_of``; its range comes from the session (:meth:`setup`, called by the
window when a scenario or a comparison is opened).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from gui import model
from gui.state import ViewState


class TimelinePanel(QtWidgets.QGroupBox):
    """"As of" check box, date label, day slider and the list of the units' dates."""

    def __init__(self, state: ViewState, session: Callable[[], model.Session | None], parent=None):
        super().__init__("As of (units' deployed / withdrawn dates)", parent)
        self.state = state
        self._session = session
        self._updating = False  # set while the widgets are set from the state
        #: the day at the slider's left end (None: no dates, the slider is off)
        self.start: _dt.date | None = None
        self._setup_for: model.Session | None = None
        layout = QtWidgets.QGridLayout(self)
        self.as_of_check = QtWidgets.QCheckBox("only units active on")
        self.as_of_check.setObjectName("asOfCheck")
        self.as_of_check.toggled.connect(self._on_toggled)
        self.as_of_label = QtWidgets.QLabel("—")
        self.as_of_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.as_of_slider.setObjectName("asOfSlider")
        self.as_of_slider.valueChanged.connect(self._on_slider)
        self.events_label = QtWidgets.QLabel()
        self.events_label.setObjectName("eventsLabel")
        self.events_label.setWordWrap(True)
        self.events_label.setStyleSheet("color:#555")
        layout.addWidget(self.as_of_check, 0, 0)
        layout.addWidget(self.as_of_label, 0, 1)
        layout.addWidget(self.as_of_slider, 1, 0, 1, 2)
        layout.addWidget(self.events_label, 2, 0, 1, 2)
        state.add_callback(self._on_state_changed)

    def setup(self) -> None:
        """The slider's range and the dates listed, from the session (and its comparison)."""
        session = self._session()
        self._setup_for = session
        bounds = session.timeline_bounds() if session else None
        events = session.event_dates() if session else []
        self.events_label.setText(
            "unit dates: " + ", ".join(d.isoformat() for d in events) if events else "no unit has dates"
        )
        self.as_of_check.setEnabled(bounds is not None)
        self.as_of_slider.setEnabled(bounds is not None)
        if bounds is None:
            self.start = None
            return
        start, end = bounds
        self.start = start
        self.as_of_slider.blockSignals(True)
        self.as_of_slider.setRange(0, (end - start).days)
        self.as_of_slider.setPageStep(90)
        self.as_of_slider.blockSignals(False)

    # ------------------------------------------------------------------ state -> widgets
    def _on_state_changed(self, changes) -> None:
        self.sync()

    def sync(self) -> None:
        if self._session() is not self._setup_for:
            return  # the range is set for a session (setup) before the widgets follow the state
        s = self.state
        self._updating = True
        try:
            if self.start is not None:
                self.as_of_check.setChecked(s.as_of is not None)
                if s.as_of is not None:
                    self.as_of_slider.setValue((s.as_of - self.start).days)
                    self.as_of_label.setText(s.as_of.isoformat())
            else:
                self.as_of_check.setChecked(False)
                self.as_of_label.setText("no dates in this scenario")
        finally:
            self._updating = False

    # ------------------------------------------------------------------ widgets -> state
    def _on_toggled(self, on: bool) -> None:
        if self._updating or self.start is None:
            return
        self.state.set(as_of=self.start + _dt.timedelta(days=self.as_of_slider.value()) if on else None)

    def _on_slider(self, value: int) -> None:
        if self.start is None:
            return
        day = self.start + _dt.timedelta(days=value)
        self.as_of_label.setText(day.isoformat())
        if not self._updating and self.as_of_check.isChecked():
            self.state.set(as_of=day)

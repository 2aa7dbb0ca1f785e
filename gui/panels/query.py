"""The query panel: target altitude (log slider and spin box, above MSL or ground), layer,
view mode, what the difference view compares, and the nominal range rings.

Reads and writes ``altitude_m``, ``altitude_ref``, ``layer``, ``view``,
``difference_against`` and ``show_rings``; the "comparison" choice of the difference is
offered only while the session holds a comparison scenario.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gui import model
from gui.state import ALTITUDE_MAX_M, ALTITUDE_MIN_M, VIEW_TITLES, VIEWS, ViewState

SLIDER_STEPS = 1000


def altitude_to_slider(altitude_m: float) -> int:
    """Log-scale position of an altitude on the slider (10 m ... 30 km)."""
    f = math.log(altitude_m / ALTITUDE_MIN_M) / math.log(ALTITUDE_MAX_M / ALTITUDE_MIN_M)
    return round(min(max(f, 0.0), 1.0) * SLIDER_STEPS)


def slider_to_altitude(value: int) -> float:
    """Altitude of a slider position, rounded to 2 significant digits (nice labels). [m]"""
    raw = ALTITUDE_MIN_M * (ALTITUDE_MAX_M / ALTITUDE_MIN_M) ** (value / SLIDER_STEPS)
    digits = 2 - math.floor(math.log10(raw)) - 1
    return float(min(max(round(raw, digits), ALTITUDE_MIN_M), ALTITUDE_MAX_M))


class QueryPanel(QtWidgets.QWidget):
    """What the map asks: altitude and its reference, layer, view, difference, rings."""

    def __init__(self, state: ViewState, session: Callable[[], model.Session | None], parent=None):
        super().__init__(parent)
        self.state = state
        self._session = session
        self._updating = False  # set while the widgets are set from the state
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_altitude_box())
        layout.addLayout(self._build_form())
        self.rings_check = QtWidgets.QCheckBox("dashed nominal range rings (flat, terrain-blind)")
        self.rings_check.setObjectName("ringsCheck")
        self.rings_check.toggled.connect(lambda on: self.state.set(show_rings=on))
        layout.addWidget(self.rings_check)
        state.add_callback(self._on_state_changed)

    def _build_altitude_box(self) -> QtWidgets.QGroupBox:
        alt_box = QtWidgets.QGroupBox("Target altitude")
        alt_layout = QtWidgets.QGridLayout(alt_box)
        self.altitude_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.altitude_slider.setObjectName("altitudeSlider")
        self.altitude_slider.setRange(0, SLIDER_STEPS)
        self.altitude_slider.setSingleStep(5)
        self.altitude_slider.setPageStep(50)
        self.altitude_slider.valueChanged.connect(self._on_altitude_slider)
        # type an exact altitude as well as slide (the log slider steps through rounded values)
        self.altitude_spin = QtWidgets.QDoubleSpinBox()
        self.altitude_spin.setObjectName("altitudeSpin")
        self.altitude_spin.setRange(ALTITUDE_MIN_M, ALTITUDE_MAX_M)
        self.altitude_spin.setDecimals(0)
        self.altitude_spin.setSuffix(" m")
        self.altitude_spin.setGroupSeparatorShown(True)
        self.altitude_spin.setKeyboardTracking(False)  # one redraw per typed value, not per digit
        self.altitude_spin.setMinimumWidth(100)
        self.altitude_spin.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.altitude_spin.valueChanged.connect(self._on_altitude_spin)
        self.ref_msl = QtWidgets.QRadioButton("above mean sea level (MSL)")
        self.ref_agl = QtWidgets.QRadioButton("above ground (AGL)")
        self.ref_msl.setObjectName("refMsl")
        self.ref_agl.setObjectName("refAgl")
        self.ref_group = QtWidgets.QButtonGroup(self)
        self.ref_group.addButton(self.ref_msl)
        self.ref_group.addButton(self.ref_agl)
        self.ref_msl.toggled.connect(lambda on: on and self.state.set(altitude_ref="msl"))
        self.ref_agl.toggled.connect(lambda on: on and self.state.set(altitude_ref="agl"))
        alt_layout.addWidget(self.altitude_slider, 0, 0)
        alt_layout.addWidget(self.altitude_spin, 0, 1)
        ticks = QtWidgets.QLabel("10 m · 100 m · 1 km · 10 km · 30 km (log scale)")
        ticks.setStyleSheet("color:#555")
        alt_layout.addWidget(ticks, 1, 0, 1, 2)
        alt_layout.addWidget(self.ref_msl, 2, 0, 1, 2)
        alt_layout.addWidget(self.ref_agl, 3, 0, 1, 2)
        return alt_box

    def _build_form(self) -> QtWidgets.QFormLayout:
        form = QtWidgets.QFormLayout()
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setObjectName("layerCombo")
        for layer, text in (("engagement", "engagement (weapons)"), ("detection", "detection (sensor)")):
            self.layer_combo.addItem(text, layer)
        self.layer_combo.currentIndexChanged.connect(lambda i: self.state.set(layer=self.layer_combo.itemData(i)))
        self.view_combo = QtWidgets.QComboBox()
        self.view_combo.setObjectName("viewCombo")
        for view in VIEWS:
            self.view_combo.addItem(VIEW_TITLES[view], view)
        self.view_combo.currentIndexChanged.connect(lambda i: self.state.set(view=self.view_combo.itemData(i)))
        self.against_combo = QtWidgets.QComboBox()
        self.against_combo.setObjectName("againstCombo")
        self.against_combo.addItem("current vs comparison scenario", "comparison")
        self.against_combo.addItem("scenario as loaded vs current", "loaded")
        self.against_combo.currentIndexChanged.connect(lambda i: self.state.set(difference_against=self.against_combo.itemData(i)))
        for combo in (self.layer_combo, self.view_combo, self.against_combo):
            combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        form.addRow("Layer", self.layer_combo)
        form.addRow("View", self.view_combo)
        form.addRow("Difference", self.against_combo)
        return form

    # ------------------------------------------------------------------ state -> widgets
    def _on_state_changed(self, changes) -> None:
        self.sync()

    def sync(self) -> None:
        """Every control from the state (no feedback: a control set to the state's value
        writes nothing)."""
        s = self.state
        self._updating = True
        try:
            self.altitude_slider.setValue(altitude_to_slider(s.altitude_m))
            self.altitude_spin.setValue(s.altitude_m)
            (self.ref_msl if s.altitude_ref == "msl" else self.ref_agl).setChecked(True)
            self.layer_combo.setCurrentIndex(self.layer_combo.findData(s.layer))
            self.view_combo.setCurrentIndex(self.view_combo.findData(s.view))
            session = self._session()
            has_comparison = session is not None and session.comparison is not None
            self.against_combo.model().item(0).setEnabled(has_comparison)
            against = s.difference_against if (has_comparison or s.difference_against == "loaded") else "loaded"
            self.against_combo.setCurrentIndex(self.against_combo.findData(against))
            if has_comparison:
                self.against_combo.setItemText(0, f"current vs {session.comparison.name}")
            else:
                self.against_combo.setItemText(0, "current vs comparison (File ▸ Compare with…)")
            self.rings_check.setChecked(s.show_rings)
        finally:
            self._updating = False

    # ------------------------------------------------------------------ widgets -> state
    def _on_altitude_slider(self, value: int) -> None:
        if not self._updating:
            self.state.set(altitude_m=slider_to_altitude(value))

    def _on_altitude_spin(self, value: float) -> None:
        if not self._updating:
            self.state.set(altitude_m=float(value))


class ViewMenu(QtWidgets.QMenu):
    """The View menu's view modes (one checked: the state's), then whatever the window adds."""

    def __init__(self, state: ViewState, title: str = "&View", parent=None):
        super().__init__(title, parent)
        self.state = state
        self.view_actions = QtGui.QActionGroup(self)
        for view in VIEWS:
            act = self.addAction(VIEW_TITLES[view])
            act.setCheckable(True)
            act.setData(view)
            act.triggered.connect(lambda checked=False, v=view: self.state.set(view=v))
            self.view_actions.addAction(act)
        state.add_callback(self._on_state_changed)

    def _on_state_changed(self, changes) -> None:
        self.sync()

    def sync(self) -> None:
        for act in self.view_actions.actions():
            act.setChecked(act.data() == self.state.view)

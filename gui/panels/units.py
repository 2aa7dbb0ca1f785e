"""The units panel: the unit tree (check to keep, uncheck to withdraw), the selected unit's
details, and the box that moves it or changes its antenna height.

Reads ``withdrawn``, ``as_of``, ``edits`` and ``selected_unit``; writes ``withdrawn`` and
``selected_unit`` through the state, "File values" through ``state.clear_edit``, and Apply
through the window's ``apply_edit(unit_id, **fields)`` (which keeps only the fields that
differ from the file: :func:`gui.edits.edit_unit`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gui import model
from gui.state import ViewState

_UNIT = QtCore.Qt.ItemDataRole.UserRole
_CHECKED, _UNCHECKED = QtCore.Qt.CheckState.Checked, QtCore.Qt.CheckState.Unchecked


def dot_icon(colour: str) -> QtGui.QIcon:
    """A 14 px disc of ``colour`` with a black rim (the map's marker colour)."""
    pix = QtGui.QPixmap(14, 14)
    pix.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pix)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setBrush(QtGui.QColor(colour))
    painter.setPen(QtGui.QPen(QtGui.QColor("#000000"), 1))
    painter.drawEllipse(1, 1, 12, 12)
    painter.end()
    return QtGui.QIcon(pix)


class UnitsPanel(QtWidgets.QWidget):
    """Unit tree, details and edit box of the open session (``session()``, None when none)."""

    def __init__(self, state: ViewState, session: Callable[[], model.Session | None],
                 apply_edit: Callable[..., None], parent=None):
        super().__init__(parent)
        self.state = state
        self._session = session
        self._apply_edit = apply_edit
        #: tree item of each unit of the session the tree shows
        self.unit_items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self._shown_session: model.Session | None = None
        self._details_html: str | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        hint = QtWidgets.QLabel("Uncheck to withdraw, check to restore. Markers are coloured by system; drag one to move the unit.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.units = QtWidgets.QTreeWidget()
        self.units.setObjectName("unitTree")
        self.units.setHeaderHidden(True)
        self.units.setRootIsDecorated(True)
        self.units.itemChanged.connect(self._on_item_changed)
        self.units.currentItemChanged.connect(self._on_current_changed)
        layout.addWidget(self.units, 1)
        self.details = QtWidgets.QTextBrowser()
        self.details.setObjectName("unitDetails")
        self.details.setOpenExternalLinks(True)
        layout.addWidget(self.details, 4)
        self.edit_box = self._build_edit_box()
        layout.addWidget(self.edit_box)
        state.add_callback(self._on_state_changed)

    def _build_edit_box(self) -> QtWidgets.QGroupBox:
        edit = QtWidgets.QGroupBox("Edit the selected unit")
        form = QtWidgets.QFormLayout(edit)
        edit_hint = QtWidgets.QLabel("Move it (or drag its marker) or change its antenna: only its envelope is recomputed.")
        edit_hint.setWordWrap(True)
        edit_hint.setStyleSheet("color:#555")
        form.addRow(edit_hint)
        self.edit_lat = QtWidgets.QDoubleSpinBox()
        self.edit_lon = QtWidgets.QDoubleSpinBox()
        self.edit_antenna = QtWidgets.QDoubleSpinBox()
        for box, lo, hi, dec, suffix in (
            (self.edit_lat, -90.0, 90.0, 4, " °"),
            (self.edit_lon, -180.0, 180.0, 4, " °"),
            (self.edit_antenna, 0.0, 1000.0, 1, " m"),
        ):
            box.setRange(lo, hi)
            box.setDecimals(dec)
            box.setSuffix(suffix)
            box.setKeyboardTracking(False)
        self.edit_lat.setObjectName("editLat")
        self.edit_lon.setObjectName("editLon")
        self.edit_antenna.setObjectName("editAntenna")
        form.addRow("latitude (N+)", self.edit_lat)
        form.addRow("longitude (E+)", self.edit_lon)
        form.addRow("antenna (AGL)", self.edit_antenna)
        buttons = QtWidgets.QHBoxLayout()
        self.edit_apply = QtWidgets.QPushButton("Apply")
        self.edit_reset = QtWidgets.QPushButton("File values")
        self.edit_reset.setToolTip("Back to the position and antenna height the scenario file gives")
        self.edit_apply.clicked.connect(self._apply)
        self.edit_reset.clicked.connect(self._reset)
        buttons.addWidget(self.edit_apply)
        buttons.addWidget(self.edit_reset)
        form.addRow(buttons)
        # a unit moved onto the sea is flagged (a land-based system there is unlikely)
        self.edit_warning = QtWidgets.QLabel()
        self.edit_warning.setObjectName("editWarning")
        self.edit_warning.setWordWrap(True)
        self.edit_warning.setStyleSheet("color:#a0522d")
        form.addRow(self.edit_warning)
        return edit

    # ------------------------------------------------------------------ session -> tree
    def populate(self) -> None:
        """One group per system (check box: the whole group), one item per unit of the
        session; the file's own withdrawals listed, greyed out, below."""
        session = self._session()
        self.units.blockSignals(True)
        self.units.clear()
        self.unit_items = {}
        for system_id in session.system_ids():
            group = self._system_group(session, system_id)
            for unit in session.units:
                if unit.system_id != system_id:
                    continue
                item = QtWidgets.QTreeWidgetItem([unit.id])
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
                item.setData(0, _UNIT, unit.id)
                item.setCheckState(0, _CHECKED)
                group.addChild(item)
                self.unit_items[unit.id] = item
            group.setExpanded(True)
        gone = session.scenario.withdrawn_units
        if gone:
            group = QtWidgets.QTreeWidgetItem(["Withdrawn in the scenario file"])
            group.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            group.setToolTip(0, "Units the file withdraws (withdraw:); open the scenario it extends to restore them.")
            self.units.addTopLevelItem(group)
            for unit in gone:
                when = f", {unit.withdrawn.isoformat()}" if unit.withdrawn else ""
                item = QtWidgets.QTreeWidgetItem([f"{unit.id} ({unit.system_name}{when})"])
                item.setFlags(QtCore.Qt.ItemFlag.NoItemFlags)
                item.setToolTip(0, "Withdrawn by the scenario file" + (": " + ", ".join(unit.sources) if unit.sources else ""))
                group.addChild(item)
            group.setExpanded(True)
        self.units.blockSignals(False)
        self._shown_session = session
        self._sync_items()

    def _system_group(self, session, system_id: str) -> QtWidgets.QTreeWidgetItem:
        group = QtWidgets.QTreeWidgetItem([f"{session.catalog.get(system_id).name}"])
        group.setIcon(0, dot_icon(session.system_colour(system_id)))
        group.setFlags(group.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable | QtCore.Qt.ItemFlag.ItemIsAutoTristate)
        group.setData(0, _UNIT, None)
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        self.units.addTopLevelItem(group)
        return group

    # ------------------------------------------------------------------ state -> widgets
    def _on_state_changed(self, changes) -> None:
        self.sync()

    def sync(self) -> None:
        """Check boxes, item texts and the details from the state."""
        self._sync_items()
        self._show_details()

    def _sync_items(self) -> None:
        session = self._session()
        if session is None or session is not self._shown_session:
            return  # the tree is filled for a session (populate) before it follows the state
        state = self.state
        self.units.blockSignals(True)
        try:
            day = state.as_of
            for uid, item in self.unit_items.items():
                unit = session.unit(uid)
                item.setCheckState(0, _CHECKED if uid not in state.withdrawn else _UNCHECKED)
                dated_out = day is not None and not unit.active_on(day)
                edited = uid in state.edits
                text = uid + (" (edited)" if edited else "") + (f" — not active on {day.isoformat()}" if dated_out else "")
                item.setText(0, text)
                item.setForeground(0, QtGui.QBrush(QtGui.QColor("#888888" if dated_out else "#000000")))
                dates = f"deployed {unit.deployed or 'unknown'}, withdrawn {unit.withdrawn or '—'}"
                item.setToolTip(0, f"{uid}: {unit.system_name}; {dates}")
                if state.selected_unit == uid and self.units.currentItem() is not item:
                    self.units.setCurrentItem(item)
            for i in range(self.units.topLevelItemCount()):
                group = self.units.topLevelItem(i)
                if group.flags() & QtCore.Qt.ItemFlag.ItemIsAutoTristate:
                    states = {group.child(j).checkState(0) for j in range(group.childCount())}
                    group.setCheckState(0, states.pop() if len(states) == 1 else QtCore.Qt.CheckState.PartiallyChecked)
        finally:
            self.units.blockSignals(False)

    def _show_details(self) -> None:
        uid = self.state.selected_unit
        session = self._session()
        if session is None or uid is None or uid not in session.unit_ids:
            self._set_details_html("<i>Select a unit (list or marker) to see its system, figures and sources.</i>")
            self.edit_box.setEnabled(False)
            return
        self._set_details_html(model.unit_details_html(session, uid, self.state.edits))
        figures = session.figures_for(uid, self.state.edits.get(uid))
        west, south, east, north = session.coverage.grid.bounds_deg
        for box, value, lo, hi in (
            (self.edit_lat, figures.lat_deg, south, north),
            (self.edit_lon, figures.lon_deg, west, east),
        ):
            box.blockSignals(True)
            box.setRange(lo, hi)
            box.setValue(value)
            box.blockSignals(False)
        self.edit_antenna.blockSignals(True)
        self.edit_antenna.setValue(figures.antenna_height_m)
        self.edit_antenna.blockSignals(False)
        self.edit_box.setEnabled(True)
        self.edit_reset.setEnabled(uid in self.state.edits)

    def _set_details_html(self, html: str) -> None:
        # every state change passes here (each altitude step): re-laying out unchanged text
        # repaints the panel for nothing
        if html != self._details_html:
            self._details_html = html
            self.details.setHtml(html)

    def set_warning(self, text: str) -> None:
        """The line under the edit box (a unit moved onto the sea; empty: none)."""
        self.edit_warning.setText(text)

    # ------------------------------------------------------------------ widgets -> state
    def _on_item_changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        uid = item.data(0, _UNIT)
        if uid is not None:
            self.state.set_unit_active(uid, item.checkState(0) == _CHECKED)

    def _on_current_changed(self, current, previous) -> None:
        uid = current.data(0, _UNIT) if current is not None else None
        if uid is not None:
            self.state.set(selected_unit=uid)

    def _apply(self) -> None:
        uid = self.state.selected_unit
        if self._session() is None or uid is None:
            return
        self._apply_edit(uid, lat_deg=self.edit_lat.value(), lon_deg=self.edit_lon.value(),
                         antenna_height_m=self.edit_antenna.value())

    def _reset(self) -> None:
        if self.state.selected_unit:
            self.state.clear_edit(self.state.selected_unit)

"""The File menu: open a scenario (or a recent one), compare with another, save the state as
a variant scenario, the exports (publication map, the view as on screen, GeoJSON, KML), quit.

The menu holds the actions; the work is the window's (:mod:`gui.file_actions`): each action
calls the method of the same name of ``commands`` (``open_scenario``, ``open_comparison``,
``clear_comparison``, ``save_scenario_as``, ``export_map_png``, ``export_view_png``,
``export_geojson``, ``export_kml``, ``close``), looked up when triggered. It follows the
state: saving, comparing and exporting need an open scenario (``scenario_path``), "Clear
comparison" a comparison scenario too (``comparison_path``).
"""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

from gui.state import ViewState


class FileMenu(QtWidgets.QMenu):
    """The File menu of ``commands`` (the window), enabled by ``state``."""

    def __init__(self, state: ViewState, commands, title: str = "&File", parent=None):
        super().__init__(title, parent)
        self.state = state

        def do(name: str):
            return lambda: getattr(commands, name)()  # looked up at each trigger

        self.act_open = self.addAction("&Open scenario…", do("open_scenario"))
        self.act_open.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        self.recent_menu = self.addMenu("Open &recent")
        self.act_compare = self.addAction("&Compare with scenario…", do("open_comparison"))
        self.act_clear_compare = self.addAction("Clear comparison", do("clear_comparison"))
        self.addSeparator()
        self.act_save = self.addAction("&Save scenario as…", do("save_scenario_as"))
        self.act_save.setShortcut(QtGui.QKeySequence.StandardKey.SaveAs)
        export_menu = self.export_menu = self.addMenu("&Export")
        self.act_export_map = export_menu.addAction("Map (PNG, with legend and assumptions)…", do("export_map_png"))
        self.act_export_view = export_menu.addAction("View as on screen (PNG)…", do("export_view_png"))
        self.act_export_geojson = export_menu.addAction("GeoJSON…", do("export_geojson"))
        self.act_export_kml = export_menu.addAction("KML…", do("export_kml"))
        export_menu.setToolTipsVisible(True)
        self.addSeparator()
        self.addAction("&Quit", do("close")).setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        state.add_callback(self._on_state_changed)
        self.sync()

    def scenario_actions(self) -> tuple[QtGui.QAction, ...]:
        """The actions that need an open scenario."""
        return (self.act_save, self.act_compare, self.act_export_view, self.act_export_map, self.act_export_geojson,
                self.act_export_kml)

    def _on_state_changed(self, changes) -> None:
        if {"scenario_path", "comparison_path"} & set(changes):
            self.sync()

    def sync(self) -> None:
        is_open = self.state.scenario_path is not None
        for act in self.scenario_actions():
            act.setEnabled(is_open)
        self.act_clear_compare.setEnabled(is_open and self.state.comparison_path is not None)

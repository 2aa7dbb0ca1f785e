"""The main window's file actions: save the state as a variant scenario, the exports (map
PNG in the background, the view as on screen, GeoJSON, KML) and the recent-files menu.

Each asks for a file name when it is given none (a cancelled dialog does nothing), writes
through :mod:`gui.jobs` (Qt-free) and reports an error in a dialog, leaving everything as it
was; a scenario file dropped on the window opens (:func:`dropped_scenario`).
:class:`FileActions` works for one :class:`~gui.main_window.MainWindow`: it reads its
session, state and overlay, and uses its status bar, worker and error dialog.
"""

from __future__ import annotations

import os
from pathlib import Path

from gui import dialogs, jobs, model
from gui.worker import Task
from simulator.errors import AdcovError
from simulator.fileio import write_bytes_atomically

MAX_RECENT = 8


def _file_error(path, exc: Exception) -> AdcovError:
    if isinstance(exc, AdcovError):
        return exc
    if isinstance(exc, OSError) and exc.strerror:  # not str(exc): it names the temporary file
        return AdcovError(f"{path}: cannot write: {exc.strerror} (the previous file is kept)")
    return AdcovError(f"{path}: {exc}")


def png_bytes(pixmap) -> bytes | None:
    """``pixmap`` encoded as PNG in memory (written atomically by the caller); None if Qt cannot."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    saved = pixmap.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data()) if saved else None


def dropped_scenario(mime) -> str | None:
    """The first local scenario file (.yaml, .yml) of a drag and drop's data, if any."""
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile().lower().endswith((".yaml", ".yml")):
            return url.toLocalFile()
    return None


class FileActions:
    """Save as, exports and recent files of ``window`` (the window's methods call these)."""

    def __init__(self, window):
        self.window = window

    def _message(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def _overlay_title(self) -> str | None:
        overlay = self.window.current_overlay
        return overlay.title if overlay else None

    # ------------------------------------------------------------------ saving
    def save_scenario_as(self, path: str | os.PathLike | None = None):
        """Write the current state as a scenario file extending the open one."""
        w = self.window
        if w.session is None:
            return None
        if path is None:
            default = w.state.scenario_path.with_name(f"{w.session.scenario.name}-variant.yaml")
            path = dialogs.choose_save_file(w, "Save scenario as", str(default))
            if not path:
                return None
        try:
            scenario = model.save_variant(w.session, w.state, path)
        except AdcovError as exc:
            w._report("Cannot save the scenario", exc)
            return None
        self._message(f"saved {path}: re-run with `adcov run {path}`")
        self.add_recent(Path(path))
        w.edit_book.mark_saved(w.state.edits)
        return scenario

    # ------------------------------------------------------------------ exports
    def export_map_png(self, path: str | os.PathLike | None = None) -> Task | None:
        """A publication map through ``simulator.export.render_map_png`` (in the background)."""
        w = self.window
        if w.session is None:
            return None
        if path is None:
            path = dialogs.choose_save_file(w, "Export map", "", "PNG images (*.png)")
            if not path:
                return None
        try:
            coverage, comparison = jobs.export_subject(w.session, w.state)
        except AdcovError as exc:
            w._report("Cannot export the map", exc)
            return None
        kwargs = jobs.map_png_arguments(w.state, coverage, comparison, self._overlay_title())
        task = Task(jobs.render_png, Path(path), kwargs, label="exporting the map")
        task.signals.finished.connect(lambda out: self._message(f"map written to {out}"))
        task.signals.failed.connect(lambda exc: w._report("Cannot export the map", exc))
        w._watch(task)
        w.runner.start(task)
        return task

    def export_view_png(self, path: str | os.PathLike | None = None) -> Path | None:
        """The map panel as on screen (title, map, legend)."""
        w = self.window
        if path is None:
            path = dialogs.choose_save_file(w, "Export view", "", "PNG images (*.png)")
            if not path:
                return None
        w.flush()
        data = png_bytes(w.centralWidget().grab())
        try:
            if data is None:
                raise AdcovError(f"{path}: cannot write the PNG file")
            write_bytes_atomically(Path(path), data)  # a failed write keeps the previous file
        except (AdcovError, OSError) as exc:
            w._report("Cannot export the view", _file_error(path, exc))
            return None
        return Path(path)

    def export_geojson(self, path: str | os.PathLike | None = None) -> Path | None:
        w = self.window
        if w.session is None:
            return None
        if path is None:
            path = dialogs.choose_save_file(w, "Export GeoJSON", "", "GeoJSON (*.geojson *.json)")
            if not path:
                return None
        try:
            jobs.write_geojson(w.session, w.state, path)
        except (AdcovError, OSError) as exc:
            w._report("Cannot export GeoJSON", _file_error(path, exc))
            return None
        self._message(f"GeoJSON written to {path}")
        return Path(path)

    def export_kml(self, path: str | os.PathLike | None = None) -> Path | None:
        w = self.window
        if w.session is None:
            return None
        if path is None:
            path = dialogs.choose_save_file(w, "Export KML", "", "KML (*.kml);;KMZ (*.kmz)")
            if not path:
                return None
        try:
            jobs.write_kml(w.session, w.state, path, w.current_overlay.title if w.current_overlay else "adcov")
        except (AdcovError, OSError) as exc:
            w._report("Cannot export KML", _file_error(path, exc))
            return None
        self._message(f"KML written to {path}")
        return Path(path)

    # ------------------------------------------------------------------ recent files
    def recent_files(self) -> list[str]:
        value = self.window.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: Path) -> None:
        text = str(Path(path).resolve())
        recent = [text] + [p for p in self.recent_files() if p != text]
        self.window.settings.setValue("recent", recent[:MAX_RECENT])
        self.refresh_recent_menu()

    def refresh_recent_menu(self) -> None:
        menu = self.window.recent_menu
        menu.clear()
        recent = self.recent_files()
        for p in recent:
            menu.addAction(p, lambda checked=False, p=p: self.window.open_scenario(p))
        if not recent:
            act = menu.addAction("(none yet)")
            act.setEnabled(False)

"""Dialogs: errors (file, line, key of every problem), and file choosers.

Dialogs are opened with ``QDialog.open()`` (window-modal, no nested event loop), never
``exec()``: the GUI keeps running, and tests can find and close them (gui-stack.md: never run
modal loops in tests). :func:`show_error` is the one place errors reach the user; the main
window calls it through an attribute so a test can also replace it.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from simulator.errors import AdcovError, ScenarioError

SCENARIO_FILTER = "Scenario files (*.yaml *.yml);;All files (*)"


def error_text(exc: BaseException) -> tuple[str, str]:
    """(summary, details) of an exception for a dialog.

    A :class:`ScenarioError` lists every problem as ``file:line: key.path: message``; other
    adcov errors give their message; anything else is a bug and shows its traceback.
    """
    if isinstance(exc, ScenarioError):
        problems = exc.problems
        first = problems[0].file if problems else "the scenario"
        summary = f"{Path(first).name}: {len(problems)} problem{'s' if len(problems) != 1 else ''}; nothing was changed."
        return summary, "\n".join(str(p) for p in problems)
    if isinstance(exc, AdcovError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__, str(exc)
    trace = getattr(exc, "__traceback_text__", "") or f"{type(exc).__name__}: {exc}"
    return f"Unexpected error (a bug in adcov): {type(exc).__name__}: {exc}", trace


def show_error(parent: QtWidgets.QWidget | None, title: str, exc: BaseException) -> QtWidgets.QMessageBox:
    """Show an error without blocking: a window-modal message box, opened with ``open()``."""
    summary, details = error_text(exc)
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName("adcovErrorDialog")
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setTextFormat(QtCore.Qt.TextFormat.RichText)
    lines = "".join(f"<li><tt>{html.escape(line)}</tt></li>" for line in details.splitlines()[:40])
    box.setText(f"<b>{html.escape(summary)}</b><ul>{lines}</ul>")
    box.setDetailedText(details)
    box.setStandardButtons(QtWidgets.QMessageBox.StandardButton.Close)
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box


def choose_open_file(parent, title: str, directory: str = "") -> str | None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, title, directory, SCENARIO_FILTER)
    return path or None


def choose_save_file(parent, title: str, directory: str = "", filter_text: str = SCENARIO_FILTER) -> str | None:
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, title, directory, filter_text)
    return path or None


def ask_unsaved_edits(parent, unit_ids, answered) -> QtWidgets.QMessageBox:
    """Save, discard or keep working: a window-modal box opened with ``open()``; a click calls
    ``answered("save")`` or ``answered("discard")`` (Cancel: nothing)."""
    buttons = QtWidgets.QMessageBox.StandardButton
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName("unsavedEditsDialog")
    box.setIcon(QtWidgets.QMessageBox.Icon.Question)
    box.setWindowTitle("Unsaved edits")
    box.setText(f"Units changed since the scenario was opened or saved: {', '.join(unit_ids)}.\n"
                "Save them as a variant scenario before quitting?")
    box.setStandardButtons(buttons.Save | buttons.Discard | buttons.Cancel)
    box.setDefaultButton(buttons.Save)

    def clicked(button) -> None:
        role = box.standardButton(button)
        if role == buttons.Discard:
            answered("discard")
        elif role == buttons.Save:
            answered("save")

    box.buttonClicked.connect(clicked)
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box


def show_about(parent) -> QtWidgets.QMessageBox:
    from simulator import __version__

    box = QtWidgets.QMessageBox(parent)
    box.setWindowTitle("About adcov")
    box.setText(
        f"adcov {__version__}: air-defense coverage over real terrain from published nominal figures.\n"
        "Everything shown comes from the simulator API that the `adcov` command uses."
    )
    box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box

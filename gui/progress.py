"""Progress of the background work in the status bar: what runs, how far, and Cancel.

Bound to a :class:`~gui.worker.TaskRunner`: shown while it is busy, hidden when idle; each
watched task's progress moves the bar; Cancel cancels every unfinished task.
"""

from __future__ import annotations

from PySide6 import QtWidgets

from gui.worker import Task, TaskRunner


class ProgressIndicator:
    """A label, a progress bar and a Cancel button, added to ``status_bar`` (permanent widgets)."""

    def __init__(self, runner: TaskRunner, status_bar: QtWidgets.QStatusBar):
        self.runner = runner
        self.status_bar = status_bar
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.progress.setFormat("%p%")
        self.progress_label = QtWidgets.QLabel()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.clicked.connect(self.cancel_work)
        for w in self.widgets():
            status_bar.addPermanentWidget(w)
            w.hide()
        runner.busy_changed.connect(self._on_busy_changed)

    def widgets(self) -> tuple[QtWidgets.QWidget, ...]:
        return self.progress_label, self.progress, self.cancel_button

    def watch(self, task: Task) -> None:
        task.signals.progress.connect(self._on_progress)
        self.progress_label.setText(task.label)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress_label.setText(message)

    def _on_busy_changed(self, busy: bool) -> None:
        for w in self.widgets():
            w.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def cancel_work(self) -> None:
        self.runner.cancel_all()
        self.status_bar.showMessage("cancelled", 3000)

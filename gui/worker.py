"""Run long simulator calls off the GUI thread.

The core takes a plain ``progress(fraction, message)`` callback and a
:class:`~simulator.coverage.CancelToken` (style.md: "never a Qt object"); :class:`Task`
adapts them to Qt signals. Tasks run one after the other in a single long-lived Python
thread; results and exceptions come back to the GUI thread through queued signals.

Why not ``QThreadPool``: PySide creates and destroys a Python thread state around each
``QRunnable.run`` call, which drops thread-local state that PROJ (pyproj) keeps per thread
while objects created in the previous task (the analysis grid's CRS) still point at it --
the second task then crashed in ``pyproj.CRS``. One persistent ``threading.Thread`` keeps its
thread state, so pyproj and rasterio objects stay valid.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

from simulator.coverage import CancelToken
from simulator.errors import ComputationCancelled


class _Signals(QtCore.QObject):
    progress = QtCore.Signal(float, str)
    finished = QtCore.Signal(object)
    failed = QtCore.Signal(object)  # the exception (with __traceback_text__ for bugs)
    cancelled = QtCore.Signal()


class Task:
    """One call ``fn(*args, progress=..., cancel=..., **kwargs)`` in the worker thread.

    Connect to ``task.signals.finished / failed / cancelled / progress``; call
    :meth:`cancel` from the GUI thread to ask the computation to stop at its next check.
    """

    def __init__(self, fn: Callable[..., Any], *args, label: str = "", **kwargs):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.label = label
        self.token = CancelToken()
        self.signals = _Signals()
        self.done = False

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def _progress(self, fraction: float, message: str) -> None:
        if self.token.cancelled:
            raise ComputationCancelled("computation cancelled")
        self.signals.progress.emit(float(fraction), str(message))

    def run(self) -> None:  # worker thread
        try:
            result = self.fn(*self.args, progress=self._progress, cancel=self.token, **self.kwargs)
        except ComputationCancelled:
            self.done = True
            self.signals.cancelled.emit()
            return
        except BaseException as exc:  # noqa: BLE001 - shown in a dialog, never lost
            exc.__traceback_text__ = traceback.format_exc()
            self.done = True
            if self.token.cancelled:
                self.signals.cancelled.emit()
            else:
                self.signals.failed.emit(exc)
            return
        self.done = True
        if self.token.cancelled:
            self.signals.cancelled.emit()
        else:
            self.signals.finished.emit(result)


class TaskRunner(QtCore.QObject):
    """Runs tasks, in order, in one persistent worker thread; tracks which are unfinished."""

    busy_changed = QtCore.Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._queue: queue.Queue = queue.Queue()
        self._tasks: list[Task] = []
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._loop, name="adcov-gui-worker", daemon=True)
        self._thread.start()

    def _loop(self) -> None:  # worker thread
        while True:
            task = self._queue.get()
            if task is None:
                self._queue.task_done()
                return
            try:
                task.run()
            finally:
                self._queue.task_done()

    def start(self, task: Task) -> Task:
        self._tasks.append(task)
        for signal in (task.signals.finished, task.signals.failed, task.signals.cancelled):
            signal.connect(self._on_task_ended)
        if len(self._tasks) == 1:
            self.busy_changed.emit(True)
        self._queue.put(task)
        return task

    def _on_task_ended(self, *args) -> None:
        for task in [t for t in self._tasks if t.done]:
            self._tasks.remove(task)
        if not self._tasks:
            self.busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def tasks(self) -> list[Task]:
        return list(self._tasks)

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the worker has run every queued task (shutdown, scripts)."""
        import time

        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel what runs, stop the worker thread."""
        self.cancel_all()
        self._queue.put(None)
        self._thread.join(timeout_s)

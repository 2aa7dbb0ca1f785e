"""Edited units' envelopes, built in the background.

When ``ViewState.edits`` names a unit whose envelope for those fields is not in the session
yet, :meth:`EditBuilds.ensure` starts a worker task (:func:`gui.jobs.build_edit`); when it
ends, the envelope is stored in the session and :attr:`EditBuilds.built` fires (the window
redraws). A failed or cancelled build puts the unit back to its last built edit and reports
the error. What was built and what is building is kept in a Qt-free :class:`gui.edits.EditBook`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from gui import jobs
from gui.edits import EditBook
from gui.state import ViewState
from gui.worker import Task


class EditBuilds(QtCore.QObject):
    """Builds for ``state``'s edits of ``session()``; ``start(task)`` runs a task (with
    progress shown), ``report(title, exc)`` shows an error."""

    built = QtCore.Signal(str, object)  # unit id, its envelope (already stored in the session)

    def __init__(self, book: EditBook, state: ViewState, session: Callable, *, start: Callable[[Task], None],
                 report: Callable[[str, BaseException], None], cache=None, parent=None):
        super().__init__(parent)
        self.book = book
        self.state = state
        self._session = session
        self._start = start
        self._report = report
        self.cache = cache

    def ensure(self) -> None:
        """Start a background build for every edited unit whose envelope is missing."""
        session = self._session()
        if session is None:
            return
        for uid, fields, key in self.book.to_build(session, self.state):
            task = Task(jobs.build_edit, session, uid, fields, cache=self.cache, label=f"recomputing {uid}")
            task.signals.finished.connect(lambda result, s=session, k=key: self._on_built(s, k, result))
            task.signals.failed.connect(lambda exc, s=session, k=key, u=uid: self._on_failed(s, k, u, exc))
            task.signals.cancelled.connect(lambda s=session, k=key, u=uid: self._on_failed(s, k, u, None))
            self.book.started(key, task)
            self._start(task)

    def _on_built(self, session, key, result) -> None:
        self.book.finished(key)
        if session is not self._session():
            return  # another scenario was opened meanwhile
        uid, fields, env = result
        session.store_edited_envelope(uid, fields, env)
        self.book.built(uid, fields)
        self.built.emit(uid, env)

    def _on_failed(self, session, key, uid, exc) -> None:
        self.book.finished(key)
        if session is not self._session():
            return
        self.state.set(edits=self.book.restored(self.state.edits, uid))  # back to the last good state of that unit
        if exc is not None:
            self._report(f"Cannot recompute {uid}", exc)

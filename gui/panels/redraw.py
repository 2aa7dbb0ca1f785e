"""When a panel that draws from the :class:`~gui.state.ViewState` redraws after a change.

The map's overlay and the stats are computed from the whole state, so the map and stats
panels redraw on (nearly) any change: at once, except while the altitude slider or the
"as of" day moves, when they wait for a quiet time (:data:`DEBOUNCE_MS`) after the last
move; a new selection alone redraws nothing (the map moves its markers itself).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore

from gui.state import ViewState

#: Quiet time after the last slider move before the overlay is recomputed. [ms]
DEBOUNCE_MS = 30
#: Fields that move with a slider: their changes wait for the quiet time.
SLIDING = frozenset({"altitude_m", "as_of"})
#: Fields whose changes alone redraw nothing.
IGNORED = frozenset({"selected_unit"})


class Redraw(QtCore.QObject):
    """Calls ``draw()`` after ``state`` changes while ``session()`` is not None: at once, or
    after the quiet time when only :data:`SLIDING` fields changed; not for :data:`IGNORED`
    fields alone. ``draw`` is expected to :meth:`cancel` what waits (it draws everything)."""

    def __init__(self, state: ViewState, session: Callable[[], object], draw: Callable[[], None], parent=None):
        super().__init__(parent)
        self._session = session
        self._draw = draw
        #: a redraw is waiting for the quiet time
        self.pending = False
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(draw)
        state.add_callback(self._on_state_changed)

    def _on_state_changed(self, changes) -> None:
        if self._session() is None:
            return
        fields = set(changes)
        if fields <= SLIDING:
            self.pending = True
            self.timer.start()
        elif not fields <= IGNORED:
            self._draw()

    def cancel(self) -> None:
        """Forget the waiting redraw (the panel is drawing everything now)."""
        self.timer.stop()
        self.pending = False

    def flush(self) -> None:
        """Run the waiting redraw now (tests, benchmarks, screenshots)."""
        if self.timer.isActive() or self.pending:
            self._draw()

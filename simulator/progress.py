"""Progress and cancellation of long computations, in one place.

A progress callback takes ``(fraction 0-1, message)``; a :class:`CancelToken` is set from
another thread (the GUI's Cancel, Ctrl-C) and checked by the computation between steps.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CancelToken", "ProgressCallback", "scaled_progress"]

ProgressCallback = Callable[[float, str], None]


class CancelToken:
    """Cooperative cancellation for long computations (set from another thread)."""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def scaled_progress(progress: ProgressCallback | None, start: float, stop: float) -> ProgressCallback | None:
    """The callback of one step of a longer computation: its fractions 0-1 become
    ``start``-``stop`` of the whole (None stays None)."""
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (stop - start) * fraction, message)

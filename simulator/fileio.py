"""Small file-writing rules shared by every writer of adcov.

``tempfile.mkstemp`` creates files readable by their owner alone (0600); a file adcov
writes in the user's folders should get the permissions any other program would give it:
0666 less the user's umask.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_mode: int | None = None


def default_file_mode() -> int:
    """0666 less the process umask (read once; ``os.umask`` can only be read by setting it)."""
    global _mode
    with _lock:
        if _mode is None:
            umask = os.umask(0o022)
            os.umask(umask)
            _mode = 0o666 & ~umask
    return _mode


def give_default_mode(fd: int) -> None:
    """Set a just-created temporary file (``mkstemp``) to :func:`default_file_mode`."""
    os.fchmod(fd, default_file_mode())

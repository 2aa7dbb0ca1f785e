"""Session-wide test environment: headless Qt pinned to PySide6, a private envelope cache.

Everything here runs before any test module imports Qt (pytest-qt creates the QApplication
lazily, in its ``qapp`` fixture), so the settings take effect. Nothing here changes what a
non-GUI test computes: the cache folder only moves the envelope cache out of the user's home.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Headless Qt: with no DISPLAY and no platform set, QApplication() aborts the process.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# pyqtgraph and pytest-qt must use the same binding (pyproject pins pytest-qt to pyside6).
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
# Two cores: numpy's BLAS threads fight the Qt and worker threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_SESSION_DIR = tempfile.mkdtemp(prefix="adcov-tests-")
atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)
if not os.environ.get("XDG_RUNTIME_DIR"):
    _runtime = os.path.join(_SESSION_DIR, "runtime")
    os.makedirs(_runtime, mode=0o700, exist_ok=True)
    os.chmod(_runtime, 0o700)
    os.environ["XDG_RUNTIME_DIR"] = _runtime
# Envelopes computed by the tests go to a throw-away folder shared by the whole session, never
# to the user's cache (a test that needs its own folder still monkeypatches it).
os.environ["ADCOV_CACHE_DIR"] = os.path.join(_SESSION_DIR, "envelopes")


@pytest.fixture
def saved_figures(monkeypatch):
    """Every matplotlib figure saved during the test (to inspect its artists after the PNG)."""
    import matplotlib.figure

    figures = []
    real = matplotlib.figure.Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    return figures

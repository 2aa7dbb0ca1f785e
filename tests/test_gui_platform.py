"""adcov-gui never runs unseen: no display, or a platform plugin that cannot start, ends the
program within seconds with exit status 2 and a message that says what to do (issue #11)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gui.app import XCB_LIBRARY_PACKAGES, library_hint, missing_libraries

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt platform plugins of Linux")

GUI = [sys.executable, "-m", "gui.app"] if not Path(sys.executable).with_name("adcov-gui").exists() else \
    [str(Path(sys.executable).with_name("adcov-gui"))]


def _run(env_changes: dict, drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_changes)
    t0 = time.monotonic()
    done = subprocess.run(GUI, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return done, time.monotonic() - t0


@pytest.mark.slow
def test_no_display_exits_2_within_seconds_and_points_at_screenshot():
    done, seconds = _run({})
    assert done.returncode == 2, done.stderr
    assert seconds < 10
    assert "no display" in done.stderr and "--screenshot" in done.stderr
    assert "Traceback" not in done.stderr


def test_xcb_that_cannot_start_exits_2_with_qts_message():
    """xcb forced on a display that does not exist (and, on a bare machine, without its
    libraries): Qt would abort or fall back offscreen; adcov-gui stops and explains."""
    done, seconds = _run({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":97"})
    assert done.returncode == 2, done.stderr
    assert seconds < 10
    assert "cannot open a window" in done.stderr and "'xcb'" in done.stderr and "--screenshot" in done.stderr
    assert "Traceback" not in done.stderr


def test_library_hint_names_debian_and_fedora_packages():
    hint = library_hint(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "libxcb-icccm.so.4" in hint and "libxcb-keysyms.so.1" in hint
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in hint
    assert "dnf install xcb-util-keysyms xcb-util-wm" in hint
    assert library_hint([]) == ""
    assert all(len(v) == 2 for v in XCB_LIBRARY_PACKAGES.values())


def test_missing_libraries_reads_ldd(tmp_path):
    """ldd's "not found" lines, on a real library (none missing) and on a file that is not one."""
    assert missing_libraries([sys.executable]) == []
    junk = tmp_path / "not-a-library.so"
    junk.write_bytes(b"\0" * 64)
    assert missing_libraries([junk]) == []

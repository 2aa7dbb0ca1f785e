"""Work around a PySide6 reference-count bug on CPython < 3.12.

PySide6(-Essentials) 6.12.0's ``abi3`` wheels return ``None`` from every void method
(``widget.update()``, ``label.setText()``, ``app.processEvents()``, each paint) and ``True``
from ``Signal.disconnect()`` without taking a reference to it. From CPython 3.12 on these
singletons are immortal (PEP 683) and nothing happens; on 3.11 each such call lowers their
reference count by one, and after a few thousand calls -- one busy minute of a GUI, a test
session, a pyqtgraph ``PlotItem.clear()`` loop -- the interpreter aborts with ``Fatal Python
error: none_dealloc: deallocating None`` (or ``bool_dealloc``). Checked with PySide6 6.12.0
on CPython 3.11.7: 1000 calls of ``QObject.setObjectName`` lower ``sys.getrefcount(None)``
by exactly 1000; 200 connect/disconnect pairs lower ``sys.getrefcount(True)`` by 200.

:func:`protect_none` detects the bug at run time (a few probe calls, then look at the
counts) and, only if it is there, gives ``None``, ``True`` and ``False`` a very large extra
reference count -- what 3.12 does by design -- so the lost references can never bring them to
zero. Nothing happens on 3.12+ or with a PySide6 that counts correctly. The real fix is
upstream (or ``Python >= 3.12``, or a PySide6 without the bug).
"""

from __future__ import annotations

import ctypes
import sys

#: Extra references given to None/True/False when the bug is present (2**40 calls to use up).
EXTRA_REFERENCES = 1 << 40
_PROBE_CALLS = 100
_checked = False
leak_detected: bool | None = None


def _leak_per_call() -> float:
    """References to None or True lost per probe call (0 when PySide6 counts correctly)."""
    from PySide6 import QtCore

    class _Probe(QtCore.QObject):
        signal = QtCore.Signal()

    def slot():
        pass

    probe = _Probe()
    # give the probes headroom: they may take away what they measure
    _add_references(_PROBE_CALLS * 4)
    before_none, before_true = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("adcov-probe")
        probe.signal.connect(slot)
        probe.signal.disconnect(slot)
    lost_none = before_none - sys.getrefcount(None)
    lost_true = before_true - sys.getrefcount(True)
    return max(lost_none, lost_true) / _PROBE_CALLS


def _add_references(n: int) -> None:
    # ob_refcnt is the first field of every PyObject (a Py_ssize_t) on CPython <= 3.11
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += n


def protect_none() -> bool:
    """Apply the workaround if this PySide6 leaks references to None; True if applied."""
    global _checked, leak_detected
    if _checked:
        return bool(leak_detected)
    _checked = True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        leak_detected = False
        return False
    leak_detected = _leak_per_call() > 0.5
    if leak_detected:
        _add_references(EXTRA_REFERENCES)
    return leak_detected

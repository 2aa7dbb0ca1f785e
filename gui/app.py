"""Entry point of ``adcov-gui``.

::

    adcov-gui [SCENARIO] [--compare VARIANT] [--screenshot OUT.png] [--altitude-m A]
              [--altitude-ref msl|agl] [--layer L] [--view V] [--size WxH]
              [--as-of DATE] [--select UNIT] [--profile-to LAT,LON]

With no SCENARIO it opens the bundled ``kurils-2020`` with ``kurils-2023`` (the S-300V4s
withdrawn) as the comparison. ``--screenshot`` renders the window offscreen, writes the PNG
and exits (0 on success, 2 when the scenario cannot be loaded). The docs' screenshots::

    adcov-gui --view depth --screenshot docs/images/gui-depth.png
    adcov-gui --size 1500x1000 --select kunashir-s300v4 --profile-to 44.6,145.3 \
              --screenshot docs/images/gui-main.png

Without a display (and with QT_QPA_PLATFORM unset) Qt runs offscreen; with one, it tries xcb
and falls back to offscreen. PySide6 missing: a one-line hint and exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 2
INSTALL_HINT = "install with: pip install 'adcov[gui]'"
#: How long ``--screenshot`` waits for envelopes before giving up. [s]
SCREENSHOT_TIMEOUT_S = 600.0

_IGNORED_QT_MESSAGES = ("This plugin does not support propagateSizeHints",)


def build_parser() -> argparse.ArgumentParser:
    from gui.state import VIEWS

    p = argparse.ArgumentParser(
        prog="adcov-gui",
        description="Explore air-defense coverage over terrain; withdraw, move and compare units.",
    )
    p.add_argument("scenario", nargs="?", metavar="SCENARIO",
                   help="scenario YAML (default: the bundled kurils-2020, compared with kurils-2023)")
    p.add_argument("--compare", metavar="VARIANT", help="scenario the difference view compares with (same terrain and area)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen to this PNG and exit")
    p.add_argument("--altitude-m", type=float, metavar="A", help="target altitude, 10 to 30000 m (default 1000)")
    p.add_argument("--altitude-ref", choices=("msl", "agl"), help="altitude above mean sea level or above ground")
    p.add_argument("--layer", choices=("engagement", "detection"), help="coverage layer (default engagement)")
    p.add_argument("--view", choices=VIEWS, help="map view (default coverage)")
    p.add_argument("--size", default="1400x900", metavar="WxH", help="window size in pixels (default %(default)s)")
    p.add_argument("--as-of", metavar="DATE", help="only units active on this date (YYYY-MM-DD)")
    p.add_argument("--resolution-m", metavar="M|native",
                   help="analysis grid spacing in metres or 'native' (default: the scenario's rule; see adcov run --help)")
    p.add_argument("--select", metavar="UNIT", help="select this unit (details panel, profile origin)")
    p.add_argument("--profile-to", metavar="LAT,LON", help="draw the line-of-sight profile from the selected unit to this point")
    return p


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"adcov-gui: error: --size: expected WxH in pixels, e.g. 1400x900, got {text!r}") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise SystemExit(f"adcov-gui: error: --size: {w}x{h} is outside 200..10000 pixels")
    return w, h


def _choose_platform(screenshot: bool) -> None:
    """Pick the Qt platform when the user did not: offscreen without a display."""
    if "QT_QPA_PLATFORM" in os.environ or not sys.platform.startswith("linux"):
        return
    if screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "xcb;offscreen"
    elif os.environ.get("WAYLAND_DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "wayland;xcb;offscreen"
    else:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def _install_message_filter(QtCore) -> None:
    previous = None

    def handler(mode, context, message):
        if any(s in message for s in _IGNORED_QT_MESSAGES):
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = QtCore.qInstallMessageHandler(handler)


def _wait(app, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    size = _parse_size(args.size)
    _choose_platform(bool(args.screenshot))
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    try:
        import pyqtgraph  # noqa: F401
        from PySide6 import QtCore, QtWidgets
    except ImportError as exc:
        print(f"adcov-gui: {exc.name or 'PySide6'} is not installed; {INSTALL_HINT}", file=sys.stderr)
        return EXIT_ERROR

    from gui import qt_compat

    qt_compat.protect_none()
    from gui.main_window import MainWindow, default_scenarios

    if args.scenario:
        scenario, comparison = Path(args.scenario), (Path(args.compare) if args.compare else None)
    else:
        scenario, comparison = default_scenarios()
        if args.compare:
            comparison = Path(args.compare)

    _install_message_filter(QtCore)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0] if sys.argv else "adcov-gui"])
    app.setApplicationName("adcov-gui")
    app.setOrganizationName("adcov")
    # a screenshot leaves no trace in the user's recent files
    settings = QtCore.QSettings(os.devnull, QtCore.QSettings.Format.IniFormat) if args.screenshot else None
    window = MainWindow(settings=settings)
    if args.resolution_m is not None:
        from simulator.cli.common import parse_resolution_m
        from simulator.errors import AdcovError

        try:
            window.resolution_m = parse_resolution_m(args.resolution_m)
        except AdcovError as exc:
            print(f"adcov-gui: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    window.resize(*size)
    try:
        window.state.set(**{k: v for k, v in (
            ("altitude_m", args.altitude_m), ("altitude_ref", args.altitude_ref),
            ("layer", args.layer), ("view", args.view)) if v is not None})
    except ValueError as exc:
        print(f"adcov-gui: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    window.show()
    window.open_scenario(scenario, comparison=comparison)

    def apply_late_options() -> bool:
        """Options that need the scenario loaded; False on a bad option."""
        try:
            late = {}
            if args.as_of:
                late["as_of"] = _dt.date.fromisoformat(args.as_of)
            if args.select:
                if args.select not in window.session.unit_ids:
                    raise ValueError(f"--select: no unit {args.select!r}; units: {', '.join(window.session.unit_ids)}")
                late["selected_unit"] = args.select
            if late:
                window.state.set(**late)
            if args.profile_to:
                lat, lon = (float(v) for v in args.profile_to.split(","))
                if window.show_profile(lat, lon) is None:
                    return False
        except ValueError as exc:
            print(f"adcov-gui: error: {exc}", file=sys.stderr)
            return False
        return True

    if not args.screenshot:
        if args.as_of or args.select or args.profile_to:
            window.session_changed.connect(lambda: apply_late_options())
        return app.exec()

    expected_comparison = comparison is not None
    ok = _wait(
        app,
        lambda: window.last_error is not None or (
            window.is_ready() and (not expected_comparison or window.session.comparison is not None)
        ),
        SCREENSHOT_TIMEOUT_S,
    )
    if window.last_error is not None:
        exc = window.last_error
        text = "\n".join(str(p) for p in getattr(exc, "problems", [])) or str(exc)
        print(f"adcov-gui: error: {text}", file=sys.stderr)
        window.close()
        return EXIT_ERROR
    if not ok:
        print(f"adcov-gui: error: the scenario did not load within {SCREENSHOT_TIMEOUT_S:.0f} s", file=sys.stderr)
        window.close()
        return EXIT_ERROR
    if not apply_late_options():
        window.close()
        return EXIT_ERROR
    _wait(app, lambda: not window.runner.busy, SCREENSHOT_TIMEOUT_S)
    window.flush()
    for _ in range(5):
        app.processEvents()
    window.map.place_labels()
    app.processEvents()
    out = Path(args.screenshot)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    saved = window.grab().save(str(out), "PNG")
    window.close()
    window.deleteLater()
    if not saved:
        print(f"adcov-gui: error: cannot write {out}", file=sys.stderr)
        return EXIT_ERROR
    print(f"adcov-gui: wrote {out}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

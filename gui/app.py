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

A window needs a display: on Linux without DISPLAY or WAYLAND_DISPLAY, or when Qt's platform
plugin cannot start (typically missing xcb system libraries), ``adcov-gui`` stops within
seconds with exit status 2, Qt's own message, the missing libraries and the Debian and Fedora
packages that provide them, and a pointer to ``--screenshot`` (which renders offscreen and
needs no display). PySide6 missing: a one-line hint and exit status 2.
"""

from __future__ import annotations

import argparse
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


#: Shared libraries of Qt's xcb platform plugin (Qt 6) -> (Debian/Ubuntu, Fedora) package.
XCB_LIBRARY_PACKAGES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}
#: How long the window check may take before adcov-gui gives up. [s]
PLATFORM_CHECK_TIMEOUT_S = 8.0
_SCREENSHOT_HINT = "Without a display, render offscreen instead: adcov-gui --screenshot out.png"


def _choose_platform(screenshot: bool) -> None:
    """Pick the Qt platform when the user did not: offscreen for --screenshot, else the
    display's (never a silent offscreen fallback: a window nobody can see helps no one)."""
    if "QT_QPA_PLATFORM" in os.environ or not sys.platform.startswith("linux"):
        return
    if screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif os.environ.get("WAYLAND_DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "wayland;xcb" if os.environ.get("DISPLAY") else "wayland"
    elif os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "xcb"


def missing_libraries(paths) -> list[str]:
    """Shared libraries ``ldd`` reports "not found" for any of ``paths`` (sorted, unique)."""
    import shutil
    import subprocess

    ldd = shutil.which("ldd")
    missing: set[str] = set()
    if ldd is None:
        return []
    for path in paths:
        try:
            out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            if "not found" in line:
                missing.add(line.split("=>")[0].strip())
    return sorted(missing)


def library_hint(missing: list[str]) -> str:
    """'Missing system libraries: ...; install them with: Debian/Ubuntu: ...; Fedora: ...'."""
    if not missing:
        return ""
    debian = sorted({XCB_LIBRARY_PACKAGES[m][0] for m in missing if m in XCB_LIBRARY_PACKAGES})
    fedora = sorted({XCB_LIBRARY_PACKAGES[m][1] for m in missing if m in XCB_LIBRARY_PACKAGES})
    text = f"Missing system libraries: {', '.join(missing)}."
    if debian:
        text += (f" Install them with: Debian/Ubuntu: sudo apt-get install {' '.join(debian)}; "
                 f"Fedora: sudo dnf install {' '.join(fedora)}.")
    return text


def _xcb_plugin_files() -> list[Path]:
    try:
        import PySide6
    except ImportError:
        return []
    qt = Path(PySide6.__file__).resolve().parent / "Qt"
    return [p for p in (qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))) if p.exists()]


def _missing_cursor_library() -> list[str]:
    # Qt >= 6.5 opens libxcb-cursor at run time: ldd cannot see it
    import ctypes

    try:
        ctypes.CDLL("libxcb-cursor.so.0")
    except OSError:
        return ["libxcb-cursor.so.0"]
    return []


def check_window_platform() -> str | None:
    """None when Qt can open a window here, else the message to print (see the module
    docstring). Tries the platform in a child process, which Qt may abort."""
    import subprocess

    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.split(";")[0] in ("offscreen", "minimal", "vnc"):
        return None  # asked for explicitly
    if not platform:
        return (f"adcov-gui: cannot open a window: no display (neither DISPLAY nor WAYLAND_DISPLAY is set). "
                f"Start it from a desktop session. {_SCREENSHOT_HINT}")
    probe = "from PySide6.QtGui import QGuiApplication; QGuiApplication([]); print('adcov-gui-window-ok')"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=PLATFORM_CHECK_TIMEOUT_S, env=dict(os.environ), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return (f"adcov-gui: cannot open a window: Qt's platform plugin {platform!r} did not start within "
                f"{PLATFORM_CHECK_TIMEOUT_S:g} s (DISPLAY={os.environ.get('DISPLAY', '')!r}). {_SCREENSHOT_HINT}")
    if done.returncode == 0 and "adcov-gui-window-ok" in done.stdout:
        return None
    said = [line.strip() for line in done.stderr.splitlines() if line.strip()][:3]
    missing = []
    if "xcb" in platform:
        missing = sorted(set(missing_libraries(_xcb_plugin_files())) | set(_missing_cursor_library()))
    text = (f"adcov-gui: cannot open a window: Qt's platform plugin {platform!r} failed "
            f"(exit status {done.returncode}; Qt said: {' / '.join(said) or 'nothing'}).")
    hint = library_hint(missing)
    if hint:
        text += " " + hint
    elif "xcb" in platform:
        text += f" Is the X display {os.environ.get('DISPLAY', '')!r} running and reachable?"
    return f"{text} {_SCREENSHOT_HINT}"


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
    problem = _window_platform_problem(bool(args.screenshot))
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_ERROR
    qt_modules = _import_qt()
    if qt_modules is None:
        return EXIT_ERROR
    QtCore, QtWidgets = qt_modules

    from gui import qt_compat

    qt_compat.protect_none()
    from gui.main_window import MainWindow, default_scenarios

    scenario, comparison = _scenario_paths(args, default_scenarios)
    app = _start_application(QtCore, QtWidgets)
    window = _create_window(MainWindow, QtCore, args, size)
    if window is None:
        return EXIT_ERROR
    window.show()
    window.open_scenario(scenario, comparison=comparison)
    if not args.screenshot:
        if args.as_of or args.select or args.profile_to:
            window.session_changed.connect(lambda: _apply_late_options(window, args))
        return app.exec()
    return _take_screenshot(app, window, args, expect_comparison=comparison is not None)


def _window_platform_problem(screenshot: bool) -> str | None:
    """Choose the Qt platform; the message that stops a window from opening, if any."""
    _choose_platform(screenshot)
    if screenshot:
        return None
    return check_window_platform()


def _import_qt():
    """``(QtCore, QtWidgets)`` with pyqtgraph on PySide6; None, after an install hint, without them."""
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    try:
        import pyqtgraph  # noqa: F401
        from PySide6 import QtCore, QtWidgets
    except ImportError as exc:
        print(f"adcov-gui: {exc.name or 'PySide6'} is not installed; {INSTALL_HINT}", file=sys.stderr)
        return None
    return QtCore, QtWidgets


def _scenario_paths(args, default_scenarios) -> tuple[Path, Path | None]:
    """The scenario to open and the comparison, from the arguments or the bundled defaults."""
    if args.scenario:
        return Path(args.scenario), (Path(args.compare) if args.compare else None)
    scenario, comparison = default_scenarios()
    if args.compare:
        comparison = Path(args.compare)
    return scenario, comparison


def _start_application(QtCore, QtWidgets):
    """The QApplication (the running one, if any), named, with Qt's noise filtered."""
    _install_message_filter(QtCore)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0] if sys.argv else "adcov-gui"])
    app.setApplicationName("adcov-gui")
    app.setOrganizationName("adcov")
    return app


def _create_window(MainWindow, QtCore, args, size: tuple[int, int]):
    """The main window with the options that need no scenario; None after a bad option."""
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
            return None
    window.resize(*size)
    try:
        window.state.set(**{k: v for k, v in (
            ("altitude_m", args.altitude_m), ("altitude_ref", args.altitude_ref),
            ("layer", args.layer), ("view", args.view)) if v is not None})
    except ValueError as exc:
        print(f"adcov-gui: error: {exc}", file=sys.stderr)
        return None
    return window


def _apply_late_options(window, args) -> bool:
    """Options that need the scenario loaded; False on a bad option."""
    from simulator.cli.common import parse_date
    try:
        late = {}
        if args.as_of:
            late["as_of"] = parse_date(args.as_of, "--as-of")
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


def _take_screenshot(app, window, args, expect_comparison: bool) -> int:
    """``--screenshot``: wait for the scenario, apply the late options, write the PNG; the exit status."""
    if not _wait_for_scenario(app, window, expect_comparison) or not _apply_late_options(window, args):
        window.close()
        return EXIT_ERROR
    _wait(app, lambda: not window.runner.busy, SCREENSHOT_TIMEOUT_S)
    window.flush()
    for _ in range(5):
        app.processEvents()
    window.map.place_labels()
    app.processEvents()
    return _save_window_png(window, Path(args.screenshot))


def _wait_for_scenario(app, window, expect_comparison: bool) -> bool:
    """Wait until the scenario (and comparison) is loaded; False, after saying why, if it is not."""
    ok = _wait(
        app,
        lambda: window.last_error is not None or (
            window.is_ready() and (not expect_comparison or window.session.comparison is not None)
        ),
        SCREENSHOT_TIMEOUT_S,
    )
    if window.last_error is not None:
        exc = window.last_error
        text = "\n".join(str(p) for p in getattr(exc, "problems", [])) or str(exc)
        print(f"adcov-gui: error: {text}", file=sys.stderr)
        return False
    if not ok:
        print(f"adcov-gui: error: the scenario did not load within {SCREENSHOT_TIMEOUT_S:.0f} s", file=sys.stderr)
        return False
    return True


def _save_window_png(window, out: Path) -> int:
    """Write the window to ``out`` as PNG and close it; the exit status."""
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    from gui.file_actions import png_bytes
    from simulator.fileio import write_bytes_atomically

    data = png_bytes(window.grab())
    window.close()
    window.deleteLater()
    try:
        if data is None:
            raise OSError("Qt cannot encode the PNG")
        write_bytes_atomically(out, data)  # a failed write keeps the previous file
    except OSError as exc:
        print(f"adcov-gui: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"adcov-gui: wrote {out}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

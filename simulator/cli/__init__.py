"""The ``adcov`` command: a thin wrapper over library calls.

Each subcommand lives in its own module with ``register(subparsers)``; the handler it sets
with ``set_defaults(func=...)`` takes the parsed namespace and returns an exit status.
An :class:`~simulator.errors.AdcovError` becomes one message on stderr and status 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from simulator import __version__
from simulator.errors import AdcovError

# Order is the order shown in ``adcov --help``.
_SUBCOMMAND_MODULES = (
    "simulator.cli.systems",
    "simulator.cli.validate",
    "simulator.cli.viewshed",
    "simulator.cli.run",
    "simulator.cli.compare",
    "simulator.cli.sweep",
    "simulator.cli.cache",
)

EXIT_OK = 0
EXIT_USAGE_OR_INPUT = 2


def _requested_subcommand(argv: Sequence[str]) -> str | None:
    """The subcommand module named by ``argv`` (first non-option word), if it is one of ours."""
    for word in argv:
        if not word.startswith("-"):
            module_name = f"simulator.cli.{word}"
            return module_name if module_name in _SUBCOMMAND_MODULES else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``adcov`` parser; with ``only``, just that subcommand (imports are not free)."""
    parser = argparse.ArgumentParser(
        prog="adcov",
        description="Air-defense coverage over real terrain from published nominal figures.",
    )
    parser.add_argument("--version", action="version", version=f"adcov {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMAND_MODULES if only is None else (only,):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # subcommand not built yet
                continue
            raise
        module.register(subparsers)
    return parser


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
_interrupted = False
_reported = False


#: Python files of adcov itself: an interrupt is raised only while one of them runs.
_OUR_CODE = tuple(str(Path(__file__).resolve().parents[i]) + os.sep for i in (1,)) + (
    str(Path(__file__).resolve().parents[2] / "gui") + os.sep,)
_RETRY_S = 0.02


def _in_our_code(frame) -> bool:
    return frame is not None and frame.f_code.co_filename.startswith(_OUR_CODE)


def _on_sigint(signum, frame) -> None:
    """First Ctrl-C: a KeyboardInterrupt, raised only when the main thread runs adcov's own
    code (raised inside numba's or llvmlite's machinery it is swallowed, printed as a
    traceback, or crashes the process); until then it is retried every 20 ms. A second
    Ctrl-C ends the process at once."""
    global _interrupted
    if _interrupted:
        os.write(2, b"adcov: interrupted\n")
        os._exit(EXIT_INTERRUPTED)
    _interrupted = True
    _deliver(frame)


def _on_retry(signum, frame) -> None:
    _deliver(frame)


def _deliver(frame) -> None:
    if _in_our_code(frame) or not hasattr(signal, "setitimer"):  # no timers on Windows: at once
        raise KeyboardInterrupt
    signal.setitimer(signal.ITIMER_REAL, _RETRY_S)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``adcov`` command. Called as the installed script (``argv`` None), an interrupt
    ends the process at once after its one line: interpreter shutdown with numba's or GDAL's
    threads still inside a kernel can crash (a segfault instead of status 130)."""
    global _interrupted, _reported
    _interrupted = _reported = False
    try:
        code = _main(argv)
    except BaseException:
        if not _interrupted:
            raise
        code = _report_interrupt()
    if _interrupted and not _reported:
        code = _report_interrupt()  # the interrupt came as the command was returning
    if _interrupted and argv is None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    return code


def _main(argv: Sequence[str] | None) -> int:
    global _interrupted
    previous = None
    previous_alarm = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _on_sigint)
        if hasattr(signal, "SIGALRM"):
            previous_alarm = signal.signal(signal.SIGALRM, _on_retry)
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        if argv is None:
            # The imports (numba, pyproj, rasterio, pydantic) build ~10^6 long-lived objects:
            # the cyclic collector only slows them down (about 0.2 s of a 2.5 s run); after them,
            # freeze what is loaded and collect as usual.
            gc.disable()
        try:
            parser = build_parser(_requested_subcommand(words))
        finally:
            if argv is None:
                gc.freeze()
                gc.enable()
        args = parser.parse_args(words)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE_OR_INPUT
        return int(args.func(args) or EXIT_OK)
    except AdcovError as exc:
        if _interrupted:
            return _report_interrupt()
        print(f"adcov: error: {exc}", file=sys.stderr)
        return EXIT_USAGE_OR_INPUT
    except KeyboardInterrupt:
        return _report_interrupt()
    except BrokenPipeError:
        # output piped into e.g. `head`, which closed early: not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except BaseException:
        # an interrupt that library code (numba's cache loader, a thread pool) re-raised as
        # something else is still an interrupt; anything else is a bug and keeps its traceback
        if _interrupted:
            return _report_interrupt()
        raise
    finally:
        if previous is not None:
            # the installed script is about to exit: a Ctrl-C from here on changes nothing
            # (the outputs are in place), so it must not turn a finished command into a
            # death by SIGINT during the interpreter's shutdown
            signal.signal(signal.SIGINT, signal.SIG_IGN if argv is None else previous)
        if previous_alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_alarm)


def _report_interrupt() -> int:
    """The one line an interrupt ends with (outputs are staged: each is complete or absent)."""
    global _reported
    if not _reported:
        _reported = True
        print("adcov: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``adcov`` command: a thin wrapper over library calls.

Each subcommand lives in its own module with ``register(subparsers)``; the handler it sets
with ``set_defaults(func=...)`` takes the parsed namespace and returns an exit status.
An :class:`~simulator.errors.AdcovError` becomes one message on stderr and status 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_requested_subcommand(words))
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE_OR_INPUT
    try:
        return int(args.func(args) or EXIT_OK)
    except AdcovError as exc:
        print(f"adcov: error: {exc}", file=sys.stderr)
        return EXIT_USAGE_OR_INPUT
    except KeyboardInterrupt:
        print("adcov: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # output piped into e.g. `head`, which closed early: not an error of ours
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Options and helpers shared by the subcommands that compute."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys

from simulator.cache import EnvelopeCache
from simulator.errors import ArgumentError


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cache")
    group.add_argument("--no-cache", action="store_true", help="compute everything; neither read nor write the envelope cache")
    group.add_argument("--cache-dir", metavar="DIR", help="envelope cache folder (default: $ADCOV_CACHE_DIR or the platform cache dir)")


def cache_from_args(args: argparse.Namespace) -> EnvelopeCache | None:
    if getattr(args, "no_cache", False):
        return None
    return EnvelopeCache(getattr(args, "cache_dir", None))


def parse_altitudes_m(text: str) -> list[float]:
    """``"30,100,1e3"`` -> [30.0, 100.0, 1000.0]; raises AdcovError naming the bad item."""
    values = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ArgumentError(f"--altitudes-m: {item!r} is not a number; expected comma-separated metres, e.g. 30,100,1000") from None
        if not math.isfinite(value) or value < -500 or value > 1_000_000:
            raise ArgumentError(f"--altitudes-m: {item} is outside [-500, 1000000] m")
        values.append(value)
    if not values:
        raise ArgumentError("--altitudes-m: expected at least one altitude in metres")
    return values


def parse_choices(text: str, valid, option: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in valid]
    if bad or not items:
        raise ArgumentError(f"{option}: {', '.join(bad) or 'nothing'} is not valid; expected one or more of {', '.join(valid)}")
    return items


@contextlib.contextmanager
def progress_bar(enabled: bool = True):
    """A rich progress bar on stderr (only on a terminal); yields a ``progress(fraction, message)`` callback."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("computing", total=1.0)

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, description=message)

        yield update


def add_grid_options(parser: argparse.ArgumentParser, *, scheduler: bool = True) -> None:
    """``--resolution-m`` (and ``--scheduler`` for the envelopes) of the commands that compute."""
    group = parser.add_argument_group("analysis grid")
    group.add_argument("--resolution-m", metavar="M|native",
                       help="analysis grid spacing in metres (whole DEM cells), or 'native' for the DEM's own; "
                            "default: the scenario's, else the DEM's spacing coarsened only when a unit's disk "
                            "would exceed 1,500,000 cells (rays always sample the DEM at its own spacing)")
    if scheduler:
        group.add_argument("--scheduler", metavar="local|tcp://HOST:PORT",
                           help="compute the envelopes on Dask, one task per unit: a LocalCluster on 127.0.0.1, "
                                "or an existing scheduler (same results as in this process)")


def parse_resolution_m(text: str | None):
    """``--resolution-m``: None, 'native' or metres > 0 (AdcovError naming what is valid)."""
    if text is None:
        return None
    text = text.strip()
    if text == "native":
        return "native"
    try:
        value = float(text)
    except ValueError:
        raise ArgumentError(f"--resolution-m: {text!r} is not valid; expected metres (e.g. 500) or 'native'") from None
    if not (math.isfinite(value) and 0 < value <= 100_000):
        raise ArgumentError(f"--resolution-m: {text} is outside (0, 100000] m; expected metres or 'native'")
    return value


def parse_scheduler(text: str | None):
    """``--scheduler``: None, 'local' or a tcp:// / tls:// address."""
    if text is None:
        return None
    if text == "local" or (text.startswith(("tcp://", "tls://")) and len(text.split("://", 1)[1]) > 0):
        return text
    raise ArgumentError(f"--scheduler: {text!r} is not valid; expected local, tcp://HOST:PORT or tls://HOST:PORT")


def parse_date(text: str | None, option: str):
    """A date option (``--as-of``): None when not given, else the date (ArgumentError naming the option)."""
    from simulator.api import as_date

    return as_date(text, option) if text else None

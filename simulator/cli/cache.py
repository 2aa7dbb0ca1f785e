"""``adcov cache info|clear``: where the envelope cache is, how big, and emptying it."""

from __future__ import annotations

import argparse
import datetime as dt

from simulator.cache import CACHE_DIR_ENV, CACHE_MAX_ENV, DEFAULT_MAX_BYTES, EnvelopeCache


def register(subparsers) -> None:
    p = subparsers.add_parser("cache", help="show or empty the envelope cache", description=__doc__)
    p.add_argument("action", choices=("info", "clear"), help="info: folder, entries, size and cap; clear: remove every entry")
    p.add_argument("--cache-dir", metavar="DIR", help=f"cache folder (default: ${CACHE_DIR_ENV} or the platform cache dir)")
    p.set_defaults(func=run)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def run(args: argparse.Namespace) -> int:
    cache = EnvelopeCache(args.cache_dir)
    if args.action == "clear":
        n, size = cache.clear()
        print(f"removed {n} entries ({_mib(size)}) from {cache.directory}")
        return 0
    entries = cache.entries()
    total = sum(size for _, size, _ in entries)
    print(f"envelope cache: {cache.directory}")
    print(f"  {len(entries)} entries, {_mib(total)} of a {_mib(cache.max_bytes)} cap "
          f"(default {_mib(DEFAULT_MAX_BYTES)}; set ${CACHE_MAX_ENV} in MiB to change it); "
          "least recently used entries are removed past the cap")
    if entries:
        oldest = dt.datetime.fromtimestamp(entries[0][2] / 1e9).isoformat(timespec="seconds")
        newest = dt.datetime.fromtimestamp(entries[-1][2] / 1e9).isoformat(timespec="seconds")
        print(f"  last used: oldest {oldest}, newest {newest}")
    return 0

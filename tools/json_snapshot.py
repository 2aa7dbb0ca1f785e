"""Behaviour snapshot for refactors: ``adcov run --json`` and ``adcov compare --json`` of every
bundled scenario, written to a folder, so that two checkouts can be compared byte for byte.

    .venv/bin/python tools/json_snapshot.py /tmp/before      # on the old code
    .venv/bin/python tools/json_snapshot.py /tmp/after       # on the new code
    diff -r /tmp/before /tmp/after                            # nothing: behaviour unchanged

Each command runs in its own process with an empty envelope cache. The comparisons are the
ones the README shows: each scenario as of its own date against itself with every unit it
withdraws, the Kurils before and after the withdrawal, and Crimea before and after the strike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

COMMANDS = {
    **{f"run-{p.stem}": ["run", str(p), "--json"] for p in sorted(SCENARIOS.glob("*.yaml"))},
    **{f"run-{p.stem}-agl": ["run", str(p), "--json", "--altitude-ref", "agl"] for p in sorted(SCENARIOS.glob("*.yaml"))},
    "compare-kurils": ["compare", str(SCENARIOS / "kurils-2020.yaml"), str(SCENARIOS / "kurils-2023.yaml"), "--json"],
    "compare-crimea-strike": ["compare", str(SCENARIOS / "crimea-2023.yaml"), "--as-of", "2023-08-22", "--vs-as-of", "2023-08-24",
                              "--json"],
    "compare-kurils-withdraw-band": ["compare", str(SCENARIOS / "kurils-2020.yaml"), "--withdraw", "iturup-s300v4", "--range", "band", "--json"],
    "compare-crimea-years": ["compare", str(SCENARIOS / "crimea-2018.yaml"), str(SCENARIOS / "crimea-2023.yaml"), "--json"],
}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    adcov = str(Path(sys.executable).parent / "adcov")
    failures = 0
    for name, argv in COMMANDS.items():
        with tempfile.TemporaryDirectory(prefix="adcov-snapshot-cache-") as cache:
            proc = subprocess.run([adcov, *argv], capture_output=True, env=dict(os.environ, ADCOV_CACHE_DIR=cache))
        (out / f"{name}.json").write_bytes(proc.stdout)
        (out / f"{name}.rc").write_text(f"{proc.returncode}\n")
        if proc.returncode != 0:
            failures += 1
            print(f"{name}: exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()[-300:]}", file=sys.stderr)
        else:
            print(f"{name}: {len(proc.stdout):,} bytes", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

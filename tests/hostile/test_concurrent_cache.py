"""Two `adcov run` processes on one empty cache directory at once: the same results as one run
alone, and afterwards the cache holds only valid entries (no temporary or torn files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from simulator.cache import EnvelopeCache
from simulator.scenario import bundled_scenario

CLI = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow
def test_two_runs_at_once_on_one_empty_cache(tmp_path):
    scenario = str(bundled_scenario("kurils-2023"))
    shared = tmp_path / "shared-cache"

    def start(cache):
        env = dict(os.environ, ADCOV_CACHE_DIR=str(cache))
        return subprocess.Popen([sys.executable, "-c", CLI, "run", scenario, "--json"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    both = [start(shared), start(shared)]
    outputs = [p.communicate(timeout=300) for p in both]
    assert all(p.returncode == 0 for p in both), [err for _, err in outputs]
    alone = start(tmp_path / "own-cache")
    out_alone, err_alone = alone.communicate(timeout=300)
    assert alone.returncode == 0, err_alone

    def tables(text):
        result = json.loads(text)
        return result["layers"], result["active_units"]

    assert tables(outputs[0][0]) == tables(out_alone)
    assert tables(outputs[1][0]) == tables(out_alone)
    leftovers = [p.name for p in shared.rglob("*") if p.is_file() and not p.name.endswith(".npz")
                 and "dem-digests" not in p.parts]
    assert leftovers == []
    cache = EnvelopeCache(shared)
    entries = cache.entries()
    assert entries
    for path, _, _ in entries:
        assert cache.get(path.stem) is not None, f"invalid entry {path.name}"
    assert cache.recovered_corrupt == 0

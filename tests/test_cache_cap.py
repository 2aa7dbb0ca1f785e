"""The envelope cache stays within its cap (least recently used out), Monte Carlo samples do
not fill it by default, and ``adcov cache info|clear`` (issue #11)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.cache import EnvelopeCache
from simulator.cli import main
from simulator.scenario import load_scenario
from simulator.sweep import position_uncertainty
from synthetic import rough_elevation_m, write_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache-cap")
    elevation = rough_elevation_m((160, 160), seed=4)
    units = [{"id": "a", "system": "tor_m2", "lat_deg": 45.15, "lon_deg": 146.98, "position_precision_km": 3.0},
             {"id": "b", "system": "tor_m2", "lat_deg": 45.17, "lon_deg": 147.02}]  # b stays at its stated site
    return load_scenario(write_scenario(folder, elevation, 90.0, units))


@pytest.mark.slow
def test_monte_carlo_samples_do_not_fill_the_cache_by_default(scenario, tmp_path):
    cache = EnvelopeCache(tmp_path / "c")
    position_uncertainty(scenario, 6, seed=1, altitudes_m=[100.0], cache=cache)
    assert len(cache.entries()) == 1  # b's stated site only: a's six samples are not kept
    position_uncertainty(scenario, 6, seed=1, altitudes_m=[100.0], cache=cache, cache_samples=True)
    assert len(cache.entries()) > 2


@pytest.mark.slow
def test_the_cap_is_honoured_under_a_monte_carlo_run(scenario, tmp_path):
    probe = EnvelopeCache(tmp_path / "probe")
    position_uncertainty(scenario, 2, seed=2, altitudes_m=[100.0], cache=probe, cache_samples=True)
    entry_bytes = max(size for _, size, _ in probe.entries())
    cap = int(3.5 * entry_bytes)
    cache = EnvelopeCache(tmp_path / "capped", max_bytes=cap)
    result = position_uncertainty(scenario, 8, seed=3, altitudes_m=[100.0], cache=cache, cache_samples=True)
    assert cache.total_bytes() <= cap
    assert 0 < len(cache.entries()) <= 3
    # the cap changes nothing in the answer
    reference = position_uncertainty(scenario, 8, seed=3, altitudes_m=[100.0], cache=None)
    assert result.rows() == reference.rows()
    np.testing.assert_array_equal(result.counts, reference.counts)


def test_least_recently_used_entries_go_first(tmp_path):
    cache = EnvelopeCache(tmp_path / "lru", max_bytes=10**9)
    arrays = {"x": np.zeros(50_000, np.float32)}
    for key in ("a" * 64, "b" * 64, "c" * 64):
        cache.put(key, arrays)
    import os
    import time

    old = time.time() - 100
    for path, _, _ in cache.entries():
        os.utime(path, (old, old))
    assert cache.get("a" * 64) is not None  # "a" is now the most recently used
    size = cache.entries()[0][1]
    cache.max_bytes = 2 * size
    cache.evict()
    names = {p.name[:1] for p, _, _ in cache.entries()}
    assert "a" in names and len(names) == 2


def test_cache_info_and_clear(tmp_path, capsys):
    cache = EnvelopeCache(tmp_path / "cli")
    cache.put("d" * 64, {"x": np.ones(1000)})
    assert main(["cache", "info", "--cache-dir", str(cache.directory)]) == 0
    out = capsys.readouterr().out
    assert "1 entries" in out and "cap" in out and "ADCOV_CACHE_MAX_MB" in out
    assert main(["cache", "clear", "--cache-dir", str(cache.directory)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert cache.entries() == []


def test_an_entry_under_another_key_is_not_used(tmp_path):
    """Two valid entries swapped on disk: each proves which question it answers (its key is
    inside the checksummed payload), so neither is used, both are recomputed."""
    import shutil

    cache = EnvelopeCache(tmp_path / "swap")
    a, b = "a" * 64, "b" * 64
    cache.put(a, {"x": np.zeros(10)})
    cache.put(b, {"x": np.ones(10)})
    pa, pb = cache._path(a), cache._path(b)
    tmp = tmp_path / "t.npz"
    shutil.move(pa, tmp)
    shutil.move(pb, pa)
    shutil.move(tmp, pb)
    assert cache.get(a) is None and cache.get(b) is None
    assert cache.recovered_corrupt == 2
    cache.put(a, {"x": np.zeros(10)})
    np.testing.assert_array_equal(cache.get(a)["x"], np.zeros(10))

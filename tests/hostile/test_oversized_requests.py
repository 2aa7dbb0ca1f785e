"""Oversized sweeps are refused from their counts, before anything is sampled, computed or
allocated (peak memory stays small: checked in a child with a 1 GB address-space limit)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from synthetic import rough_elevation_m, unit_at, utm_terrain, write_scenario

LIMITED_CLI = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30)); "
               "from simulator.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture(scope="module")
def twenty_units(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twenty")
    elevation = rough_elevation_m((60, 60), seed=5)
    terrain = utm_terrain(elevation, 90.0)
    units = [unit_at(terrain, f"u{i:02d}", 10 + 2 * (i % 20), 10 + 2 * (i // 20), position_precision_km=1.0)
             for i in range(20)]
    return write_scenario(folder, elevation, 90.0, units, name="twenty")


def _limited(*argv):
    return subprocess.run([sys.executable, "-c", LIMITED_CLI, *argv], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_a_sweep_of_a_million_subsets_is_refused_with_its_size(twenty_units, tmp_path):
    result = _limited("sweep", str(twenty_units), "--max-withdrawn", "20", "--out", str(tmp_path / "w.csv"))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "result rows" in result.stderr and "MiB of CSV" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "w.csv").exists()


@pytest.mark.slow
def test_a_billion_positions_are_refused_before_sampling(twenty_units, tmp_path):
    result = _limited("sweep", str(twenty_units), "--positions", "1000000000", "--out", str(tmp_path / "mc.csv"))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "exceed the limit of 100,000 members" in result.stderr and "Traceback" not in result.stderr


def test_the_row_estimate_counts_layers_and_altitudes():
    from simulator.errors import AdcovError
    from simulator.sweep import MAX_RESULT_ROWS, _check_sweep_size

    assert _check_sweep_size(10, 3) == 1 + 10 + 45 + 120
    n_subsets = 2**16
    per_subset = MAX_RESULT_ROWS // n_subsets
    assert _check_sweep_size(16, 16, 1, per_subset) == n_subsets
    with pytest.raises(AdcovError, match="result rows"):
        _check_sweep_size(16, 16, 2, per_subset)

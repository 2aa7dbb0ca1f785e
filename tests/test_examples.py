"""Every script in ``examples/`` runs as a user would run it and prints what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.compare import coverage_over_time, marginal_contributions
from simulator.coverage import build_coverage
from simulator.scenario import bundled_scenario, load_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, cache_dir: Path) -> list[str]:
    env = {**os.environ, "ADCOV_CACHE_DIR": str(cache_dir)}
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, env=env, timeout=300, cwd=cache_dir)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def kurils():
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    return scenario, build_coverage(scenario, cache=None)


def test_every_example_is_tested():
    tested = {"rank_marginal_coverage.py", "coverage_over_time.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.slow
def test_rank_marginal_coverage(tmp_path, kurils):
    lines = run_example("rank_marginal_coverage.py", tmp_path)
    rows = [line.split() for line in lines if line.strip()[:1].isdigit()]
    ranking = marginal_contributions(kurils[1], altitudes_m=[100.0, 10000.0], layers=["engagement"])
    assert [row[1] for row in rows] == [m.unit for m in ranking]
    assert {row[1] for row in rows[:2]} == {"iturup-s300v4", "kunashir-s300v4"} and rows[2][1] == "iturup-tor-m2"
    for row, m in zip(rows, ranking, strict=True):
        lost = m.lost_km2_by_altitude["engagement"]
        assert row[-2:] == [f"{lost[100.0]:,.0f}", f"{lost[10000.0]:,.0f}"]
    assert any(p.suffix == ".npz" for p in tmp_path.rglob("*"))  # it used the cache it was given


@pytest.mark.slow
def test_coverage_over_time(tmp_path, kurils):
    lines = run_example("coverage_over_time.py", tmp_path)
    rows = [line.split(maxsplit=3) for line in lines if line[:2] == "20"]
    assert [row[0] for row in rows] == ["2020-11-30", "2020-12-01", "2023-08-31"]
    expected = coverage_over_time(kurils[0], [row[0] for row in rows], altitudes_m=[100.0, 10000.0], layers=["engagement"], coverage=kurils[1])
    for row, api in zip(rows, expected, strict=True):
        km2 = [f"{r['covered_km2']:,.0f}" for r in api["layers"]["engagement"]]
        assert row[1:3] == km2
        assert row[3].split(", ") == api["active_units"]
    assert rows[0][1:] == rows[2][1:]  # before deployment and after withdrawal: the Tor-M2 alone

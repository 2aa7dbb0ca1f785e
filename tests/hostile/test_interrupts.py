"""Ctrl-C (SIGINT) at several moments of `run`, `compare --out` and `sweep`: exit status 130,
one line on stderr, no partial output (a report folder or table is complete or absent, no
staging folder or temporary file left beside it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.scenario import bundled_scenario

# as the installed `adcov` script calls it (argv from sys.argv)
CLI = "import sys; from simulator.cli import main; sys.exit(main())"
KURILS_2020 = str(bundled_scenario("kurils-2020"))
KURILS_2023 = str(bundled_scenario("kurils-2023"))


def _interrupt_after(argv, seconds: float, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ADCOV_CACHE_DIR=str(cache))  # an empty cache: the run has work to interrupt
    proc = subprocess.Popen([sys.executable, "-c", CLI, *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".adcov-tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [0.3, 1.2, 2.5])
@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_ctrl_c_ends_with_one_line_and_status_130(tmp_path, command, seconds):
    out = tmp_path / "out"
    argv = {
        "run": ["run", KURILS_2020, "--out", str(out)],
        "compare": ["compare", KURILS_2020, KURILS_2023, "--out", str(out)],
        "sweep": ["sweep", KURILS_2020, "--out", str(tmp_path / "sweep.csv")],
    }[command]
    result = _interrupt_after(argv, seconds, tmp_path, tmp_path / f"cache-{command}-{seconds}")
    if result.returncode == 0:
        pytest.skip(f"{command} finished in under {seconds} s: nothing to interrupt")
    assert result.returncode == 130, result.stderr
    # progress lines may come before; the interrupt adds one line, the last, and no traceback
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1] == "adcov: interrupted", result.stderr
    assert sum("interrupt" in line.lower() for line in lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    # an output is complete or absent (the interrupt may land after the last rename)
    if out.exists():
        manifest = json.loads((out / "manifest.json").read_text())
        assert all((out / f["path"]).stat().st_size == f["bytes"] for f in manifest["files"])
    if (tmp_path / "sweep.csv").exists():
        assert (tmp_path / "sweep.csv").read_text().strip()
    assert _leftovers(tmp_path) == []


def test_ctrl_c_as_a_finished_command_exits_changes_nothing(tmp_path):
    """An interrupt after the command has put its outputs in place (during the interpreter's
    shutdown) leaves exit status 0, not a death by SIGINT (seen as -2 on a sweep that had just
    written its files)."""
    code = ("import os, signal, sys, time; from simulator.cli import main; status = main(); "
            "os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2); sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, "systems"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "interrupt" not in result.stderr

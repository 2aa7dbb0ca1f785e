"""A real full disk: every writer on a small tmpfs that fills up (ENOSPC, not a simulated limit).

Each command first writes its output into the tmpfs, then the tmpfs is filled until only a few
kilobytes are left and the command runs again: it must end with one line naming the failure,
exit status 2, the previous output byte for byte intact and no ``.adcov-tmp-*`` leftovers.
Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped (test_outputs.py covers the
same paths with RLIMIT_FSIZE, which needs no privilege).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthetic import cell_lonlat, rough_elevation_m, unit_at, utm_terrain, write_scenario

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--altitudes-m", "300", "--layers", "engagement", "--no-cache"]
SIZE_BYTES = 12 * 2**20


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full-inputs")
    elevation = rough_elevation_m((60, 60), seed=11, relief_m=500.0)
    terrain = utm_terrain(elevation, 200.0)
    units = [unit_at(terrain, "a", 20, 20, range_km=5), unit_at(terrain, "b", 40, 40, range_km=5)]
    baseline = write_scenario(folder, elevation, 200.0, units, name="baseline")
    variant = write_scenario(folder, elevation, 200.0, units[:1], name="variant")
    lon, lat = cell_lonlat(terrain, 30, 30)
    return {"dem": folder / "synthetic.tif", "baseline": baseline, "variant": variant, "lat": lat, "lon": lon}


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_BYTES}", "tmpfs", str(mount)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def _fill(mount: Path) -> None:
    """Fill the tmpfs to the last byte (unbuffered writes until ENOSPC)."""
    fd = os.open(mount / "filler.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (2**16, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def _state(mount: Path) -> dict[str, bytes]:
    return {str(p.relative_to(mount)): p.read_bytes() for p in sorted(mount.rglob("*"))
            if p.is_file() and p.name != "filler.bin"}


def _adcov(argv, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    return subprocess.run([sys.executable, "-m", "simulator", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def _commands(inputs) -> dict[str, list[str]]:
    observer = ["--lat", repr(inputs["lat"]), "--lon", repr(inputs["lon"]), "--observer-height-m", "20"]
    return {
        "viewshed": ["viewshed", str(inputs["dem"]), *observer, "--out", "v.tif", "--floor-out", "floor.tif"],
        "run": ["run", str(inputs["baseline"]), *QUICK, "--out", "report"],
        "compare": ["compare", str(inputs["baseline"]), str(inputs["variant"]), *QUICK, "--out", "report"],
        "sweep": ["sweep", str(inputs["baseline"]), *QUICK, "--out", "results.csv"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["viewshed", "run", "compare", "sweep"])
def test_a_full_disk_fails_the_command_and_keeps_the_old_output(writer, inputs, small_disk):
    argv = _commands(inputs)[writer]
    first = _adcov(argv, small_disk)
    assert first.returncode == 0, first.stderr
    before = _state(small_disk)
    assert before
    _fill(small_disk)
    again = _adcov(argv, small_disk)
    assert again.returncode == 2, again.stdout + again.stderr
    # progress lines may come first; the failure is one line, the last
    errors = [line for line in again.stderr.splitlines() if line.startswith("adcov: error: ")]
    assert len(errors) == 1 and again.stderr.rstrip().endswith(errors[0]), again.stderr
    assert "No space left on device" in errors[0] and "Traceback" not in again.stderr
    assert _state(small_disk) == before
    assert not list(small_disk.rglob(".adcov-tmp-*"))


@pytest.mark.slow
def test_a_full_cache_disk_fails_with_the_way_out_and_keeps_the_entries(inputs, small_disk, tmp_path):
    env_cache = small_disk / "cache"
    argv = ["run", str(inputs["baseline"]), "--altitudes-m", "300", "--layers", "engagement", "--json"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]), ADCOV_CACHE_DIR=str(env_cache))
    first = subprocess.run([sys.executable, "-m", "simulator", *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    before = _state(small_disk)
    _fill(small_disk)
    other = write_scenario(tmp_path, rough_elevation_m((60, 60), seed=12, relief_m=400.0), 200.0,
                           [unit_at(utm_terrain(rough_elevation_m((60, 60), seed=12, relief_m=400.0), 200.0), "c", 30, 30,
                                    range_km=5)], name="other")
    again = subprocess.run([sys.executable, "-m", "simulator", "run", str(other), *argv[2:]], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2, again.stdout + again.stderr
    errors = [line for line in again.stderr.splitlines() if line.startswith("adcov: error: ")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "--no-cache" in errors[0], again.stderr
    assert _state(small_disk) == before  # the earlier entries are intact
    assert not [p for p in env_cache.rglob(".*") if p.name.startswith((".tmp-", ".adcov-tmp-"))]  # no temporary entry left

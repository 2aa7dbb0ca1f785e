"""Sweeps: position Monte Carlo, range spread, withdrawal combinations; the same on Dask.

The Dask tests run the same sweeps in this process, on a ``distributed.LocalCluster`` and on a
``dask scheduler`` + two ``dask worker`` processes started here on 127.0.0.1, and require
bit-for-bit identical results (row tuples with exact floats, raster arrays, CSV bytes). They
skip when ``distributed`` is not installed.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from simulator.cli import main
from simulator.cli.sweep import csv_text
from simulator.coverage import CancelToken, build_coverage
from simulator.errors import AdcovError, ComputationCancelled
from simulator.geometry import WGS84_GEOD
from simulator.scenario import load_scenario
from simulator.sweep import (
    MEMBER_COLUMNS,
    SAMPLE_COLUMNS,
    UNCERTAINTY_COLUMNS,
    WITHDRAWAL_COLUMNS,
    position_uncertainty,
    range_spread,
    run_tasks,
    sample_positions,
    withdrawal_sweep,
    withdrawal_sweep_coverage,
)
from simulator.terrain import Terrain
from synthetic import rough_elevation_m, unit_at, utm_terrain, write_scenario

try:
    import distributed
except ImportError:  # pragma: no cover - depends on the environment
    distributed = None

ROOT = Path(__file__).resolve().parent.parent
requires_dask = pytest.mark.skipif(distributed is None, reason="dask.distributed is not installed (pip install 'adcov[distributed]')")
pytestmark = pytest.mark.timeout(300)

CELL_M = 200.0
ALTITUDES_M = (50.0, 300.0, 1000.0)
#: Detection range of the two uncertain units, and their position precision. [km]
RANGE_KM = 8.0
PRECISION_KM = 1.5


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A 160 x 160 x 200 m island: 'a' and 'b' uncertain and far apart, 'c' and 'd' fixed."""
    tmp = tmp_path_factory.mktemp("sweep")
    elevation = rough_elevation_m((160, 160), seed=7, relief_m=600.0, sea_fraction=0.25)
    terrain = utm_terrain(elevation, CELL_M)
    figures = {"detection_range_km": RANGE_KM}
    units = [
        unit_at(terrain, "a", 45, 45, range_km=6, figures=figures, position_precision_km=PRECISION_KM),
        unit_at(terrain, "b", 115, 115, range_km=6, figures=figures, position_precision_km=PRECISION_KM),
        unit_at(terrain, "c", 45, 120, range_km=7),
        unit_at(terrain, "d", 120, 40, system="s300v4", range_km=9),
    ]
    path = write_scenario(tmp, elevation, CELL_M, units, name="sweep")
    return path, load_scenario(path), utm_terrain(elevation, CELL_M)


def _rows_uncertainty(result):
    return (result.rows(), result.member_rows(), result.sample_rows(), result.counts.tobytes(), result.areas_km2.tobytes())


# --------------------------------------------------------------------------- sampling


def test_samples_are_seeded_uniform_in_the_geodesic_disk():
    lat0, lon0, radius_km, n = 44.0, 146.0, 10.0, 4000
    lat, lon = sample_positions("u1", lat0, lon0, radius_km, n, seed=3)
    again = sample_positions("u1", lat0, lon0, radius_km, n, seed=3)
    np.testing.assert_array_equal(lat, again[0])
    np.testing.assert_array_equal(lon, again[1])
    other_seed = sample_positions("u1", lat0, lon0, radius_km, n, seed=4)
    other_unit = sample_positions("u2", lat0, lon0, radius_km, n, seed=3)
    assert not np.array_equal(lat, other_seed[0]) and not np.array_equal(lat, other_unit[0])
    # a prefix of the samples does not depend on how many are drawn
    head = sample_positions("u1", lat0, lon0, radius_km, 10, seed=3)
    np.testing.assert_array_equal(head[0], lat[:10])
    az, _, dist_m = WGS84_GEOD.inv(np.full(n, lon0), np.full(n, lat0), lon, lat)
    assert dist_m.max() <= radius_km * 1000.0 * (1 + 1e-9)
    # uniform per unit area: E[r^2] = R^2 / 2, P(r < R/2) = 1/4; azimuths uniform
    r2 = (dist_m / (radius_km * 1000.0)) ** 2
    assert r2.mean() == pytest.approx(0.5, abs=0.02)
    assert np.mean(dist_m < radius_km * 500.0) == pytest.approx(0.25, abs=0.03)
    counts, _ = np.histogram(np.mod(az, 360.0), bins=4, range=(0, 360))
    assert counts.min() > 0.9 * n / 4
    # precision 0: the stated point itself
    lat, lon = sample_positions("u1", lat0, lon0, 0.0, 5, seed=3)
    assert set(lat) == {lat0} and set(lon) == {lon0}


def test_land_only_rejects_sea_and_says_when_there_is_no_land(synthetic):
    _, scenario, terrain = synthetic
    unit = scenario.unit("a")
    lat, lon = sample_positions("a", unit.lat_deg, unit.lon_deg, 5.0, 300, seed=1, terrain=terrain, land_only=True)
    assert np.all(terrain.sample_m(lat, lon) > 0.0)
    sea = utm_terrain(np.zeros((50, 50), np.float32), CELL_M)
    with pytest.raises(AdcovError, match=r"land \(terrain > 0 m\).*0 of 20 samples.*drop land-only"):
        sample_positions("a", unit.lat_deg, unit.lon_deg, 1.0, 20, seed=1, terrain=sea, land_only=True)
    with pytest.raises(AdcovError, match="position_precision_km is 0 and the point is not on land"):
        sample_positions("a", unit.lat_deg, unit.lon_deg, 0.0, 3, terrain=sea, land_only=True)
    assert isinstance(sea, Terrain)


# --------------------------------------------------------------------------- probability maps


def test_precision_zero_probability_equals_the_deterministic_coverage(synthetic):
    _, scenario, _ = synthetic
    fixed = dataclasses.replace(
        scenario, units=tuple(dataclasses.replace(u, position_precision_km=0.0) if u.id in ("a", "b") else u for u in scenario.units)
    )
    result = position_uncertainty(fixed, 5, seed=2, altitudes_m=ALTITUDES_M, altitude_ref="agl", cache=None)
    coverage = build_coverage(fixed, cache=None)
    assert result.sampled_units == ["a", "b"] and len(result.members) == 5
    for layer in ("detection", "engagement"):
        for altitude_m in ALTITUDES_M:
            covered = coverage.covered(layer, altitude_m, "agl")
            assert covered.any()
            np.testing.assert_array_equal(result.probability(layer, altitude_m), covered.astype(np.float32))
            area = coverage.covered_km2(layer, altitude_m, "agl")
            assert set(result.areas_km2[:, result.layers.index(layer), result.altitudes_m.index(altitude_m)]) == {area}
            assert set(result.area_quantiles_km2(layer, altitude_m).values()) == {area}


@pytest.mark.slow
def test_probabilities_lie_in_0_1_and_grow_with_altitude_well_inside_range(synthetic):
    _, scenario, _ = synthetic
    two = scenario.with_units_withdrawn(["c", "d"])  # 'a' and 'b' never reach each other's area
    result = position_uncertainty(two, 12, seed=5, land_only=True, altitudes_m=ALTITUDES_M, layers=["detection"], cache=None)
    grid = result.grid
    rows, cols = np.mgrid[0 : grid.n_rows, 0 : grid.n_cols]
    lon, lat = grid.pixel_to_lonlat(rows, cols)
    inside = np.zeros(grid.shape, dtype=bool)
    for uid in ("a", "b"):
        unit = two.unit(uid)
        _, _, d_m = WGS84_GEOD.inv(np.full(lon.size, unit.lon_deg), np.full(lat.size, unit.lat_deg), lon.ravel(), lat.ravel())
        # every sample of the unit covers these cells from below its ceiling at 1000 m
        inside |= (d_m.reshape(grid.shape) <= (RANGE_KM - PRECISION_KM - 1.0) * 1000.0)
    previous = None
    for altitude_m in ALTITUDES_M:
        p = result.probability("detection", altitude_m)
        assert p.dtype == np.float32 and p.min() >= 0.0 and p.max() <= 1.0
        assert len(np.unique(p)) > 2  # the samples do disagree somewhere
        if previous is not None:
            assert np.all(p[inside] >= previous[inside])
        previous = p
    # the sampled sites are on land, within the precision of the stated point
    for uid, (lat_s, lon_s) in result.positions.items():
        unit = two.unit(uid)
        _, _, d_m = WGS84_GEOD.inv(np.full(lat_s.size, unit.lon_deg), np.full(lat_s.size, unit.lat_deg), lon_s, lat_s)
        assert d_m.max() <= PRECISION_KM * 1000.0 + 1e-6
        assert np.all(grid.terrain.sample_m(lat_s, lon_s) > 0)
    # polygons at a level contain what a higher level contains
    low, high = result.polygons_lonlat("detection", 1000.0, 0.1), result.polygons_lonlat("detection", 1000.0, 0.9)
    assert low.area >= high.area > 0 and low.buffer(1e-9).contains(high)
    q = result.area_quantiles_km2("detection", 1000.0)
    assert q[10] <= q[50] <= q[90]


@pytest.mark.slow
def test_range_spread_members_min_nominal_max(synthetic):
    _, scenario, _ = synthetic
    # published Tor-M2 spread 12-15 km: drop the range overrides so the spread applies
    plain = dataclasses.replace(scenario, units=tuple(dataclasses.replace(u, range_km=None, figures={}) for u in scenario.units))
    result = range_spread(plain, altitudes_m=[1000.0], layers=["engagement"], cache=None)
    assert [m.range_mode for m in result.members] == ["min", "nominal", "max"]
    p = result.probability("engagement", 1000.0)
    assert set(np.unique(p)) <= {np.float32(0), np.float32(1 / 3), np.float32(2 / 3), np.float32(1)}
    assert np.any((p > 0) & (p < 1))
    areas = {m.range_mode: result.areas_km2[m.index, 0, 0] for m in result.members}
    assert areas["min"] < areas["nominal"]
    nominal = build_coverage(plain, cache=None).covered_km2("engagement", 1000.0)
    assert areas["nominal"] == nominal
    (row,) = result.rows()
    assert row[UNCERTAINTY_COLUMNS.index("mean_min_km2")] == areas["min"]


# --------------------------------------------------------------------------- withdrawal sweep


@pytest.mark.slow
def test_withdrawal_sweep_matches_coverage_without(synthetic):
    _, scenario, _ = synthetic
    sweep = withdrawal_sweep(scenario, altitudes_m=ALTITUDES_M, cache=None)
    coverage = build_coverage(scenario, cache=None)
    ids = list(scenario.unit_ids)
    assert len(sweep.subsets) == 2 ** len(ids) and sweep.subsets[0] == ()
    rows = sweep.rows()
    assert len(rows) == len(sweep.subsets) * 2 * len(ALTITUDES_M)
    for row in rows:
        withdrawn, n, mode, layer, altitude_m, ref, covered_km2, lost_km2 = row
        gone = withdrawn.split("+") if withdrawn else []
        assert n == len(gone) and mode == "nominal" and ref == "msl"
        variant = coverage.without(gone)
        assert covered_km2 == pytest.approx(variant.covered_km2(layer, altitude_m), rel=1e-12, abs=1e-9)
        base = coverage.covered(layer, altitude_m)
        lost = coverage.area_km2(base & ~variant.covered(layer, altitude_m))
        assert lost_km2 == pytest.approx(lost, rel=1e-12, abs=1e-9) and lost_km2 >= 0.0
    # withdrawing more never loses less
    lost = {(s, li, ai): sweep.lost_km2[0, i, li, ai] for i, s in enumerate(sweep.subsets) for li in range(2) for ai in range(3)}
    for (s, li, ai), value in lost.items():
        for t in sweep.subsets:
            if set(s) < set(t):
                assert lost[(t, li, ai)] >= value - 1e-9
    # ranking by brute force
    for size in (1, 2, 3):
        scores = sorted(((float(sweep.lost_km2[0, i].sum()), s) for i, s in enumerate(sweep.subsets) if len(s) == size),
                        key=lambda x: -x[0])
        got = sweep.most_damaging(size, top=3)
        assert [d.withdrawn for d in got] == [s for _, s in scores[:3]]
    # the in-memory sweep over a Coverage gives the same arrays
    again = withdrawal_sweep_coverage(coverage, altitudes_m=ALTITUDES_M)
    np.testing.assert_array_equal(again.covered_km2, sweep.covered_km2)
    np.testing.assert_array_equal(again.lost_km2, sweep.lost_km2)


def test_withdrawal_sweep_options_and_errors(synthetic):
    _, scenario, _ = synthetic
    sweep = withdrawal_sweep(scenario, units=["a", "c", "d"], max_withdrawn=2, altitudes_m=[300.0], layers=["engagement"],
                             range_modes=["min", "nominal"], altitude_ref="agl", cache=None)
    assert [len(s) for s in sweep.subsets] == [0, 1, 1, 1, 2, 2, 2]
    assert {r[2] for r in sweep.rows()} == {"min", "nominal"} and {r[5] for r in sweep.rows()} == {"agl"}
    assert sweep.ranking().keys() == {1, 2}
    with pytest.raises(AdcovError, match=r"unknown unit id\(s\) 'zz'.*valid: a, b, c, d"):
        withdrawal_sweep(scenario, units=["a", "zz"])
    with pytest.raises(AdcovError, match="max_withdrawn"):
        withdrawal_sweep(scenario, max_withdrawn=0)
    with pytest.raises(AdcovError, match="scheduler"):
        withdrawal_sweep(scenario, scheduler="http://example")
    with pytest.raises(AdcovError, match="state.* no position_precision_km.*units with one: a, b"):
        position_uncertainty(scenario, 3, units=["c"])


def test_cancel_token_stops_a_sweep(synthetic):
    _, scenario, _ = synthetic
    token = CancelToken()

    def progress(fraction, message):
        if fraction > 0:
            token.cancel()

    with pytest.raises(ComputationCancelled):
        position_uncertainty(scenario, 6, cache=None, altitudes_m=[300.0], progress=progress, cancel=token)


@pytest.mark.slow
def test_in_process_runs_never_import_dask(synthetic, tmp_path):
    path, _, _ = synthetic
    code = (
        "import sys; from simulator.scenario import load_scenario; from simulator.sweep import withdrawal_sweep, position_uncertainty\n"
        f"s = load_scenario({str(path)!r})\n"
        "withdrawal_sweep(s, altitudes_m=[300.0], cache=None); position_uncertainty(s, 2, altitudes_m=[300.0], cache=None)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    assert out.stdout.strip() == "[]"


def test_run_tasks_in_process_keeps_order_and_streams():
    assert run_tasks(abs, [-3, 1, -2]) == [3, 1, 2]
    seen = []
    assert run_tasks(abs, [-3, 1], on_result=lambda i, r: seen.append((i, r))) is None
    assert seen == [(0, 3), (1, 1)]


# --------------------------------------------------------------------------- CLI


def test_cli_writes_the_withdrawal_table_atomically(synthetic, tmp_path, capsys):
    path, scenario, _ = synthetic
    out = tmp_path / "results.csv"
    status = main(["sweep", str(path), "--out", str(out), "--altitudes-m", "300,1000", "--no-cache"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    expected = withdrawal_sweep(scenario, max_withdrawn=2, altitudes_m=[300.0, 1000.0], cache=None)
    assert out.read_text() == csv_text(WITHDRAWAL_COLUMNS, expected.rows())
    assert max(r[1] for r in expected.rows()) == 2  # default: withdrawals of one and of two units
    assert "Most damaging withdrawals of 1 unit" in captured.out and "of 2 units" in captured.out
    best = expected.most_damaging(1, 1)[0]
    assert ", ".join(best.withdrawn) in captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.parquet"]  # no temporary left


def _csv_cell(value):
    """A Parquet value as the CSV writes it (empty for None)."""
    return "" if value is None else str(value)


@pytest.mark.parametrize("kind", ["withdrawals", "positions"])
def test_cli_parquet_table_holds_the_csv_rows(synthetic, tmp_path, capsys, kind):
    """The Parquet table next to the CSV has the same columns and the same rows."""
    import csv

    import pyarrow.parquet as pq

    path, _, _ = synthetic
    out = tmp_path / "t.csv"
    extra = ["--positions", "3", "--seed", "4", "--layers", "detection"] if kind == "positions" else []
    assert main(["sweep", str(path), "--out", str(out), "--altitudes-m", "300,1000", "--no-cache", *extra]) == 0, capsys.readouterr().err
    with out.open(newline="") as f:
        header, *csv_rows = list(csv.reader(f))
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column_names == header
    parquet_rows = [[_csv_cell(v) for v in row.values()] for row in table.to_pylist()]
    assert len(parquet_rows) == len(csv_rows) > 0
    for got, expected in zip(parquet_rows, csv_rows, strict=True):
        for g, e in zip(got, expected, strict=True):
            # floats: the CSV holds repr(), Parquet the float itself
            assert g == e or float(g) == float(e), (got, expected)


def test_cli_without_pyarrow_writes_csv_and_says_parquet_was_skipped(synthetic, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    path, _, _ = synthetic
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out), "--altitudes-m", "300", "--no-cache"]) == 0
    assert "Parquet skipped: pyarrow is not installed" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_cli_bad_unit_ids_exit_2_listing_valid_ids(synthetic, tmp_path, capsys):
    path, _, _ = synthetic
    out = tmp_path / "x.csv"
    assert main(["sweep", str(path), "--units", "a,nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "valid: a, b, c, d" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_uncertainty_outputs(synthetic, tmp_path, capsys):
    path, scenario, _ = synthetic
    out = tmp_path / "mc.csv"
    argv = ["sweep", str(path), "--positions", "4", "--seed", "9", "--land-only", "--altitudes-m", "300",
            "--layers", "detection", "--out", str(out), "--no-cache"]
    assert main(argv) == 0, capsys.readouterr().err
    result = position_uncertainty(scenario, 4, seed=9, land_only=True, altitudes_m=[300.0], layers=["detection"], cache=None)
    assert out.read_text() == csv_text(UNCERTAINTY_COLUMNS, result.rows())
    assert (tmp_path / "mc" / "members.csv").read_text() == csv_text(MEMBER_COLUMNS, result.member_rows())
    assert (tmp_path / "mc" / "samples.csv").read_text() == csv_text(SAMPLE_COLUMNS, result.sample_rows())
    # the companions go in a folder named after the CSV, not beside it (issue #11)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["mc", "mc.csv", "mc.parquet"]
    with rasterio.open(tmp_path / "mc" / "p_detection_300m.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), result.probability("detection", 300.0))
        assert ds.transform == result.grid.transform
    features = json.loads((tmp_path / "mc" / "levels.geojson").read_text())["features"]
    assert [f["properties"]["probability_min"] for f in features] == [0.1, 0.5, 0.9]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_keyboard_interrupt_leaves_no_output(synthetic, tmp_path, capsys, monkeypatch):
    import simulator.sweep as sweep_module

    path, _, _ = synthetic
    real = sweep_module.compute_unit_masks
    calls = []

    def interrupted(job):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(sweep_module, "compute_unit_masks", interrupted)
    out = tmp_path / "results.csv"
    assert main(["sweep", str(path), "--out", str(out), "--altitudes-m", "300", "--no-cache"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_interrupt_while_writing_keeps_the_previous_files(synthetic, tmp_path, capsys, monkeypatch):
    import simulator.terrain

    path, _, _ = synthetic
    out = tmp_path / "mc.csv"
    out.write_text("previous\n")
    real = simulator.terrain.write_geotiff
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulator.terrain, "write_geotiff", interrupted)
    argv = ["sweep", str(path), "--positions", "2", "--altitudes-m", "300,1000", "--layers", "engagement", "--out", str(out), "--no-cache"]
    assert main(argv) == 130
    assert len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["mc.csv"] and out.read_text() == "previous\n"


# --------------------------------------------------------------------------- Dask


def _listening_ips(pids) -> set[str]:
    import psutil

    ips = set()
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        procs.append(proc)
        procs.extend(proc.children(recursive=True))
    for proc in procs:
        try:
            connections = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        ips.update(c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN)
    return ips


def _check_loopback(client, pids) -> None:
    info = client.scheduler_info()
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert info["workers"] and all(addr.startswith("tcp://127.0.0.1:") for addr in info["workers"])
    ips = _listening_ips(pids)
    assert ips and ips <= {"127.0.0.1"}, ips


@pytest.fixture(scope="module")
def local_client():
    if distributed is None:
        pytest.skip("dask.distributed is not installed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1: (address, processes)."""
    if distributed is None:
        pytest.skip("dask.distributed is not installed")
    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask-cli")
    dask_cli = Path(sys.executable).with_name("dask")
    command = [str(dask_cli)] if dask_cli.exists() else [sys.executable, "-m", "dask"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
               OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    scheduler_file = tmp / "scheduler.json"
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        log = open(tmp / "scheduler.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen(
            command + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0",
                       "--scheduler-file", str(scheduler_file)],
            env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        ))
        deadline = time.monotonic() + 60
        address = None
        while address is None:
            assert time.monotonic() < deadline, (tmp / "scheduler.log").read_text()
            assert procs[0].poll() is None, (tmp / "scheduler.log").read_text()
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)
        for i in range(2):
            log = open(tmp / f"worker{i}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen(
                command + ["worker", address, "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                           "--nworkers", "1", "--nthreads", "1", "--name", f"w{i}",
                           "--local-directory", str(tmp / f"worker{i}"), "--death-timeout", "30"],
                env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            ))
        with Client(address, timeout="10s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def in_process_results(synthetic, tmp_path_factory):
    """The reference results, computed in this process (no Dask)."""
    _, scenario, _ = synthetic
    withdrawals = withdrawal_sweep(scenario, altitudes_m=ALTITUDES_M, cache=None)
    mc = position_uncertainty(scenario, 6, seed=11, land_only=True, altitudes_m=ALTITUDES_M, cache=None,
                              range_modes=["nominal", "max"])
    return withdrawals.rows(), _rows_uncertainty(mc)


@pytest.mark.slow
@requires_dask
def test_local_cluster_gives_identical_results(synthetic, local_client, in_process_results, tmp_path):
    _, scenario, _ = synthetic
    withdrawals = withdrawal_sweep(scenario, altitudes_m=ALTITUDES_M, cache=None, scheduler=local_client)
    assert withdrawals.rows() == in_process_results[0]
    # envelopes computed by the workers go to the shared cache folder; a second run reads them
    from simulator.cache import EnvelopeCache

    cache = EnvelopeCache(tmp_path / "cache")
    mc = position_uncertainty(scenario, 6, seed=11, land_only=True, altitudes_m=ALTITUDES_M, cache=cache,
                              range_modes=["nominal", "max"], scheduler=local_client)
    assert _rows_uncertainty(mc) == in_process_results[1]
    assert any((tmp_path / "cache").rglob("*.npz"))
    again = position_uncertainty(scenario, 6, seed=11, land_only=True, altitudes_m=ALTITUDES_M, cache=cache,
                                 range_modes=["nominal", "max"])
    assert _rows_uncertainty(again) == in_process_results[1]
    _check_loopback(local_client, [os.getpid()])


@pytest.mark.slow
@requires_dask
def test_scheduler_local_starts_and_stops_its_own_cluster(synthetic, in_process_results):
    import psutil

    def children() -> set[int]:
        pids = set()
        for proc in psutil.Process().children(recursive=True):
            try:
                if "resource_tracker" not in " ".join(proc.cmdline()):  # multiprocessing's, lives with pytest
                    pids.add(proc.pid)
            except psutil.NoSuchProcess:
                pass
        return pids

    _, scenario, _ = synthetic
    before = children()
    withdrawals = withdrawal_sweep(scenario, altitudes_m=ALTITUDES_M, cache=None, scheduler="local")
    assert withdrawals.rows() == in_process_results[0]
    deadline = time.monotonic() + 30
    while children() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (children() - before)


@pytest.mark.slow
@requires_dask
def test_cli_scheduler_and_workers_give_identical_results(synthetic, cli_cluster, in_process_results):
    from distributed import Client

    _, scenario, _ = synthetic
    address, procs = cli_cluster
    assert address.startswith("tcp://127.0.0.1:")
    withdrawals = withdrawal_sweep(scenario, altitudes_m=ALTITUDES_M, cache=None, scheduler=address)
    assert withdrawals.rows() == in_process_results[0]
    mc = position_uncertainty(scenario, 6, seed=11, land_only=True, altitudes_m=ALTITUDES_M, cache=None,
                              range_modes=["nominal", "max"], scheduler=address)
    assert _rows_uncertainty(mc) == in_process_results[1]
    with Client(address, timeout="10s") as client:
        _check_loopback(client, [p.pid for p in procs])


@pytest.mark.slow
@requires_dask
def test_killing_a_worker_mid_sweep_changes_nothing(synthetic, in_process_results):
    from distributed import Client, LocalCluster

    _, scenario, _ = synthetic
    reference = position_uncertainty(scenario, 16, seed=13, altitudes_m=ALTITUDES_M, cache=None)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def progress(fraction, message):
            if not killed and 0 < fraction < 0.5:
                victim = min(pids.values())
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        result = position_uncertainty(scenario, 16, seed=13, altitudes_m=ALTITUDES_M, cache=None, scheduler=client, progress=progress)
        assert killed, "the sweep ended before a worker could be killed"
    assert _rows_uncertainty(result) == _rows_uncertainty(reference)


@pytest.mark.slow
@requires_dask
def test_cli_sweep_on_a_local_cluster_writes_the_same_bytes(synthetic, tmp_path, capsys):
    path, _, _ = synthetic
    here, there = tmp_path / "here.csv", tmp_path / "there.csv"
    base = ["sweep", str(path), "--altitudes-m", "300", "--no-cache", "--units", "a,b,c"]
    assert main(base + ["--out", str(here)]) == 0
    assert main(base + ["--out", str(there), "--scheduler", "local"]) == 0, capsys.readouterr().err
    assert here.read_bytes() == there.read_bytes()


@pytest.mark.slow
def test_subset_count_matches_combinatorics(synthetic):
    _, scenario, _ = synthetic
    sweep = withdrawal_sweep(scenario, max_withdrawn=3, altitudes_m=[300.0], layers=["detection"], cache=None)
    assert len(sweep.subsets) == sum(math.comb(4, k) for k in range(4))
    assert sweep.subsets == [c for k in range(4) for c in itertools.combinations(scenario.unit_ids, k)]

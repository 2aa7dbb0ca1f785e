"""Sweeps: a 2^10-subset withdrawal sweep, and a position Monte Carlo on 1 vs 2 Dask workers.

1. Withdrawal sweep on a 10-unit Kuril scenario (kurils-2020 + 7 hypothetical units added in a
   temporary file that ``extends`` it): every subset of the 10 units (2^10 = 1024) at 6
   altitudes and both layers, in process, from cached envelopes (the cache is filled by a
   first, cold run). Target <= 10 s on the 2-core machine.
2. Position Monte Carlo of kurils-2020 (its 3 units, each within its position_precision_km,
   land only), 200 joint samples = 600 line-of-sight jobs, each run cold (its own empty cache):
   in process, then on a LocalCluster of 1 and of 2 worker processes (one thread each);
   prints the speed-up of 2 workers over 1, and checks the results are identical.

Not a test (machines are noisy); run by hand:

    .venv/bin/python benchmarks/bench_sweep.py [--samples 200] [--skip-mc]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.cache import EnvelopeCache  # noqa: E402
from simulator.scenario import bundled_scenario, load_scenario  # noqa: E402
from simulator.sweep import position_uncertainty, withdrawal_sweep  # noqa: E402

ALTITUDES_M = (100.0, 300.0, 1000.0, 3000.0, 10000.0, 20000.0)

#: Hypothetical placements, for timing only (not reported deployments); all on land in DTED0.
EXTRA_UNITS = [
    {"id": "kunashir-tor-m2", "system": "tor_m2", "lat_deg": 43.95, "lon_deg": 145.75},
    {"id": "kunashir-buk-m3", "system": "buk_m3", "lat_deg": 44.35, "lon_deg": 146.20},
    {"id": "kunashir-s400", "system": "s400", "lat_deg": 44.30, "lon_deg": 146.10},
    {"id": "iturup-buk-m3", "system": "buk_m3", "lat_deg": 45.25, "lon_deg": 148.00},
    {"id": "iturup-s400", "system": "s400", "lat_deg": 45.10, "lon_deg": 147.85},
    {"id": "shikotan-tor-m2", "system": "tor_m2", "lat_deg": 43.80, "lon_deg": 146.75},
    {"id": "hokkaido-chusam", "system": "type03_chusam", "lat_deg": 43.33, "lon_deg": 145.58},
]


def ten_unit_scenario(folder: Path):
    doc = {
        "schema_version": 1,
        "extends": str(bundled_scenario("kurils-2020")),
        "name": "kurils-2020-bench10",
        "title": "kurils-2020 with 7 hypothetical units (benchmark load only)",
        "add": [{**u, "status": "hypothetical"} for u in EXTRA_UNITS],
    }
    path = folder / "kurils-bench10.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    scenario = load_scenario(path)
    return scenario.active_as_of(scenario.as_of) if scenario.as_of else scenario


def bench_withdrawals(tmp: Path) -> None:
    scenario = ten_unit_scenario(tmp)
    assert len(scenario.units) == 10, scenario.unit_ids
    cache_dir = tmp / "cache-withdrawals"
    t0 = time.perf_counter()
    withdrawal_sweep(scenario, altitudes_m=ALTITUDES_M, max_withdrawn=1, cache=EnvelopeCache(cache_dir))
    cold_s = time.perf_counter() - t0
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = withdrawal_sweep(scenario, altitudes_m=ALTITUDES_M, cache=EnvelopeCache(cache_dir))
        timings.append(time.perf_counter() - t0)
    # the two phases separately: per-unit masks from the cached envelopes, then the subset queries
    from simulator.catalog import load_catalog
    from simulator.figures import resolve_unit_figures
    from simulator.sweep import EnvelopeJob, _grid_spec, _open_grid, compute_unit_masks, sweep_from_masks

    catalog, grid = load_catalog(), _open_grid(scenario)
    spec = _grid_spec(scenario, grid)
    t0 = time.perf_counter()
    masks = {
        u.id: compute_unit_masks(EnvelopeJob(
            spec, resolve_unit_figures(u, catalog.get(u.system_id), scenario.default_antenna_height_m, "nominal"),
            scenario.k_factor, result.layers, ALTITUDES_M, "msl", str(cache_dir.resolve()),
        ))
        for u in scenario.units
    }
    masks_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sweep_from_masks(masks, grid, all_units=list(scenario.unit_ids), units=list(scenario.unit_ids), max_withdrawn=None,
                     layers=result.layers, altitudes_m=ALTITUDES_M, altitude_ref="msl")
    queries_s = time.perf_counter() - t0
    rows = len(result.rows())
    print(f"withdrawal sweep, {len(scenario.units)} units on the Kuril grid {result_grid_shape(scenario)}: "
          f"{len(result.subsets)} subsets x {len(ALTITUDES_M)} altitudes x {len(result.layers)} layers = {rows} rows")
    print(f"  envelopes cold (line of sight, filling the cache): {cold_s:.2f} s")
    print(f"  whole sweep from cached envelopes, in process: best {min(timings):.2f} s, "
          f"median {sorted(timings)[1]:.2f} s of 3 (target <= 10 s)")
    print(f"    of which: unit masks from the cached envelopes {masks_s:.2f} s, the {len(result.subsets)}-subset queries {queries_s:.2f} s")
    for size, damages in result.ranking(top=1).items():
        print(f"  most damaging withdrawal of {size}: {' + '.join(damages[0].withdrawn)} "
              f"({damages[0].lost_km2:,.0f} km² summed over layers and altitudes)")


def result_grid_shape(scenario) -> str:
    from simulator.sweep import _open_grid

    rows, cols = _open_grid(scenario).shape
    return f"{rows}x{cols}"


def bench_monte_carlo(tmp: Path, samples: int) -> None:
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    scenario = scenario.active_as_of(scenario.as_of)
    kwargs = dict(seed=1, land_only=True, altitudes_m=ALTITUDES_M)
    print(f"position Monte Carlo, kurils-2020, {samples} joint samples of {len(scenario.units)} units "
          f"({samples * len(scenario.units)} line-of-sight jobs), each run with an empty cache:")
    t0 = time.perf_counter()
    reference = position_uncertainty(scenario, samples, cache=EnvelopeCache(tmp / "mc-inproc"), **kwargs)
    inproc_s = time.perf_counter() - t0
    print(f"  in process (numba on both cores): {inproc_s:.1f} s")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("  1 vs 2 workers: skipped, dask.distributed is not installed (pip install 'adcov[distributed]')")
        return
    seconds = {}
    for n_workers in (1, 2):
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0", env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
            client.wait_for_workers(n_workers)
            t0 = time.perf_counter()
            result = position_uncertainty(scenario, samples, cache=EnvelopeCache(tmp / f"mc-{n_workers}"), scheduler=client, **kwargs)
            seconds[n_workers] = time.perf_counter() - t0
        identical = result.rows() == reference.rows() and (result.counts == reference.counts).all()
        print(f"  LocalCluster, {n_workers} worker process(es) x 1 thread: {seconds[n_workers]:.1f} s "
              f"(identical to in process: {identical})")
    print(f"  speed-up of 2 workers over 1: {seconds[1] / seconds[2]:.2f}x")
    row = reference.rows()[-1]
    print(f"  e.g. {row[0]} at {row[1]:g} m: covered km² p10 {row[4]:,.0f}, p50 {row[5]:,.0f}, p90 {row[6]:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--skip-mc", action="store_true", help="only the withdrawal sweep")
    parser.add_argument("--skip-withdrawals", action="store_true", help="only the Monte Carlo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adcov-bench-sweep-") as tmp:
        tmp = Path(tmp)
        if not args.skip_withdrawals:
            bench_withdrawals(tmp)
        if not args.skip_mc:
            bench_monte_carlo(tmp, args.samples)


if __name__ == "__main__":
    main()

"""Scenario runs and interactive queries from cached envelopes.

1. `adcov run` of the bundled Kuril scenario as whole processes: cold (empty cache) and
   warm (cached envelopes), with peak memory.
2. A synthetic 2000 x 2000 grid (90 m, UTM) with 10 units: time to answer a new altitude
   and a withdrawn unit from the envelopes in memory (no line of sight recomputed);
   target <= 50 ms each.

Not a test (machines are noisy); run by hand:

    .venv/bin/python benchmarks/bench_run.py
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyproj
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from simulator.cache import EnvelopeCache  # noqa: E402
from simulator.coverage import build_coverage  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402
from simulator.terrain import write_geotiff  # noqa: E402
from synthetic import rough_elevation_m, utm_terrain  # noqa: E402

_MEASURE = """
import resource, subprocess, sys, time, json, os
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(json.dumps({"rc": rc, "wall_s": time.perf_counter() - t0, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measure(argv, env):
    out = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


def median_ms(fn, repeat=20):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    import os

    adcov = shutil.which("adcov", path=str(Path(sys.executable).parent)) or "adcov"
    with tempfile.TemporaryDirectory(prefix="adcov-bench-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, ADCOV_CACHE_DIR=str(tmp / "cache"))
        scenario = str(ROOT / "scenarios" / "kurils-2020.yaml")
        cold = measure([adcov, "run", scenario, "--json"], env)
        warm = [measure([adcov, "run", scenario, "--json"], env) for _ in range(3)]
        print(f"adcov run kurils-2020: cold {cold['wall_s']:.2f} s (peak {cold['peak_rss_mb']:.0f} MB), "
              f"warm {statistics.median(w['wall_s'] for w in warm):.2f} s (peak {max(w['peak_rss_mb'] for w in warm):.0f} MB)")

        n, cell_m = 2000, 90.0
        elevation = rough_elevation_m((n, n), seed=5, relief_m=900.0)
        terrain = utm_terrain(elevation, cell_m)
        dem = tmp / "dem2000.tif"
        write_geotiff(dem, terrain.elevation_m, terrain.transform, terrain.crs)
        to_lonlat = pyproj.Transformer.from_crs(terrain.crs.to_wkt(), "EPSG:4326", always_xy=True)
        rng = np.random.default_rng(1)
        units = []
        for i in range(10):
            row, col = rng.integers(200, n - 200, size=2)
            x, y = terrain.transform @ (col + 0.5, row + 0.5)
            lon, lat = to_lonlat.transform(x, y)
            units.append({"id": f"u{i}", "system": "s400" if i % 2 else "tor_m2", "lat_deg": float(lat), "lon_deg": float(lon),
                          "range_km": float(rng.uniform(40, 150))})
        # clip: the synthetic DEM is smaller than some disks (the catalog's radars reach farther than range_km)
        doc = {"schema_version": 1, "name": "bench", "terrain": dem.name, "outside_terrain": "clip",
               "assumptions": {"antenna_height_m": 20}, "units": units}
        (tmp / "bench.yaml").write_text(yaml.safe_dump(doc))
        loaded = load_scenario(tmp / "bench.yaml")
        cache = EnvelopeCache(tmp / "cache")
        t0 = time.perf_counter()
        coverage = build_coverage(loaded, cache=cache)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        coverage = build_coverage(loaded, cache=EnvelopeCache(tmp / "cache"))
        warm_s = time.perf_counter() - t0
        print(f"synthetic {n}x{n} @ {cell_m:g} m, 10 units: envelopes cold {cold_s:.2f} s, from the disk cache {warm_s:.2f} s")
        altitudes = iter(np.tile(np.geomspace(10, 30000, 50), 10))
        new_altitude = median_ms(lambda: coverage.covered_km2("engagement", next(altitudes), "msl"))
        agl = median_ms(lambda: coverage.covered_km2("engagement", next(altitudes), "agl"))
        ids = coverage.unit_ids
        turn = iter(range(1000))

        def withdraw_one():
            gone = ids[next(turn) % len(ids)]
            return coverage.covered_km2("engagement", 300.0, "msl", [u for u in ids if u != gone])

        withdraw = median_ms(withdraw_one)
        depth = median_ms(lambda: coverage.depth("engagement", 1000.0, "msl"))
        print(f"queries from cached envelopes (median of 20): new altitude {new_altitude:.1f} ms (AGL {agl:.1f} ms), "
              f"withdraw a unit {withdraw:.1f} ms, depth raster {depth:.1f} ms; target <= 50 ms")


if __name__ == "__main__":
    main()

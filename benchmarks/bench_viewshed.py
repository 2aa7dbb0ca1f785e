"""adcov viewshed --floor-out vs gdal_viewshed -om DEM, as whole processes in one run.

Generates a seeded synthetic DEM (90 m, UTM 55N) of each size, then times, as separate
processes, adcov's exact floor raster (every altitude at once) and GDAL's approximate one
for the same observer (grid centre), 30 m antenna, a range covering the grid, k = 4/3
(GDAL -cc 0.75). Prints wall times, peak resident memory and the ratio adcov / GDAL.
The smallest size (64 x 64 by default) measures the fixed start-up cost of each tool
(Python, numpy/numba/rasterio/pyproj imports, numba's first use and cached kernels for
adcov); larger sizes also print adcov's time beyond that floor.
Then runs ``bench_run.py`` (cold and warm ``adcov run`` of the Kuril scenario, queries from
cached envelopes) unless ``--viewshed-only``. Not a test: timings are noisy; run by hand:

    .venv/bin/python benchmarks/bench_viewshed.py [--sizes 64,4000,8000] [--repeat 3] [--viewshed-only]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyproj
import rasterio
from affine import Affine
from scipy import ndimage

CELL_M = 90.0
ORIGIN_E, ORIGIN_N = 500_000.0, 5_000_000.0
ANTENNA_M = 30.0
K_FACTOR = 4.0 / 3.0

# Measures one child process: wall time and its peak RSS (ru_maxrss of the waited child).
_MEASURE = """
import resource, subprocess, sys, time, json
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t0
print(json.dumps({"rc": rc, "wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def make_dem(path: Path, n: int, seed: int) -> None:
    """Seeded rough island relief (multi-scale smoothed noise), sea clipped to 0 m."""
    rng = np.random.default_rng(seed)
    small = rng.standard_normal((n // 8 + 2, n // 8 + 2))
    relief = ndimage.zoom(ndimage.gaussian_filter(small, 3), 8, order=1)[:n, :n]
    relief += 0.15 * ndimage.gaussian_filter(rng.standard_normal((n, n)), 2)
    relief = np.clip((relief - np.quantile(relief, 0.3)) * 900.0, 0, None).astype(np.float32)
    transform = Affine(CELL_M, 0, ORIGIN_E - n * CELL_M / 2, 0, -CELL_M, ORIGIN_N + n * CELL_M / 2)
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:32655", transform=transform, tiled=True, blockxsize=256, blockysize=256) as ds:
        ds.write(relief, 1)


def measure(argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"command failed: {' '.join(argv)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64,4000,8000", help="grid sides; the first (tiny) one measures start-up")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--viewshed-only", action="store_true",
                        help="skip the scenario run and query timings of bench_run.py printed afterwards")
    args = parser.parse_args()
    adcov = shutil.which("adcov", path=str(Path(sys.executable).parent)) or "adcov"
    gdal = shutil.which("gdal_viewshed")
    if gdal is None:
        print("gdal_viewshed not found (Debian: apt-get install gdal-bin): printing adcov timings only")
    startup_s = None
    with tempfile.TemporaryDirectory(prefix="adcov-bench-") as tmp:
        tmp = Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            dem = tmp / f"dem_{n}.tif"
            make_dem(dem, n, seed=20261125)
            x_m, y_m = ORIGIN_E + CELL_M / 2, ORIGIN_N - CELL_M / 2  # a cell centre near the middle
            lon, lat = pyproj.Transformer.from_crs(32655, 4326, always_xy=True).transform(x_m, y_m)
            range_m = math.hypot(n / 2, n / 2) * CELL_M + 2 * CELL_M
            adcov_argv = [adcov, "viewshed", str(dem), "--lat", repr(lat), "--lon", repr(lon),
                          "--observer-height-m", str(ANTENNA_M), "--target-height-m", "0",
                          "--max-range-km", repr(range_m / 1000), "--k-factor", repr(K_FACTOR),
                          "--out", str(tmp / "vis.tif"), "--floor-out", str(tmp / "floor_adcov.tif")]
            gdal_argv = [gdal, "-b", "1", "-om", "DEM", "-ox", repr(x_m), "-oy", repr(y_m), "-oz", str(ANTENNA_M),
                         "-md", repr(range_m), "-cc", repr(1 / K_FACTOR), str(dem), str(tmp / "floor_gdal.tif")] if gdal else None
            first = measure(adcov_argv)  # includes numba compilation unless already cached
            runs = {"adcov": [], "gdal": []}
            for _ in range(args.repeat):
                runs["adcov"].append(measure(adcov_argv))
                if gdal_argv:
                    runs["gdal"].append(measure(gdal_argv))
            a = statistics.median(r["wall_s"] for r in runs["adcov"])
            a_mem = max(r["peak_rss_mb"] for r in runs["adcov"])
            line = f"{n}x{n} @ {CELL_M:g} m: adcov viewshed --floor-out {a:.2f} s (first run {first['wall_s']:.2f} s), peak {a_mem:.0f} MB"
            if n <= 256:
                startup_s = a  # a tiny grid: what every run pays before any work
            elif startup_s is not None:
                line += f" ({a - startup_s:.2f} s beyond adcov's start-up)"
            if gdal_argv:
                g = statistics.median(r["wall_s"] for r in runs["gdal"])
                g_mem = max(r["peak_rss_mb"] for r in runs["gdal"])
                line += f" | gdal_viewshed -om DEM {g:.2f} s, peak {g_mem:.0f} MB | ratio adcov/gdal {a / g:.2f}"
            print(line, flush=True)
    if not args.viewshed_only:
        # the rest of the engine's performance acceptance: cold/warm `adcov run` of the Kuril
        # scenario with peak memory, and queries from cached envelopes
        subprocess.run([sys.executable, str(Path(__file__).with_name("bench_run.py"))], check=True)


if __name__ == "__main__":
    main()

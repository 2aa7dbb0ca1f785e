"""adcov on analyst-sized terrain: SRTM-style 1″ and 3″ tiles under the whole Kuril disks.

1. Generates once (seeded, outside the repo: ``$ADCOV_BENCH_DIR`` or
   ``~/.cache/adcov-bench/fine-terrain/``) stand-in ``.hgt`` tiles over 140–153°E, 40–49°N
   (117 tiles): 1″ (3601², ~3 GB) and 3″ (1201², ~0.34 GB, the 1″ posts subsampled). Values:
   the real DTED0 relief (``scenarios/terrain/dted0-kurils/`` if present, else
   ``/work/shared/terrain/dted0/``; a missing tile is sea) upsampled bilinearly, plus seeded
   seamless fractal detail on land (30 m + 12 % of the elevation at most); sea stays exactly
   0 m. ``--memory-check`` adds a "twice as large" 1″ folder: the same 117 tiles (hard links)
   plus 117 at 140–153°E, 31–40°N (DTED0 where it exists, else a seeded island in open sea).
   Each folder's ``manifest.json`` holds the generator version and seed: a change regenerates,
   an interrupted generation resumes. Scenarios go to ``scenarios/`` beside the tiles: the
   bundled ``kurils-2020.yaml`` with ``terrain:`` set to a tile folder and no ``area:`` (full
   nominal disks), Kunashir's S-300V4 alone, and that unit at 100 km (weapons and radar).
2. Cold ``adcov run SCENARIO --json`` (fresh empty ``ADCOV_CACHE_DIR``), whole process, in
   process and with ``--scheduler local``, on the 1″ tiles, the 3″ tiles and the bundled DTED0
   scenario. Memory: RSS summed over the process tree every 50 ms (Dask workers included;
   shared pages count once per process) and the largest single process (RUSAGE_CHILDREN).
   Targets: 1″ <= 60 s and 4 GB; 3″ <= 20 s and 2 GB; DTED0 <= 3 s.
3. ``adcov viewshed --floor-out`` of one S-300V4 (Kunashir, 30 m antenna, 400 km, k = 4/3) on
   the 3″ tiles vs ``gdal_viewshed -om DEM`` on them warped to UTM 55N at 90 m (the warp is
   timed apart, not in the ratio). Target adcov/gdal <= 1.0.
4. ``--memory-check``: peak memory of the Kuril run on the 1″ folder vs the twice-as-large
   one (target: within 10 %, i.e. memory follows the disks, not the folder).
5. ``--fidelity``: covered km² of the 100 km unit on the 1″ tiles, default resolution vs
   ``--resolution-m native`` (target: within 2 %).

Not a test (machines are noisy); run by hand:

    .venv/bin/python benchmarks/bench_fine_terrain.py [--only 1,3,dted0,viewshed] [--skip-dask]
        [--repeat N] [--memory-check] [--fidelity] [--generate-only] [--bbox 145,43,148,46]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 1
SEED = 20261125
MAIN_BBOX = (140, 40, 153, 49)  # west, south, east, north [whole degrees]
OCTAVES = ((600, 1.0), (200, 0.6), (60, 0.35), (20, 0.2), (6, 0.1))  # (wavelength [″], weight)
DETAIL_BASE_M, DETAIL_FRACTION = 30.0, 0.12
SITE = {"lat": 44.033, "lon": 145.85, "antenna_m": 30.0, "range_km": 400.0, "k": 1.3333333333}
TARGETS = {"1": (60.0, 4096.0), "3": (20.0, 2048.0), "dted0": (3.0, None)}  # s, MB

# A fresh interpreter per measurement, so that RUSAGE_CHILDREN holds this command only.
_MEASURE = r"""
import json, resource, subprocess, sys, time
import psutil
out, err, timeout, argv = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
peak, rc = 0, None
with open(out, "wb") as fo, open(err, "wb") as fe:
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=fo, stderr=fe)
    root = psutil.Process(p.pid)
    def tree():
        try:
            return [root] + root.children(recursive=True)
        except psutil.Error:
            return []
    def each(procs, call):
        for q in procs:
            try:
                yield call(q)
            except psutil.Error:  # ended meanwhile
                yield 0
    while rc is None:
        peak = max(peak, sum(each(tree(), lambda q: q.memory_info().rss)))
        try:
            rc = p.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            if time.perf_counter() - t0 > timeout:
                list(each(tree()[::-1], lambda q: q.kill()))
                p.wait()
                rc = "timeout"
    wall = time.perf_counter() - t0
print(json.dumps({"rc": rc, "wall_s": wall, "tree_peak_mb": peak / 2**20,
                  "single_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


# ---- terrain generation -------------------------------------------------------------------


def dted0_dir() -> Path:
    bundled = ROOT / "scenarios" / "terrain" / "dted0-kurils"
    return bundled if bundled.is_dir() else Path("/work/shared/terrain/dted0")


def _separable(grid, iy, wy, ix, wx):
    rows = grid[iy] * (1 - wy)[:, None] + grid[iy + 1] * wy[:, None]
    return rows[:, ix] * (1 - wx) + rows[:, ix + 1] * wx


def _upsample(a, n: int):
    """Bilinear, point-registered, to n × n; integer arithmetic so posts on posts are exact."""
    def axis(m):
        num = np.arange(n, dtype=np.int64) * (m - 1)
        i0 = np.minimum(num // (n - 1), m - 2)
        return i0, ((num - i0 * (n - 1)) / (n - 1)).astype(np.float32)
    return _separable(a.astype(np.float32), *axis(a.shape[0]), *axis(a.shape[1]))


def _value_noise(gy, gx, wavelength: int, seed: int, octave: int):
    """Value noise (quintic fade) on a global lattice, hashed with splitmix64: tiles join seamlessly."""
    def axis(g):
        i0 = g // wavelength
        f = (g - i0 * wavelength) / wavelength
        return i0, (f * f * f * (f * (f * 6 - 15) + 10)).astype(np.float32)
    (iy, wy), (ix, wx) = axis(gy), axis(gx)
    ys, xs = np.arange(iy.min(), iy.max() + 2), np.arange(ix.min(), ix.max() + 2)
    with np.errstate(over="ignore"):
        v = (ys.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)) ^ \
            (xs.astype(np.uint64)[None, :] * np.uint64(0xC2B2AE3D27D4EB4F)) ^ np.uint64(seed * 1000003 + octave)
        for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            v = (v ^ (v >> np.uint64(shift))) * np.uint64(mult)
        v ^= v >> np.uint64(31)
    lattice = (v >> np.uint64(40)).astype(np.float32) / np.float32(2**23) - 1  # uniform [-1, 1)
    return _separable(lattice, iy - ys[0], wy, ix - xs[0], wx)


def coarse_relief(lat: int, lon: int, dted: Path, seed: int, island: bool):
    """The DTED0 tile (rows from north), else None (sea) or, with `island`, a seeded island."""
    path = dted / f"e{lon:03d}" / f"n{lat:02d}.dt0"
    if path.exists():
        import rasterio
        with rasterio.open(path) as ds:
            return ds.read(1).astype(np.float32)
    if not island:
        return None
    rng = np.random.default_rng([seed, lat, lon])
    cy, cx = rng.uniform(30, 90, 2)  # away from the edges: neighbours still meet at 0 m
    radius, height = rng.uniform(5, 15), rng.uniform(150, 1200)
    y, x = np.mgrid[0:121, 0:121]
    return np.rint(height * np.clip(1 - ((y - cy) ** 2 + (x - cx) ** 2) / radius**2, 0, None)).astype(np.float32)


def tile(lat: int, lon: int, dted: Path, arcsec: int = 1, seed: int = SEED, detail: float = 1.0, island: bool = False):
    """(3600/arcsec + 1)² int16, rows from north: post (r, c) at lat + 1 - r·arcsec/3600, lon + c·arcsec/3600."""
    n = 3600 // arcsec + 1
    coarse = coarse_relief(lat, lon, dted, seed, island)
    if coarse is None or not coarse.any():
        return np.zeros((n, n), np.int16)
    relief = _upsample(coarse, n)
    if detail:
        land = _upsample((coarse != 0).astype(np.float32), n)  # exactly 0 at and between sea posts
        r = np.arange(n, dtype=np.int64) * arcsec  # global 1″ post numbers: 3″ tiles = 1″ subsampled
        gy, gx = (lat + 1) * 3600 - r, lon * 3600 + r
        noise = sum(w * _value_noise(gy, gx, lam, seed, k) for k, (lam, w) in enumerate(OCTAVES))
        land *= (DETAIL_BASE_M + DETAIL_FRACTION * np.maximum(relief, 0)) * np.float32(detail / sum(w for _, w in OCTAVES))
        relief += land * noise
    return np.clip(np.rint(relief), -32767, 32767).astype(np.int16)  # -32768 is SRTM's void


def write_hgt(path: Path, elevation) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")  # a suffix adcov's folder reader skips
    elevation.astype(">i2").tofile(tmp)
    os.replace(tmp, path)


def _make_tile(job) -> None:
    lat, lon, dted, island, out1, out3 = job
    elevation = tile(lat, lon, dted, 1 if out1 else 3, island=island)
    if out1:
        write_hgt(out1, elevation)
    if out3:
        write_hgt(out3, elevation[::3, ::3] if out1 else elevation)


def tiles_in(bbox) -> list[tuple[int, int]]:
    west, south, east, north = bbox
    return [(lat, lon) for lat in range(south, north) for lon in range(west, east)]


def open_set(folder: Path, key: dict) -> None:
    """Empty `folder` unless its manifest matches `key`; drop half-written temp files."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    same = manifest.exists() and json.loads(manifest.read_text()) == key
    for p in folder.iterdir():
        if ".tmp" in p.name or (p.suffix == ".hgt" and not same):
            p.unlink()
    manifest.with_suffix(".tmp").write_text(json.dumps(key, indent=1))
    os.replace(manifest.with_suffix(".tmp"), manifest)


def missing(folder: Path, lat: int, lon: int, side: int) -> Path | None:
    path = folder / f"N{lat:02d}E{lon:03d}.hgt"
    return None if path.exists() and path.stat().st_size == side * side * 2 else path


def generate(jobs: list, workers: int, what: str) -> None:
    if jobs:
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for i, _ in enumerate(pool.map(_make_tile, jobs), 1):
                if i % 20 == 0:
                    print(f"  {what}: {i}/{len(jobs)} tiles, {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"generated {len(jobs)} tiles ({what}) in {time.perf_counter() - t0:.1f} s", flush=True)


def prepare_sets(bench: Path, bbox, need: set[str], workers: int) -> dict[str, Path]:
    dted = dted0_dir()
    suffix = "" if bbox == MAIN_BBOX else "-" + "-".join(map(str, bbox))
    folders = {s: bench / f"srtm{s}{suffix}" for s in ("1", "3", "1-double")}
    key = json.loads(json.dumps({"generator_version": GENERATOR_VERSION, "seed": SEED, "dted0": str(dted), "bbox": bbox,
                                 "octaves": OCTAVES, "detail": [DETAIL_BASE_M, DETAIL_FRACTION]}))
    sets = [s for s in ("1", "3") if s in need]
    for s in sets:
        open_set(folders[s], dict(key, arcsec=int(s)))
    if need:
        print(f"terrain: DTED0 from {dted}; tiles under {bench}", flush=True)
    jobs = []
    for lat, lon in tiles_in(bbox):
        out1 = missing(folders["1"], lat, lon, 3601) if "1" in sets else None
        out3 = missing(folders["3"], lat, lon, 1201) if "3" in sets else None
        if out1 or out3:
            jobs.append((lat, lon, dted, False, out1, out3))
    generate(jobs, workers, "+".join(f"{s}″" for s in sets))
    gb = {s: sum(p.stat().st_size for p in folders[s].glob("*.hgt")) / 1e9 for s in sets}
    for s in sets:
        print(f"  {s}″ set: {folders[s]} ({len(tiles_in(bbox))} tiles, {gb[s]:.2f} GB)")
    if "1-double" in need:
        west, south, east, north = bbox
        extra = (west, 2 * south - north, east, south)  # as many tiles again, just south
        double = folders["1-double"]
        open_set(double, dict(key, arcsec=1, extra_bbox=list(extra)))
        for lat, lon in tiles_in(bbox):  # the same tiles: hard links, no extra disk
            if dst := missing(double, lat, lon, 3601):
                try:
                    os.link(folders["1"] / dst.name, dst)
                except OSError:  # another file system: copy, atomically
                    shutil.copyfile(folders["1"] / dst.name, dst.with_name(dst.name + ".tmp"))
                    os.replace(dst.with_name(dst.name + ".tmp"), dst)
        generate([(lat, lon, dted, True, out, None) for lat, lon in tiles_in(extra)
                  if (out := missing(double, lat, lon, 3601))], workers, "1″, twice-as-large set")
        print(f"  twice-as-large 1″ set: {double} ({2 * len(tiles_in(bbox))} tiles, half of them hard links)")
    return folders


def write_scenarios(bench: Path, folders: dict[str, Path], small: bool) -> dict[str, Path]:
    """The whole bundled Kuril document on each tile folder, without `area:`; one-unit variants."""
    doc = yaml.safe_load((ROOT / "scenarios" / "kurils-2020.yaml").read_text())
    doc.pop("area", None)
    # the issue's 140-153 E x 40-49 N set held the 400 km disks; the S-300V4's 500 km radar
    # (catalog addendum) reaches past it, as it does past a --bbox test set: sea level beyond
    doc["outside_terrain"] = "sea"  # (``small`` sets asked for this already; now every set does)
    (bench / "scenarios").mkdir(parents=True, exist_ok=True)
    kunashir = [u for u in doc["units"] if u["id"] == "kunashir-s300v4"]
    variants = {f"kurils-{s}": (s, doc["units"]) for s in folders}
    variants.update({"kunashir-3": ("3", kunashir), "kunashir-100km-1": ("1", [dict(kunashir[0], range_km=100, figures={"detection_range_km": 100})])})
    paths = {}
    for name, (s, units) in variants.items():
        if s in folders:
            paths[name] = bench / "scenarios" / f"{name}.yaml"
            paths[name].write_text(yaml.safe_dump(dict(doc, terrain=str(folders[s].resolve()), units=units),
                                                  sort_keys=False, allow_unicode=True))
    return paths


# ---- measurement --------------------------------------------------------------------------


def measure(argv: list[str], work: Path, timeout: float) -> dict:
    """One whole-process run with an empty envelope cache; its stdout and stderr in the result."""
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    out, err = work / "stdout.txt", work / "stderr.txt"
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(out), str(err), str(timeout), *argv],
                          capture_output=True, text=True, env=dict(os.environ, ADCOV_CACHE_DIR=str(cache)))
    shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        return {"rc": "harness", "stderr": proc.stderr, "stdout": ""}
    return dict(json.loads(proc.stdout), stdout=out.read_text(errors="replace"), stderr=err.read_text(errors="replace"))


def measure_median(argv: list[str], work: Path, args) -> dict:
    """Median wall time and largest peaks of --repeat runs; the first failure as is."""
    runs = []
    for _ in range(args.repeat):
        runs.append(measure(argv, work, args.timeout))
        if runs[-1]["rc"] != 0:
            return runs[-1]
    return dict(runs[-1], wall_s=statistics.median(r["wall_s"] for r in runs),
                tree_peak_mb=max(r["tree_peak_mb"] for r in runs), single_peak_mb=max(r["single_peak_mb"] for r in runs))


def unsupported(result: dict, flag: str) -> bool:
    return result["rc"] == 2 and flag in result["stderr"]  # argparse: unknown option or invalid value


def failed(label: str, result: dict) -> bool:
    if result["rc"] != 0:
        tail = "\n    ".join(result["stderr"].strip().splitlines()[-6:])
        print(f"{label}: FAILED (exit {result['rc']})\n    {tail}", flush=True)
    return result["rc"] != 0


def fmt(r: dict) -> str:
    return f"{r['wall_s']:.2f} s, tree peak {r['tree_peak_mb']:.0f} MB (largest process {r['single_peak_mb']:.0f} MB)"


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def scenario_runs(scenarios: dict, only: set, adcov: str, work: Path, args) -> list:
    summary = []
    for key, label, scenario in (("dted0", "bundled kurils-2020 (DTED0, its area)", ROOT / "scenarios" / "kurils-2020.yaml"),
                                 ("3", "kurils 3″ tiles, full disks", scenarios.get("kurils-3")),
                                 ("1", "kurils 1″ tiles, full disks", scenarios.get("kurils-1"))):
        for mode, extra in (("in process", []), ("--scheduler local", ["--scheduler", "local"])):
            if key not in only or (extra and args.skip_dask):
                continue
            name = f"adcov run {label}, cold, {mode}"
            r = measure_median([adcov, "run", str(scenario), "--json", *extra], work, args)
            if extra and unsupported(r, "--scheduler"):
                text = "n/a (--scheduler not supported)"
                print(f"{name}: {text}", flush=True)
            elif failed(name, r):
                text = f"FAILED (exit {r['rc']})"
            else:
                seconds, mb = TARGETS[key]
                ok = r["wall_s"] <= seconds and (mb is None or r["tree_peak_mb"] <= mb)
                text = f"{fmt(r)} | target <= {seconds:g} s" + (f", <= {mb / 1024:g} GB" if mb else "") + f": {met(ok)}"
                print(f"{name}: {text}", flush=True)
            summary.append((name, text))
    return summary


def viewshed(folder3: Path, adcov: str, work: Path, args) -> list:
    """adcov viewshed on the 3″ tiles vs gdal_viewshed -om DEM on a 90 m UTM warp of them.

    adcov runs three ways, each a whole process: its default analysis grid cut to the 400 km
    disk (rays at the DEM's 90 m, floors on ~600 m cells), the native 3″ grid cut to the disk,
    and the whole tile set's grid (the classic "DEM's own grid" output)."""
    site, out = SITE, work / "viewshed"
    out.mkdir(exist_ok=True)

    def adcov_argv(*extra):
        return [adcov, "viewshed", str(folder3), "--lat", str(site["lat"]), "--lon", str(site["lon"]),
                "--observer-height-m", str(site["antenna_m"]), "--target-height-m", "100",
                "--max-range-km", str(site["range_km"]), "--k-factor", str(site["k"]),
                "--out", str(out / "vis.tif"), "--floor-out", str(out / "floor.tif"), *extra]

    runs = {}
    for name, extra in (("default grid", ("--resolution-m", "default")), ("native 3″ grid", ("--resolution-m", "native")),
                        ("whole tile set", ())):
        a = measure_median(adcov_argv(*extra), work, args)
        if failed(f"adcov viewshed ({name})", a):
            return [("viewshed", f"adcov ({name}) FAILED")]
        print(f"adcov viewshed --floor-out, 3″ tiles, 400 km, {name}: {fmt(a)}", flush=True)
        runs[name] = a
    gdal = shutil.which("gdal_viewshed")
    if gdal is None or shutil.which("gdalwarp") is None:
        print("gdal_viewshed not found: apt-get install gdal-bin (skipping the GDAL side)")
        return [("viewshed", "gdal_viewshed not found")]
    import pyproj
    x, y = pyproj.Transformer.from_crs(4326, 32655, always_xy=True).transform(site["lon"], site["lat"])
    r_m = site["range_km"] * 1000 + 1000
    t0 = time.perf_counter()
    for argv in (["gdalbuildvrt", "-q", str(out / "tiles.vrt"), *map(str, sorted(folder3.glob("*.hgt")))],
                 ["gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:32655", "-tr", "90", "90", "-r", "bilinear", "-ot",
                  "Float32", "-te", *map(str, (x - r_m, y - r_m, x + r_m, y + r_m)), "-co", "TILED=YES", "-wm", "512",
                  str(out / "tiles.vrt"), str(out / "utm90.tif")]):
        step = subprocess.run(argv, capture_output=True, text=True)
        if step.returncode:
            print(f"{argv[0]} failed: {step.stderr.strip()[-500:]}")
            return [("viewshed", f"{argv[0]} failed")]
    print(f"  gdalwarp to UTM 55N at 90 m (not in the ratio): {time.perf_counter() - t0:.1f} s", flush=True)
    g = measure_median([gdal, "-q", "-b", "1", "-om", "DEM", "-ox", repr(x), "-oy", repr(y), "-oz", str(site["antenna_m"]),
                        "-md", str(site["range_km"] * 1000), "-cc", "0.75", str(out / "utm90.tif"),
                        str(out / "gdal_floor.tif")], work, args)
    if failed("gdal_viewshed", g):
        return [("viewshed", "gdal_viewshed FAILED")]
    print(f"gdal_viewshed -om DEM, UTM 90 m: {fmt(g)}")
    rows = []
    for name, a in runs.items():
        ratio = a["wall_s"] / g["wall_s"]
        line = (f"adcov {a['wall_s']:.2f} s ({a['tree_peak_mb']:.0f} MB) / gdal {g['wall_s']:.2f} s "
                f"({g['tree_peak_mb']:.0f} MB) = {ratio:.2f} (target <= 1.0: {met(ratio <= 1)})")
        print(f"viewshed ratio, {name}: {line}", flush=True)
        rows.append((f"viewshed 400 km, 3″, {name} vs GDAL", line))
    return rows


def memory_check(scenarios: dict, adcov: str, work: Path, args) -> list:
    peaks = {}
    for key, label in (("1", "1″ folder"), ("1-double", "twice-as-large 1″ folder")):
        r = measure_median([adcov, "run", str(scenarios[f"kurils-{key}"]), "--json"], work, args)
        if not failed(f"adcov run kurils, {label}", r):
            print(f"adcov run kurils, {label}, cold: {fmt(r)}", flush=True)
            peaks[key] = r["tree_peak_mb"]
    if len(peaks) < 2:
        return [("memory check", "FAILED")]
    ratio = peaks["1-double"] / peaks["1"]
    line = (f"peak {peaks['1-double']:.0f} MB twice as large / {peaks['1']:.0f} MB = {ratio:.3f} "
            f"(target within 10 %: {met(abs(ratio - 1) <= 0.10)})")
    print(f"memory check: {line}")
    return [("memory check", line)]


def fidelity(scenario: Path, adcov: str, work: Path, args) -> list:
    """Covered km² per layer and altitude: default resolution vs --resolution-m native."""
    base = [adcov, "run", str(scenario), "--altitudes-m", "30,100,1000", "--json"]
    native = measure(base + ["--resolution-m", "native"], work, args.timeout)  # first: it may not exist yet
    if unsupported(native, "--resolution-m"):
        print("fidelity: n/a (--resolution-m native not supported)")
        return [("fidelity", "n/a (--resolution-m native not supported)")]
    default = measure(base, work, args.timeout)
    if failed("fidelity, native resolution", native) or failed("fidelity, default resolution", default):
        return [("fidelity", "FAILED")]
    print(f"fidelity, 100 km unit on 1″: default {default['wall_s']:.1f} s, native {native['wall_s']:.1f} s")
    d, n = json.loads(default["stdout"])["layers"], json.loads(native["stdout"])["layers"]
    worst = 0.0
    for layer in n:
        for a, b in zip(d[layer], n[layer], strict=True):
            rel = (a["covered_km2"] - b["covered_km2"]) / b["covered_km2"] if b["covered_km2"] else 0.0
            worst = max(worst, abs(rel))
            print(f"  {layer:<10} {b['altitude_m']:>6.0f} m: default {a['covered_km2']:10.1f} km², "
                  f"native {b['covered_km2']:10.1f} km², {100 * rel:+.2f} %")
    line = f"worst {100 * worst:.2f} % (target within 2 %: {met(worst <= 0.02)})"
    print(f"fidelity: {line}")
    return [("fidelity, default vs native resolution", line), brute_force_check(scenario, adcov, work, args)]


class _HgtSampler:
    """Bilinear elevation from 1″ .hgt tiles (independent of adcov's reader): post (r, c) of
    NyyExxx.hgt lies at lat = yy + 1 - r/3600, lon = xxx + c/3600; a missing tile is sea."""

    def __init__(self, folder: Path):
        self.folder, self.tiles = folder, {}

    def _tile(self, lat0: int, lon0: int):
        key = (lat0, lon0)
        if key not in self.tiles:
            path = self.folder / f"N{lat0:02d}E{lon0:03d}.hgt"
            self.tiles[key] = np.memmap(path, ">i2", "r", shape=(3601, 3601)) if path.exists() else None
        return self.tiles[key]

    def __call__(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        out = np.zeros(lat.shape)
        lat0, lon0 = np.floor(lat).astype(int), np.floor(lon).astype(int)
        for a, b in set(zip(lat0.tolist(), lon0.tolist(), strict=True)):
            sel = (lat0 == a) & (lon0 == b)
            tile = self._tile(a, b)
            if tile is None:
                continue
            r = (a + 1 - lat[sel]) * 3600.0
            c = (lon[sel] - b) * 3600.0
            r0, c0 = np.clip(np.floor(r).astype(int), 0, 3599), np.clip(np.floor(c).astype(int), 0, 3599)
            fr, fc = r - r0, c - c0
            z = tile
            top = z[r0, c0] * (1 - fc) + z[r0, c0 + 1] * fc
            bottom = z[r0 + 1, c0] * (1 - fc) + z[r0 + 1, c0 + 1] * fc
            out[sel] = top * (1 - fr) + bottom * fr
        return out


def brute_force_check(scenario: Path, adcov: str, work: Path, args, n_cells: int = 400) -> tuple:
    """adcov's default-resolution floor vs a brute-force line of sight over the bilinear 1″
    terrain (geodesic sight lines sampled every ~8 m) at randomly drawn analysis cells: the
    share of (cell, altitude) pairs on which both say the same (target >= 99 %)."""
    import pyproj
    import rasterio
    import yaml

    report = work / "fidelity-report"
    run = measure([adcov, "run", str(scenario), "--altitudes-m", "1000", "--out", str(report)], work, args.timeout)
    if failed("fidelity report", run):
        return ("brute-force line of sight", "FAILED")
    doc = yaml.safe_load(scenario.read_text())
    unit = doc["units"][0]
    floor_path = next((report / "rasters").glob(f"floor_detection_unit-{unit['id']}*.tif"), None) or \
        next((report / "rasters").glob(f"floor_engagement_unit-{unit['id']}*.tif"))
    with rasterio.open(floor_path) as ds:
        floor, transform = ds.read(1), ds.transform
    sampler = _HgtSampler(Path(doc["terrain"]))
    geod = pyproj.Geod(ellps="WGS84")
    re_m = 4.0 / 3.0 * 6_371_008.8
    lat_s, lon_s = float(unit["lat_deg"]), float(unit["lon_deg"])
    h0 = float(sampler(np.array([lat_s]), np.array([lon_s]))[0]) + float(doc["assumptions"]["antenna_height_m"])
    rng = np.random.default_rng(0)
    cells = np.argwhere(np.isfinite(floor))
    agree = total = 0
    for r, c in cells[rng.choice(len(cells), min(n_cells, len(cells)), replace=False)]:
        lon_t, lat_t = transform * (c + 0.5, r + 0.5)
        _, _, dist = geod.inv(lon_s, lat_s, lon_t, lat_t)
        n = max(int(dist / 8.0), 2)
        pts = np.array(geod.npts(lon_s, lat_s, lon_t, lat_t, n - 1)) if n > 2 else np.empty((0, 2))
        s = dist * np.arange(1, n) / n
        keep = (s > 15.0) & (s < dist - 15.0)  # half a 1″ cell at either end is the ends' own
        ground_t = float(sampler(np.array([lat_t]), np.array([lon_t]))[0])
        if keep.any():
            z = sampler(pts[keep, 1], pts[keep, 0])
            sk = s[keep]
            ref = max(ground_t, h0 + dist * np.max((z - sk * sk / (2 * re_m) - h0) / sk) + dist**2 / (2 * re_m))
        else:
            ref = ground_t
        for agl in (30.0, 100.0, 1000.0):
            target = ground_t + agl
            agree += (floor[r, c] <= target) == (ref <= target)
            total += 1
    share = agree / total
    line = f"{agree}/{total} = {100 * share:.2f} % agree (target >= 99 %: {met(share >= 0.99)})"
    print(f"brute-force line of sight at {min(n_cells, len(cells))} default-resolution cells, 30/100/1000 m AGL: {line}")
    return ("brute-force line of sight vs default floor", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="1,3,dted0,viewshed",
                        help="comma-separated: 1 (1″ run), 3 (3″ run), dted0 (bundled run), viewshed (default: all)")
    parser.add_argument("--skip-dask", action="store_true", help="skip the --scheduler local runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement: median wall time, largest peak")
    parser.add_argument("--memory-check", action="store_true",
                        help="also generate the twice-as-large 1″ set (~3 GB more disk) and compare peak memory")
    parser.add_argument("--fidelity", action="store_true",
                        help="covered km², default resolution vs --resolution-m native (100 km unit, 1″ tiles)")
    parser.add_argument("--generate-only", action="store_true", help="generate the tiles and scenarios, then stop")
    parser.add_argument("--bbox", default=",".join(map(str, MAIN_BBOX)),
                        help="W,S,E,N whole degrees of the tile sets; a small one makes a quick test set in its own folder")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="tile generation processes")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a measured command is killed")
    args = parser.parse_args()
    only = set(args.only.split(","))
    bench = Path(os.environ.get("ADCOV_BENCH_DIR") or Path.home() / ".cache" / "adcov-bench" / "fine-terrain")
    need = ({"1"} if "1" in only or args.fidelity or args.memory_check else set()) | \
           ({"3"} if only & {"3", "viewshed"} else set()) | ({"1-double"} if args.memory_check else set())
    bbox = tuple(int(v) for v in args.bbox.split(","))
    folders = prepare_sets(bench, bbox, need, args.jobs)
    scenarios = write_scenarios(bench, {s: folders[s] for s in need}, small=bbox != MAIN_BBOX)
    if scenarios:
        print("scenarios: " + ", ".join(str(p) for p in scenarios.values()), flush=True)
    if args.generate_only:
        return
    adcov = shutil.which("adcov", path=str(Path(sys.executable).parent)) or "adcov"
    with tempfile.TemporaryDirectory(prefix="adcov-bench-fine-") as tmp:
        work = Path(tmp)
        # numba recompiles its kernels once after a code change, and Python compiles adcov's own
        # modules when no bytecode was written (PYTHONDONTWRITEBYTECODE, an editable install):
        # an installed wheel has both ready, so keep them out of the cold timings
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "simulator"), str(ROOT / "gui")], check=False)
        warm = measure([adcov, "run", str(ROOT / "scenarios" / "kurils-2020.yaml"), "--json"], work, args.timeout)
        print(f"warm-up (numba kernels): {warm['wall_s']:.2f} s", flush=True)
        summary = scenario_runs(scenarios, only, adcov, work, args)
        summary += viewshed(folders["3"], adcov, work, args) if "viewshed" in only else []
        summary += memory_check(scenarios, adcov, work, args) if args.memory_check else []
        summary += fidelity(scenarios["kunashir-100km-1"], adcov, work, args) if args.fidelity else []
    print("\nsummary")
    width = max((len(name) for name, _ in summary), default=0)
    for name, text in summary:
        print(f"  {name:<{width}}  {text}")


if __name__ == "__main__":
    main()

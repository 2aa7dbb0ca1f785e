#!/usr/bin/env python
"""Build the independent reference viewsheds in ``tests/reference/``.

Regenerate by hand, never in CI::

    .venv/bin/python tests/reference/build_references.py

Needs the Debian packages ``gdal-bin`` (``gdal_viewshed``) and ``grass-core``
(``grass``, ``r.viewshed``) on PATH, plus numpy, rasterio and pyproj in the venv.

What it does (see README.md beside this file for the conventions):

1. Writes three DEMs (float32, deflate, EPSG:32655): two seeded synthetic ones
   and the real DTED0 Kuril terrain reprojected to 500 m cells.
2. For each DEM picks 2-3 observers at cell centres (rules in ``pick_*``), and
   for target heights 10, 100, 1000 m AGL runs ``r.viewshed`` (GRASS) and
   ``gdal_viewshed``; once per observer also ``gdal_viewshed -om DEM`` (floor).
   GRASS output is committed exactly as ``r.out.gdal`` wrote it. GDAL output
   is cropped by GDAL to the max-distance window; the only adapter pastes it,
   unchanged, back onto the DEM grid (offset taken from GDAL's geotransform;
   cells outside GDAL's window get GDAL's own out-of-range value, 0) and
   stores the Float64 floor as float32.
3. Writes ``cases.json`` (every input, output file and the exact command lines,
   run with the scratch directory holding the DEM as working directory) and
   ``gdal_vs_grass.json`` (agreement of the two tools inside the disk).

Everything is deterministic: seeded noise, rule-based observers, no dates or
timings in the JSON files. Re-running overwrites the same files.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject, transform_bounds

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DTED0_MERGED = REPO.parent / "shared" / "terrain" / "dted0_kurils_hokkaido_sakhalin_merged.tif"
if not DTED0_MERGED.exists():  # fall back to the absolute shared location
    DTED0_MERGED = Path("/work/shared/terrain/dted0_kurils_hokkaido_sakhalin_merged.tif")

CRS_UTM55 = "EPSG:32655"
SEED = 20261125

OBSERVER_HEIGHT_AGL_M = 30.0
TARGET_HEIGHTS_AGL_M = (10.0, 100.0, 1000.0)
K_FACTOR = 4.0 / 3.0
GDAL_CURVATURE_COEFF = 1.0 / K_FACTOR  # gdal_viewshed -cc = 1/k = 0.75
GRASS_REFRACTION_COEFF = 1.0 - 1.0 / K_FACTOR  # r.viewshed refraction_coeff = 1 - 1/k = 0.25
GRASS_MEMORY_MB = 2000
WGS84_A_M = 6378137.0  # semi-major axis: the earth radius both tools use for EPSG:32655

TIFF_PROFILE = dict(driver="GTiff", compress="deflate", tiled=False)


# --------------------------------------------------------------------------- DEMs
def spectral_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Zero-mean, unit-std fractal noise with power spectrum ~ |f|^-beta (FFT synthesis)."""
    ny, nx = shape
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = np.inf
    out = np.fft.irfft2(spectrum * k ** (-beta / 2.0), s=shape)
    return (out - out.mean()) / out.std()


def quantize(z: np.ndarray) -> np.ndarray:
    """Round to 1/8 m: exact in float32 and compresses well."""
    return (np.round(z * 8.0) / 8.0).astype(np.float32)


def make_rough_island(n: int = 700) -> np.ndarray:
    """Rough island relief: fractal + ridged noise, three explicit ridges, sea = 0, peak 1500 m."""
    rng = np.random.default_rng(SEED)
    continent = spectral_noise(rng, (n, n), 4.2)  # coastline shape
    fractal = spectral_noise(rng, (n, n), 3.0)  # rough multi-octave relief
    ridged = 1.0 - np.abs(spectral_noise(rng, (n, n), 3.6))  # ridge network
    y, x = np.mgrid[0:n, 0:n] / (n - 1) * 2.0 - 1.0
    r = np.hypot(x, y)
    land = np.clip(0.9 - 1.3 * r**2 + 0.22 * continent, 0.0, None)
    ridges = np.zeros((n, n))
    # (x0, y0, x1, y1, amplitude m, half-width in normalised units)
    for x0, y0, x1, y1, amp, w in [
        (-0.55, -0.20, 0.25, -0.45, 450.0, 0.030),
        (-0.10, 0.10, 0.50, 0.45, 550.0, 0.025),
        (-0.50, 0.35, -0.05, 0.60, 380.0, 0.035),
    ]:
        px, py, dx, dy = x - x0, y - y0, x1 - x0, y1 - y0
        t = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        d = np.hypot(px - t * dx, py - t * dy)
        ridges += amp * np.exp(-0.5 * (d / w) ** 2) * (0.7 + 0.3 * np.sin(t * 9.0))
    z = (
        800.0 * land**0.8 * (0.3 + 0.7 * ridged)
        + 260.0 * fractal * np.sqrt(land)
        + ridges * np.minimum(land / 0.15, 1.0)
        - 25.0
    )
    z = np.clip(z, 0.0, None)
    z *= 1500.0 / z.max()
    return quantize(z)


def make_smooth_ridges(n: int = 500) -> np.ndarray:
    """Smooth terrain of a few long, warped ridges and valleys (all land, ~10-980 m)."""
    rng = np.random.default_rng(SEED + 1)
    warp = spectral_noise(rng, (n, n), 4.5)
    smooth = spectral_noise(rng, (n, n), 4.0)
    y, x = np.mgrid[0:n, 0:n] * 90.0
    th = np.deg2rad(35.0)
    u = x * np.cos(th) + y * np.sin(th)
    v = x * np.cos(th + 1.4) + y * np.sin(th + 1.4)
    z = (
        480.0
        + 260.0 * np.sin(2 * np.pi * u / 14000.0 + 0.9 * warp)
        + 90.0 * smooth
        + 60.0 * np.sin(2 * np.pi * v / 9000.0)
    )
    return quantize(np.clip(z, 0.0, None))


def write_dem(path: Path, z: np.ndarray, transform, description: str) -> None:
    with rasterio.open(
        path, "w", width=z.shape[1], height=z.shape[0], count=1, dtype="float32",
        crs=CRS_UTM55, transform=transform, predictor=3, **TIFF_PROFILE,
    ) as dst:
        dst.write(z.astype(np.float32), 1)
        dst.update_tags(DESCRIPTION=description, UNITS="metres above MSL")


def make_kurils(cell_m: float = 500.0):
    """DTED0 window 145.3-148.3 E, 43.6-45.6 N, bilinear to EPSG:32655 at 500 m."""
    west, south, east, north = transform_bounds("EPSG:4326", CRS_UTM55, 145.3, 43.6, 148.3, 45.6, densify_pts=101)
    west = math.floor(west / cell_m) * cell_m
    south = math.floor(south / cell_m) * cell_m
    east = math.ceil(east / cell_m) * cell_m
    north = math.ceil(north / cell_m) * cell_m
    width, height = int(round((east - west) / cell_m)), int(round((north - south) / cell_m))
    transform = from_origin(west, north, cell_m, cell_m)
    z = np.zeros((height, width), np.float32)
    with rasterio.open(DTED0_MERGED) as src:
        reproject(
            source=rasterio.band(src, 1), destination=z, src_transform=src.transform, src_crs=src.crs,
            dst_transform=transform, dst_crs=CRS_UTM55, resampling=Resampling.bilinear,
            src_nodata=None, dst_nodata=None,
        )
    return z, transform


# --------------------------------------------------------------------------- observers
def disk_feasible(shape, radius_cells: float) -> np.ndarray:
    """Cells whose max-distance disk lies entirely inside the grid."""
    rad = int(math.ceil(radius_cells))
    ok = np.zeros(shape, bool)
    ok[rad: shape[0] - rad, rad: shape[1] - rad] = True
    return ok


def pick_rough_observers(z: np.ndarray, radius_cells: float):
    from scipy import ndimage

    ok = disk_feasible(z.shape, radius_cells)
    land = z > 0
    zf = z.astype(float)
    picks = []
    # obs0: the highest cell in the feasible square (a ridge top, relief all round).
    cand = np.where(ok & land, zf, -np.inf)
    picks.append(("ridge_top", np.unravel_index(np.argmax(cand), z.shape)))
    # obs1: coastal lowland: land 5-40 m within 2 cells of sea, nearest the centre of the grid.
    near_sea = ndimage.maximum_filter((~land).astype(np.uint8), size=5) > 0
    rr, cc = np.indices(z.shape)
    dist_c = np.hypot(rr - (z.shape[0] - 1) / 2, cc - (z.shape[1] - 1) / 2)
    cand = np.where(ok & land & near_sea & (zf >= 5) & (zf <= 40), dist_c, np.inf)
    picks.append(("coast", np.unravel_index(np.argmin(cand), z.shape)))
    # obs2: a valley floor: lowest topographic position (z - mean of 31x31) among cells above 150 m.
    tpi = zf - ndimage.uniform_filter(zf, size=31, mode="nearest")
    cand = np.where(ok & (zf > 150), tpi, np.inf)
    picks.append(("valley", np.unravel_index(np.argmin(cand), z.shape)))
    return picks


def pick_ridge_observers(z: np.ndarray, radius_cells: float):
    ok = disk_feasible(z.shape, radius_cells)
    zf = z.astype(float)
    return [
        ("crest", np.unravel_index(np.argmax(np.where(ok, zf, -np.inf)), z.shape)),
        ("valley", np.unravel_index(np.argmin(np.where(ok, zf, np.inf)), z.shape)),
    ]


KURIL_SITES = [  # (name, lon_deg, lat_deg): the observer is the DEM cell containing this point
    ("iturup_berutarube_slope", 146.93, 44.48),  # ~900 m, volcano flank, SW Iturup
    ("kunashir_north_coast", 146.42, 44.42),  # ~50 m, 1 km from the Okhotsk shore
    ("iturup_central_ridge", 147.19, 44.59),  # ~500 m, between two massifs
]


def pick_kuril_observers(z: np.ndarray, transform, radius_cells: float):
    to_utm = Transformer.from_crs("EPSG:4326", CRS_UTM55, always_xy=True)
    ok = disk_feasible(z.shape, radius_cells)
    picks = []
    for name, lon, lat in KURIL_SITES:
        x, y = to_utm.transform(lon, lat)
        row, col = rasterio.transform.rowcol(transform, x, y)
        if not ok[row, col]:
            raise SystemExit(f"{name}: disk of max distance leaves the DEM")
        if z[row, col] <= 0:
            raise SystemExit(f"{name}: cell ({row}, {col}) is sea")
        picks.append((name, (row, col)))
    return picks


# --------------------------------------------------------------------------- tools
def run(argv: list[str], cwd: Path, log: list) -> str:
    """Run a command, record its exact argv, fail loudly."""
    log.append(shlex.join(argv))
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {shlex.join(argv)}")
    return proc.stdout


def fmt(v: float) -> str:
    """Shortest exact text for a number given on a command line."""
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() else repr(float(v))


def tool_versions() -> dict:
    out = {}
    for key, argv in [
        ("gdal_viewshed", ["gdal_viewshed", "--version"]),
        ("gdalinfo", ["gdalinfo", "--version"]),
        ("grass", ["grass", "--version"]),
    ]:
        proc = subprocess.run(argv, capture_output=True, text=True)
        out[key] = (proc.stdout + proc.stderr).strip().splitlines()[0]
    return out


def paste_onto_dem_grid(raw: Path, dem_transform, dem_shape, fill, dtype) -> tuple[np.ndarray, tuple]:
    """Place GDAL's max-distance-window output onto the full DEM grid, values untouched."""
    with rasterio.open(raw) as src:
        a = src.read(1)
        t = src.transform
    col_off = (t.c - dem_transform.c) / dem_transform.a
    row_off = (t.f - dem_transform.f) / dem_transform.e
    assert t.a == dem_transform.a and t.e == dem_transform.e, "GDAL changed the cell size"
    assert col_off.is_integer() and row_off.is_integer(), "GDAL window not on the DEM grid"
    r0, c0 = int(row_off), int(col_off)
    out = np.full(dem_shape, fill, dtype=dtype)
    out[r0: r0 + a.shape[0], c0: c0 + a.shape[1]] = a.astype(dtype)
    if dtype == np.float32:
        assert np.array_equal(out[r0: r0 + a.shape[0], c0: c0 + a.shape[1]].astype(np.float64),
                              a.astype(np.float32).astype(np.float64))
    return out, (r0, c0, a.shape[0], a.shape[1])


def write_like_dem(path: Path, a: np.ndarray, dem_transform, tags: dict) -> None:
    extra = {"predictor": 3} if a.dtype == np.float32 else {}
    with rasterio.open(
        path, "w", width=a.shape[1], height=a.shape[0], count=1, dtype=a.dtype.name,
        crs=CRS_UTM55, transform=dem_transform, **TIFF_PROFILE, **extra,
    ) as dst:
        dst.write(a, 1)
        dst.update_tags(**tags)


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- main
DEMS = [
    # name, max_distance_m
    ("synthetic_rough_utm55", 25000.0),
    ("synthetic_ridge_utm55", 18000.0),
    ("kurils_utm55", 80000.0),
]


def build_dems() -> dict:
    info = {}
    z = make_rough_island(700)
    t = from_origin(500000.0, 4980000.0, 90.0, 90.0)
    write_dem(HERE / "synthetic_rough_utm55.tif", z, t,
              f"adcov synthetic rough island, numpy default_rng({SEED}), 90 m, sea = 0")
    info["synthetic_rough_utm55"] = (z, t)
    z = make_smooth_ridges(500)
    t = from_origin(570000.0, 4980000.0, 90.0, 90.0)
    write_dem(HERE / "synthetic_ridge_utm55.tif", z, t,
              f"adcov synthetic smooth ridges, numpy default_rng({SEED + 1}), 90 m")
    info["synthetic_ridge_utm55"] = (z, t)
    z, t = make_kurils(500.0)
    write_dem(HERE / "kurils_utm55.tif", z, t,
              "DTED Level 0 (NGA), window 145.3-148.3E 43.6-45.6N, bilinear to EPSG:32655 at 500 m")
    info["kurils_utm55"] = (z, t)
    return info


def main() -> int:
    t_start = time.monotonic()
    for exe in ("gdal_viewshed", "grass"):
        if shutil.which(exe) is None:
            raise SystemExit(f"{exe} not found: apt-get install gdal-bin grass-core")
    versions = tool_versions()
    dems = build_dems()
    to_ll = Transformer.from_crs(CRS_UTM55, "EPSG:4326", always_xy=True)

    cases, comparisons, floors = [], [], []
    with tempfile.TemporaryDirectory(prefix="adcov_ref_") as tmp:
        work = Path(tmp)
        for dem_name, max_distance_m in DEMS:
            z, transform = dems[dem_name]
            cell_m = transform.a
            dem_file = f"{dem_name}.tif"
            shutil.copyfile(HERE / dem_file, work / dem_file)
            radius_cells = max_distance_m / cell_m
            if dem_name == "synthetic_rough_utm55":
                picks = pick_rough_observers(z, radius_cells)
            elif dem_name == "synthetic_ridge_utm55":
                picks = pick_ridge_observers(z, radius_cells)
            else:
                picks = pick_kuril_observers(z, transform, radius_cells)

            # GRASS location and region = the DEM's grid
            setup_cmds: list[str] = []
            loc = f"grassdb/{dem_name}"
            mapset = f"{loc}/PERMANENT"
            run(["grass", "-c", dem_file, "-e", loc], work, setup_cmds)
            run(["grass", mapset, "--exec", "r.in.gdal", f"input={dem_file}", "output=dem"], work, setup_cmds)
            run(["grass", mapset, "--exec", "g.region", "raster=dem"], work, setup_cmds)
            region = dict(
                kv.split("=", 1)
                for kv in run(["grass", mapset, "--exec", "g.region", "-g"], work, []).split()
            )
            west, south, east, north = rasterio.transform.array_bounds(z.shape[0], z.shape[1], transform)
            assert math.isclose(float(region["w"]), west) and math.isclose(float(region["e"]), east)
            assert math.isclose(float(region["s"]), south) and math.isclose(float(region["n"]), north)
            assert int(region["rows"]) == z.shape[0] and int(region["cols"]) == z.shape[1]

            rr, cc = np.indices(z.shape)
            for i, (site, (row, col)) in enumerate(picks):
                row, col = int(row), int(col)
                x, y = rasterio.transform.xy(transform, row, col, offset="center")
                lon, lat = to_ll.transform(x, y)
                dist_m = np.hypot(rr - row, cc - col) * cell_m
                disk = dist_m <= max_distance_m
                on_edge = int(np.count_nonzero(dist_m == max_distance_m))
                obs = f"{dem_name}__obs{i}"
                X, Y = fmt(x), fmt(y)

                # GDAL floor (once per observer)
                floor_cmds: list[str] = []
                raw_floor = f"{obs}__gdal_floor_msl_raw.tif"
                run(["gdal_viewshed", "-b", "1", "-om", "DEM", "-ox", X, "-oy", Y,
                     "-oz", fmt(OBSERVER_HEIGHT_AGL_M), "-md", fmt(max_distance_m),
                     "-cc", fmt(GDAL_CURVATURE_COEFF), dem_file, raw_floor], work, floor_cmds)
                floor, window = paste_onto_dem_grid(work / raw_floor, transform, z.shape, 0.0, np.float32)
                # GDAL writes the observer cell's own terrain height there: proves it used our cell.
                assert floor[row, col] == z[row, col], (dem_name, i, floor[row, col], z[row, col])
                floor_file = f"{obs}__gdal_floor_msl.tif"
                write_like_dem(HERE / floor_file, floor, transform, {
                    "SOURCE": "gdal_viewshed -om DEM, pasted onto the DEM grid (Float64 -> float32)",
                    "OUT_OF_RANGE_VALUE": "0",
                })
                floors.append(dict(dem=dem_file, observer=i, file=floor_file, commands=floor_cmds,
                                   gdal_window_row_col_rows_cols=list(window)))

                for target_m in TARGET_HEIGHTS_AGL_M:
                    tag = f"{obs}__t{int(target_m)}"
                    cmds_gdal: list[str] = []
                    cmds_grass: list[str] = []
                    # GDAL
                    raw_gdal = f"{tag}__gdal_raw.tif"
                    run(["gdal_viewshed", "-b", "1", "-ox", X, "-oy", Y,
                         "-oz", fmt(OBSERVER_HEIGHT_AGL_M), "-tz", fmt(target_m),
                         "-md", fmt(max_distance_m), "-cc", fmt(GDAL_CURVATURE_COEFF),
                         "-vv", "1", "-iv", "0", "-ov", "0", dem_file, raw_gdal], work, cmds_gdal)
                    vis_gdal, _ = paste_onto_dem_grid(work / raw_gdal, transform, z.shape, 0, np.uint8)
                    gdal_file = f"{tag}__gdal.tif"
                    write_like_dem(HERE / gdal_file, vis_gdal, transform, {
                        "SOURCE": "gdal_viewshed, pasted onto the DEM grid; 1 visible, 0 invisible or out of range",
                    })
                    # GRASS
                    vs = f"vs_obs{i}_t{int(target_m)}"
                    grass_file = f"{tag}__grass.tif"
                    run(["grass", mapset, "--exec", "r.viewshed", "-c", "-r", "-b",
                         "input=dem", f"output={vs}", f"coordinates={X},{Y}",
                         f"observer_elevation={fmt(OBSERVER_HEIGHT_AGL_M)}",
                         f"target_elevation={fmt(target_m)}", f"max_distance={fmt(max_distance_m)}",
                         f"refraction_coeff={fmt(GRASS_REFRACTION_COEFF)}", f"memory={GRASS_MEMORY_MB}"],
                        work, cmds_grass)
                    run(["grass", mapset, "--exec", "r.out.gdal", "-c", "-m", f"input={vs}", "type=Byte",
                         f"output={grass_file}", "createopt=COMPRESS=DEFLATE"], work, cmds_grass)
                    shutil.copyfile(work / grass_file, HERE / grass_file)
                    with rasterio.open(HERE / grass_file) as src:
                        assert src.transform.almost_equals(transform) and src.shape == z.shape
                        vis_grass = src.read(1)
                        grass_nodata = src.nodata

                    g = vis_gdal == 1
                    s = vis_grass == 1
                    assert set(np.unique(vis_gdal)) <= {0, 1}
                    both = int(np.count_nonzero(g & s & disk))
                    union = int(np.count_nonzero((g | s) & disk))
                    n_disk = int(np.count_nonzero(disk))
                    agree = int(np.count_nonzero((g == s) & disk))
                    sea = z <= 0
                    h_obs_msl = float(z[row, col]) + OBSERVER_HEIGHT_AGL_M
                    horizon_m = (math.sqrt(2 * WGS84_A_M * K_FACTOR * h_obs_msl)
                                 + math.sqrt(2 * WGS84_A_M * K_FACTOR * target_m))

                    def max_sea(v, sea=sea, disk=disk, dist_m=dist_m):
                        m = v & sea & disk
                        return round(float(dist_m[m].max()), 1) if m.any() else None

                    floor_vis = (floor.astype(np.float64) <= z.astype(np.float64) + target_m) & disk
                    cmp = dict(
                        case=tag,
                        dem=dem_file, observer=i, site=site, target_height_agl_m=target_m,
                        max_distance_m=max_distance_m,
                        cells_in_disk=n_disk,
                        visible_gdal=int(np.count_nonzero(g & disk)),
                        visible_grass=int(np.count_nonzero(s & disk)),
                        visible_both=both,
                        jaccard=round(both / union, 4) if union else 1.0,
                        percent_cells_agreeing=round(100.0 * agree / n_disk, 3),
                        gdal_visible_grass_hidden=int(np.count_nonzero(g & ~s & disk)),
                        gdal_hidden_grass_visible=int(np.count_nonzero(~g & s & disk)),
                        observer_visible_gdal=bool(g[row, col]),
                        observer_visible_grass=bool(s[row, col]),
                        visible_beyond_max_distance_gdal=int(np.count_nonzero(g & ~disk)),
                        visible_beyond_max_distance_grass=int(np.count_nonzero(s & ~disk)),
                        cells_exactly_at_max_distance=on_edge,
                        visible_exactly_at_max_distance_gdal=int(np.count_nonzero(g & (dist_m == max_distance_m))),
                        visible_exactly_at_max_distance_grass=int(np.count_nonzero(s & (dist_m == max_distance_m))),
                        sea_horizon_m_closed_form=round(horizon_m, 1),
                        max_visible_sea_distance_m_gdal=max_sea(g),
                        max_visible_sea_distance_m_grass=max_sea(s),
                        gdal_vis_vs_gdal_floor_mismatches=int(np.count_nonzero(floor_vis != (g & disk))),
                        grass_values=[int(v) for v in np.unique(vis_grass)],
                    )
                    comparisons.append(cmp)
                    cases.append(dict(
                        case=tag,
                        dem=dem_file,
                        dem_crs=CRS_UTM55,
                        dem_cell_m=cell_m,
                        observer_index=i,
                        observer_site=site,
                        observer_x_m=x, observer_y_m=y,
                        observer_row=row, observer_col=col,
                        observer_lat_deg=round(lat, 7), observer_lon_deg=round(lon, 7),
                        observer_terrain_elevation_m=float(z[row, col]),
                        observer_height_agl_m=OBSERVER_HEIGHT_AGL_M,
                        target_height_agl_m=target_m,
                        max_distance_m=max_distance_m,
                        k_factor=K_FACTOR,
                        gdal_curvature_coeff=GDAL_CURVATURE_COEFF,
                        grass_refraction_coeff=GRASS_REFRACTION_COEFF,
                        outputs=dict(gdal=gdal_file, grass=grass_file, gdal_floor_msl=floor_file),
                        grass_output_nodata=grass_nodata,
                        commands=dict(
                            grass_setup=setup_cmds,
                            grass=cmds_grass,
                            gdal=cmds_gdal,
                            gdal_floor=floor_cmds,
                        ),
                    ))
                    print(f"{tag:42s} vis gdal {cmp['visible_gdal']:7d} grass {cmp['visible_grass']:7d}"
                          f"  J {cmp['jaccard']:.3f}  agree {cmp['percent_cells_agreeing']:6.2f}%"
                          f"  gdal-only {cmp['gdal_visible_grass_hidden']:6d}"
                          f"  grass-only {cmp['gdal_hidden_grass_visible']:6d}"
                          f"  obs {int(cmp['observer_visible_gdal'])}{int(cmp['observer_visible_grass'])}"
                          f"  beyond {cmp['visible_beyond_max_distance_gdal']}/{cmp['visible_beyond_max_distance_grass']}",
                          flush=True)

    meta = dict(
        builder="tests/reference/build_references.py",
        tools=versions,
        conventions=dict(
            k_factor=K_FACTOR,
            gdal_cc="1/k",
            grass_refraction_coeff="1 - 1/k",
            earth_radius="both tools use the semi-major axis of the DEM's ellipsoid: WGS 84, 6378137 m",
            heights="observer and target heights are above ground in both tools",
            disk="cell-centre distance <= max_distance_m, in cells times the cell size",
            commands_cwd="a scratch directory holding a copy of the DEM; grassdb/ is created there",
        ),
        dems={name: dict(file=f"{name}.tif", sha256=sha256(HERE / f"{name}.tif"),
                         shape=list(dems[name][0].shape), cell_m=dems[name][1].a,
                         transform=list(dems[name][1])[:6])
              for name, _ in DEMS},
        cases=cases,
        floors=floors,
    )
    (HERE / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    (HERE / "gdal_vs_grass.json").write_text(json.dumps(dict(
        reference_note="GRASS r.viewshed taken as the reference: 'gdal_visible_grass_hidden' = GDAL false-visible, "
                       "'gdal_hidden_grass_visible' = GDAL false-hidden; counts inside the max-distance disk",
        tools=versions, comparisons=comparisons), indent=1) + "\n")
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f"wrote {len(cases)} cases, {len(floors)} floors; tests/reference/ holds {total / 1e6:.2f} MB;"
          f" build took {time.monotonic() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

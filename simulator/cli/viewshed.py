"""``adcov viewshed``: one observer on a DEM, GIS-compatible output.

Same question as ``gdal_viewshed -oz H -tz T -md R -cc 1/K``: observer and target heights
above ground (or target altitude above mean sea level with ``--target-ref msl``).
Output on the DEM's own grid and CRS: uint8, 1 visible, 0 not visible, 255 beyond the
maximum range (nodata); ``--floor-out`` writes the lowest visible altitude, float32 m MSL.
"""

from __future__ import annotations

import argparse
import math

from simulator.errors import AdcovError
from simulator.geometry import K_FACTOR_MAX, K_FACTOR_MIN

# numpy, numba, rasterio and pyproj are imported where used: ``run`` reads the DEM in one
# thread while the other imports and loads the kernels.

VISIBLE, HIDDEN, BEYOND_RANGE = 1, 0, 255  # the values of simulator.visibility.classify_visible
UNLIMITED_RANGE_M = 1e9
DEFAULT_K_FACTOR = 4.0 / 3.0  # simulator.geometry.DEFAULT_K_FACTOR (a test checks they agree)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "viewshed",
        help="visibility from one observer on a DEM (GIS-compatible GeoTIFF)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dem", metavar="DEM", help="terrain raster (any GDAL format), or a folder of tiles")
    p.add_argument("--lat", type=float, required=True, help="observer latitude [deg]")
    p.add_argument("--lon", type=float, required=True, help="observer longitude [deg]")
    p.add_argument("--observer-height-m", type=float, required=True, help="antenna height above ground [m]")
    p.add_argument("--target-height-m", type=float, default=0.0, help="target height [m] (above ground unless --target-ref msl)")
    p.add_argument("--target-ref", choices=("agl", "msl"), default="agl", help="reference of --target-height-m (default agl)")
    p.add_argument("--max-range-km", type=float, help="ground range limit [km] (default: the whole DEM)")
    p.add_argument("--k-factor", type=float, default=DEFAULT_K_FACTOR, help="effective earth radius factor (default 4/3; 1 = geometric)")
    p.add_argument("--out", required=True, help="visibility GeoTIFF to write (uint8: 1 visible, 0 hidden, 255 beyond range)")
    p.add_argument("--floor-out", help="also write the floor: lowest visible altitude, float32 m MSL")
    p.add_argument("--no-cache", action="store_true", help="accepted for symmetry; viewshed never caches")
    p.add_argument("--resolution-m", metavar="M|native|default",
                   help="write the rasters on an analysis grid of this spacing cut to the --max-range-km disk "
                        "(whole DEM cells; 'default' = adcov's rule, see adcov run --help) instead of the whole DEM grid; "
                        "rays still sample the DEM at its own spacing")
    p.set_defaults(func=run)


def check_options(lat_deg, lon_deg, observer_height_m, target_height_m, target_ref, max_range_km, k_factor) -> None:
    """Refuse bad viewshed options with the option's name and what is valid (AdcovError)."""
    if target_ref not in ("agl", "msl"):
        raise AdcovError(f"target_ref: {target_ref!r} is not valid; expected agl or msl")
    if max_range_km is not None and not max_range_km > 0:
        raise AdcovError(f"--max-range-km: expected a number > 0 [km], got {max_range_km}")
    if not (math.isfinite(observer_height_m) and observer_height_m >= 0):
        raise AdcovError(f"--observer-height-m: expected a number >= 0 [m] above ground, got {observer_height_m}")
    if not (math.isfinite(k_factor) and K_FACTOR_MIN <= k_factor <= K_FACTOR_MAX):
        raise AdcovError(f"--k-factor: expected a number in [{K_FACTOR_MIN:g}, {K_FACTOR_MAX:g}] (4/3 for standard "
                         f"refraction, 1 geometric, large for ducting), got {k_factor}")
    if not (-90.0 <= lat_deg <= 90.0 and -180.0 <= lon_deg <= 360.0):
        raise AdcovError(f"--lat/--lon: expected latitude in [-90, 90] and longitude in [-180, 360] [deg], got {lat_deg}, {lon_deg}")
    if not math.isfinite(target_height_m):
        raise AdcovError(f"--target-height-m: expected a finite number [m], got {target_height_m}")
    if not target_height_m >= 0 and target_ref == "agl":
        raise AdcovError(f"--target-height-m: expected a number >= 0 [m] above ground, got {target_height_m}")


def viewshed(terrain, lat_deg, lon_deg, observer_height_m, target_height_m, *, target_ref="agl", max_range_km=None,
             k_factor=DEFAULT_K_FACTOR, resolution_m=None, with_grid=False):
    """Visibility (uint8) and floor (float32, m MSL) on the terrain's own grid, or with
    ``resolution_m`` ("native", "default" or metres) on an analysis grid cut to the range disk
    (then ``with_grid=True`` also returns that grid)."""
    import numpy as np

    from simulator.coverage import compute_line_of_sight
    from simulator.geometry import AnalysisGrid
    from simulator.visibility import classify_visible

    check_options(lat_deg, lon_deg, observer_height_m, target_height_m, target_ref, max_range_km, k_factor)
    if resolution_m is None:
        grid = AnalysisGrid.from_terrain(terrain)
    else:
        from simulator.analysis_area import UnitDisk, plan_grid

        if not max_range_km:
            raise AdcovError("--resolution-m needs --max-range-km (the grid is cut to that disk)")
        disk = UnitDisk("observer", float(lat_deg), float(lon_deg), max_range_km * 1000.0)
        grid = plan_grid(terrain, [disk], resolution_m=None if resolution_m == "default" else resolution_m,
                         outside_terrain="clip")
    max_range_m = max_range_km * 1000.0 if max_range_km else UNLIMITED_RANGE_M
    los = compute_line_of_sight(grid, lat_deg, lon_deg, observer_height_m, k_factor, max_range_m, with_ground_range=False)
    if los.floor_msl_m.shape == grid.shape:
        floor = los.floor_msl_m  # the window is the whole DEM: no copy
    else:
        floor = np.full(grid.shape, np.nan, dtype=np.float32)
        floor[los.window] = los.floor_msl_m
    agl = target_ref == "agl"
    visible = classify_visible(floor, np.ascontiguousarray(grid.elevation_m), np.float32(target_height_m), agl)
    return (visible, floor, grid) if with_grid else (visible, floor)


def _warm_up() -> None:
    """Run the whole viewshed once on a tiny grid: imports numba and the simulator and loads
    the compiled kernels from numba's cache (~0.7 s), while GDAL reads the DEM in another
    thread (GDAL releases the GIL).
    """
    import numpy as np
    from affine import Affine

    from simulator.terrain import Terrain

    try:
        tiny = Terrain.from_array(np.zeros((8, 8), dtype=np.float32), Affine(90.0, 0, 500_000.0, 0, -90.0, 5_000_000.0), "EPSG:32633")
        viewshed(tiny, 45.15024, 15.00458, 10.0, 0.0)  # the centre of the tiny grid
    except Exception:  # noqa: BLE001, S110 - only a head start: the real run reports any problem itself
        pass


def _write_together(rasters, transform, crs) -> None:
    """Write ``(option, name, path, array, nodata)`` rasters: all of them, or none (the previous
    files stay).

    Each goes to a ``.adcov-tmp-*`` sibling of ``path`` first (GDAL encodes without the GIL:
    side by side); only when every one is complete are they renamed into place.
    """
    import contextlib
    import os
    from concurrent.futures import ThreadPoolExecutor

    from simulator.fileio import temp_path_for
    from simulator.terrain import write_geotiff

    temps = [temp_path_for(path) for _, _, path, _, _ in rasters]
    try:
        with ThreadPoolExecutor(max_workers=len(rasters)) as pool:
            writes = [pool.submit(write_geotiff, tmp, array, transform, crs, nodata=nodata)
                      for tmp, (_, _, _, array, nodata) in zip(temps, rasters)]
        for tmp, (option, name, _, _, _), write in zip(temps, rasters, writes):
            try:
                write.result()
            except AdcovError as exc:  # its message names the temporary file
                raise AdcovError(f"{option}: {str(exc).replace(str(tmp), name)} (no output was replaced)") from exc
        for (option, name, path, _, _), tmp in zip(rasters, temps):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise AdcovError(f"{option}: cannot write GeoTIFF {name}: {exc.strerror or exc}") from exc
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from simulator.cli.common import parse_resolution_m
    from simulator.dem import open_dem
    from simulator.fileio import check_distinct_outputs, check_output_file

    check_options(args.lat, args.lon, args.observer_height_m, args.target_height_m, args.target_ref, args.max_range_km, args.k_factor)
    # symlinks are followed: the rasters go where the links point
    from simulator.terrain_safety import terrain_source_files

    inputs = [args.dem, *terrain_source_files(args.dem)[1:]]  # a VRT's tiles are inputs too
    out = check_output_file(args.out, "--out", inputs=inputs)
    floor_out = check_output_file(args.floor_out, "--floor-out", inputs=inputs) if args.floor_out is not None else None
    check_distinct_outputs(("--out", out), ("--floor-out", floor_out))
    resolution = args.resolution_m
    if resolution is not None and resolution != "default":
        resolution = parse_resolution_m(resolution)
    with ThreadPoolExecutor(max_workers=1) as reader:
        # metadata only: the rays read the window they need
        terrain_read = reader.submit(open_dem, args.dem)
        _warm_up()
        terrain = terrain_read.result()  # re-raises a TerrainError
    visible, floor, grid = viewshed(
        terrain, args.lat, args.lon, args.observer_height_m, args.target_height_m,
        target_ref=args.target_ref, max_range_km=args.max_range_km, k_factor=args.k_factor,
        resolution_m=resolution, with_grid=True,
    )
    rasters = [("--out", args.out, out, visible, BEYOND_RANGE)]
    if floor_out is not None:
        rasters.append(("--floor-out", args.floor_out, floor_out, floor, float("nan")))
    _write_together(rasters, grid.transform, terrain.crs)
    import numpy as np

    rows, cols = visible.shape
    n_visible = int(np.count_nonzero(visible == 1))
    n_range = int(np.count_nonzero(visible != BEYOND_RANGE))
    target = f"{args.target_height_m:g} m {args.target_ref.upper()}"
    print(f"wrote {args.out}: visibility of a {target} target, {rows} x {cols} cells "
          f"(uint8: 1 visible, 0 hidden, {BEYOND_RANGE} beyond range); {n_visible:,} of the {n_range:,} cells in range visible")
    if floor_out is not None:
        print(f"wrote {args.floor_out}: lowest visible altitude (float32, m MSL; NaN beyond range), same grid")
    return 0

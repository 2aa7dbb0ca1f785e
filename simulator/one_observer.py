"""One observer on a DEM: visibility and floor rasters on the DEM's grid (``adcov viewshed``).

The same question as ``gdal_viewshed -oz H -tz T -md R -cc 1/K``: observer and target heights
above ground (or a target altitude above mean sea level), on the DEM's own grid and CRS:
uint8 visibility (1 visible, 0 hidden, 255 beyond the maximum range) and the floor, the lowest
visible altitude (float32, m MSL). Messages name the ``adcov viewshed`` options.

numpy, numba, rasterio and pyproj are imported where used: the command reads the DEM in one
thread while the other imports them and loads the kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.errors import AdcovError, ArgumentError, OutputError
from simulator.geometry import K_FACTOR_MAX, K_FACTOR_MIN

__all__ = ["BEYOND_RANGE", "DEFAULT_K_FACTOR", "HIDDEN", "UNLIMITED_RANGE_M", "VISIBLE", "ViewshedRun", "check_options",
           "run_viewshed", "viewshed", "warm_up", "write_rasters_together"]

from simulator.constants import BEYOND_RANGE, DEFAULT_K_FACTOR, HIDDEN, VISIBLE

UNLIMITED_RANGE_M = 1e9


def check_options(lat_deg, lon_deg, observer_height_m, target_height_m, target_ref, max_range_km, k_factor) -> None:
    """Refuse bad viewshed options with the option's name and what is valid (AdcovError)."""
    if target_ref not in ("agl", "msl"):
        raise ArgumentError(f"target_ref: {target_ref!r} is not valid; expected agl or msl")
    if max_range_km is not None and not max_range_km > 0:
        raise ArgumentError(f"--max-range-km: expected a number > 0 [km], got {max_range_km}")
    if not (math.isfinite(observer_height_m) and observer_height_m >= 0):
        raise ArgumentError(f"--observer-height-m: expected a number >= 0 [m] above ground, got {observer_height_m}")
    if not (math.isfinite(k_factor) and K_FACTOR_MIN <= k_factor <= K_FACTOR_MAX):
        raise ArgumentError(f"--k-factor: expected a number in [{K_FACTOR_MIN:g}, {K_FACTOR_MAX:g}] (4/3 for standard "
                         f"refraction, 1 geometric, large for ducting), got {k_factor}")
    if not (-90.0 <= lat_deg <= 90.0 and -180.0 <= lon_deg <= 360.0):
        raise ArgumentError(f"--lat/--lon: expected latitude in [-90, 90] and longitude in [-180, 360] [deg], got {lat_deg}, {lon_deg}")
    if not math.isfinite(target_height_m):
        raise ArgumentError(f"--target-height-m: expected a finite number [m], got {target_height_m}")
    if not target_height_m >= 0 and target_ref == "agl":
        raise ArgumentError(f"--target-height-m: expected a number >= 0 [m] above ground, got {target_height_m}")


def viewshed(terrain, lat_deg, lon_deg, observer_height_m, target_height_m, *, target_ref="agl", max_range_km=None,
             k_factor=DEFAULT_K_FACTOR, resolution_m=None, with_grid=False):
    """Visibility (uint8) and floor (float32, m MSL) on the terrain's own grid, or with
    ``resolution_m`` ("native", "default" or metres) on an analysis grid cut to the range disk
    (then ``with_grid=True`` also returns that grid)."""
    import numpy as np

    from simulator.geometry import AnalysisGrid
    from simulator.line_of_sight import compute_line_of_sight
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


def write_rasters_together(rasters, transform, crs) -> None:
    """Write ``(option, name, path, array, nodata)`` rasters: all of them, or none (the previous
    files stay).

    Each goes to a ``.adcov-tmp-*`` sibling of ``path`` first (GDAL encodes without the GIL:
    side by side); only when every one is complete are they renamed into place together
    (:class:`simulator.fileio.AtomicFiles`).
    """
    from concurrent.futures import ThreadPoolExecutor

    from simulator.fileio import AtomicFiles
    from simulator.terrain import write_geotiff

    with AtomicFiles() as files:
        temps = [files.temp_for(path) for _, _, path, _, _ in rasters]
        with ThreadPoolExecutor(max_workers=len(rasters)) as pool:
            writes = [pool.submit(write_geotiff, tmp, array, transform, crs, nodata=nodata)
                      for tmp, (_, _, _, array, nodata) in zip(temps, rasters, strict=True)]
        for tmp, (option, name, _, _, _), write in zip(temps, rasters, writes, strict=True):
            try:
                write.result()
            except AdcovError as exc:  # its message names the temporary file
                raise OutputError(f"{option}: {str(exc).replace(str(tmp), name)} (no output was replaced)") from exc
        try:
            files.commit()
        except OSError as exc:  # os.replace names the temporary file: tell which output it was
            failed = next((i for i, tmp in enumerate(temps) if str(tmp) in (exc.filename, exc.filename2)), 0)
            option, name = rasters[failed][:2]
            raise OutputError(f"{option}: cannot write GeoTIFF {name}: {exc.strerror or exc} (no output was replaced)") from exc


def warm_up() -> None:
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


@dataclass(frozen=True)
class ViewshedRun:
    """What :func:`run_viewshed` wrote: the visibility and floor arrays and their grid."""

    visible: object  # uint8: VISIBLE, HIDDEN, BEYOND_RANGE
    floor_msl_m: object  # float32, NaN beyond range
    grid: object

    @property
    def visible_cells(self) -> int:
        import numpy as np

        return int(np.count_nonzero(self.visible == VISIBLE))

    @property
    def cells_in_range(self) -> int:
        import numpy as np

        return int(np.count_nonzero(self.visible != BEYOND_RANGE))


def run_viewshed(dem, lat_deg, lon_deg, observer_height_m, target_height_m=0.0, *, out, floor_out=None, target_ref="agl",
                 max_range_km=None, k_factor=DEFAULT_K_FACTOR, resolution_m=None) -> ViewshedRun:
    """``adcov viewshed`` as one call: check the options and the outputs (neither may be the DEM
    or one of a VRT's tiles; symlinks are followed), read the DEM, compute, and write the
    visibility GeoTIFF ``out`` (and the floor ``floor_out``): both, or neither."""
    from concurrent.futures import ThreadPoolExecutor

    from simulator.dem import open_dem
    from simulator.fileio import check_distinct_outputs, check_output_file
    from simulator.terrain_safety import terrain_source_files

    check_options(lat_deg, lon_deg, observer_height_m, target_height_m, target_ref, max_range_km, k_factor)
    inputs = [dem, *terrain_source_files(dem)[1:]]  # a VRT's tiles are inputs too
    out_path = check_output_file(out, "--out", inputs=inputs)
    floor_path = check_output_file(floor_out, "--floor-out", inputs=inputs) if floor_out is not None else None
    check_distinct_outputs(("--out", out_path), ("--floor-out", floor_path))
    with ThreadPoolExecutor(max_workers=1) as reader:
        terrain_read = reader.submit(open_dem, dem)  # metadata only: the rays read the window they need
        warm_up()
        terrain = terrain_read.result()  # re-raises a TerrainError
    visible, floor, grid = viewshed(
        terrain, lat_deg, lon_deg, observer_height_m, target_height_m,
        target_ref=target_ref, max_range_km=max_range_km, k_factor=k_factor, resolution_m=resolution_m, with_grid=True,
    )
    rasters = [("--out", str(out), out_path, visible, BEYOND_RANGE)]
    if floor_path is not None:
        rasters.append(("--floor-out", str(floor_out), floor_path, floor, float("nan")))
    write_rasters_together(rasters, grid.transform, terrain.crs)
    return ViewshedRun(visible, floor, grid)

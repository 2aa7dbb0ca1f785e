"""``adcov viewshed``: one observer on a DEM, GIS-compatible output.

Same question as ``gdal_viewshed -oz H -tz T -md R -cc 1/K``: observer and target heights
above ground (or target altitude above mean sea level with ``--target-ref msl``).
Output on the DEM's own grid and CRS: uint8, 1 visible, 0 not visible, 255 beyond the
maximum range (nodata); ``--floor-out`` writes the lowest visible altitude, float32 m MSL.
"""

from __future__ import annotations

import argparse

# numpy, numba, rasterio and pyproj are imported where used: ``run`` reads the DEM in one
# thread while the other imports and loads the kernels.
from simulator.one_observer import (  # noqa: F401 - the command's names, re-exported
    BEYOND_RANGE,
    DEFAULT_K_FACTOR,
    HIDDEN,
    UNLIMITED_RANGE_M,
    VISIBLE,
    check_options,
    run_viewshed,
    viewshed,
)


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


def run(args: argparse.Namespace) -> int:
    from simulator.cli.common import parse_resolution_m

    resolution = args.resolution_m
    if resolution is not None and resolution != "default":
        resolution = parse_resolution_m(resolution)
    result = run_viewshed(
        args.dem, args.lat, args.lon, args.observer_height_m, args.target_height_m, out=args.out, floor_out=args.floor_out,
        target_ref=args.target_ref, max_range_km=args.max_range_km, k_factor=args.k_factor, resolution_m=resolution,
    )
    rows, cols = result.visible.shape
    target = f"{args.target_height_m:g} m {args.target_ref.upper()}"
    print(f"wrote {args.out}: visibility of a {target} target, {rows} x {cols} cells "
          f"(uint8: 1 visible, 0 hidden, {BEYOND_RANGE} beyond range); {result.visible_cells:,} of the "
          f"{result.cells_in_range:,} cells in range visible")
    if args.floor_out is not None:
        print(f"wrote {args.floor_out}: lowest visible altitude (float32, m MSL; NaN beyond range), same grid")
    return 0

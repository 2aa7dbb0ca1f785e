"""Reading terrain rasters: :func:`open_terrain` opens a file, a folder of tiles or a list of both.

DTED ``.dt0/.dt1/.dt2``, SRTM ``.hgt``, GeoTIFF, VRT, ERDAS ``.img`` (:mod:`simulator.terrain_safety`
says what is opened); several rasters are mosaicked into one grid (``rasterio.merge``) and
voids are resolved by a stated policy (:mod:`simulator.terrain_voids`). The result, a
:class:`~simulator.terrain.Terrain`, is cached by file identity. :mod:`simulator.dem` opens
datasets through :func:`_open_dataset` too. Conventions: :mod:`simulator.terrain`.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import rasterio.merge
from affine import Affine
from rasterio.enums import MaskFlags, Resampling

from simulator.errors import TerrainError
from simulator.georeference import _common_folder, _crs_label, _sources_label
from simulator.terrain_grid import Terrain
from simulator.terrain_safety import ALLOWED_SUFFIXES, GDAL_NO_NETWORK, check_terrain_file
from simulator.terrain_voids import VOID_POLICIES, _resolve_voids, _void_cells

#: File suffixes (case-insensitive) taken from a folder given to :func:`open_terrain`.
#: An explicitly named file may have any suffix GDAL understands.
RASTER_SUFFIXES: tuple[str, ...] = ALLOWED_SUFFIXES

_CACHE_MAX_ENTRIES = 4
# Mosaic sentinel for "no data here" inside rasterio.merge's float32 output (also a void value).
_MERGE_NODATA = -32767.0
# Units (band metadata) accepted as metres; empty means "not stated", taken as metres.
_METRE_UNITS = frozenset({"", "m", "metre", "metres", "meter", "meters"})


_cache: OrderedDict[tuple, Terrain] = OrderedDict()
_cache_lock = threading.Lock()


def open_terrain(paths, *, void_policy: str = "fill") -> Terrain:
    """Read terrain from one raster, a folder of rasters, or a list of files and folders.

    Several rasters are mosaicked into one grid (``rasterio.merge``, first raster wins on
    shared edges, nearest-neighbour so same-grid tiles are copied exactly).

    Parameters
    ----------
    paths : str, os.PathLike, or iterable of them
        A raster file (GeoTIFF, DTED, SRTM ``.hgt``, ERDAS ``.img``, VRT; see
        :mod:`simulator.terrain_safety`), a folder
        (every file with a suffix in :data:`RASTER_SUFFIXES`, searched recursively, in sorted
        path order), or a list of files and folders. A folder holding both tiles and a VRT of
        them reads the tiles twice (harmless, but slower): name the VRT alone instead.
    void_policy : {"fill", "sea", "error"}
        How voids (nodata, DTED -32767, SRTM -32768, NaN, a mosaic's uncovered area) are
        resolved; see the module docstring.

    Returns
    -------
    Terrain
        Cached: the same object is returned while the files (paths, modification times,
        sizes) and the policy are unchanged. Files referenced by a VRT are not tracked.

    Raises
    ------
    TerrainError
        A path is missing, a folder holds no raster, a raster is unreadable (GDAL's message),
        has no CRS or geotransform, is rotated, states non-metre units, the mosaic's rasters
        have different CRSs, a void cannot be resolved by the policy, or the policy is unknown.

    Notes
    -----
    Mixed resolutions are mosaicked on the finest one (bilinear resampling of the coarser
    rasters); :meth:`Terrain.describe` says so.
    """
    if void_policy not in VOID_POLICIES:
        raise TerrainError(
            f"void_policy must be one of {', '.join(repr(p) for p in VOID_POLICIES)}, got {void_policy!r}: "
            "'fill' interpolates voids from neighbours, 'sea' sets them to 0 m, 'error' refuses them"
        )
    files = _expand_paths(paths)
    key_files = []
    for path in files:
        try:
            st = path.stat()
        except OSError as exc:
            raise TerrainError(f"terrain file {path} cannot be read: {exc.strerror or exc}") from exc
        key_files.append((str(path), st.st_mtime_ns, st.st_size))
    key = (tuple(key_files), void_policy)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    terrain = _read_terrain(files, void_policy)
    with _cache_lock:
        _cache[key] = terrain
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_MAX_ENTRIES:
            _cache.popitem(last=False)
    return terrain


def clear_terrain_cache() -> None:
    """Forget every terrain :func:`open_terrain` has cached in this process."""
    with _cache_lock:
        _cache.clear()


def _expand_paths(paths) -> tuple[Path, ...]:
    if isinstance(paths, (str, os.PathLike)):
        items = [paths]
    else:
        try:
            items = list(paths)
        except TypeError:
            raise TerrainError(
                f"terrain paths must be a path or a list of paths, got {type(paths).__name__}: {paths!r}"
            ) from None
    if not items:
        raise TerrainError("no terrain path given: expected a raster file, a folder of rasters, or a list of them")
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if not path.is_dir():
            files.append(check_terrain_file(item))  # local regular raster files only (terrain_safety)
            continue
        if not path.exists():
            raise TerrainError(f"terrain path {path} does not exist (expected a raster file or a folder of rasters)")
        path = path.resolve()
        if path.is_dir():
            found = sorted(
                p.resolve() for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
            )
            if not found:
                raise TerrainError(
                    f"terrain folder {path} holds no raster file "
                    f"(searched recursively for {', '.join(RASTER_SUFFIXES)})"
                )
            files.extend(found)
        else:
            files.append(path)
    return tuple(dict.fromkeys(files))  # drop repeats, keep order


def _read_terrain(files: tuple[Path, ...], void_policy: str) -> Terrain:
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        datasets = [stack.enter_context(_open_dataset(path)) for path in files]
        if len(datasets) == 1:
            elevation_m, void, transform, crs = _read_single(datasets[0], notes)
        else:
            elevation_m, void, transform, crs = _read_mosaic(datasets, notes)
    where = _sources_label(files)
    n_void = int(void.sum())
    if n_void:
        elevation_m = _resolve_voids(elevation_m, void, transform, crs, void_policy, where, mosaic=len(files) > 1)
    # the grid is ours alone: freezing it spares Terrain a defensive copy
    elevation_m = np.ascontiguousarray(elevation_m, dtype=np.float32)
    elevation_m.flags.writeable = False
    return Terrain(
        elevation_m=elevation_m,
        transform=transform,
        crs=crs,
        source_paths=files,
        void_cells_filled=n_void,
        void_policy=void_policy,
        void_filled=void if n_void else None,
        notes=tuple(notes),
    )


@contextlib.contextmanager
def _open_dataset(path: Path):
    """Open a raster read-only and check it is usable terrain; TerrainError otherwise.

    The path is checked first (:func:`simulator.terrain_safety.check_terrain_file`: a local
    regular raster file, VRT sources included) and GDAL runs with network access off for as
    long as the dataset is open (a VRT opens its sources when they are read)."""
    check_terrain_file(path)
    env = rasterio.Env(**GDAL_NO_NETWORK)
    env.__enter__()
    try:
        # rasterio warns (NotGeoreferencedWarning) while opening a raster without a
        # geotransform; that case is reported below as a TerrainError instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(path)
            transform = ds.transform
    except rasterio.errors.RasterioError as exc:
        env.__exit__(None, None, None)
        raise TerrainError(f"terrain file {path} cannot be read by GDAL: {exc}") from exc
    except BaseException:
        env.__exit__(None, None, None)
        raise
    try:
        if ds.count < 1:
            raise TerrainError(f"terrain file {path} has no raster band (expected band 1 = elevation [m])")
        if ds.crs is None or not ds.crs.to_wkt():
            hint = " (it is georeferenced by GCPs only; warp it first, e.g. gdalwarp)" if ds.gcps[0] else ""
            raise TerrainError(
                f"terrain file {path} has no CRS{hint}; expected a georeferenced raster "
                "(geographic, e.g. EPSG:4326, or projected, e.g. UTM)"
            )
        if transform.is_identity:
            raise TerrainError(
                f"terrain file {path} has no geotransform (GDAL reports the identity); expected a georeferenced raster"
            )
        if transform.b != 0.0 or transform.d != 0.0:
            raise TerrainError(
                f"terrain file {path} has a rotated geotransform {tuple(transform)[:6]}; "
                "expected north-up cells (warp it first, e.g. gdalwarp)"
            )
        if ds.crs.is_geographic:
            _check_longitudes(path, ds.bounds, abs(transform.a))
        units = (ds.units[0] or "").strip().lower()
        if units not in _METRE_UNITS:
            raise TerrainError(
                f"terrain file {path} band 1 is in {ds.units[0]!r}; expected metres above mean sea level "
                "(convert it first, e.g. gdal_calc)"
            )
        yield ds
    finally:
        ds.close()
        env.__exit__(None, None, None)


def _check_longitudes(path, bounds, cell_deg: float) -> None:
    """Refuse a geographic raster whose longitudes run past ±180° (across the antimeridian):
    sites, rays and cells are placed with longitudes in [-180, 180], so half of such a DEM
    would silently read as beyond range. A point-registered tile may overhang by a cell."""
    west, east = bounds.left, bounds.right
    if west < -180.0 - cell_deg - 1e-9 or east > 180.0 + cell_deg + 1e-9:
        raise TerrainError(
            f"terrain file {path} spans longitudes {west:.4f} to {east:.4f}°, across the antimeridian (±180°); "
            "adcov places everything in [-180, 180]° and does not support terrain across it yet: "
            "use a projected CRS that covers the area (e.g. gdalwarp -t_srs EPSG:3832, or a UTM zone)"
        )


def _scale_offset(ds) -> tuple[float, float]:
    return (float(ds.scales[0]), float(ds.offsets[0]))


def _read_single(ds, notes: list[str]):
    try:
        # direct I/O skips GDAL's block cache for uncompressed GeoTIFF (3x faster on big
        # grids); other formats ignore the option
        with rasterio.Env(GTIFF_DIRECT_IO="YES"):
            values = ds.read(1, out_dtype="float32")
        # the GDAL mask (nodata, mask band, alpha) only when the band has one: reading it
        # costs a second pass over the file
        masked = None if MaskFlags.all_valid in ds.mask_flag_enums[0] else ds.read_masks(1) == 0
    except rasterio.errors.RasterioError as exc:
        raise TerrainError(f"terrain file {ds.name} cannot be read by GDAL: {exc}") from exc
    void = _void_cells(values, masked)
    scale, offset = _scale_offset(ds)
    if (scale, offset) != (1.0, 0.0):
        values = (values * np.float32(scale) + np.float32(offset)).astype(np.float32)
        notes.append(f"band scale {scale:g} and offset {offset:g} applied")
    transform = ds.transform
    if transform.e > 0:  # south-up: flip to north-up
        values, void = values[::-1], void[::-1]
        transform = transform @ Affine.translation(0, ds.height) @ Affine.scale(1, -1)
        notes.append("south-up raster flipped to north-up")
    return np.ascontiguousarray(values), np.ascontiguousarray(void), transform, ds.crs


def _read_mosaic(datasets, notes: list[str]):
    crs = datasets[0].crs
    if any(ds.crs != crs for ds in datasets[1:]):
        listing = "; ".join(f"{Path(ds.name).name}: {_crs_label(ds.crs)}" for ds in datasets)
        raise TerrainError(
            f"terrain rasters must share one CRS to be mosaicked, got {listing} "
            f"(under {_common_folder([Path(ds.name) for ds in datasets])}); reproject them to one CRS first"
        )
    for ds in datasets:
        if ds.transform.e > 0:
            raise TerrainError(
                f"terrain file {ds.name} is south-up (positive row step); a mosaic needs north-up rasters "
                "(open it alone, or warp it first)"
            )
    scales = {_scale_offset(ds) for ds in datasets}
    if len(scales) > 1:
        raise TerrainError(
            "terrain rasters of a mosaic must share band scale and offset, got "
            + "; ".join(
                f"{Path(ds.name).name}: scale {s:g} offset {o:g}" for ds in datasets for s, o in [_scale_offset(ds)]
            )
        )
    resolutions = sorted({(abs(ds.transform.a), abs(ds.transform.e)) for ds in datasets})
    finest = (min(r[0] for r in resolutions), min(r[1] for r in resolutions))
    mixed = any(
        not (math.isclose(x_res, finest[0], rel_tol=1e-9) and math.isclose(y_res, finest[1], rel_tol=1e-9))
        for x_res, y_res in resolutions
    )
    resampling = Resampling.bilinear if mixed else Resampling.nearest
    if mixed:
        shown = ", ".join(f"{x:.6g}×{y:.6g}" for x, y in resolutions)
        notes.append(
            f"mosaic of mixed resolutions ({shown} CRS units): resampled bilinearly to the finest, "
            f"{finest[0]:.6g}×{finest[1]:.6g}"
        )
    try:
        # rasterio 1.4's merge multiplies Affines with `*`, which affine >= 3.0 flags with a
        # PendingDeprecationWarning; that is rasterio's business, not a problem with the data.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
            merged, transform = rasterio.merge.merge(
                datasets,
                indexes=[1],
                res=finest,
                nodata=_MERGE_NODATA,
                dtype="float32",
                resampling=resampling,
                method="first",
                masked=True,
            )
    except rasterio.errors.RasterioError as exc:
        folder = _common_folder([Path(ds.name) for ds in datasets])
        raise TerrainError(f"terrain rasters under {folder} cannot be mosaicked: {exc}") from exc
    values = np.ascontiguousarray(np.ma.getdata(merged)[0], dtype=np.float32)
    void = _void_cells(values, np.ma.getmaskarray(merged)[0])
    scale, offset = scales.pop()
    if (scale, offset) != (1.0, 0.0):
        values = (values * np.float32(scale) + np.float32(offset)).astype(np.float32)
        notes.append(f"band scale {scale:g} and offset {offset:g} applied")
    return values, void, transform, crs

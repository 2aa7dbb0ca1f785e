"""Writing rasters: :func:`write_geotiff`, the one raster writer of adcov (atomic, verified)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio.crs
import rasterio.errors
from affine import Affine

from simulator.errors import TerrainError

#: Larger rasters are written uncompressed: deflating 16 M float32 cells takes ~0.8 s (of
#: a 1 s viewshed) and saves ~20 % on floors and elevations.
UNCOMPRESSED_ABOVE_CELLS = 4_000_000


def write_geotiff(
    path,
    array: np.ndarray,
    transform: Affine,
    crs,
    *,
    nodata: float | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a single-band GeoTIFF atomically (temporary file in the same folder, then rename).

    The one raster writer of adcov, so rasters stay in this module. A crash or Ctrl-C leaves
    either the previous file or the complete new one, never half a file. GDAL encodes the file
    in memory (``/vsimem``) and it is read back and compared with ``array`` (NaN-aware); Python
    then writes the bytes to a ``.adcov-tmp-*`` sibling, reads them back and renames it into
    place. So a full disk or any other failed write raises (with the OS message) and leaves the
    previous file: GDAL itself only reports write errors on stderr and closes a truncated file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.tif``; its folder must exist.
    array : numpy.ndarray
        2-D grid, row 0 north; written with its dtype, tiled when large, deflate-compressed
        up to :data:`UNCOMPRESSED_ABOVE_CELLS` cells (beyond, compression costs seconds and
        saves little on elevation-like data; uncompressed GeoTIFF is the most portable).
    transform : affine.Affine
        Cell-corner transform of ``array`` (e.g. a :class:`Terrain`'s).
    crs : rasterio.crs.CRS, str or int
        CRS of ``transform``.
    nodata : float, optional
        Value marking cells without data (NaN allowed for float arrays).
    tags : dict of str, optional
        Dataset metadata (e.g. units, provenance).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    TerrainError
        The array is not 2-D, or the file cannot be written (GDAL's or the OS message is
        included); ``path`` then keeps its previous content and no temporary file is left.
    """
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise TerrainError(f"cannot write GeoTIFF {str(path)!r}: expected a file name")
    array = np.asarray(array)
    if array.ndim != 2:
        raise TerrainError(f"cannot write {path}: expected a 2-D grid (rows, cols), got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if not isinstance(crs, rasterio.crs.CRS):
        crs = rasterio.crs.CRS.from_user_input(crs)
    rows, cols = array.shape
    profile = dict(
        driver="GTiff", width=cols, height=rows, count=1, dtype=array.dtype.name, crs=crs,
        transform=transform, BIGTIFF="IF_SAFER",
    )
    if array.size <= UNCOMPRESSED_ABOVE_CELLS:
        profile.update(compress="deflate", num_threads="ALL_CPUS")  # readable by every GIS
    if rows >= 256 and cols >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if nodata is not None:
        profile["nodata"] = nodata
    from rasterio.io import MemoryFile
    from rasterio.windows import Window

    from simulator.fileio import shown_path, write_bytes_atomically

    try:
        with MemoryFile(ext=".tif") as memory:
            with memory.open(**profile) as ds:
                ds.write(array, 1)
                if tags:
                    ds.update_tags(**tags)
            # read back in bands of whole 256-row tiles (~16 MB): a second copy of a large grid is not needed
            band_rows = max(256, (1 << 24) // max(cols * array.itemsize, 1) // 256 * 256)
            with memory.open() as ds:
                same = ds.shape == array.shape and ds.dtypes[0] == array.dtype.name
                for row in range(0, rows, band_rows) if same else ():
                    written = ds.read(1, window=Window(0, row, cols, min(band_rows, rows - row)))
                    expected = np.ascontiguousarray(array[row:row + band_rows])
                    if not (np.array_equal(written.reshape(-1).view(np.uint8), expected.reshape(-1).view(np.uint8))  # bit for bit
                            or np.array_equal(written, expected, equal_nan=expected.dtype.kind in "fc")):  # e.g. byte order
                        same = False
                        break
            if not same:
                raise TerrainError(f"cannot write GeoTIFF {shown_path(path)}: GDAL's encoding does not read back as the grid written")
            write_bytes_atomically(path, memoryview(memory.getbuffer()), verify=True)
    except rasterio.errors.RasterioError as exc:
        raise TerrainError(f"cannot write GeoTIFF {shown_path(path)}: {exc}") from exc
    except TerrainError:
        raise
    except OSError as exc:
        raise TerrainError(f"cannot write GeoTIFF {shown_path(path)}: {exc.strerror or exc}") from exc
    return path

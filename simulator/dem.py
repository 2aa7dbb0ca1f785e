"""DEM sources read in windows, never whole.

A :class:`DemSource` is the metadata of one raster or of a set of tiles (SRTM ``.hgt``,
DTED ``.dt0/.dt1/.dt2``, GeoTIFF, VRT, ... -- anything GDAL opens) on one common grid: the
files are opened only to read their georeferencing, and :meth:`DemSource.read_pixels`
reads the window a computation needs, tile by tile (``.hgt`` tiles are memory-mapped, the
rest read through rasterio windows), keeping int16 as int16. Memory therefore follows the
window, not the DEM's total size.

Conventions are those of :mod:`simulator.terrain` (north-up, cell-corner transform, centre
based fractional pixels, heights in metres above mean sea level, voids by policy). Two
things are specific to a tile set:

* **gaps inside a DTED/SRTM tile set are sea**: neither product ships a tile that holds no
  land, so a 1°×1° cell without a tile inside the set's extent is open sea at 0 m (stated
  in :attr:`DemSource.notes`);
* **beyond the extent** (``outside_terrain``): ``"error"`` (the caller checks first) or
  ``"sea"``, sea level everywhere the DEM does not reach, stated in every output.

Rasters that do not share one grid (mixed resolutions, a south-up raster, different scale
or offset) cannot be windowed tile by tile; :func:`open_dem` then reads them whole through
:func:`simulator.terrain.open_terrain` and says so in the terrain's notes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import rasterio
import rasterio.crs
import rasterio.errors
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from simulator.errors import OutsideTerrainError, TerrainError
from simulator.fileio import write_bytes_atomically
from simulator.terrain import (
    VOID_POLICIES,
    VOID_VALUES_M,
    GridGeoreference,
    _crs_label,
    _expand_paths,
    _format_lat,
    _format_lat_lon,
    _format_lon,
    _open_dataset,
    _resolve_voids,
    _sources_label,
    open_terrain,
)

__all__ = ["OUTSIDE_TERRAIN_POLICIES", "DemSource", "open_dem"]

#: Valid values of ``outside_terrain``: refuse what the DEM does not cover, or take it as sea.
OUTSIDE_TERRAIN_POLICIES: tuple[str, ...] = ("error", "sea")

# Fill value for "no raster here yet" in float windows.
_VOID_F = np.float32(-32767.0)
_VOID_I = np.int16(-32767)
# Rasters are on one grid when their offsets are whole cells to within this. [cells]
_ALIGN_TOLERANCE_CELLS = 1e-6
# sample_m reads blocks of this many cells per side around the points it samples.
_SAMPLE_BLOCK = 256
_OPEN_CACHE_MAX = 8


@dataclass(frozen=True)
class _Raster:
    """One file of a source, placed on the source's grid."""

    path: Path
    row_off: int
    col_off: int
    height: int
    width: int
    nodata: float | None
    hgt: bool  # raw big-endian int16, rows from north: memory-mappable
    stat: tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


class DemSource(GridGeoreference):
    """Metadata of a DEM (one raster or a tile set) and windowed reads on its grid.

    Build one with :func:`open_dem`. The "grid" is the union of the rasters' footprints on
    their common lattice: ``transform`` (cell corners, north-up) and ``shape``.
    """

    def __init__(self, rasters, crs, transform: Affine, shape, *, int16: bool, void_policy: str,
                 outside_terrain: str, gaps_are_sea: bool, notes=(), scale_offset=(1.0, 0.0)):
        self.rasters: tuple[_Raster, ...] = tuple(rasters)
        self.crs = crs
        self.transform = transform
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.int16 = bool(int16)
        self.void_policy = void_policy
        self.outside_terrain = outside_terrain
        self.gaps_are_sea = bool(gaps_are_sea)
        self.notes: tuple[str, ...] = tuple(notes)
        self.scale_offset = (float(scale_offset[0]), float(scale_offset[1]))
        self.source_paths: tuple[Path, ...] = tuple(r.path for r in self.rasters)
        self.void_cells_filled = 0  # per window; see describe()

    # ---- pickling: metadata only (Dask workers open their own files) ------------------------

    def __getstate__(self) -> dict:
        keep = ("rasters", "crs", "transform", "shape", "int16", "void_policy", "outside_terrain", "gaps_are_sea",
                "notes", "scale_offset", "source_paths", "void_cells_filled")
        state = {k: self.__dict__[k] for k in keep}
        state["crs"] = self.crs.to_wkt()
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["crs"] = rasterio.crs.CRS.from_wkt(state["crs"])
        self.__dict__.update(state)

    # ---- geometry (the rest comes from GridGeoreference) -------------------------------------

    def xy_to_pixel(self, x, y):
        """CRS coordinates to fractional centre-based ``(row, col)`` on the source grid."""
        t = self.transform
        return (np.asarray(y, dtype=float) - t.f) / t.e - 0.5, (np.asarray(x, dtype=float) - t.c) / t.a - 0.5

    # ---- identity ----------------------------------------------------------------------------

    @cached_property
    def identity(self) -> str:
        """Cheap identity of the source (paths, sizes, modification and change times, policies):
        equal for the same files unchanged. Not a content hash (see :meth:`content_hash`)."""
        digest = hashlib.sha256()
        for r in self.rasters:
            digest.update(f"{r.path}|{r.stat}|{r.row_off},{r.col_off}\n".encode())
        digest.update(f"{self.void_policy}|{self.outside_terrain}|{self.gaps_are_sea}|{self.transform}".encode())
        return digest.hexdigest()

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 over every file's content digest, placement and the policies.

        Files are hashed streaming from disk (never whole in memory), once per file version:
        digests are remembered by (path, size, mtime, ctime, inode) in memory and in
        ``$ADCOV_CACHE_DIR``'s ``dem-digests/`` folder, so a changed file is always hashed
        again (its ctime changes whatever its mtime says).
        """
        digest = hashlib.sha256()
        for r in self.rasters:
            digest.update(f"{_file_digest(r)}|{r.row_off},{r.col_off},{r.height},{r.width}\n".encode())
        digest.update(f"{self.void_policy}|{self.outside_terrain}|{self.gaps_are_sea}|{tuple(self.transform)[:6]}".encode())
        digest.update(self.crs.to_wkt().encode())
        return digest.hexdigest()

    # ---- reading -----------------------------------------------------------------------------

    def covers_pixels(self, r0: int, r1: int, c0: int, c1: int) -> bool:
        rows, cols = self.shape
        return r0 >= 0 and c0 >= 0 and r1 <= rows and c1 <= cols

    def read_pixels(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Elevation [m MSL] of source rows ``r0:r1`` and columns ``c0:c1`` (may reach past the
        grid: with ``outside_terrain="sea"`` that part is 0 m, else OutsideTerrainError).

        int16 when every raster is int16 without scale/offset (and no void had to be
        interpolated), float32 otherwise; never holds a void.
        """
        r0, r1, c0, c1 = int(r0), int(r1), int(c0), int(c1)
        if r1 <= r0 or c1 <= c0:
            raise ValueError(f"empty window rows {r0}:{r1} cols {c0}:{c1}")
        if not self.covers_pixels(r0, r1, c0, c1) and self.outside_terrain != "sea":
            raise OutsideTerrainError(self._outside_window_message(r0, r1, c0, c1))
        dtype = np.int16 if self.int16 else np.float32
        fill = 0 if self.gaps_are_sea else (_VOID_I if self.int16 else _VOID_F)
        out = np.full((r1 - r0, c1 - c0), fill, dtype=dtype)
        rows, cols = self.shape
        if self.outside_terrain == "sea" and fill != 0:
            # beyond the grid is sea; inside it, cells no raster covers stay voids
            out[: max(0, -r0)] = 0
            out[max(0, rows - r0):] = 0
            out[:, : max(0, -c0)] = 0
            out[:, max(0, cols - c0):] = 0
        # later rasters first, so that the first raster wins on shared edges (as rasterio.merge "first")
        for raster in reversed(self.rasters):
            rr0, rr1 = max(r0, raster.row_off), min(r1, raster.row_off + raster.height)
            cc0, cc1 = max(c0, raster.col_off), min(c1, raster.col_off + raster.width)
            if rr1 <= rr0 or cc1 <= cc0:
                continue
            target = out[rr0 - r0: rr1 - r0, cc0 - c0: cc1 - c0]
            self._read_raster(raster, rr0 - raster.row_off, rr1 - raster.row_off,
                              cc0 - raster.col_off, cc1 - raster.col_off, target)
        out = self._resolve_voids(out, r0, c0)
        if self.scale_offset != (1.0, 0.0):
            out = (out.astype(np.float32) * np.float32(self.scale_offset[0]) + np.float32(self.scale_offset[1]))
        return out

    def read_lattice(self, rows, cols) -> np.ndarray:
        """Elevation [m] at the posts ``rows x cols`` (1-D increasing integer indices; a
        decimated picture of a large DEM), float32. Cells no raster covers, voids and posts
        outside the grid are NaN (0 m where no tile covers a tile set whose missing tiles are
        sea). Reads only those posts from ``.hgt`` tiles and small tiles;
        a large raster is read through GDAL's nearest-neighbour decimation."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.full((rows.size, cols.size), np.nan, dtype=np.float32)
        covered = np.zeros(out.shape, dtype=bool)
        for raster in self.rasters:
            r_in = np.flatnonzero((rows >= raster.row_off) & (rows < raster.row_off + raster.height))
            c_in = np.flatnonzero((cols >= raster.col_off) & (cols < raster.col_off + raster.width))
            if r_in.size == 0 or c_in.size == 0:
                continue
            rr = rows[r_in] - raster.row_off
            cc = cols[c_in] - raster.col_off
            try:
                if raster.hgt:
                    tile = np.memmap(raster.path, dtype=">i2", mode="r", shape=(raster.height, raster.width))
                    values = np.asarray(tile[np.ix_(rr, cc)], dtype=np.float32)
                    del tile
                elif raster.height * raster.width * 4 <= _SMALL_TILE_BYTES:
                    values = _small_tile(raster, np.float32)[np.ix_(rr, cc)].astype(np.float32)
                else:
                    with _open_dataset(raster.path) as ds:
                        window = Window(int(cc[0]), int(rr[0]), int(cc[-1] - cc[0] + 1), int(rr[-1] - rr[0] + 1))
                        values = ds.read(1, window=window, out_shape=(rr.size, cc.size), out_dtype="float32",
                                         resampling=Resampling.nearest)
            except (rasterio.errors.RasterioError, OSError, ValueError) as exc:
                raise TerrainError(f"terrain file {raster.path} cannot be read: {exc}") from exc
            values = np.array(values, dtype=np.float32)
            _mark_nodata(values, raster.nodata)
            values[self._void_mask(values)] = np.nan
            if self.scale_offset != (1.0, 0.0):
                values = values * np.float32(self.scale_offset[0]) + np.float32(self.scale_offset[1])
            out[np.ix_(r_in, c_in)] = values
            covered[np.ix_(r_in, c_in)] = True
        if self.gaps_are_sea:
            inside = ((rows >= 0) & (rows < self.shape[0]))[:, None] & ((cols >= 0) & (cols < self.shape[1]))[None, :]
            out[inside & ~covered] = 0.0
        return out

    def _read_raster(self, raster: _Raster, rr0, rr1, cc0, cc1, target: np.ndarray) -> None:
        try:
            if raster.hgt:
                tile = np.memmap(raster.path, dtype=">i2", mode="r", shape=(raster.height, raster.width))
                target[...] = tile[rr0:rr1, cc0:cc1]
                del tile
                return
            if raster.height * raster.width * target.itemsize <= _SMALL_TILE_BYTES:
                # small tiles (DTED, most tile sets) are read whole once and kept a while:
                # the windows of neighbouring units share them
                target[...] = _small_tile(raster, target.dtype)[rr0:rr1, cc0:cc1]
                return
            with _open_dataset(raster.path) as ds:
                window = Window(cc0, rr0, cc1 - cc0, rr1 - rr0)
                if target.flags.c_contiguous:
                    ds.read(1, window=window, out=target)
                else:
                    target[...] = ds.read(1, window=window, out_dtype=target.dtype)
        except (rasterio.errors.RasterioError, OSError, ValueError) as exc:
            if isinstance(exc, TerrainError):
                raise
            raise TerrainError(f"terrain file {raster.path} cannot be read: {exc}") from exc
        _mark_nodata(target, raster.nodata)

    @staticmethod
    def _void_mask(values: np.ndarray) -> np.ndarray:
        if values.dtype == np.int16:
            return values <= -32767  # -32767 (DTED) and -32768 (SRTM); nothing else is that low
        void = ~np.isfinite(values)
        for v in VOID_VALUES_M:
            void |= values == v
        return void

    def _resolve_voids(self, values: np.ndarray, r0: int, c0: int) -> np.ndarray:
        # look for voids a block of rows at a time: a full-window mask would double the
        # memory of a 1" window (1 byte per 2-byte post)
        step = max(1, 8_000_000 // max(values.shape[1], 1))
        if not any(self._void_mask(values[i : i + step]).any() for i in range(0, values.shape[0], step)):
            return values
        void = self._void_mask(values)
        transform = self.transform @ Affine.translation(c0, r0)
        where = _sources_label(self.source_paths)
        resolved = _resolve_voids(values.astype(np.float32), void, transform, self.crs, self.void_policy, where,
                                  mosaic=len(self.rasters) > 1)
        if values.dtype == np.int16 and self.void_policy == "sea":
            return resolved.astype(np.int16)
        return np.ascontiguousarray(resolved, dtype=np.float32)

    # ---- sampling ----------------------------------------------------------------------------

    def _pixel_of(self, lat_deg, lon_deg):
        x, y = self.lonlat_to_xy(lon_deg, lat_deg)
        row, col = self.xy_to_pixel(x, y)
        nearest_r, nearest_c = np.round(row), np.round(col)
        row = np.where(np.abs(row - nearest_r) <= 1e-8, nearest_r, row)
        col = np.where(np.abs(col - nearest_c) <= 1e-8, nearest_c, col)
        rows, cols = self.shape
        with np.errstate(invalid="ignore"):
            inside = (row >= 0.0) & (row <= rows - 1) & (col >= 0.0) & (col <= cols - 1)
        return row, col, inside

    def contains(self, lat_deg, lon_deg):
        """Whether elevation is defined at the points (inside the posts, or anywhere with
        ``outside_terrain="sea"`` for finite coordinates)."""
        row, col, inside = self._pixel_of(lat_deg, lon_deg)
        if self.outside_terrain == "sea":
            inside = np.isfinite(row) & np.isfinite(col)
        return inside[()]

    def sample_pixels(self, row, col) -> np.ndarray:
        """Bilinear elevation [m] at fractional source pixels (float64; reads blocks around them).

        Same arithmetic as :meth:`simulator.terrain.Terrain.sample_m`; points outside the
        grid are 0 m with ``outside_terrain="sea"``, NaN otherwise.
        """
        row = np.asarray(row, dtype=np.float64)
        col = np.asarray(col, dtype=np.float64)
        out = np.full(row.shape, np.nan, dtype=np.float64)
        finite = np.isfinite(row) & np.isfinite(col)
        rows, cols = self.shape
        if self.outside_terrain != "sea":
            finite &= (row >= 0) & (row <= rows - 1) & (col >= 0) & (col <= cols - 1)
        idx = np.flatnonzero(finite.ravel())
        if idx.size == 0:
            return out
        fr_all = row.ravel()[idx]
        fc_all = col.ravel()[idx]
        r0_all = np.floor(fr_all).astype(np.int64)
        c0_all = np.floor(fc_all).astype(np.int64)
        if self.outside_terrain != "sea":
            r0_all = np.clip(r0_all, 0, max(rows - 2, 0))
            c0_all = np.clip(c0_all, 0, max(cols - 2, 0))
        block_r = r0_all // _SAMPLE_BLOCK
        block_c = c0_all // _SAMPLE_BLOCK
        order = np.lexsort((block_c, block_r))
        keys = np.stack([block_r[order], block_c[order]], axis=1)
        starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
        flat = out.ravel()
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else len(order)
            sel = order[start:stop]
            br, bc = int(keys[start, 0]), int(keys[start, 1])
            wr0, wc0 = br * _SAMPLE_BLOCK, bc * _SAMPLE_BLOCK
            wr1, wc1 = wr0 + _SAMPLE_BLOCK + 1, wc0 + _SAMPLE_BLOCK + 1
            if self.outside_terrain != "sea":
                wr1, wc1 = min(wr1, rows), min(wc1, cols)
            z = self.read_pixels(wr0, wr1, wc0, wc1)
            r0 = r0_all[sel] - wr0
            c0 = c0_all[sel] - wc0
            r1 = np.minimum(r0 + 1, z.shape[0] - 1)
            c1 = np.minimum(c0 + 1, z.shape[1] - 1)
            fr = fr_all[sel] - r0_all[sel]
            fc = fc_all[sel] - c0_all[sel]
            top = z[r0, c0] * (1.0 - fc) + z[r0, c1] * fc
            bottom = z[r1, c0] * (1.0 - fc) + z[r1, c1] * fc
            flat[idx[sel]] = top * (1.0 - fr) + bottom * fr
        return out

    def sample_m(self, lat_deg, lon_deg, *, outside: str = "raise"):
        """Bilinear terrain elevation at WGS84 points (see :meth:`Terrain.sample_m`). [m]"""
        if outside not in ("raise", "nan"):
            raise ValueError(f"outside must be 'raise' or 'nan', got {outside!r}")
        lat_deg, lon_deg = np.broadcast_arrays(np.asarray(lat_deg, dtype=float), np.asarray(lon_deg, dtype=float))
        row, col, inside = self._pixel_of(lat_deg, lon_deg)
        if self.outside_terrain == "sea":
            inside = np.isfinite(row) & np.isfinite(col)
        if outside == "raise" and not np.all(inside):
            raise OutsideTerrainError(self._outside_message(lat_deg[~inside], lon_deg[~inside]))
        values = self.sample_pixels(np.where(inside, row, np.nan), np.where(inside, col, np.nan))
        return values[()]

    # ---- messages ----------------------------------------------------------------------------

    def _outside_message(self, lat_deg, lon_deg) -> str:
        n = lat_deg.size
        shown = ", ".join(_format_lat_lon(a, o) for a, o in zip(lat_deg[:5], lon_deg[:5], strict=True))
        more = f" and {n - 5} more" if n > 5 else ""
        w, s, e, nn = self.bounds_deg
        return (f"{'point' if n == 1 else f'{n} points'} outside the terrain {_sources_label(self.source_paths)}: "
                f"{shown}{more}; terrain bounds_deg (west, south, east, north) = ({w:.5f}, {s:.5f}, {e:.5f}, {nn:.5f}) [deg]")

    def _outside_window_message(self, r0, r1, c0, c1) -> str:
        x0, y0 = self.pixel_to_xy(r0 - 0.5, c0 - 0.5)
        x1, y1 = self.pixel_to_xy(r1 - 0.5, c1 - 0.5)
        w, s, e, n = self.bounds_deg
        return (f"window {self.describe_box(x0, y1, x1, y0)} reaches past the terrain {_sources_label(self.source_paths)} "
                f"(bounds_deg {w:.4f}, {s:.4f}, {e:.4f}, {n:.4f}); add terrain there or set outside_terrain: sea")

    def describe_box(self, x0, y0, x1, y1) -> str:
        lon, lat = self.xy_to_lonlat(np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1]))
        return f"{_format_lon(float(np.min(lon)))}–{_format_lon(float(np.max(lon)))} {_format_lat(float(np.min(lat)))}–{_format_lat(float(np.max(lat)))}"

    def describe(self) -> str:
        """One line: sources, CRS, grid, cell size, footprint, policies."""
        rows, cols = self.shape
        x_res, y_res = self.resolution
        dx_m, dy_m = self.resolution_m
        cell = f"{x_res * 3600:.4g}″ × {y_res * 3600:.4g}″" if self.is_geographic else f"{x_res:.4g} × {y_res:.4g} m"
        w, s, e, n = self.bounds_deg
        kind = "geographic" if self.is_geographic else "projected"
        text = (f"{_sources_label(self.source_paths)}: {_crs_label(self.crs)} ({kind}), {rows} × {cols} cells of {cell} "
                f"(≈ {dx_m:.0f} × {dy_m:.0f} m on the ground), footprint {_format_lon(w)}–{_format_lon(e)} "
                f"{_format_lat(s)}–{_format_lat(n)}, read in windows ({'int16' if self.int16 else 'float32'}), "
                f"voids: {self.void_policy}")
        if self.gaps_are_sea and len(self.rasters) > 1:
            text += "; area no tile covers inside the tile set is sea (DTED/SRTM ship no all-sea tiles)"
        if self.outside_terrain == "sea":
            text += "; beyond the terrain: sea level (outside_terrain: sea)"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text

    def __repr__(self) -> str:
        rows, cols = self.shape
        return f"DemSource({_sources_label(self.source_paths)}, {_crs_label(self.crs)}, {rows}×{cols} cells)"


# --------------------------------------------------------------------------------------------
# small tiles, kept decoded for a while
# --------------------------------------------------------------------------------------------

#: A raster at most this large is read whole and kept (least recently used first out). [bytes]
_SMALL_TILE_BYTES = 8 * 2**20
_TILE_CACHE_BYTES = 256 * 2**20
_tiles: OrderedDict[tuple, np.ndarray] = OrderedDict()
_tiles_bytes = 0
_tiles_lock = threading.Lock()


def _mark_nodata(values: np.ndarray, nodata: float | None) -> None:
    """Cells equal to a raster's own nodata value become the void marker, in place."""
    if nodata is not None and nodata not in VOID_VALUES_M and math.isfinite(nodata):
        values[values == values.dtype.type(nodata)] = _VOID_I if values.dtype == np.int16 else _VOID_F


def _small_tile(raster: _Raster, dtype) -> np.ndarray:
    global _tiles_bytes
    key = (str(raster.path), raster.stat, np.dtype(dtype).str)
    with _tiles_lock:
        if key in _tiles:
            _tiles.move_to_end(key)
            return _tiles[key]
    with _open_dataset(raster.path) as ds:
        values = ds.read(1, out_dtype=dtype)
    _mark_nodata(values, raster.nodata)
    values.flags.writeable = False
    with _tiles_lock:
        _tiles[key] = values
        _tiles_bytes += values.nbytes
        while _tiles_bytes > _TILE_CACHE_BYTES and len(_tiles) > 1:
            _, old = _tiles.popitem(last=False)
            _tiles_bytes -= old.nbytes
    return values


# --------------------------------------------------------------------------------------------
# file digests
# --------------------------------------------------------------------------------------------

_digest_memo: dict[tuple, str] = {}
_digest_lock = threading.Lock()


#: Files smaller than this are hashed again in each process instead of memoised on disk. [bytes]
_DIGEST_MEMO_MIN_BYTES = 4 * 2**20


def _digest_dir() -> Path:
    from simulator.cache import default_cache_dir

    return default_cache_dir() / "dem-digests"


def _file_digest(raster: _Raster) -> str:
    key = (str(raster.path),) + raster.stat
    with _digest_lock:
        if key in _digest_memo:
            return _digest_memo[key]
    if raster.stat[0] < _DIGEST_MEMO_MIN_BYTES:
        # hashing a small tile (a DTED0 tile is 30 KB) costs less than its memo file
        with open(raster.path, "rb") as handle:
            value = hashlib.file_digest(handle, "sha256").hexdigest()
        with _digest_lock:
            _digest_memo[key] = value
        return value
    name = hashlib.sha256(repr(key).encode()).hexdigest()
    memo_path = _digest_dir() / name[:2] / name
    try:
        text = memo_path.read_text() if memo_path.is_file() else ""
        if len(text) == 64 and all(ch in "0123456789abcdef" for ch in text):
            with _digest_lock:
                _digest_memo[key] = text
            return text
    except OSError:
        pass
    with open(raster.path, "rb") as handle:
        value = hashlib.file_digest(handle, "sha256").hexdigest()
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(memo_path, value.encode("ascii"))
    except OSError:
        pass  # the memo is an optimisation only
    with _digest_lock:
        _digest_memo[key] = value
    return value


# --------------------------------------------------------------------------------------------
# opening
# --------------------------------------------------------------------------------------------

_open_cache: OrderedDict[tuple, object] = OrderedDict()
_open_lock = threading.Lock()


def _stat(path: Path) -> tuple[int, int, int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise TerrainError(f"terrain file {path} cannot be read: {exc.strerror or exc}") from exc
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def open_dem(paths, *, void_policy: str = "fill", outside_terrain: str = "error"):
    """Open a DEM for windowed reading: a :class:`DemSource`, or a whole
    :class:`~simulator.terrain.Terrain` when its rasters do not share one grid.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        A raster, a folder of rasters (searched recursively) or a list of both, as
        :func:`simulator.terrain.open_terrain` takes.
    void_policy : {"fill", "sea", "error"}
        How voids inside the rasters are resolved (per window read).
    outside_terrain : {"error", "sea"}
        What lies beyond the DEM's extent.

    Only metadata is read here; opened sources are remembered while the files are unchanged.
    """
    if void_policy not in VOID_POLICIES:
        raise TerrainError(f"void_policy must be one of {', '.join(map(repr, VOID_POLICIES))}, got {void_policy!r}")
    if outside_terrain not in OUTSIDE_TERRAIN_POLICIES:
        raise TerrainError(
            f"outside_terrain must be one of {', '.join(map(repr, OUTSIDE_TERRAIN_POLICIES))}, got {outside_terrain!r}")
    files = _expand_paths(paths)
    key = (tuple((str(p),) + _stat(p) for p in files), void_policy, outside_terrain)
    with _open_lock:
        if key in _open_cache:
            _open_cache.move_to_end(key)
            return _open_cache[key]
    source = _build_source(files, void_policy, outside_terrain)
    with _open_lock:
        _open_cache[key] = source
        while len(_open_cache) > _OPEN_CACHE_MAX:
            _open_cache.popitem(last=False)
    return source


def clear_dem_cache() -> None:
    with _open_lock:
        _open_cache.clear()


def _is_hgt(ds, path: Path) -> bool:
    return (ds.driver == "SRTMHGT" and ds.dtypes[0] == "int16" and path.suffix.lower() == ".hgt"
            and path.stat().st_size == 2 * ds.width * ds.height)


def _build_source(files: tuple[Path, ...], void_policy: str, outside_terrain: str):
    metas = []
    for path in files:
        with _open_dataset(path) as ds:
            metas.append(dict(
                path=path, crs=ds.crs, transform=ds.transform, height=ds.height, width=ds.width,
                dtype=ds.dtypes[0], nodata=ds.nodata, scale_offset=(float(ds.scales[0]), float(ds.offsets[0])),
                driver=ds.driver, hgt=_is_hgt(ds, path),
            ))
    first = metas[0]
    crs, t0 = first["crs"], first["transform"]
    why = None
    if any(m["crs"] != crs for m in metas[1:]) or len({m["scale_offset"] for m in metas}) > 1:
        why = ""  # open_terrain names the CRSs or scales that differ
    elif any(m["transform"].e > 0 for m in metas):
        why = "a south-up raster"
    elif any(not (math.isclose(abs(m["transform"].a), abs(t0.a), rel_tol=1e-9)
                  and math.isclose(abs(m["transform"].e), abs(t0.e), rel_tol=1e-9)) for m in metas):
        why = "rasters of different resolutions"
    else:
        for m in metas:
            col = (m["transform"].c - t0.c) / t0.a
            row = (m["transform"].f - t0.f) / t0.e
            if abs(col - round(col)) > _ALIGN_TOLERANCE_CELLS or abs(row - round(row)) > _ALIGN_TOLERANCE_CELLS:
                why = "rasters not on one grid"
                break
    if why is not None:
        # cannot window tile by tile: read whole
        terrain = open_terrain(list(files) if len(files) > 1 else files[0], void_policy=void_policy)
        notes = terrain.notes + ((f"read whole ({why}): windowed reading needs rasters on one grid",) if why else ())
        return dataclasses.replace(terrain, outside_terrain=outside_terrain, notes=notes)
    rasters = []
    row_min = col_min = math.inf
    row_max = col_max = -math.inf
    for m in metas:
        col = int(round((m["transform"].c - t0.c) / t0.a))
        row = int(round((m["transform"].f - t0.f) / t0.e))
        row_min, col_min = min(row_min, row), min(col_min, col)
        row_max, col_max = max(row_max, row + m["height"]), max(col_max, col + m["width"])
        rasters.append((m, row, col))
    transform = t0 @ Affine.translation(col_min, row_min)
    placed = [
        _Raster(m["path"], row - row_min, col - col_min, m["height"], m["width"], m["nodata"], m["hgt"], _stat(m["path"]))
        for m, row, col in rasters
    ]
    scale_offset = first["scale_offset"]
    notes = (f"band scale {scale_offset[0]:g} and offset {scale_offset[1]:g} applied",) if scale_offset != (1.0, 0.0) else ()
    int16 = all(m["dtype"] == "int16" for m in metas) and scale_offset == (1.0, 0.0)
    gaps_are_sea = all(m["driver"] in ("DTED", "SRTMHGT") for m in metas)
    return DemSource(placed, crs, transform, (row_max - row_min, col_max - col_min), int16=int16,
                     void_policy=void_policy, outside_terrain=outside_terrain, gaps_are_sea=gaps_are_sea, notes=notes,
                     scale_offset=scale_offset)


"""Tests for simulator.terrain on the bundled DTED Level 0 data (scenarios/terrain/).

Authorities: the DTED Level 0 format itself (decoded below by an independent numpy reader,
the one documented in scenarios/terrain/PROVENANCE.md), the reference posts listed there,
the bundled mosaic (made independently with rasterio.merge), and GDAL's warper (reprojection
to UTM). Rasters with voids, other CRSs and broken files are made in tmp_path.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.errors
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.enums import Resampling
from rasterio.warp import reproject
from scipy.ndimage import maximum_filter

from simulator.errors import AdcovError, OutsideTerrainError, TerrainError
from simulator.terrain import (
    FILL_MAX_SEARCH_CELLS,
    VOID_POLICIES,
    Terrain,
    clear_terrain_cache,
    open_terrain,
    write_geotiff,
)

TERRAIN_DIR = Path(__file__).resolve().parents[1] / "scenarios" / "terrain"
KURILS_TIF = TERRAIN_DIR / "kurils_dted0.tif"
CRIMEA_TIF = TERRAIN_DIR / "crimea_dted0.tif"
DTED_DIR = TERRAIN_DIR / "dted0"
DTED_TILES = ("e145/n43", "e145/n44", "e146/n43", "e146/n44", "e147/n44", "e147/n45")
# 1° cells of 145–148°E × 43–46°N with no DTED tile: open sea (PROVENANCE.md).
MISSING_TILES = ("e145/n45", "e146/n45", "e147/n43")

POST_DEG = 1.0 / 120.0  # DTED Level 0 post spacing, 30″ [deg]
POSTS_PER_TILE = 121

# ---- tolerances (physical units) ------------------------------------------------------------

# Float64 arithmetic on float32 posts: the same bilinear formula evaluated in a different
# order, or transforms that differ in the last bit, agree to far better than this. [m]
ROUNDING_M = 1e-6
# Centre-based pixel coordinates survive a pixel -> CRS -> pixel round trip to this: xy_to_pixel
# snaps values within 1e-8 cell of an integer onto it (so exact posts sample exactly), plus
# float64 rounding (< 1e-10 cell here). [cells]
ROUND_TRIP_CELLS = 2e-8

# Projected vs geographic. UTM_CELL_M is the grid GDAL resamples the 30″ posts onto.
UTM_CELL_M = 500.0
# gdalwarp's default error threshold for its approximate transformer (`-et 0.125`), which
# rasterio.warp.reproject uses and cannot turn off: each UTM cell centre is mapped onto the
# source grid to within this many source cells. [cells]
GDAL_APPROX_ERROR_CELLS = 0.125
# Comparison points are lowland places where the terrain slope around them (within ±2 posts,
# wider than a UTM cell diagonal) is at most MAX_LOWLAND_SLOPE; the test asserts that from
# the posts before comparing. [m/m]
MAX_LOWLAND_SLOPE = 0.06
# Bound: the UTM-sampled value is a convex combination of the four surrounding UTM cells,
# each GDAL's bilinear value at a point at most one UTM cell diagonal (√2·500 m) from the query
# point, mislocated by at most GDAL_APPROX_ERROR_CELLS source cells (0.125·(657+926) m ≈ 198 m
# of ground at 44°N); with a slope ≤ G the difference is at most G·(√2·500 + 198) m. At G = 0.06
# that is 54 m: a loose but rigorous bound (the observed differences are a few metres);
# the sharp check of pixel conventions is test_projected_cell_centres_match_gdal.
DTED0_POST_GROUND_M = (657.0 + 926.0)  # east-west + north-south post spacing at 44°N [m]
REPROJECTION_TOLERANCE_M = MAX_LOWLAND_SLOPE * (
    math.sqrt(2.0) * UTM_CELL_M + GDAL_APPROX_ERROR_CELLS * DTED0_POST_GROUND_M
)

# ---- reference posts (scenarios/terrain/PROVENANCE.md) ----------------------------------------
# (name, tile, lat_deg, lon_deg, post height m); each lat/lon is an exact 30″ post.
REFERENCE_POSTS = [
    ("Tyatya, highest post", "e146/n44", 44.350, 146.250, 1625.0),
    ("Rausu-dake, highest post", "e145/n44", 44.075, 145.125, 1480.0),
    ("Iturup, highest post (Stokap area)", "e147/n44", 44 + 101 / 120, 147.350, 1551.0),
    ("Shiretoko Io-zan, tile maximum", "e145/n44", 44.125, 145 + 20 / 120, 1500.0),
    ("Yuzhno-Kurilsk, post nearest 44.03N 145.86E", "e145/n44", 44 + 4 / 120, 145 + 103 / 120, 9.0),
    ("Kasatka Bay, post nearest 45.00N 147.73E", "e147/n45", 45.0, 147 + 88 / 120, 40.0),
    ("Pacific SE of Shikotan (sea)", "e146/n43", 43.2, 146.8, 0.0),
]


def tile_path(tile: str) -> Path:
    return DTED_DIR / f"{tile}.dt0"


def decode_dted(path: Path) -> np.ndarray:
    """Independent DTED reader (numpy, sign-magnitude), from scenarios/terrain/PROVENANCE.md.

    Returns posts with rows north -> south, columns west -> east.
    """
    b = path.read_bytes()
    ncols, nrows = int(b[47:51]), int(b[51:55])
    rec = 8 + 2 * nrows + 4
    raw = np.frombuffer(b, np.uint8, ncols * rec, 3428).reshape(ncols, rec)[:, 8 : 8 + 2 * nrows]
    u = raw.copy().view(">u2").astype(np.int32)
    v = np.where(u & 0x8000, -(u & 0x7FFF), u)
    return np.flipud(v.T)


def write_raster(path: Path, array: np.ndarray, transform: Affine | None, crs, *, nodata=None, driver="GTiff") -> Path:
    profile = dict(driver=driver, width=array.shape[1], height=array.shape[0], count=1, dtype=array.dtype.name)
    if transform is not None:
        profile["transform"] = transform
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(array, 1)
    return path


def post_transform(west_post_deg: float, north_post_deg: float, step_deg: float = POST_DEG) -> Affine:
    """Cell-corner transform of a point-registered grid whose NW post is at the given lon/lat."""
    return Affine(step_deg, 0.0, west_post_deg - step_deg / 2, 0.0, -step_deg, north_post_deg + step_deg / 2)


@pytest.fixture(scope="module")
def kurils() -> Terrain:
    return open_terrain(KURILS_TIF)


@pytest.fixture(scope="module")
def tyatya_tile() -> Terrain:
    return open_terrain(tile_path("e146/n44"))


@pytest.fixture(scope="module")
def utm_pair(kurils, tmp_path_factory):
    """(geographic window, the same terrain reprojected by GDAL to UTM 55N at 500 m)."""
    geo = kurils.window(144.5, 43.0, 148.5, 45.8)
    west, north = 338_000.0, 5_040_000.0
    cols, rows = 486, 500  # ≈ 144.9–148.1°E, 43.2–45.5°N
    dst_transform = Affine(UTM_CELL_M, 0.0, west, 0.0, -UTM_CELL_M, north)
    utm_m = np.full((rows, cols), np.nan, dtype=np.float32)
    reproject(
        np.asarray(geo.elevation_m),
        utm_m,
        src_transform=geo.transform,
        src_crs=geo.crs,
        dst_transform=dst_transform,
        dst_crs="EPSG:32655",
        resampling=Resampling.bilinear,
        dst_nodata=np.nan,
    )
    assert np.isfinite(utm_m).all(), "the UTM grid must lie inside the geographic window"
    path = write_raster(tmp_path_factory.mktemp("utm") / "kurils_utm55n_500m.tif", utm_m, dst_transform, "EPSG:32655")
    return geo, open_terrain(path)


# ---- DTED tiles -------------------------------------------------------------------------------


def test_dted_tile_grid(tyatya_tile):
    t = tyatya_tile
    assert t.shape == (POSTS_PER_TILE, POSTS_PER_TILE)
    assert t.crs.to_epsg() == 4326 and t.is_geographic
    assert t.resolution == pytest.approx((POST_DEG, POST_DEG), rel=1e-12)
    # Point registered: posts on 146–147°E, 44–45°N; pixel-area bounds half a post wider.
    half = POST_DEG / 2
    assert t.bounds == pytest.approx((146 - half, 44 - half, 147 + half, 45 + half), abs=1e-12)
    assert t.bounds_deg == pytest.approx(t.bounds, abs=1e-12)
    assert t.pixel_to_xy(0, 0) == pytest.approx((146.0, 45.0), abs=1e-12)
    assert t.pixel_to_xy(120, 120) == pytest.approx((147.0, 44.0), abs=1e-12)
    # 30″ at 44.5°N: ≈ 662 m east-west, ≈ 926 m north-south (geodesic).
    assert t.resolution_m == pytest.approx((662.0, 926.0), abs=3.0)
    assert t.source_paths == (tile_path("e146/n44").resolve(),)
    assert (t.void_cells_filled, t.void_policy, t.void_filled) == (0, "fill", None)


def test_elevation_array_contract(tyatya_tile):
    z = tyatya_tile.elevation_m
    assert z.dtype == np.float32 and z.flags.c_contiguous and not z.flags.writeable
    with pytest.raises(ValueError):
        z[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        tyatya_tile.void_policy = "sea"  # type: ignore[misc]
    assert np.isfinite(z).all() and z.min() > -32767


@pytest.mark.parametrize("tile", DTED_TILES)
def test_dted_decoding_matches_independent_reader(tile):
    """GDAL's DTED driver (via open_terrain) equals the numpy sign-magnitude reader."""
    assert np.array_equal(open_terrain(tile_path(tile)).elevation_m, decode_dted(tile_path(tile)))


@pytest.mark.parametrize(
    ("name", "tile", "lat_deg", "lon_deg", "height_m"), REFERENCE_POSTS, ids=[p[0] for p in REFERENCE_POSTS]
)
def test_reference_posts(name, tile, lat_deg, lon_deg, height_m, kurils):
    t = open_terrain(tile_path(tile))
    # Exact at a post, in the tile and in the merged GeoTIFF.
    assert t.sample_m(lat_deg, lon_deg) == height_m
    assert kurils.sample_m(lat_deg, lon_deg) == height_m
    row, col = t.xy_to_pixel(*t.lonlat_to_xy(lon_deg, lat_deg))
    assert float(row).is_integer() and float(col).is_integer()
    assert t.elevation_m[int(row), int(col)] == height_m


def test_summit_posts_are_tile_maxima(tyatya_tile):
    # Tyatya is the highest post of e146/n44 (1625 m; the volcano is 1819 m: DTED0 runs low).
    assert tyatya_tile.elevation_m.max() == 1625.0
    assert np.unravel_index(np.argmax(tyatya_tile.elevation_m), tyatya_tile.shape) == (78, 30)


def test_bilinear_between_posts_by_hand():
    """Yuzhno-Kurilsk, 44.03°N 145.86°E, lies between posts of e145/n44: row 116.4, col 103.2."""
    t = open_terrain(tile_path("e145/n44"))
    z = decode_dted(tile_path("e145/n44")).astype(float)
    fr, fc = 0.4, 0.2  # (45 - 44.03)·120 = 116.4 ; (145.86 - 145)·120 = 103.2
    hand_m = (1 - fr) * ((1 - fc) * z[116, 103] + fc * z[116, 104]) + fr * ((1 - fc) * z[117, 103] + fc * z[117, 104])
    assert t.sample_m(44.03, 145.86) == pytest.approx(hand_m, abs=ROUNDING_M)
    # Nearest post 9 m (PROVENANCE.md); the bilinear value is between the four posts.
    assert z[116, 103] == 9.0
    corners = z[116:118, 103:105]
    assert corners.min() <= hand_m <= corners.max()


def test_bilinear_midpoint_and_edges(tyatya_tile):
    t = tyatya_tile
    z = t.elevation_m.astype(float)
    # Centre of the four posts around Tyatya's NE quadrant: the mean of the four.
    lat, lon = 44.35 + POST_DEG / 2, 146.25 + POST_DEG / 2
    assert t.sample_m(lat, lon) == pytest.approx(z[77:79, 30:32].mean(), abs=ROUNDING_M)
    # Halfway along a row between two posts: their mean (edge of the grid included).
    assert t.sample_m(45.0, 146.0 + POST_DEG / 2) == pytest.approx((z[0, 0] + z[0, 1]) / 2, abs=ROUNDING_M)
    assert t.sample_m(44.0, 147.0) == z[120, 120]
    # Scalar in, scalar out; arrays broadcast and agree with scalar calls.
    lats = np.array([[44.35], [44.5]])
    lons = np.array([146.25, 146.6, 146.9])
    grid = t.sample_m(lats, lons)
    assert grid.shape == (2, 3) and grid.dtype == np.float64
    assert grid[1, 2] == t.sample_m(44.5, 146.9)
    assert np.ndim(t.sample_m(44.5, 146.9)) == 0


# ---- mosaics ------------------------------------------------------------------------------------


def test_tile_folder_mosaic_equals_merged_geotiff(kurils):
    mosaic = open_terrain(DTED_DIR, void_policy="sea")
    assert mosaic.shape == (361, 361)
    assert len(mosaic.source_paths) == len(DTED_TILES)
    half = POST_DEG / 2
    assert mosaic.bounds == pytest.approx((145 - half, 43 - half, 148 + half, 46 + half), abs=1e-9)
    same_area = kurils.window(145.0, 43.0, 148.0, 46.0)
    assert same_area.shape == mosaic.shape
    assert tuple(same_area.transform)[:6] == pytest.approx(tuple(mosaic.transform)[:6], abs=1e-12)
    assert np.array_equal(mosaic.elevation_m, same_area.elevation_m)  # every post, exactly
    rng = np.random.default_rng(20260101)
    lat = rng.uniform(43.0, 46.0, 5000)
    lon = rng.uniform(145.0, 148.0, 5000)
    assert np.allclose(mosaic.sample_m(lat, lon), kurils.sample_m(lat, lon), rtol=0, atol=ROUNDING_M)


def test_tile_folder_mosaic_counts_missing_tiles_as_voids():
    mosaic = open_terrain(DTED_DIR, void_policy="sea")
    # Three missing 1° tiles, 120 × 120 posts each not shared with a present tile.
    assert mosaic.void_cells_filled == len(MISSING_TILES) * 120 * 120
    assert mosaic.void_filled is not None and int(mosaic.void_filled.sum()) == mosaic.void_cells_filled
    assert (mosaic.sample_m([45.5, 45.5, 43.5], [145.5, 146.5, 147.5]) == 0.0).all()
    assert "43200 void cells filled" in mosaic.describe() and "'sea'" in mosaic.describe()
    # A window only over present tiles has no filled cell.
    assert mosaic.window(145.1, 43.1, 146.9, 44.9).void_cells_filled == 0
    inside_missing_tile = mosaic.window(145.1, 45.1, 145.9, 45.9)
    assert inside_missing_tile.void_cells_filled == inside_missing_tile.elevation_m.size


def test_tile_folder_default_fill_cannot_reach_missing_tiles():
    with pytest.raises(TerrainError) as info:
        open_terrain(DTED_DIR)
    message = str(info.value)
    assert str(DTED_DIR) in message and f"{FILL_MAX_SEARCH_CELLS:g} cells" in message and "'sea'" in message


def test_tile_folder_error_policy_reports_count_and_first_void():
    with pytest.raises(TerrainError) as info:
        open_terrain(DTED_DIR, void_policy="error")
    message = str(info.value)
    assert "43200" in message and "46.00000°N 145.00000°E" in message


def test_list_of_files_equals_folder():
    folder = open_terrain(DTED_DIR, void_policy="sea")
    files = open_terrain([tile_path(t) for t in reversed(DTED_TILES)], void_policy="sea")
    # The same tiles in a different order: shared edges may come from the other tile.
    assert files.shape == folder.shape
    interior = np.ones(folder.shape, bool)
    interior[::120, :] = False
    interior[:, ::120] = False
    assert np.array_equal(files.elevation_m[interior], folder.elevation_m[interior])


def test_mixed_resolution_mosaic_uses_finest(tmp_path):
    fine = decode_dted(tile_path("e145/n44")).astype(np.int16)
    coarse = decode_dted(tile_path("e146/n44"))[::2, ::2].astype(np.int16)  # 60″ posts
    # Both grids aligned on the 30″ cell edges; the coarse one 60″ cells from 145.99583°E.
    write_raster(tmp_path / "a_fine.tif", fine, post_transform(145.0, 45.0), "EPSG:4326")
    edge_w, edge_n = 146.0 - POST_DEG / 2, 45.0 + POST_DEG / 2
    coarse_transform = Affine(2 * POST_DEG, 0, edge_w, 0, -2 * POST_DEG, edge_n)
    write_raster(tmp_path / "b_coarse.tif", coarse, coarse_transform, "EPSG:4326")
    t = open_terrain(tmp_path)
    assert t.resolution == pytest.approx((POST_DEG, POST_DEG), rel=1e-9)
    assert "mixed resolutions" in t.describe()
    # The coarse raster (61 × 60″ cells) reaches one 30″ row further south and one column further
    # east than a tile: the mosaic has 122 × 242 cells, and the 120 cells south of the fine
    # raster that no raster covers are voids.
    assert t.shape == (122, 242) and t.void_cells_filled == 120
    # The fine raster's posts (west of its shared 146°E edge) are reproduced exactly.
    assert np.array_equal(t.elevation_m[:121, :120], fine[:, :120])
    # The coarse part is interpolated: within the coarse raster's range.
    east = t.window(146.2, 44.2, 146.8, 44.8)
    assert coarse.min() <= east.elevation_m.min() and east.elevation_m.max() <= coarse.max()


def test_crimea_geotiff_opens():
    crimea = open_terrain(CRIMEA_TIF)
    assert crimea.shape == (361, 601)
    assert crimea.elevation_m.max() == 1504.0 and crimea.elevation_m.min() == 0.0
    assert crimea.contains(44.5, 34.2)  # Crimean Mountains
    assert not crimea.contains(44.0, 146.0)


# ---- projected vs geographic -------------------------------------------------------------------


def test_projected_terrain_geometry(utm_pair):
    geo, utm = utm_pair
    assert not utm.is_geographic and utm.crs.to_epsg() == 32655
    assert utm.resolution == (UTM_CELL_M, UTM_CELL_M)
    # UTM grid scale factor near 147°E is 0.9996 – 1.0001: ground cell ≈ 500 m.
    assert utm.resolution_m == pytest.approx((UTM_CELL_M, UTM_CELL_M), rel=1e-3)
    west, south, east, north = utm.bounds_deg
    assert 144.8 < west < 145.0 and 148.0 < east < 148.2 and 43.1 < south < 43.3 and 45.5 < north < 45.7
    assert "EPSG:32655 (projected)" in utm.describe() and "500 × 500 m" in utm.describe()
    # Resampling never creates terrain higher or lower than the posts.
    assert geo.elevation_m.min() <= utm.elevation_m.min() and utm.elevation_m.max() <= geo.elevation_m.max()


def test_projected_cell_centres_match_gdal(utm_pair):
    """Each UTM cell holds GDAL's bilinear value at its centre; ours must agree.

    Checks the centre-based pixel convention, the lon/lat <-> UTM conversion and the bilinear
    weights against GDAL's warper; only GDAL's approximate transformer separates them
    (GDAL_APPROX_ERROR_CELLS × the local post-to-post step). A half-cell shift fails.
    """
    geo, utm = utm_pair
    rows, cols = np.meshgrid(np.arange(utm.shape[0]), np.arange(utm.shape[1]), indexing="ij")
    lon, lat = utm.xy_to_lonlat(*utm.pixel_to_xy(rows, cols))
    ours_m = geo.sample_m(lat, lon)
    z = geo.elevation_m.astype(float)
    step_x = maximum_filter(np.pad(np.abs(np.diff(z, axis=1)), ((0, 0), (0, 1))), size=4, origin=(-1, -1))
    step_y = maximum_filter(np.pad(np.abs(np.diff(z, axis=0)), ((0, 1), (0, 0))), size=4, origin=(-1, -1))
    r, c = geo.xy_to_pixel(*geo.lonlat_to_xy(lon, lat))
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    bound_m = GDAL_APPROX_ERROR_CELLS * (step_x[r0, c0] + step_y[r0, c0]) + 1e-3
    assert np.all(np.abs(utm.elevation_m - ours_m) <= bound_m)
    # The same comparison half a post off fails massively: the check can see a convention slip.
    shifted_m = geo.sample_m(lat + POST_DEG / 2, lon)
    assert np.count_nonzero(np.abs(utm.elevation_m - shifted_m) > bound_m) > 1000


LOWLAND_POINTS = [
    ("Golovnino, Kunashir", 43.74, 145.51),
    ("Shibetsu, Hokkaido", 43.66, 145.13),
    ("inland of Shibetsu", 43.60, 145.00),
    ("Betsukai", 43.39, 145.12),
    ("Nemuro", 43.33, 145.58),
    ("Burevestnik, Iturup", 44.92, 147.62),
]


@pytest.mark.parametrize(("name", "lat_deg", "lon_deg"), LOWLAND_POINTS, ids=[p[0] for p in LOWLAND_POINTS])
def test_projected_sample_agrees_with_geographic(utm_pair, name, lat_deg, lon_deg):
    geo, utm = utm_pair
    # Precondition of the tolerance: slope ≤ MAX_LOWLAND_SLOPE within ±2 posts.
    r, c = geo.xy_to_pixel(*geo.lonlat_to_xy(lon_deg, lat_deg))
    r0, c0 = int(np.floor(r)), int(np.floor(c))
    z = geo.elevation_m[r0 - 2 : r0 + 4, c0 - 2 : c0 + 4].astype(float)
    dx_m, dy_m = geo.resolution_m
    slope = np.abs(np.diff(z, axis=1)).max() / dx_m + np.abs(np.diff(z, axis=0)).max() / dy_m
    assert slope <= MAX_LOWLAND_SLOPE, f"{name}: slope {slope:.3f} too steep for REPROJECTION_TOLERANCE_M"
    geo_m = geo.sample_m(lat_deg, lon_deg)
    utm_m = utm.sample_m(lat_deg, lon_deg)
    assert abs(utm_m - geo_m) <= REPROJECTION_TOLERANCE_M
    assert geo_m > 0.0  # a land point


def test_projected_window_native_and_deg(utm_pair):
    _, utm = utm_pair
    x, y = utm.lonlat_to_xy(146.25, 44.35)
    box = (float(x) - 5_000, float(y) - 5_000, float(x) + 5_000, float(y) + 5_000)
    native = utm.window(*box, crs="native")
    # 10 km = 20 cells; the cell centres must span the box: 21 or 22 cells a side.
    assert native.shape in {(21, 21), (22, 22), (21, 22), (22, 21)} and native.crs == utm.crs
    rows, cols = native.xy_to_pixel(np.array([box[0], box[2]]), np.array([box[1], box[3]]))
    assert (0 <= rows).all() and (rows <= native.shape[0] - 1).all()
    assert (0 <= cols).all() and (cols <= native.shape[1] - 1).all()
    assert native.sample_m(44.35, 146.25) == pytest.approx(utm.sample_m(44.35, 146.25), abs=ROUNDING_M)
    deg = utm.window(146.2, 44.3, 146.3, 44.4)
    west, south, east, north = deg.bounds_deg
    assert west < 146.2 and south < 44.3 and east > 146.3 and north > 44.4
    assert deg.contains(np.array([44.3, 44.4]), np.array([146.2, 146.3])).all()


# ---- voids -------------------------------------------------------------------------------------

# A 13 × 13 patch of real posts around Tyatya, with voids: three isolated, one 3 × 3 block.
ISOLATED_VOIDS = [(2, 2), (6, 10), (10, 5)]
BLOCK_VOIDS = [(r, c) for r in range(4, 7) for c in range(2, 5)]


def _tyatya_patch() -> np.ndarray:
    return decode_dted(tile_path("e146/n44"))[72:85, 24:37].astype(np.int16)


def _void_mask() -> np.ndarray:
    void = np.zeros((13, 13), bool)
    for r, c in ISOLATED_VOIDS + BLOCK_VOIDS:
        void[r, c] = True
    return void


def _patch_transform() -> Affine:
    return post_transform(146.0 + 24 * POST_DEG, 45.0 - 72 * POST_DEG)


VOID_RASTERS = {
    "int16 nodata -32767": (np.int16, -32767, -32767),
    "int16 DTED void, no nodata set": (np.int16, -32767, None),
    "int16 SRTM void -32768, no nodata set": (np.int16, -32768, None),
    "float32 NaN, no nodata set": (np.float32, np.nan, None),
    "float32 nodata -9999": (np.float32, -9999.0, -9999.0),
}


@pytest.fixture(params=list(VOID_RASTERS), ids=list(VOID_RASTERS))
def void_raster(request, tmp_path) -> Path:
    dtype, void_value, nodata = VOID_RASTERS[request.param]
    patch = _tyatya_patch().astype(dtype)
    patch[_void_mask()] = void_value
    return write_raster(tmp_path / "voids.tif", patch, _patch_transform(), "EPSG:4326", nodata=nodata)


def test_void_fill(void_raster):
    t = open_terrain(void_raster, void_policy="fill")
    valid = ~_void_mask()
    original = _tyatya_patch().astype(np.float32)
    assert t.void_cells_filled == _void_mask().sum() == 12
    assert np.array_equal(t.void_filled, _void_mask())
    assert np.array_equal(t.elevation_m[valid], original[valid])  # valid cells untouched
    filled = t.elevation_m[_void_mask()]
    assert np.isfinite(filled).all()
    assert original[valid].min() <= filled.min() and filled.max() <= original[valid].max()
    for r, c in ISOLATED_VOIDS:  # an isolated void takes a value between its neighbours'
        ring = original[r - 1 : r + 2, c - 1 : c + 2][valid[r - 1 : r + 2, c - 1 : c + 2]]
        assert ring.min() <= t.elevation_m[r, c] <= ring.max()
    assert "12 void cells filled (void_policy='fill')" in t.describe()


def test_void_sea(void_raster):
    t = open_terrain(void_raster, void_policy="sea")
    original = _tyatya_patch().astype(np.float32)
    assert t.void_cells_filled == 12
    assert (t.elevation_m[_void_mask()] == 0.0).all()
    assert np.array_equal(t.elevation_m[~_void_mask()], original[~_void_mask()])


def test_void_error(void_raster):
    with pytest.raises(TerrainError) as info:
        open_terrain(void_raster, void_policy="error")
    message = str(info.value)
    assert isinstance(info.value, AdcovError)
    assert str(void_raster) in message and "12 nodata/void cells" in message
    # First void in row-major order: row 2, col 2 of the patch = post 74, 26 of e146/n44.
    lat, lon = 45.0 - 74 * POST_DEG, 146.0 + 26 * POST_DEG
    assert f"{lat:.5f}°N {lon:.5f}°E" in message


def test_fill_gives_up_beyond_search_distance(tmp_path):
    z = np.full((5, 130), -32767, dtype=np.int16)
    z[:, 0] = 10
    path = write_raster(tmp_path / "far.tif", z, post_transform(146.0, 45.0), "EPSG:4326")
    with pytest.raises(TerrainError, match=r"more than 100 cells from any valid cell"):
        open_terrain(path)
    assert open_terrain(path, void_policy="sea").void_cells_filled == 5 * 129


def test_all_void_raster(tmp_path):
    all_nan = np.full((4, 4), np.nan, np.float32)
    path = write_raster(tmp_path / "empty.tif", all_nan, post_transform(146.0, 45.0), "EPSG:4326")
    with pytest.raises(TerrainError, match="holds no valid cell"):
        open_terrain(path)


def test_srtm_hgt_tile(tmp_path, tyatya_tile):
    """An SRTM3-format tile (1201 × 1201 big-endian int16, -32768 voids) named N44E146.hgt.

    Made from the DTED tile by bilinear refinement (10 SRTM posts per DTED post), so every
    tenth post is a DTED post and must read back exactly.
    """
    lat = 45.0 - np.arange(1201) / 1200.0
    lon = 146.0 + np.arange(1201) / 1200.0
    heights = np.rint(tyatya_tile.sample_m(lat[:, None], lon[None, :])).astype(">i2")
    heights[600, 600] = -32768
    heights[0, 17] = -32768
    path = tmp_path / "N44E146.hgt"
    heights.tofile(path)
    with pytest.raises(TerrainError, match=r"2 nodata/void cells"):
        open_terrain(path, void_policy="error")
    t = open_terrain(path)
    assert t.shape == (1201, 1201) and t.crs.to_epsg() == 4326 and t.void_cells_filled == 2
    assert t.resolution == pytest.approx((1 / 1200, 1 / 1200), rel=1e-9)
    assert np.array_equal(t.elevation_m[::10, ::10], tyatya_tile.elevation_m)
    assert t.sample_m(44.35, 146.25) == 1625.0
    assert heights[599:602, 599:602].astype(float).max() >= t.elevation_m[600, 600] >= 0.0


# ---- outside -----------------------------------------------------------------------------------


def test_outside_raises_with_point_and_bounds(kurils):
    with pytest.raises(OutsideTerrainError) as info:
        kurils.sample_m(50.5, 155.25)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AdcovError)
    assert "50.50000°N 155.25000°E" in message
    assert "(140.99583, 41.99583, 150.00417, 48.00417)" in message
    assert str(KURILS_TIF) in message
    with pytest.raises(OutsideTerrainError, match=r"3 points outside.*10.00000°S 20.00000°W"):
        kurils.sample_m([44.0, 49.0, -10.0, 48.5], [146.0, 146.0, -20.0, 146.0])


def test_contains_and_nan_policy(kurils):
    # Inside the footprint but beyond the outermost posts: not sampleable.
    assert kurils.contains(48.0, 150.0) and kurils.contains(42.0, 141.0)
    assert not kurils.contains(48.0 + 1e-6, 150.0) and not kurils.contains(48.0, 150.0 + 1e-6)
    assert not kurils.contains(48.004, 146.0)  # within the half-post margin of bounds_deg
    assert not kurils.contains(np.nan, 146.0)
    inside = kurils.contains(np.array([44.35, 60.0]), np.array([146.25, 146.25]))
    assert inside.tolist() == [True, False]
    values = kurils.sample_m([44.35, 60.0, np.nan], [146.25, 146.25, 146.0], outside="nan")
    assert values[0] == 1625.0 and np.isnan(values[1:]).all()
    with pytest.raises(OutsideTerrainError):
        kurils.sample_m(np.nan, 146.0)
    with pytest.raises(ValueError, match="'raise', 'nan'"):
        kurils.sample_m(44.0, 146.0, outside="clip")  # type: ignore[arg-type]


def test_longitude_wraps_towards_terrain(kurils):
    assert kurils.sample_m(44.35, 146.25 - 360.0) == 1625.0
    assert kurils.contains(44.35, 146.25 + 360.0)


# ---- windows -----------------------------------------------------------------------------------


def test_window_covers_box_and_samples_like_parent(kurils):
    w = kurils.window(145.31, 43.41, 146.955, 44.61)  # box edges between posts
    assert w.crs == kurils.crs and w.source_paths == kurils.source_paths
    west, south, east, north = w.bounds_deg
    # The posts next outside the box are in, with their half-post cell margin.
    assert west <= 145.31 - POST_DEG / 2 and east >= 146.955 + POST_DEG / 2
    assert south <= 43.41 - POST_DEG / 2 and north >= 44.61 + POST_DEG / 2
    # Posts 43.40833–44.61667°N (146) and 145.30833–146.95833°E (199).
    assert w.shape == (146, 199)
    rng = np.random.default_rng(7)
    lat, lon = rng.uniform(43.41, 44.61, 2000), rng.uniform(145.31, 146.955, 2000)
    assert w.contains(lat, lon).all()
    assert np.allclose(w.sample_m(lat, lon), kurils.sample_m(lat, lon), rtol=0, atol=ROUNDING_M)
    assert w.content_hash != kurils.content_hash


def test_window_outside_and_bad_boxes(kurils):
    with pytest.raises(OutsideTerrainError, match="does not overlap"):
        kurils.window(30.0, 40.0, 31.0, 41.0)
    with pytest.raises(ValueError, match="west < east"):
        kurils.window(146.0, 44.0, 145.0, 45.0)
    with pytest.raises(ValueError, match="'deg', 'native'"):
        kurils.window(145.0, 44.0, 146.0, 45.0, crs="utm")  # type: ignore[arg-type]
    # Overlapping the edge: clipped to the terrain.
    edge = kurils.window(149.5, 47.5, 151.0, 49.0)
    expected = (149.5 - POST_DEG / 2, 47.5 - POST_DEG / 2, kurils.bounds[2], kurils.bounds[3])
    assert edge.bounds == pytest.approx(expected, abs=1e-9)


# ---- errors ------------------------------------------------------------------------------------


def _assert_terrain_error(exc: BaseException, *fragments: str) -> None:
    assert isinstance(exc, TerrainError) and isinstance(exc, AdcovError) and isinstance(exc, OSError)
    for fragment in fragments:
        assert fragment in str(exc), f"{fragment!r} not in {str(exc)!r}"


def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "n44.dt0"
    with pytest.raises(TerrainError) as info:
        open_terrain([tile_path("e146/n44"), missing])
    _assert_terrain_error(info.value, str(missing), "does not exist")


def test_folder_without_rasters(tmp_path):
    (tmp_path / "notes.txt").write_text("no rasters here")
    with pytest.raises(TerrainError) as info:
        open_terrain(tmp_path)
    _assert_terrain_error(info.value, str(tmp_path), "no raster", ".dt0", ".hgt", ".tif")


def test_empty_path_list():
    with pytest.raises(TerrainError) as info:
        open_terrain([])
    _assert_terrain_error(info.value, "no terrain path")


def test_mixed_crs(tmp_path):
    a = write_raster(tmp_path / "geo.tif", np.zeros((3, 3), np.int16), post_transform(146.0, 45.0), "EPSG:4326")
    utm_transform = Affine(500, 0, 5e5, 0, -500, 4.9e6)
    b = write_raster(tmp_path / "utm.tif", np.zeros((3, 3), np.int16), utm_transform, "EPSG:32655")
    with pytest.raises(TerrainError) as info:
        open_terrain([a, b])
    _assert_terrain_error(info.value, "share one CRS", "geo.tif: EPSG:4326", "utm.tif: EPSG:32655")


def test_raster_without_crs(tmp_path):
    path = write_raster(tmp_path / "nocrs.tif", np.zeros((3, 3), np.int16), post_transform(146.0, 45.0), None)
    with pytest.raises(TerrainError) as info:
        open_terrain(path)
    _assert_terrain_error(info.value, str(path), "has no CRS")


def test_raster_without_georeferencing(tmp_path):
    # rasterio itself warns while writing a raster without geotransform; expected here.
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        path = write_raster(tmp_path / "plain.tif", np.zeros((3, 3), np.int16), None, None)
    with pytest.raises(TerrainError) as info:
        open_terrain(path)  # no warning escapes: filterwarnings=error would turn it into a failure
    _assert_terrain_error(info.value, str(path), "has no CRS")
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        path = write_raster(tmp_path / "crs_only.tif", np.zeros((3, 3), np.int16), None, "EPSG:4326")
    with pytest.raises(TerrainError) as info:
        open_terrain(path)
    _assert_terrain_error(info.value, str(path), "no geotransform")


def test_unreadable_raster(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"this is not a GeoTIFF")
    with pytest.raises(TerrainError) as info:
        open_terrain(path)
    _assert_terrain_error(info.value, str(path), "cannot be read by GDAL", "not recognized")


def test_non_metre_units(tmp_path):
    path = write_raster(tmp_path / "feet.tif", np.zeros((3, 3), np.int16), post_transform(146.0, 45.0), "EPSG:4326")
    with rasterio.open(path, "r+") as ds:
        ds.units = ("ft",)
    with pytest.raises(TerrainError) as info:
        open_terrain(path)
    _assert_terrain_error(info.value, str(path), "'ft'", "metres")


def test_bad_void_policy():
    with pytest.raises(TerrainError) as info:
        open_terrain(tile_path("e146/n44"), void_policy="nearest")
    _assert_terrain_error(info.value, "'nearest'", *(repr(p) for p in VOID_POLICIES))


# ---- caching and identity ----------------------------------------------------------------------


def test_open_terrain_is_cached_per_file_state(tmp_path):
    clear_terrain_cache()
    path = shutil.copy(tile_path("e146/n44"), tmp_path / "n44.dt0")
    first = open_terrain(path)
    assert open_terrain(str(path)) is first
    assert open_terrain([tmp_path]) is first  # same resolved files
    assert open_terrain(path, void_policy="sea") is not first  # policy is part of the key
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = open_terrain(path)
    assert again is not first and again.content_hash == first.content_hash
    clear_terrain_cache()
    assert open_terrain(path) is not again


def test_content_hash_is_stable_and_content_based(kurils):
    assert len(kurils.content_hash) == 64 and int(kurils.content_hash, 16) >= 0
    clear_terrain_cache()
    reopened = open_terrain(KURILS_TIF)
    assert reopened is not kurils and reopened.content_hash == kurils.content_hash
    rebuilt = Terrain.from_array(np.array(kurils.elevation_m), kurils.transform, kurils.crs)
    assert rebuilt.content_hash == kurils.content_hash
    changed = np.array(kurils.elevation_m)
    changed[100, 100] += 1.0
    assert Terrain.from_array(changed, kurils.transform, kurils.crs).content_hash != kurils.content_hash
    shifted = kurils.transform @ Affine.translation(1, 0)
    assert Terrain.from_array(kurils.elevation_m, shifted, kurils.crs).content_hash != kurils.content_hash


def test_describe_and_repr(kurils):
    text = kurils.describe()
    assert "\n" not in text
    for fragment in (str(KURILS_TIF), "EPSG:4326", "721 × 1081 cells", "30″ × 30″", "657 × 926 m",
                     "140.99583°E–150.00417°E", "41.99583°N–48.00417°N", "0 void cells filled"):
        assert fragment in text, fragment
    assert repr(kurils).startswith("Terrain(") and "721×1081" in repr(kurils)


def test_from_array_rejects_voids_and_rotation():
    with pytest.raises(TerrainError, match="NaN"):
        Terrain.from_array(np.array([[1.0, np.nan]]), Affine(1, 0, 0, 0, -1, 1), 4326)
    with pytest.raises(TerrainError, match="void values"):
        Terrain.from_array(np.array([[1.0, -32767.0]]), Affine(1, 0, 0, 0, -1, 1), 4326)
    with pytest.raises(TerrainError, match="north-up"):
        Terrain.from_array(np.zeros((2, 2)), Affine(1, 0.1, 0, 0, -1, 1), 4326)


# ---- properties ----------------------------------------------------------------------------------

_fractional_pixel = st.floats(min_value=-0.5, max_value=1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(u=_fractional_pixel, v=_fractional_pixel)
def test_pixel_xy_round_trip(kurils, utm_pair, u, v):
    for terrain in (kurils, utm_pair[1]):
        rows, cols = terrain.shape
        row, col = u * (rows - 1), v * (cols - 1)
        back_row, back_col = terrain.xy_to_pixel(*terrain.pixel_to_xy(row, col))
        assert abs(back_row - row) <= ROUND_TRIP_CELLS and abs(back_col - col) <= ROUND_TRIP_CELLS


@settings(max_examples=200, deadline=None)
@given(u=st.floats(min_value=0.0, max_value=1.0), v=st.floats(min_value=0.0, max_value=1.0))
def test_sample_at_cell_centres_is_exact(kurils, utm_pair, u, v):
    for terrain in (kurils, utm_pair[1]):
        rows, cols = terrain.shape
        row, col = round(u * (rows - 1)), round(v * (cols - 1))
        lon, lat = terrain.xy_to_lonlat(*terrain.pixel_to_xy(row, col))
        assert terrain.sample_m(lat, lon) == terrain.elevation_m[row, col]


@settings(max_examples=100, deadline=None)
@given(lat=st.floats(min_value=43.0, max_value=46.0), lon=st.floats(min_value=145.0, max_value=148.0))
def test_sample_lies_between_surrounding_posts(kurils, lat, lon):
    value = kurils.sample_m(lat, lon)
    r, c = kurils.xy_to_pixel(*kurils.lonlat_to_xy(lon, lat))
    r0, c0 = int(np.floor(r)), int(np.floor(c))
    posts = kurils.elevation_m[r0 : r0 + 2, c0 : c0 + 2]
    assert posts.min() <= value <= posts.max()


def test_terrain_pickles_read_only(utm_pair):
    """Sweeps ship terrain to worker processes: a pickled terrain must stay read-only."""
    for terrain in utm_pair:
        expected_m = terrain.sample_m(44.35, 146.25)  # fills the cached transformers first
        clone = pickle.loads(pickle.dumps(terrain))
        assert clone.content_hash == terrain.content_hash
        assert not clone.elevation_m.flags.writeable
        assert clone.sample_m(44.35, 146.25) == expected_m
    sea = open_terrain(DTED_DIR, void_policy="sea")
    clone = pickle.loads(pickle.dumps(sea))
    assert clone.void_filled is not None and not clone.void_filled.flags.writeable


def test_write_geotiff_round_trip(tmp_path, tyatya_tile):
    path = write_geotiff(tmp_path / "copy.tif", tyatya_tile.elevation_m, tyatya_tile.transform, tyatya_tile.crs,
                         tags={"units": "m"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.tif"]  # no temporary file left
    again = open_terrain(path)
    assert again.content_hash == tyatya_tile.content_hash
    visible = np.zeros(tyatya_tile.shape, dtype=bool)
    write_geotiff(path, visible, tyatya_tile.transform, 4326, nodata=255)  # replaces atomically
    with rasterio.open(path) as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 255
    with pytest.raises(TerrainError, match="2-D"):
        write_geotiff(tmp_path / "bad.tif", np.zeros(3), tyatya_tile.transform, 4326)
    with pytest.raises(TerrainError, match=str(tmp_path / "missing")):
        write_geotiff(tmp_path / "missing" / "x.tif", visible, tyatya_tile.transform, 4326)

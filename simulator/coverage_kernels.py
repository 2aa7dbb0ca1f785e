"""Numba kernels of the coverage queries over envelopes' floor/ceiling rasters.

Depth counts (:func:`_add_covered`, and :func:`_add_covered_tiled`, which decides whole
tiles of :data:`QUERY_TILE` cells from their :func:`_tile_bounds`), covered areas
(:func:`area_where_positive_m2`, :func:`_covered_area_m2`), a depth histogram
(:func:`area_and_count_by_value`) and the lost/kept/gained classes of two depth grids
(:func:`change_index_and_area_m2`). A cell at altitude ``h`` is covered when
``floor <= h <= ceiling`` (:mod:`simulator.envelope`); areas are summed row by row in
parallel, then over the rows, always in that order. Compiled once and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _add_covered(depth, row0, col0, floors, ceilings, terrain, altitude_m, is_agl):
    """``depth[window] += 1`` where any component covers the altitude (MSL, or AGL on terrain)."""
    n_comp, rows, cols = floors.shape
    for r in numba.prange(rows):
        for c in range(cols):
            h = terrain[r, c] + altitude_m if is_agl else altitude_m
            for i in range(n_comp):
                if floors[i, r, c] <= h and h <= ceilings[i, r, c]:
                    depth[row0 + r, col0 + c] += 1
                    break


#: Cells per side of the tiles whose floor/ceiling bounds let queries skip whole tiles.
QUERY_TILE = 32


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _tile_bounds(floor, ceiling, terrain, use_terrain):
    """Per tile: min/max floor and min/max ceiling (minus the terrain when ``use_terrain``)."""
    rows, cols = floor.shape
    n_tr = (rows + QUERY_TILE - 1) // QUERY_TILE
    n_tc = (cols + QUERY_TILE - 1) // QUERY_TILE
    out = np.empty((n_tr, n_tc, 4), dtype=np.float32)
    for t in numba.prange(n_tr * n_tc):
        tr = t // n_tc
        tc = t % n_tc
        fmin = np.inf
        fmax = -np.inf
        cmin = np.inf
        cmax = -np.inf
        for r in range(tr * QUERY_TILE, min((tr + 1) * QUERY_TILE, rows)):
            for c in range(tc * QUERY_TILE, min((tc + 1) * QUERY_TILE, cols)):
                z = terrain[r, c] if use_terrain else 0.0
                f = floor[r, c] - z
                g = ceiling[r, c] - z
                fmin = min(fmin, f)
                fmax = max(fmax, f)
                cmin = min(cmin, g)
                cmax = max(cmax, g)
        out[tr, tc, 0] = fmin
        out[tr, tc, 1] = fmax
        out[tr, tc, 2] = cmin
        out[tr, tc, 3] = cmax
    return out


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _add_covered_tiled(depth, row0, col0, floor, ceiling, terrain, bounds, altitude_m, is_agl):
    """``depth[window] += 1`` where ``floor <= h <= ceiling``, deciding whole tiles from
    their bounds and reading cells only in tiles the coverage boundary crosses."""
    rows, cols = floor.shape
    n_tr, n_tc, _ = bounds.shape
    for t in numba.prange(n_tr * n_tc):
        tr = t // n_tc
        tc = t % n_tc
        fmin, fmax, cmin, cmax = bounds[tr, tc, 0], bounds[tr, tc, 1], bounds[tr, tc, 2], bounds[tr, tc, 3]
        if altitude_m < fmin or altitude_m > cmax:
            continue  # nothing covered in this tile
        r_end = min((tr + 1) * QUERY_TILE, rows)
        c_end = min((tc + 1) * QUERY_TILE, cols)
        if fmax <= altitude_m and altitude_m <= cmin:
            for r in range(tr * QUERY_TILE, r_end):
                for c in range(tc * QUERY_TILE, c_end):
                    depth[row0 + r, col0 + c] += 1
            continue
        for r in range(tr * QUERY_TILE, r_end):
            for c in range(tc * QUERY_TILE, c_end):
                h = terrain[r, c] + altitude_m if is_agl else altitude_m
                if floor[r, c] <= h and h <= ceiling[r, c]:
                    depth[row0 + r, col0 + c] += 1


@numba.njit(cache=True, parallel=True, error_model="numpy")
def area_where_positive_m2(values, cell_area_m2):
    """Sum of ``cell_area_m2`` where ``values > 0`` (row sums in parallel). [m^2]"""
    rows, cols = values.shape
    row_sums = np.zeros(rows)
    for r in numba.prange(rows):
        total = 0.0
        for c in range(cols):
            if values[r, c] > 0:
                total += cell_area_m2[r, c]
        row_sums[r] = total
    return row_sums.sum()


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _covered_area_m2(n_rows, row0, col0, floor, ceiling, terrain, altitude_m, is_agl, cell_area_m2):
    """Summed ``cell_area_m2`` (full grid) over a window's cells where ``floor <= h <= ceiling``:
    the area :func:`area_where_positive_m2` gives for that mask, summed in the same order
    (row sums, then their sum), without the full-grid mask. [m^2]"""
    rows, cols = floor.shape
    row_sums = np.zeros(n_rows)
    for r in numba.prange(rows):
        total = 0.0
        for c in range(cols):
            h = terrain[r, c] + altitude_m if is_agl else altitude_m
            if floor[r, c] <= h and h <= ceiling[r, c]:
                total += cell_area_m2[row0 + r, col0 + c]
        row_sums[row0 + r] = total
    return row_sums.sum()


@numba.njit(cache=True, parallel=True, error_model="numpy")
def area_and_count_by_value(values, cell_area, n_values):
    """Per value ``v < n_values`` of an integer grid: the summed ``cell_area`` and the number
    of cells holding it (rows in parallel; a depth histogram in one pass)."""
    rows, cols = values.shape
    areas = np.zeros((rows, n_values))
    counts = np.zeros((rows, n_values), dtype=np.int64)
    for r in numba.prange(rows):
        for c in range(cols):
            v = values[r, c]
            if v < n_values:
                areas[r, v] += cell_area[r, c]
                counts[r, v] += 1
    return areas.sum(axis=0), counts.sum(axis=0)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def change_index_and_area_m2(before, after, cell_area_m2):
    """Classify each cell between two depth grids, in one pass: 0 covered by neither,
    1 lost (``before > 0``, ``after == 0``), 2 kept (both), 3 gained (``after`` only); and
    the summed ``cell_area_m2`` per class (rows in parallel, each class summed like
    :func:`area_where_positive_m2`). Returns ``(index uint8, areas_m2[4])``."""
    rows, cols = before.shape
    index = np.zeros((rows, cols), dtype=np.uint8)
    row_sums = np.zeros((4, rows))
    for r in numba.prange(rows):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for c in range(cols):
            b = before[r, c] > 0
            a = after[r, c] > 0
            if b:
                if a:
                    index[r, c] = 2
                    s2 += cell_area_m2[r, c]
                else:
                    index[r, c] = 1
                    s1 += cell_area_m2[r, c]
            elif a:
                index[r, c] = 3
                s3 += cell_area_m2[r, c]
            else:
                s0 += cell_area_m2[r, c]
        row_sums[0, r] = s0
        row_sums[1, r] = s1
        row_sums[2, r] = s2
        row_sums[3, r] = s3
    areas = np.zeros(4)
    for k in range(4):
        areas[k] = row_sums[k].sum()
    return index, areas

"""Voids of a terrain raster: which cells are voids, and how a void policy resolves them.

Voids are cells masked by the raster's nodata value or mask band, the DTED void value
-32767, the SRTM void value -32768, NaN, and, in a mosaic, the area that no input covers.
The policies (``"fill"``, ``"sea"``, ``"error"``) are described in :mod:`simulator.terrain`;
:func:`simulator.terrain.open_terrain` and :mod:`simulator.dem` apply them.
"""

from __future__ import annotations

import numpy as np
import rasterio.fill

from simulator.errors import TerrainError
from simulator.georeference import _first_cell_label

#: Valid values of ``open_terrain(..., void_policy=...)``.
VOID_POLICIES: tuple[str, ...] = ("fill", "sea", "error")

#: Cell values that are voids whatever the raster's nodata says: DTED (-32767) and SRTM
#: (-32768) void markers. No real terrain is that low. [m]
VOID_VALUES_M: tuple[float, ...] = (-32767.0, -32768.0)

#: ``void_policy="fill"`` looks this far for valid cells (GDAL's default). [cells]
FILL_MAX_SEARCH_CELLS: float = 100.0


def _void_cells(values: np.ndarray, masked: np.ndarray | None) -> np.ndarray:
    void = ~np.isfinite(values)
    for void_value in VOID_VALUES_M:
        void |= values == void_value
    if masked is not None:
        void |= masked
    return void


def _resolve_voids(elevation_m, void, transform, crs, void_policy, where, *, mosaic):
    n_void = int(void.sum())
    origin = "nodata/void cells" + (" (including area no raster of the mosaic covers)" if mosaic else "")
    if void_policy == "error":
        raise TerrainError(
            f"terrain {where} has {n_void} {origin}, first at {_first_cell_label(void, transform, crs)}; "
            "void_policy='error' refuses them (use 'fill' to interpolate from neighbours or 'sea' for 0 m)"
        )
    values = elevation_m.copy()
    if void_policy == "sea":
        values[void] = 0.0
        return values
    # "fill"
    if void.all():
        raise TerrainError(f"terrain {where} holds no valid cell: all {n_void} cells are voids")
    values[void] = np.nan
    filled = rasterio.fill.fillnodata(
        values, mask=(~void).astype(np.uint8), max_search_distance=FILL_MAX_SEARCH_CELLS, smoothing_iterations=0
    )
    filled = np.asarray(filled, dtype=np.float32)
    left = void & ~np.isfinite(filled)
    if left.any():
        raise TerrainError(
            f"terrain {where}: {int(left.sum())} of its {n_void} {origin} are more than "
            f"{FILL_MAX_SEARCH_CELLS:g} cells from any valid cell, first at {_first_cell_label(left, transform, crs)}; "
            "void_policy='fill' cannot reach them (use 'sea' if the gaps are sea, e.g. DTED/SRTM tiles that do not "
            "exist because they hold no land)"
        )
    return np.ascontiguousarray(filled)

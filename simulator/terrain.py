"""Terrain: a digital elevation model read from a local raster (DTED, SRTM, GeoTIFF, ERDAS, VRT).

This module and its siblings are the only ones of adcov that read or write rasters (rasterio;
the writer is :func:`write_geotiff`). Everything else receives a :class:`Terrain`: an immutable
float32 grid of terrain elevation above mean sea level [m] with its cell-corner affine transform
and CRS, plus coordinate conversions and bilinear sampling.

This module is the front door and names them all; the code lives by concept in
:mod:`simulator.terrain_grid` (the in-memory :class:`Terrain`), :mod:`simulator.georeference`
(coordinate conversions shared with :class:`simulator.dem.DemSource`),
:mod:`simulator.terrain_reader` (:func:`open_terrain`: files, folders, mosaics, the cache),
:mod:`simulator.terrain_voids` (void policies) and :mod:`simulator.geotiff` (:func:`write_geotiff`).

:func:`open_terrain` reads a file, a folder of tiles or a list of both (DTED ``.dt0/.dt1/.dt2``,
SRTM ``.hgt``, GeoTIFF, VRT, ERDAS ``.img``: :mod:`simulator.terrain_safety` says what is opened), mosaics several
rasters into one grid (``rasterio.merge``) and resolves voids explicitly by a stated policy:

``"fill"`` (default)
    interpolate voids from valid neighbours (``rasterio.fill.fillnodata``, GDAL's inverse
    distance weighted quadrant search, at most :data:`FILL_MAX_SEARCH_CELLS` cells away);
    a void that no valid cell reaches is an error.
``"sea"``
    voids are sea: 0 m. Right for a mosaic whose missing tiles are open sea (DTED and SRTM
    ship no tile that holds no land).
``"error"``
    any void is an error that gives the count and the first void's position.

Voids are cells masked by the raster's nodata value or mask band, the DTED void value
-32767, the SRTM void value -32768, NaN, and, in a mosaic, the area that no input covers.

Conventions
-----------
* ``transform`` is the cell-corner affine transform (rasterio/GDAL convention): pixel
  ``(col, row)`` corner coordinates ``(0, 0)`` are the outer corner of the first cell.
* Fractional pixel coordinates in this API (:meth:`Terrain.xy_to_pixel`,
  :meth:`Terrain.pixel_to_xy`) are **centre based**: ``row = 0.0`` is the centre of the first
  row. DTED and SRTM posts are those centres (GDAL reports a point-registered tile half a post
  wider than its posts).
* Geodetic APIs take ``lat_deg, lon_deg`` (WGS84, EPSG:4326); the coordinate conversion
  helpers take ``x``-first pairs (``lon_deg, lat_deg``; ``x, y``), like pyproj with
  ``always_xy=True``. Bounds are ``(west, south, east, north)``.
* Heights are band 1, in metres above mean sea level (for DTED and SRTM: the EGM96 geoid),
  after the band's scale and offset are applied.
"""

from __future__ import annotations

# The names below are this module's API (and, for the private ones, what simulator.dem uses);
# ``name as name`` marks a re-export. Replacing one here (a test's monkeypatch of
# write_geotiff) reaches callers that import it from simulator.terrain at call time.
from simulator.georeference import GridGeoreference as GridGeoreference
from simulator.georeference import _crs_label as _crs_label
from simulator.georeference import _format_lat as _format_lat
from simulator.georeference import _format_lat_lon as _format_lat_lon
from simulator.georeference import _format_lon as _format_lon
from simulator.georeference import _sources_label as _sources_label
from simulator.geotiff import UNCOMPRESSED_ABOVE_CELLS as UNCOMPRESSED_ABOVE_CELLS
from simulator.geotiff import write_geotiff as write_geotiff
from simulator.terrain_grid import Terrain as Terrain
from simulator.terrain_reader import RASTER_SUFFIXES as RASTER_SUFFIXES
from simulator.terrain_reader import _expand_paths as _expand_paths
from simulator.terrain_reader import _open_dataset as _open_dataset
from simulator.terrain_reader import clear_terrain_cache as clear_terrain_cache
from simulator.terrain_reader import open_terrain as open_terrain
from simulator.terrain_voids import FILL_MAX_SEARCH_CELLS as FILL_MAX_SEARCH_CELLS
from simulator.terrain_voids import VOID_POLICIES as VOID_POLICIES
from simulator.terrain_voids import VOID_VALUES_M as VOID_VALUES_M
from simulator.terrain_voids import _resolve_voids as _resolve_voids

__all__ = [
    "FILL_MAX_SEARCH_CELLS",
    "RASTER_SUFFIXES",
    "VOID_POLICIES",
    "VOID_VALUES_M",
    "Terrain",
    "clear_terrain_cache",
    "open_terrain",
    "write_geotiff",
]

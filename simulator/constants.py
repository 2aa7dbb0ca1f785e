"""Constants more than one module needs, importable without numpy, numba or GDAL."""

from __future__ import annotations

#: Mean earth radius (IUGG, R1 = (2a + b) / 3 of WGS84) used for curvature. [m]
EARTH_MEAN_RADIUS_M = 6_371_008.8

#: Default effective earth radius factor for radar (standard atmosphere).
DEFAULT_K_FACTOR = 4.0 / 3.0

#: The values of a visibility raster (``adcov viewshed``, :func:`simulator.visibility.classify_visible`).
VISIBLE, HIDDEN, BEYOND_RANGE = 1, 0, 255

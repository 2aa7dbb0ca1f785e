"""Report files an analyst can publish and cite: GeoJSON, KML/KMZ, GeoTIFF, PNG maps, CSV/JSON.

Two reports share one layout: :func:`write_run_report` (one scenario) and
:func:`write_comparison_report` (baseline vs variant). Every file carries the assumptions it
was computed with -- k factor, terrain and its resolution, antenna heights, the figures used
and the sources they come from -- as a JSON/GeoJSON member, the KML description, GeoTIFF
tags, the PNG footer (and its ``Description`` text chunk), and ``ASSUMPTIONS.txt``.

One concept per module:

- :mod:`~simulator.export.style`: colours and palettes; how altitudes, areas and names are written
- :mod:`~simulator.export.assumptions`: the assumptions and the sources they cite, as lines and as ``ASSUMPTIONS.txt``
- :mod:`~simulator.export.geojson`: coverage and comparison polygons (RFC 7946)
- :mod:`~simulator.export.kml`: KML/KMZ for Google Earth
- :mod:`~simulator.export.sites`: unit sites as map markers and points
- :mod:`~simulator.export.rasters`: GeoTIFF floors, ceilings, depth and change classes
- :mod:`~simulator.export.frame`, :mod:`~simulator.export.background`, :mod:`~simulator.export.labels`
  and :mod:`~simulator.export.maps`: PNG maps (projection and view; terrain, graticule and
  scale bar; names placed without overlaps; the page); :mod:`~simulator.export.charts`: area
  by altitude
- :mod:`~simulator.export.tables`: CSV tables and JSON values
- :mod:`~simulator.export.staging`: atomic single files, and report folders staged in a temporary
  sibling and swapped into place (with ``manifest.json``; :func:`check_report_folder`)
- :mod:`~simulator.export.report`: the two reports

This package re-exports the names callers use. ``render_map_png``, ``render_area_chart_png``
and ``_exchange`` are looked up here when a report is written, so replacing them on this
package (as tests do) takes effect.
"""

from __future__ import annotations

import shutil  # noqa: F401  (``simulator.export.shutil``: tests replace its rmtree)

from simulator.export.assumptions import (
    assumption_lines,
    assumptions_text,
    comparison_assumption_lines,
    report_assumptions,
)
from simulator.export.charts import render_area_chart_png
from simulator.export.geojson import (
    COORDINATE_DECIMALS,
    COORDINATE_PRECISION_DEG,
    comparison_features,
    comparison_geojson,
    coverage_features,
    coverage_geojson,
    geometry_geojson,
)
from simulator.export.kml import KML_NS, KML_STYLES, kml_document, write_kml
from simulator.export.maps import render_map_png
from simulator.export.rasters import CHANGE_CLASSES, assumption_tags
from simulator.export.report import write_comparison_report, write_run_report
from simulator.export.sites import comparison_sites
from simulator.export.staging import (
    MANIFEST_NAME,
    OS_METADATA_FILES,
    TMP_PREFIX,
    check_report_folder,
)

# private names tests use (and replace: _exchange); "x as x" marks a re-export
from simulator.export.staging import _atomic_write_bytes as _atomic_write_bytes
from simulator.export.staging import _exchange as _exchange
from simulator.export.style import (
    AREA_STYLE,
    BLUE,
    BLUISH_GREEN,
    COASTLINE_LEVEL_M,
    COUNTRY_RGB,
    INK,
    LAND_COLOURS,
    MAP_DPI,
    NE_COAST_RGB,
    NE_LAND_RGB,
    ORANGE,
    PNG_COMPRESS_LEVEL,
    SEA_RGB,
    SKY_BLUE,
    VERMILLION,
)
from simulator.export.style import _altitude_slug as _altitude_slug
from simulator.export.style import _slug as _slug
from simulator.export.tables import (
    COMPARISON_CSV_COLUMNS,
    comparison_csv,
    marginal_csv,
    summary_csv,
)

__all__ = [
    "AREA_STYLE",
    "BLUE",
    "BLUISH_GREEN",
    "CHANGE_CLASSES",
    "COASTLINE_LEVEL_M",
    "COMPARISON_CSV_COLUMNS",
    "COORDINATE_DECIMALS",
    "COORDINATE_PRECISION_DEG",
    "COUNTRY_RGB",
    "INK",
    "KML_NS",
    "KML_STYLES",
    "LAND_COLOURS",
    "MANIFEST_NAME",
    "MAP_DPI",
    "NE_COAST_RGB",
    "NE_LAND_RGB",
    "ORANGE",
    "OS_METADATA_FILES",
    "PNG_COMPRESS_LEVEL",
    "SEA_RGB",
    "SKY_BLUE",
    "TMP_PREFIX",
    "VERMILLION",
    "assumption_lines",
    "assumption_tags",
    "assumptions_text",
    "check_report_folder",
    "comparison_assumption_lines",
    "comparison_csv",
    "comparison_features",
    "comparison_geojson",
    "comparison_sites",
    "coverage_features",
    "coverage_geojson",
    "geometry_geojson",
    "kml_document",
    "marginal_csv",
    "render_area_chart_png",
    "render_map_png",
    "report_assumptions",
    "summary_csv",
    "write_comparison_report",
    "write_kml",
    "write_run_report",
]

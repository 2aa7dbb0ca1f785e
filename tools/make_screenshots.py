"""Regenerate every image the README shows (docs/images/), offscreen. Run by hand, then LOOK
at them before committing:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/make_screenshots.py

GUI views come from ``adcov-gui --screenshot``; the compare maps from ``adcov compare --out``
(copied out of the report's ``maps/``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
BIN = Path(sys.executable).parent
KURILS_2020 = ROOT / "scenarios" / "kurils-2020.yaml"
KURILS_2023 = ROOT / "scenarios" / "kurils-2023.yaml"

GUI = {
    "gui-main.png": ["--select", "kunashir-s300v4", "--profile-to", "44.45,147.2"],
    "gui-full-disks.png": ["--altitude-m", "10000"],
    "gui-coverage.png": [],
    "gui-depth.png": ["--view", "depth", "--layer", "detection", "--altitude-m", "3000"],
    "gui-which-unit.png": ["--view", "which-unit"],
    "gui-sole.png": ["--view", "sole", "--layer", "detection", "--altitude-m", "3000"],
    "gui-difference.png": ["--view", "difference", "--altitude-m", "100"],
}


def main() -> int:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, extra in GUI.items():
        argv = [str(BIN / "adcov-gui"), str(KURILS_2020), "--compare", str(KURILS_2023), "--screenshot",
                str(IMAGES / name), *extra]
        subprocess.run(argv, check=True, env=env)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        subprocess.run([str(BIN / "adcov"), "compare", str(KURILS_2020), str(KURILS_2023), "--out", str(out),
                        "--altitudes-m", "100,10000"], check=True, env=env)
        for altitude in ("100", "10000"):
            found = sorted((out / "maps").glob(f"*engagement*{altitude}m*.png")) or sorted((out / "maps").glob(f"*{altitude}m*.png"))
            if not found:
                raise SystemExit(f"no {altitude} m map in {out / 'maps'}: {sorted(p.name for p in (out / 'maps').iterdir())}")
            shutil.copyfile(found[0], IMAGES / f"kurils-compare-{altitude}m.png")
            print(f"kurils-compare-{altitude}m.png <- {found[0].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

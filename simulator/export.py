"""Report files an analyst can publish and cite: GeoJSON, KML/KMZ, GeoTIFF, PNG maps, CSV/JSON.

Two reports share one layout: :func:`write_run_report` (one scenario) and
:func:`write_comparison_report` (baseline vs variant). Every file carries the assumptions it
was computed with -- k factor, terrain and its resolution, antenna heights, the figures used
and the sources they come from -- as a JSON/GeoJSON member, the KML description, GeoTIFF
tags, the PNG footer (and its ``Description`` text chunk), and ``ASSUMPTIONS.txt``.

Atomicity
---------
A report folder is written into a temporary sibling folder named ``.adcov-tmp-<name>.<pid>.*``
and renamed into place once every file is complete; an existing report at ``out_dir`` is
replaced only then (atomically with ``renameat2(RENAME_EXCHANGE)`` on Linux, else with two
renames). A crash, Ctrl-C or ``kill -9`` therefore leaves either no report, the previous
complete one or the new complete one -- plus, at worst, a ``.adcov-tmp-*`` folder, which the
next report written next to it removes once its process is gone. Single files written by the
public functions go to a ``.adcov-tmp-*`` name in the same folder and are ``os.replace``-d.
Durability across power loss (fsync) is not attempted.

Geometry
--------
Polygons are built from the coverage masks in an equal-area CRS
(:func:`simulator.geometry.mask_polygons`, boundaries half-way between cell centres) and
transformed to lon/lat WGS84 [deg] for GeoJSON (RFC 7946) and KML; coordinates are snapped to
1e-6 deg (about 0.1 m) with :func:`shapely.set_precision`, which keeps them valid; exterior
rings run counter-clockwise and holes clockwise (RFC 7946, section 3.1.6). ``area_km2`` is the
geodesic area of the cells (the same number as the tables), not the polygon's. Areas crossing
the antimeridian are not split.

Maps are drawn with matplotlib's object API on an Agg canvas (no pyplot state): on geographic
grids in lon/lat with the aspect ``1 / cos(mid-latitude)`` (equirectangular about the map
centre), on projected grids in the grid's own CRS with equal axes.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import ctypes
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import os
import secrets
import shutil
import textwrap
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pyproj

from simulator import __version__
from simulator.basemap import BASEMAP_CREDIT, beyond_dem, coastline_in, country_labels, data_extent_in, land_in
from simulator.basemap import rings as basemap_rings
from simulator.errors import AdcovError
from simulator.fileio import register_staging, shown_path, unregister_staging, write_bytes_atomically
from simulator.geometry import WGS84_GEOD
from simulator.places import PLACES_CREDIT, places_to_label

#: Prefix of every temporary file or folder an export creates; nothing else uses it.
TMP_PREFIX = ".adcov-tmp-"
#: Written last into every report folder; lists every other file with its size and sha256.
MANIFEST_NAME = "manifest.json"
#: Coordinate grid of GeoJSON/KML output. [deg] (1e-6 deg is about 0.1 m)
COORDINATE_PRECISION_DEG = 1e-6
COORDINATE_DECIMALS = 6

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


# ============================================================================ atomic writes


def _atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a ``.adcov-tmp-*`` file in the same folder.

    A failed write (a full disk included) raises AdcovError with the OS message; ``path``
    keeps its previous content and no temporary file is left.
    """
    path = Path(path)
    try:
        return write_bytes_atomically(path, data)
    except OSError as exc:
        raise AdcovError(f"cannot write {shown_path(path)}: {exc.strerror or exc}") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_temps(parent: Path, name: str) -> None:
    """Remove ``.adcov-tmp-<name>.<pid>.*`` folders left by processes that no longer run."""
    prefix = f"{TMP_PREFIX}{name}."
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if not entry.name.startswith(prefix) or not entry.is_dir() or entry.is_symlink():
                continue
            pid_text = entry.name[len(prefix):].split(".", 1)[0]
            if pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
                shutil.rmtree(entry, ignore_errors=True)


def _is_report_dir(path: Path) -> bool:
    """An empty folder, or one holding an adcov report (its manifest says so)."""
    try:
        entries = list(path.iterdir())
    except OSError:
        return False
    if not entries:
        return True
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == "adcov"


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


#: How many of the files a user added to a report folder the refusal names.
_FOREIGN_SHOWN = 5


def _manifest_paths(path: Path) -> set[str]:
    """The files a report folder's manifest lists (relative, ``/``-separated); empty if none."""
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    return {e["path"] for e in entries or () if isinstance(e, dict) and isinstance(e.get("path"), str)}


#: Files that file managers leave in any folder they show (Finder, Windows Explorer, KDE's
#: Dolphin): not the user's work, so they do not keep a report from being replaced.
OS_METADATA_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".directory"})


def _foreign_entries(path: Path) -> list[str]:
    """Files and folders in the report folder ``path`` that its manifest does not list (the
    manifest itself excepted), sorted; a folder holding no listed file is named once, as ``dir/``."""
    listed = _manifest_paths(path)
    listed_dirs = {"/".join(p.split("/")[:i]) for p in listed for i in range(1, p.count("/") + 1)}
    foreign: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                relative = prefix + entry.name
                if relative == MANIFEST_NAME:
                    continue
                if entry.name in OS_METADATA_FILES and entry.is_file(follow_symlinks=False):
                    continue  # a file manager's own bookkeeping, rewritten whenever it looks
                if entry.is_dir(follow_symlinks=False):
                    if relative in listed_dirs:
                        walk(Path(entry.path), relative + "/")
                    else:
                        foreign.append(relative + "/")
                elif relative not in listed:
                    foreign.append(relative)

    walk(path, "")
    return foreign


def check_report_folder(out_dir) -> Path:
    """The resolved report folder, or AdcovError if writing a report there would lose anything.

    A report goes into a new or empty folder, or replaces an earlier adcov report whose folder
    holds exactly the files of its manifest; any other file or folder in it (the user's notes,
    an annotated map) makes this refuse, naming up to five of them. Symlinks are followed.
    """
    path = Path(os.path.realpath(out_dir))
    if os.path.lexists(path) and not path.is_dir():
        raise AdcovError(f"report folder {out_dir}: exists and is not a folder")
    if not path.is_dir():
        return path
    if not _is_report_dir(path):
        raise AdcovError(
            f"report folder {out_dir}: the folder exists and is not an adcov report (no {MANIFEST_NAME} from adcov); "
            "choose a new or empty folder -- adcov replaces only its own reports"
        )
    try:
        foreign = _foreign_entries(path)
    except OSError as exc:
        raise AdcovError(f"report folder {out_dir}: cannot list its files ({exc.strerror or exc}); choose another folder") from exc
    if foreign:
        shown = ", ".join(foreign[:_FOREIGN_SHOWN])
        more = f" and {len(foreign) - _FOREIGN_SHOWN} more" if len(foreign) > _FOREIGN_SHOWN else ""
        raise AdcovError(
            f"report folder {out_dir}: holds {len(foreign)} file(s) or folder(s) that adcov did not write (not in its "
            f"{MANIFEST_NAME}): {shown}{more}; replacing the report would delete them -- move them out of the folder, "
            "or choose another folder (or delete this one) for the report"
        )
    return path


class _StagedReport:
    """A report folder built in a temporary sibling and renamed into place by :meth:`commit`.

    Any failed write (a full disk included) removes the temporary folder and raises
    AdcovError; the previous report, if any, is then unchanged.
    """

    def __init__(self, out_dir, kind: str):
        self.shown = out_dir
        self.out_dir = check_report_folder(out_dir)  # a symlinked report folder is replaced where it points
        self.kind = kind
        parent = self.out_dir.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AdcovError(f"report folder {out_dir}: cannot create the parent folder: {exc}") from exc
        _remove_stale_temps(parent, self.out_dir.name)
        while True:
            tmp = parent / f"{TMP_PREFIX}{self.out_dir.name}.{os.getpid()}.{secrets.token_hex(4)}"
            try:
                os.mkdir(tmp)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise AdcovError(f"report folder {out_dir}: cannot write next to it: {exc}") from exc
        self.tmp = tmp
        register_staging(self.tmp, self.out_dir)
        self.files: list[str] = []

    def _failed(self, relative: str, exc: OSError) -> AdcovError:
        """Abort and say what could not be written (raise the result ``from exc``)."""
        self.abort()
        return AdcovError(f"report folder {self.shown}: cannot write {relative}: {exc.strerror or exc}; "
                          "nothing was replaced (an earlier report there is unchanged)")

    def path(self, relative: str) -> Path:
        """Where to write ``relative`` (recorded in the manifest)."""
        target = self.tmp / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._failed(relative, exc) from exc
        if relative not in self.files:
            self.files.append(relative)
        return target

    def write_bytes(self, relative: str, data: bytes) -> None:
        target = self.path(relative)
        try:
            with open(target, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise self._failed(relative, exc) from exc

    def write_text(self, relative: str, text: str) -> None:
        self.write_bytes(relative, text.encode("utf-8"))

    def write_json(self, relative: str, data) -> None:
        self.write_text(relative, json.dumps(data, indent=1, ensure_ascii=False, default=_json_default) + "\n")

    def abort(self) -> None:
        unregister_staging(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def commit(self, extra: Mapping | None = None) -> list[Path]:
        """Write the manifest and move the folder into place; returns the final file paths.

        Refuses (AdcovError, nothing replaced) when files the user added to the old report
        while this one was being written would be lost.
        """
        entries = []
        try:
            for relative in self.files:
                data = (self.tmp / relative).read_bytes()
                entries.append({"path": relative, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        except OSError as exc:
            raise self._failed(relative, exc) from exc
        manifest = {
            "generator": "adcov",
            "adcov_version": __version__,
            "report": self.kind,
            "written_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **(dict(extra) if extra else {}),
            "files": entries,
        }
        self.write_text(MANIFEST_NAME, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        self.files.remove(MANIFEST_NAME)
        try:
            check_report_folder(self.shown)  # again: the user may have saved a file into the old report meanwhile
        except AdcovError:
            self.abort()
            raise
        try:
            self._swap_into_place()
        except OSError as exc:
            self.abort()
            raise AdcovError(f"report folder {self.shown}: cannot put the new report in place: {exc.strerror or exc}; "
                             "an earlier report there is unchanged") from exc
        unregister_staging(self.tmp)
        return [self.out_dir / f for f in self.files] + [self.out_dir / MANIFEST_NAME]

    def _swap_into_place(self) -> None:
        """Replace ``out_dir`` with the staged folder (atomically where the OS can)."""
        if not self.out_dir.exists():
            os.rename(self.tmp, self.out_dir)
        elif _exchange(self.tmp, self.out_dir):
            shutil.rmtree(self.tmp, ignore_errors=True)  # now holds the previous report
        else:
            old = self.out_dir.parent / f"{TMP_PREFIX}{self.out_dir.name}.{os.getpid()}.old-{secrets.token_hex(4)}"
            os.rename(self.out_dir, old)
            try:
                os.rename(self.tmp, self.out_dir)
            except OSError:
                os.rename(old, self.out_dir)  # put the previous report back
                raise
            shutil.rmtree(old, ignore_errors=True)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, _dt.date)):
        return str(value)
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ============================================================================ assumptions


def _altitude_label(altitude_m: float, altitude_ref: str) -> str:
    return f"{altitude_m:,.0f} m {altitude_ref.upper()}" if float(altitude_m).is_integer() else f"{altitude_m:,g} m {altitude_ref.upper()}"


def _altitude_words(altitude_ref: str) -> str:
    return "above mean sea level" if altitude_ref == "msl" else "above ground level"


def _altitude_slug(altitude_m: float) -> str:
    value = float(altitude_m)
    if value.is_integer():
        return f"{int(value)}m"
    return f"{value:g}m".replace(".", "p")


def report_assumptions(coverage) -> dict:
    """:meth:`Coverage.assumptions` plus the cited sources resolved.

    ``sources`` maps every source id a figure or a unit's placement cites to its title,
    publisher, date and address (from the scenario file's ``sources:``, else the catalog;
    ids neither knows are kept with a note), and ``model`` states in words what "covered"
    means.
    """
    from simulator.catalog import load_catalog
    from simulator.errors import CatalogError

    assumptions = copy.deepcopy(coverage.assumptions())
    ids = sorted(
        {sid for unit in assumptions["units"].values() for sids in unit.get("sources", {}).values() for sid in sids}
        | {sid for p in assumptions.get("placements", {}).values() for sid in p.get("sources", [])}
    )
    catalog = load_catalog()
    scenario_sources = getattr(coverage, "placement_sources", {}) or {}
    sources = {}
    for sid in ids:
        if sid in scenario_sources:  # the scenario file's own citation
            s = scenario_sources[sid]
            sources[sid] = {k: str(s.get(k, "") or "") for k in ("title", "publisher", "date", "address")}
            continue
        try:
            s = catalog.source(sid)
        except CatalogError:
            sources[sid] = {"note": "not in the adcov catalog"}
            continue
        sources[sid] = {"title": s.title, "publisher": s.publisher, "date": str(s.date), "address": s.address}
    assumptions["sources"] = sources
    assumptions["model"] = (
        "A unit covers a cell at altitude h when floor <= h <= ceiling: floor = lowest altitude in line of sight "
        "over the terrain (earth curvature with effective radius k * R, terrain masking) raised to the weapon's "
        "minimum altitude and minimum slant range; ceiling = the weapon's maximum altitude and slant range. "
        "Published nominal figures only; no clutter, multipath, jamming, sector limits unless stated."
    )
    return assumptions


def _terrain_line(coverage) -> str:
    grid = coverage.grid
    terrain = grid.terrain
    paths = [Path(p) for p in terrain.source_paths]
    if len(paths) > 3:
        folder = Path(os.path.commonpath([str(p.parent) for p in paths]))
        names = f"{len(paths)} tiles under {folder.name}/"
    else:
        names = ", ".join(p.name for p in paths) or "array"
    crs = grid.crs.to_string() if grid.crs.to_epsg() is None else f"EPSG:{grid.crs.to_epsg()}"
    if grid.crs.is_geographic:
        x_res, y_res = terrain.resolution
        cell = f'{x_res * 3600:.3g}" x {y_res * 3600:.3g}"'
    else:
        x_res, y_res = terrain.resolution
        cell = f"{x_res:.4g} x {y_res:.4g} m"
    ew_m, ns_m = grid.cell_size_m
    dem_ew_m, dem_ns_m = grid.dem_cell_size_m
    outside = getattr(terrain, "outside_terrain", "error")
    beyond = "; beyond the terrain: sea level" if outside == "sea" else ""
    if grid.area_bounds_deg is not None:
        area = "analysis area: the scenario's box " + ", ".join(f"{v:g}" for v in grid.area_bounds_deg) + " (W, S, E, N deg)"
        clipped = [f"{uid} {u['disk_fraction_outside']:.0%}" for uid, u in coverage.analysis_area()["units"].items()
                   if u["disk_fraction_outside"] >= 0.0005]
        if clipped:
            area += "; nominal disk outside it: " + ", ".join(clipped)
    else:
        area = "analysis area: the units' full nominal disks"
    return (
        f"terrain {names} ({crs}, cells {cell}, ~{dem_ew_m:.0f} x {dem_ns_m:.0f} m, sampled by the rays){beyond}; "
        f"analysis grid {grid.n_rows} x {grid.n_cols} cells of ~{ew_m:.0f} x {ns_m:.0f} m; {area}"
    )


def _fmt_km(value) -> str:
    return "?" if value is None else f"{value:g}"


def _unit_groups(assumptions: dict) -> list[tuple[list[str], dict]]:
    """Units with identical figures (apart from the site), in first-seen order."""
    groups: dict[str, tuple[list[str], dict]] = {}
    for uid, unit in assumptions["units"].items():
        key = json.dumps({k: v for k, v in unit.items() if k not in ("lat_deg", "lon_deg")}, sort_keys=True, default=str)
        groups.setdefault(key, ([], unit))[0].append(uid)
    return list(groups.values())


def _figure_lines(assumptions: dict, *, with_sources: bool = True) -> list[str]:
    """One line per group of identically-figured units: figures, origins and source ids."""
    lines = []
    for uids, unit in _unit_groups(assumptions):
        parts = []
        for w in unit["weapons"]:
            origin = w.get("origin", {})
            ceiling = "no ceiling" if w["max_target_altitude_msl_m"] is None else f"ceiling {w['max_target_altitude_msl_m']:g} m MSL"
            defaulted = [name for name, o in origin.items() if o == "default"]
            overridden = [name for name, o in origin.items() if o == "override"]
            text = (
                f"{w['id']}: slant range {_fmt_km(w['min_range_km'])}-{_fmt_km(w['max_range_km'])} km, "
                f"altitude {w['min_target_altitude_agl_m']:g} m AGL to {ceiling}"
            )
            if overridden:
                text += f" (set by the scenario: {', '.join(overridden)})"
            if defaulted:
                text += f" (not published, defaults: {', '.join(defaulted)})"
            parts.append(text)
        parts.append(f"detection {_fmt_km(unit['detection_range_km'])} km ({unit['detection_origin']})")
        line = (
            f"{unit['system_name']} [{', '.join(uids)}]: antenna {unit['antenna_height_m']:g} m AGL "
            f"({unit['antenna_height_origin']}); " + "; ".join(parts)
        )
        if unit.get("range_mode", "nominal") != "nominal":
            line += f"; range mode {unit['range_mode']}"
        if with_sources and unit.get("sources"):
            cited = "; ".join(f"{fig}: {', '.join(ids)}" for fig, ids in unit["sources"].items())
            line += f". Sources: {cited}"
        lines.append(line)
    return lines


def assumption_lines(coverage, assumptions: dict | None = None) -> list[str]:
    """The assumptions as short lines (map footers, KML, GeoTIFF tags)."""
    assumptions = assumptions or report_assumptions(coverage)
    k = assumptions["k_factor"]
    k_text = "4/3" if abs(k - 4.0 / 3.0) < 1e-9 else f"{k:.4g}"
    r_eff_km = k * assumptions["earth_radius_m"] / 1000.0
    head = f"k = {k_text} (effective earth radius {r_eff_km:,.0f} km); {_terrain_line(coverage)}."
    lines = [head, *_figure_lines(assumptions)]
    lines.append("Published nominal figures only: terrain masking and earth curvature; no clutter, multipath or jamming.")
    return lines


def comparison_assumption_lines(comparison, assumptions: dict | None = None) -> list[str]:
    """Assumption lines of a comparison: shared settings once, the baseline's units, and the
    variant's added or changed units (both scenarios' settings when they differ)."""
    assumptions = assumptions or _comparison_assumptions(comparison)
    base = assumption_lines(comparison.baseline, assumptions["baseline"])
    var = assumption_lines(comparison.variant, assumptions["variant"])
    names = (comparison.baseline_name, comparison.variant_name)
    lines = [base[0]] if base[0] == var[0] else [f"{names[0]}: {base[0]}", f"{names[1]}: {var[0]}"]
    lines += base[1:-1]
    new_ids = set(comparison.added_units) | set(comparison.changed_units)
    variant_units = {uid: u for uid, u in assumptions["variant"]["units"].items() if uid in new_ids}
    if variant_units:
        lines += [f"{names[1]}: {line}" for line in _figure_lines({**assumptions["variant"], "units": variant_units})]
    lines.append(base[-1])
    return lines


def _origin_text(origin) -> str:
    """``{'max_range_km': 'published', ...}`` as ``max range published, ...`` (no Python reprs)."""
    if isinstance(origin, dict):
        return ", ".join(f"{k.removesuffix('_km').removesuffix('_m').replace('_', ' ')} {v}" for k, v in origin.items())
    return str(origin)


def _numbers(values) -> str:
    return ", ".join(f"{float(v):g}" for v in values)


def assumptions_text(coverage, assumptions: dict | None = None, *, title: str = "") -> str:
    """The full ``ASSUMPTIONS.txt``: every figure, its origin and its cited sources."""
    assumptions = assumptions or report_assumptions(coverage)
    out = []
    if title:
        out += [title, "=" * len(title), ""]
    out.append(f"Scenario: {coverage.scenario_name or '(unnamed)'}")
    out.append(f"Effective earth radius factor k = {assumptions['k_factor']:.6g} (earth radius {assumptions['earth_radius_m']:.1f} m)")
    out.append(f"Terrain: {assumptions['terrain']}")
    g = assumptions["analysis_grid"]
    out.append(
        f"Analysis grid: {g['rows']} x {g['cols']} cells of ~{g['cell_size_m'][0]:.0f} x {g['cell_size_m'][1]:.0f} m, "
        f"bounds (W, S, E, N) {_numbers(g['bounds_deg'])} deg, CRS {g['crs']}"
    )
    if "dem_spacing_m" in assumptions:
        dx, dy = assumptions["dem_spacing_m"]
        out.append(f"DEM spacing: ~{dx:.0f} x {dy:.0f} m; the rays sample the DEM at its own spacing")
        out.append(f"Analysis spacing: {g.get('resolution_rule', '')}")
    if assumptions.get("analysis_area"):
        from simulator.analysis_area import analysis_area_lines

        out += analysis_area_lines(assumptions["analysis_area"], all_units=True)
    out += ["", "Model: " + assumptions["model"], "", "Units and the figures used:"]
    for uid, unit in assumptions["units"].items():
        out.append(f"- {uid}: {unit['system_name']} ({unit['system']}) at {unit['lat_deg']:.5f} N, {unit['lon_deg']:.5f} E")
        out.append(f"    antenna height {unit['antenna_height_m']:g} m AGL ({unit['antenna_height_origin']})")
        out.append(f"    detection range {_fmt_km(unit['detection_range_km'])} km ({unit['detection_origin']})")
        for w in unit["weapons"]:
            ceiling = "none" if w["max_target_altitude_msl_m"] is None else f"{w['max_target_altitude_msl_m']:g} m MSL"
            out.append(
                f"    weapon {w['id']} ({w['missile']}): slant range {_fmt_km(w['min_range_km'])}-{_fmt_km(w['max_range_km'])} km, "
                f"min altitude {w['min_target_altitude_agl_m']:g} m AGL, ceiling {ceiling}; origin {_origin_text(w['origin'])}"
            )
        for note in unit.get("defaults_used", []):
            out.append(f"    default: {note}")
        for fig, ids in unit.get("sources", {}).items():
            out.append(f"    source of {fig}: {', '.join(ids)}")
        placement = assumptions.get("placements", {}).get(uid)
        if placement:
            precision = placement.get("position_precision_km")
            where = "site as given" if precision is None else f"site within ~{precision:g} km"
            out.append(
                f"    placement: {placement.get('status') or 'status not stated'}, deployed {placement.get('deployed') or 'unknown'}, "
                f"withdrawn {placement.get('withdrawn') or '-'}; {where}"
            )
            if placement.get("sources"):
                out.append(f"    source of the placement: {', '.join(placement['sources'])}")
            if placement.get("dates_note"):
                out.append(f"    dates: {placement['dates_note']}")
    if assumptions.get("notes"):
        out += ["", "Notes:", *(f"- {n}" for n in assumptions["notes"])]
    out += ["", "Sources cited above:"]
    for sid, s in assumptions.get("sources", {}).items():
        if "title" in s:
            out.append(f"- {sid}: {s['title']}. {s['publisher']}, {s['date']}. {s['address'] or '(no address)'}")
        else:
            out.append(f"- {sid}: {s.get('note', '')}")
    return "\n".join(out) + "\n"


# ============================================================================ GeoJSON


def _clean_lonlat(geometry):
    """Valid, precision-snapped, right-hand-oriented polygons (a list of shapely Polygons)."""
    import shapely
    from shapely.geometry.polygon import orient

    if geometry is None or geometry.is_empty:
        return []
    geometry = shapely.simplify(geometry, COORDINATE_PRECISION_DEG / 10.0)  # drop collinear contour points
    geometry = shapely.set_precision(geometry, COORDINATE_PRECISION_DEG)
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = []
    for part in getattr(geometry, "geoms", [geometry]):
        if part.geom_type == "Polygon" and not part.is_empty:
            parts.append(orient(part, sign=1.0))
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            parts += _clean_lonlat(part)
    return parts


def _ring_coordinates(ring) -> list:
    return np.round(np.asarray(ring.coords)[:, :2], COORDINATE_DECIMALS).tolist()


def _polygon_coordinates(polygon) -> list:
    return [_ring_coordinates(polygon.exterior), *(_ring_coordinates(r) for r in polygon.interiors)]


def geometry_geojson(geometry) -> dict | None:
    """An RFC 7946 geometry (Polygon or MultiPolygon) from a lon/lat shapely geometry; None if empty."""
    parts = _clean_lonlat(geometry)
    if not parts:
        return None
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": _polygon_coordinates(parts[0])}
    return {"type": "MultiPolygon", "coordinates": [_polygon_coordinates(p) for p in parts]}


def _feature(geometry, properties: dict) -> dict | None:
    geojson = geometry_geojson(geometry)
    if geojson is None:
        return None
    return {"type": "Feature", "geometry": geojson, "properties": properties}


def _mask_polygons_lonlat(coverage, mask: np.ndarray, cache: dict | None):
    """``coverage.polygons(mask, lonlat=True)[0]``, memoised in ``cache`` by the mask's content
    (within a report the same cells recur: layers with equal envelopes, units in both scenarios)."""
    if cache is None:
        return coverage.polygons(mask, lonlat=True)[0]
    key = (coverage.grid.key, hashlib.sha1(np.packbits(mask)).hexdigest())
    if key not in cache:
        cache[key] = coverage.polygons(mask, lonlat=True)[0]
    return cache[key]


def _unit_bits(coverage, layer, altitude_m, altitude_ref):
    """Per cell, which of the coverage's units cover it: (bits uint64, ids) or (depth, None)."""
    if len(coverage.unit_ids) <= 64:
        return coverage.covering_units(layer, altitude_m, altitude_ref), list(coverage.unit_ids)
    return coverage.depth(layer, altitude_m, altitude_ref), None


def coverage_features(coverage, layer: str, altitude_m: float, altitude_ref: str, *, scenario: str | None = None, role: str | None = None,
                      polygon_cache: dict | None = None) -> list[dict]:
    """Coverage polygons of one layer and altitude, one feature per set of covering units.

    The features are disjoint; each has ``unit_ids`` (the units covering it, all of them)
    and ``depth`` (how many); their ``area_km2`` add up to the covered area.
    """
    values, ids = _unit_bits(coverage, layer, altitude_m, altitude_ref)
    features = []
    for value in np.unique(values):
        if value == 0:
            continue
        mask = values == value
        if ids is None:
            unit_ids = coverage.unit_ids  # > 64 units: grouped by depth only
            depth = int(value)
        else:
            unit_ids = [uid for i, uid in enumerate(ids) if int(value) >> i & 1]
            depth = len(unit_ids)
        geometry = _mask_polygons_lonlat(coverage, mask, polygon_cache)
        props = {
            "kind": "coverage",
            "layer": layer,
            "altitude_m": float(altitude_m),
            "altitude_ref": altitude_ref,
            "unit_ids": list(unit_ids),
            "depth": depth,
            "area_km2": round(coverage.area_km2(mask), 3),
        }
        if scenario is not None:
            props["scenario"] = scenario
        if role is not None:
            props["role"] = role
        feature = _feature(geometry, props)
        if feature is not None:
            features.append(feature)
    features.sort(key=lambda f: (f["properties"]["depth"], f["properties"]["unit_ids"]))
    return features


def coverage_geojson(coverage, layer, altitudes_m, altitude_ref="msl", *, assumptions: dict | None = None) -> dict:
    """FeatureCollection of the coverage polygons of ``layer`` (str or list) at each altitude.

    Coordinates lon/lat WGS84 [deg] (RFC 7946); properties ``kind`` ("coverage"), ``layer``,
    ``altitude_m``, ``altitude_ref``, ``unit_ids``, ``depth``, ``area_km2``; a top-level
    ``assumptions`` member.
    """
    layers = [layer] if isinstance(layer, str) else list(layer)
    altitudes = [altitudes_m] if isinstance(altitudes_m, (int, float)) else list(altitudes_m)
    features = []
    cache: dict = {}
    for lay in layers:
        for altitude in altitudes:
            features += coverage_features(coverage, lay, altitude, altitude_ref, scenario=coverage.scenario_name or None, polygon_cache=cache)
    return {
        "type": "FeatureCollection",
        "name": f"{coverage.scenario_name or 'adcov'} coverage",
        "generator": f"adcov {__version__}",
        "scenario": coverage.scenario_name,
        "assumptions": assumptions or report_assumptions(coverage),
        "features": features,
    }


def _comparison_geometry(comparison, layer, altitude_m, which):
    result = comparison.polygons_lonlat(layer, altitude_m, which)
    return result[0] if isinstance(result, tuple) else result


def _change(comparison, layer, altitude_m):
    return comparison.change(layer, altitude_m)


def comparison_features(comparison, layer: str, altitude_m: float, *, polygon_cache: dict | None = None) -> list[dict]:
    """Baseline and variant coverage features, then the lost and gained polygons.

    ``lost`` features list the baseline units that covered some of the lost cells and, as
    ``depth``, the most units that covered any of them; ``gained`` ones the variant units.
    """
    ref = comparison.altitude_ref
    features = coverage_features(comparison.baseline, layer, altitude_m, ref, scenario=comparison.baseline_name, role="baseline",
                                 polygon_cache=polygon_cache)
    features += coverage_features(comparison.variant, layer, altitude_m, ref, scenario=comparison.variant_name, role="variant",
                                  polygon_cache=polygon_cache)
    change = _change(comparison, layer, altitude_m)
    for kind, area, cells, scenario in (
        ("lost", change.lost_km2, change.lost_cells, comparison.baseline),
        ("gained", change.gained_km2, change.gained_cells, comparison.variant),
    ):
        if area <= 0:
            continue
        bits, ids = _unit_bits(scenario, layer, altitude_m, ref)
        values = np.unique(bits[cells])
        if ids is not None:
            present = int(np.bitwise_or.reduce(values)) if values.size else 0
            unit_ids = [u for i, u in enumerate(ids) if present >> i & 1]
            depth = max((int(v).bit_count() for v in values), default=0)
        else:  # > 64 units: bits are depths
            unit_ids, depth = list(scenario.unit_ids), int(values.max()) if values.size else 0
        props = {
            "kind": kind,
            "layer": layer,
            "altitude_m": float(altitude_m),
            "altitude_ref": ref,
            # lost: the baseline units that covered it; gained: the variant units that now do
            "unit_ids": unit_ids,
            "depth": depth,
            "area_km2": round(float(area), 3),
            "baseline": comparison.baseline_name,
            "variant": comparison.variant_name,
        }
        feature = _feature(_comparison_geometry(comparison, layer, altitude_m, kind), props)
        if feature is not None:
            features.append(feature)
    return features


def _comparison_assumptions(comparison) -> dict:
    return {
        "baseline": report_assumptions(comparison.baseline),
        "variant": report_assumptions(comparison.variant),
        "withdrawn_units": list(comparison.withdrawn_units),
        "added_units": list(comparison.added_units),
        "changed_units": list(comparison.changed_units),
    }


def comparison_geojson(comparison, *, assumptions: dict | None = None) -> dict:
    """FeatureCollection of a comparison: per layer and altitude, the baseline and variant
    coverage (``kind`` "coverage", ``role`` baseline/variant) and the ``lost`` and ``gained``
    polygons; lon/lat WGS84; top-level ``assumptions`` of both scenarios."""
    features = []
    cache: dict = {}
    for layer in comparison.layers:
        for altitude in comparison.altitudes_m:
            features += comparison_features(comparison, layer, altitude, polygon_cache=cache)
    return {
        "type": "FeatureCollection",
        "name": f"{comparison.baseline_name} vs {comparison.variant_name}",
        "generator": f"adcov {__version__}",
        "baseline": comparison.baseline_name,
        "variant": comparison.variant_name,
        "assumptions": assumptions or _comparison_assumptions(comparison),
        "features": features,
    }


def _dump_geojson(collection: dict) -> str:
    # one feature per line: diff-friendly, still one JSON document
    head = {k: v for k, v in collection.items() if k != "features"}
    text = json.dumps(head, ensure_ascii=False, default=_json_default)[:-1]
    features = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":"), default=_json_default) for f in collection["features"])
    return f'{text}, "features": [\n{features}\n]}}\n'


# ============================================================================ KML


KML_NS = "http://www.opengis.net/kml/2.2"

#: KML style per kind: (fill colour, fill opacity 0-1, outline colour, outline width px, filled).
KML_STYLES = {
    "coverage": (BLUE, 0.30, BLUE, 1.5, True),
    "coverage-multi": (BLUE, 0.55, BLUE, 1.5, True),
    "baseline": (INK, 0.0, "#555555", 1.5, False),
    "lost": (VERMILLION, 0.50, VERMILLION, 2.0, True),
    "gained": (BLUISH_GREEN, 0.55, BLUISH_GREEN, 2.0, True),
    "site": (INK, 1.0, INK, 1.0, True),
    "site-withdrawn": (VERMILLION, 1.0, VERMILLION, 1.0, True),
    "site-added": (BLUISH_GREEN, 1.0, BLUISH_GREEN, 1.0, True),
}


def _kml_colour(hex_rgb: str, opacity: float) -> str:
    """KML colours are ``aabbggrr``."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{round(opacity * 255):02x}{b}{g}{r}".lower()


def _kml_style_id(props: dict) -> str:
    kind = props.get("kind", "coverage")
    if kind == "coverage":
        if props.get("role") == "baseline":
            return "baseline"
        return "coverage-multi" if (props.get("depth") or 1) > 1 else "coverage"
    if kind == "site":
        status = props.get("status", "")
        return {"withdrawn": "site-withdrawn", "added": "site-added"}.get(status, "site")
    return kind if kind in KML_STYLES else "coverage"


def _kml_placemark_name(props: dict) -> str:
    kind = props.get("kind", "coverage")
    if kind == "site":
        return props.get("name") or props.get("unit_id", "site")
    units = ", ".join(props.get("unit_ids") or [])
    area = props.get("area_km2")
    area_text = f" - {area:,.0f} km2" if isinstance(area, (int, float)) else ""
    who = f"{props['scenario']} " if props.get("scenario") else ""
    if kind == "coverage":
        return f"{who}covered by {units or 'units'}{area_text}"
    return f"{kind}{area_text} ({units})" if units else f"{kind}{area_text}"


def _kml_coordinates(ring_coords) -> str:
    return " ".join(f"{x:.6f},{y:.6f}" for x, y in ring_coords)


def _kml_polygon(parent, rings) -> None:
    polygon = ET.SubElement(parent, "Polygon")
    ET.SubElement(polygon, "tessellate").text = "1"
    for i, ring in enumerate(rings):
        boundary = ET.SubElement(polygon, "outerBoundaryIs" if i == 0 else "innerBoundaryIs")
        linear = ET.SubElement(boundary, "LinearRing")
        ET.SubElement(linear, "coordinates").text = _kml_coordinates(ring)


def _kml_placemark(folder, feature: dict, visible: bool = True) -> None:
    props = feature.get("properties") or {}
    geometry = feature.get("geometry")
    if not geometry:
        return
    pm = ET.SubElement(folder, "Placemark")
    ET.SubElement(pm, "name").text = _kml_placemark_name(props)
    if not visible:
        ET.SubElement(pm, "visibility").text = "0"
    rows = "".join(f"<tr><td>{k}</td><td>{_html_escape(_prop_text(v))}</td></tr>" for k, v in props.items())
    ET.SubElement(pm, "description").text = f"<table>{rows}</table>"
    ET.SubElement(pm, "styleUrl").text = f"#{_kml_style_id(props)}"
    extended = ET.SubElement(pm, "ExtendedData")
    for k, v in props.items():
        data = ET.SubElement(extended, "Data", name=str(k))
        ET.SubElement(data, "value").text = _prop_text(v)
    kind = geometry["type"]
    if kind == "Point":
        point = ET.SubElement(pm, "Point")
        x, y = geometry["coordinates"][:2]
        ET.SubElement(point, "coordinates").text = f"{x:.6f},{y:.6f}"
    elif kind == "Polygon":
        _kml_polygon(pm, geometry["coordinates"])
    elif kind == "MultiPolygon":
        multi = ET.SubElement(pm, "MultiGeometry")
        for rings in geometry["coordinates"]:
            _kml_polygon(multi, rings)
    else:
        raise AdcovError(f"KML export: geometry type {kind!r} is not supported; expected Point, Polygon or MultiPolygon")


def _prop_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def kml_document(feature_groups, *, name: str = "adcov", description: str = "") -> bytes:
    """KML 2.2 document bytes; see :func:`write_kml`."""
    ET.register_namespace("", KML_NS)
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = ET.SubElement(root, "Document")
    ET.SubElement(doc, "name").text = name
    ET.SubElement(doc, "open").text = "1"
    if description:
        ET.SubElement(doc, "description").text = description
    for style_id, (fill, opacity, line, width, filled) in KML_STYLES.items():
        style = ET.SubElement(doc, "Style", id=style_id)
        if style_id.startswith("site"):
            icon_style = ET.SubElement(style, "IconStyle")
            ET.SubElement(icon_style, "color").text = _kml_colour(fill, 1.0)
            ET.SubElement(icon_style, "scale").text = "1.1"
            icon = ET.SubElement(icon_style, "Icon")
            ET.SubElement(icon, "href").text = "http://maps.google.com/mapfiles/kml/shapes/triangle.png"
            label = ET.SubElement(style, "LabelStyle")
            ET.SubElement(label, "color").text = _kml_colour(fill, 1.0)
            continue
        line_style = ET.SubElement(style, "LineStyle")
        ET.SubElement(line_style, "color").text = _kml_colour(line, 1.0)
        ET.SubElement(line_style, "width").text = f"{width:g}"
        poly_style = ET.SubElement(style, "PolyStyle")
        ET.SubElement(poly_style, "color").text = _kml_colour(fill, opacity)
        ET.SubElement(poly_style, "fill").text = "1" if filled else "0"
        ET.SubElement(poly_style, "outline").text = "1"
    folders: dict[tuple[str, ...], ET.Element] = {}

    def folder_for(path: tuple[str, ...]) -> ET.Element:
        if not path:
            return doc
        if path not in folders:
            parent = folder_for(path[:-1])
            folder = ET.SubElement(parent, "Folder")
            ET.SubElement(folder, "name").text = path[-1]
            folders[path] = folder
        return folders[path]

    for group in feature_groups:
        group_path, features = group[0], group[1]
        options = group[2] if len(group) > 2 else {}
        path = (group_path,) if isinstance(group_path, str) else tuple(group_path)
        folder = folder_for(path)
        if options.get("description"):
            ET.SubElement(folder, "description").text = options["description"]
        if options.get("visible") is False:
            ET.SubElement(folder, "visibility").text = "0"
        for feature in features:
            _kml_placemark(folder, feature, visible=options.get("visible", True))
    ET.indent(root, space=" ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def write_kml(path, feature_groups, *, kmz: bool = False, name: str = "adcov", description: str = "") -> Path:
    """Write a styled KML (or KMZ: a zip holding ``doc.kml``) for Google Earth, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.kml`` or ``.kmz``.
    feature_groups : iterable of (folder, features[, options])
        ``folder`` is a folder name or a tuple of nested names (e.g. ``("Engagement",
        "100 m MSL")``: one folder per altitude); ``features`` are GeoJSON features (Polygon,
        MultiPolygon or Point in lon/lat), styled by ``properties.kind`` (coverage / lost /
        gained / site) and ``role``; ``options`` may set ``description`` and ``visible``.
    kmz : bool
        Write a KMZ archive instead of plain KML.
    name, description : str
        Document name and description (put the assumptions there).
    """
    data = kml_document(feature_groups, name=name, description=description)
    if kmz:
        data = _kmz_bytes(data)
    return _atomic_write_bytes(Path(path), data)


def _kmz_bytes(kml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("doc.kml", date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, kml)
    return buffer.getvalue()


def _site_features(sites) -> list[dict]:
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(s["lon_deg"], 6), round(s["lat_deg"], 6)]},
            "properties": {
                "kind": "site",
                "unit_id": s["unit_id"],
                "name": f"{s['unit_id']} ({s['system_name']}{', ' + s['status'] if s['status'] != 'active' else ''})",
                "system": s["system_name"],
                "status": s["status"],
                "antenna_height_m": s.get("antenna_height_m"),
            },
        }
        for s in sites
    ]


# ============================================================================ GeoTIFF


def assumption_tags(lines: Sequence[str], assumptions: dict) -> dict[str, str]:
    """GeoTIFF tags carrying the assumptions: a readable summary and the full JSON."""
    return {
        "assumptions": " | ".join(lines),
        "assumptions_json": json.dumps(assumptions, ensure_ascii=False, separators=(",", ":"), default=_json_default),
    }


def _raster_tags(coverage, base_tags: Mapping[str, str], **tags) -> dict[str, str]:
    out = {k: ("" if v is None else str(v)) for k, v in tags.items()}
    out["scenario"] = coverage.scenario_name
    out["generator"] = f"adcov {__version__}"
    out.update(base_tags)
    return out


def _full_grid(coverage, window, values: np.ndarray, fill=np.nan) -> np.ndarray:
    out = np.full(coverage.grid.shape, fill, dtype=np.float32)
    out[window] = values
    return out


def _floor_ceiling_full(coverage, uid: str, layer: str):
    """A unit's floor and ceiling [m MSL] on the full grid, NaN where it covers nothing."""
    env = coverage.envelopes[uid]
    floor, ceiling = env.floor_ceiling(layer)
    uncovered = ~np.isfinite(floor)
    floor_full = _full_grid(coverage, env.window, np.where(uncovered, np.nan, floor))
    ceiling_full = _full_grid(coverage, env.window, np.where(uncovered | ~np.isfinite(ceiling), np.nan, ceiling))
    inside = coverage.grid.inside_area
    if inside is not None:
        floor_full[~inside] = np.nan
        ceiling_full[~inside] = np.nan
    return floor_full, ceiling_full


def _write_rasters(stage: _StagedReport, coverage, prefix: str, layers, altitudes, altitude_ref, base_tags, *, unit_ids=None) -> None:
    """Floor/ceiling per unit and layer, combined floor, depth per altitude, under ``prefix``."""
    from simulator.terrain import write_geotiff

    grid = coverage.grid
    unit_ids = coverage.unit_ids if unit_ids is None else unit_ids
    for layer in layers:
        combined = np.full(grid.shape, np.inf, dtype=np.float32)
        for uid in coverage.unit_ids:
            floor, ceiling = _floor_ceiling_full(coverage, uid, layer)
            np.fmin(combined, floor, out=combined)
            if uid not in unit_ids:
                continue
            for quantity, values, meaning in (
                ("floor", floor, "lowest target altitude the unit covers over the cell"),
                ("ceiling", ceiling, "highest target altitude the unit covers"),
            ):
                write_geotiff(
                    stage.path(f"{prefix}{quantity}_{layer}_unit-{uid}.tif"), values, grid.transform, grid.crs, nodata=float("nan"),
                    tags=_raster_tags(coverage, base_tags, quantity=quantity, meaning=meaning, layer=layer, unit_id=uid, units="m MSL"),
                )
        combined[np.isinf(combined)] = np.nan
        write_geotiff(
            stage.path(f"{prefix}floor_{layer}_combined.tif"), combined, grid.transform, grid.crs, nodata=float("nan"),
            tags=_raster_tags(coverage, base_tags, quantity="floor", layer=layer, unit_ids=",".join(coverage.unit_ids), units="m MSL",
                              meaning="lowest floor over all units (min over units); a cell is covered at h when some unit's floor <= h <= its ceiling"),
        )
        dtype = np.uint8 if len(coverage.unit_ids) < 255 else np.uint16
        for altitude in altitudes:
            values = coverage.depth(layer, altitude, altitude_ref).astype(dtype)
            write_geotiff(
                stage.path(f"{prefix}depth_{layer}_{_altitude_slug(altitude)}_{altitude_ref}.tif"), values, grid.transform, grid.crs,
                tags=_raster_tags(coverage, base_tags, quantity="depth", meaning="number of units covering the cell", layer=layer,
                                  altitude_m=f"{float(altitude):g}", altitude_ref=altitude_ref, unit_ids=",".join(coverage.unit_ids), units="count"),
            )


# ============================================================================ PNG maps


class _MapFrame:
    """Display coordinates of a grid: lon/lat on geographic grids, the grid CRS otherwise."""

    def __init__(self, grid):
        t = grid.transform
        if abs(t.b) > 1e-12 or abs(t.d) > 1e-12:
            raise AdcovError("maps: rotated grids are not supported (the terrain's transform has rotation terms)")
        self.grid = grid
        self.geographic = bool(grid.crs.is_geographic)
        rows, cols = grid.shape
        self.x_centres = t.c + t.a * (np.arange(cols) + 0.5)
        self.y_centres = t.f + t.e * (np.arange(rows) + 0.5)
        x_edges = (t.c, t.c + t.a * cols)
        y_edges = (t.f + t.e * rows, t.f)
        self.extent = (min(x_edges), max(x_edges), min(y_edges), max(y_edges))
        self._to_display = pyproj.Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
        self._from_display = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
        _, south, _, north = grid.bounds_deg
        self.mid_lat = 0.5 * (south + north)
        self.aspect = 1.0 / math.cos(math.radians(self.mid_lat)) if self.geographic else 1.0
        # display units per km, east-west and north-south, at the grid centre
        cx, cy = 0.5 * (self.extent[0] + self.extent[1]), 0.5 * (self.extent[2] + self.extent[3])
        lon, lat = self.from_display(cx, cy)
        ex, _ = self.to_display(*WGS84_GEOD.fwd(lon, lat, 90.0, 1000.0)[:2])
        _, ny = self.to_display(*WGS84_GEOD.fwd(lon, lat, 0.0, 1000.0)[:2])
        self.per_km = (abs(ex - cx), abs(ny - cy))

    def to_display(self, lon, lat):
        return self._to_display.transform(lon, lat)

    def from_display(self, x, y):
        return self._from_display.transform(x, y)

    def view(self, masks: Sequence[np.ndarray], points: Sequence[tuple[float, float]], *, min_half_km: float = 60.0,
             pad_fraction: float = 0.12, max_ratio: float = 1.6) -> tuple[float, float, float, float]:
        """The map extent: the masks' true cells and the points, padded; the full grid if that is most of it."""
        x0, x1, y0, y1 = self.extent
        xs, ys = [], []
        for mask in masks:
            if mask is not None and np.any(mask):
                rows = np.flatnonzero(np.any(mask, axis=1))
                cols = np.flatnonzero(np.any(mask, axis=0))
                xs += [self.x_centres[cols[0]], self.x_centres[cols[-1]]]
                ys += [self.y_centres[rows[0]], self.y_centres[rows[-1]]]
        for x, y in points:
            if x0 <= x <= x1 and y0 <= y <= y1:
                xs.append(x)
                ys.append(y)
        if not xs:
            return self.extent
        kx, ky = self.per_km
        half_x = max(0.5 * (max(xs) - min(xs)) * (1 + 2 * pad_fraction), min_half_km * kx)
        half_y = max(0.5 * (max(ys) - min(ys)) * (1 + 2 * pad_fraction), min_half_km * ky)
        # keep the map's shape within 1/max_ratio .. max_ratio (width / height on paper)
        width, height = 2 * half_x * self.aspect_scale, 2 * half_y
        if width > max_ratio * height:
            half_y = width / max_ratio / 2
        elif height > max_ratio * width:
            half_x = height / max_ratio / 2 / self.aspect_scale
        cx, cy = 0.5 * (max(xs) + min(xs)), 0.5 * (max(ys) + min(ys))
        if 2 * half_x >= 0.8 * (x1 - x0) and 2 * half_y >= 0.8 * (y1 - y0):
            return self.extent
        half_x, half_y = min(half_x, 0.5 * (x1 - x0)), min(half_y, 0.5 * (y1 - y0))
        cx = min(max(cx, x0 + half_x), x1 - half_x)
        cy = min(max(cy, y0 + half_y), y1 - half_y)
        return (cx - half_x, cx + half_x, cy - half_y, cy + half_y)

    @property
    def aspect_scale(self) -> float:
        """Paper width of one display x unit relative to one y unit."""
        return 1.0 / self.aspect if self.geographic else 1.0


@lru_cache(maxsize=4)
def _map_frame(grid) -> _MapFrame:
    return _MapFrame(grid)


@lru_cache(maxsize=4)
def _basemap_rgb(grid_key: str, grid) -> np.ndarray:
    """Hillshaded terrain (row 0 north), sea flat pale blue, as RGBA: transparent where the
    DEM has no data (voids, and cells beyond it), so Natural Earth's land and sea show there."""
    from matplotlib.colors import LightSource, LinearSegmentedColormap, Normalize

    elevation = np.asarray(grid.elevation_m, dtype=np.float64)
    land = elevation >= COASTLINE_LEVEL_M
    top = max(float(np.percentile(elevation[land], 99.5)) if land.any() else 1.0, 200.0)
    cmap = LinearSegmentedColormap.from_list("adcov_land", LAND_COLOURS)
    rgb = cmap(Normalize(0.0, top, clip=True)(elevation))[..., :3]
    ew_m, ns_m = grid.cell_size_m
    ls = LightSource(azdeg=315, altdeg=40)
    shade = ls.hillshade(elevation, vert_exag=max(1.0, min(6.0, 3000.0 / top)), dx=ew_m, dy=ns_m)
    shaded = rgb * (0.55 + 0.45 * shade[..., None]) + 0.08 * shade[..., None]
    shaded = np.clip(shaded, 0.0, 1.0)
    shaded[~land] = SEA_RGB
    beyond = ~np.isfinite(elevation)
    past_dem = beyond_dem(grid)  # an analysis grid may reach past the DEM (outside_terrain: sea)
    if past_dem is not None:
        beyond |= past_dem
    alpha = np.where(beyond, 0.0, 1.0)[..., None]
    rgb8 = np.round(np.concatenate([shaded, alpha], axis=2) * 255.0).astype(np.uint8)  # uint8: nothing to convert at every draw
    rgb8.flags.writeable = False
    return rgb8


def _nice_step(span: float, candidates, max_lines: int = 8) -> float:
    for step in candidates:
        if span / step <= max_lines:
            return step
    return candidates[-1]


def _deg_label(value: float, positive: str, negative: str, step: float) -> str:
    decimals = 0 if step >= 1 else (1 if step >= 0.1 else 2)
    hemi = positive if value > 1e-9 else (negative if value < -1e-9 else "")
    return f"{abs(value):.{decimals}f}°{hemi}"


def _draw_graticule(ax, frame: _MapFrame, view) -> None:
    x0, x1, y0, y1 = view
    corners_x = np.array([x0, x1, x1, x0, 0.5 * (x0 + x1), 0.5 * (x0 + x1), x0, x1])
    corners_y = np.array([y0, y0, y1, y1, y0, y1, 0.5 * (y0 + y1), 0.5 * (y0 + y1)])
    lon_c, lat_c = frame.from_display(corners_x, corners_y)
    west, east, south, north = float(np.min(lon_c)), float(np.max(lon_c)), float(np.min(lat_c)), float(np.max(lat_c))
    candidates = (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30)
    step = _nice_step(max(east - west, north - south), candidates, max_lines=9)
    lons = np.arange(math.ceil(west / step) * step, east + 1e-9, step)
    lats = np.arange(math.ceil(south / step) * step, north + 1e-9, step)
    style = {"color": "#4d5b66", "linewidth": 0.45, "alpha": 0.55, "zorder": 6, "linestyle": (0, (4, 3))}
    xticks, xlabels, yticks, ylabels = [], [], [], []
    for lon in lons:
        lat_line = np.linspace(south - step, north + step, 100)
        x, y = (np.asarray(v) for v in frame.to_display(np.full_like(lat_line, lon), lat_line))
        ax.plot(x, y, **style)
        order = np.argsort(y)
        xb = float(np.interp(y0, y[order], x[order]))
        if x0 <= xb <= x1:
            xticks.append(xb)
            xlabels.append(_deg_label(lon, "E", "W", step))
    for lat in lats:
        lon_line = np.linspace(west - step, east + step, 100)
        x, y = (np.asarray(v) for v in frame.to_display(lon_line, np.full_like(lon_line, lat)))
        ax.plot(x, y, **style)
        order = np.argsort(x)
        yl = float(np.interp(x0, x[order], y[order]))
        if y0 <= yl <= y1:
            yticks.append(yl)
            ylabels.append(_deg_label(lat, "N", "S", step))
    ax.set_xticks(xticks, xlabels, fontsize=8)
    ax.set_yticks(yticks, ylabels, fontsize=8)
    ax.tick_params(direction="out", length=3, top=True, right=True, labeltop=False, labelright=False)


def _draw_scale_bar(ax, frame: _MapFrame, view) -> None:
    from matplotlib.patches import Rectangle

    x0, x1, y0, y1 = view
    bx, by = x0 + 0.035 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    lon0, lat0 = frame.from_display(bx, by)
    lon_e, lat_e = frame.from_display(x1, by)
    _, _, width_m = WGS84_GEOD.inv(lon0, lat0, lon_e, lat_e)
    target_km = width_m / 1000.0 / 4.0
    nice = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000]
    length_km = max([n for n in nice if n <= target_km] or [nice[0]])
    lon1, lat1, _ = WGS84_GEOD.fwd(lon0, lat0, 90.0, length_km * 1000.0)
    ex, _ = frame.to_display(lon1, lat1)
    height = 0.011 * (y1 - y0)
    segments = 4
    seg = (ex - bx) / segments
    pad_x, pad_y = 0.012 * (x1 - x0), 0.014 * (y1 - y0)
    ax.add_patch(Rectangle((bx - pad_x, by - 2.2 * pad_y), ex - bx + 2.6 * pad_x + 0.05 * (x1 - x0), height + 4.6 * pad_y,
                           facecolor="white", edgecolor="none", alpha=0.85, zorder=10))
    for i in range(segments):
        ax.add_patch(Rectangle((bx + i * seg, by), seg, height, facecolor=INK if i % 2 == 0 else "white",
                               edgecolor=INK, linewidth=0.6, zorder=11))
    for i, label in ((0, "0"), (segments // 2, f"{length_km / 2:g}"), (segments, f"{length_km:g} km")):
        ax.text(bx + i * seg, by + height + 0.35 * pad_y, label, ha="left" if i == segments else "center",
                va="bottom", fontsize=7.5, color=INK, zorder=12)
    ax.text(bx, by - 0.5 * pad_y, "geodesic distance", fontsize=6.5, color="#444444", va="top", ha="left", zorder=12)


def _view_bounds_deg(frame: _MapFrame, view, pad: float = 0.0) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the view [deg] (from a 9 x 9 sample), widened by ``pad`` of its span."""
    xs = np.linspace(view[0], view[1], 9)
    ys = np.linspace(view[2], view[3], 9)
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = frame.from_display(gx.ravel(), gy.ravel())
    west, south, east, north = float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat))
    dx, dy = pad * (east - west), pad * (north - south)
    return (west - dx, south - dy, east + dx, north + dy)


@lru_cache(maxsize=8)
def _natural_earth_paths(frame: _MapFrame, view: tuple[float, float, float, float]):
    """Matplotlib paths in display coordinates of the view's Natural Earth sea (where the
    bundled data reaches), land and coastline; edges densified to follow the projection."""
    from matplotlib.path import Path as MplPath

    bounds = _view_bounds_deg(frame, view, pad=0.05)
    step = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 300.0

    def path(geometry, closed: bool):
        vertices, codes = [], []
        for ring in basemap_rings(geometry, None if frame.geographic else step):
            if len(ring) < 2:
                continue
            x, y = frame.to_display(ring[:, 0], ring[:, 1])
            vertices.append(np.column_stack([x, y]))
            kind = np.full(len(ring), MplPath.LINETO, dtype=MplPath.code_type)
            kind[0] = MplPath.MOVETO
            if closed:
                kind[-1] = MplPath.CLOSEPOLY
            codes.append(kind)
        return MplPath(np.concatenate(vertices), np.concatenate(codes)) if vertices else None

    return path(data_extent_in(bounds), True), path(land_in(bounds), True), path(coastline_in(bounds), False)


def _draw_natural_earth(ax, frame: _MapFrame, view, coast: bool = True) -> None:
    """Natural Earth sea, land and coast beneath the terrain image (which is transparent
    only where the DEM has no data, so this shows there and nowhere else)."""
    from matplotlib.patches import PathPatch

    sea, land, coastline = _natural_earth_paths(frame, tuple(float(v) for v in view))
    # add_artist, not add_patch: the view is set already, and data limits over every vertex cost ~50 ms
    if sea is not None:
        ax.add_artist(PathPatch(sea, facecolor=SEA_RGB, edgecolor="none", zorder=-3, gid="natural-earth-sea"))
    if land is not None:
        ax.add_artist(PathPatch(land, facecolor=NE_LAND_RGB, edgecolor="none", zorder=-2, gid="natural-earth-land"))
    if coast and coastline is not None:
        ax.add_artist(PathPatch(coastline, facecolor="none", edgecolor=NE_COAST_RGB, linewidth=0.5, zorder=-1,
                                gid="natural-earth-coast"))


def _spaced_capitals(name: str) -> str:
    """``"North Korea"`` -> ``"N O R T H   K O R E A"`` with thin spaces: a map's country style."""
    return "\u2003".join("\u2009".join(word) for word in name.upper().split())


def _draw_countries(fig, ax, frame: _MapFrame, view, sites_xy=()) -> list:
    """Country names (Natural Earth) in letter-spaced grey capitals, inside the map, where
    they overlap no label already drawn (towns, sites, scale bar) nor a unit marker if any
    nearby spot allows; a name that fits nowhere inside the map is left out."""
    import matplotlib.patheffects as pe
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    taken = [t.get_window_extent(renderer) for t in ax.texts if t.get_visible() and t.get_text().strip()]
    taken += [p.get_window_extent(renderer) for p in ax.patches if p.get_zorder() >= 9]  # the scale bar's box
    for x, y in sites_xy:
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox([[px - 8, py - 8], [px + 8, py + 8]]))
    halo = [pe.withStroke(linewidth=2.2, foreground="white", alpha=0.6)]
    to_data = ax.transData.inverted()
    drawn = []
    for name, lon, lat in country_labels(_view_bounds_deg(frame, view)):
        x, y = frame.to_display(lon, lat)
        px, py = ax.transData.transform((x, y))
        text = ax.text(x, y, _spaced_capitals(name), fontsize=8.6, color=COUNTRY_RGB, ha="center", va="center", zorder=8,
                       clip_on=True, path_effects=halo, gid=f"country:{name}")
        best, best_cost = None, math.inf
        for dy in (0, 14, -14, 28, -28, 42, -42):
            for dx in (0, 40, -40, 80, -80):
                text.set_position(to_data.transform((px + dx, py + dy)))
                box = text.get_window_extent(renderer)
                if not (box.x0 >= axes_box.x0 + 3 and box.x1 <= axes_box.x1 - 3 and box.y0 >= axes_box.y0 + 3 and box.y1 <= axes_box.y1 - 3):
                    continue
                cost = sum(_overlap_area(box, other) for other in taken) + 0.05 * math.hypot(dx, dy)
                if cost < best_cost:
                    best, best_cost = (dx, dy), cost
            if best is not None and best_cost <= 0.05 * 45:
                break
        if best is None:
            text.remove()
            continue
        text.set_position(to_data.transform((px + best[0], py + best[1])))
        taken.append(text.get_window_extent(renderer))
        drawn.append(text)
    return drawn


def _overlap_area(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _draw_places(ax, frame: _MapFrame, view, sites) -> None:
    """Town names (GeoNames) inside the view: a dot and a haloed label, clipped to the map."""
    import matplotlib.patheffects as pe

    bounds = _view_bounds_deg(frame, view)
    halo = [pe.withStroke(linewidth=2.4, foreground="white", alpha=0.85)]
    for place in places_to_label(bounds, sites):
        x, y = frame.to_display(place.lon_deg, place.lat_deg)
        if not (view[0] <= x <= view[1] and view[2] <= y <= view[3]):
            continue
        ax.plot([x], [y], marker="o", markersize=2.6, color="#333333", zorder=9, linestyle="none", clip_on=True)
        ax.text(x, y, " " + place.name, fontsize=7.2, color="#222222", ha="left", va="center", zorder=9,
                clip_on=True, path_effects=halo)


def _overlaps(a, b, pad: float = 2.0) -> bool:
    return not (a.x1 + pad < b.x0 or b.x1 + pad < a.x0 or a.y1 + pad < b.y0 or b.y1 + pad < a.y0)


def _place_labels(fig, ax, sites, positions, avoid=()) -> None:
    """Label each site where the text overlaps neither another label, a marker nor ``avoid`` boxes."""
    from matplotlib import patheffects
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    marker_boxes = []
    for x, y in positions:
        px, py = ax.transData.transform((x, y))
        marker_boxes.append(Bbox([[px - 7, py - 7], [px + 7, py + 7]]))
    placed = list(marker_boxes) + list(avoid)
    offsets = []
    for radius in (9, 22, 40, 62, 90, 125):
        for angle in (35, -35, 145, -145, 0, 180, 90, -90, 60, -60, 120, -120, 15, -15, 165, -165):
            a = math.radians(angle)
            offsets.append((radius * math.cos(a), radius * math.sin(a)))
    halo = [patheffects.withStroke(linewidth=3.0, foreground="white")]
    order = sorted(range(len(sites)), key=lambda i: sites[i]["status"] != "withdrawn")
    for i in order:
        site, (x, y) = sites[i], positions[i]
        colour = {"withdrawn": VERMILLION, "added": BLUISH_GREEN}.get(site["status"], INK)
        chosen = None
        for dx, dy in offsets:
            ha = "left" if dx > 1 else ("right" if dx < -1 else "center")
            va = "bottom" if dy > 1 else ("top" if dy < -1 else "center")
            px, py = ax.transData.transform((x, y))
            if not (axes_box.x0 <= px <= axes_box.x1 and axes_box.y0 <= py <= axes_box.y1):
                break  # site outside the view: no label
            ann = ax.annotate(
                site["label"], (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=8.2,
                color=colour, fontweight="bold", zorder=14, path_effects=halo, annotation_clip=True,
                arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.8, "shrinkA": 1, "shrinkB": 5} if math.hypot(dx, dy) > 12 else None,
            )
            box = ann.get_window_extent(renderer)
            inside = box.x0 >= axes_box.x0 + 2 and box.x1 <= axes_box.x1 - 2 and box.y0 >= axes_box.y0 + 2 and box.y1 <= axes_box.y1 - 2
            if inside and not any(_overlaps(box, other) for j, other in enumerate(placed) if j != i):
                chosen = box
                break
            ann.remove()
        if chosen is not None:
            placed.append(chosen)


def _sites_of(coverage, status: str = "active") -> list[dict]:
    return [
        {
            "unit_id": uid,
            "system_name": env.figures.system_name,
            "lat_deg": env.figures.lat_deg,
            "lon_deg": env.figures.lon_deg,
            "antenna_height_m": env.figures.antenna_height_m,
            "status": status,
        }
        for uid, env in coverage.envelopes.items()
    ]


def _crop(frame: _MapFrame, view, margin: int = 2):
    """Row and column slices of the grid that cover ``view`` (plus a margin)."""
    x0, x1, y0, y1 = view
    xc, yc = frame.x_centres, frame.y_centres
    cols = np.flatnonzero((xc >= x0) & (xc <= x1))
    rows = np.flatnonzero((yc >= y0) & (yc <= y1))
    if cols.size == 0 or rows.size == 0:
        return slice(None), slice(None)
    return (slice(max(rows[0] - margin, 0), rows[-1] + margin + 1), slice(max(cols[0] - margin, 0), cols[-1] + margin + 1))


def _draw_area(ax, frame, mask, style_key, zorder: float, crop) -> None:
    colour, alpha, hatch = AREA_STYLE[style_key]
    rs, cs = crop
    if not mask[rs, cs].any():
        return
    # pad with uncovered cells so every boundary closes (and a fully covered crop still has one)
    z = np.pad(np.asarray(mask[rs, cs], dtype=np.float32), 1)
    x, y = _padded(frame.x_centres[cs]), _padded(frame.y_centres[rs])
    ax.contourf(x, y, z, levels=[0.5, 1.5], colors=[colour], alpha=alpha, zorder=zorder, antialiased=True)
    if hatch:
        hatched = ax.contourf(x, y, z, levels=[0.5, 1.5], colors="none", hatches=[hatch], zorder=zorder + 0.1)
        hatched.set_hatchcolor(colour)
        hatched.set_hatch_linewidth(0.6)
    ax.contour(x, y, z, levels=[0.5], colors=[colour], linewidths=1.1, zorder=zorder + 0.2)


def _padded(centres: np.ndarray) -> np.ndarray:
    """Cell centres with one more cell on each side."""
    step = centres[1] - centres[0] if centres.size > 1 else 1.0
    return np.concatenate([[centres[0] - step], centres, [centres[-1] + step]])


def _area_handle(style_key, label):
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    colour, alpha, hatch = AREA_STYLE[style_key]
    return Patch(facecolor=to_rgba(colour, alpha), edgecolor=colour, hatch=hatch, linewidth=1.0, label=label)


def _assumptions_footer(lines: Sequence[str], width: int, *, width_in: float | None = None, fontsize: float = 6.6) -> str:
    """The footer lines wrapped at ``width`` characters or, with ``width_in``, at the width the
    text takes in that font: a line of wide letters (source ids, ``max_range_km``) would
    otherwise run past the figure's edge."""
    if width_in is None:
        return "\n".join(w for line in lines for w in (textwrap.wrap(line, width=width, subsequent_indent="    ") or [""]))
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=fontsize)
    limit_pt = 72.0 * width_in
    wrapped = []
    for line in lines:
        chars = width
        while True:
            pieces = textwrap.wrap(line, width=chars, subsequent_indent="    ") or [""]
            widest = max(text_to_path.get_text_width_height_descent(p, prop, ismath=False)[0] for p in pieces)
            if widest <= limit_pt or chars <= 20:
                break
            chars = max(20, int(chars * limit_pt / widest) - 1)
        wrapped += pieces
    return "\n".join(wrapped)


def _km2(value: float) -> str:
    return f"{value:,.0f} km²" if value >= 10 or value == 0 else f"{value:,.1f} km²"


def _percent(value: float) -> str:
    return f"{value:+.1f} %" if 99.0 < abs(value) < 100.0 or abs(value) < 1.0 else f"{value:+.0f} %"


def _thumbnail(fig, rect, frame, view, basemap, mask, title: str, area_text: str, crop) -> None:
    """A small map of one scenario's coverage (solid blue) for the side panel."""
    ax = fig.add_axes(rect)
    rs, cs = crop
    extent = _crop_extent(frame, crop)
    rgb = basemap[rs, cs].copy()
    covered = np.asarray(mask[rs, cs], dtype=bool)
    blue = np.array([0, 114, 178], dtype=np.float32)  # BLUE
    rgb[covered, :3] = np.round(0.38 * rgb[covered, :3] + 0.62 * blue).astype(np.uint8)
    rgb[covered, 3] = np.maximum(rgb[covered, 3], 170)
    _draw_natural_earth(ax, frame, view, coast=False)
    ax.imshow(rgb, extent=extent, origin="upper", interpolation="antialiased", zorder=0)
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])
    ax.set_aspect(frame.aspect, adjustable="box", anchor="N")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#777777")
    import textwrap

    # a long scenario name wraps to the thumbnail's width (about 9 characters an inch at 8.5 pt)
    width_chars = max(12, int(rect[2] * fig.get_figwidth() * 11))
    ax.set_title(textwrap.fill(title, width_chars), fontsize=8.5, fontweight="bold", loc="left", pad=3)
    ax.text(0.03, 0.04, area_text, transform=ax.transAxes, fontsize=7.5, fontweight="bold", color=INK,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})


def _crop_extent(frame, crop):
    rs, cs = crop
    t = frame.grid.transform
    rows = range(frame.grid.n_rows)[rs]
    cols = range(frame.grid.n_cols)[cs]
    xa, xb = t.c + t.a * cols.start, t.c + t.a * (cols.stop)
    ya, yb = t.f + t.e * rows.start, t.f + t.e * (rows.stop)
    return (min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb))


def render_map_png(
    path,
    coverage,
    *,
    layer: str,
    altitude_m: float,
    altitude_ref: str = "msl",
    baseline_mask: np.ndarray | None = None,
    variant_mask: np.ndarray | None = None,
    lost_mask: np.ndarray | None = None,
    gained_mask: np.ndarray | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    assumptions: Sequence[str] | str | dict | None = None,
    sites: Sequence[dict] | None = None,
    names: tuple[str, str] | None = None,
    comparison=None,
    zoom: bool = True,
    dpi: int = MAP_DPI,
) -> Path:
    """Draw one coverage map to a PNG (atomically) and return its path.

    Hillshaded terrain (sea flat pale blue, coastline = the DEM's 0.5 m contour) over Natural
    Earth's land, sea and coast (seen where the DEM has no data), country names (Natural
    Earth) and town names (GeoNames), a lat/lon graticule, a geodesic scale bar, site markers with non-overlapping labels, a side panel
    with the areas and the legend, a title, and a footer with the assumptions (also stored
    as the PNG's ``Description`` text chunk).

    Without masks it maps ``coverage`` at the altitude: cells covered by one unit and by
    two or more. With ``baseline_mask`` and ``variant_mask`` it maps a comparison: covered
    before and after (blue), lost (vermillion, hatched ``////``), gained (bluish green,
    hatched the other way), and small "before" and "after" maps in the side panel;
    ``lost_mask``/``gained_mask`` default to the differences.

    Parameters
    ----------
    coverage : Coverage
        Grid, terrain and (for a single-scenario map) the units.
    layer : {"detection", "engagement"}
    altitude_m : float
        Target altitude. [m]
    altitude_ref : {"msl", "agl"}
    sites : list of dict, optional
        ``unit_id``, ``system_name``, ``lat_deg``, ``lon_deg``, ``status`` (active,
        withdrawn, added); default: the coverage's units, active.
    names : (str, str), optional
        Baseline and variant names for a comparison.
    comparison : simulator.compare.Comparison, optional
        Map this comparison at ``layer`` and ``altitude_m``: the masks, names and sites
        (withdrawn / added) default to its own.
    assumptions : list of str, str or dict, optional
        Footer lines; default :func:`assumption_lines` of ``coverage``.
    zoom : bool
        Zoom onto the covered area and the sites (the whole grid when they fill most of it).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if comparison is not None:
        change = comparison.change(layer, altitude_m)
        altitude_ref = comparison.altitude_ref
        baseline_mask = change.baseline_cells if baseline_mask is None else baseline_mask
        variant_mask = change.variant_cells if variant_mask is None else variant_mask
        lost_mask = change.lost_cells if lost_mask is None else lost_mask
        gained_mask = change.gained_cells if gained_mask is None else gained_mask
        names = names or (comparison.baseline_name, comparison.variant_name)
        sites = comparison_sites(comparison) if sites is None else sites
    grid = coverage.grid
    frame = _map_frame(grid)
    comparing = baseline_mask is not None or variant_mask is not None
    if isinstance(assumptions, dict):
        lines = assumption_lines(coverage, assumptions)
    elif isinstance(assumptions, str):
        lines = [assumptions]
    elif assumptions is None:
        lines = comparison_assumption_lines(comparison) if comparison is not None else assumption_lines(coverage)
    else:
        lines = list(assumptions)
    sites = [dict(s) for s in (sites if sites is not None else _sites_of(coverage))]
    alt_text = _altitude_label(altitude_m, altitude_ref)
    layer_text = {"engagement": "Engagement", "detection": "Detection"}.get(layer, layer)
    before_name, after_name = names or ("baseline", "variant")

    if comparing:
        base = np.asarray(baseline_mask if baseline_mask is not None else np.zeros(grid.shape, bool), dtype=bool)
        var = np.asarray(variant_mask if variant_mask is not None else np.zeros(grid.shape, bool), dtype=bool)
        lost = np.asarray(lost_mask, dtype=bool) if lost_mask is not None else base & ~var
        gained = np.asarray(gained_mask, dtype=bool) if gained_mask is not None else var & ~base
        kept = base & var
        masks = [base, var]
    else:
        depth = coverage.depth(layer, altitude_m, altitude_ref)
        masks = [depth > 0]
    positions = [frame.to_display(s["lon_deg"], s["lat_deg"]) for s in sites]
    view = frame.view(masks, positions) if zoom else frame.extent
    crop = _crop(frame, view)

    # ---- layout in inches: map (height fixed, width from its shape), side panel, footer
    paper_ratio = (view[1] - view[0]) * frame.aspect_scale / (view[3] - view[2])
    map_h = 7.0 if paper_ratio <= 1.45 else 10.2 / paper_ratio
    map_w = map_h * paper_ratio
    left, gap, side_w, right = 0.75, 0.45, 3.9, 0.25
    fig_w = left + map_w + gap + side_w + right
    footer_lines = ["Assumptions: " + lines[0], *lines[1:]] if lines else []
    footer_lines.append(PLACES_CREDIT + ".")
    footer_lines.append(BASEMAP_CREDIT + ".")
    footer = _assumptions_footer(footer_lines, int((fig_w - 1.0) * 19.5), width_in=fig_w - left - right, fontsize=6.6)
    footer_h = 0.118 * (footer.count("\n") + 1) + 0.35
    top_h, below_map = 1.0, 0.42
    fig_h = top_h + map_h + below_map + footer_h
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)

    def rect(x_in, y_in, w_in, h_in):  # y from the bottom
        return (x_in / fig_w, y_in / fig_h, w_in / fig_w, h_in / fig_h)

    map_bottom = footer_h + below_map
    ax = fig.add_axes(rect(left, map_bottom, map_w, map_h))
    basemap = _basemap_rgb(grid.key, grid)
    rs, cs = crop
    _draw_natural_earth(ax, frame, view)
    ax.imshow(basemap[rs, cs], extent=_crop_extent(frame, crop), origin="upper", interpolation="bilinear", zorder=0)

    handles = []
    stats = []
    if comparing:
        _draw_area(ax, frame, kept, "kept", 2, crop)
        _draw_area(ax, frame, lost, "lost", 3, crop)
        _draw_area(ax, frame, gained, "gained", 3, crop)
        # base = kept + lost and var = kept + gained, disjointly
        a_base, a_lost, a_gained = coverage.area_km2(base), coverage.area_km2(lost), coverage.area_km2(gained)
        a_kept = max(a_base - a_lost, 0.0)
        a_var = a_kept + a_gained
        handles += [
            _area_handle("kept", f"Still covered (before and after)\n{_km2(a_kept)}"),
            _area_handle("lost", f"Lost: covered in {before_name},\nnot in {after_name}: {_km2(a_lost)}"),
            _area_handle("gained", f"Gained: covered only in {after_name}\n{_km2(a_gained)}"),
        ]
        stats = [("Before", before_name, _km2(a_base)), ("After", after_name, _km2(a_var))]
        if a_base > 0:
            stats.append(("Change", "", f"{a_var - a_base:+,.0f} km² ({_percent((a_var - a_base) / a_base * 100.0)})".replace("-", "−")))
    else:
        one, more = depth == 1, depth >= 2
        _draw_area(ax, frame, one | more, "covered", 2, crop)
        _draw_area(ax, frame, more, "covered2", 2.5, crop)
        handles += [
            _area_handle("covered", f"Covered by 1 unit\n{_km2(coverage.area_km2(one))}"),
            _area_handle("covered2", f"Covered by 2 or more units\n{_km2(coverage.area_km2(more))}"),
        ]
        stats = [("Covered", coverage.scenario_name, _km2(coverage.area_km2(depth > 0)))]

    rs, cs = crop
    elevation = np.asarray(grid.elevation_m[rs, cs], dtype=np.float32)
    elevation = np.where(basemap[rs, cs, 3] == 0, np.nan, elevation)  # no DEM coast along the DEM's own edge
    if np.isfinite(elevation).any() and np.nanmin(elevation) < COASTLINE_LEVEL_M <= np.nanmax(elevation):
        ax.contour(frame.x_centres[cs], frame.y_centres[rs], elevation, levels=[COASTLINE_LEVEL_M], colors=["#3c4a55"],
                   linewidths=0.6, zorder=5)
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])
    ax.set_aspect(frame.aspect, adjustable="box", anchor="NW")
    _draw_graticule(ax, frame, view)
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])

    for site, (x, y) in zip(sites, positions):
        if site["status"] == "withdrawn":
            ax.plot([x], [y], marker="^", markersize=10, markerfacecolor="white", markeredgecolor=VERMILLION, markeredgewidth=1.8,
                    zorder=12, linestyle="none")
            ax.plot([x], [y], marker="x", markersize=6, color=VERMILLION, markeredgewidth=1.8, zorder=13, linestyle="none")
        else:
            face = BLUISH_GREEN if site["status"] == "added" else INK
            ax.plot([x], [y], marker="^", markersize=10, markerfacecolor=face, markeredgecolor="white", markeredgewidth=1.0,
                    zorder=12, linestyle="none")
        status = {"withdrawn": " (withdrawn)", "added": " (added)"}.get(site["status"], "")
        site["label"] = f"{site['system_name']}{status}\n{site['unit_id']}"
    statuses = {s["status"] for s in sites}
    if statuses - {"withdrawn", "added"}:
        handles.append(Line2D([], [], marker="^", markersize=10, markerfacecolor=INK, markeredgecolor="white", linestyle="none",
                              label="Unit site" + (" (still there)" if comparing else "")))
    if "withdrawn" in statuses:
        handles.append(Line2D([], [], marker="^", markersize=10, markerfacecolor="white", markeredgecolor=VERMILLION, markeredgewidth=1.8,
                              linestyle="none", label=f"Withdrawn unit site (gone in {after_name})"))
    if "added" in statuses:
        handles.append(Line2D([], [], marker="^", markersize=10, markerfacecolor=BLUISH_GREEN, markeredgecolor="white", linestyle="none",
                              label=f"Added unit site (new in {after_name})"))
    handles.append(Line2D([], [], color="#3c4a55", linewidth=0.8, label="Coastline (DEM 0.5 m contour)"))
    if grid.area_bounds_deg is not None:
        # the analysis stops at the scenario's box: show where (nothing beyond it is computed)
        w, s_, e, n = grid.area_bounds_deg
        t = np.linspace(0.0, 1.0, 64)
        lon = np.concatenate([w + (e - w) * t, np.full(64, e), e - (e - w) * t, np.full(64, w)])
        lat = np.concatenate([np.full(64, s_), s_ + (n - s_) * t, np.full(64, n), n - (n - s_) * t])
        bx, by = frame.to_display(lon, lat)
        ax.plot(bx, by, color=INK, linewidth=1.4, linestyle=(0, (6, 3)), zorder=11)
        handles.append(Line2D([], [], color=INK, linewidth=1.4, linestyle=(0, (6, 3)),
                              label="Edge of the analysis area\n(nothing computed beyond)"))
    _draw_scale_bar(ax, frame, view)
    _draw_places(ax, frame, view, [(s["lat_deg"], s["lon_deg"]) for s in sites])

    if title is None:
        if comparing:
            title = f"{layer_text} coverage at {alt_text}: {before_name} → {after_name}"
        else:
            title = f"{coverage.scenario_name or 'Scenario'}: {layer_text.lower()} coverage at {alt_text}"
    if subtitle is None:
        verb = "engage" if layer == "engagement" else "detect"
        subtitle = f"Where at least one unit can {verb} a target flying at {alt_text.split(' m ')[0]} m {_altitude_words(altitude_ref)}."
        withdrawn = [s["unit_id"] for s in sites if s["status"] == "withdrawn"]
        added = [s["unit_id"] for s in sites if s["status"] == "added"]
        if withdrawn:
            subtitle += f" Withdrawn in {after_name}: {', '.join(withdrawn)}."
        if added:
            subtitle += f" Added in {after_name}: {', '.join(added)}."
    fig.text(left / fig_w, 1 - 0.22 / fig_h, title, fontsize=15, fontweight="bold", ha="left", va="top", color=INK)
    fig.text(left / fig_w, 1 - 0.58 / fig_h, subtitle, fontsize=10.5, ha="left", va="top", color="#333333")

    # ---- side panel: numbers, legend, before/after thumbnails
    side_x = left + map_w + gap
    side = fig.add_axes(rect(side_x, map_bottom, side_w, map_h))
    side.set_axis_off()
    y = 1.0
    side.text(0.0, y, f"{layer_text} layer · {alt_text}", fontsize=11, fontweight="bold", va="top", transform=side.transAxes)
    y -= 0.055
    for label, name, value in stats:
        side.text(0.0, y, label + (f" ({name})" if name else ""), fontsize=9, va="top", transform=side.transAxes, color="#333333")
        side.text(1.0, y, value, fontsize=9.5, fontweight="bold", va="top", ha="right", transform=side.transAxes)
        y -= 0.042
    import textwrap

    for handle in handles:  # long scenario names wrap instead of running off the page
        handle.set_label("\n".join(textwrap.fill(line, 40) for line in handle.get_label().split("\n")))
    renderer = fig.canvas.get_renderer()
    right_edge_px = (fig_w - right * 0.5) * dpi
    for fontsize in (8.6, 8.0, 7.4, 6.8, 6.2):
        legend = side.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, y - 0.01), frameon=False,
                             fontsize=fontsize, handlelength=2.6, handleheight=1.7, labelspacing=0.75, borderaxespad=0.0)
        if legend.get_window_extent(renderer).x1 <= right_edge_px:
            break
    side.add_artist(legend)
    legend_bottom_in = legend.get_window_extent(renderer).y0 / dpi
    if comparing:
        thumb_w = (side_w - 0.2) / 2
        thumb_h = min(thumb_w / paper_ratio, legend_bottom_in - map_bottom - 0.45)
        thumb_w = thumb_h * paper_ratio
        if thumb_h > 0.8:
            thumb_y = legend_bottom_in - 0.5 - thumb_h
            _thumbnail(fig, rect(side_x, thumb_y, thumb_w, thumb_h), frame, view, basemap, base, f"Before: {before_name}", _km2(a_base), crop)
            _thumbnail(fig, rect(side_x + thumb_w + 0.2, thumb_y, thumb_w, thumb_h), frame, view, basemap, var, f"After: {after_name}", _km2(a_var), crop)

    fig.text(left / fig_w, (footer_h - 0.12) / fig_h, footer, fontsize=6.6, ha="left", va="top", color="#333333", linespacing=1.35)
    fig.text(1 - right / fig_w, 0.06 / fig_h, f"adcov {__version__} · published nominal figures, not observed capabilities", fontsize=6.5,
             ha="right", va="bottom", color="#666666")

    ax.apply_aspect()
    _place_labels(fig, ax, sites, positions)
    _draw_countries(fig, ax, frame, view, positions)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Title": title, "Description": "\n".join(lines), "Software": f"adcov {__version__}"},
                pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return _atomic_write_bytes(Path(path), buffer.getvalue())


def render_area_chart_png(path, rows_by_layer: Mapping[str, Sequence[Mapping]], *, names: tuple[str, str] | None = None,
                          altitude_ref: str = "msl", title: str = "", subtitle: str = "", footer: Sequence[str] = (),
                          dpi: int = MAP_DPI) -> Path:
    """Covered area vs altitude, one panel per layer.

    ``rows_by_layer[layer]`` rows carry ``altitude_m`` and either ``baseline_km2`` and
    ``variant_km2`` (a comparison: both lines, the area lost shaded) or ``covered_km2``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    layers = list(rows_by_layer)
    fig = Figure(figsize=(6.0 * max(len(layers), 1) + 0.5, 5.8), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(len(layers), 1), squeeze=False)[0]
    for ax, layer in zip(axes, layers):
        rows = sorted(rows_by_layer[layer], key=lambda r: r["altitude_m"])
        alt = np.array([r["altitude_m"] for r in rows], dtype=float)
        positive = alt > 0
        if "baseline_km2" in (rows[0] if rows else {}):
            before = np.array([r["baseline_km2"] for r in rows])
            after = np.array([r["variant_km2"] for r in rows])
            ax.plot(alt, before, color="#444444", marker="o", linewidth=2, label=f"Before: {names[0] if names else 'baseline'}", zorder=3)
            ax.plot(alt, after, color=BLUE, marker="s", linewidth=2, label=f"After: {names[1] if names else 'variant'}", zorder=3)
            if np.any(before > after):
                ax.fill_between(alt, after, before, where=before >= after, color=VERMILLION, alpha=0.25, hatch="////", edgecolor=VERMILLION,
                                linewidth=0, label="Lost (net of any gain)", interpolate=True)
            if np.any(after > before):
                ax.fill_between(alt, before, after, where=after > before, color=BLUISH_GREEN, alpha=0.3, hatch="\\\\", edgecolor=BLUISH_GREEN,
                                linewidth=0, label="Gained (net of any loss)", interpolate=True)
        else:
            ax.plot(alt, [r["covered_km2"] for r in rows], color=BLUE, marker="o", linewidth=2, label="Covered")
        if positive.all() and len(alt) > 1 and alt.max() / alt.min() > 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel(f"Target altitude [m {altitude_ref.upper()}]")
        ax.set_ylabel("Covered area [km²]")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_ylim(bottom=0)
        ax.set_title(f"{layer.capitalize()} layer", fontsize=11)
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.legend(fontsize=8.5, loc="best")
    fig.text(0.02, 0.97, title or "Covered area by target altitude", fontsize=13, fontweight="bold", ha="left", va="top")
    if subtitle:
        fig.text(0.02, 0.91, subtitle, fontsize=9.5, ha="left", va="top", color="#333333")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.8, bottom=0.34, wspace=0.22)
    if footer:
        fig.text(0.02, 0.2, _assumptions_footer(["Assumptions: " + footer[0], *footer[1:]], 170), fontsize=6.4, va="top", ha="left",
                 color="#333333", linespacing=1.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Title": title, "Description": "\n".join(footer), "Software": f"adcov {__version__}"})
    return _atomic_write_bytes(Path(path), buffer.getvalue())


# ============================================================================ tables


def _csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def summary_csv(summary: dict) -> str:
    """One row per layer and altitude: covered km², max depth, km² per unit."""
    units = list(dict.fromkeys(uid for rows in summary["layers"].values() for r in rows for uid in r.get("by_unit_km2", {})))
    header = ["layer", "altitude_m", "altitude_ref", "covered_km2", "max_depth", *(f"{u}_km2" for u in units)]
    rows = []
    for layer, layer_rows in summary["layers"].items():
        for r in layer_rows:
            rows.append([layer, float(r["altitude_m"]), r["altitude_ref"], round(r["covered_km2"], 3), r["max_depth"],
                         *(round(r["by_unit_km2"].get(u, 0.0), 3) for u in units)])
    return _csv_text(header, rows)


#: comparison.csv's fixed columns, in this order; then depth_km2_before_<n> for n = 1..N and
#: depth_km2_after_<n> for n = 1..N (N the largest depth on either side; empty = 0 km²).
COMPARISON_CSV_COLUMNS = ("layer", "altitude_m", "altitude_ref", "baseline_km2", "variant_km2", "lost_km2",
                          "gained_km2", "kfold_to_single_km2")


def comparison_csv(comparison) -> str:
    """One row per layer and altitude, columns in :data:`COMPARISON_CSV_COLUMNS` order, then
    the depth histograms before and after (area covered by exactly n units), n ascending."""
    rows = [{"layer": change.layer, **change.to_dict()} for change in comparison.changes]
    top = max([int(n) for row in rows for side in ("depth_km2_before", "depth_km2_after") for n in row[side]] + [0])
    header = [*COMPARISON_CSV_COLUMNS, *(f"depth_km2_before_{n}" for n in range(1, top + 1)),
              *(f"depth_km2_after_{n}" for n in range(1, top + 1))]
    body = []
    for row in rows:
        values = [row[k] for k in COMPARISON_CSV_COLUMNS]
        values += [row["depth_km2_before"].get(str(n)) for n in range(1, top + 1)]
        values += [row["depth_km2_after"].get(str(n)) for n in range(1, top + 1)]
        body.append([round(v, 3) if isinstance(v, float) else v for v in values])
    return _csv_text(header, body)


def marginal_csv(comparison) -> str:
    """Each baseline unit's marginal contribution, largest first: what withdrawing only it costs."""
    columns = [(layer, float(alt)) for layer in comparison.layers for alt in comparison.altitudes_m]
    ref = comparison.altitude_ref
    header = ["rank", "unit", "total_lost_km2", *(f"lost_km2_{layer}_{_altitude_slug(alt)}_{ref}" for layer, alt in columns)]
    ranked = sorted(comparison.marginal, key=lambda m: -m.total_lost_km2)
    rows = []
    for rank, m in enumerate(ranked, 1):
        by = m.lost_km2_by_altitude
        cells = []
        for layer, alt in columns:
            values = by.get(layer, {})
            value = values.get(alt, values.get(str(alt), values.get(f"{alt:g}")))
            cells.append(None if value is None else round(float(value), 3))
        rows.append([rank, m.unit, round(float(m.total_lost_km2), 3), *cells])
    return _csv_text(header, rows)


# ============================================================================ reports


def _layers_identical(coverages, altitude_m: float, altitude_ref: str) -> bool:
    """Whether every unit of every coverage covers the same cells in the detection and the
    engagement layer at this altitude (then their maps would be the same picture)."""
    for coverage in coverages:
        for uid in coverage.unit_ids:
            detection = coverage.unit_covered_in_window(uid, "detection", altitude_m, altitude_ref)
            engagement = coverage.unit_covered_in_window(uid, "engagement", altitude_m, altitude_ref)
            if not np.array_equal(detection, engagement):
                return False
    return True


def _identical_note(altitudes, altitude_ref: str, name) -> str:
    """README lines for the detection maps not written because they equal the engagement ones."""
    return "\n".join(
        f"maps/{name(a)} is not written: at {_altitude_label(a, altitude_ref)} every unit covers the same cells in the "
        f"detection and the engagement layer, so it would be identical to maps/{name(a).replace('detection_', 'engagement_', 1)} "
        "(rasters and tables keep both layers)."
        for a in altitudes
    )


def _readme(kind_title: str, what: str, files: Sequence[str], lines: Sequence[str]) -> str:
    out = [kind_title, "=" * len(kind_title), "", what, "",
           f"Written by adcov {__version__} on {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}.", "",
           "Files:"]
    descriptions = {
        ".geojson": "polygons, lon/lat WGS84 (RFC 7946), properties kind/layer/altitude_m/altitude_ref/unit_ids/depth/area_km2",
        ".kml": "Google Earth, one folder per layer and altitude",
        ".kmz": "the same KML, zipped (doc.kml)",
        ".csv": "table",
        ".json": "the full numbers and assumptions",
        ".png": "map / chart",
        ".tif": "GeoTIFF raster in the analysis grid's CRS",
        ".txt": "text",
    }
    for f in files:
        out.append(f"  {f}  -- {descriptions.get(Path(f).suffix, '')}")
    out += ["  manifest.json  -- every file with its size and sha256 (written last)", "",
            "Rasters (in a comparison prefixed with the scenario name): floor_<layer>_unit-<unit>.tif / ceiling_<layer>_unit-<unit>.tif =",
            "lowest / highest target altitude [m MSL] the unit covers over each cell (NaN: not covered); floor_<layer>_combined.tif =",
            "min over units; depth_<layer>_<altitude>.tif = number of units covering each cell at that altitude; in a comparison",
            "change_<layer>_<altitude>.tif = 0 not covered, 1 covered before and after, 2 lost, 3 gained.",
            "A cell is covered at altitude h when some unit's floor <= h <= its ceiling (a unit with several weapons may have gaps",
            "between them; the depth rasters are exact).", "",
            "Assumptions (full list with sources in ASSUMPTIONS.txt):", *(f"  {line}" for line in lines), ""]
    return "\n".join(out)


def _check_layers(layers, valid=("detection", "engagement")):
    bad = [layer for layer in layers if layer not in valid]
    if bad:
        raise AdcovError(f"layers: {', '.join(bad)} not valid; expected one or more of {', '.join(valid)}")


def write_run_report(coverage, summary: dict, out_dir, *, altitudes_m=None, layers=None, altitude_ref: str | None = None) -> list[Path]:
    """Write the report of one scenario run into ``out_dir`` (atomically) and list its files.

    Contents: ``summary.json`` (the summary with the resolved sources), ``summary.csv`` (one
    row per layer/altitude), ``coverage.geojson``, ``coverage.kml`` and ``.kmz``, ``maps/``
    (one PNG per layer and altitude, plus ``area_by_altitude.png``), ``rasters/`` (floor and
    ceiling per unit and layer, combined floor, depth per layer and altitude),
    ``ASSUMPTIONS.txt``, ``README.txt`` and ``manifest.json``.

    Parameters
    ----------
    coverage : Coverage
    summary : dict
        :func:`simulator.coverage.summarize` of ``coverage``.
    out_dir : path
        Report folder; replaced only if it is empty or an earlier adcov report.
    altitudes_m, layers : optional
        Default: those of the summary.
    altitude_ref : {"msl", "agl"}, optional
        Default: the summary's (else "msl").
    """
    layers = list(layers) if layers is not None else list(summary.get("layers", {})) or ["detection", "engagement"]
    _check_layers(layers)
    summary_rows = [r for rows in summary.get("layers", {}).values() for r in rows]
    if altitudes_m is None:
        altitudes_m = list(dict.fromkeys(float(r["altitude_m"]) for r in summary_rows)) or [100.0]
    altitudes_m = [float(a) for a in altitudes_m]
    if altitude_ref is None:
        altitude_ref = summary_rows[0]["altitude_ref"] if summary_rows else "msl"
    assumptions = report_assumptions(coverage)
    lines = assumption_lines(coverage, assumptions)
    name = coverage.scenario_name or "scenario"

    stage = _StagedReport(out_dir, "run")
    try:
        data = copy.deepcopy(summary)
        data["assumptions"] = assumptions
        stage.write_json("summary.json", data)
        stage.write_text("summary.csv", summary_csv(summary))
        collection = coverage_geojson(coverage, layers, altitudes_m, altitude_ref, assumptions=assumptions)
        stage.write_text("coverage.geojson", _dump_geojson(collection))
        groups = [
            ((f"{layer.capitalize()} layer", _altitude_label(alt, altitude_ref)),
             [f for f in collection["features"] if f["properties"]["layer"] == layer and f["properties"]["altitude_m"] == alt])
            for layer in layers for alt in altitudes_m
        ]
        groups.append(("Unit sites", _site_features(_sites_of(coverage))))
        kml = kml_document(groups, name=f"{name}: coverage", description="Assumptions:\n" + "\n".join(lines))
        stage.write_bytes("coverage.kml", kml)
        stage.write_bytes("coverage.kmz", _kmz_bytes(kml))
        both = set(layers) == {"detection", "engagement"}
        identical = [alt for alt in altitudes_m if both and _layers_identical([coverage], alt, altitude_ref)]
        for layer in layers:
            for alt in altitudes_m:
                if layer == "detection" and alt in identical:
                    continue  # the engagement map shows the same cells (README.txt says so)
                render_map_png(stage.path(f"maps/{layer}_{_altitude_slug(alt)}_{altitude_ref}.png"), coverage, layer=layer,
                               altitude_m=alt, altitude_ref=altitude_ref, assumptions=lines)
        rows_by_layer = {layer: [r for r in summary["layers"].get(layer, [])] for layer in layers if summary.get("layers", {}).get(layer)}
        if rows_by_layer:
            render_area_chart_png(stage.path("maps/area_by_altitude.png"), rows_by_layer, altitude_ref=altitude_ref,
                                  title=f"{name}: covered area by target altitude", footer=lines)
        _write_rasters(stage, coverage, "rasters/", layers, altitudes_m, altitude_ref, assumption_tags(lines, assumptions))
        stage.write_text("ASSUMPTIONS.txt", assumptions_text(coverage, assumptions, title=f"Assumptions of the {name} run report"))
        what = (f"Coverage of scenario {name} for layers {', '.join(layers)} at "
                f"{', '.join(_altitude_label(a, altitude_ref) for a in altitudes_m)}.")
        if identical:
            what += "\n\n" + _identical_note(identical, altitude_ref, lambda a: f"detection_{_altitude_slug(a)}_{altitude_ref}.png")
        readme = _readme(f"adcov run report: {name}", what, stage.files + ["README.txt"], lines)
        stage.write_text("README.txt", readme)
        return stage.commit({"scenario": name, "layers": layers, "altitudes_m": altitudes_m, "altitude_ref": altitude_ref,
                             "maps_identical_across_layers_m": identical})
    except BaseException:
        stage.abort()
        raise


def comparison_sites(comparison) -> list[dict]:
    """Site markers of a comparison: baseline units (``withdrawn`` when gone in the variant),
    then the variant's added units; dicts for :func:`render_map_png`'s ``sites``."""
    withdrawn = set(comparison.withdrawn_units)
    added = set(comparison.added_units)
    sites = [dict(s, status="withdrawn" if s["unit_id"] in withdrawn else "active") for s in _sites_of(comparison.baseline)]
    known = {s["unit_id"] for s in sites}
    for s in _sites_of(comparison.variant):
        if s["unit_id"] in added or s["unit_id"] not in known:
            sites.append(dict(s, status="added"))
    return sites


def write_comparison_report(comparison, out_dir, *, progress=None) -> list[Path]:
    """Write the report of a comparison into ``out_dir`` (atomically) and list its files.

    Contents: ``comparison.json`` (:meth:`Comparison.to_dict` with both scenarios'
    assumptions), ``comparison.csv`` (one row per layer/altitude), ``marginal.csv`` (units
    ranked by what withdrawing only them costs), ``comparison.geojson`` (baseline and variant
    coverage, lost and gained polygons), ``comparison.kml``/``.kmz``, ``maps/`` (one map per
    layer and altitude showing kept / lost / gained, and ``area_by_altitude.png``),
    ``rasters/`` (baseline and variant floors, depth and a change class per altitude),
    ``ASSUMPTIONS.txt``, ``README.txt`` and ``manifest.json``. ``progress(fraction, message)``
    hears of each step (maps take most of the time).
    """
    baseline, variant = comparison.baseline, comparison.variant

    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    if baseline.grid.shape != variant.grid.shape:
        raise AdcovError(
            f"comparison report: baseline grid {baseline.grid.shape} and variant grid {variant.grid.shape} differ; "
            "the two scenarios must share terrain and area"
        )
    layers = list(comparison.layers)
    altitudes = [float(a) for a in comparison.altitudes_m]
    ref = comparison.altitude_ref
    names = (comparison.baseline_name, comparison.variant_name)
    assumptions = _comparison_assumptions(comparison)
    base_lines = assumption_lines(baseline, assumptions["baseline"])
    var_lines = assumption_lines(variant, assumptions["variant"])
    lines = comparison_assumption_lines(comparison, assumptions)
    change_note = []
    if comparison.withdrawn_units:
        change_note.append(f"withdrawn in {names[1]}: {', '.join(comparison.withdrawn_units)}")
    if comparison.added_units:
        change_note.append(f"added: {', '.join(comparison.added_units)}")
    if comparison.changed_units:
        change_note.append(f"figures changed: {', '.join(comparison.changed_units)}")
    change_text = "; ".join(change_note) or "no unit differs"
    sites = comparison_sites(comparison)

    stage = _StagedReport(out_dir, "comparison")
    try:
        data = comparison.to_dict()
        data = copy.deepcopy(data) if isinstance(data, dict) else {"comparison": data}
        data["assumptions"] = assumptions
        stage.write_json("comparison.json", data)
        stage.write_text("comparison.csv", comparison_csv(comparison))
        stage.write_text("marginal.csv", marginal_csv(comparison))
        collection = comparison_geojson(comparison, assumptions=assumptions)
        stage.write_text("comparison.geojson", _dump_geojson(collection))

        groups = []
        for layer in layers:
            for alt in altitudes:
                folder = (f"{layer.capitalize()} layer", _altitude_label(alt, ref))
                feats = [f for f in collection["features"] if f["properties"]["layer"] == layer and f["properties"]["altitude_m"] == alt]
                groups.append(((*folder, f"After: {names[1]} coverage"), [f for f in feats if f["properties"].get("role") == "variant"]))
                groups.append(((*folder, "Lost and gained"), [f for f in feats if f["properties"]["kind"] in ("lost", "gained")]))
                groups.append(((*folder, f"Before: {names[0]} coverage (outline)"),
                               [f for f in feats if f["properties"].get("role") == "baseline"], {"visible": False}))
        groups.append(("Unit sites", _site_features(sites)))
        description = f"{names[0]} (before) vs {names[1]} (after): {change_text}.\nAssumptions:\n" + "\n".join(lines)
        kml = kml_document(groups, name=f"{names[0]} vs {names[1]}", description=description)
        stage.write_bytes("comparison.kml", kml)
        stage.write_bytes("comparison.kmz", _kmz_bytes(kml))

        subtitle_change = change_text[0].upper() + change_text[1:]
        both = set(layers) == {"detection", "engagement"}
        identical = [alt for alt in altitudes if both and _layers_identical([baseline, variant], alt, ref)]
        maps = [(la, a) for la in layers for a in altitudes if not (la == "detection" and a in identical)]
        n_maps = len(maps)
        for i_map, (layer, alt) in enumerate(maps):
            step(0.1 + 0.7 * i_map / max(n_maps, 1), f"map {i_map + 1}/{n_maps}: {layer}, {_altitude_label(alt, ref)}")
            change = comparison.change(layer, alt)
            render_map_png(
                stage.path(f"maps/{layer}_{_altitude_slug(alt)}_{ref}.png"), baseline, layer=layer, altitude_m=alt, altitude_ref=ref,
                baseline_mask=change.baseline_cells, variant_mask=change.variant_cells, lost_mask=change.lost_cells,
                gained_mask=change.gained_cells, names=names, sites=[dict(s) for s in sites], assumptions=lines,
            )
        rows_by_layer = {
            layer: [{"altitude_m": c.altitude_m, "baseline_km2": c.baseline_km2, "variant_km2": c.variant_km2}
                    for c in comparison.changes if c.layer == layer]
            for layer in layers
        }
        render_area_chart_png(stage.path("maps/area_by_altitude.png"), rows_by_layer, names=names, altitude_ref=ref,
                              title=f"Covered area by target altitude: {names[0]} → {names[1]}", subtitle=subtitle_change + ".", footer=lines)
        step(0.85, "rasters")

        _write_rasters(stage, baseline, f"rasters/{_slug(names[0])}_", layers, altitudes, ref,
                       assumption_tags(base_lines, assumptions["baseline"]))
        new_units = [u for u in variant.unit_ids if u in set(comparison.added_units) | set(comparison.changed_units) or u not in baseline.envelopes]
        _write_rasters(stage, variant, f"rasters/{_slug(names[1])}_", layers, altitudes, ref,
                       assumption_tags(var_lines, assumptions["variant"]), unit_ids=new_units)
        _write_change_rasters(stage, comparison, layers, altitudes, ref, assumption_tags(lines, assumptions))

        text = assumptions_text(baseline, assumptions["baseline"], title=f"Assumptions of {names[0]} (before)")
        text += "\n\n" + assumptions_text(variant, assumptions["variant"], title=f"Assumptions of {names[1]} (after)")
        text += f"\n\nDifference: {change_text}.\n"
        stage.write_text("ASSUMPTIONS.txt", text)
        readme = _readme(
            f"adcov comparison report: {names[0]} vs {names[1]}",
            f"What changes between {names[0]} (before) and {names[1]} (after) -- {change_text} -- for layers "
            f"{', '.join(layers)} at {', '.join(_altitude_label(a, ref) for a in altitudes)}. Lost = covered before, not after; "
            "gained = covered after, not before. marginal.csv ranks the baseline units by what withdrawing only that unit costs. "
            f"comparison.csv columns, in order: {', '.join(COMPARISON_CSV_COLUMNS)}, then depth_km2_before_1..N and "
            "depth_km2_after_1..N (km² covered by exactly n units before / after; empty = 0)."
            + ("\n\n" + _identical_note(identical, ref, lambda a: f"detection_{_altitude_slug(a)}_{ref}.png") if identical else ""),
            stage.files + ["README.txt"], lines,
        )
        stage.write_text("README.txt", readme)
        return stage.commit({"baseline": names[0], "variant": names[1], "layers": layers, "altitudes_m": altitudes, "altitude_ref": ref,
                             "maps_identical_across_layers_m": identical})
    except BaseException:
        stage.abort()
        raise


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name or "scenario")


#: Classes of the change rasters.
CHANGE_CLASSES = {0: "not covered before or after", 1: "covered before and after", 2: "lost (covered before only)", 3: "gained (covered after only)"}


def _write_change_rasters(stage, comparison, layers, altitudes, ref, base_tags) -> None:
    from simulator.terrain import write_geotiff

    grid = comparison.baseline.grid
    for layer in layers:
        for alt in altitudes:
            change = comparison.change(layer, alt)
            classes = np.zeros(grid.shape, dtype=np.uint8)
            classes[change.kept_cells] = 1
            classes[change.lost_cells] = 2
            classes[change.gained_cells] = 3
            write_geotiff(
                stage.path(f"rasters/change_{layer}_{_altitude_slug(alt)}_{ref}.tif"), classes, grid.transform, grid.crs,
                tags=_raster_tags(comparison.baseline, base_tags, quantity="change class", layer=layer, altitude_m=f"{alt:g}",
                                  altitude_ref=ref, baseline=comparison.baseline_name, variant=comparison.variant_name,
                                  classes="; ".join(f"{k} = {v}" for k, v in CHANGE_CLASSES.items()), units="class"),
            )

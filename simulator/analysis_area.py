"""Where and how finely a scenario is computed: the analysis grid of its units' disks.

The rule, stated in every output's assumptions:

* **Extent.** With no ``area``, the union of every unit's largest nominal disk (its
  largest nominal detection or weapon range; the min/nominal/max range modes share this
  grid, so with ``--range max`` a disk may reach past it: its fraction outside is stated). With an ``area``, that box; each unit's fraction of its disk
  outside the grid is reported (:func:`disk_fraction_outside`).
* **Terrain reach.** Where a disk (inside the area, if any) reaches past the DEM, adcov
  stops and names the unit and the missing extent, unless the scenario says
  ``outside_terrain: sea`` (sea level beyond the DEM) or ``outside_terrain: clip`` (the
  analysis stops at the DEM's edge; rays that leave it stop too).
* **Resolution.** Analysis cells are blocks of ``f x f`` DEM cells, aligned with the DEM.
  By default ``f = 1`` (the DEM's own spacing) unless the largest unit's disk would exceed
  :data:`DISK_CELL_BUDGET` cells; then the smallest ``f`` that keeps it within the budget.
  ``resolution_m`` sets ``f = max(1, round(resolution_m / larger DEM cell side))``;
  ``"native"`` sets ``f = 1``. Rays always sample the DEM at its own spacing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pyproj

from simulator.errors import AdcovError, TerrainError
from simulator.geometry import WGS84_GEOD, AnalysisGrid, _box_pixels, equal_area_crs

__all__ = ["DISK_CELL_BUDGET", "OUTSIDE_TERRAIN_CHOICES", "UnitDisk", "disk_fraction_outside", "plan_grid", "unit_disks"]

#: Analysis cells a single unit's disk (its bounding box) may hold at the default resolution:
#: the bundled DTED0 grid of a 500 km disk (the S-300V4's surveillance radar) fits, and a
#: grid of two such disks stays interactive in the GUI (bench_gui.py).
DISK_CELL_BUDGET = 2_000_000

#: Scenario ``outside_terrain`` values.
OUTSIDE_TERRAIN_CHOICES = ("error", "sea", "clip")

# Points on a disk's edge when its extent is taken.
_EDGE_POINTS = 360


@dataclass(frozen=True)
class UnitDisk:
    """A unit's largest nominal disk: site and geodesic radius."""

    unit_id: str
    lat_deg: float
    lon_deg: float
    radius_m: float

    def edge_lonlat(self, n: int = _EDGE_POINTS) -> tuple[np.ndarray, np.ndarray]:
        """Points on the geodesic circle (WGS84). [deg]"""
        azimuth = np.linspace(0.0, 360.0, n, endpoint=False)
        lon, lat, _ = WGS84_GEOD.fwd(np.full(n, self.lon_deg), np.full(n, self.lat_deg), azimuth, np.full(n, self.radius_m))
        return np.asarray(lon), np.asarray(lat)


def unit_disks(units, catalog, default_antenna_height_m=None) -> list[UnitDisk]:
    """Each unit's largest nominal disk (its largest nominal detection or weapon range)."""
    from simulator.figures import resolve_unit_figures

    disks = []
    for unit in units:
        figures = resolve_unit_figures(unit, catalog.get(unit.system_id), default_antenna_height_m, "nominal")
        ranges_km = [figures.detection_range_km or 0.0] + [w.max_range_km for w in figures.weapons]
        disks.append(UnitDisk(unit.id, float(unit.lat_deg), float(unit.lon_deg), max(ranges_km) * 1000.0))
    return disks


def _disk_pixels(source, disk: UnitDisk) -> tuple[int, int, int, int]:
    lon, lat = disk.edge_lonlat()
    lon = np.concatenate([lon, [disk.lon_deg]])
    lat = np.concatenate([lat, [disk.lat_deg]])
    x, y = source.lonlat_to_xy(lon, lat)
    col, row = (~source.transform) @ (np.asarray(x), np.asarray(y))
    return (int(math.floor(np.min(row))), int(math.ceil(np.max(row))),
            int(math.floor(np.min(col))), int(math.ceil(np.max(col))))


def _intersect(a, b):
    return (max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]))


def _lonlat_box_text(source, r0, r1, c0, c1) -> str:
    rows = np.array([r0, r0, r1, r1], dtype=float) - 0.5
    cols = np.array([c0, c1, c0, c1], dtype=float) - 0.5
    x, y = source.transform @ (cols + 0.5, rows + 0.5)
    lon, lat = source.xy_to_lonlat(x, y)
    return (f"{float(np.min(lon)):.3f}–{float(np.max(lon)):.3f}°E, "
            f"{float(np.min(lat)):.3f}–{float(np.max(lat)):.3f}°N")


def _missing_text(source, box) -> str:
    rows, cols = source.shape
    r0, r1, c0, c1 = box
    parts = []
    if c0 < 0:
        parts.append(f"west {_lonlat_box_text(source, max(r0, 0), min(r1, rows), c0, 0)}")
    if c1 > cols:
        parts.append(f"east {_lonlat_box_text(source, max(r0, 0), min(r1, rows), cols, c1)}")
    if r0 < 0:
        parts.append(f"north {_lonlat_box_text(source, r0, 0, c0, c1)}")
    if r1 > rows:
        parts.append(f"south {_lonlat_box_text(source, rows, r1, c0, c1)}")
    return "; ".join(parts)


def plan_grid(source, disks: list[UnitDisk], *, area_bounds_deg=None, resolution_m=None,
              outside_terrain: str = "error", where: str = "") -> AnalysisGrid:
    """The analysis grid of a scenario (see the module docstring for the rule).

    Parameters
    ----------
    source : simulator.dem.DemSource or simulator.terrain.Terrain
    disks : list of UnitDisk
        Every unit that may be computed on this grid (for a comparison: both sides).
    area_bounds_deg : (west, south, east, north), optional
        The scenario's explicit area. [deg]
    resolution_m : float, "native" or None
        Analysis spacing; None applies the default rule.
    outside_terrain : {"error", "sea", "clip"}
    where : str
        Prefix for error messages (the scenario file).

    Raises
    ------
    TerrainError
        A unit's disk reaches past the DEM with ``outside_terrain: error``.
    """
    if outside_terrain not in OUTSIDE_TERRAIN_CHOICES:
        raise AdcovError(f"outside_terrain: {outside_terrain!r} is not valid; expected one of {', '.join(OUTSIDE_TERRAIN_CHOICES)}")
    rows, cols = source.shape
    dem_box = (0, rows, 0, cols)
    area_box = _box_pixels(source, area_bounds_deg) if area_bounds_deg is not None else None
    boxes = []
    prefix = f"{where}: " if where else ""
    for disk in disks:
        box = _disk_pixels(source, disk)
        needed = _intersect(box, area_box) if area_box is not None else box
        if needed[1] <= needed[0] or needed[3] <= needed[2]:
            boxes.append((box, None))
            continue
        if outside_terrain == "error" and _intersect(needed, dem_box) != needed:
            raise TerrainError(
                f"{prefix}unit {disk.unit_id!r}: its {disk.radius_m / 1000:g} km nominal disk reaches past the terrain "
                f"({_missing_text(source, needed)} missing; terrain covers {_lonlat_box_text(source, 0, rows, 0, cols)}). "
                "Add terrain covering it, or set outside_terrain: sea (sea level beyond the terrain) or "
                "outside_terrain: clip (stop at the terrain's edge), or an area"
            )
        boxes.append((box, needed))
    if area_box is not None:
        extent_box, extent = area_box, "area"
    else:
        needed_boxes = [n for _, n in boxes if n is not None]
        if not needed_boxes:
            raise AdcovError(f"{prefix}no unit to compute: the grid of a scenario is the union of its units' disks")
        extent_box = (min(b[0] for b in needed_boxes), max(b[1] for b in needed_boxes),
                      min(b[2] for b in needed_boxes), max(b[3] for b in needed_boxes))
        extent = "disks"
    if outside_terrain != "sea":
        extent_box = _intersect(extent_box, dem_box)
    r0, r1, c0, c1 = extent_box
    if r1 - r0 < 2 or c1 - c0 < 2:
        raise TerrainError(f"{prefix}the analysis area {area_bounds_deg} (west, south, east, north deg) does not overlap "
                           f"the terrain ({_lonlat_box_text(source, 0, rows, 0, cols)})")
    # the DEM's cell size at the middle of the grid
    dem_dx_m, dem_dy_m = source.cell_size_m_at_pixel((r0 + r1 - 1) / 2.0, (c0 + c1 - 1) / 2.0)
    if resolution_m is None:
        largest = max(((b[1] - b[0]) * (b[3] - b[2]) for b, _ in boxes), default=0)
        factor = max(1, math.ceil(math.sqrt(largest / DISK_CELL_BUDGET))) if largest > DISK_CELL_BUDGET else 1
        rule = (f"default: the DEM's spacing, coarsened {factor}× so that the largest unit's disk holds at most "
                f"{DISK_CELL_BUDGET:,} cells" if factor > 1 else
                f"default: the DEM's own spacing (the largest unit's disk holds at most {DISK_CELL_BUDGET:,} cells)")
    elif resolution_m == "native":
        factor, rule = 1, "resolution_m: native (the DEM's own spacing)"
    else:
        value = float(resolution_m)
        if not (math.isfinite(value) and value > 0):
            raise AdcovError(f"resolution_m: expected a number of metres > 0 or 'native', got {resolution_m!r}")
        factor = max(1, round(value / max(dem_dx_m, dem_dy_m)))
        rule = (f"resolution_m: {value:g} m asked, {factor}×{factor} DEM cells per analysis cell "
                "(whole DEM cells, aligned with the DEM)")
    floor_div = outside_terrain != "sea"  # stay inside the DEM: whole blocks only
    n_rows = max(1, (r1 - r0) // factor if floor_div else math.ceil((r1 - r0) / factor))
    n_cols = max(1, (c1 - c0) // factor if floor_div else math.ceil((c1 - c0) / factor))
    _check_fits_in_memory(boxes, disks, n_rows * n_cols, factor, max(dem_dx_m, dem_dy_m), rule, prefix)
    area = tuple(float(v) for v in area_bounds_deg) if area_bounds_deg is not None else None
    return AnalysisGrid(source, r0, c0, n_rows, n_cols, area, factor=factor, extent=extent, resolution_rule=rule)


#: Memory an analysis cell takes: on the whole grid (cell area, terrain, a depth map), and in
#: a unit's window while its envelope is built (line-of-sight floor and ground range, the
#: terrain crop, and per layer a floor and a ceiling per component and their union). [bytes]
GRID_BYTES_PER_CELL = 14
UNIT_BYTES_PER_CELL = 48
#: An analysis that would need more than this fraction of the machine's memory is refused.
MEMORY_FRACTION = 0.75


def _physical_memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None  # not POSIX: no check


def _check_fits_in_memory(boxes, disks, grid_cells: int, factor: int, dem_cell_m: float, rule: str, prefix: str) -> None:
    """Refuse an analysis grid that cannot fit in this machine's memory, before allocating it,
    naming the largest unit's disk and the coarsest spacing that would fit (an explicit
    ``resolution_m`` can ask for billions of cells: 1" terrain under a 500 km disk)."""
    total = _physical_memory_bytes()
    if not total or not boxes:
        return
    sizes = [(b[1] - b[0]) * (b[3] - b[2]) for b, _ in boxes]
    largest = max(range(len(sizes)), key=sizes.__getitem__)
    disk_cells = sizes[largest] / factor**2
    needed = GRID_BYTES_PER_CELL * grid_cells + UNIT_BYTES_PER_CELL * disk_cells
    budget = MEMORY_FRACTION * total
    if needed <= budget:
        return
    fits = factor * math.ceil(math.sqrt(needed / budget))
    disk = disks[largest]
    raise AdcovError(
        f"{prefix}{rule}: the analysis grid would hold {grid_cells:,} cells ({disk_cells:,.0f} in the "
        f"{disk.radius_m / 1000:g} km disk of unit {disk.unit_id!r}), about {needed / 2**30:.0f} GiB while that unit's "
        f"envelope is built; this machine has {total / 2**30:.0f} GiB. Give resolution_m {math.ceil(fits * dem_cell_m):g} "
        "(metres) or coarser, or leave resolution_m out (the default rule keeps every disk within "
        f"{DISK_CELL_BUDGET:,} cells)"
    )


def disk_fraction_outside(grid: AnalysisGrid, disk: UnitDisk) -> float:
    """Fraction (0-1) of a unit's nominal disk area that lies outside the analysis region
    (the grid's footprint, cut to the area box when there is one); in the equal-area frame
    of the site."""
    import shapely
    from shapely.geometry import Polygon

    laea = equal_area_crs(disk.lat_deg, disk.lon_deg)
    to_ea = pyproj.Transformer.from_crs("EPSG:4326", laea, always_xy=True)
    lon, lat = disk.edge_lonlat(720)
    disk_poly = Polygon(np.column_stack(to_ea.transform(lon, lat)))
    n = 64
    r = np.concatenate([np.full(n, -0.5), np.linspace(-0.5, grid.n_rows - 0.5, n), np.full(n, grid.n_rows - 0.5),
                        np.linspace(grid.n_rows - 0.5, -0.5, n)])
    c = np.concatenate([np.linspace(-0.5, grid.n_cols - 0.5, n), np.full(n, grid.n_cols - 0.5),
                        np.linspace(grid.n_cols - 0.5, -0.5, n), np.full(n, -0.5)])
    glon, glat = grid.pixel_to_lonlat(r, c)
    region = Polygon(np.column_stack(to_ea.transform(np.asarray(glon), np.asarray(glat))))
    if grid.area_bounds_deg is not None:
        w, s, e, nn = grid.area_bounds_deg
        t = np.linspace(0.0, 1.0, n)
        blon = np.concatenate([w + (e - w) * t, np.full(n, e), e - (e - w) * t, np.full(n, w)])
        blat = np.concatenate([np.full(n, s), s + (nn - s) * t, np.full(n, nn), nn - (nn - s) * t])
        region = region.intersection(Polygon(np.column_stack(to_ea.transform(blon, blat))))
    region = shapely.make_valid(region)
    inside = disk_poly.intersection(region).area
    return float(max(0.0, 1.0 - inside / disk_poly.area))


def open_scenario_terrain(scenario):
    """The DEM source of a scenario (metadata only; windows are read as needed)."""
    from simulator.dem import open_dem

    if not scenario.terrain_paths:
        raise AdcovError(f"{scenario.path}: terrain: no terrain given")
    paths = [str(p) for p in scenario.terrain_paths]
    outside = "sea" if getattr(scenario, "outside_terrain", "error") == "sea" else "error"
    return open_dem(paths if len(paths) > 1 else paths[0], void_policy=scenario.void_policy, outside_terrain=outside)


def scenario_grid(scenarios, source, catalog, *, resolution_m=None) -> AnalysisGrid:
    """The analysis grid shared by one or more scenarios on the same terrain (a comparison
    plans one grid for both sides): the union of all their units' disks, withdrawn ones
    included, so that a variant and its baseline share a grid."""
    if not isinstance(scenarios, (list, tuple)):
        scenarios = [scenarios]
    first = scenarios[0]
    disks: dict[tuple, UnitDisk] = {}
    for scenario in scenarios:
        units = list(getattr(scenario, "grid_units", ()) or ()) or list(scenario.units) + list(scenario.withdrawn_units)
        for disk in unit_disks(units, catalog, scenario.default_antenna_height_m):
            disks[(disk.unit_id, disk.lat_deg, disk.lon_deg, disk.radius_m)] = disk
    if resolution_m is None:
        resolution_m = getattr(first, "resolution_m", None)
    return plan_grid(source, list(disks.values()), area_bounds_deg=first.area_bounds_deg, resolution_m=resolution_m,
                     outside_terrain=getattr(first, "outside_terrain", "error"), where=str(first.path))


def analysis_area_lines(area: dict, *, all_units: bool = False) -> list[str]:
    """Plain-text lines for :meth:`Coverage.analysis_area`: how the area was chosen, then one
    line per unit whose nominal disk reaches outside it (every unit with ``all_units``)."""
    box = (" " + ", ".join(f"{v:g}" for v in area["area_bounds_deg"]) + " (W, S, E, N deg)") if area["area_bounds_deg"] else ""
    lines = [f"Analysis area: {area['described']}{box}; beyond the terrain: {area['outside_terrain']}"]
    for uid, unit in area["units"].items():
        if all_units or area["extent"] == "area" or unit["disk_fraction_outside"] > 0:
            lines.append(f"    {uid}: {unit['disk_fraction_outside']:.1%} of its {unit['nominal_radius_km']:g} km nominal disk "
                         "lies outside the analysis area (not computed)")
    return lines

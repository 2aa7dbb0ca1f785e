"""The records of a comparison: :class:`Comparison` and its rows, and the queries they answer.

:func:`simulator.compare.compare` and :func:`simulator.compare.compare_coverages` build them
(see :mod:`simulator.compare` for what is compared and how); this module holds the results:
one :class:`LayerAltitudeChange` per layer and target altitude, each baseline unit's
:class:`MarginalContribution`, and the :class:`Comparison` that carries both coverages and
answers for one layer and altitude (rows, polygons, a JSON-ready summary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from simulator.errors import AdcovError

if TYPE_CHECKING:
    from simulator.coverage import Coverage

#: What :meth:`Comparison.polygons_lonlat` can draw.
POLYGON_KINDS = ("lost", "gained", "baseline", "variant", "kept")


@dataclass(frozen=True, eq=False)
class LayerAltitudeChange:
    """How one layer changed at one target altitude.

    Areas are in km² (geodesic); masks are boolean arrays of the analysis grid's shape,
    cells outside the scenario's area of interest are False.

    Attributes
    ----------
    layer : str
        ``"detection"`` or ``"engagement"``.
    altitude_m : float
        Target altitude. [m]
    altitude_ref : str
        ``"msl"`` (above mean sea level) or ``"agl"`` (above the cell's terrain).
    baseline_km2, variant_km2 : float
        Covered area before and after. [km²]
    lost_km2, gained_km2 : float
        Covered before and not after; not before and covered after. [km²]
    depth_km2_before, depth_km2_after : dict[int, float]
        Area covered by exactly ``n`` units, for each ``n >= 1`` that occurs. [km²]
    lost_cells, gained_cells, kept_cells : numpy.ndarray of bool
        The cells behind ``lost_km2``, ``gained_km2`` and the area covered in both.
    kfold_to_single_cells : numpy.ndarray of bool
        Cells covered by two or more units before and by exactly one after.
    kfold_to_single_km2 : float
        Their area. [km²]
    """

    layer: str
    altitude_m: float
    altitude_ref: str
    baseline_km2: float
    variant_km2: float
    lost_km2: float
    gained_km2: float
    depth_km2_before: dict[int, float]
    depth_km2_after: dict[int, float]
    lost_cells: np.ndarray
    gained_cells: np.ndarray
    kept_cells: np.ndarray
    kfold_to_single_cells: np.ndarray
    kfold_to_single_km2: float

    @property
    def baseline_cells(self) -> np.ndarray:
        """Cells covered before (``lost | kept``)."""
        return self.lost_cells | self.kept_cells

    @property
    def variant_cells(self) -> np.ndarray:
        """Cells covered after (``gained | kept``)."""
        return self.gained_cells | self.kept_cells

    @property
    def change_percent(self) -> float | None:
        """``100 (variant - baseline) / baseline``; None when nothing was covered before. [%]"""
        if self.baseline_km2 <= 0:
            return None
        return 100.0 * (self.variant_km2 - self.baseline_km2) / self.baseline_km2

    def to_dict(self) -> dict:
        return {
            "altitude_m": float(self.altitude_m),
            "altitude_ref": self.altitude_ref,
            "baseline_km2": self.baseline_km2,
            "variant_km2": self.variant_km2,
            "lost_km2": self.lost_km2,
            "gained_km2": self.gained_km2,
            "kfold_to_single_km2": self.kfold_to_single_km2,
            "depth_km2_before": {str(n): km2 for n, km2 in self.depth_km2_before.items()},
            "depth_km2_after": {str(n): km2 for n, km2 in self.depth_km2_after.items()},
        }


@dataclass(frozen=True)
class MarginalContribution:
    """What withdrawing only ``unit`` from the baseline would cost.

    ``lost_km2_by_altitude[layer][altitude_m]`` is the area [km²] covered by that unit alone
    (depth 1) at that layer and altitude; ``total_lost_km2`` sums it over layers and
    altitudes and is the ranking key (a coarse "how much of the covered volume hangs on this
    unit", equal weight per listed altitude).
    """

    unit: str
    lost_km2_by_altitude: dict[str, dict[float, float]]
    total_lost_km2: float

    def to_dict(self) -> dict:
        return {
            "unit": self.unit,
            "lost_km2_by_altitude": {
                layer: {str(float(alt)): km2 for alt, km2 in by_alt.items()}
                for layer, by_alt in self.lost_km2_by_altitude.items()
            },
            "total_lost_km2": self.total_lost_km2,
        }


@dataclass
class Comparison:
    """Baseline vs variant on one analysis grid (see :mod:`simulator.compare`)."""

    baseline: Coverage
    variant: Coverage
    baseline_name: str
    variant_name: str
    withdrawn_units: list[str]
    added_units: list[str]
    changed_units: list[str]
    altitude_ref: str
    altitudes_m: list[float]
    layers: list[str]
    changes: list[LayerAltitudeChange]
    marginal: list[MarginalContribution] = field(default_factory=list)

    def __repr__(self) -> str:
        altitudes = ", ".join(f"{a:g}" for a in self.altitudes_m)
        return (f"<Comparison {self.baseline_name!r} -> {self.variant_name!r}: withdrawn {self.withdrawn_units}, "
                f"added {self.added_units}, changed {self.changed_units}; layers {', '.join(self.layers)} at "
                f"{altitudes} m {self.altitude_ref.upper()}>")

    def change(self, layer: str, altitude_m: float) -> LayerAltitudeChange:
        """The change at one layer and altitude [m] (one of :attr:`layers` and :attr:`altitudes_m`)."""
        for row in self.changes:
            if row.layer == layer and math.isclose(row.altitude_m, float(altitude_m), rel_tol=1e-12, abs_tol=1e-9):
                return row
        raise AdcovError(
            f"no comparison at layer {layer!r}, altitude {altitude_m:g} m; computed layers: "
            f"{', '.join(self.layers)}; altitudes: {', '.join(f'{a:g}' for a in self.altitudes_m)} m "
            f"{self.altitude_ref.upper()}"
        )

    def polygons_lonlat(self, layer: str, altitude_m: float, which: str):
        """Polygons of one kind of cells, as a shapely MultiPolygon in lon/lat. [deg, EPSG:4326]

        ``which`` is ``"lost"``, ``"gained"``, ``"kept"`` (covered in both), ``"baseline"``
        or ``"variant"``. Built in the grid's equal-area CRS and transformed at the edge
        (:meth:`Coverage.polygons`); exteriors are counter-clockwise (GeoJSON right-hand rule).
        """
        if which not in POLYGON_KINDS:
            raise AdcovError(f"polygons_lonlat: which={which!r} is not valid; expected one of {', '.join(POLYGON_KINDS)}")
        row = self.change(layer, altitude_m)
        mask = {
            "lost": row.lost_cells,
            "gained": row.gained_cells,
            "kept": row.kept_cells,
            "baseline": row.baseline_cells,
            "variant": row.variant_cells,
        }[which]
        geometry, _crs = self.baseline.polygons(mask, lonlat=True)
        return geometry

    def _unit_detail(self, unit_id: str) -> dict:
        env = self.baseline.envelopes[unit_id]
        placement = dict(self.baseline.placements.get(unit_id, {}))
        return {
            "id": unit_id,
            "system": env.figures.system_name,
            "status": placement.get("status"),
            "deployed": placement.get("deployed"),
            "withdrawn": placement.get("withdrawn"),
            "sources": list(placement.get("sources", [])),
            "dates_note": placement.get("dates_note", ""),
        }

    def to_dict(self) -> dict:
        """JSON-ready summary: per-layer rows, ranked marginal contributions, assumptions."""
        layers: dict[str, list[dict]] = {layer: [] for layer in self.layers}
        for row in self.changes:
            layers[row.layer].append(row.to_dict())
        return {
            "baseline": self.baseline_name,
            "variant": self.variant_name,
            "altitude_ref": self.altitude_ref,
            "layers": layers,
            "marginal": [m.to_dict() for m in self.marginal],
            "withdrawn_units": list(self.withdrawn_units),
            # what the baseline's file says of each unit that is gone: status (withdrawn or a
            # destruction claim), dates and the sources that report it
            "withdrawn_unit_details": [self._unit_detail(u) for u in self.withdrawn_units],
            "added_units": list(self.added_units),
            "changed_units": list(self.changed_units),
            "assumptions": {"baseline": self.baseline.assumptions(), "variant": self.variant.assumptions()},
        }

"""Position samples of the units whose site is uncertain (``position_precision_km``).

Sampling (Notes)
----------------
A unit with ``position_precision_km = R`` is placed uniformly in the geodesic disk of radius
``R`` around its stated point: distance ``R sqrt(u)`` and azimuth ``360 v`` degrees (``u, v``
uniform on [0, 1)), then the direct geodesic problem on WGS84 (``pyproj.Geod.fwd``, Karney
2013). ``sqrt`` makes the density uniform per unit area (for R much smaller than the earth
radius). The generator of each unit is ``numpy.random.default_rng(SeedSequence([seed,
*sha256(unit id)]))``: the samples of one unit do not depend on the other units, on the order
of units in the file, or on where the jobs run. Candidates off the terrain -- and, with
``land_only``, on terrain at or below 0 m (sea) -- are rejected and redrawn, at most
:data:`MAX_TRIES_PER_SAMPLE` times per sample on average. With ``R = 0`` every sample is the
stated point itself, and the probability map equals the deterministic coverage.

References
----------
Karney, C. F. F., "Algorithms for geodesics", J. Geodesy 87, 43-55 (2013).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from simulator.errors import AdcovError
from simulator.geometry import WGS84_GEOD, AnalysisGrid
from simulator.sweep.checks import _check_unit_ids

#: Rejection sampling gives up after this many candidates per wanted sample (on average).
MAX_TRIES_PER_SAMPLE = 200


def _unit_rng(seed: int, unit_id: str) -> np.random.Generator:
    words = np.frombuffer(hashlib.sha256(unit_id.encode()).digest()[:16], dtype="<u4")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(int(w) for w in words)]))


def sample_positions(
    unit_id: str,
    lat_deg: float,
    lon_deg: float,
    radius_km: float,
    n_samples: int,
    *,
    seed: int = 0,
    terrain=None,
    land_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded positions uniform in the geodesic disk of ``radius_km`` around a point.

    Parameters
    ----------
    unit_id : str
        Seeds the unit's own generator together with ``seed`` (see the module Notes).
    lat_deg, lon_deg : float
        Stated point. [deg]
    radius_km : float
        Disk radius, ``position_precision_km``; 0 returns the point ``n_samples`` times. [km]
    n_samples : int
    seed : int
        Non-negative integer.
    terrain : simulator.terrain.Terrain, optional
        Candidates where bilinear sampling is undefined (off the terrain) are rejected.
    land_only : bool
        Also reject candidates whose terrain elevation is <= 0 m (needs ``terrain``).

    Returns
    -------
    lat_deg, lon_deg : numpy.ndarray of float64
        Shape ``(n_samples,)``. [deg]

    Raises
    ------
    AdcovError
        No (or too little) acceptable ground in the disk: fewer than ``n_samples`` candidates
        accepted after ``MAX_TRIES_PER_SAMPLE * n_samples`` draws.
    """
    if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
        raise AdcovError(f"samples: expected an integer >= 1, got {n_samples!r}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise AdcovError(f"seed: expected an integer >= 0, got {seed!r}")
    radius_m = float(radius_km) * 1000.0
    if not (math.isfinite(radius_m) and radius_m >= 0):
        raise AdcovError(f"unit {unit_id}: position_precision_km: expected a number >= 0 [km], got {radius_km!r}")
    if land_only and terrain is None:
        raise AdcovError("land_only needs the terrain to test candidates")

    def acceptable(lat, lon):
        if terrain is None:
            return np.ones(lat.shape, dtype=bool)
        elevation = terrain.sample_m(lat, lon, outside="nan")
        ok = np.isfinite(elevation)
        if land_only:
            ok &= np.nan_to_num(elevation, nan=0.0) > 0.0
        return ok

    where = f"unit {unit_id} at {lat_deg:.5f}N {lon_deg:.5f}E"
    if radius_m == 0.0:
        lat, lon = np.full(n_samples, float(lat_deg)), np.full(n_samples, float(lon_deg))
        if not acceptable(lat[:1], lon[:1])[0]:
            what = "on land (terrain > 0 m)" if land_only else "on the terrain"
            raise AdcovError(f"{where}: position_precision_km is 0 and the point is not {what}; "
                             f"give a precision > 0{' or drop land-only' if land_only else ''}")
        return lat, lon
    rng = _unit_rng(seed, unit_id)
    out_lat: list[np.ndarray] = []
    out_lon: list[np.ndarray] = []
    accepted = tried = 0
    budget = MAX_TRIES_PER_SAMPLE * n_samples
    batch = max(64, min(4096, n_samples))
    while accepted < n_samples:
        if tried >= budget:
            what = "land (terrain > 0 m) on the terrain" if land_only else "terrain"
            raise AdcovError(
                f"{where}: found {what} for only {accepted} of {n_samples} samples in {tried} tries within "
                f"{radius_km:g} km (about {100.0 * accepted / max(tried, 1):.2g}% of the disk qualifies); "
                f"{'drop land-only or ' if land_only else ''}check the position and position_precision_km"
            )
        u = rng.random((batch, 2))
        tried += batch
        distance_m = radius_m * np.sqrt(u[:, 0])
        azimuth_deg = 360.0 * u[:, 1]
        lon, lat, _ = WGS84_GEOD.fwd(np.full(batch, float(lon_deg)), np.full(batch, float(lat_deg)), azimuth_deg, distance_m)
        lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        ok = acceptable(lat, lon)
        out_lat.append(lat[ok])
        out_lon.append(lon[ok])
        accepted += int(ok.sum())
    return np.concatenate(out_lat)[:n_samples], np.concatenate(out_lon)[:n_samples]


def _sample_units(scenario, grid: AnalysisGrid, samples: int, seed: int, units, land_only: bool
                  ) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The units to sample (``units``, default every unit with ``position_precision_km``) and
    their ``samples`` positions: ``(sampled ids, {unit id: (lat_deg, lon_deg)})``. [deg]"""
    sampled: list[str] = []
    positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if samples:
        with_precision = [u.id for u in scenario.units if u.position_precision_km is not None]
        if units is None:
            sampled = with_precision
            if not sampled:
                raise AdcovError(
                    f"{scenario.path}: no unit of scenario {scenario.name!r} states position_precision_km; "
                    "give it to the units whose position is uncertain"
                )
        else:
            sampled = _check_unit_ids(scenario, units, "units")
            missing = [u for u in sampled if u not in with_precision]
            if missing:
                raise AdcovError(
                    f"units: {', '.join(missing)} state(s) no position_precision_km in scenario {scenario.name!r}; "
                    f"units with one: {', '.join(with_precision) or 'none'}"
                )
        for uid in sampled:
            spec_unit = scenario.unit(uid)
            positions[uid] = sample_positions(
                uid, spec_unit.lat_deg, spec_unit.lon_deg, spec_unit.position_precision_km, int(samples),
                seed=int(seed), terrain=grid.terrain, land_only=land_only,
            )
    return sampled, positions

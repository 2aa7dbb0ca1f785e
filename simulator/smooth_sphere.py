"""Closed forms over a smooth sphere: the references the line-of-sight kernels are checked against.

Over a sphere of effective radius ``R_eff = k R`` with no terrain, the floor (lowest visible
altitude) and the radar horizon have closed forms (Skolnik 2001, ch. 8); the tests compare
:func:`simulator.visibility.ray_horizons` / :func:`~simulator.visibility.cell_floors_msl`
and the profile with them (the derivation from Eqs. (1)-(2): :mod:`simulator.visibility`).
"""

from __future__ import annotations

import math

import numpy as np


def smooth_sphere_floor_msl(ground_range_m, antenna_altitude_msl_m, effective_radius_m):
    """Floor over a smooth sphere at sea level: closed form used to check the kernel.

    ``floor(d) = (d - sqrt(2 R_eff h1))**2 / (2 R_eff)`` beyond the horizon and 0 within it
    (Skolnik 2001, ch. 8, rearranged; see the module docstring).

    Parameters
    ----------
    ground_range_m : array_like
        Ground range from the site. [m]
    antenna_altitude_msl_m : float
        Antenna altitude above the (sea-level) sphere. [m]
    effective_radius_m : float
        ``k * R``. [m]
    """
    d = np.asarray(ground_range_m, dtype=float)
    horizon_m = math.sqrt(2.0 * effective_radius_m * antenna_altitude_msl_m)
    beyond = np.maximum(d - horizon_m, 0.0)
    return beyond**2 / (2.0 * effective_radius_m)


def radar_horizon_m(antenna_height_m, target_height_m, effective_radius_m):
    """Smooth-sphere radar horizon ``d = sqrt(2 R_eff h1) + sqrt(2 R_eff h2)`` [m].

    Skolnik, *Introduction to Radar Systems*, 3rd ed., 2001, ch. 8 (with R_eff = k R).
    """
    return math.sqrt(2.0 * effective_radius_m * antenna_height_m) + math.sqrt(
        2.0 * effective_radius_m * target_height_m
    )

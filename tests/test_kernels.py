"""The line-of-sight kernels on bare arrays: no terrain files, no projections, no grid objects.

A planar frame stands in for the site's AEQD frame: the DEM is an ``N x N`` grid of ``CELL_M``
cells with the antenna at its centre, north up, so the inverse lattice is ``row = centre -
y / CELL_M``, ``col = centre + x / CELL_M`` and the forward lattice the cells' own offsets.
Each test checks the kernels against a closed form or a symmetry, not against earlier output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator import visibility
from simulator.smooth_sphere import smooth_sphere_floor_msl
from simulator.visibility import Fan, ForwardLattice, InverseLattice, Observer, SampleTiers

N = 161
CELL_M = 100.0
CENTRE = N // 2
R_EFF_M = 4.0 / 3.0 * 6_371_008.8
N_RAYS = 4 * 256  # a multiple of 4: the four axes are rays, and a quarter turn maps rays to rays


def floors(elevation_m: np.ndarray, antenna_height_m: float, *, n_rays: int = N_RAYS, sectors: int = 1) -> np.ndarray:
    """Line-of-sight floor [m MSL] of every cell, the fan run in ``sectors`` pieces."""
    elevation_m = np.ascontiguousarray(elevation_m, dtype=np.float32)
    reach_m = CENTRE * CELL_M * math.sqrt(2.0) + 2 * CELL_M
    step_m = 500.0
    axis = -reach_m + step_m * np.arange(int(2 * reach_m / step_m) + 2)
    gy, gx = np.meshgrid(axis, axis, indexing="ij")
    lattice = InverseLattice(np.ascontiguousarray(CENTRE - gy / CELL_M), np.ascontiguousarray(CENTRE + gx / CELL_M),
                             float(axis[0]), float(axis[0]), step_m)
    cells = np.arange(N, dtype=float) - CENTRE
    fy, fx = np.meshgrid(-cells * CELL_M, cells * CELL_M, indexing="ij")
    forward = ForwardLattice(np.ascontiguousarray(fx), np.ascontiguousarray(fy), 1)
    tiers = SampleTiers(CELL_M / 16, 256, CELL_M / 4, 448, CELL_M, 16 * CELL_M / 4)
    n_samples = 256 + 448 + int(reach_m / CELL_M) + 2
    observer = Observer(float(elevation_m[CENTRE, CENTRE]) + antenna_height_m, R_EFF_M)
    floor = np.full((N, N), np.nan, dtype=np.float32)
    ground_range = np.full((N, N), np.nan, dtype=np.float32)
    per_sector = math.ceil(n_rays / sectors / visibility.RAY_BLOCK) * visibility.RAY_BLOCK
    for first in range(0, n_rays, per_sector):
        n_out = min(per_sector, n_rays - first)
        fan = Fan(n_rays, first, n_out + 1, n_samples)
        horizon = visibility.ray_horizons(elevation_m, lattice, fan, tiers, observer, 0.5 * CELL_M)
        visibility.cell_floors_msl(horizon, fan, tiers, observer, 0.5 * CELL_M, forward, elevation_m, 1e12, floor,
                                   ground_range)
    np.testing.assert_allclose(ground_range, np.hypot(fx, fy), rtol=0, atol=1e-3)
    return floor


def test_flat_sea_gives_the_smooth_sphere_floor():
    antenna_m = 1.0  # horizon 4.1 km: the far cells (8 km) lie beyond it
    floor = floors(np.zeros((N, N)), antenna_m)
    cells = np.arange(N, dtype=float) - CENTRE
    distance = np.hypot(*np.meshgrid(cells * CELL_M, cells * CELL_M, indexing="ij"))
    expected = smooth_sphere_floor_msl(distance, antenna_m, R_EFF_M)
    # the kernel uses the effective-earth drop s**2 / 2R of Eq. (2), the closed form the
    # exact horizon: they agree to well under a metre at these ranges
    np.testing.assert_allclose(floor, expected, atol=0.05)
    assert floor[CENTRE, -1] > 0.5 and floor[CENTRE, CENTRE + 1] == 0.0


def test_a_single_spike_shadows_the_cells_behind_it_only():
    antenna_m, spike_m, spike_cells = 10.0, 150.0, 20
    elevation = np.zeros((N, N))
    elevation[CENTRE, CENTRE + spike_cells] = spike_m  # due east
    floor = floors(elevation, antenna_m)
    flat = floors(np.zeros((N, N)), antenna_m)
    d_spike = spike_cells * CELL_M
    tan_top = (spike_m - antenna_m - d_spike**2 / (2 * R_EFF_M)) / d_spike  # Eq. (1) at the crest
    for cells_out in (30, 50, 79):
        d = cells_out * CELL_M
        expected = antenna_m + d * tan_top + d**2 / (2 * R_EFF_M)  # Eq. (2)
        assert floor[CENTRE, CENTRE + cells_out] == pytest.approx(expected, abs=0.5)
    # in front of the spike, west of the antenna, and north of it: the flat floor
    np.testing.assert_allclose(floor[CENTRE, CENTRE: CENTRE + spike_cells - 1],
                               flat[CENTRE, CENTRE: CENTRE + spike_cells - 1], atol=1e-4)
    np.testing.assert_allclose(floor[:, :CENTRE], flat[:, :CENTRE], atol=1e-4)
    np.testing.assert_allclose(floor[: CENTRE - 5, :], flat[: CENTRE - 5, :], atol=1e-4)


def test_a_quarter_turn_of_the_terrain_turns_the_floor():
    rng = np.random.default_rng(7)
    base = rng.uniform(0.0, 300.0, (N, N))
    floor = floors(base, 30.0)
    turned = floors(np.rot90(base).copy(), 30.0)
    np.testing.assert_allclose(turned, np.rot90(floor), atol=1e-3)


def test_sectors_of_the_fan_give_the_whole_fan_floor():
    rng = np.random.default_rng(3)
    elevation = rng.uniform(0.0, 200.0, (N, N))
    whole = floors(elevation, 20.0)
    np.testing.assert_array_equal(floors(elevation, 20.0, sectors=5), whole)


def test_the_floor_is_never_below_the_ground_and_rises_with_a_lower_antenna():
    rng = np.random.default_rng(11)
    elevation = rng.uniform(0.0, 400.0, (N, N))
    high, low = floors(elevation, 60.0), floors(elevation, 5.0)
    assert np.all(high >= elevation.astype(np.float32) - 1e-3) and np.all(low >= high - 1e-3)


def test_ray_horizons_are_the_running_maximum_of_eq_1_along_each_ray():
    """Fast path and general path alike: the exclusive running maximum of Eq. (1) over the
    bilinear terrain at each sample, -inf before anything masks, NaN once the ray leaves the DEM."""
    rng = np.random.default_rng(5)
    elevation = rng.uniform(0.0, 300.0, (N, N)).astype(np.float32)
    step_m = 500.0
    reach_m = CENTRE * CELL_M * math.sqrt(2.0) + 2 * CELL_M
    axis = -reach_m + step_m * np.arange(int(2 * reach_m / step_m) + 2)
    gy, gx = np.meshgrid(axis, axis, indexing="ij")
    lattice = InverseLattice(np.ascontiguousarray(CENTRE - gy / CELL_M), np.ascontiguousarray(CENTRE + gx / CELL_M),
                             float(axis[0]), float(axis[0]), step_m)
    tiers = SampleTiers(CELL_M / 16, 256, CELL_M / 4, 448, CELL_M, 16 * CELL_M / 4)
    n_samples = 256 + 448 + int(reach_m / CELL_M) + 2
    antenna_msl_m = float(elevation[CENTRE, CENTRE]) + 25.0
    own_cell_m = 0.5 * CELL_M
    n_rays = 59  # none along an axis but ray 0: no other sample lands exactly on the DEM's edge
    horizon = visibility.ray_horizons(elevation, lattice, Fan(n_rays, 0, n_rays, n_samples), tiers,
                                      Observer(antenna_msl_m, R_EFF_M), own_cell_m)
    s = np.array([visibility.sample_range_m(j, *tiers[:5]) for j in range(n_samples)])
    for k in range(1, n_rays):
        azimuth = 2.0 * math.pi * k / n_rays
        row = CENTRE - s * math.cos(azimuth) / CELL_M
        col = CENTRE + s * math.sin(azimuth) / CELL_M
        inside = (row >= -0.5) & (row <= N - 0.5) & (col >= -0.5) & (col <= N - 0.5)
        r = np.clip(row, 0.0, N - 1.0)
        c = np.clip(col, 0.0, N - 1.0)
        r0 = np.minimum(r.astype(int), N - 2)
        c0 = np.minimum(c.astype(int), N - 2)
        fr, fc = r - r0, c - c0
        z = ((elevation[r0, c0] * (1 - fc) + elevation[r0, c0 + 1] * fc) * (1 - fr)
             + (elevation[r0 + 1, c0] * (1 - fc) + elevation[r0 + 1, c0 + 1] * fc) * fr)
        expected = np.full(n_samples, np.nan)
        running = -np.inf
        for j in range(n_samples):
            if not inside[j]:
                break  # the rays leave this convex DEM once, for good
            expected[j] = running
            if j > 0 and s[j] >= own_cell_m:
                running = max(running, (z[j] - antenna_msl_m - s[j] ** 2 / (2 * R_EFF_M)) / s[j])  # Eq. (1)
        assert np.isneginf(expected[1]) and np.isfinite(expected[n_samples // 4]) and np.isnan(expected[-1])
        np.testing.assert_allclose(horizon[:, k], expected.astype(np.float32), rtol=1e-5, atol=1e-9)

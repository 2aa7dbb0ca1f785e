"""Line-of-sight kernel: the lowest visible altitude ("floor") over terrain on a sphere.

Arrays in, arrays out. This module never imports rasterio, pyproj or the scenario layer;
:mod:`simulator.line_of_sight` and :mod:`simulator.geometry` validate inputs and build the
ray geometry it consumes.

Model
-----
The observer (antenna) stands at altitude ``H0 = terrain(site) + antenna_height_m`` [m MSL].
Rays leave it at evenly spaced geodesic azimuths; along each ray the terrain is sampled
bilinearly, finely near the antenna, a quarter DEM cell apart to 128 cells, then one cell
apart (a missed crest matters less the farther it is). Earth curvature
and standard refraction are handled with the effective-earth model: over a sphere of radius
``R_eff = k * R`` a point at ground range ``s`` and altitude ``z`` lies
``s**2 / (2 R_eff)`` below the observer's tangent plane [1]_, [2]_. Its
elevation angle seen from the observer is (tangent form)

    tan(theta(s)) = (z(s) - s**2 / (2 R_eff) - H0) / s                                    (1)

and the floor at range ``s`` -- the lowest target altitude with an unobstructed line of
sight -- follows from the running maximum ``M(s) = max_{0 < u < s} tan(theta(u))`` of the
terrain in front of it [3]_:

    floor(s) = H0 + s * M(s) + s**2 / (2 R_eff)                                           (2)

Over a smooth sphere (z = 0) the maximum of (1) is at the horizon ``u* = sqrt(2 R_eff H0)``
and (2) reduces to ``floor(s) = (s - sqrt(2 R_eff H0))**2 / (2 R_eff)``, i.e. the classic
radar horizon ``d = sqrt(2 R_eff h1) + sqrt(2 R_eff h2)`` [1]_ (:mod:`simulator.smooth_sphere`), which the tests
check.

References
----------
.. [1] Skolnik, M. I., *Introduction to Radar Systems*, 3rd ed., McGraw-Hill, 2001,
       ch. 8 (propagation over a spherical earth; 4/3 earth radius).
.. [2] Doerry, A. W., "Earth Curvature and Atmospheric Refraction Effects on Radar Signal
       Propagation", Sandia Report SAND2012-10690, 2013.
.. [3] Franklin, W. R. and Ray, C., "Higher isn't necessarily better: visibility
       algorithms and experiments", 6th Int. Symp. on Spatial Data Handling, 1994
       (radial sweep with a running maximum of the elevation angle, "R2"/"R3").
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np


@numba.njit(cache=True, inline="always", error_model="numpy")
def _bilinear(grid, row, col):
    """Bilinear value of ``grid`` at fractional centre-based ``(row, col)``; clamped at edges."""
    n_rows, n_cols = grid.shape
    if row < 0.0:
        row = 0.0
    elif row > n_rows - 1:
        row = n_rows - 1.0
    if col < 0.0:
        col = 0.0
    elif col > n_cols - 1:
        col = n_cols - 1.0
    r0 = int(row)
    c0 = int(col)
    if r0 >= n_rows - 1:
        r0 = n_rows - 2 if n_rows > 1 else 0
    if c0 >= n_cols - 1:
        c0 = n_cols - 2 if n_cols > 1 else 0
    r1 = min(r0 + 1, n_rows - 1)
    c1 = min(c0 + 1, n_cols - 1)
    fr = row - r0
    fc = col - c0
    top = grid[r0, c0] * (1.0 - fc) + grid[r0, c1] * fc
    bottom = grid[r1, c0] * (1.0 - fc) + grid[r1, c1] * fc
    return top * (1.0 - fr) + bottom * fr


@numba.njit(cache=True, inline="always", error_model="numpy")
def _lattice_lookup(lat_a, lat_b, origin_0, origin_1, step, u0, u1):
    """Bilinear lookup in two lattices sampled on a regular ``(u0, u1)`` grid."""
    i = (u0 - origin_0) / step
    j = (u1 - origin_1) / step
    return _bilinear(lat_a, i, j), _bilinear(lat_b, i, j)


@numba.njit(cache=True, inline="always", error_model="numpy")
def sample_range_m(j, fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m):
    """Ground range of ray sample ``j``: ``n_fine`` fine steps, ``n_mid`` middle steps, then
    coarse steps. [m]"""
    if j <= n_fine:
        return j * fine_spacing_m
    if j <= n_fine + n_mid:
        return n_fine * fine_spacing_m + (j - n_fine) * mid_spacing_m
    return n_fine * fine_spacing_m + n_mid * mid_spacing_m + (j - n_fine - n_mid) * coarse_spacing_m


@numba.njit(cache=True, inline="always", error_model="numpy")
def last_sample_within(range_m, fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m):
    """Index of the last ray sample at ground range ``<= range_m`` (``range_m >= 0``)."""
    fine_end_m = n_fine * fine_spacing_m
    if range_m <= fine_end_m:
        return int(range_m / fine_spacing_m)
    mid_end_m = fine_end_m + n_mid * mid_spacing_m
    if range_m <= mid_end_m:
        return n_fine + int((range_m - fine_end_m) / mid_spacing_m)
    return n_fine + n_mid + int((range_m - mid_end_m) / coarse_spacing_m)


#: Cells per side of the tiles the cell pass works through.
CELL_TILE = 64

_SQRT3 = math.sqrt(3.0)
_TAN_PI_12 = 2.0 - math.sqrt(3.0)


@numba.njit(cache=True, inline="always", error_model="numpy")
def azimuth_rad(x, y):
    """Azimuth clockwise from north, in [0, 2 pi], of the vector (east x, north y).

    Same as ``atan2(x, y) mod 2 pi`` to < 1e-8 rad (``2 pi`` itself may come back just west
    of north: callers wrap it), several times faster: octant reduction, then
    ``atan(t) = pi/6 + atan((sqrt(3) t - 1) / (t + sqrt(3)))`` for ``t > tan(pi/12)`` and the
    Taylor series to ``t**11`` (Abramowitz & Stegun, ch. 4.4: the addition formula and the
    series of arctan). Conditional expressions, no early return: the compiler can turn
    them into selects.
    """
    ax = abs(x)
    ay = abs(y)
    lo = min(ax, ay)
    hi = max(ax, ay)
    t = lo / (hi if hi > 0.0 else 1.0)
    reduced = t > _TAN_PI_12
    t = (_SQRT3 * t - 1.0) / (t + _SQRT3) if reduced else t
    t2 = t * t
    a = t * (1.0 + t2 * (-1.0 / 3.0 + t2 * (0.2 + t2 * (-1.0 / 7.0 + t2 * (1.0 / 9.0 - t2 / 11.0)))))
    a = a + math.pi / 6.0 if reduced else a
    a = 0.5 * math.pi - a if ax > ay else a  # angle from north of (|x|, |y|)
    a = math.pi - a if y < 0.0 else a
    return 2.0 * math.pi - a if x < 0.0 else a


class InverseLattice(NamedTuple):
    """DEM pixel (row, col) of a square lattice in the observer's AEQD frame (node ``(i, j)``
    at northing ``origin_y_m + i * step_m``, easting ``origin_x_m + j * step_m``)."""

    row: np.ndarray  # float64 (ny, nx), fractional DEM rows (integer = cell centre)
    col: np.ndarray
    origin_y_m: float
    origin_x_m: float
    step_m: float


class ForwardLattice(NamedTuple):
    """AEQD easting/northing [m] of the analysis cells ``(i * step_cells, j * step_cells)``."""

    x_m: np.ndarray  # float64 (ly, lx)
    y_m: np.ndarray
    step_cells: int


class Fan(NamedTuple):
    """Which rays: ``n_out_rays`` rays from ``first_ray`` of a fan of ``n_rays``, ``n_samples`` each."""

    n_rays: int
    first_ray: int
    n_out_rays: int
    n_samples: int


class SampleTiers(NamedTuple):
    """Sample spacing along a ray [m]: ``n_fine`` fine steps, ``n_mid`` middle ones, then coarse;
    ray positions are mapped exactly every ``knot_spacing_m``."""

    fine_spacing_m: float
    n_fine: int
    mid_spacing_m: float
    n_mid: int
    coarse_spacing_m: float
    knot_spacing_m: float


class Observer(NamedTuple):
    """The antenna: altitude [m MSL] and the effective earth radius ``k R`` [m]."""

    altitude_msl_m: float
    effective_radius_m: float


#: Rays handled together by one thread, so that writes to the (sample, ray) layout are
#: contiguous cache lines.
RAY_BLOCK = 16


@numba.njit(cache=True, inline="always", error_model="numpy")
def _first_knots(lattice, n_rays, first_ray, k0, knot_spacing_m, sin_az, cos_az, ra, ca, rb, cb, out):
    """Start the rays of a block (columns ``k0, k0 + 1, ...`` of ``out``): their azimuths'
    sines and cosines, their DEM positions at the first two knots (the antenna at ``s = 0``
    and ``s = knot_spacing_m``, by :func:`_lattice_lookup`), and ``M = -inf`` at sample 0."""
    inv_row, inv_col, inv_origin_y_m, inv_origin_x_m, inv_step_m = lattice
    for b in range(sin_az.size):
        azimuth = 2.0 * math.pi * ((first_ray + k0 + b) % n_rays) / n_rays
        sin_az[b] = math.sin(azimuth)
        cos_az[b] = math.cos(azimuth)
        ra[b], ca[b] = _lattice_lookup(inv_row, inv_col, inv_origin_y_m, inv_origin_x_m, inv_step_m, 0.0, 0.0)
        rb[b], cb[b] = _lattice_lookup(
            inv_row, inv_col, inv_origin_y_m, inv_origin_x_m, inv_step_m,
            knot_spacing_m * cos_az[b], knot_spacing_m * sin_az[b],
        )
        out[0, k0 + b] = -np.inf


@numba.njit(cache=True, inline="always", error_model="numpy")
def _advance_knots(lattice, s, s_a, s_b, knot_spacing_m, sin_az, cos_az, ra, ca, rb, cb):
    """Move the block's pair of knots ``(s_a, s_b]`` forward until it holds range ``s``: the
    far knot's DEM positions become the near one's, the new far ones come from the lattice.
    Returns the new ``(s_a, s_b)``. [m]"""
    inv_row, inv_col, inv_origin_y_m, inv_origin_x_m, inv_step_m = lattice
    while s > s_b:
        s_a = s_b
        s_b += knot_spacing_m
        for b in range(sin_az.size):
            ra[b] = rb[b]
            ca[b] = cb[b]
            rb[b], cb[b] = _lattice_lookup(
                inv_row, inv_col, inv_origin_y_m, inv_origin_x_m, inv_step_m, s_b * cos_az[b], s_b * sin_az[b]
            )
    return s_a, s_b


@numba.njit(cache=True, inline="always", error_model="numpy")
def _block_in_interior(ra, ca, rb, cb, row_in, col_in):
    """Whether every ray of the block is inside the DEM's interior box ``[0, row_in] x
    [0, col_in]`` (where the bilinear stencil needs no clamping) at both knots."""
    for b in range(ra.size):
        if not (
            0.0 <= ra[b] <= row_in and 0.0 <= rb[b] <= row_in
            and 0.0 <= ca[b] <= col_in and 0.0 <= cb[b] <= col_in
        ):
            return False
    return True


@numba.njit(cache=True, inline="always", error_model="numpy")
def _run_geometry(tiers, observer, j, n_run, s_a, run_w, run_inv_s, run_base):
    """Geometry of the ``n_run`` samples from ``j`` of a fast run, shared by the rays of the
    block: the weight of the far knot, ``1 / s``, and the observer's altitude plus the
    effective-earth drop ``s**2 / (2 R_eff)`` of Eq. (1) (Skolnik 2001, ch. 8)."""
    fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m, knot_spacing_m = tiers
    observer_altitude_msl_m, effective_radius_m = observer
    two_re = 2.0 * effective_radius_m
    for q in range(n_run):
        s_q = sample_range_m(j + q, fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m)
        run_w[q] = (s_q - s_a) / knot_spacing_m
        run_inv_s[q] = 1.0 / s_q
        run_base[q] = observer_altitude_msl_m + s_q * s_q / two_re


@numba.njit(cache=True, inline="always", error_model="numpy")
def _fast_ray(elevation_m, out, column, j, n_run, r_a, dr, c_a, dc, m, run_w, run_inv_s, run_base):
    """One ray through a fast run: ``out[j + q, column] = M`` before sample ``j + q``, then
    ``M`` takes the sample's Eq. (1) (the running maximum of Franklin & Ray 1994). The ray's
    DEM position is linear in ``run_w`` from ``(r_a, c_a)``, inside the interior box: the
    bilinear interpolation of :func:`_bilinear` without its clamping. Returns ``M`` after the
    run."""
    for q in range(n_run):
        row = r_a + dr * run_w[q]
        col = c_a + dc * run_w[q]
        out[j + q, column] = m
        r0 = int(row)
        c0 = int(col)
        fr = row - r0
        fc = col - c0
        top = elevation_m[r0, c0] * (1.0 - fc) + elevation_m[r0, c0 + 1] * fc
        bottom = elevation_m[r0 + 1, c0] * (1.0 - fc) + elevation_m[r0 + 1, c0 + 1] * fc
        tan_theta = ((top * (1.0 - fr) + bottom * fr) - run_base[q]) * run_inv_s[q]  # Eq. (1)
        m = tan_theta if tan_theta > m else m
    return m


@numba.njit(cache=True, inline="always", error_model="numpy")
def _fast_run(elevation_m, tiers, observer, out, k0, j, s_a, s_b, n_samples, ra, ca, rb, cb, max_tan, run_w, run_inv_s,
              run_base):
    """Fast path: the samples from ``j`` up to the next knot ``s_b``, where no ray of the block
    can leave the DEM (positions are linear between knots, the interior box is convex): no
    bounds tests, no clamping, one ray at a time with its running maximum in a register
    (:func:`_fast_ray`). Same arithmetic as :func:`_general_sample`. Returns the next
    sample's index."""
    fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m, _ = tiers
    # (at least sample j itself: s_b may round just below it)
    j_end = min(
        max(last_sample_within(s_b, fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m), j),
        n_samples - 1,
        j + run_w.size - 1,
    )
    n_run = j_end + 1 - j
    _run_geometry(tiers, observer, j, n_run, s_a, run_w, run_inv_s, run_base)
    for b in range(ra.size):
        r_a = ra[b]
        c_a = ca[b]
        max_tan[b] = _fast_ray(elevation_m, out, k0 + b, j, n_run, r_a, rb[b] - r_a, c_a, cb[b] - c_a, max_tan[b],
                               run_w, run_inv_s, run_base)
    return j_end + 1


@numba.njit(cache=True, inline="always", error_model="numpy")
def _general_sample(elevation_m, observer, out, k0, j, s, s_a, knot_spacing_m, own_cell_m, ra, ca, rb, cb, max_tan, left,
                    interior):
    """General path: sample ``j`` (range ``s``) of every ray of the block, with bounds tests
    and clamped bilinear terrain (:func:`_bilinear`). ``out[j]`` gets ``M`` before the sample,
    NaN once a ray has left the DEM (``left``); then ``M`` takes the sample's Eq. (1) (the
    running maximum of Franklin & Ray 1994) unless the sample lies in the antenna's own cell.
    Returns how many rays were still inside the DEM before this sample, and ``interior``
    (False once a ray leaves)."""
    observer_altitude_msl_m, effective_radius_m = observer
    n_rows, n_cols = elevation_m.shape
    two_re = 2.0 * effective_radius_m
    row_lo = -0.5
    row_hi = n_rows - 0.5
    col_lo = -0.5
    col_hi = n_cols - 0.5
    w = (s - s_a) / knot_spacing_m
    drop = s * s / two_re
    inv_s = 1.0 / s
    base = observer_altitude_msl_m + drop
    still_inside = 0
    for b in range(ra.size):
        if left[b]:
            out[j, k0 + b] = np.nan
            continue
        still_inside += 1
        row = ra[b] + (rb[b] - ra[b]) * w
        col = ca[b] + (cb[b] - ca[b]) * w
        if row < row_lo or row > row_hi or col < col_lo or col > col_hi:
            left[b] = True
            interior = False
            out[j, k0 + b] = np.nan
            continue
        # the maximum over the samples before this one
        out[j, k0 + b] = max_tan[b]
        z = _bilinear(elevation_m, row, col)
        tan_theta = (z - base) * inv_s  # Eq. (1)
        if tan_theta > max_tan[b] and s >= own_cell_m:
            max_tan[b] = tan_theta
    return still_inside, interior


@numba.njit(cache=True, inline="always", error_model="numpy")
def _trace_ray_block(elevation_m, lattice, fan, tiers, observer, own_cell_m, out, k0, nb, run_capacity):
    """Columns ``k0 .. k0 + nb - 1`` of :func:`ray_horizons`' output: the running maximum
    ``M(s)`` of Eq. (1) along the ``nb`` rays of one block (Franklin & Ray 1994's radial
    sweep), all of them sample by sample.

    The rays advance together from knot to knot (:func:`_advance_knots`). Where every ray of
    the block is inside the DEM's interior at both knots, beyond the fine steps and the
    antenna's own cell, :func:`_fast_run` takes the samples up to the next knot; elsewhere
    :func:`_general_sample` takes one sample. Once every ray has left the DEM the rest is NaN.
    ``run_capacity``: the most samples a fast run takes.
    """
    n_rays, first_ray, _, n_samples = fan
    fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m, knot_spacing_m = tiers
    n_rows, n_cols = elevation_m.shape
    row_in = n_rows - 2.0  # interior box: the bilinear stencil needs no clamping
    col_in = n_cols - 2.0
    sin_az = np.empty(nb)
    cos_az = np.empty(nb)
    max_tan = np.full(nb, -np.inf)
    ra = np.empty(nb)
    ca = np.empty(nb)
    rb = np.empty(nb)
    cb = np.empty(nb)
    left = np.zeros(nb, dtype=np.bool_)
    # geometry of the samples of one fast run, shared by the rays of the block
    run_w = np.empty(run_capacity)
    run_inv_s = np.empty(run_capacity)
    run_base = np.empty(run_capacity)
    _first_knots(lattice, n_rays, first_ray, k0, knot_spacing_m, sin_az, cos_az, ra, ca, rb, cb, out)
    s_a = 0.0
    s_b = knot_spacing_m
    interior = False  # every ray of the block is inside the DEM's interior at both knots
    j = 1
    while j < n_samples:
        s = sample_range_m(j, fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m)
        if s > s_b:
            s_a, s_b = _advance_knots(lattice, s, s_a, s_b, knot_spacing_m, sin_az, cos_az, ra, ca, rb, cb)
            interior = _block_in_interior(ra, ca, rb, cb, row_in, col_in)
        if interior and j > n_fine and s >= own_cell_m:
            j = _fast_run(elevation_m, tiers, observer, out, k0, j, s_a, s_b, n_samples, ra, ca, rb, cb, max_tan, run_w,
                          run_inv_s, run_base)
            continue
        still_inside, interior = _general_sample(elevation_m, observer, out, k0, j, s, s_a, knot_spacing_m, own_cell_m,
                                                 ra, ca, rb, cb, max_tan, left, interior)
        if still_inside == 0:
            # every ray of the block has left the DEM
            for jj in range(j + 1, n_samples):
                for b in range(nb):
                    out[jj, k0 + b] = np.nan
            break
        j += 1


@numba.njit(cache=True, parallel=True, error_model="numpy")
def ray_horizons(elevation_m, lattice, fan, tiers, observer, own_cell_m):
    """Horizon along geodesic rays: the running maximum ``M(s)`` of Eq. (1).

    The rays are ``first_ray, first_ray + 1, ...`` (``n_out_rays`` of them, modulo
    ``n_rays``) of a fan of ``n_rays`` evenly spaced rays: a sector of the fan, so that
    memory stays bounded on large grids.

    Parameters
    ----------
    elevation_m : float32 (or int16) array (rows, cols)
        Terrain elevation above mean sea level. [m]
    lattice : InverseLattice
        ``(inv_row, inv_col, inv_origin_y_m, inv_origin_x_m, inv_step_m)``, below.
    fan : Fan
        ``(n_rays, first_ray, n_out_rays, n_samples)``, below.
    tiers : SampleTiers
        ``(fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m, knot_spacing_m)``, below.
    observer : Observer
        ``(observer_altitude_msl_m, effective_radius_m)``, below.
    own_cell_m : float
        Below.

    The records' fields:

    inv_row, inv_col : float64 arrays (ny, nx)
        Fractional DEM pixel coordinates (integer = cell centre) of the points of a regular
        lattice in the observer's azimuthal equidistant frame: lattice node ``(i, j)`` is at
        northing ``inv_origin_y_m + i * inv_step_m`` and easting
        ``inv_origin_x_m + j * inv_step_m``. In that frame the distance and azimuth from the
        origin are the geodesic ones, so ray ``k`` at azimuth ``2 pi k / n_rays`` (clockwise
        from north) is the straight line ``(x, y) = s (sin az, cos az)``.
    n_rays : int
        Rays in the whole fan: ray ``k`` is at azimuth ``2 pi k / n_rays``.
    first_ray, n_out_rays : int
        The sector computed: rays ``(first_ray + i) % n_rays`` for ``i < n_out_rays``.
    n_samples : int
        Samples per ray.
    fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m
        Distance between samples [m] and how many steps of it: the first ``n_fine`` steps
        are fine, the next ``n_mid`` middle, the rest coarse (:func:`sample_range_m`). An
        elevation angle's sensitivity to a missed crest falls with range: dense samples
        near the antenna, about one per cell far away.
    knot_spacing_m : float
        Distance between exactly mapped ray positions; positions in between are linear. [m]
    observer_altitude_msl_m : float
        Antenna altitude (terrain at the site + antenna height). [m]
    effective_radius_m : float
        Effective earth radius ``k * R``. [m]
    own_cell_m : float
        Terrain closer than this to the antenna is the antenna's own cell and does not mask
        it. [m]

    Returns
    -------
    float32 array (n_samples, n_out_rays)
        ``M`` at each sample: the tangent of the highest terrain elevation angle seen from
        the antenna over the samples before it (Eq. (1)); Eq. (2) turns it into the floor.
        Sample-major, so that neighbouring rays are adjacent in memory. ``-inf`` where
        nothing masks yet, NaN once a ray has left the DEM.

    Notes
    -----
    The running maximum is exclusive: a sample never masks itself. Ray positions between
    knots are interpolated linearly; the knots come from bilinear lookup in the lattice
    (the mapping is smooth: errors are centimetres).
    """
    _, _, n_out_rays, n_samples = fan
    _, _, mid_spacing_m, _, coarse_spacing_m, knot_spacing_m = tiers
    out = np.empty((n_samples, n_out_rays), dtype=np.float32)
    # samples between two knots beyond the fine steps, and then some
    run_capacity = int(knot_spacing_m / min(mid_spacing_m, coarse_spacing_m)) + 2
    n_blocks = (n_out_rays + RAY_BLOCK - 1) // RAY_BLOCK
    for block in numba.prange(n_blocks):
        k0 = block * RAY_BLOCK  # column of the block's first ray in ``out``
        _trace_ray_block(elevation_m, lattice, fan, tiers, observer, own_cell_m, out, k0,
                         min(RAY_BLOCK, n_out_rays - k0), run_capacity)
    return out


@numba.njit(cache=True, inline="always", error_model="numpy")
def _lattice_xy(fwd_x, fwd_y, step, r, c):
    """AEQD (x, y) of analysis cell (r, c), bilinear in the forward lattice. [m]"""
    n_lattice_rows, n_lattice_cols = fwd_x.shape
    i0 = r // step
    j0 = c // step
    i1 = min(i0 + 1, n_lattice_rows - 1)
    j1 = min(j0 + 1, n_lattice_cols - 1)
    wr = (r - i0 * step) / step
    wc = (c - j0 * step) / step
    x = (fwd_x[i0, j0] * (1.0 - wc) + fwd_x[i0, j1] * wc) * (1.0 - wr) + (fwd_x[i1, j0] * (1.0 - wc) + fwd_x[i1, j1] * wc) * wr
    y = (fwd_y[i0, j0] * (1.0 - wc) + fwd_y[i0, j1] * wc) * (1.0 - wr) + (fwd_y[i1, j0] * (1.0 - wc) + fwd_y[i1, j1] * wc) * wr
    return x, y


#: Margin of the tile-versus-sector test. [rays]
_SECTOR_MARGIN_RAYS = 2.0


@numba.njit(cache=True, inline="always", error_model="numpy")
def _tile_meets_sector(fwd_x, fwd_y, step, r_first, r_last, c_first, c_last, rays_per_rad, n_rays, first_ray, n_sector_rays):
    """Whether a tile of cells can hold cells of the sector ``[first_ray, first_ray + n_sector_rays)``.

    Conservative: a tile near the site (where azimuths spread widely) always can; otherwise
    the azimuths of its cells lie within those of its four corners (a convex quadrilateral
    not containing the site), widened by :data:`_SECTOR_MARGIN_RAYS`.
    """
    xa, ya = _lattice_xy(fwd_x, fwd_y, step, r_first, c_first)
    xb, yb = _lattice_xy(fwd_x, fwd_y, step, r_first, c_last)
    xc, yc = _lattice_xy(fwd_x, fwd_y, step, r_last, c_first)
    xd, yd = _lattice_xy(fwd_x, fwd_y, step, r_last, c_last)
    diagonal = max(math.hypot(xd - xa, yd - ya), math.hypot(xc - xb, yc - yb))
    nearest = min(min(math.hypot(xa, ya), math.hypot(xb, yb)), min(math.hypot(xc, yc), math.hypot(xd, yd)))
    if nearest <= 2.0 * diagonal:
        return True
    half = 0.5 * n_rays
    ua = azimuth_rad(xa, ya) * rays_per_rad
    lo = 0.0
    hi = 0.0
    for u in (azimuth_rad(xb, yb) * rays_per_rad, azimuth_rad(xc, yc) * rays_per_rad, azimuth_rad(xd, yd) * rays_per_rad):
        d = u - ua
        if d >= half:
            d -= n_rays
        elif d < -half:
            d += n_rays
        lo = min(lo, d)
        hi = max(hi, d)
    start = ua + lo - _SECTOR_MARGIN_RAYS - first_ray  # the tile's span, from the sector's first ray
    span = hi - lo + 2.0 * _SECTOR_MARGIN_RAYS
    start = start % n_rays
    return start < n_sector_rays or start + span >= n_rays


@numba.njit(cache=True, inline="always", error_model="numpy")
def _sector_tiles(fwd_x, fwd_y, step, n_rows, n_cols, rays_per_rad, n_rays, first_ray, n_sector_rays):
    """Indices (row-major) of the ``CELL_TILE`` square tiles of a ``n_rows x n_cols`` grid that
    can hold cells of the sector (:func:`_tile_meets_sector`): every tile for the whole fan.
    Listed first, so that threads share them evenly."""
    n_tile_rows = (n_rows + CELL_TILE - 1) // CELL_TILE
    n_tile_cols = (n_cols + CELL_TILE - 1) // CELL_TILE
    n_tiles = n_tile_rows * n_tile_cols
    whole_fan = n_sector_rays >= n_rays
    meets = np.ones(n_tiles, dtype=np.bool_)
    if not whole_fan:
        for tile in range(n_tiles):
            tr = tile // n_tile_cols
            tc = tile % n_tile_cols
            meets[tile] = _tile_meets_sector(
                fwd_x, fwd_y, step, tr * CELL_TILE, min((tr + 1) * CELL_TILE, n_rows) - 1,
                tc * CELL_TILE, min((tc + 1) * CELL_TILE, n_cols) - 1, rays_per_rad, n_rays, first_ray, n_sector_rays,
            )
    return np.flatnonzero(meets)


@numba.njit(cache=True, inline="always", error_model="numpy")
def _row_geometry(fwd_x, fwd_y, step, r, c_start, c_stop, j_start, row_x, row_y, rays_per_rad, cell_range, cell_ray):
    """Ground range [m] and fractional ray index (azimuth times ``rays_per_rad``, by
    :func:`azimuth_rad`) of the cells ``c_start .. c_stop - 1`` of analysis row ``r``, into
    ``cell_range`` and ``cell_ray`` (from index 0).

    The forward lattice is interpolated to the row first (lattice columns from ``j_start``, into
    ``row_x`` and ``row_y``), then along it segment by segment, in branch-free loops without
    gathers, which vectorize: the bilinear interpolation of :func:`_lattice_xy`.
    """
    n_lattice_rows = fwd_x.shape[0]
    j_stop = j_start + row_x.size
    inv_step = 1.0 / step
    i0 = r // step
    i1 = min(i0 + 1, n_lattice_rows - 1)
    wr = (r - i0 * step) / step
    for jj in range(j_start, j_stop):
        row_x[jj - j_start] = fwd_x[i0, jj] + (fwd_x[i1, jj] - fwd_x[i0, jj]) * wr
        row_y[jj - j_start] = fwd_y[i0, jj] + (fwd_y[i1, jj] - fwd_y[i0, jj]) * wr
    n_segments = max(j_stop - 1 - j_start, 1)  # one node only: a constant segment
    for segment in range(n_segments):
        jj = j_start + segment
        jn = min(jj + 1, j_stop - 1)
        # the last segment also takes a column sitting exactly on its far node
        seg_lo = c_start if segment == 0 else jj * step
        seg_hi = c_stop if segment == n_segments - 1 else min((jj + 1) * step, c_stop)
        x0 = row_x[jj - j_start]
        y0 = row_y[jj - j_start]
        dx = (row_x[jn - j_start] - x0) * inv_step
        dy = (row_y[jn - j_start] - y0) * inv_step
        offset = jj * step
        for c in range(seg_lo, seg_hi):
            x = x0 + dx * (c - offset)
            y = y0 + dy * (c - offset)
            cell_range[c - c_start] = math.sqrt(x * x + y * y)
            cell_ray[c - c_start] = azimuth_rad(x, y) * rays_per_rad


@numba.njit(cache=True, inline="always", error_model="numpy")
def _store_cell_floor(floor, r, c, ray_horizon, n_rays, first_ray, tiers, observer, own_cell_m, max_ground_range_m, rng, u,
                      z):
    """``floor[r, c]``: the floor [m MSL] of a cell at ground range ``rng`` [m], fractional ray
    index ``u`` and terrain ``z`` [m MSL], from the sector's ``ray_horizon``; left alone when
    the cell lies between two rays of another sector.

    NaN beyond ``max_ground_range_m`` or the rays' reach; else Eq. (2) (Franklin & Ray 1994's
    running maximum ``M``, the effective-earth drop of Skolnik 2001, ch. 8), with ``M`` the
    maximum over the samples up to ``own_cell_m`` short of the cell interpolated linearly in
    azimuth between the two rays around it; never below the ground.
    """
    fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m, _ = tiers
    observer_altitude_msl_m, effective_radius_m = observer
    inv_two_re = 0.5 / effective_radius_m
    if rng > max_ground_range_m:
        floor[r, c] = np.nan
        return
    reach = rng - own_cell_m
    if reach <= 0.0:
        floor[r, c] = z  # nothing in front of the cell
        return
    # ray_horizon[j] holds the maximum over samples 1..j-1: take the entry just past
    # the last sample that can mask this cell
    j = last_sample_within(reach, fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m) + 1
    if j >= ray_horizon.shape[0]:
        floor[r, c] = np.nan
        return
    # the cell lies between rays k0 and k0 + 1: interpolate their maxima in azimuth
    k0 = int(u)
    w = u - k0
    if k0 >= n_rays:
        k0 -= n_rays
    k0 -= first_ray  # column in this sector's rays
    if k0 < 0:
        k0 += n_rays
    if k0 >= ray_horizon.shape[1] - 1:
        return  # another sector's cell
    ta = ray_horizon[j, k0]
    tb = ray_horizon[j, k0 + 1]
    if math.isnan(ta) or math.isnan(tb):
        if math.isnan(ta) and math.isnan(tb):
            floor[r, c] = np.nan
            return
        ta = tb if math.isnan(ta) else ta
        tb = ta if math.isnan(tb) else tb
    if ta == -np.inf or tb == -np.inf:
        # nothing masks along one of the rays: use the other, or the ground
        if ta == -np.inf and tb == -np.inf:
            floor[r, c] = z
            return
        max_tan = tb if ta == -np.inf else ta
    else:
        max_tan = (1.0 - w) * ta + w * tb
    f = observer_altitude_msl_m + rng * max_tan + rng * rng * inv_two_re  # Eq. (2)
    floor[r, c] = z if f < z else f


@numba.njit(cache=True, inline="always", error_model="numpy")
def _tile_floors(ray_horizon, fan, tiers, observer, own_cell_m, forward, terrain_m, max_ground_range_m, floor, ground_range,
                 tr, tc):
    """Floor and ground range (:func:`cell_floors_msl`) of the cells of tile ``(tr, tc)``
    (``CELL_TILE`` cells a side) that the sector owns, row by row: the row's geometry
    (:func:`_row_geometry`), then each cell's floor (:func:`_store_cell_floor`)."""
    n_rays, first_ray, _, _ = fan
    fwd_x, fwd_y, fwd_step_cells = forward
    want_range = ground_range.size > 0
    n_rows, n_cols = terrain_m.shape
    rays_per_rad = n_rays / (2.0 * math.pi)
    n_lattice_cols = fwd_x.shape[1]
    c_start = tc * CELL_TILE
    c_stop = min(c_start + CELL_TILE, n_cols)
    j_start = c_start // fwd_step_cells
    j_stop = min((c_stop - 1) // fwd_step_cells + 2, n_lattice_cols)
    # the lattice row interpolated to the analysis row, over this tile's columns
    row_x = np.empty(j_stop - j_start)
    row_y = np.empty(j_stop - j_start)
    cell_range = np.empty(CELL_TILE)
    cell_ray = np.empty(CELL_TILE)
    for r in range(tr * CELL_TILE, min((tr + 1) * CELL_TILE, n_rows)):
        _row_geometry(fwd_x, fwd_y, fwd_step_cells, r, c_start, c_stop, j_start, row_x, row_y, rays_per_rad, cell_range,
                      cell_ray)
        for c in range(c_start, c_stop):
            rng = cell_range[c - c_start]
            if want_range:
                ground_range[r, c] = rng
            _store_cell_floor(floor, r, c, ray_horizon, n_rays, first_ray, tiers, observer, own_cell_m, max_ground_range_m,
                              rng, cell_ray[c - c_start], terrain_m[r, c])


@numba.njit(cache=True, parallel=True, error_model="numpy")
def cell_floors_msl(ray_horizon, fan, tiers, observer, own_cell_m, forward, terrain_m, max_ground_range_m, floor, ground_range):
    """Floor at the analysis cells of one sector from the two rays around each, and ranges.

    The running maximum of Eq. (1) is taken over the samples up to ``own_cell_m`` short of
    the cell centre (the target's own cell never masks it) on the two rays that bracket the
    cell's azimuth, interpolated linearly in azimuth, and Eq. (2) is evaluated at the
    cell's exact geodesic range.

    Parameters
    ----------
    ray_horizon : float32 array (n_samples, n_sector_rays + 1)
        Output of :func:`ray_horizons` for rays ``first_ray, first_ray + 1, ...``: the
        running maximum of Eq. (1) along each ray. The sector owns the cells whose azimuth
        lies between its first and its last ray (the last one only brackets).
    fan, tiers, observer : Fan, SampleTiers, Observer
        As given to :func:`ray_horizons` (the fan's ``n_out_rays`` and ``n_samples`` and the
        tiers' ``knot_spacing_m`` are not used here).
    own_cell_m : float
        Below.
    forward : ForwardLattice
        ``(fwd_x, fwd_y, fwd_step_cells)``, below.
    terrain_m, max_ground_range_m, floor, ground_range
        Below.

    The records' fields and the other arguments:

    n_rays, first_ray : int
        Rays of the whole fan, and the sector's first ray (as given to :func:`ray_horizons`).
    fine_spacing_m, n_fine, mid_spacing_m, n_mid, coarse_spacing_m
        Sampling of the rays, as given to :func:`ray_horizons`.
    observer_altitude_msl_m, effective_radius_m : float
        As given to :func:`ray_horizons`. [m]
    own_cell_m : float
        Terrain within this distance before the cell centre does not mask the cell (half a
        cell: the cell's own footprint). [m]
    fwd_x, fwd_y : float64 arrays (ly, lx)
        Easting / northing in the observer's azimuthal equidistant frame of the analysis
        cells ``(i * fwd_step_cells, j * fwd_step_cells)`` (bilinear in between). [m]
    fwd_step_cells : int
        Lattice stride in analysis cells.
    terrain_m : float32 array (rows, cols)
        Terrain at the analysis cells; the floor is never below the ground. [m] MSL
    max_ground_range_m : float
        Cells farther than this are not computed (NaN). [m]
    floor : float32 array (rows, cols)
        Output, filled for the sector's cells: lowest visible altitude [m] MSL
        (``>= terrain``); NaN beyond range or off the rays. The sectors of a fan together
        fill every cell.
    ground_range : float32 array (rows, cols) or (0, 0)
        Output, filled likewise when not empty: geodesic distance from the site. [m]

    Notes
    -----
    Tiles of cells whose azimuths (from their corners) cannot reach the sector are
    skipped; cells of a tile the sector does not own are left to their own sector.
    """
    n_rays, first_ray, _, _ = fan
    fwd_x, fwd_y, fwd_step_cells = forward
    n_rows, n_cols = terrain_m.shape
    # square tiles of cells touch a compact block of the ray array (cache friendly)
    n_tile_cols = (n_cols + CELL_TILE - 1) // CELL_TILE
    tiles = _sector_tiles(fwd_x, fwd_y, fwd_step_cells, n_rows, n_cols, n_rays / (2.0 * math.pi), n_rays, first_ray,
                          ray_horizon.shape[1] - 1)
    for index in numba.prange(tiles.size):
        tile = tiles[index]
        _tile_floors(ray_horizon, fan, tiers, observer, own_cell_m, forward, terrain_m, max_ground_range_m, floor,
                     ground_range, tile // n_tile_cols, tile % n_tile_cols)
    return floor, ground_range


@numba.njit(cache=True, parallel=True, error_model="numpy")
def classify_visible(floor_msl_m, terrain_m, target_m, target_is_agl):
    """uint8 visibility of a target against the floor: 1 visible, 0 hidden, 255 beyond range.

    ``target_m`` is above the ground when ``target_is_agl``, else above mean sea level; a
    target is visible when its altitude is at or above the floor (NaN: beyond range).
    """
    rows, cols = floor_msl_m.shape
    out = np.empty((rows, cols), dtype=np.uint8)
    for r in numba.prange(rows):
        for c in range(cols):
            f = floor_msl_m[r, c]
            if np.isnan(f):
                out[r, c] = 255
            else:
                h = terrain_m[r, c] + target_m if target_is_agl else target_m
                out[r, c] = 1 if h >= f else 0
    return out


def warm_up() -> None:
    """Start numba's compiler context now (about 0.5 s once per process, then every cached
    kernel loads in milliseconds), so that it runs while another thread does GIL-free work
    (:class:`simulator.line_of_sight._PlanAhead`). Harmless when numba's internals differ."""
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    except Exception:  # noqa: BLE001 - an optimisation only; the first kernel call does the same
        pass

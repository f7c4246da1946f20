"""Sampling volumes at given coordinates: ``grid_sampler_3d`` (``torch.nn.functional.grid_sample``
on 5-D inputs), trilinear or nearest, with zeros, border or reflection padding.

The 2-D sampler comes from PyTorch's decomposition; the 3-D one has none. The arithmetic follows
PyTorch's CPU kernel (GridSampler.h), so gradients with respect to both the input and the grid
are JAX's derivatives of the same formulas.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from torch2jax.ops._common import aten
from torch2jax.registry import implements

_BILINEAR, _NEAREST = 0, 1
_ZEROS, _BORDER, _REFLECTION = 0, 1, 2


def _unnormalize(coordinate: Any, size: int, align_corners: bool) -> Any:
    """[-1, 1] to pixel coordinates: corner pixels' centers, or their outer edges."""
    if align_corners:
        return (coordinate + 1) / 2 * (size - 1)
    return ((coordinate + 1) * size - 1) / 2


def _reflect(coordinate: Any, twice_low: int, twice_high: int) -> Any:
    if twice_low == twice_high:
        return jnp.zeros_like(coordinate)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    distance = jnp.abs(coordinate - low)
    extra = jnp.fmod(distance, span)
    flips = jnp.floor(distance / span)
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + low, span - extra + low)


def _source_coordinate(coordinate: Any, size: int, padding_mode: int, align_corners: bool) -> Any:
    coordinate = _unnormalize(coordinate, size, align_corners)
    if padding_mode == _BORDER:
        coordinate = jnp.clip(coordinate, 0, size - 1)
    elif padding_mode == _REFLECTION:
        if align_corners:
            coordinate = _reflect(coordinate, 0, 2 * (size - 1))
        else:
            coordinate = _reflect(coordinate, -1, 2 * size - 1)
        coordinate = jnp.clip(coordinate, 0, size - 1)
    return coordinate


def _gather(volumes: Any, z: Any, y: Any, x: Any, sizes: tuple[int, int, int]) -> Any:
    """(N, C, *grid) values at integer positions; positions outside the volume read 0."""
    depth, height, width = sizes
    inside = (z >= 0) & (z < depth) & (y >= 0) & (y < height) & (x >= 0) & (x < width)
    flat = (jnp.clip(z, 0, depth - 1) * height + jnp.clip(y, 0, height - 1)) * width
    flat = flat + jnp.clip(x, 0, width - 1)
    n, c = volumes.shape[:2]
    values = jnp.take_along_axis(
        volumes.reshape(n, c, depth * height * width), flat.reshape(n, 1, -1), axis=2
    ).reshape((n, c) + flat.shape[1:])
    return jnp.where(inside[:, None], values, 0)


@implements(aten.grid_sampler_3d)
def grid_sampler_3d(
    x: Any, grid: Any, interpolation_mode: int, padding_mode: int, align_corners: bool
) -> Any:
    if interpolation_mode not in (_BILINEAR, _NEAREST):
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    sizes = x.shape[2:]
    # The grid's last axis is (x, y, z): width, height, depth.
    ix, iy, iz = (
        _source_coordinate(grid[..., axis], sizes[2 - axis], padding_mode, align_corners)
        for axis in range(3)
    )
    if interpolation_mode == _NEAREST:
        # nearbyint: halves round to even, as jnp.round does.
        z, y, w = (jnp.round(c).astype(jnp.int32) for c in (iz, iy, ix))
        return _gather(x, z, y, w, sizes).astype(x.dtype)
    z0, y0, x0 = (jnp.floor(c) for c in (iz, iy, ix))
    fz, fy, fx = iz - z0, iy - y0, ix - x0
    z0, y0, x0 = (c.astype(jnp.int32) for c in (z0, y0, x0))
    out = 0
    for dz, wz in ((0, 1 - fz), (1, fz)):
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                corner = _gather(x, z0 + dz, y0 + dy, x0 + dx, sizes)
                out = out + corner * (wz * wy * wx)[:, None]
    return out.astype(x.dtype)

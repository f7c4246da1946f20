"""Resampling: volumes at given coordinates (``grid_sampler_3d``, ``grid_sample`` on 5-D inputs:
trilinear or nearest, zeros, border or reflection padding) and antialiased resizing
(``interpolate(..., antialias=True)``, bilinear and bicubic).

The 2-D sampler comes from PyTorch's decomposition; the 3-D one has none. The arithmetic follows
PyTorch's CPU kernel (GridSampler.h), so gradients with respect to both the input and the grid
are JAX's derivatives of the same formulas.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from torch2jax.ops._common import aten, precision
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


# --------------------------------------------------------------------------------------------------
# Antialiased resizing (interpolate(..., antialias=True)): PyTorch's separable kernels


def _bilinear_filter(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, 1 - x, 0)


def _bicubic_filter(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0))


_FILTERS = {"bilinear": (_bilinear_filter, 2), "bicubic": (_bicubic_filter, 4)}


def _resize_scale(
    input_size: int, output_size: int, align_corners: bool, scale: float | None
) -> float:
    if align_corners:
        return (input_size - 1) / (output_size - 1) if output_size > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else input_size / output_size


def _antialias_matrix(
    input_size: int, output_size: int, scale: float, mode: str, dtype: Any
) -> np.ndarray:
    """(output, input) weights of one axis: the filter widened by the downscaling factor, so
    every input pixel under an output pixel contributes, normalized to sum 1 per output.

    Computed in the input's dtype, as PyTorch's kernel does: in float32 its weights carry
    float32 rounding, which the results must share to match."""
    filter_fn, interp_size = _FILTERS[mode]
    real = np.dtype(dtype).type
    scale = real(scale)
    support = real(interp_size / 2) * scale if scale >= 1 else real(interp_size / 2)
    inverse = real(1) / scale if scale >= 1 else real(1)
    weights = np.zeros((output_size, input_size), dtype)
    for i in range(output_size):
        center = scale * real(i + 0.5)
        low = max(int(center - support + real(0.5)), 0)
        high = min(int(center + support + real(0.5)), input_size)
        taps = filter_fn(
            (np.arange(high - low).astype(dtype) + real(low) - center + real(0.5)) * inverse
        ).astype(dtype)
        total = real(0)
        for tap in taps:
            total = real(total + tap)
        weights[i, low:high] = taps / total if total != 0 else taps
    return weights


def _resize_antialiased(
    x: Any,
    output_size: Any,
    align_corners: bool,
    scales_h: float | None,
    scales_w: float | None,
    mode: str,
) -> Any:
    in_h, in_w = x.shape[-2:]
    out_h, out_w = (int(s) for s in output_size)
    compute = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    weight_dtype = np.float64 if compute == jnp.float64 else np.float32
    rows = _antialias_matrix(
        in_h, out_h, _resize_scale(in_h, out_h, align_corners, scales_h), mode, weight_dtype
    )
    columns = _antialias_matrix(
        in_w, out_w, _resize_scale(in_w, out_w, align_corners, scales_w), mode, weight_dtype
    )
    out = jnp.einsum(
        "oh,...hw,pw->...op",
        jnp.asarray(rows, compute),
        x.astype(compute),
        jnp.asarray(columns, compute),
        precision=precision(),
    )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        info = jnp.iinfo(x.dtype)
        out = jnp.clip(jnp.round(out), info.min, info.max)
    return out.astype(x.dtype)


@implements(aten._upsample_bilinear2d_aa.default)
def upsample_bilinear2d_aa(
    x: Any,
    output_size: Any,
    align_corners: bool,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> Any:
    return _resize_antialiased(x, output_size, align_corners, scales_h, scales_w, "bilinear")


@implements(aten._upsample_bicubic2d_aa.default)
def upsample_bicubic2d_aa(
    x: Any,
    output_size: Any,
    align_corners: bool,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> Any:
    return _resize_antialiased(x, output_size, align_corners, scales_h, scales_w, "bicubic")

"""Fractional max pooling: windows at pseudo-random, increasing positions per image plane.

The positions come from ``random_samples`` (one number in [0, 1) per plane and spatial
dimension). ``torch.nn.functional.fractional_max_pool2d/3d`` draws them with ``torch.rand``
when the caller passes no ``_random_samples``, which here draws from the ``rng=`` key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from torch2jax.ops._common import aten
from torch2jax.ops.reductions import index_dtype
from torch2jax.registry import implements


def _window_starts(sample: Any, input_size: int, output_size: int, pool_size: int) -> Any:
    """(..., output_size) window starts for per-plane samples (...), as PyTorch's
    generate_intervals computes them (in the input's dtype); the last window ends the input."""
    if output_size == 1:
        return jnp.full(sample.shape + (1,), input_size - pool_size, jnp.int32)
    alpha = jnp.asarray((input_size - pool_size) / (output_size - 1), sample.dtype)
    steps = jnp.arange(output_size - 1, dtype=sample.dtype)
    starts = jnp.floor((steps + sample[..., None]) * alpha) - jnp.floor(sample * alpha)[..., None]
    last = jnp.full(sample.shape + (1,), input_size - pool_size, sample.dtype)
    return jnp.concatenate([starts, last], axis=-1).astype(jnp.int32)


def _fractional_max_pool(
    x: Any, kernel_size: Sequence[int], output_size: Sequence[int], random_samples: Any
) -> tuple[Any, Any]:
    spatial = len(kernel_size)
    unbatched = x.ndim == spatial + 1
    if unbatched:
        x, random_samples = x[None], random_samples.reshape((1,) + random_samples.shape[-2:])
    sizes = x.shape[2:]
    for size, kernel, out in zip(sizes, kernel_size, output_size, strict=True):
        if out + kernel - 1 > size:
            raise RuntimeError(
                f"fractional_max_pool{spatial}d(): pool size {kernel} too large relative to "
                f"input size {size} for output size {out}"
            )
    samples = random_samples.astype(x.dtype)
    if spatial == 2:
        samples = samples[..., ::-1]  # PyTorch's 2-D samples are (width, height)
    planes = x.reshape(x.shape[:2] + (math.prod(sizes),))
    flat_index = jnp.zeros(x.shape[:2] + (1,) * (2 * spatial), jnp.int32)
    for d in range(spatial):
        starts = _window_starts(samples[..., d], sizes[d], output_size[d], kernel_size[d])
        positions = starts[..., :, None] + jnp.arange(kernel_size[d])  # (N, C, out_d, k_d)
        shape = x.shape[:2] + (1,) * (2 * d) + positions.shape[2:] + (1,) * (2 * (spatial - d - 1))
        flat_index = flat_index * sizes[d] + positions.reshape(shape)
    # (N, C, out_0, k_0, out_1, k_1, ...) -> windows gathered from each flattened plane.
    gather_shape = x.shape[:2] + (math.prod(flat_index.shape[2:]),)
    flat_index = jnp.broadcast_to(flat_index, x.shape[:2] + flat_index.shape[2:])
    windows = jnp.take_along_axis(planes, flat_index.reshape(gather_shape), axis=2)
    windows = windows.reshape(flat_index.shape)
    order = [0, 1, *range(2, 2 + 2 * spatial, 2), *range(3, 3 + 2 * spatial, 2)]
    window_shape = x.shape[:2] + tuple(output_size) + (math.prod(kernel_size),)
    windows = windows.transpose(order).reshape(window_shape)
    flat_index = flat_index.transpose(order).reshape(window_shape)
    # The first maximum of each window, a NaN counting as the maximum.
    nan_first = jnp.where(jnp.isnan(windows), jnp.inf, windows)
    best = jnp.argmax(nan_first, axis=-1)
    output = jnp.max(windows, axis=-1)
    indices = jnp.take_along_axis(flat_index, best[..., None], axis=-1)[..., 0]
    indices = indices.astype(index_dtype())
    if unbatched:
        output, indices = output[0], indices[0]
    return output, indices


@implements(aten.fractional_max_pool2d.default)
def fractional_max_pool2d(
    x: Any, kernel_size: Sequence[int], output_size: Sequence[int], random_samples: Any
) -> tuple[Any, Any]:
    return _fractional_max_pool(x, kernel_size, output_size, random_samples)


@implements(aten.fractional_max_pool3d.default)
def fractional_max_pool3d(
    x: Any, kernel_size: Sequence[int], output_size: Sequence[int], random_samples: Any
) -> tuple[Any, Any]:
    return _fractional_max_pool(x, kernel_size, output_size, random_samples)

"""Neural-network operations: convolution, pooling, normalization, activations, losses and
attention (embeddings: ops/embedding.py)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from torch2jax.ops import _lax, conv_transpose_order
from torch2jax.ops._common import aten, canonical_dim, cast, category, precision, to_float
from torch2jax.ops.reductions import index_dtype
from torch2jax.registry import implements

# --------------------------------------------------------------------------------------------------
# Convolution


def _spatial_dimension_numbers(spatial: int) -> tuple[str, str, str]:
    letters = "DHW"[-spatial:] if spatial <= 3 else None
    if letters is None:
        raise NotImplementedError("torch2jax: convolutions over more than 3 spatial dimensions")
    return "NC" + letters, "OI" + letters, "NC" + letters


def _expand(values: Sequence[int] | int, spatial: int) -> list[int]:
    values = [values] if isinstance(values, int) else list(values)
    return values * spatial if len(values) == 1 else values


def _output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _matmul_is_cheaper(
    x_shape: Sequence[int], weight_shape: Sequence[int], stride: Sequence[int], groups: int
) -> bool:
    """Whether a 2-D convolution runs faster as one matrix product over gathered patches.

    XLA:CPU convolves with the kernel in HWIO layout, so every call transposes a PyTorch (OIHW)
    kernel first: a slow strided copy as large as the kernel. As a matrix product, the OIHW
    kernel is already the (out, in·kh·kw) matrix and only the input patches are copied
    (im2col), which is the smaller copy when batch × output positions ≤ output channels: the
    deep, narrow-image layers of a CNN at small batch. Measured on ResNet-18 (XLA:CPU, see
    docs/benchmarks.md); other backends convolve in the layout they are handed.
    """
    if len(weight_shape) != 4 or len(x_shape) != 4 or groups != 1:
        return False
    if jax.default_backend() != "cpu":
        return False
    batch, _, height, width = x_shape
    out_channels = weight_shape[0]
    positions = (height // stride[0]) * (width // stride[1])
    return batch * positions <= out_channels


def _patch_indices(
    height: int,
    width: int,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> np.ndarray:
    """Flat input positions of every (kernel offset, output position); padding reads index
    ``height * width``, out of range, which the gather fills with zero. Read-only, shared."""
    return _patch_indices_cached(
        height, width, tuple(kernel), tuple(stride), tuple(padding), tuple(dilation)
    )


@functools.cache  # a network repeats a few layer geometries, and every trace asks again
def _patch_indices_cached(
    height: int,
    width: int,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> np.ndarray:
    out_h = _output_size(height, kernel[0], stride[0], padding[0], dilation[0])
    out_w = _output_size(width, kernel[1], stride[1], padding[1], dilation[1])
    rows = np.arange(out_h)[:, None] * stride[0] - padding[0]
    columns = np.arange(out_w)[None, :] * stride[1] - padding[1]
    indices = []
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            r, c = rows + a * dilation[0], columns + b * dilation[1]
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            indices.append(np.where(inside, r * width + c, height * width).reshape(-1))
    flat = np.stack(indices).reshape(-1).astype(np.int32)
    flat.flags.writeable = False
    return flat


def _tiles_the_image(
    kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]
) -> bool:
    """Whether the windows are disjoint tiles (a patchify stem: ViT's, ConvNeXt's), so that the
    patches are the image itself, reordered: no gather needed."""
    return (
        list(stride) == list(kernel)
        and list(padding) == [0] * len(kernel)
        and list(dilation) == [1] * len(kernel)
    )


def _tiles(x: Any, kernel: Sequence[int]) -> Any:
    """(batch, in·kh·kw, out_h·out_w) patches of disjoint kh×kw tiles (trailing rows and columns
    that fill no tile are dropped, as the convolution drops them)."""
    batch, channels, height, width = x.shape
    kh, kw = kernel
    out_h, out_w = height // kh, width // kw
    x = x[:, :, : out_h * kh, : out_w * kw]
    x = jax.lax.reshape(x, (batch, channels, out_h, kh, out_w, kw))
    x = jax.lax.transpose(x, (0, 1, 3, 5, 2, 4))
    return jax.lax.reshape(x, (batch, channels * kh * kw, out_h * out_w))


def _convolution_as_matmul(
    x: Any, weight: Any, stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]
) -> Any:
    """A 2-D convolution (groups=1) as (out, in·kh·kw) @ (in·kh·kw, positions) per image."""
    batch, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out_h = _output_size(height, kh, stride[0], padding[0], dilation[0])
    out_w = _output_size(width, kw, stride[1], padding[1], dilation[1])
    if (kh, kw) == (1, 1) and list(padding) == [0, 0]:
        patches = x[:, :, :: stride[0], :: stride[1]]
    elif _tiles_the_image((kh, kw), stride, padding, dilation):
        patches = _tiles(x, (kh, kw))
    else:
        indices = _patch_indices(height, width, (kh, kw), stride, padding, dilation)
        patches = jnp.take(
            jax.lax.reshape(x, (batch, channels, height * width)),
            indices,
            axis=2,
            mode="fill",
            fill_value=0,
        )
    patches = _lax.reshape(patches, (batch, channels * kh * kw, out_h * out_w))
    kernel = jax.lax.reshape(weight, (out_channels, channels * kh * kw))
    # (out, batch, positions): contracting the kernel's rows needs no copy of the kernel.
    out = jax.lax.dot_general(kernel, patches, (((1,), (1,)), ((), ())), precision=precision())
    return jax.lax.reshape(_lax.swap(out, 0, 1), (batch, out_channels, out_h, out_w))


# XLA's own weight-gradient convolution (with torch2jax.compiler_options()) parallelizes over
# the batch: on 2 cores it wins from batch 4 on (ResNet-18's layers at batch 8: 339 ms against
# 841 ms as matrix products) and loses at batch 1 (143 against 57 ms); batch 2 is even.
_WEIGHT_GRADIENT_MATMUL_MAX_BATCH = 2


def _weight_gradient_as_matmul(
    x_shape: Sequence[int], weight_shape: Sequence[int], groups: int
) -> bool:
    """Whether the convolution's weight gradient is one matrix product over the input patches
    (small batches on XLA:CPU) rather than XLA's weight-gradient convolution."""
    return (
        len(weight_shape) == 4
        and len(x_shape) == 4
        and groups == 1
        and x_shape[0] <= _WEIGHT_GRADIENT_MATMUL_MAX_BATCH
        and jax.default_backend() == "cpu"
    )


def _patch_matrix(
    x: Any,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> Any:
    """The input's receptive fields as an (in·kh·kw, batch·positions) matrix (im2col)."""
    batch, channels, height, width = x.shape
    if _tiles_the_image(kernel, stride, padding, dilation):
        patches = jnp.swapaxes(_tiles(x, kernel), 0, 1)
        return patches.reshape(channels * kernel[0] * kernel[1], -1)
    plane = height * width
    indices = _patch_indices(height, width, kernel, stride, padding, dilation)
    indices = indices.reshape(kernel[0] * kernel[1], 1, -1)
    images = jnp.arange(batch, dtype=jnp.int32)[None, :, None] * plane
    flat = jnp.where(indices < plane, indices + images, batch * plane)  # padding: out of range
    planes = jnp.swapaxes(x, 0, 1).reshape(channels, batch * plane)
    patches = jnp.take(planes, flat.reshape(-1), axis=1, mode="fill", fill_value=0)
    return patches.reshape(channels * kernel[0] * kernel[1], -1)


def _xla_convolution_2d(
    x: Any, weight: Any, stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]
) -> Any:
    return jax.lax.conv_general_dilated(
        x,
        weight,
        window_strides=stride,
        padding=[(p, p) for p in padding],
        rhs_dilation=dilation,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=precision(),
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _convolution_2d(x: Any, weight: Any, stride: tuple, padding: tuple, dilation: tuple) -> Any:
    """XLA's 2-D convolution whose weight gradient is one matrix product (see the JVP)."""
    return _xla_convolution_2d(x, weight, stride, padding, dilation)


@_convolution_2d.defjvp
def _convolution_2d_jvp(
    stride: tuple, padding: tuple, dilation: tuple, primals: tuple, tangents: tuple
) -> tuple[Any, Any]:
    x, weight = primals
    x_dot, weight_dot = tangents
    out = _xla_convolution_2d(x, weight, stride, padding, dilation)
    # The weight's tangent term written as a matrix product over the input patches, so that its
    # transpose, the weight gradient, is one matrix product too: XLA:CPU's own weight-gradient
    # convolution (a convolution with an image-sized window) runs several times slower.
    out_channels = weight.shape[0]
    patches = _patch_matrix(x, weight.shape[2:], stride, padding, dilation)
    weight_term = jax.lax.dot_general(
        weight_dot.reshape(out_channels, -1),
        patches,
        (((1,), (0,)), ((), ())),
        precision=precision(),
    )
    weight_term = jnp.swapaxes(weight_term.reshape(out_channels, x.shape[0], -1), 0, 1)
    input_term = _xla_convolution_2d(x_dot, weight, stride, padding, dilation)
    return out, input_term + weight_term.reshape(out.shape).astype(out.dtype)


@implements(aten.convolution, aten._convolution)
def convolution(
    x: Any,
    weight: Any,
    bias: Any,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
    *_backend_flags: Any,
) -> Any:
    unbatched = x.ndim == weight.ndim - 1
    if unbatched:
        x = x[None]
    spatial = weight.ndim - 2
    stride, dilation = _expand(stride, spatial), _expand(dilation, spatial)
    padding, output_padding = _expand(padding, spatial), _expand(output_padding, spatial)
    numbers = _spatial_dimension_numbers(spatial)
    if not transposed and _matmul_is_cheaper(x.shape, weight.shape, stride, groups):
        out = _convolution_as_matmul(x, weight, stride, padding, dilation)
    elif not transposed and _weight_gradient_as_matmul(x.shape, weight.shape, groups):
        out = _convolution_2d(x, weight, tuple(stride), tuple(padding), tuple(dilation))
    elif transposed and conv_transpose_order.follows_pytorch_order(
        x, weight, stride, padding, dilation, output_padding, groups
    ):
        out = conv_transpose_order.transposed_convolution_3d_in_pytorch_order(
            x, weight, stride, padding, dilation, output_padding, groups
        )
    elif not transposed:
        out = jax.lax.conv_general_dilated(
            x,
            weight,
            window_strides=stride,
            padding=[(p, p) for p in padding],
            rhs_dilation=dilation,
            dimension_numbers=numbers,
            feature_group_count=groups,
            precision=precision(),
        )
    else:
        # A transposed convolution is the gradient of a convolution: dilate the input by the
        # stride and convolve with the flipped kernel, in/out channels swapped within each group.
        in_channels, out_per_group = weight.shape[0], weight.shape[1]
        kernel = weight.reshape((groups, in_channels // groups, out_per_group) + weight.shape[2:])
        kernel = jnp.swapaxes(kernel, 1, 2).reshape(
            (groups * out_per_group, in_channels // groups) + weight.shape[2:]
        )
        kernel = jnp.flip(kernel, axis=tuple(range(2, 2 + spatial)))
        pads = [
            (d * (k - 1) - p, d * (k - 1) - p + op)
            for d, k, p, op in zip(dilation, weight.shape[2:], padding, output_padding, strict=True)
        ]
        out = jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=[1] * spatial,
            padding=pads,
            lhs_dilation=stride,
            rhs_dilation=dilation,
            dimension_numbers=numbers,
            feature_group_count=groups,
            precision=precision(),
        )
    if bias is not None:
        out = jax.lax.add(out, jax.lax.broadcast_in_dim(_as(bias, out.dtype), out.shape, (1,)))
    return out[0] if unbatched else out


# --------------------------------------------------------------------------------------------------
# Pooling


def _pool_padding(
    size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool
) -> tuple[int, int]:
    """(low, high) padding giving PyTorch's output length, ceil_mode's extra window included."""
    effective = dilation * (kernel - 1) + 1
    numerator = size + 2 * pad - effective
    out = (-(-numerator // stride) if ceil_mode else numerator // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the input or the left padding
    high = (out - 1) * stride + effective - size - pad
    return pad, max(high, 0) if out > 0 else pad


def _pool_geometry(
    x: Any, spatial: int, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
):
    kernel = _expand(kernel, spatial)
    stride = _expand(stride, spatial) if stride else kernel
    padding, dilation = _expand(padding, spatial), _expand(dilation, spatial)
    lead = x.ndim - spatial
    pads = [(0, 0)] * lead + [
        _pool_padding(s, k, st, p, d, ceil_mode)
        for s, k, st, p, d in zip(x.shape[lead:], kernel, stride, padding, dilation, strict=True)
    ]
    window = (1,) * lead + tuple(kernel)
    strides = (1,) * lead + tuple(stride)
    dilations = (1,) * lead + tuple(dilation)
    return window, strides, dilations, pads


def _lowest(dtype: Any) -> Any:
    return np.array(-np.inf if jnp.issubdtype(dtype, jnp.floating) else jnp.iinfo(dtype).min, dtype)


def _max_pool_indices(
    x: Any, spatial: int, window: tuple, strides: tuple, dilations: tuple, pads: list
) -> Any:
    """Flat positions within each plane of every window's maximum, as PyTorch returns them.

    The first maximum wins on ties (PyTorch scans each window in order, replacing only on a
    strictly greater value), and NaN wins over numbers.
    """
    lead = x.ndim - spatial
    plane = x.shape[lead:]
    positions = jnp.arange(math.prod(plane), dtype=index_dtype()).reshape(plane)
    positions = jnp.broadcast_to(positions, x.shape)
    sentinel = jnp.iinfo(index_dtype()).max

    def pick(a: Any, b: Any) -> Any:
        value_a, index_a = a
        value_b, index_b = b
        take_b = (
            (value_b > value_a) | ((value_b == value_a) & (index_b < index_a)) | jnp.isnan(value_b)
        )
        return jnp.where(take_b, value_b, value_a), jnp.where(take_b, index_b, index_a)

    _, indices = jax.lax.reduce_window(
        (jax.lax.stop_gradient(x), positions),
        (_lowest(x.dtype), np.array(sentinel, index_dtype())),
        pick,
        window,
        strides,
        pads,
        window_dilation=dilations,
    )
    return indices


def _gathered_from_planes(x: Any, indices: Any, spatial: int) -> Any:
    """``x`` read at flat per-plane ``indices``: its gradient flows to exactly those elements."""
    lead = x.ndim - spatial
    rows = math.prod(x.shape[:lead])
    planes = x.reshape(rows, math.prod(x.shape[lead:]))
    flat_indices = indices.reshape(rows, math.prod(indices.shape[lead:]))
    return jnp.take_along_axis(planes, flat_indices, axis=1).reshape(indices.shape)


def _max_pool(
    x: Any, spatial: int, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
) -> tuple[Any, Any]:
    window, strides, dilations, pads = _pool_geometry(
        x, spatial, kernel, stride, padding, dilation, ceil_mode
    )
    indices = _max_pool_indices(x, spatial, window, strides, dilations, pads)
    if any(d != 1 for d in dilations):
        # JAX's max reduce_window has no VJP with window dilation: read the maxima at their
        # indices instead, which also routes the gradient to PyTorch's chosen element.
        return _gathered_from_planes(x, indices, spatial), indices
    values = jax.lax.reduce_window(
        x, _lowest(x.dtype), jax.lax.max, window, strides, pads, window_dilation=dilations
    )
    return values, indices


def _register_max_pool(spatial: int, *ops: Any) -> None:
    def max_pool_with_indices(
        x: Any,
        kernel_size: Any,
        stride: Any = (),
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
    ) -> Any:
        return _max_pool(x, spatial, kernel_size, stride, padding, dilation, ceil_mode)

    implements(*ops)(max_pool_with_indices)


_register_max_pool(1, aten.max_pool1d_with_indices)
_register_max_pool(2, aten.max_pool2d_with_indices)
_register_max_pool(3, aten.max_pool3d_with_indices)


@implements(aten.max_pool2d, aten.max_pool1d, aten.max_pool3d)
def max_pool(
    x: Any,
    kernel_size: Any,
    stride: Any = (),
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> Any:
    spatial = len(_expand(kernel_size, 1)) if not isinstance(kernel_size, int) else x.ndim - 2
    if any(d != 1 for d in _expand(dilation, spatial)):
        return _max_pool(x, spatial, kernel_size, stride, padding, dilation, ceil_mode)[0]
    window, strides, dilations, pads = _pool_geometry(
        x, spatial, kernel_size, stride, padding, dilation, ceil_mode
    )
    return jax.lax.reduce_window(
        x, _lowest(x.dtype), jax.lax.max, window, strides, pads, window_dilation=dilations
    )


def _avg_pool_divisors(
    size: int, kernel: int, stride: int, pad: int, out: int, count_include_pad: bool
) -> np.ndarray:
    """Each output position's divisor along one axis, as PyTorch's CPU kernel counts it.

    A window spans ``[start, start + kernel)`` clipped to the explicit padding; with
    ``count_include_pad`` that padding counts, but never ceil_mode's extra cells beyond it.
    """
    starts = np.arange(out) * stride - pad
    ends = np.minimum(starts + kernel, size + pad)
    if not count_include_pad:
        starts, ends = np.maximum(starts, 0), np.minimum(ends, size)
    return ends - starts


def _avg_pool(
    x: Any,
    spatial: int,
    kernel: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Any,
) -> Any:
    window, strides, _, pads = _pool_geometry(x, spatial, kernel, stride, padding, 1, ceil_mode)
    total = jax.lax.reduce_window(x, np.array(0, x.dtype), jax.lax.add, window, strides, pads)
    lead = x.ndim - spatial
    if divisor_override is not None:
        divisors = np.asarray(divisor_override)
    else:
        # The window sizes are static: one outer product of the per-axis counts.
        divisors = np.ones((), np.int64)
        for axis, (pad, _) in enumerate(pads[lead:]):
            along = _avg_pool_divisors(
                x.shape[lead + axis],
                window[lead + axis],
                strides[lead + axis],
                pad,
                total.shape[lead + axis],
                count_include_pad,
            )
            divisors = np.multiply.outer(divisors, along)
    # Integer inputs keep their dtype: PyTorch divides the integer sum, truncating toward zero
    # (lax.div's integer semantics).
    divisors = np.broadcast_to(divisors, total.shape[lead:])
    spatial_dims = tuple(range(lead, total.ndim))
    return jax.lax.div(
        total, jax.lax.broadcast_in_dim(jnp.asarray(divisors, x.dtype), total.shape, spatial_dims)
    )


def _register_avg_pool(spatial: int, op: Any) -> None:
    def avg_pool(
        x: Any,
        kernel_size: Any,
        stride: Any = (),
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Any = None,
    ) -> Any:
        return _avg_pool(
            x, spatial, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        )

    implements(op)(avg_pool)


_register_avg_pool(1, aten.avg_pool1d)
_register_avg_pool(2, aten.avg_pool2d)
_register_avg_pool(3, aten.avg_pool3d)


def _adaptive_matrix(size: int, out: int, dtype: Any) -> Any:
    """Averaging weights (out, size) of PyTorch's adaptive pooling windows."""
    starts = [(i * size) // out for i in range(out)]
    ends = [-(-((i + 1) * size) // out) for i in range(out)]
    rows = [
        [1.0 / (e - s) if s <= j < e else 0.0 for j in range(size)]
        for s, e in zip(starts, ends, strict=True)
    ]
    return jnp.asarray(rows, dtype)


def _adaptive_avg_pool(x: Any, output_size: Sequence[int]) -> Any:
    spatial = len(output_size)
    for i, out in enumerate(output_size):
        axis = x.ndim - spatial + i
        size = x.shape[axis]
        if out is None or out == size:
            continue
        if size % out == 0:
            shape = x.shape[:axis] + (out, size // out) + x.shape[axis + 1 :]
            x = jnp.mean(x.reshape(shape), axis=axis + 1)
        else:
            matrix = _adaptive_matrix(size, out, x.dtype)
            x = jnp.moveaxis(
                jnp.tensordot(x, matrix, axes=[[axis], [1]], precision=precision()), -1, axis
            )
    return x


implements(aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_avg_pool1d)(
    _adaptive_avg_pool
)


def _adaptive_max_pool(x: Any, output_size: Sequence[int]) -> tuple[Any, Any]:
    spatial = len(output_size)
    lead = x.ndim - spatial
    plane = x.shape[lead:]
    flat_positions = jnp.arange(math.prod(plane), dtype=index_dtype()).reshape(plane)
    values, indices = x, jnp.broadcast_to(flat_positions, x.shape)
    for i, out in enumerate(output_size):
        axis = lead + i
        size = x.shape[axis]
        pieces_v, pieces_i = [], []
        for o in range(out):
            start, end = (o * size) // out, -(-((o + 1) * size) // out)
            window_v = jax.lax.slice_in_dim(values, start, end, axis=axis)
            window_i = jax.lax.slice_in_dim(indices, start, end, axis=axis)
            best = jnp.argmax(window_v, axis=axis, keepdims=True)
            pieces_v.append(jnp.take_along_axis(window_v, best, axis))
            pieces_i.append(jnp.take_along_axis(window_i, best, axis))
        values, indices = jnp.concatenate(pieces_v, axis), jnp.concatenate(pieces_i, axis)
    return values, indices


implements(aten.adaptive_max_pool2d, aten.adaptive_max_pool1d, aten.adaptive_max_pool3d)(
    _adaptive_max_pool
)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _scatter_to_planes(values: Any, positions: Any, plane_size: int) -> Any:
    """Rows of ``values`` written at ``positions`` into zero rows of ``plane_size``."""
    rows = jnp.arange(values.shape[0])[:, None]
    planes = jnp.zeros((values.shape[0], plane_size), values.dtype)
    return planes.at[rows, positions].set(values)


@_scatter_to_planes.defjvp
def _scatter_to_planes_jvp(
    plane_size: int, primals: tuple[Any, Any], tangents: tuple[Any, Any]
) -> tuple[Any, Any]:
    # PyTorch's max_unpool backward gathers the output gradient at every index, repeated ones
    # too (where a write wins, JAX would pass the gradient to the winner only); accumulating
    # the tangents is the linear map whose transpose is that gather.
    (values, positions), (values_dot, _) = primals, tangents
    rows = jnp.arange(values.shape[0])[:, None]
    planes = jnp.zeros((values.shape[0], plane_size), values_dot.dtype)
    return (
        _scatter_to_planes(values, positions, plane_size),
        planes.at[rows, positions].add(values_dot),
    )


def _max_unpool(x: Any, indices: Any, output_size: Sequence[int]) -> Any:
    """Each (batch, channel) plane: zeros with ``x`` written at its flat ``indices``."""
    spatial = tuple(output_size)
    lead = x.shape[: x.ndim - len(spatial)]
    rows = math.prod(lead)
    planes = _scatter_to_planes(x.reshape(rows, -1), indices.reshape(rows, -1), math.prod(spatial))
    return planes.reshape(lead + spatial)


@implements(aten.max_unpool2d)
def max_unpool2d(x: Any, indices: Any, output_size: Sequence[int]) -> Any:
    return _max_unpool(x, indices, output_size)


@implements(aten.max_unpool3d)
def max_unpool3d(
    x: Any, indices: Any, output_size: Sequence[int], stride: Any, padding: Any
) -> Any:
    return _max_unpool(x, indices, output_size)


# --------------------------------------------------------------------------------------------------
# Normalization


def _channel_shape(x: Any) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.ndim - 2)


def _as(x: Any, dtype: Any) -> Any:
    """``x`` in ``dtype``; no conversion call at all where it already is (cheaper to trace)."""
    return x if x.dtype == dtype else jax.lax.convert_element_type(x, dtype)


def _batch_norm(
    x: Any,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
):
    """(out, mean, invstd, new_running_mean, new_running_var)."""
    # Channels are dim 1; a 1-D input (PyTorch accepts only an empty one) is all channels.
    channel = 1 if x.ndim > 1 else 0
    axes = tuple(i for i in range(x.ndim) if i != channel)
    compute = (
        to_float(x.dtype) if x.dtype != jnp.float16 and x.dtype != jnp.bfloat16 else jnp.float32
    )
    xf = _as(x, compute)
    if training or running_mean is None:
        mean = jnp.mean(xf, axis=axes)
        var = jnp.mean(jnp.square(xf - jnp.expand_dims(mean, axes)), axis=axes)
        if training and running_mean is not None:
            count = math.prod(x.shape[i] for i in axes)
            unbiased = var * (count / max(count - 1, 1))
            new_mean = (1 - momentum) * running_mean + momentum * jax.lax.stop_gradient(
                mean
            ).astype(running_mean.dtype)
            new_var = (1 - momentum) * running_var + momentum * jax.lax.stop_gradient(
                unbiased
            ).astype(running_var.dtype)
        else:
            new_mean, new_var = running_mean, running_var
    else:
        mean, var = _as(running_mean, compute), _as(running_var, compute)
        new_mean, new_var = running_mean, running_var
    # One multiply-add per element; in lax, which is cheaper to trace than jax.numpy.
    invstd = jax.lax.rsqrt(jax.lax.add(var, np.asarray(eps, var.dtype)))
    scale = invstd if weight is None else jax.lax.mul(invstd, _as(weight, compute))
    if bias is None:
        shift = jax.lax.mul(jax.lax.neg(mean), scale)
    else:
        shift = jax.lax.sub(_as(bias, compute), jax.lax.mul(mean, scale))
    out = jax.lax.add(
        jax.lax.mul(xf, jax.lax.broadcast_in_dim(scale, x.shape, (channel,))),
        jax.lax.broadcast_in_dim(shift, x.shape, (channel,)),
    )
    if not training and running_mean is not None:
        # Normalizing with the running statistics saves no batch statistics: PyTorch returns
        # empty save_mean/save_invstd.
        mean = invstd = _empty_statistics(np.dtype(compute))
    return _as(out, x.dtype), mean, invstd, new_mean, new_var


@functools.cache
def _empty_statistics(dtype: np.dtype) -> jax.Array:
    # A concrete array, made once: inside a trace jnp.zeros would stage a new op per layer
    # (and computing it eagerly would compile an executable; a transfer compiles nothing).
    with jax.ensure_compile_time_eval():
        return jax.device_put(np.zeros((0,), dtype))


@implements(aten.native_batch_norm, aten._native_batch_norm_legit)
def native_batch_norm(
    x: Any,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
) -> Any:
    return _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)[:3]


@implements(aten._native_batch_norm_legit_functional)
def native_batch_norm_functional(
    x: Any,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
) -> Any:
    return _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)


@implements(aten._native_batch_norm_legit_no_training)
def native_batch_norm_no_training(
    x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, momentum: float, eps: float
) -> Any:
    return _batch_norm(x, weight, bias, running_mean, running_var, False, momentum, eps)[:3]


def _reserve() -> Any:
    return jnp.zeros((0,), jnp.uint8)


@implements(aten._batch_norm_with_update_functional)
def batch_norm_with_update_functional(
    x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, momentum: float, eps: float
) -> Any:
    out, mean, invstd, new_mean, new_var = _batch_norm(
        x, weight, bias, running_mean, running_var, True, momentum, eps
    )
    return out, mean, invstd, _reserve(), new_mean, new_var


@implements(aten._batch_norm_no_update)
def batch_norm_no_update(
    x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, momentum: float, eps: float
) -> Any:
    out, mean, invstd, _, _ = _batch_norm(
        x, weight, bias, running_mean, running_var, False, momentum, eps
    )
    return out, mean, invstd, _reserve()


@implements(aten.native_layer_norm)
def native_layer_norm(
    x: Any, normalized_shape: Sequence[int], weight: Any, bias: Any, eps: float
) -> Any:
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    compute = jnp.float32 if x.dtype in (jnp.float16, jnp.bfloat16) else x.dtype
    if category(compute) != 2:
        compute = jnp.result_type(compute, jnp.float32)  # integer inputs: jax.numpy's promotion
    xf = _lax.constant(x, compute)
    mean = _lax.reduced_mean(xf, axes)
    centered = _lax.binary(jax.lax.sub, xf, mean)
    var = _lax.reduced_mean(jax.lax.integer_pow(centered, 2), axes)
    rstd = jax.lax.rsqrt(jax.lax.add(var, np.asarray(eps, compute)))
    out = _lax.binary(jax.lax.mul, centered, rstd)
    if weight is not None:
        out = _promoted(_lax.multiply, out, weight)
    if bias is not None:
        out = _promoted(_lax.add, out, bias)
    return _lax.constant(out, x.dtype), mean, rstd


def _promoted(fn: Any, a: Any, b: Any) -> Any:
    """``fn(a, b)`` in the two arrays' common dtype (jax.numpy's promotion), broadcast."""
    dtype = a.dtype if a.dtype == b.dtype else jnp.result_type(a, b)
    return fn(_lax.constant(a, dtype), _lax.constant(b, dtype))


@implements(aten.native_group_norm)
def native_group_norm(
    x: Any, weight: Any, bias: Any, n: int, c: int, hw: int, group: int, eps: float
) -> Any:
    compute = jnp.float32 if x.dtype in (jnp.float16, jnp.bfloat16) else x.dtype
    grouped = x.astype(compute).reshape(n, group, -1)
    mean = jnp.mean(grouped, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(grouped - mean), axis=-1, keepdims=True)
    rstd = jax.lax.rsqrt(var + eps)
    out = ((grouped - mean) * rstd).reshape(x.shape)
    if weight is not None:
        out = out * weight.reshape(_channel_shape(x))
    if bias is not None:
        out = out + bias.reshape(_channel_shape(x))
    return out.astype(x.dtype), mean.reshape(n, group), rstd.reshape(n, group)


# --------------------------------------------------------------------------------------------------
# Activations


# Piecewise activations are written with `where`, not `maximum`/`clip`: JAX splits a tie's
# gradient in half, PyTorch gives the kink itself the gradient of one side (relu'(0) = 0), and
# exact kinks are common in real models (a ReLU after a convolution over an all-zero patch).


@implements(aten.relu)
def relu(x: Any) -> Any:
    if x.dtype == jnp.bool_:
        return x
    zeros = jax.lax.full_like(x, 0)
    return jax.lax.select(jax.lax.gt(x, zeros), x, zeros)


@implements(aten.gelu)
def gelu(x: Any, *, approximate: str = "none") -> Any:
    if category(x.dtype) != 2:
        return jax.nn.gelu(x, approximate=approximate == "tanh")
    # In lax calls: jax.nn.gelu is a jit of its own, costlier to trace.
    dtype = x.dtype
    if approximate == "tanh":
        cube = jax.lax.mul(np.asarray(0.044715, dtype), jax.lax.integer_pow(x, 3))
        inner = jax.lax.mul(np.sqrt(2 / np.pi).astype(dtype), jax.lax.add(x, cube))
        cdf = jax.lax.mul(
            np.asarray(0.5, dtype), jax.lax.add(np.asarray(1, dtype), jax.lax.tanh(inner))
        )
        return jax.lax.mul(x, cdf)
    # PyTorch's CPU formula, x/2 · (1 + erf(x/√2)); it also compiles to fewer, cheaper
    # kernels than jax.nn.gelu's erfc form, whose gradient needs erfc's branches and an exp.
    scaled = jax.lax.mul(x, np.sqrt(0.5).astype(dtype))
    cdf = jax.lax.add(np.asarray(1, dtype), jax.lax.erf(scaled))
    return jax.lax.mul(jax.lax.mul(x, np.asarray(0.5, dtype)), cdf)


@implements(aten.silu)
def silu(x: Any) -> Any:
    return x * jax.nn.sigmoid(x)


@implements(aten.mish)
def mish(x: Any) -> Any:
    return x * jnp.tanh(jax.nn.softplus(x))


@implements(aten.hardtanh)
def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    low, high = cast(min_val, x.dtype), cast(max_val, x.dtype)
    return jnp.where(x <= low, low, jnp.where(x >= high, high, x))


@implements(aten.leaky_relu)
def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return jnp.where(x > 0, x, x * cast(negative_slope, x.dtype))


@implements(aten.elu)
def elu(x: Any, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> Any:
    negative = alpha * jnp.expm1(x * input_scale)
    return (scale * jnp.where(x > 0, x, negative)).astype(x.dtype)


@implements(aten.softplus)
def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    scaled = x * beta
    return jnp.where(
        scaled > threshold, x, jnp.log1p(jnp.exp(jnp.minimum(scaled, threshold))) / beta
    ).astype(x.dtype)


@implements(aten.hardsigmoid)
def hardsigmoid(x: Any) -> Any:
    zero, one = jnp.zeros((), x.dtype), jnp.ones((), x.dtype)
    return jnp.where(x <= -3, zero, jnp.where(x >= 3, one, (x + 3) / 6)).astype(x.dtype)


@implements(aten.hardswish)
def hardswish(x: Any) -> Any:
    zero = jnp.zeros((), x.dtype)
    return jnp.where(x <= -3, zero, jnp.where(x >= 3, x, x * (x + 3) / 6)).astype(x.dtype)


@implements(aten.threshold)
def threshold(x: Any, threshold: float, value: float) -> Any:
    return jnp.where(x <= threshold, cast(value, x.dtype), x)


@implements(aten.glu)
def glu(x: Any, dim: int = -1) -> Any:
    a, b = jnp.split(x, 2, axis=canonical_dim(dim, x.ndim))
    return a * jax.nn.sigmoid(b)


@implements(aten.log_sigmoid_forward)
def log_sigmoid_forward(x: Any) -> Any:
    return jax.nn.log_sigmoid(x), jnp.zeros((0,), x.dtype)


@implements(aten._prelu_kernel)
def prelu(x: Any, weight: Any) -> Any:
    return jnp.where(x > 0, x, weight * x)


# --------------------------------------------------------------------------------------------------
# Losses (embeddings: ops/embedding.py)


def _reduce_loss(loss: Any, reduction: int) -> Any:
    return {0: lambda v: v, 1: jnp.mean, 2: jnp.sum}[reduction](loss)


@implements(aten.nll_loss_forward, aten.nll_loss2d_forward)
def nll_loss_forward(x: Any, target: Any, weight: Any, reduction: int, ignore_index: int) -> Any:
    class_axis = 0 if x.ndim == 1 else 1
    valid = target != ignore_index
    safe_target = jnp.where(valid, target, 0)
    picked = -jnp.take_along_axis(x, jnp.expand_dims(safe_target, class_axis), class_axis).squeeze(
        class_axis
    )
    w = jnp.ones((), x.dtype) if weight is None else jnp.take(weight, safe_target)
    w = jnp.where(valid, w, 0).astype(x.dtype)
    losses = picked * w
    total_weight = jnp.sum(jnp.broadcast_to(w, losses.shape))
    if reduction == 0:
        return losses, jnp.zeros((), x.dtype)
    if reduction == 2:
        return jnp.sum(losses), total_weight
    return jnp.sum(losses) / total_weight, total_weight


@implements(aten.mse_loss)
def mse_loss(x: Any, target: Any, reduction: int = 1) -> Any:
    return _reduce_loss(jnp.square(x - target), reduction)


# --------------------------------------------------------------------------------------------------
# Attention


def _attention_scores(
    query: Any, key: Any, attn_mask: Any, is_causal: bool, scale: float | None
) -> Any:
    """Scaled ``query @ key^T`` with the causal and user masks applied (masked entries -inf)."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = _matmul(query, _lax.swap(key, key.ndim - 1, key.ndim - 2))
    scores = _lax.binary(jax.lax.mul, scores, _lax.constant(scale, scores.dtype))
    if is_causal:
        causal = jnp.tril(jnp.ones((query.shape[-2], key.shape[-2]), jnp.bool_))
        scores = jnp.where(causal, scores, -jnp.inf)
    if attn_mask is not None:
        if attn_mask.dtype == jnp.bool_:
            scores = jnp.where(attn_mask, scores, -jnp.inf)
        else:
            scores = scores + attn_mask.astype(scores.dtype)
    return scores


def _row_max_and_exp_sum(scores: Any) -> tuple[Any, Any, Any]:
    """Each row's maximum, ``exp(scores - max)`` and its row sum (rows kept as size 1): the
    pieces of a softmax and a logsumexp, in ``lax`` calls (float32/float64)."""
    last = scores.ndim - 1
    rows = scores.shape[:-1] + (1,)
    top = jax.lax.reshape(jax.lax.reduce_max(scores, (last,)), rows)
    unnormalized = jax.lax.exp(_lax.binary(jax.lax.sub, scores, top))
    total = jax.lax.reshape(jax.lax.reduce_sum(unnormalized, (last,)), rows)
    return top, unnormalized, total


def _fully_masked(top: Any) -> Any:
    """Rows (by their maximum) whose every key is masked out."""
    return jax.lax.eq(top, _lax.constant(-np.inf, top.dtype))


def _attention_weights(scores: Any) -> Any:
    """Softmax over keys, PyTorch's safe softmax: a row with every key masked out attends to
    nothing (zeros, not NaN).

    The arithmetic of ``jax.nn.softmax`` (exp of the row maximum's difference, divided by its
    sum) in ``lax`` calls: attention runs in every layer, and this traces several times faster.
    Gradients come from ``_softmax_attention``'s JVP, not through this function."""
    if scores.dtype not in (jnp.float32, jnp.float64):  # jnp.sum widens half-precision sums
        weights = jax.nn.softmax(scores, axis=-1)
        masked = jnp.isneginf(jnp.max(scores, axis=-1, keepdims=True))
        return jnp.where(masked, 0, weights).astype(weights.dtype)
    top, unnormalized, total = _row_max_and_exp_sum(scores)
    weights = _lax.binary(jax.lax.div, unnormalized, total)
    masked = _lax.broadcast_to(_fully_masked(top), scores.shape)
    return jax.lax.select(masked, jax.lax.full_like(weights, 0), weights)


def attention_logsumexp(scores: Any) -> Any:
    """Each row's logsumexp (``jax.nn.logsumexp``'s arithmetic), 0 for a fully masked row as in
    PyTorch's CPU flash kernel (its max 0 plus log(sum 1))."""
    if scores.dtype not in (jnp.float32, jnp.float64):
        logsumexp = jax.nn.logsumexp(scores, axis=-1)
        masked = jnp.isneginf(jnp.max(scores, axis=-1))
        return jnp.where(masked, jnp.zeros_like(logsumexp), logsumexp)
    top, _, total = _row_max_and_exp_sum(scores)
    logsumexp = jax.lax.add(jax.lax.log(total), top)
    zeros = jax.lax.full_like(logsumexp, 0)
    return jax.lax.reshape(jax.lax.select(_fully_masked(top), zeros, logsumexp), scores.shape[:-1])


@jax.custom_jvp
def _softmax_attention(scores: Any, value: Any) -> Any:
    return jnp.matmul(_attention_weights(scores), value, precision=precision())


@_softmax_attention.defjvp
def _softmax_attention_jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
    """d out = (P * dS) V - rowsum(P * dS) out + P dV, with P the weights.

    The softmax term is written with ``out`` rather than ``P V``, so that reverse mode's
    softmax correction is rowsum(grad_out * out), as in PyTorch's attention backward kernels,
    and its gradients agree with torch.autograd to round-off; forward mode is unaffected.
    """
    (scores, value), (scores_dot, value_dot) = primals, tangents
    weights = _attention_weights(scores)
    out = _matmul(weights, value)
    weighted = weights * scores_dot
    out_dot = (
        jnp.matmul(weighted, value, precision=precision())
        - jnp.sum(weighted, axis=-1, keepdims=True) * out
        + jnp.matmul(weights, value_dot, precision=precision())
    )
    return out, out_dot


def _attend(scores: Any, value: Any, dropout_p: float) -> Any:
    """Softmax over keys, dropout from the rng key, then ``@ value``."""
    from torch2jax.torchish import current_conversion

    if dropout_p == 0.0:
        return _softmax_attention(scores, value)
    weights = _attention_weights(scores)
    keep = jax.random.bernoulli(
        current_conversion().next_key(
            "torch.nn.functional.scaled_dot_product_attention(dropout_p>0)"
        ),
        1.0 - dropout_p,
        weights.shape,
    )
    weights = jnp.where(keep, weights / (1.0 - dropout_p), 0).astype(weights.dtype)
    return _matmul(weights, value)


def _matmul(a: Any, b: Any) -> Any:
    product = _lax.matmul(a, b)  # one dot_general where no broadcasting is needed
    return product if product is not None else jnp.matmul(a, b, precision=precision())


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """``F.scaled_dot_product_attention`` as one fused expression (its math-backend semantics)."""
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key = jnp.repeat(key, repeats, axis=-3)
        value = jnp.repeat(value, repeats, axis=-3)
    return _attend(_attention_scores(query, key, attn_mask, is_causal, scale), value, dropout_p)


implements(torch.nn.functional.scaled_dot_product_attention)(scaled_dot_product_attention)

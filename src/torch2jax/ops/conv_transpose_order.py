"""3-D transposed convolution summed in PyTorch's CPU order, for small float32 problems.

PyTorch runs small 3-D transposed convolutions with its own kernel (``slow_conv_transpose3d``,
backend ``SlowTranspose3d``): per image and group, a matrix product (MKL's sgemm) gives every
(output channel, kernel offset, input position) entry, summing over the input channels with one
fused multiply-add each (rounded once) in ascending channel order; then ``col2vol`` adds each entry
into its output position, kernel offsets in ascending (d, h, w) order, onto a zero output; the
bias is added last. XLA's convolution sums in another order, which can differ from PyTorch's by a
few units in the last place, past float32's test tolerance on some outputs.

Measured bit for bit against ``torch.nn.functional.conv_transpose3d`` (torch 2.14 on x86 with
MKL): the fused-multiply-add chain is sgemm's order when the input has one channel per group, or
when there are at least 12 (output channel, kernel offset) rows and 15 input positions (smaller
products take other MKL kernels, summing in orders not reproduced here). Only those cases take
this path, and only where PyTorch itself picks ``SlowTranspose3d`` (oneDNN runs the others).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import torch
from torch.utils._python_dispatch import _disable_current_modes

from torch2jax.ops._common import rounded_apart

_select_backend = getattr(torch._C, "_select_conv_backend", None)

# Work bound of the ordered path: kernel offsets x output elements (one padded add each).
_ORDERED_WORK_LIMIT = 1 << 24
# Where sgemm's order (one fused multiply-add per input channel, ascending) was measured.
_MAX_CHANNELS_PER_GROUP = 16
_MIN_GEMM_ROWS = 12
_MIN_GEMM_POSITIONS = 15


def _pytorch_runs_slow_transpose_3d(
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
) -> bool:
    """Whether PyTorch's CPU dispatch picks ``SlowTranspose3d`` for these float32 shapes (its
    choice between that and oneDNN depends on shapes, flags and thread count); asked of PyTorch
    itself on empty stand-ins, as small as the problem (this path only runs for small ones)."""
    if _select_backend is None:
        return False
    try:
        with _disable_current_modes(), torch._C.DisableTorchFunction():  # plain tensors here
            backend = _select_backend(
                torch.empty(tuple(x_shape)),
                torch.empty(tuple(weight_shape)),
                None,
                list(stride),
                list(padding),
                list(dilation),
                True,
                list(output_padding),
                groups,
                None,
            )
        return backend == torch._C._ConvBackend.SlowTranspose3d
    except (AttributeError, RuntimeError, TypeError):  # another torch: XLA's convolution then
        return False


def _output_sizes(
    in_sizes: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
) -> list[int]:
    return [
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, k, s, p, d, op in zip(
            in_sizes, kernel, stride, padding, dilation, output_padding, strict=True
        )
    ]


def follows_pytorch_order(
    x: Any,
    weight: Any,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
) -> bool:
    """Whether a (batched) 3-D transposed convolution is small, float32, and in the measured
    region of PyTorch's order. The fused multiply-adds are emulated in float64 (a float32
    product is exact there), so the path needs ``jax_enable_x64``."""
    if x.ndim != 5 or x.dtype != jnp.float32 or weight.dtype != jnp.float32:
        return False
    if not jax.config.jax_enable_x64 or x.size == 0 or weight.size == 0:
        return False
    batch, in_channels, *in_sizes = x.shape
    _, out_per_group, *kernel = weight.shape
    out_sizes = _output_sizes(in_sizes, kernel, stride, padding, dilation, output_padding)
    if min(out_sizes) <= 0:
        return False
    work = math.prod(kernel) * batch * out_per_group * groups * math.prod(out_sizes)
    if work > _ORDERED_WORK_LIMIT:
        return False
    channels_per_group = in_channels // groups
    rows, positions = out_per_group * math.prod(kernel), math.prod(in_sizes)
    gemm_order_known = channels_per_group == 1 or (
        channels_per_group <= _MAX_CHANNELS_PER_GROUP
        and rows >= _MIN_GEMM_ROWS
        and positions >= _MIN_GEMM_POSITIONS
    )
    return gemm_order_known and _pytorch_runs_slow_transpose_3d(
        x.shape, weight.shape, stride, padding, dilation, output_padding, groups
    )


def _columns(x: Any, weight: Any, groups: int) -> Any:
    """sgemm's (batch, group, out channel x kernel offsets, input positions) entries: one fused
    multiply-add per input channel, in ascending order, each rounded once to float32 (emulated in
    float64, where the float32 product is exact and the sum rounds once before float32)."""
    batch, in_channels = x.shape[:2]
    per_group = in_channels // groups
    inputs = x.reshape(batch, groups, per_group, 1, -1).astype(jnp.float64)
    kernels = weight.reshape(groups, per_group, -1, 1).astype(jnp.float64)
    total = jnp.zeros((batch, groups, kernels.shape[2], inputs.shape[-1]), jnp.float32)
    for channel in range(per_group):
        product = kernels[None, :, channel] * inputs[:, :, channel]
        total = (product + total.astype(jnp.float64)).astype(jnp.float32)
    # With one channel a column is a bare product, which XLA was seen to contract with the
    # placement's addition into one fused multiply-add; the no-op select keeps it rounded.
    return rounded_apart(total)


def _lands_inside(low: int, stride: int, size: int, out_size: int) -> bool:
    first = -(low // stride) if low < 0 else 0  # the first input position at or past 0
    return first < size and low + first * stride < out_size


def transposed_convolution_3d_in_pytorch_order(
    x: Any,
    weight: Any,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
    groups: int,
) -> Any:
    """See :func:`_ordered_transposed_convolution_3d`; compiled as one computation, since run op
    by op (eagerly) its one pad and add per kernel offset cost a dispatch each."""
    return _ordered_transposed_convolution_3d(
        x, weight, tuple(stride), tuple(padding), tuple(dilation), tuple(output_padding), groups
    )


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _ordered_transposed_convolution_3d(
    x: Any,
    weight: Any,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    output_padding: tuple[int, ...],
    groups: int,
) -> Any:
    """``slow_conv_transpose3d`` without its bias (the caller adds it last, as PyTorch does):
    the columns of :func:`_columns`, placed one kernel offset at a time (ascending) with a
    strided pad and added onto a zero output."""
    batch, _, *in_sizes = x.shape
    _, out_per_group, *kernel = weight.shape
    out_sizes = _output_sizes(in_sizes, kernel, stride, padding, dilation, output_padding)
    out_channels = groups * out_per_group
    columns = _columns(x, weight, groups).reshape((batch, out_channels, *kernel, *in_sizes))
    out = jnp.zeros((batch, out_channels, *out_sizes), jnp.float32)
    zero = jnp.zeros((), jnp.float32)
    for offset in itertools.product(*(range(k) for k in kernel)):
        # Input position i lands on output i * stride - padding + offset * dilation.
        config = [(0, 0, 0), (0, 0, 0)]
        for size, out_size, s, p, d, o in zip(
            in_sizes, out_sizes, stride, padding, dilation, offset, strict=True
        ):
            low = o * d - p
            config.append((low, out_size - low - (size - 1) * s - 1, s - 1))
        if not all(
            _lands_inside(low, s, size, n)
            for (low, _, _), s, size, n in zip(config[2:], stride, in_sizes, out_sizes, strict=True)
        ):
            continue  # no input position of this offset lands inside the output
        entries = columns[(slice(None), slice(None), *offset)]
        out = out + jax.lax.pad(entries, zero, config)
    return out

"""Counting, uniqueness, order statistics and binning.

``unique``, ``bincount`` and ``repeat_interleave`` without ``output_size`` have output shapes that
depend on the data: they work on concrete values and raise ``DataDependentShapeError`` under a
transformation. ``equal``/``allclose`` return Python bools, which need concrete values too.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from torch2jax.eager_ops import is_traced
from torch2jax.errors import ConcretizationError, DataDependentShapeError
from torch2jax.ops._common import aten, canonical_dim, promote, result_type, to_float
from torch2jax.ops.reductions import index_dtype
from torch2jax.registry import implements


def _concrete(*xs: Any) -> bool:
    return not any(is_traced(x) for x in xs)


def _require_concrete(op: str, advice: str, *xs: Any) -> None:
    if not _concrete(*xs):
        raise DataDependentShapeError(op, advice)


# --------------------------------------------------------------------------------------------------
# Uniqueness and counting (data-dependent shapes)


_UNIQUE_ADVICE = "The number of distinct values depends on the data."


@implements(aten._unique2)
def unique2(
    x: Any, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False
) -> Any:
    _require_concrete("torch.unique (aten._unique2)", _UNIQUE_ADVICE, x)
    values, inverse, counts = jnp.unique(x.ravel(), return_inverse=True, return_counts=True)
    return (
        values,
        inverse.reshape(x.shape).astype(index_dtype()),
        counts.astype(index_dtype()),
    )


@implements(aten.unique_dim)
def unique_dim(
    x: Any,
    dim: int,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
) -> Any:
    _require_concrete("torch.unique(dim=...) (aten.unique_dim)", _UNIQUE_ADVICE, x)
    dim = canonical_dim(dim, x.ndim)
    values, inverse, counts = jnp.unique(x, axis=dim, return_inverse=True, return_counts=True)
    return values, inverse.ravel().astype(index_dtype()), counts.astype(index_dtype())


@implements(aten.unique_consecutive)
def unique_consecutive(
    x: Any, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
) -> Any:
    _require_concrete("torch.unique_consecutive (aten.unique_consecutive)", _UNIQUE_ADVICE, x)
    data = np.asarray(x)
    if dim is None:
        flat = data.ravel()
        starts = np.concatenate([[True], flat[1:] != flat[:-1]]) if flat.size else np.zeros(0, bool)
        group = np.cumsum(starts) - 1
        values = flat[starts]
        inverse = group.reshape(data.shape)
    else:
        dim = canonical_dim(dim, data.ndim)
        moved = np.moveaxis(data, dim, 0).reshape(data.shape[dim], -1)
        changed = np.any(moved[1:] != moved[:-1], axis=1)
        starts = np.concatenate([[True], changed]) if len(moved) else np.zeros(0, bool)
        group = np.cumsum(starts) - 1
        values = np.take(data, np.flatnonzero(starts), axis=dim)
        inverse = group
    counts = np.bincount(group, minlength=len(values)) if group.size else np.zeros(0, np.int64)
    return (
        jnp.asarray(values),
        jnp.asarray(inverse, index_dtype()),
        jnp.asarray(counts, index_dtype()),
    )


@implements(aten.bincount)
def bincount(x: Any, weights: Any = None, minlength: int = 0) -> Any:
    _require_concrete(
        "torch.bincount (aten.bincount)",
        "Its length is the largest value plus one; jnp.bincount(x, length=...) has a static length.",
        x,
    )
    length = max(int(jnp.max(x)) + 1 if x.size else 0, minlength)
    if weights is None:
        return jnp.bincount(x, length=length).astype(index_dtype())
    # PyTorch accumulates weights in double unless they are float32/float16 already.
    dtype = weights.dtype if weights.dtype in (jnp.float32, jnp.float16) else jnp.float64
    return jnp.bincount(x, weights.astype(dtype), length=length).astype(
        jax.dtypes.canonicalize_dtype(dtype)
    )


@implements(aten.repeat_interleave.Tensor)
def repeat_interleave_counts(repeats: Any, *, output_size: int | None = None) -> Any:
    if output_size is None:
        _require_concrete(
            "torch.repeat_interleave with tensor repeats (aten.repeat_interleave)",
            "Pass output_size=... to make the length static.",
            repeats,
        )
        output_size = int(jnp.sum(repeats))
    positions = jnp.arange(repeats.shape[0], dtype=repeats.dtype)
    return jnp.repeat(positions, repeats, total_repeat_length=output_size)


@implements(aten.nonzero_static)
def nonzero_static(x: Any, *, size: int, fill_value: int = -1) -> Any:
    if x.ndim == 0:
        x = x.reshape(1)
        indices = jnp.nonzero(x, size=size, fill_value=fill_value)
        return jnp.zeros((size, 0), index_dtype())
    indices = jnp.nonzero(x, size=size, fill_value=fill_value)
    return jnp.stack(indices, axis=-1).astype(index_dtype())


def _python_bool(op: str, value: Any) -> bool:
    if not _concrete(value):
        raise ConcretizationError(op)
    return bool(value)


@implements(aten.equal)
def equal(a: Any, b: Any) -> bool:
    if a.shape != b.shape:
        return False
    return _python_bool("torch.equal (aten.equal)", jnp.all(a == b))


@implements(aten.allclose)
def allclose(
    a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    _, (a, b) = promote(a, b)
    close = jnp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return _python_bool("torch.allclose (aten.allclose)", close)


# --------------------------------------------------------------------------------------------------
# Order statistics (fixed shapes)


def _along(x: Any, dim: int) -> tuple[Any, int]:
    if x.ndim == 0:
        return x.reshape(1), 0
    return x, canonical_dim(dim, x.ndim)


def _finish(values: Any, indices: Any, x: Any, dim: int, keepdim: bool) -> tuple[Any, Any]:
    if x.ndim == 0:
        return values.reshape(()), indices.reshape(()).astype(index_dtype())
    if not keepdim:
        values, indices = jnp.squeeze(values, dim), jnp.squeeze(indices, dim)
    return values, indices.astype(index_dtype())


def _sorted_with_nans_last(x: Any, dim: int) -> tuple[Any, Any]:
    order = jnp.argsort(x, axis=dim, stable=True)
    return jnp.take_along_axis(x, order, dim), order


@implements(aten.kthvalue)
def kthvalue(x: Any, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    xs, axis = _along(x, dim)
    values, order = _sorted_with_nans_last(xs, axis)
    picked = jax.lax.slice_in_dim(values, k - 1, k, axis=axis)
    index = jax.lax.slice_in_dim(order, k - 1, k, axis=axis)
    return _finish(picked, index, x, axis, keepdim)


def _lower_median_index(count: Any) -> Any:
    return jnp.maximum(count - 1, 0) // 2


def _median_along(x: Any, axis: int, ignore_nan: bool) -> tuple[Any, Any]:
    values, order = _sorted_with_nans_last(x, axis)
    nans = jnp.isnan(x) if jnp.issubdtype(x.dtype, jnp.floating) else jnp.zeros(x.shape, bool)
    if ignore_nan:
        count = x.shape[axis] - jnp.sum(nans, axis=axis, keepdims=True)
        position = _lower_median_index(count)
    else:
        # Any NaN makes the median NaN: NaNs sort last, so take the first one.
        has_nan = jnp.any(nans, axis=axis, keepdims=True)
        first_nan = x.shape[axis] - jnp.sum(nans, axis=axis, keepdims=True)
        position = jnp.where(has_nan, first_nan, _lower_median_index(x.shape[axis]))
    position = jnp.minimum(position, x.shape[axis] - 1)
    return (
        jnp.take_along_axis(values, position, axis),
        jnp.take_along_axis(order, position, axis),
    )


@implements(aten.median.default)
def median(x: Any) -> Any:
    return _median_along(x.reshape(-1), 0, ignore_nan=False)[0].reshape(())


@implements(aten.nanmedian.default)
def nanmedian(x: Any) -> Any:
    return _median_along(x.reshape(-1), 0, ignore_nan=True)[0].reshape(())


@implements(aten.median.dim)
def median_dim(x: Any, dim: int, keepdim: bool = False) -> Any:
    xs, axis = _along(x, dim)
    values, indices = _median_along(xs, axis, ignore_nan=False)
    return _finish(values, indices, x, axis, keepdim)


@implements(aten.nanmedian.dim)
def nanmedian_dim(x: Any, dim: int, keepdim: bool = False) -> Any:
    xs, axis = _along(x, dim)
    values, indices = _median_along(xs, axis, ignore_nan=True)
    return _finish(values, indices, x, axis, keepdim)


@implements(aten.mode)
def mode(x: Any, dim: int = -1, keepdim: bool = False) -> Any:
    xs, axis = _along(x, dim)
    moved = jnp.moveaxis(xs, axis, -1)
    ordered = jnp.sort(moved, axis=-1)
    counts = jnp.sum(ordered[..., :, None] == ordered[..., None, :], axis=-1)
    # The most frequent value; among equally frequent ones the smallest (first in sorted order).
    best = jnp.argmax(counts, axis=-1, keepdims=True)
    value = jnp.take_along_axis(ordered, best, -1)
    # PyTorch reports the last position of that value.
    hits = moved == value
    last = moved.shape[-1] - 1 - jnp.argmax(hits[..., ::-1], axis=-1, keepdims=True)
    value, last = jnp.moveaxis(value, -1, axis), jnp.moveaxis(last, -1, axis)
    return _finish(value, last, x, axis, keepdim)


# --------------------------------------------------------------------------------------------------
# Binning and sorted search


def _search(sorted_sequence: Any, values: Any, side: str) -> Any:
    if sorted_sequence.ndim <= 1:
        return jnp.searchsorted(sorted_sequence, values, side=side)
    batch = sorted_sequence.shape[:-1]
    flat_seq = sorted_sequence.reshape(-1, sorted_sequence.shape[-1])
    flat_values = values.reshape(flat_seq.shape[0], -1)
    found = jax.vmap(lambda s, v: jnp.searchsorted(s, v, side=side))(flat_seq, flat_values)
    return found.reshape(*batch, *values.shape[len(batch) :])


@implements(aten.searchsorted)
def searchsorted(
    sorted_sequence: Any,
    values: Any,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Any = None,
) -> Any:
    if sorter is not None:
        sorted_sequence = jnp.take_along_axis(sorted_sequence, sorter, -1)
    dtype, (sorted_sequence, values) = promote(sorted_sequence, jnp.asarray(values))
    side = side or ("right" if right else "left")
    found = _search(sorted_sequence, values, side)
    return found.astype(jnp.int32 if out_int32 else index_dtype())


@implements(aten.bucketize)
def bucketize(x: Any, boundaries: Any, *, out_int32: bool = False, right: bool = False) -> Any:
    _, (x, boundaries) = promote(jnp.asarray(x), boundaries)
    found = jnp.searchsorted(boundaries, x, side="right" if right else "left")
    return found.astype(jnp.int32 if out_int32 else index_dtype())


@implements(aten.histc)
def histc(x: Any, bins: int = 100, min: Any = 0, max: Any = 0) -> Any:
    dtype = to_float(x.dtype)
    data = x.astype(dtype)
    low, high = jnp.asarray(min, dtype), jnp.asarray(max, dtype)
    if min == max:
        # PyTorch then bins between the data's own extremes (widened by 1 if they coincide).
        low, high = jnp.min(data, initial=jnp.inf), jnp.max(data, initial=-jnp.inf)
        same = low == high
        low, high = jnp.where(same, low - 1, low), jnp.where(same, high + 1, high)
    inside = (data >= low) & (data <= high)
    position = jnp.floor((data - low) * bins / (high - low)).astype(jnp.int32)
    position = jnp.clip(position, 0, bins - 1)
    counts = jnp.zeros(bins, dtype).at[jnp.where(inside, position, bins)].add(1, mode="drop")
    return counts.astype(result_type(x))


@implements(aten.histogram.bin_ct)
def histogram(
    x: Any,
    bins: int = 100,
    *,
    range: Any = None,
    weight: Any = None,
    density: bool = False,
) -> Any:
    if range is not None:
        low, high = jnp.asarray(range[0], x.dtype), jnp.asarray(range[1], x.dtype)
    else:
        low, high = jnp.min(x, initial=jnp.inf), jnp.max(x, initial=-jnp.inf)
        empty = x.size == 0
        low, high = (jnp.asarray(0, x.dtype), jnp.asarray(0, x.dtype)) if empty else (low, high)
    same = low == high
    # Equal bounds widen by 0.5 on each side, as in NumPy (histc widens by 1).
    low, high = jnp.where(same, low - 0.5, low), jnp.where(same, high + 0.5, high)
    edges = jnp.linspace(low, high, bins + 1).astype(x.dtype)
    inside = (x >= low) & (x <= high)
    position = jnp.clip(jnp.floor((x - low) * bins / (high - low)).astype(jnp.int32), 0, bins - 1)
    increments = jnp.ones_like(x) if weight is None else weight.astype(x.dtype)
    counts = (
        jnp.zeros(bins, x.dtype)
        .at[jnp.where(inside, position, bins).ravel()]
        .add(increments.ravel(), mode="drop")
    )
    if density:
        counts = counts / (jnp.sum(counts) * jnp.diff(edges))
    return counts, edges

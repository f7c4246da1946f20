"""Reductions, scans, sorting and softmax."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import torch

from torch2jax.convert import to_jax_dtype
from torch2jax.ops._common import (
    aten,
    canonical_dim,
    canonical_dims,
    category,
    jax_dtype,
    to_float,
)
from torch2jax.registry import implements


def index_dtype() -> Any:
    return to_jax_dtype(torch.int64)


def _sum_dtype(x: Any, dtype: torch.dtype | None) -> Any:
    """Sums and products of integers and bools accumulate in int64, as in PyTorch."""
    if dtype is not None:
        return jax_dtype(dtype)
    return index_dtype() if category(x.dtype) <= 1 else x.dtype


@implements(aten.sum)
def sum_(x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:
    target = _sum_dtype(x, dtype)
    return jnp.sum(x.astype(target), axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


@implements(aten.nansum)
def nansum(x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:
    target = _sum_dtype(x, dtype)
    return jnp.nansum(x.astype(target), axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


@implements(aten.prod)
def prod(x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:
    target = _sum_dtype(x, dtype)
    axis = canonical_dims(dim, x.ndim) if dim is not None else None
    return jnp.prod(x.astype(target), axis=axis, keepdims=keepdim)


@implements(aten.mean)
def mean(x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Any:
    target = jax_dtype(dtype, x.dtype)
    return jnp.mean(x.astype(target), axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


@implements(aten.amax)
def amax(x: Any, dim: Any = (), keepdim: bool = False) -> Any:
    return jnp.max(x, axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


@implements(aten.amin)
def amin(x: Any, dim: Any = (), keepdim: bool = False) -> Any:
    return jnp.min(x, axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


def _arg_reduce(x: Any, dim: int | None, keepdim: bool, find_max: bool) -> Any:
    fn = jnp.argmax if find_max else jnp.argmin
    if dim is None:
        index = fn(x.reshape(-1)).astype(index_dtype())
        return index.reshape((1,) * x.ndim) if keepdim else index
    if x.ndim == 0:
        return jnp.zeros((), index_dtype())
    return fn(x, axis=canonical_dim(dim, x.ndim), keepdims=keepdim).astype(index_dtype())


@implements(aten.argmax)
def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    return _arg_reduce(x, dim, keepdim, find_max=True)


@implements(aten.argmin)
def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    return _arg_reduce(x, dim, keepdim, find_max=False)


def _max_or_min(x: Any, dim: Any, keepdim: bool, find_max: bool) -> Any:
    if dim is None:
        return jnp.max(x) if find_max else jnp.min(x)
    if not isinstance(dim, int):  # max.other / min.other: the binary form
        return jnp.maximum(x, dim) if find_max else jnp.minimum(x, dim)
    axis = canonical_dim(dim, x.ndim)
    if x.ndim == 0:
        return x, jnp.zeros((), index_dtype())
    indices = _arg_reduce(x, dim, keepdim, find_max)
    # The values are gathered at the indices so that, as in PyTorch, a tie's gradient goes to the
    # one element the index names (jnp.max would split it among the tied elements).
    gather_at = indices if keepdim else jnp.expand_dims(indices, axis)
    values = jnp.take_along_axis(x, gather_at, axis=axis)
    return (values if keepdim else values.squeeze(axis)), indices


@implements(aten.max)
def max_(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _max_or_min(x, dim, keepdim, find_max=True)


@implements(aten.min)
def min_(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _max_or_min(x, dim, keepdim, find_max=False)


@implements(aten.any)
def any_(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return jnp.any(x, axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


@implements(aten.all)
def all_(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return jnp.all(x, axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


def _correction(unbiased_or_correction: Any, correction: Any) -> float:
    if correction is not None:
        return float(correction)
    if isinstance(unbiased_or_correction, bool):
        return 1.0 if unbiased_or_correction else 0.0
    return 1.0


def _variance(x: Any, dim: Any, correction: float, keepdim: bool) -> Any:
    axes = canonical_dims(dim, x.ndim)
    count = 1
    for axis in axes:
        count *= x.shape[axis]
    centered = x - jnp.mean(x, axis=axes, keepdims=True)
    squares = jnp.real(centered * jnp.conj(centered))
    return jnp.sum(squares, axis=axes, keepdims=keepdim) / max(count - correction, 0)


def _var_args(x: Any, dim: Any, unbiased: Any, correction: Any) -> tuple[Any, float]:
    if isinstance(dim, bool):  # var.default(x, unbiased)
        return None, 1.0 if dim else 0.0
    return dim, _correction(unbiased, correction)


@implements(aten.var)
def var(
    x: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> Any:
    dim, c = _var_args(x, dim, unbiased, correction)
    return _variance(x, dim, c, keepdim)


@implements(aten.std)
def std(
    x: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> Any:
    dim, c = _var_args(x, dim, unbiased, correction)
    return jnp.sqrt(_variance(x, dim, c, keepdim))


@implements(aten.var_mean)
def var_mean(
    x: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> Any:
    dim, c = _var_args(x, dim, unbiased, correction)
    return _variance(x, dim, c, keepdim), jnp.mean(
        x, axis=canonical_dims(dim, x.ndim), keepdims=keepdim
    )


@implements(aten.std_mean)
def std_mean(
    x: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> Any:
    variance, average = var_mean(x, dim, unbiased, keepdim, correction=correction)
    return jnp.sqrt(variance), average


@implements(aten.logsumexp)
def logsumexp(x: Any, dim: Any = (), keepdim: bool = False) -> Any:
    x = x.astype(to_float(x.dtype))
    return jax.nn.logsumexp(x, axis=canonical_dims(dim, x.ndim), keepdims=keepdim)


def _vector_norm_value(x: Any, ord: float, axes: Any, keepdim: bool) -> Any:
    magnitude = jnp.abs(x)
    if ord == float("inf"):
        return jnp.max(magnitude, axis=axes, keepdims=keepdim)
    if ord == float("-inf"):
        return jnp.min(magnitude, axis=axes, keepdims=keepdim)
    if ord == 0:
        return jnp.sum(magnitude != 0, axis=axes, keepdims=keepdim).astype(magnitude.dtype)
    if ord == 1:
        return jnp.sum(magnitude, axis=axes, keepdims=keepdim)
    total = jnp.sum(
        magnitude * magnitude if ord == 2 else magnitude**ord, axis=axes, keepdims=keepdim
    )
    return total ** (0.5 if ord == 2 else 1.0 / ord)


def _sgn(x: Any) -> Any:
    """PyTorch's ``sgn``: ``x / |x|``, 0 at 0 (complex inputs too)."""
    magnitude = jnp.abs(x)
    return jnp.where(magnitude == 0, 0, x / jnp.where(magnitude == 0, 1, magnitude).astype(x.dtype))


def _vector_norm_gradient(x: Any, norm: Any, ord: float, axes: Any) -> Any:
    """The gradient of the norm (``norm`` with the reduced axes kept) for each element of ``x``,
    as PyTorch's ``norm_backward`` computes it: its subgradients at zero (0 where a zero
    element or a zero norm would divide by zero) rather than the NaN/inf the formula gives."""
    magnitude = jnp.abs(x)
    if ord == 1:
        return _sgn(x)
    if ord == 2:
        return jnp.where(norm == 0, 0, x / jnp.where(norm == 0, 1, norm).astype(x.dtype))
    if ord in (float("inf"), float("-inf")):
        ties = (magnitude == norm) | jnp.isnan(magnitude)
        count = jnp.sum(ties, axis=axes, keepdims=True).astype(norm.dtype)
        return _sgn(x) * (ties / count).astype(x.dtype)
    if ord < 1:
        power = jnp.where(x == 0, 0, jnp.where(x == 0, 1, magnitude) ** (ord - 1))
        return _sgn(x) * (power * norm ** (1 - ord)).astype(x.dtype)
    scale = jnp.where(norm == 0, 0, 1 / jnp.where(norm == 0, 1, norm) ** (ord - 1))
    if ord < 2:
        return _sgn(x) * (magnitude ** (ord - 1) * scale).astype(x.dtype)
    return x * (magnitude ** (ord - 2) * scale).astype(x.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _vector_norm(x: Any, ord: float, axes: Any, keepdim: bool) -> Any:
    return _vector_norm_value(x, ord, axes, keepdim)


@_vector_norm.defjvp
def _vector_norm_jvp(ord: float, axes: Any, keepdim: bool, primals: tuple, tangents: tuple):
    (x,), (dx,) = primals, tangents
    norm = _vector_norm_value(x, ord, axes, keepdim=True)
    if ord == 0:  # piecewise constant
        d_norm = jnp.zeros_like(norm)
    else:
        gradient = _vector_norm_gradient(x, norm, ord, axes)
        d_norm = jnp.sum(jnp.real(jnp.conj(gradient) * dx), axis=axes, keepdims=True)
    if not keepdim:
        norm, d_norm = jnp.squeeze(norm, axes), jnp.squeeze(d_norm, axes)
    return norm, d_norm


@implements(aten.linalg_vector_norm)
def linalg_vector_norm(
    x: Any, ord: float = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Any:
    if dtype is not None:
        x = x.astype(jax_dtype(dtype))
    return _vector_norm(x, float(ord), canonical_dims(dim, x.ndim), keepdim)


@implements(aten.count_nonzero)
def count_nonzero(x: Any, dim: Any = None) -> Any:
    return jnp.sum(x != 0, axis=canonical_dims(dim, x.ndim)).astype(index_dtype())


# --------------------------------------------------------------------------------------------------
# Scans


@implements(aten.cumsum)
def cumsum(x: Any, dim: int, *, dtype: Any = None) -> Any:
    x = x.astype(_sum_dtype(x, dtype))
    return jnp.cumsum(x, axis=canonical_dim(dim, x.ndim)) if x.ndim else x


@implements(aten.cumprod)
def cumprod(x: Any, dim: int, *, dtype: Any = None) -> Any:
    x = x.astype(_sum_dtype(x, dtype))
    return jnp.cumprod(x, axis=canonical_dim(dim, x.ndim)) if x.ndim else x


@implements(aten.logcumsumexp)
def logcumsumexp(x: Any, dim: int) -> Any:
    if x.ndim == 0:
        return x
    return jax.lax.cumlogsumexp(x, axis=canonical_dim(dim, x.ndim))


def _cumulative_extreme(x: Any, dim: int, find_max: bool) -> Any:
    if x.ndim == 0:
        return x, jnp.zeros((), index_dtype())
    axis = canonical_dim(dim, x.ndim)
    positions = jax.lax.broadcasted_iota(index_dtype(), x.shape, axis)

    def combine(a: Any, b: Any) -> Any:
        value_a, index_a = a
        value_b, index_b = b
        # PyTorch takes the later element on ties and propagates NaN.
        take_b = (value_b >= value_a) if find_max else (value_b <= value_a)
        take_b = (
            take_b | jnp.isnan(value_b) & ~jnp.isnan(value_a) if category(x.dtype) >= 2 else take_b
        )
        return jnp.where(take_b, value_b, value_a), jnp.where(take_b, index_b, index_a)

    return jax.lax.associative_scan(combine, (x, positions), axis=axis)


@implements(aten.cummax)
def cummax(x: Any, dim: int) -> Any:
    return _cumulative_extreme(x, dim, find_max=True)


@implements(aten.cummin)
def cummin(x: Any, dim: int) -> Any:
    return _cumulative_extreme(x, dim, find_max=False)


# --------------------------------------------------------------------------------------------------
# Softmax


@implements(aten._softmax)
def softmax(x: Any, dim: int, half_to_float: bool) -> Any:
    return jax.nn.softmax(x, axis=canonical_dim(dim, x.ndim)) if x.ndim else jnp.ones_like(x)


@implements(aten._safe_softmax)
def safe_softmax(x: Any, dim: int, dtype: Any = None) -> Any:
    """Softmax that gives 0 (and gradient 0, not NaN) on rows that are entirely -inf."""
    if dtype is not None:
        x = x.astype(jax_dtype(dtype))
    if not x.ndim:
        return jnp.ones_like(x)
    axis = canonical_dim(dim, x.ndim)
    masked = jnp.all(x == -jnp.inf, axis=axis, keepdims=True)
    out = jax.nn.softmax(jnp.where(masked, 0, x), axis=axis)
    return jnp.where(masked, 0, out)


@implements(aten._log_softmax)
def log_softmax(x: Any, dim: int, half_to_float: bool) -> Any:
    return jax.nn.log_softmax(x, axis=canonical_dim(dim, x.ndim)) if x.ndim else jnp.zeros_like(x)


# --------------------------------------------------------------------------------------------------
# Sorting


def _sort(x: Any, dim: int, descending: bool, stable: bool) -> tuple[Any, Any]:
    if x.ndim == 0:
        return x, jnp.zeros((), index_dtype())
    axis = canonical_dim(dim, x.ndim)
    # NaN sorts as the largest value in both libraries; stability keeps ties in input order.
    order = jnp.argsort(x, axis=axis, stable=True, descending=descending)
    return jnp.take_along_axis(x, order, axis), order.astype(index_dtype())


@implements(aten.sort)
def sort(x: Any, dim: int = -1, descending: bool = False, *, stable: bool | None = None) -> Any:
    if isinstance(dim, bool) or dim is None:  # sort.stable(x, *, stable, dim=-1, descending=False)
        dim = -1
    return _sort(x, dim, descending, bool(stable))


@implements(aten.argsort)
def argsort(x: Any, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
    if isinstance(dim, bool):  # argsort.stable(x, *, stable, dim, descending)
        dim = -1
    return _sort(x, dim, descending, stable)[1]


@implements(aten.topk)
def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    values, indices = _sort(x, dim, descending=largest, stable=True)
    axis = canonical_dim(dim, x.ndim) if x.ndim else 0
    if x.ndim == 0:
        return values, indices
    return jax.lax.slice_in_dim(values, 0, k, axis=axis), jax.lax.slice_in_dim(
        indices, 0, k, axis=axis
    )

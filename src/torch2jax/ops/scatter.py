"""Scatter-style writes that ``ops/indexing.py`` does not cover: ``put``, ``masked_scatter``,
``index_reduce``. All keep the input's shape, so they work under ``jit``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from torch2jax.ops._common import aten, canonical_dim, cast
from torch2jax.registry import implements


@implements(aten.put)
def put(x: Any, index: Any, source: Any, accumulate: bool = False) -> Any:
    flat = x.ravel()
    index = index.ravel()
    index = jnp.where(index < 0, index + flat.shape[0], index)
    source = cast(source, x.dtype).ravel()
    where = flat.at[index]
    if not accumulate:
        return where.set(source).reshape(x.shape)
    # Accumulating into bools is a logical or (PyTorch adds, then saturates at True).
    return (where.max(source) if x.dtype == jnp.bool_ else where.add(source)).reshape(x.shape)


@implements(aten.masked_scatter)
def masked_scatter(x: Any, mask: Any, source: Any) -> Any:
    x, mask = jnp.broadcast_arrays(x, mask)
    flat_mask = mask.ravel()
    # The k-th selected position takes source's k-th element (row-major order).
    position = jnp.cumsum(flat_mask) - 1
    taken = jnp.take(source.ravel(), jnp.clip(position, 0, max(source.size - 1, 0)))
    return jnp.where(flat_mask, cast(taken, x.dtype), x.ravel()).reshape(x.shape)


@jax.custom_jvp
def scatter_product(base: Any, src: Any, *indices: Any) -> Any:
    """``base.at[indices].multiply(src)``, differentiable however often an index repeats.

    JAX differentiates a scatter-multiply only with unique indices; the derivative here is
    PyTorch's (scatter_reduce/index_reduce "prod"): each factor's partial derivative is the
    product of the others, taken as result / factor, with zeros handled apart so that a single
    zero factor still passes the product of the others.
    """
    return base.at[indices].multiply(src)


def _product_partials(base: Any, src: Any, indices: tuple[Any, ...]) -> tuple[Any, Any]:
    result = scatter_product(base, src, *indices)
    # base: result / base, with a zero base replaced by 1 on both sides.
    ones_for_zero_base = jnp.where(base == 0, jnp.ones_like(base), base)
    base_partial = scatter_product(ones_for_zero_base, src, *indices) / ones_for_zero_base
    # src: result / src, except for the only zero at its destination (the others' product).
    src_zero = src == 0
    zeros_at_destination = (
        jnp.zeros(base.shape, base.dtype).at[indices].add(src_zero.astype(base.dtype))
    )
    single_zero = src_zero & (zeros_at_destination[indices] == 1)
    others = scatter_product(base, jnp.where(single_zero, jnp.ones_like(src), src), *indices)
    src_partial = jnp.where(
        single_zero, others[indices], result[indices] / jnp.where(src_zero, 1, src)
    )
    return base_partial, src_partial


@scatter_product.defjvp
def _scatter_product_jvp(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
    base, src, *indices = primals
    base_dot, src_dot = tangents[:2]
    base_partial, src_partial = _product_partials(base, src, tuple(indices))
    tangent = base_partial * base_dot + jnp.zeros_like(base).at[tuple(indices)].add(
        src_partial * src_dot
    )
    return scatter_product(base, src, *indices), tangent


_IDENTITY = {"prod": 1, "mean": 0, "amax": -jnp.inf, "amin": jnp.inf}


def _identity(reduce: str, dtype: Any) -> Any:
    value = _IDENTITY[reduce]
    if jnp.issubdtype(dtype, jnp.integer) and reduce in ("amax", "amin"):
        info = jnp.iinfo(dtype)
        value = info.min if reduce == "amax" else info.max
    return jnp.asarray(value, dtype)


@implements(aten.index_reduce)
def index_reduce(
    x: Any, dim: int, index: Any, source: Any, reduce: str, *, include_self: bool = True
) -> Any:
    if x.ndim == 0:  # a 0-d tensor reduces as a 1-element vector
        out = index_reduce(
            x.reshape(1),
            0,
            index.reshape(-1),
            source.reshape(-1),
            reduce,
            include_self=include_self,
        )
        return out.reshape(())
    dim = canonical_dim(dim, x.ndim)
    moved = jnp.moveaxis(x, dim, 0)
    src = jnp.moveaxis(cast(source, x.dtype), dim, 0)
    touched = jnp.zeros(moved.shape[0], bool).at[index].set(True)
    touched = touched.reshape((-1,) + (1,) * (moved.ndim - 1))
    start = moved if include_self else jnp.where(touched, _identity(reduce, x.dtype), moved)
    where = start.at[index]
    if reduce == "prod":
        out = scatter_product(start, src, index)
    elif reduce == "amax":
        out = where.max(src)
    elif reduce == "amin":
        out = where.min(src)
    elif reduce == "mean":
        total = where.add(src)
        counts = jnp.zeros(moved.shape[0], x.dtype).at[index].add(1)
        counts = counts.reshape((-1,) + (1,) * (moved.ndim - 1)) + (1 if include_self else 0)
        counts = jnp.maximum(counts, 1)
        out = total // counts if jnp.issubdtype(x.dtype, jnp.integer) else total / counts
    else:
        raise ValueError(f"index_reduce: unknown reduce {reduce!r}")
    return jnp.moveaxis(out, 0, dim)

"""Scatter-style writes that ``ops/indexing.py`` does not cover: ``put``, ``masked_scatter``,
``index_reduce``. All keep the input's shape, so they work under ``jit``."""

from __future__ import annotations

from typing import Any

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
        out = where.multiply(src)
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

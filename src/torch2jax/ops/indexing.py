"""Advanced indexing, gather/scatter and masking.

Boolean masks have data-dependent shapes: they work on concrete values and raise
``DataDependentShapeError`` under a transformation, except where the result's shape does not
depend on the mask (``x[mask] = v`` becomes ``where``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from torch2jax.eager_ops import is_traced
from torch2jax.errors import DataDependentShapeError
from torch2jax.ops._common import aten, canonical_dim, cast, is_array
from torch2jax.ops.reductions import index_dtype
from torch2jax.ops.scatter import scatter_product
from torch2jax.registry import implements


def _concrete(x: Any) -> bool:
    return not is_traced(x)


def _nonzero_tuple(mask: Any, op: str) -> tuple[Any, ...]:
    if not _concrete(mask):
        raise DataDependentShapeError(
            op, "Boolean-mask indexing selects a number of elements that depends on the mask."
        )
    return tuple(jnp.asarray(i) for i in jnp.nonzero(mask))


def _index_tuple(indices: Sequence[Any], op: str) -> tuple[Any, ...]:
    """PyTorch's list of optional index tensors as a NumPy-style index (None means all)."""
    result: list[Any] = []
    for index in indices:
        if index is None:
            result.append(slice(None))
        elif index.dtype in (jnp.bool_, jnp.uint8):
            result.extend(_nonzero_tuple(index.astype(bool), op))
        else:
            result.append(index)
    return tuple(result)


@implements(aten.index, aten._unsafe_index)
def index(x: Any, indices: Sequence[Any]) -> Any:
    return x[_index_tuple(indices, "x[mask] (aten.index with a boolean mask)")]


def _single_mask(indices: Sequence[Any]) -> Any:
    """The mask of ``x[mask] = v``: exactly one boolean index, in front, possibly followed by Nones."""
    present = [i for i in indices if i is not None]
    if len(present) == 1 and indices[0] is not None and present[0].dtype == jnp.bool_:
        return present[0]
    return None


@implements(aten.index_put, aten._unsafe_index_put)
def index_put(x: Any, indices: Sequence[Any], values: Any, accumulate: bool = False) -> Any:
    values = cast(values, x.dtype)
    mask = _single_mask(indices)
    trailing = x.ndim - (mask.ndim if mask is not None else 0)
    if mask is not None and not _concrete(mask) and values.ndim <= trailing:
        # Values broadcast over the selected elements: the result's shape is x's, whatever the mask.
        expanded = jnp.reshape(mask, mask.shape + (1,) * trailing)
        update = jnp.broadcast_to(values, x.shape)
        return jnp.where(expanded, _accumulate(x, update) if accumulate else update, x)
    where = x.at[_index_tuple(indices, "x[mask] = values (aten.index_put with a boolean mask)")]
    if not accumulate:
        return where.set(values)
    # Accumulating into bools is a logical or (PyTorch adds, then saturates at True).
    return where.max(values) if x.dtype == jnp.bool_ else where.add(values)


def _accumulate(x: Any, update: Any) -> Any:
    return x | update if x.dtype == jnp.bool_ else x + update


@implements(aten._index_put_impl)
def index_put_impl(
    x: Any, indices: Sequence[Any], values: Any, accumulate: bool = False, unsafe: bool = False
) -> Any:
    return index_put(x, indices, values, accumulate)


@implements(aten.index_select)
def index_select(x: Any, dim: int, index: Any) -> Any:
    if x.ndim == 0:
        return jnp.take(x.reshape(1), index.reshape(-1), axis=0).reshape(())
    return jnp.take(x, index.reshape(-1), axis=canonical_dim(dim, x.ndim))


@implements(aten.masked_fill)
def masked_fill(x: Any, mask: Any, value: Any) -> Any:
    return jnp.where(mask, cast(value, x.dtype), x)


@implements(aten.nonzero)
def nonzero(x: Any) -> Any:
    if not _concrete(x):
        raise DataDependentShapeError(
            "torch.nonzero (aten.nonzero)",
            "Its output length is the number of nonzero elements.",
        )
    return (
        jnp.stack(jnp.nonzero(x), axis=-1).astype(index_dtype())
        if x.ndim
        else (jnp.zeros((int(x != 0), 0), index_dtype()))
    )


@implements(aten.masked_select)
def masked_select(x: Any, mask: Any) -> Any:
    # Flattened after broadcasting: the result is 1-d, also for 0-d operands.
    x, mask = (jnp.ravel(a) for a in jnp.broadcast_arrays(x, mask))
    return x[_nonzero_tuple(mask, "torch.masked_select (aten.masked_select)")]


# --------------------------------------------------------------------------------------------------
# gather / scatter


def _scatter_index(index: Any, dim: int) -> tuple[Any, ...]:
    """Full coordinates for scatter/gather: ``index`` along ``dim``, positions elsewhere."""
    return tuple(
        index if d == dim else jax.lax.broadcasted_iota(index.dtype, index.shape, d)
        for d in range(index.ndim)
    )


@implements(aten.gather)
def gather(x: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Any:
    if index.size == 0:  # PyTorch skips its shape checks for an empty index
        return jnp.zeros(index.shape, x.dtype)
    if x.ndim == 0:
        return jnp.broadcast_to(x, index.shape)
    dim = canonical_dim(dim, x.ndim)
    return x[_scatter_index(index, dim)]


# PyTorch's names of the dtypes in its error messages.
_SCALAR_TYPE_NAMES = {
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
    "float32": "Float",
    "float64": "Double",
}


@implements(torch.take_along_dim, torch.Tensor.take_along_dim)
def take_along_dim(x: Any, indices: Any, dim: int | None = None) -> Any:
    """At the API level: PyTorch's composite checks for int64 indices before it decomposes, and
    with ``jax_enable_x64`` off int64 tensors are int32 ones (as in JAX)."""
    if np.dtype(indices.dtype) != np.dtype(index_dtype()):
        name = _SCALAR_TYPE_NAMES.get(np.dtype(indices.dtype).name, indices.dtype)
        raise RuntimeError(
            f"torch.take_along_dim(): dtype of indices should be Long but got {name}"
        )
    if dim is None:
        return gather(jnp.ravel(x), 0, jnp.ravel(indices))
    if x.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    if x.ndim != indices.ndim:
        raise RuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {x.ndim} dimensions for input, and {indices.ndim} "
            "dimensions for indices"
        )
    dim = canonical_dim(dim, x.ndim)
    # Both broadcast against each other, except along dim (PyTorch's own decomposition).
    shape = list(np.broadcast_shapes(x.shape[:dim] + (1,) + x.shape[dim + 1 :], indices.shape))
    index_shape = tuple(shape[:dim] + [indices.shape[dim]] + shape[dim + 1 :])
    x_shape = tuple(shape[:dim] + [x.shape[dim]] + shape[dim + 1 :])
    return gather(jnp.broadcast_to(x, x_shape), dim, jnp.broadcast_to(indices, index_shape))


def _scatter(x: Any, dim: int, index: Any, src: Any, reduce: str | None) -> Any:
    if index.size == 0:  # nothing to write; PyTorch skips its shape checks
        return x
    if x.ndim == 0:
        x, index = x.reshape(1), index.reshape(1)
        src = src.reshape(1) if is_array(src) else src
        return _scatter(x, 0, index, src, reduce).reshape(())
    dim = canonical_dim(dim, x.ndim)
    if is_array(src):
        src = src[tuple(slice(0, s) for s in index.shape)]
    src = cast(src, x.dtype)
    where = x.at[_scatter_index(index, dim)]
    if reduce is None:
        return where.set(src)
    boolean = x.dtype == jnp.bool_  # bool sums are a logical or, products a logical and
    if reduce in ("add", "sum"):
        return where.max(src) if boolean else where.add(src)
    if reduce in ("multiply", "prod"):
        if boolean:
            return where.min(src)
        return scatter_product(x, src, *_scatter_index(index, dim))
    if reduce == "amax":
        return where.max(src)
    if reduce == "amin":
        return where.min(src)
    raise ValueError(f"scatter: unknown reduce {reduce!r}")


@implements(aten.scatter)
def scatter(x: Any, dim: int, index: Any, src: Any, *, reduce: str | None = None) -> Any:
    return _scatter(x, dim, index, src, reduce)


@implements(aten.scatter_add)
def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Any:
    return _scatter(x, dim, index, src, "add")


_REDUCTION_IDENTITY = {"sum": 0, "prod": 1, "mean": 0}


@implements(aten.scatter_reduce)
def scatter_reduce(
    x: Any, dim: int, index: Any, src: Any, reduce: str, *, include_self: bool = True
) -> Any:
    if index.size == 0:
        return x
    if x.ndim == 0:
        return scatter_reduce(
            x.reshape(1), 0, index.reshape(1), src.reshape(1), reduce, include_self=include_self
        ).reshape(())
    dim = canonical_dim(dim, x.ndim)
    coordinates = _scatter_index(index, dim)
    src = cast(src[tuple(slice(0, s) for s in index.shape)], x.dtype)
    base = x
    if not include_self:
        if reduce in _REDUCTION_IDENTITY:
            fill = _REDUCTION_IDENTITY[reduce]
        elif jnp.issubdtype(x.dtype, jnp.floating):
            fill = -jnp.inf if reduce == "amax" else jnp.inf
        else:
            info = jnp.iinfo(x.dtype) if x.dtype != jnp.bool_ else None
            fill = (info.min if reduce == "amax" else info.max) if info else reduce == "amin"
        base = x.at[coordinates].set(jnp.asarray(fill, x.dtype))
    if reduce == "mean":
        counts = jnp.zeros(x.shape, jnp.int32).at[coordinates].add(1) + (1 if include_self else 0)
        total = base.at[coordinates].add(src)
        quotient = total / jnp.maximum(counts, 1)
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            quotient = jnp.floor_divide(total, jnp.maximum(counts, 1).astype(x.dtype))
        return jnp.where(counts > 0, quotient.astype(x.dtype), x)
    return _scatter(base, dim, index, src, reduce)


@implements(aten.index_add)
def index_add(x: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Any:
    source = cast(source, x.dtype)
    if alpha != 1:
        source = source * cast(alpha, x.dtype)  # bools: an and, as PyTorch's product
    if x.ndim == 0:
        return _accumulate(x, source.reshape(()))
    dim = canonical_dim(dim, x.ndim)
    where = x.at[(slice(None),) * dim + (index.reshape(-1),)]
    # Adding into bools is a logical or (PyTorch adds, then saturates at True).
    return where.max(source) if x.dtype == jnp.bool_ else where.add(source)


@implements(aten.index_copy)
def index_copy(x: Any, dim: int, index: Any, source: Any) -> Any:
    if x.ndim == 0:
        return cast(source, x.dtype).reshape(())
    dim = canonical_dim(dim, x.ndim)
    return x.at[(slice(None),) * dim + (index.reshape(-1),)].set(cast(source, x.dtype))


@implements(aten.index_fill)
def index_fill(x: Any, dim: int, index: Any, value: Any) -> Any:
    if x.ndim == 0:
        return cast(value, x.dtype).reshape(())
    dim = canonical_dim(dim, x.ndim)
    return x.at[(slice(None),) * dim + (index.reshape(-1),)].set(cast(value, x.dtype))


@implements(aten.take)
def take(x: Any, index: Any) -> Any:
    return jnp.ravel(x)[index]

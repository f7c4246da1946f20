"""Cheap-to-trace building blocks for the hottest lowerings.

Tracing cost is per call: each ``jax.numpy`` function is itself a small ``jit`` that JAX traces
(from its cache) and inlines, several times the cost of binding one ``lax`` primitive, and a
``jnp.asarray`` constant costs a primitive of its own. The operations that every model runs
hundreds of times (reshapes, transposes, matrix products, additions, normalizations) therefore
call ``lax`` directly here, with PyTorch's broadcasting spelled out and Python scalars as NumPy
constants, which JAX inlines as literals. Semantics are those of the ``jax.numpy`` calls they
replace; each helper falls back to ``jax.numpy`` outside the cases it handles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jax import custom_jvp, lax
from jax.lax import Precision

from torch2jax.ops._common import is_array, precision


def constant(value: Any, dtype: Any) -> Any:
    """A Python scalar as a 0-d NumPy constant of ``dtype``; arrays are cast with ``lax``."""
    if is_array(value):
        return value if value.dtype == dtype else lax.convert_element_type(value, dtype)
    return np.asarray(value, dtype)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """NumPy broadcasting of ``x`` to ``shape`` (``shape`` already the broadcast shape)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = len(shape) - x.ndim
    return lax.broadcast_in_dim(x, shape, tuple(range(lead, len(shape))))


def binary(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``fn`` (a ``lax`` elementwise op) on two operands of one dtype, broadcast as NumPy does.

    0-d operands need no broadcast: ``lax`` accepts them against any shape."""
    if a.shape == b.shape or not a.ndim or not b.ndim:
        return fn(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    return fn(broadcast_to(a, shape), broadcast_to(b, shape))


def reshape(x: Any, shape: Sequence[int]) -> Any:
    shape = tuple(shape)
    return x if x.shape == shape else lax.reshape(x, shape)


def transpose(x: Any, permutation: Sequence[int]) -> Any:
    permutation = tuple(permutation)
    if permutation == tuple(range(x.ndim)):
        return x
    return lax.transpose(x, permutation)


def swap(x: Any, dim0: int, dim1: int) -> Any:
    """``x`` with two (non-negative) dimensions exchanged."""
    permutation = list(range(x.ndim))
    permutation[dim0], permutation[dim1] = permutation[dim1], permutation[dim0]
    return transpose(x, permutation)


def matmul(a: Any, b: Any) -> Any | None:
    """``a @ b`` for the shapes that need no broadcasting (matrices, or stacks of matrices with
    the same leading dimensions) in one floating dtype, as one ``dot_general``; None otherwise."""
    if a.dtype != b.dtype or a.dtype.kind not in "fcV":
        return None
    if a.ndim != b.ndim or a.ndim < 2 or a.shape[:-2] != b.shape[:-2]:
        return None
    batch = tuple(range(a.ndim - 2))
    dimensions = (((a.ndim - 1,), (a.ndim - 2,)), (batch, batch))
    return lax.dot_general(a, b, dimensions, precision=precision())


def reduced_mean(x: Any, axes: Sequence[int]) -> Any:
    """Mean over ``axes`` keeping them as size 1 (``jnp.mean(..., keepdims=True)`` for floats)."""
    axes = tuple(axes)
    count = 1
    for axis in axes:
        count *= x.shape[axis]
    total = lax.reduce_sum(x, axes)
    kept = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
    return lax.div(lax.reshape(total, kept), np.asarray(count, x.dtype))


# --------------------------------------------------------------------------------------------------
# Per-column parameters (biases, normalization scales) whose gradients are column sums


def _spread_rows(vector: Any, shape: tuple[int, ...]) -> Any:
    """``vector`` broadcast along the rows of ``shape``, written as an outer product with ones:
    reverse mode then sums a gradient's rows as ``ones @ gradient``, which XLA:CPU runs as one
    matrix-vector product, 3-9x faster than the column-sum reduction a broadcast transposes to
    (0.11 against 1.05 ms for 197x3072)."""
    rows = int(np.prod(shape[:-1]))
    ones = lax.full((rows, 1), 1, vector.dtype)
    outer = lax.dot_general(
        ones,
        lax.reshape(vector, (1, shape[-1])),
        (((1,), (0,)), ((), ())),
        precision=Precision.HIGHEST,
    )
    return lax.reshape(outer, shape)


@custom_jvp
def _add_per_column(x: Any, vector: Any) -> Any:
    return lax.add(x, broadcast_to(vector, x.shape))


@_add_per_column.defjvp
def _add_per_column_jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
    (x, vector), (x_dot, vector_dot) = primals, tangents
    return _add_per_column(x, vector), lax.add(x_dot, _spread_rows(vector_dot, x.shape))


@custom_jvp
def _multiply_per_column(x: Any, vector: Any) -> Any:
    return lax.mul(x, broadcast_to(vector, x.shape))


@_multiply_per_column.defjvp
def _multiply_per_column_jvp(
    primals: tuple[Any, Any], tangents: tuple[Any, Any]
) -> tuple[Any, Any]:
    (x, vector), (x_dot, vector_dot) = primals, tangents
    out_dot = lax.add(
        lax.mul(x_dot, broadcast_to(vector, x.shape)), lax.mul(x, _spread_rows(vector_dot, x.shape))
    )
    return _multiply_per_column(x, vector), out_dot


def _per_column(x: Any, vector: Any) -> bool:
    """``vector`` holds one float32 value per column of ``x``, which has more than one row."""
    return (
        vector.ndim == 1
        and x.ndim >= 2
        and x.shape[-1] == vector.shape[0]
        and x.dtype == vector.dtype == np.float32
        and int(np.prod(x.shape[:-1])) > 1
    )


def add(a: Any, b: Any) -> Any:
    """``a + b`` (one dtype, NumPy broadcasting); a bias's gradient as a matrix-vector product."""
    if _per_column(a, b):
        return _add_per_column(a, b)
    if _per_column(b, a):
        return _add_per_column(b, a)
    return binary(lax.add, a, b)


def multiply(a: Any, b: Any) -> Any:
    """``a * b`` (one dtype, NumPy broadcasting); a per-column scale's gradient as a
    matrix-vector product."""
    if _per_column(a, b):
        return _multiply_per_column(a, b)
    if _per_column(b, a):
        return _multiply_per_column(b, a)
    return binary(lax.mul, a, b)

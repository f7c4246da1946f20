"""Factories: zeros, ones, full, arange, eye, linspace and the ``*_like`` / ``new_*`` forms.

Placement arguments (``device``, ``layout``, ``pin_memory``, ``memory_format``) have no meaning for
a JAX value and are accepted and ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from torch2jax.eager_ops import is_traced
from torch2jax.ops._common import aten, default_complex, default_float, jax_dtype, to_jax_dtype
from torch2jax.registry import implements


def _fill_dtype(value: Any) -> Any:
    """The dtype ``torch.full`` infers from its fill value."""
    if isinstance(value, bool):
        return jnp.bool_
    if isinstance(value, int):
        return to_jax_dtype(torch.int64)
    if isinstance(value, complex):
        return default_complex()
    if hasattr(value, "dtype"):
        return value.dtype
    return default_float()


def _shape(size: Sequence[int] | int) -> tuple[int, ...]:
    return (int(size),) if isinstance(size, int) else tuple(int(s) for s in size)


@implements(aten.zeros)
def zeros(size: Sequence[int], *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.zeros(_shape(size), jax_dtype(dtype, default_float()))


@implements(aten.ones)
def ones(size: Sequence[int], *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.ones(_shape(size), jax_dtype(dtype, default_float()))


@implements(aten.empty, aten.empty_permuted)
def empty(size: Sequence[int], *args: Any, dtype: Any = None, **_placement: Any) -> Any:
    # PyTorch leaves the contents undefined; zeros are a valid choice and keep runs deterministic.
    # One broadcast of a literal: cheaper to trace than jnp.zeros (PyTorch's batch norm makes an
    # empty tensor on every call).
    zero = np.zeros((), jax_dtype(dtype, default_float()))
    return jax.lax.broadcast_in_dim(zero, _shape(size), ())


@implements(aten.empty_strided)
def empty_strided(
    size: Sequence[int], stride: Sequence[int], *, dtype: Any = None, **_placement: Any
) -> Any:
    return jnp.zeros(_shape(size), jax_dtype(dtype, default_float()))


@implements(aten.full)
def full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.full(_shape(size), fill_value, jax_dtype(dtype, _fill_dtype(fill_value)))


@implements(aten.zeros_like)
def zeros_like(x: Any, *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.zeros(x.shape, jax_dtype(dtype, x.dtype))


@implements(aten.ones_like)
def ones_like(x: Any, *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.ones(x.shape, jax_dtype(dtype, x.dtype))


@implements(aten.empty_like)
def empty_like(x: Any, *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.zeros(x.shape, jax_dtype(dtype, x.dtype))


@implements(aten.full_like)
def full_like(x: Any, fill_value: Any, *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.full(x.shape, fill_value, jax_dtype(dtype, x.dtype))


@implements(aten.new_zeros)
def new_zeros(x: Any, size: Sequence[int], *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.zeros(_shape(size), jax_dtype(dtype, x.dtype))


@implements(aten.new_ones)
def new_ones(x: Any, size: Sequence[int], *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.ones(_shape(size), jax_dtype(dtype, x.dtype))


@implements(aten.new_empty)
def new_empty(x: Any, size: Sequence[int], *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.zeros(_shape(size), jax_dtype(dtype, x.dtype))


@implements(aten.new_empty_strided)
def new_empty_strided(
    x: Any, size: Sequence[int], stride: Sequence[int], *, dtype: Any = None, **_placement: Any
) -> Any:
    return jnp.zeros(_shape(size), jax_dtype(dtype, x.dtype))


@implements(aten.new_full)
def new_full(
    x: Any, size: Sequence[int], fill_value: Any, *, dtype: Any = None, **_placement: Any
) -> Any:
    return jnp.full(_shape(size), fill_value, jax_dtype(dtype, x.dtype))


@implements(aten.fill)
def fill(x: Any, value: Any) -> Any:
    return jnp.full(x.shape, value, x.dtype)


@implements(aten.zero)
def zero(x: Any) -> Any:
    return jnp.zeros_like(x)


def _as_number(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x


@implements(aten.arange)
def arange(
    start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, **_placement: Any
) -> Any:
    if end is None:
        start, end = 0, start
    start, end, step = _as_number(start), _as_number(end), _as_number(step)
    if dtype is None:
        integral = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end, step))
        dtype = torch.int64 if integral else torch.get_default_dtype()
    target = to_jax_dtype(dtype)
    length = max(0, math.ceil((end - start) / step))
    if jnp.issubdtype(target, jnp.integer):
        return (start + step * jnp.arange(length, dtype=target)).astype(target)
    # PyTorch computes start + i * step in double precision, then rounds.
    return jnp.asarray(start + step * np.arange(length, dtype=np.float64), target)


@implements(aten.eye)
def eye(n: int, m: Any = None, *, dtype: Any = None, **_placement: Any) -> Any:
    if not isinstance(m, int):
        m = n
    return jnp.eye(n, m, dtype=jax_dtype(dtype, default_float()))


@implements(aten.linspace)
def linspace(start: Any, end: Any, steps: int, *, dtype: Any = None, **_placement: Any) -> Any:
    traced = any(is_traced(v) for v in (start, end))
    # Concrete bounds compute in float64 NumPy (exact); traced tensor bounds (the Tensor
    # overloads under jit) in JAX.
    xp = jnp if traced else np
    if not traced:
        start, end = _as_number(start), _as_number(end)
    else:
        start, end = jnp.asarray(start).reshape(()), jnp.asarray(end).reshape(())
    target = jax_dtype(dtype, default_float())
    if steps == 1:
        return jnp.full((1,), start, target)
    step = (end - start) / (steps - 1)
    # PyTorch fills the first half from start and the second half from end.
    positions = xp.arange(steps, dtype=xp.float64 if not traced else None)
    values = xp.where(
        positions < steps // 2, start + step * positions, end - step * (steps - 1 - positions)
    )
    return jnp.asarray(values, target)


@implements(aten.logspace)
def logspace(
    start: Any, end: Any, steps: int, base: float = 10.0, *, dtype: Any = None, **_placement: Any
) -> Any:
    exponents = linspace(start, end, steps, dtype=torch.float64)
    target = jax_dtype(dtype, default_float())
    return jnp.power(base, exponents).astype(target)

"""Helpers shared by the lowerings: PyTorch's type promotion, dtypes, precision, axes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from torch2jax.convert import to_jax_dtype, to_torch_dtype

aten = torch.ops.aten

_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2, "V": 2, "c": 3}  # "V": bfloat16 and float8


def is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, jax.core.Tracer))


def category(dtype: Any) -> int:
    """0 bool, 1 integer, 2 floating, 3 complex."""
    return _CATEGORY[np.dtype(dtype).kind]


def is_floating(x: Any) -> bool:
    return category(jnp.result_type(x)) >= 2


def default_float() -> np.dtype:
    return to_jax_dtype(torch.get_default_dtype())


def default_complex() -> np.dtype:
    return to_jax_dtype(
        torch.complex128 if torch.get_default_dtype() == torch.float64 else torch.complex64
    )


def jax_dtype(dtype: torch.dtype | None, default: Any = None) -> Any:
    """A PyTorch ``dtype=`` argument as a JAX dtype (``default`` where it is None)."""
    return default if dtype is None else to_jax_dtype(dtype)


def _scalar_dtype(x: Any) -> torch.dtype:
    if isinstance(x, bool):
        return torch.bool
    if isinstance(x, int):
        return torch.int64
    if isinstance(x, float):
        return torch.get_default_dtype()
    if isinstance(x, complex):
        return torch.complex128 if torch.get_default_dtype() == torch.float64 else torch.complex64
    raise TypeError(f"torch2jax: {type(x).__name__} is not a tensor or number")


def _combine_categories(
    higher: torch.dtype | None, lower: torch.dtype | None
) -> torch.dtype | None:
    """PyTorch's rule for merging the dtypes of dimensioned tensors, 0-d tensors and scalars."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.is_complex:
        return higher
    if lower.is_complex:
        return higher.to_complex() if higher.is_floating_point else lower
    if higher.is_floating_point:
        return higher
    if higher == torch.bool or lower.is_floating_point:
        return torch.promote_types(higher, lower)
    return higher


@functools.lru_cache(maxsize=4096)
def _promote(operands: tuple[tuple[str, torch.dtype], ...]) -> np.dtype:
    groups: dict[str, torch.dtype | None] = {"dim": None, "zero": None, "scalar": None}
    for kind, dtype in operands:
        current = groups[kind]
        groups[kind] = dtype if current is None else torch.promote_types(current, dtype)
    result = _combine_categories(
        groups["dim"], _combine_categories(groups["zero"], groups["scalar"])
    )
    return to_jax_dtype(result)


def result_type(*operands: Any) -> np.dtype:
    """PyTorch's result dtype for tensors (JAX arrays) and Python scalars, as a JAX dtype."""
    key = []
    for x in operands:
        if x is None:
            continue
        if is_array(x) or isinstance(x, np.ndarray):
            key.append(("dim" if x.ndim else "zero", to_torch_dtype(x.dtype)))
        else:
            key.append(("scalar", _scalar_dtype(x)))
    return _promote(tuple(key))


def to_float(dtype: Any) -> np.dtype:
    """INT_TO_FLOAT promotion: integers and bool compute in the default float dtype."""
    return np.dtype(dtype) if category(dtype) >= 2 else default_float()


def real_dtype(dtype: Any) -> np.dtype:
    """The real counterpart of a complex dtype (COMPLEX_TO_FLOAT)."""
    dtype = np.dtype(dtype)
    return np.dtype(jnp.finfo(dtype).dtype) if dtype.kind == "c" else dtype


def cast(x: Any, dtype: Any) -> Any:
    """``x`` (array or Python scalar) as an array of ``dtype``."""
    if is_array(x) and x.dtype == dtype:
        return x
    return jnp.asarray(x, dtype)


def promote(*operands: Any) -> tuple[np.dtype, list[Any]]:
    dtype = result_type(*operands)
    return dtype, [cast(x, dtype) for x in operands]


def precision() -> jax.lax.Precision:
    """Float32 matmul/convolution precision following ``torch.get_float32_matmul_precision()``."""
    return {
        "highest": jax.lax.Precision.HIGHEST,
        "high": jax.lax.Precision.HIGH,
        "medium": jax.lax.Precision.DEFAULT,
    }[torch.get_float32_matmul_precision()]


def rounded_apart(product: Any) -> Any:
    """``product``, kept a separately rounded value: PyTorch's small-matrix kernels multiply,
    round, then add, while under jit XLA would contract a multiply feeding an add into a fused
    multiply-add (rounded once). A select on the product's own NaNs (a no-op) sits between."""
    return jnp.where(jnp.isnan(product), jnp.nan, product)


def canonical_dim(dim: int, ndim: int) -> int:
    """A possibly negative dimension as an index; 0-d tensors accept dim 0 and -1."""
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-size}, {size - 1}], but got {dim})"
        )
    return dim % size


def canonical_dims(dims: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Reduction dimensions; None or an empty list means all of them, as in PyTorch."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int):
        dims = [dims]
    if len(dims) == 0:
        return tuple(range(ndim))
    if ndim == 0:
        for d in dims:
            canonical_dim(d, 0)
        return ()
    return tuple(sorted({canonical_dim(d, ndim) for d in dims}))

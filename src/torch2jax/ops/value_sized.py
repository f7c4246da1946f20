"""Operations whose output sizes come from tensor values: ``tensor_split`` with a tensor of split
points and ``one_hot`` without ``num_classes``.

PyTorch's C++ kernels of these read the values straight from memory, which a Torchish does not
have, so they are lowered at the API level. The values are read when they are concrete (eagerly,
or from a tensor captured as a constant); under a transformation the output sizes would depend on
traced values, which raises ``DataDependentShapeError`` with advice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import torch

from torch2jax.eager_ops import is_traced
from torch2jax.errors import DataDependentShapeError
from torch2jax.ops._common import canonical_dim, is_array
from torch2jax.ops.reductions import index_dtype
from torch2jax.registry import implements

# --------------------------------------------------------------------------------------------------
# tensor_split


def _split_points(indices_or_sections: Any) -> int | list[int]:
    """An int of sections or a list of split points; a tensor's values are read (0-d: sections)."""
    if not is_array(indices_or_sections):
        return indices_or_sections
    if is_traced(indices_or_sections):
        raise DataDependentShapeError(
            "torch.tensor_split",
            "The split points are a traced tensor, so the pieces' sizes depend on its values: "
            "pass them as a Python int or list (or a tensor created inside the function).",
        )
    if indices_or_sections.ndim > 1 or jnp.issubdtype(indices_or_sections.dtype, jnp.floating):
        raise RuntimeError(
            "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
            "one-dimensional tensor of integers, but got a tensor with "
            f"{indices_or_sections.ndim} dims"
        )
    values = np.asarray(indices_or_sections).tolist()
    return values if isinstance(values, list) else int(values)


def _section_bounds(size: int, sections: int) -> list[int]:
    """PyTorch's split points of ``size`` into ``sections``: the first ``size % sections``
    pieces are one longer."""
    if sections <= 0:
        raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
    base, longer = divmod(size, sections)
    return [i * base + min(i, longer) for i in range(1, sections)]


@implements(torch.tensor_split, torch.Tensor.tensor_split)
def tensor_split(
    x: Any,
    indices_or_sections: Any = None,
    dim: int = 0,
    *,
    sections: int | None = None,
    indices: Sequence[int] | None = None,
    tensor_indices_or_sections: Any = None,
) -> tuple[Any, ...]:
    given = next(
        v
        for v in (indices_or_sections, sections, indices, tensor_indices_or_sections)
        if v is not None
    )
    dim = canonical_dim(dim, x.ndim)
    points = _split_points(given)
    if isinstance(points, int):
        points = _section_bounds(x.shape[dim], points)
    bounds = [0, *points, x.shape[dim]]
    pieces = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        index = [slice(None)] * x.ndim
        index[dim] = slice(start, stop)
        pieces.append(x[tuple(index)])
    return tuple(pieces)


# --------------------------------------------------------------------------------------------------
# one_hot


def _is_index_dtype(dtype: Any) -> bool:
    # int64 indices arrive as int32 where jax_enable_x64 is off.
    return np.dtype(dtype) == np.dtype(index_dtype())


@implements(torch.nn.functional.one_hot)
def one_hot(x: Any, num_classes: int = -1) -> Any:
    if not _is_index_dtype(x.dtype):
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if is_traced(x):
            raise DataDependentShapeError(
                "torch.nn.functional.one_hot",
                "Without num_classes the number of classes is max(x) + 1, a value of the "
                "input: pass num_classes= (torch.nn.functional.one_hot(x, num_classes=N)).",
            )
        if x.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(jnp.max(x)) + 1
    if not is_traced(x) and x.size:
        if int(jnp.min(x)) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if int(jnp.max(x)) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    classes = jnp.arange(num_classes, dtype=x.dtype)
    return (x[..., None] == classes).astype(index_dtype())

"""Shapes, views and their scatter inverses, joining and splitting.

Functionalization hands views over as their ``*_copy`` forms and writes through views with the
``*_scatter`` operations; decompositions may still call the plain view names. Both mean the same
thing on immutable JAX arrays, so each lowering registers both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import torch

from torch2jax import registry
from torch2jax.ops import _lax
from torch2jax.ops._common import aten, canonical_dim, cast, result_type
from torch2jax.registry import implements
from torch2jax.torchish import _PYTHON_FACING, call_jax, jax_value


def _infer_size(shape: Sequence[int], numel: int) -> tuple[int, ...]:
    shape = [int(s) for s in shape]
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        shape[shape.index(-1)] = numel // known if known else 0
    return tuple(shape)


@implements(
    aten.view,
    aten.view_copy,
    aten._unsafe_view,
    aten.reshape,
    aten._reshape_alias,
    aten._reshape_alias_copy,
)
def view(x: Any, size: Sequence[int], stride: Any = None) -> Any:
    if not isinstance(size, (list, tuple)):  # view.dtype: a bit-level reinterpretation
        from torch2jax.ops._common import jax_dtype

        return jax.lax.bitcast_convert_type(x, jax_dtype(size))
    return _lax.reshape(x, _infer_size(size, x.size))


@implements(aten.permute, aten.permute_copy)
def permute(x: Any, dims: Sequence[int]) -> Any:
    if not x.ndim:
        return x
    permutation = [canonical_dim(d, x.ndim) for d in dims]
    if sorted(permutation) != list(range(x.ndim)):
        return jnp.transpose(x, permutation)  # its error names the bad permutation
    return _lax.transpose(x, permutation)


@implements(aten.transpose, aten.transpose_copy)
def transpose(x: Any, dim0: int, dim1: int) -> Any:
    if x.ndim < 2:
        return x
    return _lax.swap(x, canonical_dim(dim0, x.ndim), canonical_dim(dim1, x.ndim))


@implements(aten.t, aten.t_copy)
def t(x: Any) -> Any:
    return jax.lax.transpose(x, (1, 0)) if x.ndim == 2 else x


@implements(aten.expand, aten.expand_copy)
def expand(x: Any, size: Sequence[int], *, implicit: bool = False) -> Any:
    lead = len(size) - x.ndim
    shape = tuple(
        x.shape[i - lead] if s == -1 and i >= lead else int(s) for i, s in enumerate(size)
    )
    if len(shape) < x.ndim or any(
        d not in (1, s) for d, s in zip(x.shape, shape[lead:], strict=True)
    ):
        return jnp.broadcast_to(x, shape)  # its error says why
    return _lax.broadcast_to(x, shape)


@implements(aten.unsqueeze, aten.unsqueeze_copy)
def unsqueeze(x: Any, dim: int) -> Any:
    return jax.lax.expand_dims(x, (canonical_dim(dim, x.ndim + 1),))


@implements(aten.squeeze, aten.squeeze_copy)
def squeeze(x: Any, dim: Any = None) -> Any:
    if x.ndim == 0:
        return x
    if dim is None:
        dims = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        dims = [dim] if isinstance(dim, int) else list(dim)
        dims = [canonical_dim(d, x.ndim) for d in dims]
        dims = [d for d in dims if x.shape[d] == 1]
    return jax.lax.squeeze(x, tuple(dims)) if dims else x


@implements(aten.select, aten.select_copy)
def select(x: Any, dim: int, index: int) -> Any:
    dim = canonical_dim(dim, x.ndim)
    size = x.shape[dim]
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {x.shape} at dimension {dim}"
        )
    return jax.lax.index_in_dim(x, index % size, axis=dim, keepdims=False)


def _slice_bounds(size: int, start: Any, end: Any, step: int) -> slice:
    return slice(*slice(start, end, step).indices(size))


@implements(aten.slice, aten.slice_copy)
def slice_(x: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> Any:
    dim = canonical_dim(dim, x.ndim)
    bounds = _slice_bounds(x.shape[dim], start, end, step)
    if bounds.start >= bounds.stop:
        return jax.lax.slice_in_dim(x, 0, 0, axis=dim)
    return jax.lax.slice_in_dim(x, bounds.start, bounds.stop, bounds.step, axis=dim)


@implements(aten.narrow, aten.narrow_copy)
def narrow(x: Any, dim: int, start: int, length: int) -> Any:
    dim = canonical_dim(dim, x.ndim)
    start = start % x.shape[dim] if start < 0 else start
    return jax.lax.slice_in_dim(x, start, start + length, axis=dim)


def _narrow_at_traced_start(x: Any, dim: int, start: Any, length: int) -> Any:
    """``x.narrow(dim, start, length)`` with ``start`` a traced 0-d tensor: a dynamic slice.

    PyTorch wraps a negative start once; it raises where start + length passes the end, which a
    traced start cannot check: ``lax.dynamic_slice`` clamps such a start instead."""
    dim = canonical_dim(dim, x.ndim)
    size = x.shape[dim]
    if not 0 <= length <= size:
        raise RuntimeError(f"narrow(): length {length} out of range for dimension size {size}")
    start = jnp.where(start < 0, start + size, start)
    return jax.lax.dynamic_slice_in_dim(x, start, length, axis=dim)


def narrow_api(x: torch.Tensor, dim: int, start: Any, length: int) -> torch.Tensor:
    """``torch.narrow``/``Tensor.narrow`` at the PyTorch API level.

    A tensor ``start`` decomposes to ``start.item()``, which a traced start (under ``jit``) cannot
    give: that case becomes a dynamic slice (a copy, not a view). Every other call keeps
    PyTorch's own path, a view of ``x``."""
    if isinstance(start, torch.Tensor):
        if start.ndim != 0 or start.is_floating_point() or start.is_complex():
            raise RuntimeError("start must be an 0-dim integral Tensor.")
        if x.ndim == 0:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        if isinstance(jax_value(start), jax.core.Tracer):
            return call_jax(_narrow_at_traced_start, (x, dim, start, length), {})
    return torch.narrow(x, dim, start, length)


_PYTHON_FACING[torch.narrow] = narrow_api
_PYTHON_FACING[torch.Tensor.narrow] = narrow_api


@implements(aten.diagonal, aten.diagonal_copy)
def diagonal(x: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
    return jnp.diagonal(x, offset, canonical_dim(dim1, x.ndim), canonical_dim(dim2, x.ndim))


@implements(aten.unfold, aten.unfold_copy)
def unfold(x: Any, dimension: int, size: int, step: int) -> Any:
    if x.ndim == 0:
        return jnp.reshape(x, (1,))
    dim = canonical_dim(dimension, x.ndim)
    count = (x.shape[dim] - size) // step + 1
    windows = jnp.arange(count)[:, None] * step + jnp.arange(size)[None, :]
    taken = jnp.take(x, windows.reshape(-1), axis=dim)
    taken = taken.reshape(x.shape[:dim] + (count, size) + x.shape[dim + 1 :])
    return jnp.moveaxis(taken, dim + 1, -1)


def _split_points(sizes: Sequence[int]) -> list[int]:
    points, total = [], 0
    for s in sizes[:-1]:
        total += s
        points.append(total)
    return points


@implements(aten.split_with_sizes, aten.split_with_sizes_copy)
def split_with_sizes(x: Any, split_sizes: Sequence[int], dim: int = 0) -> list[Any]:
    dim = canonical_dim(dim, x.ndim)
    return jnp.split(x, _split_points(split_sizes), axis=dim)


@implements(aten.split, aten.split_copy)
def split(x: Any, split_size: Any, dim: int = 0) -> list[Any]:
    if isinstance(split_size, (list, tuple)):
        return split_with_sizes(x, split_size, dim)
    length = x.shape[canonical_dim(dim, x.ndim)]
    if split_size == 0:
        return [x]
    sizes = [split_size] * (length // split_size)
    if length % split_size:
        sizes.append(length % split_size)
    return split_with_sizes(x, sizes or [0], dim)


@implements(aten.unbind, aten.unbind_copy)
def unbind(x: Any, dim: int = 0) -> list[Any]:
    dim = canonical_dim(dim, x.ndim)
    return [jax.lax.index_in_dim(x, i, axis=dim, keepdims=False) for i in range(x.shape[dim])]


def _strided_positions(size: Sequence[int], stride: Sequence[int], offset: int) -> Any:
    positions = jnp.asarray(offset)
    for extent, step in zip(size, stride, strict=True):
        positions = positions[..., None] + jnp.arange(extent) * step
    return positions


@implements(aten.as_strided, aten.as_strided_copy)
def as_strided(
    x: Any, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None
) -> Any:
    # Torchish values are contiguous, so the base's flat order is its storage order.
    _check_within_storage(x, size, stride, storage_offset or 0)
    return jnp.ravel(x)[_strided_positions(size, stride, storage_offset or 0)]


def _check_within_storage(x: Any, size: Sequence[int], stride: Sequence[int], offset: int) -> None:
    """PyTorch's bounds check of as_strided, against the tensor's own elements.

    A JAX array has no storage beyond its elements: a PyTorch view (``base[5:15]``) converts to
    its own elements only, so as_strided cannot reach the rest of the view's base as it can in
    PyTorch. Indexing past the end would clamp silently, hence the error."""
    if any(extent == 0 for extent in size):
        return
    last = offset + sum((extent - 1) * step for extent, step in zip(size, stride, strict=True))
    if offset < 0 or last >= x.size:
        raise RuntimeError(
            f"torch2jax: as_strided with sizes {list(size)}, strides {list(stride)} and storage "
            f"offset {offset} reads element {last} of a storage of {x.size} elements. A "
            "converted tensor's storage is its own elements (JAX arrays share no storage with a "
            "base tensor), so as_strided cannot reach outside them."
        )


@implements(aten.as_strided_scatter)
def as_strided_scatter(
    x: Any, src: Any, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None
) -> Any:
    positions = _strided_positions(size, stride, storage_offset or 0)
    return jnp.ravel(x).at[positions].set(src.astype(x.dtype)).reshape(x.shape)


@implements(aten.select_scatter)
def select_scatter(x: Any, src: Any, dim: int, index: int) -> Any:
    dim = canonical_dim(dim, x.ndim)
    index = index % x.shape[dim]
    return jax.lax.dynamic_update_index_in_dim(x, src.astype(x.dtype), index, axis=dim)


@implements(aten.slice_scatter)
def slice_scatter(
    x: Any, src: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1
) -> Any:
    dim = canonical_dim(dim, x.ndim)
    bounds = _slice_bounds(x.shape[dim], start, end, step)
    if bounds.start >= bounds.stop:
        return x
    if bounds.step == 1:
        return jax.lax.dynamic_update_slice_in_dim(x, src.astype(x.dtype), bounds.start, axis=dim)
    index = (slice(None),) * dim + (bounds,)
    return x.at[index].set(src.astype(x.dtype))


@implements(aten.diagonal_scatter)
def diagonal_scatter(x: Any, src: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
    dim1, dim2 = canonical_dim(dim1, x.ndim), canonical_dim(dim2, x.ndim)
    moved = jnp.moveaxis(x, (dim1, dim2), (-2, -1))
    rows, cols = moved.shape[-2], moved.shape[-1]
    length = max(0, min(rows + min(offset, 0), cols - max(offset, 0)))
    i = jnp.arange(length) - min(offset, 0)
    j = jnp.arange(length) + max(offset, 0)
    moved = moved.at[..., i, j].set(src.astype(x.dtype))
    return jnp.moveaxis(moved, (-2, -1), (dim1, dim2))


# --------------------------------------------------------------------------------------------------
# Joining, repeating, padding


@implements(aten.cat, aten.concat, aten.concatenate)
def cat(tensors: Sequence[Any], dim: int = 0) -> Any:
    dtype = result_type(*tensors)
    # PyTorch skips legacy empty 1-D tensors whatever the other shapes are.
    kept = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or list(tensors[:1])
    dim = canonical_dim(dim, kept[0].ndim)
    kept = [_lax.constant(t, dtype) for t in kept]
    if len({t.ndim for t in kept}) == 1 and kept[0].ndim:
        return jax.lax.concatenate(kept, dim)
    return jnp.concatenate(kept, axis=dim)  # its error says why


@implements(aten.stack)
def stack(tensors: Sequence[Any], dim: int = 0) -> Any:
    dtype = result_type(*tensors)
    return jnp.stack(
        [cast(t, dtype) for t in tensors], axis=canonical_dim(dim, tensors[0].ndim + 1)
    )


@implements(aten.flip)
def flip(x: Any, dims: Sequence[int]) -> Any:
    return jnp.flip(x, axis=tuple(canonical_dim(d, x.ndim) for d in dims)) if x.ndim else x


@implements(aten.roll)
def roll(x: Any, shifts: Sequence[int], dims: Sequence[int] = ()) -> Any:
    if not dims:
        return jnp.roll(x.reshape(-1), shifts[0]).reshape(x.shape)
    return jnp.roll(x, tuple(shifts), axis=tuple(canonical_dim(d, x.ndim) for d in dims))


@implements(aten.repeat)
def repeat(x: Any, repeats: Sequence[int]) -> Any:
    x = jnp.reshape(x, (1,) * (len(repeats) - x.ndim) + x.shape)
    return jnp.tile(x, tuple(repeats))


@implements(aten.constant_pad_nd)
def constant_pad_nd(x: Any, pad: Sequence[int], value: Any = 0) -> Any:
    config = [(0, 0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        config[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1], 0)
    return jax.lax.pad(x, jnp.asarray(value, x.dtype), config)


@implements(aten.tril)
def tril(x: Any, diagonal: int = 0) -> Any:
    return jnp.tril(x, diagonal)


@implements(aten.triu)
def triu(x: Any, diagonal: int = 0) -> Any:
    return jnp.triu(x, diagonal)


@implements(aten.movedim)
def movedim(x: Any, source: Any, destination: Any) -> Any:
    return jnp.moveaxis(x, source, destination)


# --------------------------------------------------------------------------------------------------
# Writing a changed view back into its base (see registry.view_inverses)


def _same_elements(base: Any, changed: Any, *args: Any, **kwargs: Any) -> Any:
    if args and not isinstance(args[0], (list, tuple)):  # view.dtype, same item size
        return jax.lax.bitcast_convert_type(changed, base.dtype)
    return jnp.reshape(changed, base.shape).astype(base.dtype)


def _permuted_back(base: Any, changed: Any, dims: Sequence[int]) -> Any:
    order = [canonical_dim(d, base.ndim) for d in dims]
    return jnp.transpose(changed, [order.index(i) for i in range(len(order))]) if order else changed


def _narrowed_back(base: Any, changed: Any, dim: int, start: int, length: int) -> Any:
    dim = canonical_dim(dim, base.ndim)
    start = start % base.shape[dim] if start < 0 else start
    return slice_scatter(base, changed, dim, start, start + length)


registry.view_inverses.update(
    {
        aten.view: _same_elements,
        aten._unsafe_view: _same_elements,
        aten._reshape_alias: _same_elements,
        aten.alias: _same_elements,
        aten.squeeze: _same_elements,
        aten.unsqueeze: _same_elements,
        aten.permute: _permuted_back,
        aten.transpose: lambda base, changed, dim0, dim1: transpose(changed, dim0, dim1),
        aten.t: lambda base, changed: t(changed),
        aten.select: select_scatter,
        aten.slice: slice_scatter,
        aten.narrow: _narrowed_back,
        aten.diagonal: diagonal_scatter,
        aten.as_strided: as_strided_scatter,
    }
)

"""Segment reductions (``torch.segment_reduce``): contiguous runs along one axis, given by
``lengths`` or ``offsets``, reduced with JAX's segment operations.

Gradients are JAX's: through max/min they are shared evenly among the elements that tie for the
extremum, as PyTorch's backward does for positive incoming gradients (PyTorch leaves negative
ones undivided, which is not a linear map and has no JAX counterpart).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from torch2jax.eager_ops import is_traced
from torch2jax.ops._common import aten, canonical_dim
from torch2jax.registry import implements


def _segment_ids(offsets: Any, length: int) -> Any:
    """(B, length) segment of each position along the axis, per leading row B; positions outside
    every segment get -1. ``offsets`` is (B, S + 1)."""
    positions = jnp.arange(length, dtype=offsets.dtype)
    ids = jax.vmap(lambda row: jnp.searchsorted(row, positions, side="right"))(offsets) - 1
    inside = (positions >= offsets[:, :1]) & (positions < offsets[:, -1:])
    return jnp.where(inside, ids, -1)


def _check_lengths(lengths: Any, length: int, unsafe: bool) -> None:
    if unsafe or is_traced(lengths):
        return  # under a transformation the values are unknown; PyTorch's unsafe skips it too
    lengths = np.asarray(lengths)
    if (lengths < 0).any():
        raise RuntimeError("lengths contains negative value!")
    if lengths.size and (lengths.sum(axis=-1) != length).any():
        raise RuntimeError(
            "Expected all rows of lengths along axis to sum to data.size(lengths.dim()-1) "
            "when !unsafe."
        )


def _reduce_segments(data: Any, reduce: str, offsets: Any, axis: int, initial: float | None) -> Any:
    """``data`` reduced over the segments that ``offsets`` ((leading..., S + 1)) delimit."""
    leading = data.shape[:axis]
    batch = int(np.prod(leading, dtype=np.int64))
    length, trailing = data.shape[axis], data.shape[axis + 1 :]
    segments = offsets.shape[-1] - 1
    offsets = offsets.reshape(batch, segments + 1)
    ids = _segment_ids(offsets, length)
    # One flat segment id per (row, position); positions outside every segment are dropped.
    flat_ids = jnp.where(ids >= 0, ids + segments * jnp.arange(batch)[:, None], batch * segments)
    flat_ids = flat_ids.reshape(-1)
    values = data.reshape((batch * length, *trailing))
    count = batch * segments
    lengths = jnp.diff(offsets, axis=1).reshape(count).astype(data.dtype)
    lengths = lengths.reshape((count,) + (1,) * len(trailing))
    if reduce in ("sum", "mean"):
        out = jax.ops.segment_sum(values, flat_ids, count)
        if initial is not None:
            out = out + initial
        if reduce == "mean":
            empty_value = jnp.nan if initial is None else initial
            out = jnp.where(lengths > 0, out / jnp.maximum(lengths, 1), empty_value)
    elif reduce in ("max", "min"):
        segment_op = jax.ops.segment_max if reduce == "max" else jax.ops.segment_min
        out = segment_op(values, flat_ids, count)
        if initial is not None:
            out = (jnp.maximum if reduce == "max" else jnp.minimum)(out, initial)
    elif reduce == "prod":
        out = _segment_prod(values, flat_ids, count)
        if initial is not None:
            out = out * initial
    else:
        raise RuntimeError(
            f"reduce argument must be either sum, prod, max, min or mean, got {reduce}"
        )
    return out.reshape((*leading, segments, *trailing)).astype(data.dtype)


def _segment_prod(values: Any, flat_ids: Any, count: int) -> Any:
    """Products over segments as a masked product over a (segments, positions) membership:
    JAX's scatter-multiply has no gradient where segments hold several elements."""
    member = flat_ids[None, :] == jnp.arange(count)[:, None]
    member = member.reshape(member.shape + (1,) * (values.ndim - 1))
    return jnp.prod(jnp.where(member, values[None], 1), axis=1)


@implements(aten.segment_reduce)
def segment_reduce(
    data: Any,
    reduce: str,
    *,
    lengths: Any = None,
    indices: Any = None,
    offsets: Any = None,
    axis: int = 0,
    unsafe: bool = False,
    initial: float | None = None,
) -> Any:
    if indices is not None:
        raise NotImplementedError("segment_reduce(): indices based reduction is not supported yet.")
    axis = canonical_dim(axis, data.ndim)
    if lengths is not None:
        _check_lengths(lengths, data.shape[axis], unsafe)
        zero = jnp.zeros(lengths.shape[:-1] + (1,), lengths.dtype)
        offsets = jnp.concatenate([zero, jnp.cumsum(lengths, axis=-1)], axis=-1)
    elif offsets is None:
        raise RuntimeError("segment_reduce(): Either lengths or offsets must be defined")
    if offsets.ndim != axis + 1:
        raise RuntimeError(
            "segment_reduce(): Expected lengths/offsets to have dimension axis + 1, "
            f"got {offsets.ndim} for axis {axis}"
        )
    return _reduce_segments(data, reduce, offsets, axis, initial)

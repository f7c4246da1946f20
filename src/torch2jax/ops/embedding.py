"""Embedding lookups: ``embedding`` and ``embedding_bag`` (sums, means or maxima of embedding
rows over bags of indices).

The bags are contiguous runs of ``indices`` starting at ``offsets``; the reductions are JAX
segment operations, so gradients (to the weight and to ``per_sample_weights``) are JAX's, with
PyTorch's two adjustments of the weight's gradient: none for the ``padding_idx`` row, and with
``scale_grad_by_freq`` each row's divided by how often the indices name it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from torch2jax.ops._common import aten
from torch2jax.ops.reductions import index_dtype
from torch2jax.registry import implements

_SUM, _MEAN, _MAX = 0, 1, 2


@jax.custom_jvp
def _scale_tangent(x: Any, scale: Any) -> Any:
    """``x`` unchanged, with its tangent (and so its gradient) multiplied by ``scale``."""
    return x


@_scale_tangent.defjvp
def _scale_tangent_jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    x, scale = primals
    return x, tangents[0] * scale


def rows_of(weight: Any, indices: Any, padding_idx: int, scale_grad_by_freq: bool) -> Any:
    """``weight[indices]`` whose weight gradient follows PyTorch's embedding backward."""
    num_rows = weight.shape[0]
    if padding_idx < 0 and not scale_grad_by_freq:
        return jnp.take(weight, indices, axis=0)
    scale = jnp.ones(num_rows, weight.dtype)
    if scale_grad_by_freq:
        counts = jnp.zeros(num_rows, weight.dtype).at[indices.reshape(-1)].add(1)
        scale = scale / jnp.maximum(counts, 1)
    if padding_idx >= 0:
        scale = scale.at[padding_idx].set(0)
    return jnp.take(_scale_tangent(weight, scale[:, None]), indices, axis=0)


@implements(aten.embedding)
def embedding(
    weight: Any,
    indices: Any,
    padding_idx: int = -1,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Any:
    if padding_idx < 0 and padding_idx != -1:
        padding_idx += weight.shape[0]
    return rows_of(weight, indices, padding_idx, scale_grad_by_freq)


def _bag_of_each_index(offsets: Any, num_indices: int, num_bags: int) -> Any:
    """The bag of every position of ``indices``; positions past the last bag get ``num_bags``
    (dropped by the segment reductions)."""
    positions = jnp.arange(num_indices, dtype=offsets.dtype)
    bags = jnp.searchsorted(offsets[:num_bags], positions, side="right") - 1
    end = offsets[num_bags] if offsets.shape[0] > num_bags else num_indices
    return jnp.where((positions < end) & (bags >= 0), bags, num_bags)


def _max_rows(rows: Any, bags: Any, valid: Any, indices: Any, num_bags: int) -> tuple[Any, Any]:
    """Per bag and feature, the largest value and the weight row it came from (the first
    position that attains it); empty bags give 0 and index 0, as in PyTorch."""
    lowest = jnp.asarray(-jnp.inf, rows.dtype)
    masked = jnp.where(valid[:, None], rows, lowest)
    best = jax.ops.segment_max(masked, bags, num_bags)
    positions = jnp.arange(rows.shape[0])[:, None]
    attains = valid[:, None] & (masked == best[jnp.minimum(bags, num_bags - 1)])
    first = jax.ops.segment_min(jnp.where(attains, positions, rows.shape[0]), bags, num_bags)
    nonempty = first < rows.shape[0]
    source = jnp.where(nonempty, indices[jnp.minimum(first, rows.shape[0] - 1)], 0)
    return jnp.where(nonempty, best, 0), source


@implements(aten._embedding_bag, aten._embedding_bag_forward_only)
def embedding_bag(
    weight: Any,
    indices: Any,
    offsets: Any,
    scale_grad_by_freq: bool = False,
    mode: int = _SUM,
    sparse: bool = False,
    per_sample_weights: Any = None,
    include_last_offset: bool = False,
    padding_idx: int = -1,
) -> tuple[Any, Any, Any, Any]:
    """(output, offset2bag, bag_size, max_indices). The last three serve PyTorch's own backward;
    here they take their general form in every mode (PyTorch's CPU sum path leaves them empty)."""
    if per_sample_weights is not None and mode != _SUM:
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode={mode})."
        )
    num_indices = indices.shape[0]
    num_bags = offsets.shape[0] - 1 if include_last_offset else offsets.shape[0]
    bags = _bag_of_each_index(offsets, num_indices, num_bags)
    # padding_idx arrives normalized to [0, num_embeddings), or -1 for none.
    valid = indices != padding_idx if padding_idx >= 0 else jnp.ones(num_indices, bool)
    valid = valid & (bags < num_bags)
    rows = rows_of(weight, indices, -1, scale_grad_by_freq)
    counts = jax.ops.segment_sum(valid.astype(index_dtype()), bags, num_bags)
    if mode == _MAX:
        output, max_indices = _max_rows(rows, bags, valid, indices, num_bags)
    else:
        if per_sample_weights is not None:
            rows = rows * per_sample_weights[:, None].astype(rows.dtype)
        output = jax.ops.segment_sum(jnp.where(valid[:, None], rows, 0), bags, num_bags)
        if mode == _MEAN:
            output = output / jnp.maximum(counts, 1)[:, None].astype(output.dtype)
        max_indices = counts
    offset2bag = jnp.minimum(bags, max(num_bags - 1, 0)).astype(index_dtype())
    return output.astype(weight.dtype), offset2bag, counts, max_indices.astype(index_dtype())

"""Pairwise distances (``cdist``, ``pdist``), cosine similarity, and the trilinear product behind
``F.bilinear``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import torch

from torch2jax.ops._common import aten, canonical_dim, result_type
from torch2jax.ops._gradients import value_with_gradient_of
from torch2jax.registry import implements


def _safe_norm(diff: Any, p: float) -> Any:
    """The p-norm over the last axis, with PyTorch's zero subgradient at zero distance."""
    magnitude = jnp.abs(diff)
    if p == 0:
        return jnp.sum(magnitude != 0, axis=-1).astype(diff.dtype)
    if p == jnp.inf:
        return jnp.max(magnitude, axis=-1, initial=0.0)
    if p == 1:
        return jnp.sum(magnitude, axis=-1)
    total = jnp.sum(magnitude**p, axis=-1)
    positive = total > 0
    return jnp.where(positive, jnp.where(positive, total, 1) ** (1 / p), 0.0)


@implements(aten._cdist_forward)
def cdist(x1: Any, x2: Any, p: float, compute_mode: int | None = None) -> Any:
    return _safe_norm(x1[..., :, None, :] - x2[..., None, :, :], p)


@implements(aten._pdist_forward)
def pdist(x: Any, p: float = 2.0) -> Any:
    n = x.shape[0]
    rows, cols = jnp.triu_indices(n, k=1)
    return _safe_norm(x[rows] - x[cols], p)


@implements(aten._trilinear)
def trilinear(
    i1: Any,
    i2: Any,
    i3: Any,
    expand1: Sequence[int],
    expand2: Sequence[int],
    expand3: Sequence[int],
    sumdim: Sequence[int],
    unroll_dim: int = 1,
) -> Any:
    def expand(x: Any, dims: Sequence[int]) -> Any:
        for d in sorted(dims):
            x = jnp.expand_dims(x, d)
        return x

    product = expand(i1, expand1) * expand(i2, expand2) * expand(i3, expand3)
    return jnp.sum(product, axis=tuple(sumdim)) if sumdim else product


@implements(torch.cosine_similarity)
def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Any:
    """PyTorch's cosine similarity: each input over its norm, the norms clamped to ``eps``.

    PyTorch clamps the norms in place under ``torch.no_grad``, so the gradient flows through
    the unclamped norms; under functionalization that clamp would cut the gradient instead, so
    the function is lowered whole.
    """
    dtype = result_type(x1, x2)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"cosine_similarity: expected a floating common dtype, got {dtype}")
    x1, x2 = jnp.broadcast_arrays(x1.astype(dtype), x2.astype(dtype))
    axis = canonical_dim(dim, x1.ndim) if x1.ndim else None

    def clamped_norm(x: Any) -> Any:
        squares = jnp.sum(x * x, axis=axis, keepdims=True)
        positive = squares > 0
        # Zero subgradient at a zero vector, as linalg.vector_norm's backward gives.
        norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, squares, 1)), 0)
        return value_with_gradient_of(norm, jnp.maximum(norm, eps))

    return jnp.sum((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2)), axis=axis)

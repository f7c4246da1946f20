"""Pairwise distances (``cdist``, ``pdist``) and the trilinear product behind ``F.bilinear``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from torch2jax.ops._common import aten
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

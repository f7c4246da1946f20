"""``torch.cov`` and ``torch.corrcoef``, lowered at the API level.

PyTorch's own implementation reads a value into Python (whether the degrees of freedom are
positive) and so cannot run under ``jit``; here that test selects the result with ``where``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import torch

from torch2jax.ops._common import category, default_float, precision
from torch2jax.registry import implements


def _observations(x: Any) -> Any:
    """Variables in rows and observations in columns, floating (integers become the default
    floating dtype, as in PyTorch)."""
    x = x.reshape(1, -1) if x.ndim < 2 else x
    return x if category(x.dtype) >= 2 else x.astype(default_float())


@implements(torch.cov, torch.Tensor.cov)
def cov(x: Any, *, correction: int = 1, fweights: Any = None, aweights: Any = None) -> Any:
    x = _observations(x)
    observations = x.shape[1]
    weights = None
    if fweights is not None:
        weights = fweights
    if aweights is not None:
        weights = aweights if weights is None else weights * aweights
    if weights is None:
        total = jnp.asarray(observations, x.real.dtype)
        mean = jnp.sum(x, axis=1, keepdims=True) / total
        norm = total - correction
        centered = x - mean
        weighted = centered
    else:
        total = jnp.sum(weights)
        mean = jnp.sum(x * weights, axis=1, keepdims=True) / total
        if aweights is not None and correction != 0:
            norm = total - correction * jnp.sum(weights * aweights) / total
        else:
            norm = total - correction
        centered = x - mean
        weighted = centered * weights
    # PyTorch warns where the degrees of freedom are not positive and divides by zero instead.
    norm = jnp.where(norm <= 0, jnp.zeros_like(norm), norm)
    c = jnp.matmul(centered, jnp.conj(weighted).T, precision=precision())
    # A single variable gives a 0-d result (PyTorch squeezes the 1 x 1 matrix).
    return jnp.squeeze(c / norm.astype(c.dtype))


@implements(torch.corrcoef, torch.Tensor.corrcoef)
def corrcoef(x: Any) -> Any:
    c = cov(x)
    if c.ndim == 0:
        return c / c
    stddev = jnp.sqrt(jnp.real(jnp.diagonal(c)))
    c = c / stddev[:, None] / stddev[None, :]
    if jnp.iscomplexobj(c):
        return jnp.clip(c.real, -1, 1) + 1j * jnp.clip(c.imag, -1, 1)
    return jnp.clip(c, -1, 1)

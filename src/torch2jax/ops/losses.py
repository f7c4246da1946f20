"""Loss functions lowered whole at the PyTorch API level, where PyTorch's Python code reads tensor
values (validation checks that cannot run under ``jit``) or mutates under ``torch.no_grad``."""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import torch

from torch2jax.eager_ops import is_traced
from torch2jax.ops._common import result_type, to_float
from torch2jax.ops._gradients import value_with_gradient_of
from torch2jax.registry import implements


def _homoscedastic_variance(input_shape: tuple[int, ...], var: Any) -> Any:
    """``var`` shaped to broadcast against the input, or PyTorch's error for a wrong size."""
    if var.shape == input_shape:
        return var
    if input_shape[:-1] == var.shape:
        return var[..., None]
    mismatched = [v for i, v in zip(input_shape, var.shape, strict=False) if i != v]
    if len(input_shape) == var.ndim and sum(mismatched) == 1:
        return var
    raise ValueError("var is of incorrect size")


@implements(torch.nn.functional.gaussian_nll_loss)
def gaussian_nll_loss(
    input: Any,
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Any:
    """PyTorch's Gaussian negative log-likelihood, jit-compatible.

    The check that no variance is negative reads values: it runs where they are concrete and is
    skipped under a JAX transformation (there is no way to raise on a traced value). The variance
    is clamped to ``eps`` in value only, as PyTorch's in-place clamp under ``no_grad`` does.
    """
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = jnp.full(jnp.shape(input), var, jnp.result_type(input))
    elif not is_traced(var) and bool(jnp.any(var < 0)):
        raise ValueError("var has negative entry/entries")
    var = _homoscedastic_variance(tuple(jnp.shape(input)), var)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    dtype = to_float(result_type(input, target, var))
    input, target, var = (jnp.asarray(a, dtype) for a in (input, target, var))
    var = value_with_gradient_of(var, jnp.maximum(var, eps))
    loss = 0.5 * (jnp.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss

"""The fused linear + cross-entropy ops of ``torch.nn.functional.linear_cross_entropy``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import torch

from torch2jax import registry
from torch2jax.ops._common import precision

# --------------------------------------------------------------------------------------------------
# linear_cross_entropy (torch.nn.functional.linear_cross_entropy with chunking options)


def _cross_entropy_terms(
    logits: Any, target: Any, class_weight: Any, ignore_index: int
) -> tuple[Any, Any]:
    """Per-sample losses of (N, C) logits and the mean's denominator, as ``cross_entropy``."""
    log_probs = jax.nn.log_softmax(logits, axis=1)
    weight = jnp.ones(logits.shape[1], logits.dtype) if class_weight is None else class_weight
    if jnp.issubdtype(target.dtype, jnp.floating):
        # Class probabilities: the mean divides by the batch size.
        losses = -jnp.sum(log_probs * target * weight, axis=1)
        return losses, jnp.asarray(logits.shape[0], logits.dtype)
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0)
    picked = jnp.take_along_axis(log_probs, safe[:, None], axis=1)[:, 0]
    sample_weight = jnp.where(valid, weight[safe], 0)
    return -picked * sample_weight, jnp.sum(sample_weight)


def _logits(x: Any, linear_weight: Any, linear_bias: Any) -> Any:
    logits = jnp.matmul(x, linear_weight.T, precision=precision())
    return logits if linear_bias is None else logits + linear_bias


def linear_cross_entropy_batch_chunked(
    x: Any,
    linear_weight: Any,
    target: Any,
    linear_bias: Any,
    class_weight: Any,
    reduction: str,
    ignore_index: int,
    label_smoothing: float,
    batch_chunk_size: int,
    acc_policy: str,
    acc_dtype: Any,
    allow_retain_graph: bool,
    compute_input_grad: bool,
    compute_linear_weight_grad: bool,
    compute_linear_bias_grad: bool,
) -> tuple[Any, Any, Any, Any]:
    # PyTorch's op returns the loss with its gradients precomputed for its own backward; JAX
    # differentiates the loss itself, so the chunking (a memory optimization) and the gradient
    # outputs are not needed: they come back empty.
    losses, denominator = _cross_entropy_terms(
        _logits(x, linear_weight, linear_bias), target, class_weight, ignore_index
    )
    total = jnp.sum(losses)
    loss = total / denominator if reduction == "mean" else total
    empty = jnp.zeros((0,), x.dtype)
    return loss.astype(x.dtype), empty, empty, empty


def linear_cross_entropy_batch_chunked_no_reduction(
    x: Any,
    linear_weight: Any,
    target: Any,
    linear_bias: Any,
    class_weight: Any,
    ignore_index: int,
    batch_chunk_size: int,
    acc_policy: str,
    acc_dtype: Any,
) -> Any:
    losses, _ = _cross_entropy_terms(
        _logits(x, linear_weight, linear_bias), target, class_weight, ignore_index
    )
    return losses.astype(x.dtype)


def _register_linear_cross_entropy() -> None:
    # torch.nn.functional.linear_cross_entropy's chunked ops (namespace torch_nn) exist once
    # torch.nn.modules.linear_cross_entropy is imported, which PyTorch does on their first use.
    ops = torch.ops.torch_nn
    registry.implements(ops._linear_cross_entropy_batch_chunked.default)(
        linear_cross_entropy_batch_chunked
    )
    registry.implements(ops._linear_cross_entropy_batch_chunked_no_reduction.default)(
        linear_cross_entropy_batch_chunked_no_reduction
    )


registry.lazy_namespaces["torch_nn"] = _register_linear_cross_entropy

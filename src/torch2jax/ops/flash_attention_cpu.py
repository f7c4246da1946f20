"""``aten._scaled_dot_product_flash_attention_for_cpu``: PyTorch's CPU flash-attention kernel.

The op is named after one kernel, so where that kernel's float32 rounding is known this lowering
reproduces it; ``F.scaled_dot_product_attention`` keeps the accurate fused lowering of ops/nn.py.
The kernel's result is not PyTorch's most accurate attention: its scores come from MKL's sgemm,
and a score's rounding, amplified by exp, moves the output by more than assert_close's float32
tolerance (OpInfo's samples: up to 1.9e-5 off PyTorch float64, against 1.3e-5 for the accurate
form, and 2.7e-5 between the two).

Measured (torch 2.14.1 with MKL 2024.2, AVX2; bit for bit on OpInfo's samples), for fewer keys than
a float vector has lanes (the kernel's scalar path) and head size 8:

- scores: MKL's ``q @ k^T`` multiplies the 8 products as one vector, adds its two halves, then
  sums the 4 lanes as (l0 + l2) + (l1 + l3), every product and sum rounded on its own;
- scaling and the additive mask in one fused multiply-add per score (no mask: a plain product);
  the causal mask fills -inf before;
- weights ``exp(score - row max)`` (correctly rounded exp), their row sum added left to right;
- ``weights @ value`` over keys in order, each product rounded before it is added;
- output = that times ``1 / sum``; logsumexp = max + log(sum); a row with every key masked gives
  zeros and logsumexp 0 (its max taken as 0 and its sum as 1).

Elsewhere (other head sizes, 8 or more keys, where the kernel switches to vectorized reduced-
accuracy exp and MKL to other orders, float64, dropout) the accurate lowering stands in.
Gradients (a custom JVP, so forward mode works too) use the softmax-attention derivative around
the kernel's output and the weights its backward kernel recomputes, exp(scores - logsumexp): on
OpInfo's samples that brings them from 3.3e-5 to 1.2e-5 off PyTorch's (whose own error against
float64 reaches 1.7e-4 there); the rest is the backward's matmul orders, which reverse mode's
transposed products do not follow. logsumexp, not differentiable in PyTorch, passes no gradient.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from torch2jax.ops import nn
from torch2jax.ops._common import aten, precision, rounded_apart
from torch2jax.registry import implements

# The kernel's exp and row sums take its scalar path below one AVX2 vector of keys.
_VECTOR_LANES = 8
# The head size whose MKL summation order was measured.
_MEASURED_HEAD_SIZE = 8


def _fused_multiply_add(a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` rounded once (float32, no float64 needed): Dekker's exact product, then
    the three-term sum. Every partial product of the 12-bit halves is exact, so XLA contracting
    them into FMAs under jit changes nothing."""
    split = jnp.asarray(4097.0, a.dtype)  # 2^12 + 1: halves of 12 significant bits each

    def halves(x: Any) -> tuple[Any, Any]:
        t = rounded_apart(x * split)
        high = t - (t - x)
        return high, x - high

    product = rounded_apart(a * b)
    a_hi, a_lo = halves(a)
    b_hi, b_lo = halves(b)
    error = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    total = product + c  # TwoSum: total + rest == product + c exactly
    b_virtual = total - product
    rest = (product - (total - b_virtual)) + (c - b_virtual)
    fused = total + (rest + error)
    # infinities (masked scores) and splits overflowing near the float32 range: the plain sum
    return jnp.where(jnp.isfinite(fused), fused, product + c)


def _kernel_scores(query: Any, key: Any) -> Any:
    """``query @ key^T`` summed in MKL's order for head size 8 (see the module docstring)."""
    products = rounded_apart(query[..., :, None, :] * key[..., None, :, :])
    lanes = rounded_apart(products[..., :4] + products[..., 4:])
    return (lanes[..., 0] + lanes[..., 2]) + (lanes[..., 1] + lanes[..., 3])


def _kernel_attention(
    query: Any, key: Any, value: Any, attn_mask: Any, is_causal: bool, scale: float
) -> tuple[Any, Any]:
    """The CPU kernel's float32 forward pass, in its order of operations."""
    scores = _kernel_scores(query, key)
    if is_causal:
        causal = jnp.tril(jnp.ones((query.shape[-2], key.shape[-2]), jnp.bool_))
        scores = jnp.where(causal, scores, -jnp.inf)
    scale = jnp.asarray(scale, scores.dtype)
    if attn_mask is None:
        scores = rounded_apart(scores * scale)
    else:
        mask = jnp.broadcast_to(attn_mask.astype(scores.dtype), scores.shape)
        scores = _fused_multiply_add(scores, jnp.broadcast_to(scale, scores.shape), mask)
    row_max = jnp.max(scores, axis=-1, keepdims=True)
    attends = row_max != -jnp.inf  # fully masked rows: the kernel skips exp (0 weights)
    weights = jnp.where(attends, jnp.exp(scores - jnp.where(attends, row_max, 0)), 0)
    total = weights[..., 0]
    for k in range(1, weights.shape[-1]):
        total = total + weights[..., k]
    out = rounded_apart(weights[..., :, 0, None] * value[..., None, 0, :])
    for k in range(1, weights.shape[-1]):
        out = out + rounded_apart(weights[..., :, k, None] * value[..., None, k, :])
    total = jnp.where(total == 0, jnp.ones_like(total), total)
    row_max = jnp.where(attends, row_max, 0)[..., 0]
    out = out * (jnp.ones_like(total) / total)[..., None]
    return out, row_max + jnp.log(total)


@functools.partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _kernel_order_attention(
    query: Any, key: Any, value: Any, attn_mask: Any, is_causal: bool, scale: float
) -> tuple[Any, Any]:
    return _kernel_attention(query, key, value, attn_mask, is_causal, scale)


@_kernel_order_attention.defjvp
def _kernel_order_attention_jvp(
    is_causal: bool, scale: float, primals: tuple[Any, ...], tangents: tuple[Any, ...]
) -> tuple[Any, Any]:
    """The softmax-attention JVP around the kernel's own output and its backward pass's weights.

    d out = (P * dS) V - rowsum(P * dS) out + P dV, with P = exp(S - logsumexp) recomputed as
    the backward kernel does (scaled scores rounded, the mask added, the forward's logsumexp)
    and ``out`` the forward kernel's; reverse mode then gives the backward kernel's
    P * (grad_out V^T - rowsum(grad_out * out)). logsumexp is not differentiable in PyTorch.
    """
    query, key, value, attn_mask = primals
    query_dot, key_dot, value_dot, mask_dot = tangents
    out, lse = _kernel_order_attention(*primals, is_causal, scale)
    scores = rounded_apart(_kernel_scores(query, key) * jnp.asarray(scale, query.dtype))
    if attn_mask is not None:
        scores = scores + attn_mask.astype(scores.dtype)
    weights = jnp.exp(scores - lse[..., None])
    if is_causal:
        causal = jnp.tril(jnp.ones((query.shape[-2], key.shape[-2]), jnp.bool_))
        weights = jnp.where(causal, weights, 0)
    weights = jnp.where(jnp.isnan(weights), 0, weights)  # a +inf mask entry: no derivative
    scores_dot = (
        jnp.matmul(query_dot, jnp.swapaxes(key, -1, -2), precision=precision())
        + jnp.matmul(query, jnp.swapaxes(key_dot, -1, -2), precision=precision())
    ) * jnp.asarray(scale, query.dtype)
    if attn_mask is not None and mask_dot is not None:
        scores_dot = scores_dot + mask_dot.astype(scores_dot.dtype)
    weighted = weights * scores_dot
    out_dot = (
        jnp.matmul(weighted, value, precision=precision())
        - jnp.sum(weighted, axis=-1, keepdims=True) * out
        + jnp.matmul(weights, value_dot, precision=precision())
    )
    return (out, lse), (out_dot, jnp.zeros_like(lse))


def _kernel_order_known(query: Any, key: Any, value: Any, attn_mask: Any) -> bool:
    arrays = (query, key, value) + (() if attn_mask is None else (attn_mask,))
    return (
        all(a.dtype == jnp.float32 for a in arrays)
        and query.shape[-1] == _MEASURED_HEAD_SIZE
        and key.shape[-1] == _MEASURED_HEAD_SIZE
        and value.shape[-1] == _MEASURED_HEAD_SIZE
        and 0 < key.shape[-2] < _VECTOR_LANES
    )


@implements(aten._scaled_dot_product_flash_attention_for_cpu)
def scaled_dot_product_flash_attention_for_cpu(
    query: Any,
    key: Any,
    value: Any,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    attn_mask: Any = None,
    scale: float | None = None,
) -> tuple[Any, Any]:
    """The CPU flash kernel's (output, logsumexp of the scaled, masked scores)."""
    if dropout_p == 0.0 and _kernel_order_known(query, key, value, attn_mask):
        # PyTorch's scale: 1/sqrt(head size) in double precision, then float
        scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
        return _kernel_order_attention(query, key, value, attn_mask, is_causal, scale)
    scores = nn._attention_scores(query, key, attn_mask, is_causal, scale)
    logsumexp = nn.attention_logsumexp(scores)
    # PyTorch's logsumexp output does not require grad
    return nn._attend(scores, value, dropout_p), jax.lax.stop_gradient(logsumexp)

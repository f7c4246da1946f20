"""Connectionist temporal classification loss: ``aten._ctc_loss`` (lengths as lists or tensors).

The forward pass is the log-space alpha recursion over the blank-interleaved label sequence
``blank, l1, blank, l2, ..., blank`` (length ``2S + 1``), one ``lax.scan`` step per time step,
with per-sample input and target lengths applied as masks so that shapes stay static under
``jit`` (traced length tensors included).

The gradient is PyTorch's, not the derivative of the forward: PyTorch's CTC backward returns
``exp(log_probs) - exp(log(sum alpha * beta) + nll - log_probs)`` (times the incoming gradient),
the gradient with respect to the *logits* of a ``log_softmax``. It differs from the true
derivative with respect to ``log_probs`` by ``exp(log_probs)``, a term that a preceding
``log_softmax`` cancels. A ``jax.custom_vjp`` computes exactly PyTorch's formula with the beta
recursion, including its zeroing for ``zero_infinity`` and past each input length.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from torch2jax.eager_ops import is_traced
from torch2jax.registry import implements

aten = torch.ops.aten


def _logsumexp(*terms: Any) -> Any:
    """``log(sum(exp(terms)))`` elementwise; ``-inf`` (not NaN) where every term is ``-inf``.

    The operations and their order are PyTorch's (shift by the maximum, add left to right), so
    that float32 round-off accumulates along the recursion the way it does in PyTorch.
    """
    peak = functools.reduce(jnp.maximum, terms)
    peak = jnp.where(peak == -jnp.inf, 0, peak)
    total = functools.reduce(jnp.add, [jnp.exp(term - peak) for term in terms])
    return jnp.log(total) + peak


def _shift_right(x: Any, by: int) -> Any:
    """``x[..., s - by]`` at position ``s`` along the label axis, ``-inf`` where that is before 0."""
    pad = jnp.full(x.shape[:-1] + (by,), -jnp.inf, x.dtype)
    return jnp.concatenate([pad, x], axis=-1)[..., : x.shape[-1]]


def _shift_left(x: Any, by: int) -> Any:
    """``x[..., s + by]`` at position ``s`` along the label axis, ``-inf`` past the end."""
    pad = jnp.full(x.shape[:-1] + (by,), -jnp.inf, x.dtype)
    return jnp.concatenate([x, pad], axis=-1)[..., by:]


def _alphas(emissions: Any, skip: Any, input_lengths: Any, target_lengths: Any) -> Any:
    """log alpha (T, N, 2S+1); rows at and past a sample's input length repeat its last row."""
    positions = jnp.arange(emissions.shape[-1])
    first = (positions == 0) | ((positions == 1) & (target_lengths[:, None] > 0))
    start = jnp.where(first, emissions[0], -jnp.inf)

    def step(previous: Any, inputs: tuple[Any, Any]) -> tuple[Any, Any]:
        t, emission = inputs
        skipped = jnp.where(skip, _shift_right(previous, 2), -jnp.inf)
        current = _logsumexp(previous, _shift_right(previous, 1), skipped) + emission
        current = jnp.where((t < input_lengths)[:, None], current, previous)
        return current, current

    times = jnp.arange(1, emissions.shape[0])
    _, rest = jax.lax.scan(step, start, (times, emissions[1:]))
    return jnp.concatenate([start[None], rest])


def _betas(emissions: Any, skip_ahead: Any, input_lengths: Any, target_lengths: Any) -> Any:
    """log beta (T, N, 2S+1); ``-inf`` past each sample's input length and extended target."""
    positions = jnp.arange(emissions.shape[-1])
    end = 2 * target_lengths[:, None]
    on_path = positions <= end
    last = (positions == end) | ((positions == end - 1) & (end > 0))
    last_step = (input_lengths - 1)[:, None]

    def step(following: Any, inputs: tuple[Any, Any]) -> tuple[Any, Any]:
        t, emission = inputs
        skipped = jnp.where(skip_ahead, _shift_left(following, 2), -jnp.inf)
        recursed = _logsumexp(following, _shift_left(following, 1), skipped) + emission
        current = jnp.where(
            t == last_step,
            jnp.where(last, emission, -jnp.inf),
            jnp.where((t < last_step) & on_path, recursed, -jnp.inf),
        )
        return current, current

    start = jnp.full(emissions.shape[1:], -jnp.inf, emissions.dtype)
    times = jnp.arange(emissions.shape[0])
    _, betas = jax.lax.scan(step, start, (times, emissions), reverse=True)
    return betas


def _emissions(log_probs: Any, extended: Any) -> Any:
    """log_probs[t, n, extended[n, s]]: (T, N, 2S+1)."""
    index = jnp.broadcast_to(extended[None], (log_probs.shape[0],) + extended.shape)
    return jnp.take_along_axis(log_probs, index, axis=2)


def _skips(extended: Any) -> Any:
    """Whether the path may jump from label s - 2 to s (both exist and differ)."""
    earlier = jnp.concatenate([extended[:, :2], extended], axis=1)[:, : extended.shape[1]]
    return extended != earlier


def _skips_ahead(extended: Any) -> Any:
    """Whether the path may jump from label s to s + 2 (both exist and differ)."""
    width = extended.shape[1]
    later = jnp.concatenate([extended, extended, extended], axis=1)[:, 2 : width + 2]
    return (extended != later) & (jnp.arange(width) + 2 < width)


def _negative_log_likelihood(alphas: Any, input_lengths: Any, target_lengths: Any) -> Any:
    batch = jnp.arange(alphas.shape[1])
    last = alphas[jnp.maximum(input_lengths - 1, 0), batch]
    end = 2 * target_lengths
    final_blank = last[batch, end]
    final_label = last[batch, jnp.maximum(end - 1, 0)]
    likelihood = jnp.where(target_lengths == 0, final_blank, _logsumexp(final_blank, final_label))
    no_input = jnp.where(target_lengths == 0, 0.0, jnp.inf).astype(alphas.dtype)
    return jnp.where(input_lengths == 0, no_input, -likelihood)


def _log_sum_per_label(values: Any, extended: Any, num_labels: int) -> Any:
    """log of the sum of exp(values[t, n, s]) over the s with extended[n, s] == c: (T, N, C).

    Accumulated one s at a time from the last, as PyTorch does, to round as it does.
    """
    steps, batch, _ = values.shape
    t = jnp.arange(steps)[:, None]
    n = jnp.arange(batch)[None, :]

    def add(total: Any, inputs: tuple[Any, Any]) -> tuple[Any, None]:
        value, label = inputs  # (T, N), (N,)
        current = total[t, n, label[None, :]]
        combined = jnp.where(current == -jnp.inf, value, _logsumexp(current, value))
        return total.at[t, n, label[None, :]].set(combined), None

    empty = jnp.full((steps, batch, num_labels), -jnp.inf, values.dtype)
    per_label, _ = jax.lax.scan(add, empty, (jnp.moveaxis(values, 2, 0), extended.T), reverse=True)
    return per_label


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _ctc(
    log_probs: Any, extended: Any, input_lengths: Any, target_lengths: Any, zero_infinity: bool
) -> tuple[Any, Any]:
    alphas = _alphas(
        _emissions(log_probs, extended), _skips(extended), input_lengths, target_lengths
    )
    return _negative_log_likelihood(alphas, input_lengths, target_lengths), alphas


def _ctc_forward(
    log_probs: Any, extended: Any, input_lengths: Any, target_lengths: Any, zero_infinity: bool
) -> tuple[tuple[Any, Any], tuple[Any, ...]]:
    nll, alphas = _ctc(log_probs, extended, input_lengths, target_lengths, zero_infinity)
    return (nll, alphas), (log_probs, extended, input_lengths, target_lengths, nll, alphas)


# Compiled once per shape, so that eager (un-jitted) use does not retrace the scans per call.
@functools.partial(jax.jit, static_argnums=0)
def _pytorch_gradient(
    zero_infinity: bool,
    log_probs: Any,
    extended: Any,
    input_lengths: Any,
    target_lengths: Any,
    nll: Any,
    alphas: Any,
    nll_cotangent: Any,
) -> Any:
    """PyTorch's ctc_loss_backward_cpu: the softmax-logit form of the CTC gradient."""
    emissions = _emissions(log_probs, extended)
    betas = _betas(emissions, _skips_ahead(extended), input_lengths, target_lengths)
    paths = _log_sum_per_label(alphas + betas, extended, log_probs.shape[-1])
    nll_b = nll[None, :, None]
    grad = (jnp.exp(log_probs) - jnp.exp(paths + nll_b - log_probs)) * nll_cotangent[None, :, None]
    within_input = jnp.arange(log_probs.shape[0])[:, None, None] < input_lengths[None, :, None]
    grad = jnp.where(within_input, grad, 0)
    if zero_infinity:
        grad = jnp.where(nll_b == jnp.inf, 0, grad)
    return grad.astype(log_probs.dtype)


def _ctc_backward(
    zero_infinity: bool, saved: tuple[Any, ...], cotangents: tuple[Any, Any]
) -> tuple[Any, None, None, None]:
    grad = _pytorch_gradient(zero_infinity, *saved, cotangents[0])
    return grad, None, None, None


_ctc.defvjp(_ctc_forward, _ctc_backward)
_compiled_ctc = jax.jit(_ctc, static_argnums=4)


def _concrete(lengths: Any) -> list[int] | None:
    """The lengths as Python ints, or None where they are traced (known only at run time)."""
    if is_traced(lengths):
        return None
    return [int(v) for v in np.asarray(lengths).reshape(-1)]


def _check_lengths(
    targets: Any, batch: int, steps: int, input_lengths: list[int], target_lengths: list[int]
) -> None:
    """PyTorch's argument checks; they read values, so they run only where those are concrete."""
    if len(input_lengths) != batch:
        raise RuntimeError("input_lengths must be of size batch_size")
    if len(target_lengths) != batch:
        raise RuntimeError("target_lengths must be of size batch_size")
    for b, (inputs, labels) in enumerate(zip(input_lengths, target_lengths, strict=True)):
        if labels < 0:
            raise RuntimeError(
                f"Expected target_lengths to have value at least 0, but got {labels} at {b}"
            )
        if not 0 <= inputs <= steps:
            raise RuntimeError(
                f"Expected input_lengths to have value at most {steps}, but got value {inputs} "
                "(while checking arguments for ctc_loss_cpu)"
            )
    if targets.ndim == 1 and targets.shape[0] != sum(target_lengths):
        raise RuntimeError(
            f"Expected tensor to have size {sum(target_lengths)} at dimension 0, but got size "
            f"{targets.shape[0]} for argument #2 'targets' (while checking arguments for "
            "ctc_loss_cpu)"
        )
    if targets.ndim == 2 and target_lengths and targets.shape[1] < max(target_lengths):
        raise RuntimeError(
            f"Expected tensor to have size at least {max(target_lengths)} at dimension 1, but "
            f"got size {targets.shape[1]} for argument #2 'targets' (while checking arguments "
            "for ctc_loss_cpu)"
        )


def _extended_labels(targets: Any, target_lengths: Any, longest: int, blank: int) -> Any:
    """``blank, l1, blank, l2, ..., blank`` per sample, padded with blanks to 2 * longest + 1."""
    positions = jnp.arange(longest)
    if targets.ndim == 2:  # padded (N, S)
        labels = targets[:, :longest]
    else:  # concatenated: sample n's labels start after the earlier samples' ones
        flat = targets if targets.shape[0] > 0 else jnp.zeros((1,), targets.dtype)
        starts = jnp.cumsum(target_lengths) - target_lengths
        index = jnp.clip(starts[:, None] + positions[None, :], 0, flat.shape[0] - 1)
        labels = flat[index]
    labels = jnp.where(positions < target_lengths[:, None], labels, blank).astype(jnp.int32)
    extended = jnp.full((target_lengths.shape[0], 2 * longest + 1), blank, jnp.int32)
    return extended.at[:, 1::2].set(labels)


@implements(aten._ctc_loss.default, aten._ctc_loss.Tensor)
def ctc_loss(
    log_probs: Any,
    targets: Any,
    input_lengths: Sequence[int] | Any,
    target_lengths: Sequence[int] | Any,
    blank: int = 0,
    zero_infinity: bool = False,
) -> tuple[Any, Any]:
    """PyTorch's ``_ctc_loss``: (per-sample negative log-likelihood, log alpha).

    log alpha is (N, T, 2 * max target length + 1) as in PyTorch when the lengths are concrete;
    with traced lengths the longest target is not known, so its last axis is sized by the
    targets' own bound (their padded width, or their total length when concatenated). PyTorch
    leaves the entries outside each sample's lengths uninitialized; here they hold the
    recursion's masked values.
    """
    if log_probs.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs of 3 dimensions, got {log_probs.ndim}")
    steps, batch, _ = log_probs.shape
    known_inputs, known_targets = _concrete(input_lengths), _concrete(target_lengths)
    if known_inputs is not None and known_targets is not None:
        _check_lengths(targets, batch, steps, known_inputs, known_targets)
    if known_targets is not None:
        longest = max(known_targets, default=0)
    else:
        longest = targets.shape[1] if targets.ndim == 2 else targets.shape[0]
    input_lengths = jnp.asarray(input_lengths, jnp.int32).reshape(batch)
    target_lengths = jnp.asarray(target_lengths, jnp.int32).reshape(batch)
    extended = _extended_labels(targets, target_lengths, longest, blank)
    if steps == 0:  # every input length is 0: an empty target has likelihood 1, others 0
        nll = jnp.where(target_lengths == 0, 0.0, jnp.inf).astype(log_probs.dtype)
        return nll, jnp.zeros((batch, 0, extended.shape[1]), log_probs.dtype)
    nll, alphas = _compiled_ctc(log_probs, extended, input_lengths, target_lengths, zero_infinity)
    return nll, jnp.transpose(jax.lax.stop_gradient(alphas), (1, 0, 2))


_REDUCTIONS = {"none": 0, "mean": 1, "elementwise_mean": 1, "sum": 2}


def _reduced_ctc_loss(
    log_probs: Any,
    targets: Any,
    input_lengths: Sequence[int] | Any,
    target_lengths: Sequence[int] | Any,
    blank: int,
    reduction: int,
    zero_infinity: bool,
) -> Any:
    """PyTorch's ``ctc_loss`` composite (LossCTC.cpp) around ``_ctc_loss``."""
    batched = jnp.ndim(log_probs) == 3
    if not batched:
        log_probs = log_probs[:, None]
    nll, _ = ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)
    if zero_infinity:
        nll = jnp.where(nll == jnp.inf, jnp.zeros((), nll.dtype), nll)
    if reduction == 1:
        lengths = jnp.asarray(target_lengths).reshape(-1).astype(nll.dtype)
        return jnp.mean(nll / jnp.maximum(lengths, 1))
    if reduction == 2:
        return jnp.sum(nll)
    return nll if batched else nll[0]


@implements(torch.nn.functional.ctc_loss)
def functional_ctc_loss(
    log_probs: Any,
    targets: Any,
    input_lengths: Sequence[int] | Any,
    target_lengths: Sequence[int] | Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Any:
    """``F.ctc_loss`` lowered whole: PyTorch's composite builds the ``mean`` divisor with
    ``at::tensor(target_lengths)``, which copies host memory into a tensor and cannot make a
    traced one."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _reduced_ctc_loss(
        log_probs,
        targets,
        input_lengths,
        target_lengths,
        blank,
        _REDUCTIONS[reduction],
        zero_infinity,
    )


@implements(torch.ctc_loss)
def torch_ctc_loss(
    log_probs: Any,
    targets: Any,
    input_lengths: Sequence[int] | Any,
    target_lengths: Sequence[int] | Any,
    blank: int = 0,
    reduction: int = 1,
    zero_infinity: bool = False,
) -> Any:
    """``torch.ctc_loss``: the same composite, with the reduction as PyTorch's enum value."""
    return _reduced_ctc_loss(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
    )

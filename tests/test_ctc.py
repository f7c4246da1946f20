"""CTC loss against PyTorch: values and gradients for batched and unbatched inputs, padded and
concatenated targets, lengths as lists or (traced) tensors, each reduction, zero_infinity with an
impossible alignment, and PyTorch's own gradient formula with respect to log_probs."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import assert_close
from torch2jax import t2j


def _log_probs(steps: int, batch: int | None, classes: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (steps, classes) if batch is None else (steps, batch, classes)
    return torch.randn(shape, generator=generator).log_softmax(-1)


def _check(loss, log_probs: torch.Tensor, *others: torch.Tensor, jit: bool = False) -> None:
    """loss(log_probs, *others) and the gradient of its sum with respect to log_probs, eagerly
    (the lowering's compiled core is cached per shape, which keeps this file quick) and, with
    ``jit``, under jax.jit with the other tensors traced, against PyTorch's."""
    leaf = log_probs.detach().requires_grad_(True)
    expected = loss(leaf, *others)
    (expected_grad,) = torch.autograd.grad(expected.sum(), leaf)
    converted = t2j(loss)
    arrays = [t2j(t.detach()) for t in (log_probs, *others)]
    assert_close(converted(*arrays), expected)

    def total(x, *rest):
        return converted(x, *rest).sum()

    value_and_grad = jax.value_and_grad(total)
    for run in [value_and_grad, jax.jit(value_and_grad)] if jit else [value_and_grad]:
        value, grad = run(*arrays)
        assert_close(value, expected.sum())
        assert_close(grad, expected_grad)


PADDED_TARGETS = torch.tensor([[1, 2, 2, 3], [3, 3, 3, 1], [4, 1, 0, 0], [2, 0, 0, 0]])
TARGET_LENGTHS = [4, 3, 2, 0]
INPUT_LENGTHS = [12, 10, 7, 5]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_padded_targets_with_list_lengths(reduction):
    def loss(log_probs):
        return F.ctc_loss(
            log_probs,
            PADDED_TARGETS,
            INPUT_LENGTHS,
            TARGET_LENGTHS,
            reduction=reduction,
        )

    _check(loss, _log_probs(12, 4, 5))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_traced_tensor_lengths(reduction):
    def loss(log_probs, input_lengths, target_lengths):
        return F.ctc_loss(
            log_probs, PADDED_TARGETS, input_lengths, target_lengths, reduction=reduction
        )

    lengths = torch.tensor(INPUT_LENGTHS), torch.tensor(TARGET_LENGTHS)
    _check(loss, _log_probs(12, 4, 5), *lengths, jit=reduction == "mean")


def test_one_compilation_serves_other_lengths():
    converted = jax.jit(
        t2j(lambda lp, il, tl: F.ctc_loss(lp, PADDED_TARGETS, il, tl, reduction="none"))
    )
    log_probs = _log_probs(12, 4, 5)
    for input_lengths, target_lengths in [
        ([12, 10, 7, 5], [4, 3, 2, 0]),
        ([3, 12, 9, 1], [1, 4, 0, 1]),
    ]:
        il, tl = torch.tensor(input_lengths), torch.tensor(target_lengths)
        expected = F.ctc_loss(log_probs, PADDED_TARGETS, il, tl, reduction="none")
        assert_close(converted(t2j(log_probs), t2j(il), t2j(tl)), expected)


@pytest.mark.parametrize("traced", [False, True], ids=["list_lengths", "tensor_lengths"])
def test_concatenated_targets(traced):
    targets = torch.tensor([1, 2, 2, 3, 3, 3, 1, 4, 1, 2])
    target_lengths = [4, 3, 2, 1]

    def loss(log_probs, *lengths):
        il, tl = lengths if traced else (INPUT_LENGTHS, target_lengths)
        return F.ctc_loss(log_probs, targets, il, tl, reduction="none")

    lengths = (torch.tensor(INPUT_LENGTHS), torch.tensor(target_lengths)) if traced else ()
    _check(loss, _log_probs(12, 4, 5), *lengths, jit=traced)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_unbatched(reduction):
    targets = torch.tensor([2, 1, 1])

    def loss(log_probs, input_length, target_length):
        return F.ctc_loss(log_probs, targets, input_length, target_length, reduction=reduction)

    _check(loss, _log_probs(9, None, 4), torch.tensor(8), torch.tensor(3), jit=reduction == "none")


def test_blank_at_the_end_and_module():
    ctc = torch.nn.CTCLoss(blank=4, reduction="sum")
    targets = torch.tensor([[0, 1, 1], [3, 2, 0]])

    def loss(log_probs):
        return ctc(log_probs, targets, [8, 6], [3, 2])

    _check(loss, _log_probs(8, 2, 5))


def test_gradient_through_log_softmax():
    def loss(logits):
        return F.ctc_loss(logits.log_softmax(-1), PADDED_TARGETS, INPUT_LENGTHS, TARGET_LENGTHS)

    _check(loss, torch.randn(12, 4, 5))


def test_gradient_is_pytorchs_not_the_true_derivative():
    """PyTorch's gradient with respect to log_probs adds exp(log_probs) to the derivative of the
    loss (it is the gradient with respect to the logits of a log_softmax)."""
    log_probs = _log_probs(6, 1, 3)
    leaf = log_probs.clone().requires_grad_(True)
    F.ctc_loss(leaf, torch.tensor([[1, 2]]), [6], [2], reduction="sum").backward()
    grad = jax.grad(
        lambda x: t2j(lambda lp: F.ctc_loss(lp, torch.tensor([[1, 2]]), [6], [2], reduction="sum"))(
            x
        )
    )(t2j(log_probs))
    assert_close(grad, leaf.grad)
    np.testing.assert_allclose(np.asarray(grad).sum(-1), 0, atol=1e-5)


@pytest.mark.parametrize("zero_infinity", [False, True], ids=["", "zero_infinity"])
def test_impossible_alignment(zero_infinity):
    """Sample 0 needs 5 steps (1, blank, 1, blank, 1) but has 4: its loss is inf, zeroed with
    zero_infinity; its gradient is then 0, and NaN without it, as in PyTorch."""
    targets = torch.tensor([[1, 1, 1], [2, 3, 0]])

    def loss(log_probs):
        return F.ctc_loss(
            log_probs, targets, [4, 6], [3, 2], reduction="none", zero_infinity=zero_infinity
        )

    _check(loss, _log_probs(6, 2, 4), jit=zero_infinity)
    leaf = _log_probs(6, 2, 4).requires_grad_(True)
    loss(leaf).sum().backward()
    grad = np.asarray(jax.grad(lambda x: t2j(loss)(x).sum())(t2j(leaf.detach())))
    assert np.isnan(grad).any() == (not zero_infinity)
    assert np.isfinite(grad[:, 1]).all()


def test_empty_inputs_and_targets():
    targets = torch.tensor([[1, 2], [0, 0], [0, 0]])

    def loss(log_probs):
        return F.ctc_loss(log_probs, targets, [0, 0, 3], [2, 0, 0], reduction="none")

    _check(loss, _log_probs(4, 3, 3))


def test_aten_ctc_loss_negative_log_likelihood(x64):
    log_probs = _log_probs(7, 2, 4).double()
    targets = torch.tensor([[1, 2, 3], [3, 0, 0]])

    def nll(lp):
        return torch.ops.aten._ctc_loss(lp, targets, [7, 5], [3, 1], 0, False)[0]

    assert_close(t2j(nll)(t2j(log_probs)), nll(log_probs), atol=1e-12 if x64 else 1e-5)


def test_wrong_lengths_raise_pytorchs_error():
    with pytest.raises(RuntimeError, match="input_lengths to have value at most 4"):
        t2j(lambda lp: F.ctc_loss(lp, torch.tensor([[1]]), [5], [1]))(t2j(_log_probs(4, 1, 3)))

"""``aten._scaled_dot_product_flash_attention_for_cpu`` against PyTorch's CPU kernel.

The op's lowering follows the kernel's float32 order for head size 8 and fewer than 8 keys (the
shapes of OpInfo's samples), where the accurate formulation misses the kernel by more than
assert_close's float32 tolerance; gradients follow the accurate softmax formulation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from torch2jax import t2j

FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def _inputs(seed: int, q_len: int = 3, kv_len: int = 6, head: int = 8, spread: float = 9.0):
    """OpInfo-like operands: uniform in [-spread, spread], (batch 4, heads 4, length, head)."""
    generator = torch.Generator().manual_seed(seed)

    def draw(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1) * spread

    return draw(4, 4, q_len, head), draw(4, 4, kv_len, head), draw(4, 4, kv_len, head)


def _float_mask(q_len: int, kv_len: int, seed: int, masked_row: int | None = None) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mask = (torch.rand(q_len, kv_len, generator=generator) * 2 - 1) * 9
    mask[0, -1] = -float("inf")
    if masked_row is not None:
        mask[masked_row] = -float("inf")
    return mask


CASES = {
    "plain": {},
    "causal": {"is_causal": True},
    "float_mask": {"attn_mask": _float_mask(3, 6, 1)},
    "causal_and_mask": {"is_causal": True, "attn_mask": _float_mask(3, 6, 2)},
    "fully_masked_row": {"attn_mask": _float_mask(3, 6, 3, masked_row=1)},
    "scale": {"scale": 0.21},
}


def _compare(actual, expected) -> None:
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(torch.from_numpy(np.array(a)), e)


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_match_pytorch_kernel(case: str, mode: str, seed: int) -> None:
    """Output and logsumexp within assert_close's float32 defaults (atol 1e-5, rtol 1.3e-6)."""
    q, k, v = _inputs(seed)
    kwargs = CASES[case]
    expected = FLASH(q, k, v, **kwargs)
    fn = t2j(lambda q, k, v: FLASH(q, k, v, **kwargs))
    if mode == "jit":
        fn = jax.jit(fn)
    _compare(fn(*(jnp.asarray(x.numpy()) for x in (q, k, v))), expected)


def test_fully_masked_row_gives_zeros_and_logsumexp_zero() -> None:
    q, k, v = _inputs(4)
    mask = _float_mask(3, 6, 4, masked_row=2)
    out, lse = t2j(lambda q, k, v: FLASH(q, k, v, attn_mask=mask))(
        *(jnp.asarray(x.numpy()) for x in (q, k, v))
    )
    assert np.all(np.asarray(out)[:, :, 2] == 0)
    assert np.all(np.asarray(lse)[:, :, 2] == 0)


def test_other_shapes_use_the_accurate_form() -> None:
    """Head size 16 and 10 keys (outside the measured order), small operands: PyTorch's values;
    a fully masked row's logsumexp is the kernel's 0 there too."""
    q, k, v = _inputs(5, q_len=4, kv_len=10, head=16, spread=1.0)
    mask = _float_mask(4, 10, 5, masked_row=3)
    expected = FLASH(q, k, v, attn_mask=mask)
    actual = t2j(lambda q, k, v: FLASH(q, k, v, attn_mask=mask))(
        *(jnp.asarray(x.numpy()) for x in (q, k, v))
    )
    _compare(actual, expected)


@pytest.mark.parametrize("case", ["plain", "causal", "float_mask", "scale"])
def test_gradients_close_to_torch_autograd(case: str) -> None:
    """Gradients of sum(output) + sum(logsumexp) follow the accurate softmax formulation; they
    agree with PyTorch's backward kernel to float32 round-off amplified by exp (1e-4)."""
    q, k, v = _inputs(6)
    kwargs = CASES[case]

    def loss(q, k, v):
        out, lse = FLASH(q, k, v, **kwargs)
        return out.sum() + lse.sum()

    leaves = [x.clone().requires_grad_(True) for x in (q, k, v)]
    expected = torch.autograd.grad(loss(*leaves), leaves)
    actual = jax.grad(t2j(loss), argnums=(0, 1, 2))(*(jnp.asarray(x.numpy()) for x in (q, k, v)))
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(torch.from_numpy(np.array(a)), e, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("case", ["float_mask", "causal_and_mask"])
def test_values_under_both_x64_settings(case: str, x64: bool) -> None:
    """The fused scale-and-mask step needs no float64: the same values with x64 off."""
    q, k, v = _inputs(7)
    kwargs = CASES[case]
    expected = FLASH(q, k, v, **kwargs)
    actual = jax.jit(t2j(lambda q, k, v: FLASH(q, k, v, **kwargs)))(
        *(jnp.asarray(x.numpy()) for x in (q, k, v))
    )
    _compare(actual, expected)


def test_forward_mode_agrees_with_reverse_mode() -> None:
    """The custom JVP serves jax.jvp too: <grad, t> equals the directional derivative."""
    q, k, v = (jnp.asarray(x.numpy()) for x in _inputs(8, spread=1.0))
    fn = t2j(lambda q, k, v: FLASH(q, k, v, is_causal=True)[0].sum())
    tangents = tuple(jnp.ones_like(x) * 0.1 for x in (q, k, v))
    _, directional = jax.jvp(fn, (q, k, v), tangents)
    grads = jax.grad(fn, argnums=(0, 1, 2))(q, k, v)
    expected = sum(jnp.vdot(g, t) for g, t in zip(grads, tangents, strict=True))
    np.testing.assert_allclose(directional, expected, rtol=1e-5, atol=1e-5)

"""Autograd semantics: where PyTorch would not differentiate, no gradient flows; custom
`torch.autograd.Function` backwards survive; checkpointing becomes `jax.checkpoint`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint

from tests.conftest import assert_close
from torch2jax import t2j


def _torch_grads(fn, *inputs):
    tensors = [x.clone().requires_grad_(True) for x in inputs]
    fn(*tensors).sum().backward()
    return [t.grad if t.grad is not None else torch.zeros_like(t) for t in tensors]


def _jax_grads(fn, *inputs, jit=True):
    grad = jax.grad(lambda *xs: jnp.sum(t2j(fn)(*xs)), argnums=tuple(range(len(inputs))))
    return (jax.jit(grad) if jit else grad)(*[t2j(x) for x in inputs])


def _assert_same_grads(fn, *inputs, jit=True):
    assert_close(list(_jax_grads(fn, *inputs, jit=jit)), _torch_grads(fn, *inputs))


# --------------------------------------------------------------------------------------------------
# Grad modes, detach, requires_grad


def no_grad(x):
    with torch.no_grad():
        y = x * 2
    return y * x + x


def enable_grad_inside_no_grad(x):
    with torch.no_grad():
        with torch.enable_grad():
            y = x.sin()
        z = x * 3
    return y + z * x


def inference_mode(x):
    with torch.inference_mode():
        y = x.exp()
    return y.clone() * x


def set_grad_enabled_false(x):
    with torch.set_grad_enabled(False):
        y = x**2
    return y + x


def no_grad_decorator(x):
    @torch.no_grad()
    def scale(t):
        return t * 5

    return scale(x) * x


def detach(x):
    return x.detach() * x + x.detach().pow(2)


def detach_inplace(x):
    y = x * 2
    y.detach_()
    return y * x


def in_place_under_no_grad(x):
    # The tensor keeps its place in PyTorch's graph: new values, gradient of what it came from.
    y = x * 2
    with torch.no_grad():
        y.clamp_(-0.5, 0.5)
        y[0] = 7.0
        x.mul_(3)
    return y * x


def detach_inplace_under_no_grad(x):
    y = x * 2
    with torch.no_grad():
        y.detach_()
    return y * x


@pytest.mark.parametrize(
    "fn",
    [
        in_place_under_no_grad,
        detach_inplace_under_no_grad,
        no_grad,
        enable_grad_inside_no_grad,
        inference_mode,
        set_grad_enabled_false,
        no_grad_decorator,
        detach,
        detach_inplace,
    ],
)
def test_grad_modes_match_pytorch(fn):
    _assert_same_grads(fn, torch.randn(5))


def test_grad_mode_is_restored_after_conversion():
    t2j(no_grad)(jnp.ones(3))
    assert torch.is_grad_enabled()
    with torch.no_grad():
        t2j(no_grad)(jnp.ones(3))
        assert not torch.is_grad_enabled()


def test_requires_grad_false_inside_the_code_stops_gradients():
    def fn(x, w):
        w.requires_grad_(False)
        return x * w

    def fn_attribute(x, w):
        w.requires_grad = False
        return x * w + w

    x, w = torch.randn(4), torch.randn(4)
    for f in (fn, fn_attribute):
        gx, gw = _jax_grads(f, x, w)
        assert_close(gx, w)
        np.testing.assert_array_equal(gw, np.zeros(4))


def test_frozen_parameters_get_no_gradient():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    module[0].weight.requires_grad_(False)
    x = torch.randn(5, 3)
    params = {k: t2j(v) for k, v in module.named_parameters()}
    grads = jax.jit(jax.grad(lambda p: jnp.sum(t2j(module)(t2j(x), state_dict=p) ** 2)))(params)
    (module(x) ** 2).sum().backward()
    np.testing.assert_array_equal(grads["0.weight"], np.zeros((4, 3)))
    for name, parameter in module.named_parameters():
        if parameter.requires_grad:
            assert_close(grads[name], parameter.grad)
    assert not module[0].weight.requires_grad  # the module is not modified


# --------------------------------------------------------------------------------------------------
# torch.autograd.Function


class StraightThroughRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ScaledBackward(torch.autograd.Function):
    """A deliberately wrong backward: 7 * grad + saved input, scale via a ctx attribute."""

    @staticmethod
    def forward(ctx, x, y, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        ctx.offset = y.detach() * 0 + 1  # a tensor on ctx, not saved through save_for_backward
        return x * y

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.scale + x, grad * ctx.offset, None


class ClampWithSetupContext(torch.autograd.Function):
    """The `setup_context` style, with two outputs and a gradient that passes everywhere."""

    @staticmethod
    def forward(x, low):
        return x.clamp(min=low), (x < low).float()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad, grad_mask):
        return grad * 2, None


class OnceDifferentiableExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * 0.5


def straight_through(x):
    return StraightThroughRound.apply(x * 3.7)


def scaled_backward(x):
    return ScaledBackward.apply(x, x.cos(), 7.0)


def setup_context_clamp(x):
    value, mask = ClampWithSetupContext.apply(x, 0.0)
    return value + mask


def once_differentiable(x):
    return OnceDifferentiableExp.apply(x) * x


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize(
    "fn", [straight_through, scaled_backward, setup_context_clamp, once_differentiable]
)
def test_custom_function_keeps_its_backward(fn, jit):
    x = torch.randn(6)
    assert_close(t2j(fn)(t2j(x)), fn(x))
    _assert_same_grads(fn, x, jit=jit)


def test_straight_through_gradient_is_one():
    grads = _jax_grads(lambda x: StraightThroughRound.apply(x), torch.randn(8))[0]
    np.testing.assert_array_equal(grads, np.ones(8))


def test_custom_function_under_vmap_and_value_and_grad():
    xs = jax.random.normal(jax.random.key(0), (3, 5))
    grads = jax.vmap(jax.grad(lambda x: jnp.sum(t2j(straight_through)(x))))(xs)
    np.testing.assert_allclose(grads, np.full((3, 5), 3.7), rtol=1e-6)


def test_custom_function_with_randomness_in_forward():
    class NoisyIdentity(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x + torch.rand_like(x)

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    fn = t2j(lambda x: NoisyIdentity.apply(x))
    x = jnp.zeros(4)
    np.testing.assert_array_equal(fn(x, rng=jax.random.key(0)), fn(x, rng=jax.random.key(0)))
    assert not np.array_equal(fn(x, rng=jax.random.key(0)), fn(x, rng=jax.random.key(1)))
    grads = jax.grad(lambda x: jnp.sum(fn(x, rng=jax.random.key(0))))(x)
    np.testing.assert_array_equal(grads, np.full(4, 2.0))


def test_custom_function_outside_conversion_is_pytorchs_own():
    x = torch.randn(4, requires_grad=True)
    StraightThroughRound.apply(x * 2).sum().backward()
    assert_close(x.grad, torch.full((4,), 2.0))
    assert torch.autograd.Function.__dict__["apply"] is torch._C._FunctionBase.__dict__["apply"]


# --------------------------------------------------------------------------------------------------
# torch.utils.checkpoint


def block(x, w):
    return torch.tanh(x @ w).sin() * x.sum(-1, keepdim=True)


@pytest.mark.filterwarnings("ignore:None of the inputs have requires_grad")  # PyTorch's own run
@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpoint_gives_the_same_gradients(use_reentrant):
    def fn(x, w):
        h = checkpoint.checkpoint(block, x, w, use_reentrant=use_reentrant)
        return checkpoint.checkpoint(block, h, w, use_reentrant=use_reentrant)

    x, w = torch.randn(3, 4), torch.randn(4, 4)
    assert_close(t2j(fn)(t2j(x), t2j(w)), fn(x, w))
    _assert_same_grads(fn, x, w)


def test_checkpoint_becomes_jax_checkpoint():
    def fn(x, w):
        return checkpoint.checkpoint(block, x, w, use_reentrant=False)

    jaxpr = jax.make_jaxpr(t2j(fn))(jnp.ones((3, 4)), jnp.ones((4, 4)))
    assert "checkpoint" in str(jaxpr) or "remat" in str(jaxpr)


def test_checkpoint_sequential_and_module_checkpoint_match_pytorch():
    torch.manual_seed(0)
    layers = torch.nn.Sequential(
        *[torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()) for _ in range(4)]
    )

    class Checkpointed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = layers

        def forward(self, x):
            x = checkpoint.checkpoint_sequential(self.layers, 2, x, use_reentrant=False)
            return checkpoint.checkpoint(self.layers[0], x, use_reentrant=False)

    module = Checkpointed()
    x = torch.randn(2, 4)
    params = {k: t2j(v) for k, v in module.named_parameters()}
    loss = lambda p: jnp.sum(t2j(module)(t2j(x), state_dict=p) ** 2)  # noqa: E731
    grads = jax.jit(jax.grad(loss))(params)
    (module(x) ** 2).sum().backward()
    for name, parameter in module.named_parameters():
        assert_close(grads[name], parameter.grad, atol=1e-5, rtol=1e-4)


def test_checkpoint_with_dropout_is_deterministic_per_key():
    def fn(x):
        return checkpoint.checkpoint(lambda t: F.dropout(t, 0.5) * 2, x, use_reentrant=False)

    jf = jax.jit(t2j(fn))
    x = jnp.ones(64)
    np.testing.assert_array_equal(jf(x, rng=jax.random.key(0)), jf(x, rng=jax.random.key(0)))
    grads = jax.grad(lambda x: jnp.sum(t2j(fn)(x, rng=jax.random.key(3))))(x)
    out = t2j(fn)(x, rng=jax.random.key(3))
    np.testing.assert_allclose(grads, np.asarray(out) / 1.0, rtol=1e-6)  # d(2 * mask * x / 0.5)/dx

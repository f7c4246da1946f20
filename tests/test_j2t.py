"""j2t of JAX functions: pytrees, jit, zero-copy, torch.autograd through jax.vjp, inlining in t2j."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tests.conftest import assert_close
from torch2jax import j2t, jax_in_torch, t2j


def test_pytrees_in_and_out_with_gradients():
    def jax_fn(x, params):
        return {"y": jnp.sin(x) * params["w"], "stats": (jnp.sum(x**2), [params["b"] + 1])}

    def torch_twin(x, params):
        # JAX rebuilds dicts with sorted keys.
        return {"stats": (torch.sum(x**2), [params["b"] + 1]), "y": torch.sin(x) * params["w"]}

    torch.manual_seed(0)
    inputs = (torch.randn(5), {"w": torch.randn(5), "b": torch.randn(2)})
    ours = jax.tree_util.tree_map(lambda t: t.clone().requires_grad_(), inputs)
    theirs = jax.tree_util.tree_map(lambda t: t.clone().requires_grad_(), inputs)

    out, expected = j2t(jax_fn)(*ours), torch_twin(*theirs)
    assert isinstance(out["stats"], tuple) and isinstance(out["stats"][1], list)
    assert_close(out, expected)

    def loss(o):
        return (o["y"] * torch.arange(5.0)).sum() + 3 * o["stats"][0] + o["stats"][1][0].sum()

    loss(out).backward()
    loss(expected).backward()
    grads = jax.tree_util.tree_map(lambda t: t.grad, ours)
    assert_close(grads, jax.tree_util.tree_map(lambda t: t.grad, theirs))


def test_float64_tensors(x64):
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    out = j2t(jnp.sin)(x)
    # Without jax_enable_x64, JAX computes in float32, as it does for its own arrays.
    assert out.dtype == (torch.float64 if x64 else torch.float32)
    out.sum().backward()
    assert x.grad.dtype == torch.float64  # PyTorch casts gradients to the input's dtype
    assert_close(x.grad, torch.cos(x), atol=1e-12 if x64 else 1e-6)


def test_keyword_and_static_arguments():
    def jax_fn(x, *, axis, scale=1.0):
        return jnp.cumsum(x, axis=axis) * scale

    x = torch.randn(3, 4, requires_grad=True)
    out = j2t(jax_fn)(x, axis=1, scale=2.0)
    assert_close(out, torch.cumsum(x, 1) * 2.0)
    out.sum().backward()
    assert_close(x.grad, (torch.arange(4.0, 0, -1) * 2).expand(3, 4))


def test_runs_jitted_and_traces_once_per_signature():
    traces = []

    def jax_fn(x):
        traces.append(x.shape)
        return x * 2

    fn = j2t(jax_fn)
    for _ in range(3):
        fn(torch.ones(3))
    fn(torch.ones(4))
    assert traces == [(3,), (4,)]


def test_zero_copy_inputs_and_outputs_on_cpu(monkeypatch):
    shared = []
    original = jax_in_torch.tensor_to_array

    def recording(tensor):
        array = original(tensor)
        shared.append(array.unsafe_buffer_pointer() == tensor.data_ptr())
        return array

    monkeypatch.setattr(jax_in_torch, "tensor_to_array", recording)
    x = torch.randn(64, 64)
    out = j2t(lambda a: a + 1)(x)
    assert shared == [True]
    assert_close(out, x + 1)


def test_output_that_is_an_input_is_a_fresh_tensor():
    x = torch.randn(4)
    out, doubled = j2t(lambda a: (a, a * 2))(x)
    out.add_(1)  # must not write through to x
    assert_close(out, x + 1)
    assert_close(doubled, x * 2)


def test_no_autograd_node_when_nothing_requires_grad():
    x = torch.randn(3)
    assert not j2t(jnp.exp)(x).requires_grad
    with torch.no_grad():
        assert not j2t(jnp.exp)(x.requires_grad_()).requires_grad


def test_integer_inputs_and_outputs():
    def jax_fn(x, index):
        return x[index] * 2, jnp.argmax(x)

    x = torch.randn(6, requires_grad=True)
    index = torch.tensor([0, 2, 2])
    values, argmax = j2t(jax_fn)(x, index)
    assert argmax.dtype in (torch.int32, torch.int64) and not argmax.requires_grad
    assert int(argmax) == int(torch.argmax(x))
    values.sum().backward()
    assert_close(x.grad, torch.tensor([2.0, 0, 4, 0, 0, 0]))


def test_in_place_change_of_a_saved_tensor_is_caught():
    x = torch.randn(3, requires_grad=True)
    y = x * 1
    out = j2t(jnp.exp)(y)
    out.mul_(2)  # the VJP of exp keeps exp(y), which shares this tensor's memory
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_double_backward_goes_through_jax():
    x = torch.randn(5, requires_grad=True)
    twin = x.detach().clone().requires_grad_()

    def second_derivative(fn, at):
        (first,) = torch.autograd.grad(fn(at).sum(), at, create_graph=True)
        (second,) = torch.autograd.grad((first**2).sum(), at)
        return first, second

    ours = second_derivative(j2t(lambda a: jnp.sin(a) * a), x)
    expected = second_derivative(lambda a: torch.sin(a) * a, twin)
    assert_close(ours, expected)


def test_hessian_with_an_integer_argument():
    index = torch.tensor([2, 0, 1])
    ours = j2t(lambda a, i: jnp.sum(jnp.sin(a[i]) ** 3 * a))
    x = torch.randn(3, dtype=torch.float32)
    hessian = torch.autograd.functional.hessian(lambda a: ours(a, index), x)
    expected = torch.autograd.functional.hessian(
        lambda a: torch.sum(torch.sin(a[index]) ** 3 * a), x
    )
    assert_close(hessian, expected)


def test_arrays_or_unhashable_values_are_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="hashable"):
        j2t(lambda a, b: a + b)(torch.ones(2), jnp.ones(2))


# --------------------------------------------------------------------------------------------------
# A PyTorch model whose middle layer is a JAX function


def _jax_mlp_block(h, scale):
    return jax.nn.gelu(h, approximate=False) * scale + jnp.tanh(h)


class HybridModel(torch.nn.Module):
    def __init__(self, middle):
        super().__init__()
        self.inp = torch.nn.Linear(6, 16)
        self.scale = torch.nn.Parameter(torch.ones(16) * 0.5)
        self.out = torch.nn.Linear(16, 3)
        self.middle = middle

    def forward(self, x):
        return self.out(self.middle(self.inp(x), self.scale))


def _torch_mlp_block(h, scale):
    return torch.nn.functional.gelu(h) * scale + torch.tanh(h)


@pytest.fixture
def models():
    torch.manual_seed(0)
    hybrid = HybridModel(j2t(_jax_mlp_block))
    twin = HybridModel(_torch_mlp_block)
    twin.load_state_dict(hybrid.state_dict())
    return hybrid, twin


def test_hybrid_model_trains_like_its_pytorch_twin(models):
    hybrid, twin = models
    torch.manual_seed(1)
    data, target = torch.randn(32, 6), torch.randint(0, 3, (32,))
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in (hybrid, twin)]
    losses = {id(m): [] for m in (hybrid, twin)}
    for _ in range(5):
        for model, optimizer in zip((hybrid, twin), optimizers, strict=True):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(data), target)
            loss.backward()
            losses[id(model)].append(loss.item())
            if model is hybrid:
                hybrid_grads = [p.grad.clone() for p in model.parameters()]
            else:
                assert_close(hybrid_grads, [p.grad for p in model.parameters()])
            optimizer.step()
    np.testing.assert_allclose(losses[id(hybrid)], losses[id(twin)], rtol=1e-5)
    assert losses[id(hybrid)][-1] < losses[id(hybrid)][0]
    assert_close(list(hybrid.parameters()), list(twin.parameters()))


def test_t2j_of_hybrid_model_inlines_the_jax_layer(models):
    hybrid, twin = models
    data = torch.randn(8, 6)
    jax_model = t2j(copy.deepcopy(hybrid))
    params = {k: t2j(v) for k, v in hybrid.named_parameters()}

    # Under jit the layer must be inlined: a round trip through PyTorch cannot take tracers.
    assert_close(jax.jit(jax_model)(t2j(data), state_dict=params), twin(data))
    jaxpr = str(jax.make_jaxpr(lambda p: jax_model(t2j(data), state_dict=p))(params))
    assert "callback" not in jaxpr and "erf" in jaxpr

    grads = jax.jit(jax.grad(lambda p: (jax_model(t2j(data), state_dict=p) ** 2).sum()))(params)
    twin.zero_grad()
    twin(data).square().sum().backward()
    expected = {k: p.grad for k, p in sorted(twin.named_parameters())}  # JAX sorts dict keys
    assert_close(grads, expected)

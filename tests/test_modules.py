"""t2j of modules: state_dict substitution, errors, tied weights, keyword inputs, non-mutation."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from tests.conftest import assert_close
from torch2jax import StateDictError, t2j


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.norm = torch.nn.BatchNorm1d(3)
        self.register_buffer("offset", torch.arange(3.0))

    def forward(self, x, *, scale=1.0):
        return self.norm(self.linear(x)) * scale + self.offset


@pytest.fixture
def net():
    torch.manual_seed(0)
    module = Net().eval()
    with torch.no_grad():
        module.norm.running_mean.normal_()
        module.norm.running_var.uniform_(0.5, 2.0)
    return module


@pytest.mark.parametrize("which", ["all", "parameters", "some", "none"])
def test_state_dict_all_some_or_none(net, which):
    x = torch.randn(5, 4)
    full = {k: t2j(v) for k, v in net.state_dict().items()}
    given = {
        "all": full,
        "parameters": {k: t2j(v) for k, v in net.named_parameters()},
        "some": {"linear.weight": full["linear.weight"]},
        "none": None,
    }[which]
    assert_close(t2j(net)(t2j(x), state_dict=given), net(x))


def test_state_dict_values_are_used(net):
    x = torch.randn(5, 4)
    other = copy.deepcopy(net)
    with torch.no_grad():
        other.linear.weight.mul_(-2)
    given = {"linear.weight": t2j(other.linear.weight)}
    assert_close(t2j(net)(t2j(x), state_dict=given), other(x))


def test_state_dict_errors_list_every_bad_entry(net):
    bad = {
        "linear.wieght": jnp.zeros((3, 4)),
        "nope": jnp.zeros(1),
        "linear.bias": jnp.zeros(4),
        "offset": jnp.zeros((1, 3)),
    }
    with pytest.raises(StateDictError) as info:
        t2j(net)(jnp.zeros((2, 4)), state_dict=bad)
    message = str(info.value)
    for text in [
        "linear.wieght",
        "nope",
        "linear.bias: got (4,), expected (3,)",
        "offset: got (1, 3), expected (3,)",
    ]:
        assert text in message


def test_keyword_inputs(net):
    x = torch.randn(5, 4)
    assert_close(t2j(net)(t2j(x), scale=3.0), net(x, scale=3.0))
    assert_close(jax.jit(t2j(net))(x=t2j(x)), net(x=x))


def test_module_unchanged_afterwards(net):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    params = {k: t2j(v) * 2 for k, v in net.named_parameters()}
    t2j(net)(jnp.ones((5, 4)), state_dict=params, return_state_dict=True)
    jax.jit(t2j(net))(jnp.ones((5, 4)), state_dict=params)
    assert net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(type(p) is torch.nn.Parameter for p in net.parameters())
    assert isinstance(net.linear.weight, torch.nn.Parameter)


def test_train_and_eval_follow_the_module_mode(net):
    x = torch.randn(6, 4)
    jm = t2j(net)
    net.eval()
    assert_close(jm(t2j(x)), net(x))
    net.train()
    expected = copy.deepcopy(net)(x)
    assert_close(jm(t2j(x)), expected, atol=1e-5)
    net.eval()
    assert_close(jm(t2j(x)), net(x))


def test_tied_weights_gradient_accumulates():
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=32)
    model = transformers.GPT2LMHeadModel(config).eval()
    assert model.lm_head.weight is model.transformer.wte.weight
    ids = torch.randint(0, 100, (2, 8))
    params = {k: t2j(v) for k, v in model.named_parameters()}
    assert "lm_head.weight" not in params  # named_parameters lists a tied weight once
    jm = t2j(model)

    def loss(p):
        return jnp.sum(jm(t2j(ids), state_dict=p).logits ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    (model(ids).logits ** 2).sum().backward()
    expected = model.transformer.wte.weight.grad
    assert_close(grads["transformer.wte.weight"], expected, atol=1e-4, rtol=1e-4)
    # Either name of the tied pair works.
    other = {"lm_head.weight": params["transformer.wte.weight"] * 0.5}
    halved = copy.deepcopy(model)  # params above share memory with model's tensors: mutate a copy
    with torch.no_grad():
        halved.transformer.wte.weight.mul_(0.5)
        expected_logits = halved(ids).logits
    assert_close(jm(t2j(ids), state_dict=other).logits, expected_logits, atol=1e-5)


def test_outputs_keep_field_names():
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50, n_positions=16)
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 50, (1, 5))
    out = jax.jit(t2j(model))(t2j(ids))
    assert type(out).__name__ == "CausalLMOutputWithCrossAttentions"
    leaves = jax.tree_util.tree_leaves(out)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    np.testing.assert_allclose(
        np.asarray(out.logits), model(ids).logits.detach().numpy(), atol=1e-5
    )

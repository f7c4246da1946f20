"""The original torch2jax README's model examples, as a user would run them (random weights)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
import torchvision

from tests.conftest import assert_close
from torch2jax import t2j


def test_vit_b_16_jitted_with_named_parameters_only():
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16().eval()
    # torchvision zero-initialises the classification head; a random head makes the check real.
    torch.nn.init.normal_(vit.heads.head.weight, std=0.02)
    batch = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = vit(batch)

    params = {name: t2j(p) for name, p in vit.named_parameters()}
    logits = jax.jit(t2j(vit))(t2j(batch), state_dict=params)

    assert_close(logits, expected, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    with torch.no_grad():  # non-trivial running statistics, so buffers matter
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_resnet18_forward_with_parameters_and_buffers(resnet, jit):
    batch = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = resnet(batch)
    forward = t2j(resnet)
    if jit:
        forward = jax.jit(forward)

    out = forward(t2j(batch), state_dict=t2j(dict(resnet.state_dict())))

    assert_close(out, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_resnet18_gradient_matches_autograd(resnet, jit):
    batch = torch.randn(2, 3, 64, 64)
    params = dict(resnet.named_parameters())
    buffers = dict(resnet.named_buffers())
    resnet.zero_grad()
    (resnet(batch) ** 2).sum().backward()
    expected = {name: p.grad.clone() for name, p in params.items()}
    resnet.zero_grad()

    forward = t2j(resnet)

    def loss(jax_params, x):
        out = forward(x, state_dict={**jax_params, **t2j(buffers)})
        return (out**2).sum()

    grad_fn = jax.grad(loss)
    if jit:
        grad_fn = jax.jit(grad_fn)
    grads = grad_fn({name: t2j(p.detach()) for name, p in params.items()}, t2j(batch))

    assert grads.keys() == expected.keys()
    for name, g in expected.items():
        scale = float(g.abs().max()) + 1e-12
        np.testing.assert_allclose(
            np.asarray(grads[name]), g.numpy(), atol=1e-4 * scale, rtol=1e-4, err_msg=name
        )

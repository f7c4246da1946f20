"""Gradients at kinks and ties follow PyTorch's autograd, not JAX's conventions.

Piecewise functions meet these points constantly in real models: a ReLU after a depthwise
convolution over an all-zero patch sees an exact 0, a residual block whose last batch norm starts at
weight 0 adds a constant to a ReLU output, ``max(dim)`` over ReLU outputs ties at 0. JAX's
``maximum``/``clip`` split a tie's gradient in half where PyTorch gives all or nothing, so a lowering
written with them silently changes the gradient of a whole model (timm's resnet18 and torchvision's
mnasnet had 30-57% gradient errors from ``relu`` alone). Each case feeds values that sit exactly on
the kinks and compares ``jax.grad`` with ``torch.autograd``.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch2jax import t2j

# Every kink of the functions below is in here, plus NaN-free points on both sides of each.
POINTS = [-4.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0]


def _tied(x: torch.Tensor, first: bool) -> torch.Tensor:
    """Rows (x_i, x_i) where one of the pair is a constant (no gradient)."""
    pair = (x, x.detach()) if first else (x.detach(), x)
    return torch.stack(pair, dim=1)


CASES = {
    "relu": torch.relu,
    "relu_inplace": lambda x: F.relu(x * 1.0, inplace=True),
    "relu6": F.relu6,
    "hardtanh": lambda x: F.hardtanh(x, -1.0, 2.0),
    "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish,
    "clamp_scalars": lambda x: torch.clamp(x, -1.0, 2.0),
    "clamp_min_scalar": lambda x: torch.clamp(x, min=0.0),
    "clamp_max_scalar": lambda x: torch.clamp(x, max=0.0),
    "clamp_min_method": lambda x: x.clamp_min(0.5),
    "clamp_max_method": lambda x: x.clamp_max(0.5),
    "clamp_tensors": lambda x: torch.clamp(x, torch.tensor(-1.0), torch.tensor(2.0)),
    "clamp_min_tensor": lambda x: torch.clamp_min(x, torch.zeros(())),
    "threshold": lambda x: F.threshold(x, 1.0, 5.0),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": lambda x: F.elu(x, alpha=2.0),
    "selu": F.selu,
    "celu": lambda x: F.celu(x, alpha=0.5),
    "softshrink": lambda x: F.softshrink(x, 1.0),
    "hardshrink": lambda x: F.hardshrink(x, 1.0),
    "abs": torch.abs,
    "maximum": lambda x: torch.maximum(x, torch.zeros(())),
    "minimum": lambda x: torch.minimum(x, torch.zeros(())),
    "fmax": lambda x: torch.fmax(x, torch.zeros(())),
    "fmin": lambda x: torch.fmin(x, torch.zeros(())),
    # Ties between x and a constant copy of it, x first or second: PyTorch's value-selecting
    # reductions give the whole gradient to the first maximum, amax and max() split it evenly.
    "max_all": lambda x: _tied(x, first=True).max(),
    "amax": lambda x: _tied(x, first=True).amax(1),
    "max_dim_first": lambda x: _tied(x, first=True).max(1).values,
    "max_dim_second": lambda x: _tied(x, first=False).max(1).values,
    "min_dim_first": lambda x: _tied(x, first=True).min(dim=1)[0],
    "max_dim_keepdim": lambda x: torch.max(_tied(x, first=False), 1, True)[0],
    "max_pool_first": lambda x: F.max_pool1d(_tied(x, first=True).view(1, 1, -1), 2),
    "max_pool_second": lambda x: F.max_pool1d(_tied(x, first=False).view(1, 1, -1), 3, 1),
    "adaptive_max_pool": lambda x: F.adaptive_max_pool1d(_tied(x, first=False).view(1, -1), 5),
}


@pytest.mark.parametrize("name", CASES)
def test_gradient_at_kinks_matches_pytorch(name):
    fn = CASES[name]
    x = torch.tensor(POINTS, requires_grad=True)
    out = fn(x)
    weights = torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
    (out * weights).sum().backward()

    converted = t2j(fn)
    jax_weights = t2j(weights)
    grad = jax.grad(lambda v: (converted(v) * jax_weights).sum())(t2j(x.detach()))
    np.testing.assert_allclose(
        np.asarray(converted(t2j(x.detach()))), out.detach().numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(np.asarray(grad), x.grad.numpy(), rtol=1e-6, atol=1e-7)

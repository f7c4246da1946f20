"""torch2jax.compiler_options(): the XLA options it returns take effect and change no results."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
import torch

import torch2jax
from tests.conftest import assert_close
from torch2jax import t2j, xla_options

on_cpu = pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU options")


def _conv_net() -> torch.nn.Module:
    torch.manual_seed(0)
    # Convolutions big enough for XLA:CPU to give them to YNNPACK by default (32 channels at 32²).
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 2 * 2, 10),
    ).eval()


@on_cpu
def test_cpu_options_move_convolutions_off_ynnpack():
    options = torch2jax.compiler_options()
    assert options == xla_options._CPU_OPTIONS
    model = _conv_net()
    jm, params = t2j(model), t2j(model.state_dict())
    x = t2j(torch.randn(2, 3, 32, 32))

    def optimized_hlo(**jit_options):
        fn = jax.jit(lambda p, x: jm(x, state_dict=p), **jit_options)
        text = fn.lower(params, x).compile().as_text()
        return text[text.index("ENTRY") :]  # the program, not the fused computations it calls

    # By default YNNPACK fusions take both convolutions; with the options they stay XLA's own.
    assert optimized_hlo().count(" convolution(") == 0
    assert optimized_hlo(compiler_options=options).count(" convolution(") == 2


def test_results_and_gradients_with_the_options_match_pytorch():
    model = _conv_net()
    jm, params = t2j(model), t2j(dict(model.named_parameters()))
    x = torch.randn(2, 3, 32, 32)
    options = torch2jax.compiler_options()

    forward = jax.jit(lambda p, x: jm(x, state_dict=p), compiler_options=options)
    assert_close(forward(params, t2j(x)), model(x))

    def loss(p, x):
        return jnp.sum(jm(x, state_dict=p) ** 2)

    grads = jax.jit(jax.grad(loss), compiler_options=options)(params, t2j(x))
    (model(x) ** 2).sum().backward()
    for name, p in model.named_parameters():
        assert_close(grads[name], p.grad, atol=1e-4, rtol=1e-4)


def test_unknown_options_and_other_backends_give_none():
    assert not xla_options._accepted({"xla_cpu_no_such_option": True})
    assert not xla_options._accepted(
        {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_NO_SUCH_TYPE"}
    )
    assert xla_options.recommended_compiler_options("tpu") == {}


def test_the_result_is_a_copy():
    torch2jax.compiler_options()["xla_cpu_no_such_option"] = 1
    assert "xla_cpu_no_such_option" not in torch2jax.compiler_options()

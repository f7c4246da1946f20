"""Training-mode state: `return_state_dict=True` returns every buffer the code updated."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torchvision

from tests.conftest import assert_close
from torch2jax import CapturedMutationWarning, StateDictError, t2j


def _state(module):
    return {k: t2j(v) for k, v in module.state_dict().items()}


def _run_steps(module, inputs, jit):
    """Call the converted module on each input, feeding the returned state back in."""
    reference = copy.deepcopy(module)
    jm = t2j(module)
    call = jax.jit(lambda x, s: jm(x, state_dict=s, return_state_dict=True)) if jit else None
    state = _state(module)
    results = []
    for x in inputs:
        if jit:
            out, state = call(t2j(x), state)
        else:
            out, state = jm(t2j(x), state_dict=state, return_state_dict=True)
        expected = reference(x)
        results.append((out, state, expected, copy.deepcopy(reference.state_dict())))
    return results


def _assert_step_matches(out, state, expected, expected_state, atol=1e-5):
    assert_close(out, expected, atol=atol, rtol=atol)
    assert set(state) == set(expected_state)
    for name, value in expected_state.items():
        assert_close(state[name], value, atol=atol, rtol=atol)


def _buffers_untouched(module, before):
    for name, value in module.state_dict().items():
        assert torch.equal(value, before[name]), name


# --------------------------------------------------------------------------------------------------
# Normalization layers


NORM_LAYERS = {
    "batchnorm1d_2d": (lambda: torch.nn.BatchNorm1d(5), (8, 5)),
    "batchnorm1d_3d": (lambda: torch.nn.BatchNorm1d(5), (4, 5, 7)),
    "batchnorm2d": (lambda: torch.nn.BatchNorm2d(3, momentum=0.3), (4, 3, 5, 5)),
    "batchnorm3d": (lambda: torch.nn.BatchNorm3d(3), (2, 3, 4, 4, 4)),
    "instancenorm2d_tracked": (
        lambda: torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        (4, 3, 6, 6),
    ),
    "instancenorm1d_tracked": (
        lambda: torch.nn.InstanceNorm1d(3, track_running_stats=True),
        (4, 3, 9),
    ),
    "syncbatchnorm": (lambda: torch.nn.SyncBatchNorm(3), (4, 3, 5, 5)),
}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", list(NORM_LAYERS))
def test_norm_layer_running_stats_match_pytorch_over_three_steps(name, jit):
    make, shape = NORM_LAYERS[name]
    torch.manual_seed(0)
    module = make().train()
    if getattr(module, "weight", None) is not None:
        with torch.no_grad():
            module.weight.uniform_(0.5, 1.5)
            module.bias.normal_()
    before = copy.deepcopy(module.state_dict())
    inputs = [torch.randn(shape) * (i + 1) + i for i in range(3)]
    for out, state, expected, expected_state in _run_steps(module, inputs, jit):
        _assert_step_matches(out, state, expected, expected_state)
    _buffers_untouched(module, before)
    assert module.training


def test_batchnorm_cumulative_average_momentum_none():
    torch.manual_seed(0)
    module = torch.nn.BatchNorm1d(4, momentum=None).train()
    inputs = [torch.randn(6, 4) + i for i in range(3)]
    for out, state, expected, expected_state in _run_steps(module, inputs, jit=False):
        _assert_step_matches(out, state, expected, expected_state)


def test_eval_mode_returns_the_state_unchanged():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4)).eval()
    state = _state(module)
    out, new_state = t2j(module)(jnp.ones((3, 4)), state_dict=state, return_state_dict=True)
    for name, value in state.items():
        np.testing.assert_array_equal(new_state[name], value)


def test_gradients_through_training_mode_batchnorm_match_pytorch():
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten()
    ).train()
    x = torch.randn(3, 2, 6, 6)
    params = {k: t2j(v) for k, v in module.named_parameters()}

    def loss(params):
        out, state = t2j(module)(t2j(x), state_dict=params, return_state_dict=True)
        return jnp.sum(out**2), state

    grads, state = jax.jit(jax.grad(loss, has_aux=True))(params)
    reference = copy.deepcopy(module)
    (reference(x) ** 2).sum().backward()
    for name, parameter in reference.named_parameters():
        assert_close(grads[name], parameter.grad, atol=1e-4, rtol=1e-4)
    assert_close(state["1.running_mean"], reference[1].running_mean)
    assert int(state["1.num_batches_tracked"]) == 1


# --------------------------------------------------------------------------------------------------
# A module that mutates its own buffers


class StepCounter(torch.nn.Module):
    """Counts its calls and keeps exponential moving averages, in place and by rebinding."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("ema", torch.zeros(3))
        self.register_buffer("ema_inplace", torch.zeros(3))
        self.register_buffer("untouched", torch.arange(3.0))

    def forward(self, x):
        y = self.linear(x)
        self.steps += 1
        self.ema = 0.9 * self.ema + 0.1 * y.mean(0).detach()
        self.ema_inplace.mul_(0.8).add_(0.2 * y.detach().pow(2).mean(0))
        return y * self.steps + self.ema + self.untouched


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_custom_module_buffer_updates_match_pytorch(jit):
    torch.manual_seed(0)
    module = StepCounter().train()
    before = copy.deepcopy(module.state_dict())
    inputs = [torch.randn(5, 3) for _ in range(3)]
    results = _run_steps(module, inputs, jit)
    for out, state, expected, expected_state in results:
        _assert_step_matches(out, state, expected, expected_state)
    assert int(results[-1][1]["steps"]) == 3
    _buffers_untouched(module, before)


def test_rebinding_a_buffer_to_another_shape_is_an_error():
    class Grows(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("history", torch.zeros(2))

        def forward(self, x):
            self.history = torch.cat([self.history, x])
            return x

    with pytest.raises(StateDictError, match="history"):
        t2j(Grows())(jnp.ones(1), return_state_dict=True)


# --------------------------------------------------------------------------------------------------
# ResNet-18 in training mode


@pytest.fixture(scope="module")
def resnet_steps():
    torch.manual_seed(0)
    module = torchvision.models.resnet18(num_classes=10).train()
    before = copy.deepcopy(module.state_dict())
    generator = torch.Generator().manual_seed(1)
    # 64x64 keeps ResNet's last batch norm well conditioned (2x2 spatial, 8 values a channel);
    # at 32x32 it normalizes 2 values and float32 PyTorch itself strays 4e-3 from float64.
    inputs = [torch.randn(2, 3, 64, 64, generator=generator) for _ in range(3)]
    results = _run_steps(module, inputs, jit=True)
    return module, before, results


def _max_errors(result):
    out, state, expected, expected_state = result
    output_error = float(np.abs(np.asarray(out) - expected.detach().numpy()).max())
    buffer_error = max(
        float(np.abs(np.asarray(state[name], np.float64) - value.double().numpy()).max())
        for name, value in expected_state.items()
    )
    return output_error, buffer_error


@pytest.mark.parametrize("step", [0, 2], ids=["one_step", "three_steps"])
def test_resnet18_training_outputs_and_buffers_match_pytorch(resnet_steps, step):
    module, before, results = resnet_steps
    out, state, expected, expected_state = results[step]
    _assert_step_matches(out, state, expected, expected_state)
    assert int(state["bn1.num_batches_tracked"]) == step + 1
    assert int(state["layer4.1.bn2.num_batches_tracked"]) == step + 1
    print(
        "ResNet-18 train step",
        step + 1,
        "max |error| (outputs, buffers):",
        _max_errors(results[step]),
    )
    _buffers_untouched(module, before)


def test_module_captured_by_a_function_trains_with_its_buffers_left_alone():
    # t2j(lambda x: bn(x)): the buffers are captured constants, not state the call can return.
    bn = torch.nn.BatchNorm1d(3).train()
    x = torch.randn(8, 3)
    before = copy.deepcopy(bn.state_dict())
    with pytest.warns(CapturedMutationWarning, match="return_state_dict=True"):
        out = jax.jit(t2j(lambda inputs: bn(inputs)))(t2j(x))
    for name, value in bn.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[name].numpy())
    assert_close(out, bn(x))

"""Is a zoo model's miss round-off? Measure both libraries' float32 results against float64.

    python -m tests.zoo_float64 NAME [CHECK ...]      (CHECK: outputs, grad, train; default all)

For each check it prints four relative errors (the zoo's own measure, tests/model_zoo.py):
torch2jax float32 and PyTorch float32 each against PyTorch float64, torch2jax against PyTorch in
float32 (what the zoo tests), and torch2jax against PyTorch both in float64. A translation that
computes PyTorch's function has the last one at float64 round-off (1e-12 or so), and where the
float32 comparison then misses its tolerance, PyTorch's own float32 error says by how much
float32 round-off alone moves the result; the zoo's looser tolerances cite these numbers.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from tests.model_cases import all_cases
from tests.model_zoo import (
    Built,
    _call_jax,
    _leaves,
    _parameters,
    gradients_error,
    jax_gradients,
    jax_training,
    torch_gradients,
    torch_training,
    training_error,
    tree_relative_error,
    x64_enabled,
)


def _torch_outputs(built: Built) -> object:
    with torch.no_grad():
        return built.module(*built.args, **built.kwargs)


def _jax_outputs(built: Built) -> object:
    import jax

    return jax.jit(_call_jax(built.module, built))(_parameters(built.module))


def _as_actual_outputs(torch_outputs: object) -> list[np.ndarray]:
    """PyTorch outputs in the form the comparisons take for the JAX side (leaves in order)."""
    return _leaves(torch_outputs, jax_side=False)


def measure_outputs(built: Built) -> dict[str, float]:
    torch32, jax32 = _torch_outputs(built), _jax_outputs(built)
    built64 = built.in_float64()
    torch64 = _torch_outputs(built64)
    with x64_enabled():
        jax64 = _jax_outputs(built64)
    return {
        "torch2jax f32 vs PyTorch f64": tree_relative_error(jax32, torch64),
        "PyTorch f32 vs PyTorch f64": tree_relative_error(_as_actual_outputs(torch32), torch64),
        "torch2jax f32 vs PyTorch f32": tree_relative_error(jax32, torch32),
        "torch2jax f64 vs PyTorch f64": tree_relative_error(jax64, torch64),
    }


def measure_grad(built: Built) -> dict[str, float]:
    torch32, differentiable = torch_gradients(built)
    jax32 = jax_gradients(built, differentiable)
    built64 = built.in_float64()
    torch64, _ = torch_gradients(built64)
    with x64_enabled():
        jax64 = jax_gradients(built64, differentiable)
    return {
        "torch2jax f32 vs PyTorch f64": gradients_error(jax32, torch64),
        "PyTorch f32 vs PyTorch f64": gradients_error(torch32, torch64),
        "torch2jax f32 vs PyTorch f32": gradients_error(jax32, torch32),
        "torch2jax f64 vs PyTorch f64": gradients_error(jax64, torch64),
    }


def measure_train(built: Built) -> dict[str, float]:
    torch32, jax32 = torch_training(built), jax_training(built)
    built64 = built.in_float64()
    torch64 = torch_training(built64)
    with x64_enabled():
        jax64 = jax_training(built64)
    outputs32, buffers32, _ = torch32
    torch32_as_actual = (
        _as_actual_outputs(outputs32),
        {name: value.numpy() for name, value in buffers32.items()},
    )
    return {
        "torch2jax f32 vs PyTorch f64": training_error(jax32, torch64),
        "PyTorch f32 vs PyTorch f64": training_error(torch32_as_actual, torch64),
        "torch2jax f32 vs PyTorch f32": training_error(jax32, torch32),
        "torch2jax f64 vs PyTorch f64": training_error(jax64, torch64),
    }


MEASURES = {"outputs": measure_outputs, "grad": measure_grad, "train": measure_train}


def main(argv: list[str]) -> None:
    name, checks = argv[0], argv[1:] or list(MEASURES)
    case = next(c for c in all_cases() if c.name == name)
    built = case.build()
    for check in checks:
        for label, error in MEASURES[check](built).items():
            print(f"{name} {check:7s} {label}: {error:.2e}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

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

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tests.conftest import x64_set
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
)


def _torch_outputs(built: Built) -> object:
    with torch.no_grad():
        return built.module(*built.args, **built.kwargs)


def _jax_outputs(built: Built, expected: object) -> object:
    import jax

    return jax.jit(_call_jax(built.module, built))(_parameters(built.module))


def _torch_outputs_as_actual(torch_outputs: object) -> list[np.ndarray]:
    """PyTorch outputs in the form the comparisons take for the JAX side (leaves in order)."""
    return _leaves(torch_outputs, jax_side=False)


def _torch_training_as_actual(expected: tuple) -> tuple:
    outputs, buffers, _ = expected
    return _torch_outputs_as_actual(outputs), {name: b.numpy() for name, b in buffers.items()}


@dataclasses.dataclass(frozen=True)
class Measure:
    """One check's two halves and its error, as tests/model_zoo.py defines them.

    ``run_torch(built)`` gives PyTorch's result (the expected side), ``run_jax(built, expected)``
    torch2jax's, ``error(actual, expected)`` the zoo's relative error, and ``as_actual`` puts a
    PyTorch result in the form ``error`` takes for its actual side.
    """

    run_torch: Callable[[Built], Any]
    run_jax: Callable[[Built, Any], Any]
    error: Callable[[Any, Any], float]
    as_actual: Callable[[Any], Any]

    def __call__(self, built: Built) -> dict[str, float]:
        torch32 = self.run_torch(built)
        jax32 = self.run_jax(built, torch32)
        built64 = built.in_float64()
        torch64 = self.run_torch(built64)
        with x64_set(True):
            jax64 = self.run_jax(built64, torch64)
        return {
            "torch2jax f32 vs PyTorch f64": self.error(jax32, torch64),
            "PyTorch f32 vs PyTorch f64": self.error(self.as_actual(torch32), torch64),
            "torch2jax f32 vs PyTorch f32": self.error(jax32, torch32),
            "torch2jax f64 vs PyTorch f64": self.error(jax64, torch64),
        }


MEASURES = {
    "outputs": Measure(_torch_outputs, _jax_outputs, tree_relative_error, _torch_outputs_as_actual),
    "grad": Measure(
        torch_gradients,
        lambda built, expected: jax_gradients(built, expected[1]),
        lambda actual, expected: gradients_error(actual, expected[0]),
        lambda expected: expected[0],
    ),
    "train": Measure(
        torch_training,
        lambda built, expected: jax_training(built),
        training_error,
        _torch_training_as_actual,
    ),
}


def main(argv: list[str]) -> None:
    name, checks = argv[0], argv[1:] or list(MEASURES)
    case = next(c for c in all_cases() if c.name == name)
    built = case.build()
    for check in checks:
        for label, error in MEASURES[check](built).items():
            print(f"{name} {check:7s} {label}: {error:.2e}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

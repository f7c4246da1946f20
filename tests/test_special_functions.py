"""Bessel and Airy functions against PyTorch over a wide range, in float32 and float64.

The OpInfo sweep only samples float32 on [-9, 9]; these check both precisions on the branches of
PyTorch's Cephes approximations (series, rational, asymptotic), the special points (0, the
branch boundaries, +-inf, NaN) and large arguments, where a one-ulp difference in a phase shows.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch

from tests.conftest import x64_set
from torch2jax import t2j

FUNCTIONS = [
    "bessel_j0",
    "bessel_j1",
    "bessel_y0",
    "bessel_y1",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "airy_ai",
]

# Round-off over the condition of the functions near their zeros and at large arguments.
TOLERANCE = {
    torch.float32: {"rtol": 1.3e-6, "atol": 1e-5},
    torch.float64: {"rtol": 1e-12, "atol": 1e-14},
}


def _points() -> np.ndarray:
    rng = np.random.default_rng(0)
    magnitudes = 10.0 ** rng.uniform(-8, 3, 400)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-5, 2.0, 2.09, -2.09, 5.0, 8.3203353, 103.9]
    return np.concatenate(
        [np.linspace(-30, 30, 1201), magnitudes, -magnitudes, rng.uniform(-200, 200, 400), special]
    )


@pytest.fixture(scope="module", autouse=True)
def _x64():
    with x64_set(True):
        yield


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_matches_pytorch_over_a_wide_range(name: str, dtype: torch.dtype) -> None:
    fn = getattr(torch.special, name)
    x = torch.tensor(_points(), dtype=dtype)
    actual = torch.from_numpy(np.array(jax.jit(t2j(fn))(t2j(x))))
    assert actual.dtype == dtype
    torch.testing.assert_close(actual, fn(x), equal_nan=True, **TOLERANCE[dtype])


def test_integer_input_becomes_float() -> None:
    x = torch.arange(-3, 8)
    actual = t2j(torch.special.bessel_y1)(t2j(x))
    torch.testing.assert_close(
        torch.from_numpy(np.array(actual)), torch.special.bessel_y1(x), equal_nan=True
    )

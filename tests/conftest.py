"""Shared test helpers: compare JAX results with PyTorch's, run under both x64 settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import numpy as np
import pytest
import torch
import torch.utils._pytree as torch_pytree

jax.config.update("jax_platforms", "cpu")


@contextlib.contextmanager
def x64_set(enabled: bool) -> Iterator[None]:
    """``jax_enable_x64`` set to ``enabled`` inside the block, restored after it."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture(params=[False, True], ids=["x64_off", "x64_on"])
def x64(request):
    """Run the test with jax_enable_x64 off and on."""
    with x64_set(request.param):
        yield request.param


@pytest.fixture
def x64_on():
    """Run the test with jax_enable_x64 on (float64/int64 samples, float64 emulation)."""
    with x64_set(True):
        yield


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().resolve_conj()
        return x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy()
    return np.asarray(x)


def assert_close(actual, expected, atol=1e-5, rtol=1e-5, check_dtype=False):
    """JAX result(s) against PyTorch result(s), leaf by leaf; NaN equals NaN."""
    actual_leaves = jax.tree_util.tree_leaves(actual)
    expected_leaves = torch_pytree.tree_leaves(expected)
    assert len(actual_leaves) == len(expected_leaves), (len(actual_leaves), len(expected_leaves))
    for a, e in zip(actual_leaves, expected_leaves, strict=True):
        a_np, e_np = to_numpy(a), to_numpy(e)
        assert a_np.shape == e_np.shape, (a_np.shape, e_np.shape)
        if check_dtype:
            assert a_np.dtype == e_np.dtype, (a_np.dtype, e_np.dtype)
        if e_np.dtype.kind in "biu" and a_np.dtype.kind in "biu":
            np.testing.assert_array_equal(a_np, e_np)
        else:
            np.testing.assert_allclose(a_np, e_np, atol=atol, rtol=rtol, equal_nan=True)

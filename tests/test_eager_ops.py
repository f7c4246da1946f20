"""Eager (un-jitted) calls: each ATen op is one compiled JAX computation, with PyTorch's results.

See src/torch2jax/eager_ops.py. The OpInfo sweep's eager mode covers every op's values; these
tests pin what the compilation cache must keep apart and what must still run op by op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from jax import monitoring

from torch2jax import t2j


@contextlib.contextmanager
def count_compilations() -> Iterator[list[float]]:
    compilations: list[float] = []

    def listener(event: str, duration: float, **_: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compilations.append(duration)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield compilations
    finally:
        monitoring.unregister_event_duration_listener(listener)


def test_an_eager_op_compiles_once_and_then_not_again():
    x = torch.randn(4, 5, 6, 7)
    weight, bias = torch.randn(5), torch.randn(5)
    mean, var = torch.randn(5), torch.rand(5) + 0.5

    def f(x):
        return F.batch_norm(x, mean, var, weight, bias, training=False, eps=1e-3)

    converted = t2j(f)
    with count_compilations() as first:
        out = converted(t2j(x))
    with count_compilations() as second:
        converted(t2j(x))
    np.testing.assert_allclose(np.asarray(out), f(x).numpy(), rtol=1e-5, atol=1e-6)
    # Op by op this batch norm compiled one executable per lax primitive (six or more).
    assert len(first) <= 2
    assert second == []


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x + 1,
        lambda x: x + 1.0,
        lambda x: x + True,
        lambda x: x * 0.0,
        lambda x: x * -0.0,
        lambda x: x + float("nan"),
        lambda x: x.to(torch.float64),
        lambda x: x.to(torch.int32),
    ],
    ids=["int", "float", "bool", "zero", "negative-zero", "nan", "to-float64", "to-int32"],
)
@pytest.mark.parametrize("dtype", [torch.int64, torch.float32])
def test_python_numbers_that_compare_equal_are_kept_apart(f, dtype, x64):
    """1, 1.0 and True hash alike, as do 0.0 and -0.0: each must give PyTorch's own dtype and
    value, whichever was compiled first."""
    x = torch.tensor([-2, 0, 3]).to(dtype)
    expected = f(x)
    actual = t2j(f)(t2j(x))
    assert actual.dtype == t2j(expected).dtype
    np.testing.assert_array_equal(np.signbit(np.asarray(actual)), np.signbit(expected.numpy()))
    np.testing.assert_array_equal(np.asarray(actual), expected.numpy())


def test_a_loop_over_changing_numbers_stays_exact():
    """A new Python number each step (a noise schedule): past a few compilations the op runs op by
    op with the number as an operand; every step matches PyTorch."""
    x = torch.randn(3, 4)
    for step in range(20):
        scale = 1.0 / (step + 1.5)
        f = lambda x, scale=scale: torch.addcmul(x, x, x, value=scale).mul(scale)  # noqa: E731
        np.testing.assert_allclose(np.asarray(t2j(f)(t2j(x))), f(x).numpy(), rtol=1e-6, atol=1e-6)


def test_the_default_dtype_is_read_per_call(x64):
    def f(x):
        return torch.arange(3.0) + x.new_zeros(3).float() + torch.zeros(3)

    x = t2j(torch.ones(3))
    try:
        assert t2j(f)(x).dtype == np.float32
        torch.set_default_dtype(torch.float64)
        assert t2j(f)(x).dtype == (np.float64 if x64 else np.float32)
    finally:
        torch.set_default_dtype(torch.float32)


def test_ops_that_need_values_still_run_eagerly():
    x = torch.tensor([[0.0, 1.5, -2.0], [3.0, 0.0, 0.25]])

    def f(x):
        counts = torch.bincount((x.abs() * 2).long().flatten())
        return x[x > 0], torch.nonzero(x), counts, torch.unique(x), int(x.argmax())

    actual = t2j(f)(t2j(x))
    for a, e in zip(actual, f(x), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


def test_value_checks_still_raise_pytorchs_error_eagerly():
    x, target, var = torch.randn(4), torch.randn(4), -torch.ones(4)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(x, target, var)
    with pytest.raises(ValueError, match="var has negative entry"):
        t2j(F.gaussian_nll_loss)(t2j(x), t2j(target), t2j(var))


def test_random_draws_follow_the_key_eagerly():
    def f(x):
        return F.dropout(x, 0.5, training=True) + torch.rand_like(x)

    x = t2j(torch.ones(1000))
    a = t2j(f)(x, rng=jax.random.key(0))
    b = t2j(f)(x, rng=jax.random.key(0))
    c = t2j(f)(x, rng=jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_shape_errors_keep_their_message_eagerly():
    with pytest.raises(Exception, match="mat1 and mat2 shapes cannot be multiplied|dot_general"):
        t2j(torch.mm)(t2j(torch.ones(2, 3)), t2j(torch.ones(4, 5)))

"""t2j of functions: arguments, pytrees, factories, captured tensors and JAX transformations."""

from __future__ import annotations

import gc

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tests.conftest import assert_close
from torch2jax import CapturedMutationWarning, t2j


def test_positional_keyword_scalar_and_other_arguments():
    def f(x, y, scale, *, shift=0.0, mode="add"):
        out = x + y if mode == "add" else x * y
        return out * scale + shift

    x, y = torch.randn(3), torch.randn(3)
    jf = t2j(f)
    assert_close(
        jf(t2j(x), t2j(y), 2.0, shift=1.5, mode="mul"), f(x, y, 2.0, shift=1.5, mode="mul")
    )
    assert_close(jf(t2j(x), t2j(y), 3), f(x, y, 3))


def test_nested_pytrees_in_and_out():
    def f(inputs):
        a, (b, c) = inputs["pair"]
        return {"sum": a + b, "list": [c * 2, (a - c,)], "none": None, "n": 3}

    tree = {"pair": (torch.randn(2), (torch.randn(2), torch.randn(2)))}
    out = t2j(f)(t2j(tree))
    expected = f(tree)
    assert out["none"] is None and out["n"] == 3
    assert_close(out["sum"], expected["sum"])
    assert_close(out["list"], expected["list"])


def factories(x):
    return (
        torch.zeros(2, 3) + x.sum(),
        torch.ones(3, dtype=torch.int32),
        torch.arange(5),
        torch.arange(0.5, 2.0, 0.25),
        torch.tensor([1.0, 2.0, 3.0]) * x[0],
        torch.eye(3),
        torch.eye(2, 4, dtype=torch.bool),
        torch.full((2,), 7),
        torch.full((2,), 0.5),
        torch.linspace(-1, 1, 7),
        torch.zeros_like(x),
        torch.ones_like(x, dtype=torch.float64),
        torch.full_like(x, 3),
        x.new_zeros(2),
        x.new_ones((1, 2)),
        x.new_full((2,), 4.0),
        x.new_tensor([5, 6]),
        torch.empty(2, 0).shape[1],
    )


def test_factories_inside(x64):
    x = torch.randn(4)
    out = t2j(factories)(t2j(x))
    expected = factories(x)
    assert_close(out, expected)
    for o, e in zip(out[:-1], expected[:-1], strict=True):
        expected_dtype = (
            e.dtype
            if x64
            else {torch.int64: torch.int32, torch.float64: torch.float32}.get(e.dtype, e.dtype)
        )
        assert str(o.dtype) == str(expected_dtype).removeprefix("torch."), (o.dtype, e.dtype)


def test_captured_tensors():
    weight = torch.randn(3, 3)
    bias = torch.randn(3)

    def f(x):
        return x @ weight + bias

    x = torch.randn(2, 3)
    assert_close(t2j(f)(t2j(x)), f(x))
    assert_close(jax.jit(t2j(f))(t2j(x)), f(x))


def test_small_captured_tensors_follow_their_current_values(x64):
    # Small constants are converted once per distinct value (a cache): a tensor changed between
    # calls, or a fresh tensor per call, must still be read as it is now.
    offsets = torch.tensor([2, 3])

    def f(x):
        return x * offsets + torch.tensor([0.5, 1.0])

    x = torch.randn(2)
    assert_close(t2j(f)(t2j(x)), f(x))
    offsets.mul_(10)
    assert_close(t2j(f)(t2j(x)), f(x))
    assert_close(jax.jit(t2j(f))(t2j(x)), f(x))
    ids = t2j(lambda: offsets + 0)()
    assert str(ids.dtype) == ("int64" if x64 else "int32")
    np.testing.assert_array_equal(np.asarray(ids), [20, 30])


def mlp(x, w1, w2):
    return torch.tanh(x @ w1).sin() @ w2


def scalar_fn(x, w1, w2):
    return (mlp(x, w1, w2) ** 2).sum()


def _inputs():
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(4, 3, generator=g),
        torch.randn(3, 5, generator=g),
        torch.randn(5, 2, generator=g),
    )


def test_jit_grad_value_and_grad_match_torch_func():
    args = _inputs()
    jargs = [t2j(a) for a in args]
    jf = t2j(scalar_fn)
    assert_close(jax.jit(jf)(*jargs), scalar_fn(*args))
    expected_grads = torch.func.grad(scalar_fn, argnums=(0, 1, 2))(*args)
    assert_close(jax.grad(jf, argnums=(0, 1, 2))(*jargs), expected_grads, atol=1e-4)
    value, grads = jax.jit(jax.value_and_grad(jf, argnums=1))(*jargs)
    assert_close(value, scalar_fn(*args))
    assert_close(grads, expected_grads[1], atol=1e-4)


def test_vmap_nested_and_in_axes():
    x, w1, w2 = _inputs()
    batch = torch.randn(3, 4, 4, 3)
    jf = t2j(mlp)
    out = jax.vmap(jax.vmap(jf, in_axes=(0, None, None)), in_axes=(0, None, None))(
        t2j(batch), t2j(w1), t2j(w2)
    )
    expected = torch.func.vmap(
        torch.func.vmap(mlp, in_dims=(0, None, None)), in_dims=(0, None, None)
    )(batch, w1, w2)
    assert_close(out, expected, atol=1e-5)
    ws = torch.randn(6, 3, 5)
    out = jax.vmap(jf, in_axes=(None, 0, None))(t2j(x), t2j(ws), t2j(w2))
    assert_close(out, torch.func.vmap(mlp, in_dims=(None, 0, None))(x, ws, w2))


def test_jvp_jacfwd_jacrev_hessian():
    x, w1, w2 = _inputs()
    jf = t2j(mlp)
    tangent = torch.randn_like(x)
    primal, jvp_out = jax.jvp(lambda a: jf(a, t2j(w1), t2j(w2)), (t2j(x),), (t2j(tangent),))
    expected_primal, expected_jvp = torch.func.jvp(lambda a: mlp(a, w1, w2), (x,), (tangent,))
    assert_close(primal, expected_primal)
    assert_close(jvp_out, expected_jvp, atol=1e-5)
    assert_close(
        jax.jacfwd(jf)(t2j(x), t2j(w1), t2j(w2)), torch.func.jacfwd(mlp)(x, w1, w2), atol=1e-5
    )
    assert_close(
        jax.jacrev(jf)(t2j(x), t2j(w1), t2j(w2)), torch.func.jacrev(mlp)(x, w1, w2), atol=1e-5
    )
    small = torch.randn(3)

    def cubic(v):
        return (v.sin() * v**2).sum()

    assert_close(jax.hessian(t2j(cubic))(t2j(small)), torch.func.hessian(cubic)(small), atol=1e-5)


def test_caller_array_unchanged_by_mutation():
    def f(x):
        x.mul_(10)
        return x

    x = jnp.arange(3.0)
    out = t2j(f)(x)
    np.testing.assert_array_equal(np.asarray(out), [0.0, 10.0, 20.0])
    np.testing.assert_array_equal(np.asarray(x), [0.0, 1.0, 2.0])


def test_no_grad_and_detach_stop_gradients():
    def f(x):
        with torch.no_grad():
            frozen = x * 3
        return (x * frozen).sum() + (x.detach() ** 2).sum()

    x = torch.randn(4, requires_grad=True)
    f(x).backward()
    assert_close(jax.grad(t2j(f))(t2j(x.detach())), x.grad)


def test_captured_tensor_changed_in_place_is_seen_by_the_call_but_not_kept():
    counter = torch.zeros(3)

    def f(x):
        counter.add_(x)
        counter[0] = x[1] * 5
        alias = counter
        alias += 1
        return counter * 2

    x = torch.tensor([1.0, 2.0, 3.0])
    expected = f(x.clone())
    counter.zero_()
    for jf in (t2j(f), jax.jit(t2j(f))):
        with pytest.warns(CapturedMutationWarning, match="captured"):
            assert_close(jf(t2j(x)), expected)
        np.testing.assert_array_equal(counter.numpy(), [0.0, 0.0, 0.0])


def test_a_trace_freezes_older_objects_and_leaves_the_collector_as_it_was():
    frozen_while_running = []

    def f(x):
        frozen_while_running.append(gc.get_freeze_count())
        return x * 2

    jax.make_jaxpr(t2j(f))(jnp.ones(3))  # a trace: full collections skip older objects
    t2j(f)(jnp.ones(3))  # an eager call: the collector untouched
    assert frozen_while_running[0] > 0 and frozen_while_running[1] == 0
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()  # a process that freezes objects itself keeps its freeze, with nothing added
    try:
        own = gc.get_freeze_count()  # frozen objects freed by reference counting leave it
        jax.make_jaxpr(t2j(f))(jnp.ones(3))
        assert frozen_while_running[-1] <= own and 0 < gc.get_freeze_count() <= own
    finally:
        gc.unfreeze()

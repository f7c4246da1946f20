"""Every error a user can meet names what went wrong in their terms (the PyTorch function, the
ATen overload, their file and line) and says what to do; none leaves global state changed."""

from __future__ import annotations

import gc
import inspect
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tests.conftest import assert_close
from torch2jax import (
    ConcretizationError,
    DataDependentShapeError,
    MissingRNGError,
    StateDictError,
    TracerLeakWarning,
    UnsupportedOperationError,
    implements,
    registry,
    t2j,
)

aten = torch.ops.aten
THIS_FILE = os.path.abspath(__file__)


def line_of(fn, text: str) -> str:
    """'this_file:N' of the line in ``fn``'s source that contains ``text``."""
    lines, first = inspect.getsourcelines(fn)
    for offset, line in enumerate(lines):
        if text in line:
            return f"{THIS_FILE}:{first + offset}"
    raise AssertionError(f"{text!r} not in {fn.__name__}")


# --------------------------------------------------------------------------------------------------
# Unsupported operations

torch.library.define("t2jtest::mystery", "(Tensor x, int k=2) -> Tensor")


@torch.library.impl("t2jtest::mystery", "CompositeExplicitAutograd")
def _mystery_in_pytorch(x, k=2):
    return x * k


def calls_custom_op(x):
    y = x + 1
    return torch.ops.t2jtest.mystery(y, 3)


def test_unsupported_op_names_overload_line_and_shows_snippet():
    with pytest.raises(UnsupportedOperationError) as info:
        t2j(calls_custom_op)(jnp.ones(3))
    message = str(info.value)
    assert info.value.aten_op == "t2jtest.mystery.default"
    assert line_of(calls_custom_op, "mystery(y, 3)") in message
    assert "return torch.ops.t2jtest.mystery(y, 3)" in message  # the code of that line
    assert "@implements(torch.ops.t2jtest.mystery.default)" in message
    assert "def mystery(x, k=2):" in message  # the schema's own argument names
    assert isinstance(info.value, NotImplementedError)


def sine_method(x):
    return x.sin() * 2


@pytest.fixture
def without_sin(monkeypatch):
    """aten.sin with neither a lowering nor a decomposition, as an unsupported PyTorch op."""
    monkeypatch.delitem(registry.aten_lowerings, aten.sin)
    monkeypatch.delitem(torch._decomp.decomposition_table, aten.sin.default)


def test_unsupported_op_names_the_pytorch_api_function(without_sin):
    with pytest.raises(UnsupportedOperationError) as info:
        jax.jit(t2j(sine_method))(jnp.ones(3))
    message = str(info.value)
    assert info.value.api_call == "torch.Tensor.sin"  # not TensorBase.sin
    assert "torch.Tensor.sin (ATen operation aten.sin.default)" in message
    assert line_of(sine_method, "x.sin()") in message
    assert "@implements(torch.ops.aten.sin.default)\n    def sin(self):" in message


def test_the_suggested_snippet_adds_the_op(without_sin, monkeypatch):
    monkeypatch.setitem(registry.aten_lowerings, aten.sin, registry.aten_lowerings[aten.cos])

    @implements(torch.ops.aten.sin.default)
    def sin(self):
        return jnp.sin(self)

    x = torch.randn(4)
    assert_close(jax.jit(t2j(sine_method))(t2j(x)), sine_method(x))


def test_api_names_are_the_ones_users_write():
    from torch2jax.errors import api_name

    assert api_name(torch.Tensor.__setitem__) == "torch.Tensor.__setitem__"
    assert api_name(torch.Tensor.item) == "torch.Tensor.item"
    assert api_name(torch.randn) == "torch.randn"
    assert api_name(torch.unique) == "torch.unique"
    assert api_name(torch.nn.functional.linear) == "torch.nn.functional.linear"
    assert api_name(torch.nn.functional.max_pool2d) == "torch.nn.functional.max_pool2d"
    assert api_name(torch.special.zeta) == "torch.special.zeta"
    assert api_name(torch.fft.fft) == "torch.fft.fft"
    assert api_name(torch.nn.functional.dropout) == "torch.nn.functional.dropout"
    assert api_name(aten.sin.default) == "torch.ops.aten.sin.default"


# --------------------------------------------------------------------------------------------------
# Reading traced values into Python


def reads_item(x):
    scale = x.sum().item()
    return x * scale


def reads_bool(x):
    if x.sum() > 0:
        return x
    return -x


def reads_int(x):
    return x * int(x.max())


def reads_tolist(x):
    values = x.tolist()
    return x + len(values)


def reads_numpy(x):
    array = x.numpy()
    return x * float(array.sum())


CONCRETIZATIONS = [
    (reads_item, "x.sum().item()", "tensor.item()", "0-d tensor"),
    (reads_bool, "if x.sum() > 0", "bool(tensor)", "torch.where"),
    (reads_int, "int(x.max())", "int(tensor)", "static_argnums"),
    (reads_tolist, "x.tolist()", "tensor.tolist()", "convert its outputs afterwards"),
    (reads_numpy, "x.numpy()", "tensor.numpy()", "convert its outputs afterwards"),
]


@pytest.mark.parametrize(
    "fn, code, described, advice", CONCRETIZATIONS, ids=[c[0].__name__ for c in CONCRETIZATIONS]
)
def test_python_reads_under_jit_name_the_line_and_alternatives(fn, code, described, advice):
    x = torch.rand(3) + 0.5
    assert_close(t2j(fn)(t2j(x)), fn(x))  # eagerly they just work
    with pytest.raises(ConcretizationError) as info:
        jax.jit(t2j(fn))(t2j(x))
    message = str(info.value)
    assert line_of(fn, code) in message
    assert code in message  # the line's code is shown
    assert described in message
    assert advice in message
    assert "without jax.jit" in message


# --------------------------------------------------------------------------------------------------
# Data-dependent output shapes


def selects_nonzero(x):
    return torch.nonzero(x)


def selects_by_mask(x):
    return x[x > 0.5]


def selects_masked(x):
    return torch.masked_select(x, x > 0.5)


def repeats_by_tensor(x):
    return torch.repeat_interleave(x, (x > 0.5).long() + 1)


SHAPE_CASES = [
    (selects_nonzero, "torch.nonzero(x)", "aten.nonzero", "torch.nonzero_static(x, size=N)"),
    (selects_by_mask, "x[x > 0.5]", "x[mask]", "torch.where(mask, x, 0)"),
    (selects_masked, "torch.masked_select", "masked_select", "nonzero_static(mask, size=N)"),
    (repeats_by_tensor, "torch.repeat_interleave", "repeat_interleave", "output_size="),
]


@pytest.mark.parametrize(
    "fn, code, op, advice", SHAPE_CASES, ids=[c[0].__name__ for c in SHAPE_CASES]
)
def test_data_dependent_shapes_under_jit_say_which_op_and_what_to_do(fn, code, op, advice):
    x = torch.rand(6)
    assert_close(t2j(fn)(t2j(x)), fn(x))  # eagerly they just work
    with pytest.raises(DataDependentShapeError) as info:
        jax.jit(t2j(fn))(t2j(x))
    message = str(info.value)
    assert op in message
    assert line_of(fn, code) in message
    assert advice in message
    assert "without jax.jit" in message


def test_the_suggested_static_forms_work_under_jit():
    x = torch.tensor([[0.0, 1.5], [0.0, -2.0], [3.0, 0.0]])

    def static_nonzero(x):
        return torch.nonzero_static(x, size=5, fill_value=-1)

    def static_repeat(x):
        return torch.repeat_interleave(x, torch.tensor([1, 2, 0]), dim=0, output_size=3)

    for fn in (static_nonzero, static_repeat):
        assert_close(jax.jit(t2j(fn))(t2j(x)), fn(x))


# --------------------------------------------------------------------------------------------------
# Randomness without a key


def attention_with_dropout(q):
    return torch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.1)


def test_random_op_without_rng_names_op_line_and_rng_argument():
    with pytest.raises(MissingRNGError) as info:
        jax.jit(t2j(attention_with_dropout))(jnp.ones((1, 2, 3, 4)))
    message = str(info.value)
    assert "scaled_dot_product_attention" in message
    assert line_of(attention_with_dropout, "scaled_dot_product_attention") in message
    assert "rng=jax.random.key(0)" in message
    assert "model.eval()" in message
    out = jax.jit(t2j(attention_with_dropout))(jnp.ones((1, 2, 3, 4)), rng=jax.random.key(0))
    assert out.shape == (1, 2, 3, 4)


# --------------------------------------------------------------------------------------------------
# state_dict= entries


class TwoLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.fc2 = torch.nn.Linear(8, 2)
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) * self.scale


def test_state_dict_lists_every_bad_entry_at_once_with_suggestions():
    net = TwoLayers()
    given = {
        "fc1.wieght": jnp.zeros((8, 4)),  # typo
        "module.fc2.bias": jnp.zeros(2),  # a DataParallel prefix
        "fc1.bias": jnp.zeros(4),  # wrong shape
        "scale": jnp.zeros((1, 2)),  # wrong shape
        "fc2.weight": jnp.zeros((2, 8)),  # fine
    }
    with pytest.raises(StateDictError) as info:
        t2j(net)(jnp.ones((1, 4)), state_dict=given)
    message = str(info.value)
    assert "Names the module does not have (2)" in message
    assert "fc1.wieght (did you mean 'fc1.weight'?)" in message
    assert "module.fc2.bias (drop the prefix 'module.')" in message
    assert "Shapes that do not match (2)" in message
    assert "fc1.bias: got (4,), expected (8,)" in message
    assert "scale: got (1, 2), expected (2,)" in message
    assert "fc2.weight" not in message


# --------------------------------------------------------------------------------------------------
# Tracers kept by model code


class CachesOnSelf(torch.nn.Module):
    """Keeps a cache of a computed tensor on ``self``, as old rotary-embedding code does."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.table = None
        self.history = []

    def forward(self, x):
        if self.table is None or self.table.shape[0] != x.shape[0]:
            self.table = torch.sin(torch.arange(x.shape[0], dtype=x.dtype))[:, None]
        self.linear.last_input = x
        self.history.append(x.sum())  # a list on self, filled in place
        return self.linear(x) + self.table


def test_tracer_kept_on_self_is_restored_and_explained():
    net = CachesOnSelf()
    jitted = jax.jit(t2j(net))
    for rows in (3, 3, 5):
        x = torch.randn(rows, 4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = jitted(t2j(x))
        assert_close(out, CachesOnSelf.forward(_fresh_copy(net), x), atol=1e-6)
        assert net.table is None and not hasattr(net.linear, "last_input")
        assert net.history == []
    leaks = [w for w in caught if issubclass(w.category, TracerLeakWarning)]
    assert len(leaks) == 1
    message = str(leaks[0].message)
    assert "self.table on CachesOnSelf" in message
    assert "self.last_input on Linear (linear)" in message
    assert "self.history on CachesOnSelf (filled in place)" in message
    assert "register_buffer" in message
    assert os.path.abspath(leaks[0].filename) == THIS_FILE  # points at the user's call


def _fresh_copy(net):
    copy = CachesOnSelf()
    copy.load_state_dict(net.state_dict())
    return copy


# --------------------------------------------------------------------------------------------------
# No error leaves global state or the module changed


def raises_midway(x):
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    return x * x.sum().item()


class FailsInForward(TwoLayers):
    def forward(self, x):
        self.partial = self.fc1(x)
        self.fc1.weight.data.mul_(0)  # in place on a parameter: must not reach the user's module
        return torch.nonzero(self.partial)


FAILURES = {
    "unsupported": (calls_custom_op, UnsupportedOperationError),
    "concretization": (reads_bool, ConcretizationError),
    "data_dependent": (selects_nonzero, DataDependentShapeError),
    "missing_rng": (attention_with_dropout, MissingRNGError),
    "changes_state_then_fails": (raises_midway, ConcretizationError),
    "module_fails": (FailsInForward(), DataDependentShapeError),
    "state_dict": (TwoLayers(), StateDictError),
}


@pytest.mark.parametrize("grad_enabled", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("case", FAILURES)
def test_errors_leave_no_state_changed(case, grad_enabled):
    target, error = FAILURES[case]
    converted = jax.jit(t2j(target))
    x = jnp.ones((1, 2, 3, 4)) if case == "missing_rng" else jnp.ones((2, 4))
    kwargs = {"state_dict": {"nope": jnp.ones(1)}} if case == "state_dict" else {}
    module_state = (
        {k: v.clone() for k, v in target.state_dict().items()}
        if isinstance(target, torch.nn.Module)
        else None
    )
    rng_state = torch.get_rng_state()
    with torch.set_grad_enabled(grad_enabled):
        with pytest.raises(error):
            converted(x, **kwargs)
        assert torch.is_grad_enabled() == grad_enabled
    assert torch.get_default_dtype() == torch.float32
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch._C._len_torch_function_stack() == 0
    assert torch._C._len_torch_dispatch_stack() == 0
    assert not torch.compiler.is_compiling()
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    if module_state is not None:
        assert target.training
        assert not hasattr(target, "partial")
        for name, value in target.state_dict().items():
            np.testing.assert_array_equal(value.numpy(), module_state[name].numpy())


def test_module_constants_converted_inside_a_trace_do_not_leak_it():
    class WithPositions(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("positions", torch.arange(4), persistent=False)  # int64
            self.embed = torch.nn.Embedding(4, 3)

        def forward(self, x):
            return x + self.embed(self.positions)

    net = WithPositions()
    converted = t2j(net)
    params = {k: t2j(v) for k, v in net.named_parameters()}
    x = jnp.ones((4, 3))
    jax.jit(converted)(x, state_dict=params)  # converts (and caches) the buffer inside a trace
    grads = jax.jit(jax.grad(lambda p: converted(x, state_dict=p).sum()))(params)
    assert grads["embed.weight"].shape == (4, 3)

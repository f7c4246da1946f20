"""Export both ways: converted models through jax.export (StableHLO), t2j of torch.export programs."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import jax
import jax.numpy as jnp
import pytest
import torch
from jax import export

from tests.conftest import assert_close
from torch2jax import StateDictError, Torch2JaxError, batch_polymorphic, t2j


class SmallConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        hidden = torch.relu(self.norm(self.conv(x)))
        return self.head(hidden.mean(dim=(2, 3)))


@pytest.fixture
def convnet():
    torch.manual_seed(0)
    model = SmallConvNet().eval()
    with torch.no_grad():
        model.norm.running_mean.normal_()
        model.norm.running_var.uniform_(0.5, 2.0)
    return model


def _abstract(tree):
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)


def _export_convnet(model, batch):
    state = {k: t2j(v) for k, v in model.state_dict().items()}
    inputs = jax.ShapeDtypeStruct((batch, 3, 8, 8), jnp.float32)
    return export.export(jax.jit(t2j(model)))(inputs, state_dict=_abstract(state)), state


# --------------------------------------------------------------------------------------------------
# jax.export of converted models


def test_exported_artifact_gives_pytorch_outputs(convnet):
    exported, state = _export_convnet(convnet, batch=4)
    assert "stablehlo" in exported.mlir_module()
    x = torch.randn(4, 3, 8, 8)
    assert_close(exported.call(t2j(x), state_dict=state), convnet(x))


def test_serialized_artifact_round_trips(convnet):
    pytest.importorskip("flatbuffers", reason="jax.export serialization needs flatbuffers")
    exported, state = _export_convnet(convnet, batch=4)
    restored = export.deserialize(exported.serialize())
    x = torch.randn(4, 3, 8, 8)
    assert_close(restored.call(t2j(x), state_dict=state), convnet(x))


def _export_with_symbolic_batch(model):
    state = {k: t2j(v) for k, v in model.state_dict().items()}
    (batch,) = export.symbolic_shape("b")
    inputs = jax.ShapeDtypeStruct((batch, 3, 8, 8), jnp.float32)
    function = jax.jit(batch_polymorphic(t2j(model)))
    return export.export(function)(inputs, state_dict=_abstract(state)), state


@pytest.mark.parametrize("serialized", [False, True], ids=["exported", "serialized"])
def test_dynamic_batch_size(convnet, serialized):
    exported, state = _export_with_symbolic_batch(convnet)
    if serialized:
        pytest.importorskip("flatbuffers", reason="jax.export serialization needs flatbuffers")
        exported = export.deserialize(exported.serialize())
    assert "b" in str(exported.in_avals[0].shape)
    for batch in (1, 3, 6):
        x = torch.randn(batch, 3, 8, 8)
        assert_close(exported.call(t2j(x), state_dict=state), convnet(x))


def test_symbolic_shapes_without_batch_polymorphic_raise_a_clear_error(convnet):
    (batch,) = export.symbolic_shape("b")
    state = {k: t2j(v) for k, v in convnet.state_dict().items()}
    with pytest.raises(Torch2JaxError, match="batch_polymorphic"):
        export.export(jax.jit(t2j(convnet)))(
            jax.ShapeDtypeStruct((batch, 3, 8, 8), jnp.float32), state_dict=_abstract(state)
        )


def test_batch_polymorphic_refuses_outputs_without_a_batch_axis():
    mean = batch_polymorphic(t2j(lambda x: x.mean()))
    with pytest.raises(ValueError, match="leading axis"):
        mean(jnp.ones((3, 2)))


# --------------------------------------------------------------------------------------------------
# t2j of torch.export programs


class CountingNet(torch.nn.Module):
    """Parameters, a buffer it reads, and buffers it mutates in place."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.register_buffer("offset", torch.arange(3.0))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))
        self.register_buffer("total", torch.zeros(3))

    def forward(self, x):
        out = torch.tanh(self.linear(x)) + self.offset
        self.calls.add_(1)
        self.total.add_(out.detach().sum(0))
        return out, out.sum(-1)


@pytest.fixture
def counting_net():
    torch.manual_seed(0)
    return CountingNet()


def _exported(model, *args, **kwargs):
    return torch.export.export(model, args, **kwargs)


def test_exported_program_outputs_and_gradients_match_pytorch(counting_net):
    x = torch.randn(5, 4)
    program = _exported(counting_net, x)
    jax_program = t2j(program)
    params = {k: t2j(v) for k, v in counting_net.named_parameters()}

    expected = program.module()(x)
    assert_close(jax.jit(jax_program)(t2j(x), state_dict=params), expected)

    def loss(p):
        out, sums = jax_program(t2j(x), state_dict=p)
        return (out**2).sum() + sums.sum()

    grads = jax.jit(jax.grad(loss))(params)
    out, sums = counting_net(x)
    ((out**2).sum() + sums.sum()).backward()
    assert_close(grads, {k: p.grad for k, p in sorted(counting_net.named_parameters())})


def test_exported_program_state_in_and_out(counting_net):
    x = torch.randn(5, 4)
    program = _exported(counting_net, x)
    state = {k: t2j(v) for k, v in program.state_dict.items()}
    state["linear.weight"] = state["linear.weight"] * 2
    state["total"] = jnp.ones(3)

    outputs, new_state = t2j(program)(t2j(x), state_dict=state, return_state_dict=True)
    # The program is not mutated (its state is the module's own tensors, so check before the
    # module runs below).
    assert int(program.state_dict["calls"]) == 0 and float(program.state_dict["total"].sum()) == 0
    with torch.no_grad():
        counting_net.linear.weight.mul_(2)
        counting_net.total.fill_(1)
    expected = counting_net(x)
    assert_close(outputs, expected)
    assert sorted(new_state) == sorted(dict(counting_net.state_dict()))
    assert_close(
        [new_state[k] for k in ("calls", "total")], [counting_net.calls, counting_net.total]
    )


def test_exported_program_with_a_dynamic_batch_dimension(counting_net):
    batch = torch.export.Dim("batch", min=2, max=64)
    program = _exported(counting_net, torch.randn(4, 4), dynamic_shapes={"x": {0: batch}})
    jax_program = jax.jit(t2j(program))
    for size in (2, 7):
        x = torch.randn(size, 4)
        assert_close(jax_program(t2j(x)), program.module()(x))


def test_exported_transformer_layer_outputs_and_gradients():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True).eval()
    x = torch.randn(2, 5, 16)
    jax_program = t2j(torch.export.export(layer, (x,)))
    params = {k: t2j(v) for k, v in layer.named_parameters()}
    assert_close(jax.jit(jax_program)(t2j(x), state_dict=params), layer(x))
    grads = jax.jit(jax.grad(lambda p: jax_program(t2j(x), state_dict=p).sum()))(params)
    layer(x).sum().backward()
    assert_close(grads, {k: p.grad for k, p in sorted(layer.named_parameters())})


class TiedEmbedding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens, *, scale=1.0):
        return self.head(self.embed(tokens)) * scale


@pytest.mark.parametrize("name", ["embed.weight", "head.weight"])
def test_exported_program_with_tied_weights_and_keyword_inputs(name):
    torch.manual_seed(0)
    model = TiedEmbedding()
    tokens = torch.tensor([[1, 2, 3, 3]])
    jax_program = t2j(torch.export.export(model, (tokens,), {"scale": 2.0}))
    weight = t2j(model.embed.weight)

    def loss(w):
        return (jax_program(t2j(tokens), scale=2.0, state_dict={name: w}) ** 2).sum()

    (model(tokens, scale=2.0) ** 2).sum().backward()
    assert_close(jax.grad(loss)(weight), model.embed.weight.grad)  # both uses accumulate


def test_decomposed_exported_program(convnet):
    x = torch.randn(2, 3, 8, 8)
    program = _exported(convnet, x).run_decompositions()
    assert_close(jax.jit(t2j(program))(t2j(x)), convnet(x))


def test_exported_program_checks_its_state_dict(counting_net):
    program = _exported(counting_net, torch.randn(5, 4))
    with pytest.raises(StateDictError, match="linear.wieght"):
        t2j(program)(jnp.ones((5, 4)), state_dict={"linear.wieght": jnp.ones((3, 4))})


# --------------------------------------------------------------------------------------------------
# docs/interop.md


def test_docs_interop_snippets_run(capsys):
    """Every Python block of docs/interop.md, in order, in one namespace."""
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "interop.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 7
    namespace: dict = {}
    for block in blocks:
        if "serialize(" in block and importlib.util.find_spec("flatbuffers") is None:
            continue  # jax.export's serializer needs flatbuffers, a test dependency
        exec(compile(block, "docs/interop.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "(3, 2)" in printed and "(1, 5)" in printed and "(5, 5)" in printed

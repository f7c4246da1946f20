"""A PyTorch transformer trained in JAX on a device mesh: data, tensor and fully-sharded parallel.

Run on 8 simulated CPU devices (any machine):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/sharded_training.py

Each layout runs one jitted optax training step with sharded parameters and optimizer state and is
compared with the same step on a single device. ``--json`` prints the differences as JSON (the tests
use it).
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np
import optax
import torch
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from torch2jax import named_shardings, shard_state_dict, t2j

VOCAB, WIDTH, HEADS, LAYERS, SEQUENCE, BATCH = 64, 32, 4, 2, 16, 8


class TinyTransformer(torch.nn.Module):
    """A causal language model made of PyTorch's own transformer layers."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, WIDTH)
        self.position = torch.nn.Parameter(torch.randn(SEQUENCE, WIDTH) * 0.02)
        layer = torch.nn.TransformerEncoderLayer(
            WIDTH, HEADS, dim_feedforward=4 * WIDTH, dropout=0.0, batch_first=True, norm_first=True
        )
        self.layers = torch.nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(WIDTH)
        self.head = torch.nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens):
        causal = torch.nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])
        hidden = self.embed(tokens) + self.position[: tokens.shape[1]]
        return self.head(self.norm(self.layers(hidden, mask=causal, is_causal=True)))


# Megatron-style tensor parallelism: attention heads and the MLP's hidden units split over "model".
TENSOR_PARALLEL_RULES = [
    (r"self_attn\.in_proj_weight$", P("model", None)),
    (r"self_attn\.in_proj_bias$", P("model")),
    (r"self_attn\.out_proj\.weight$", P(None, "model")),
    (r"linear1\.weight$", P("model", None)),
    (r"linear1\.bias$", P("model")),
    (r"linear2\.weight$", P(None, "model")),
    (r"embed\.weight$|head\.weight$", P("model", None)),
]
# Fully sharded (ZeRO-3/FSDP-like): every parameter split along its first axis over all devices.
FULLY_SHARDED_RULES = [(r".", P("devices"))]


def make_model_and_data() -> tuple[torch.nn.Module, dict[str, jax.Array], jax.Array]:
    torch.manual_seed(0)
    model = TinyTransformer()
    params = {name: t2j(p) for name, p in model.named_parameters()}
    tokens = jax.random.randint(jax.random.key(0), (BATCH, SEQUENCE + 1), 0, VOCAB)
    return model, params, tokens


def make_train_step(model: torch.nn.Module, optimizer: optax.GradientTransformation):
    jax_model = t2j(model)

    def loss_fn(params, tokens):
        logits = jax_model(tokens[:, :-1], state_dict=params)
        labels = tokens[:, 1:]
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    def train_step(params, opt_state, tokens):
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, (loss, grads)

    return train_step


def make_optimizer() -> optax.GradientTransformation:
    # SGD with momentum: per-parameter optimizer state to shard, and updates linear in the
    # gradients, so the comparison with one device is not amplified the way Adam's first step
    # (about lr * sign(gradient)) amplifies round-off in near-zero gradients.
    return optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1, momentum=0.9))


def run_layout(train_step, optimizer, params, tokens, mesh, rules, batch_axis):
    """One jitted training step with params, optimizer state and batch laid out on ``mesh``."""
    replicated = NamedSharding(mesh, P())
    sharded_params = shard_state_dict(params, mesh, rules)
    param_shardings = named_shardings(params, mesh, rules)
    # The optimizer's per-parameter state (Adam's moments) takes its parameter's layout; the rest
    # (the step count) is replicated. Created directly in that layout, under jit.
    state_shardings = optax.tree_map_params(
        optimizer,
        lambda _, sharding: sharding,
        jax.eval_shape(optimizer.init, params),
        param_shardings,
        transform_non_params=lambda _: replicated,
    )
    opt_state = jax.jit(optimizer.init, out_shardings=state_shardings)(sharded_params)
    batch = jax.device_put(tokens, NamedSharding(mesh, P(batch_axis)))
    step = jax.jit(
        train_step,
        out_shardings=(param_shardings, state_shardings, (replicated, param_shardings)),
    )
    return step(sharded_params, opt_state, batch)


def max_difference(a, b) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def main() -> dict[str, float]:
    devices = np.array(jax.devices())
    if devices.size < 8:
        raise SystemExit("needs 8 devices: XLA_FLAGS=--xla_force_host_platform_device_count=8")
    model, params, tokens = make_model_and_data()

    # Single device reference, and PyTorch's own loss for the same batch.
    optimizer = make_optimizer()
    train_step = make_train_step(model, optimizer)
    single = jax.jit(train_step)
    ref_params, _, (ref_loss, ref_grads) = single(params, optimizer.init(params), tokens)
    torch_tokens = torch.from_numpy(np.array(tokens)).long()
    with torch.no_grad():
        torch_loss = torch.nn.functional.cross_entropy(
            model(torch_tokens[:, :-1]).reshape(-1, VOCAB), torch_tokens[:, 1:].reshape(-1)
        )

    layouts = {
        "data_parallel": (Mesh(devices, ("data",)), [], "data"),
        "tensor_parallel": (
            Mesh(devices.reshape(2, 4), ("data", "model")),
            TENSOR_PARALLEL_RULES,
            "data",
        ),
        "fully_sharded": (Mesh(devices, ("devices",)), FULLY_SHARDED_RULES, "devices"),
    }
    report = {"single_device_vs_pytorch_loss": abs(float(ref_loss) - float(torch_loss))}
    for name, (mesh, rules, batch_axis) in layouts.items():
        new_params, new_state, (loss, grads) = run_layout(
            train_step, optimizer, params, tokens, mesh, rules, batch_axis
        )
        expected = named_shardings(params, mesh, rules)
        momentum = new_state[1][0].trace  # sgd's momentum: laid out like the parameters
        for k, p in params.items():
            assert new_params[k].sharding.is_equivalent_to(expected[k], p.ndim), (name, k)
            assert momentum[k].sharding.is_equivalent_to(expected[k], p.ndim), (name, k)
        report[f"{name}_loss"] = abs(float(loss) - float(ref_loss))
        report[f"{name}_grads"] = max_difference(grads, ref_grads)
        report[f"{name}_params"] = max_difference(new_params, ref_params)
    return report


if __name__ == "__main__":
    report = main()
    if "--json" in sys.argv:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:40s} max |difference| = {value:.3e}")

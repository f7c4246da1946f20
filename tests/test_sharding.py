"""Sharding by parameter-name rules; sharded training on 8 simulated CPU devices vs one device."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest
import torch
from jax.sharding import AbstractMesh, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import torch2jax
from tests.conftest import assert_close
from torch2jax import ShardingRuleError, partition_specs, shard_state_dict, t2j

ROOT = pathlib.Path(__file__).resolve().parent.parent

STATE = {
    "encoder.0.attn.qkv.weight": jnp.zeros((96, 32)),
    "encoder.0.attn.qkv.bias": jnp.zeros((96,)),
    "encoder.0.mlp.fc2.weight": jnp.zeros((32, 128)),
    "norm.weight": jnp.zeros((32,)),
}


def test_first_matching_rule_wins_and_the_rest_are_replicated():
    rules = [(r"qkv\.weight$", P("model", None)), (r"qkv", P("model")), (r"fc2", P(None, "model"))]
    assert partition_specs(STATE, rules) == {
        "encoder.0.attn.qkv.weight": P("model", None),
        "encoder.0.attn.qkv.bias": P("model"),
        "encoder.0.mlp.fc2.weight": P(None, "model"),
        "norm.weight": P(),
    }


def test_rules_are_checked_against_the_mesh_and_all_problems_reported():
    mesh = AbstractMesh((4, 5), ("model", "data"))
    rules = [(r"qkv\.weight", P("model", "data")), (r"fc2", P("expert")), (r"norm", P(None, None))]
    with pytest.raises(ShardingRuleError) as error:
        partition_specs(STATE, rules, mesh=mesh)
    message = str(error.value)
    assert "qkv.weight: dimension 32" in message and "not divisible by data (5)" in message
    assert "no axis 'expert'" in message and "norm.weight: spec" in message


def test_unmatched_names_can_be_an_error():
    with pytest.raises(ShardingRuleError, match="norm.weight: no rule matches"):
        partition_specs(STATE, [(r"encoder", P())], default=None)


def test_shard_state_dict_takes_tensors_and_the_model_runs_on_the_result():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 2))
    mesh = Mesh(jax.devices()[:1], ("model",))
    parameters = dict(model.named_parameters())  # tensors that require grad are fine too
    params = shard_state_dict(parameters, mesh, [(r"0\.weight", P("model"))])
    assert isinstance(params["0.weight"].sharding, NamedSharding)
    x = torch.randn(3, 4)
    assert_close(jax.jit(t2j(model))(t2j(x), state_dict=params), model(x))


@pytest.fixture(scope="module")
def sharded_training_report():
    """examples/sharded_training.py on 8 simulated CPU devices, in a fresh process."""
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu"
    )
    source = str(pathlib.Path(torch2jax.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([source, str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sharded_training.py"), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layout", ["data_parallel", "tensor_parallel", "fully_sharded"])
def test_sharded_training_step_equals_single_device(sharded_training_report, layout):
    # The example also asserts that parameters and optimizer state keep their sharded layouts.
    report = sharded_training_report
    assert report["single_device_vs_pytorch_loss"] < 1e-5
    assert report[f"{layout}_loss"] < 1e-5
    assert report[f"{layout}_grads"] < 1e-5
    assert report[f"{layout}_params"] < 1e-5

"""Size of the graphs the conversion produces, and hand-written JAX blocks to compare them with."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import torch


def _count_eqns(jaxpr: Any) -> tuple[int, int]:
    """(equations, transposes) of a jaxpr, sub-jaxprs (pjit, custom_vjp, ...) included."""
    equations = transposes = 0
    for eqn in jaxpr.eqns:
        subjaxprs = list(jax.core.jaxprs_in_params(eqn.params))
        if subjaxprs:
            for sub in subjaxprs:
                e, t = _count_eqns(sub)
                equations, transposes = equations + e, transposes + t
            continue
        equations += 1
        transposes += eqn.primitive.name == "transpose"
    return equations, transposes


_HLO_INSTRUCTION = re.compile(r"^\s*(ROOT\s+)?%\S+ = \S+ ([\w-]+)\(", re.MULTILINE)


def graph_stats(fn: Callable[..., Any], *args: Any) -> dict[str, int]:
    """Operation counts of ``fn`` at each stage: jaxpr, StableHLO, and XLA's optimized HLO.

    ``hlo_kernels`` counts the instructions of the optimized entry computation other than
    parameters, constants and free bitcasts/tuples: about the number of kernels a call runs.
    """
    equations, transposes = _count_eqns(jax.make_jaxpr(fn)(*args).jaxpr)
    lowered = jax.jit(fn).lower(*args)
    stablehlo = len(
        re.findall(
            r"= (?:stablehlo|chlo)\.\w+|^\s*(?:stablehlo|chlo)\.\w+",
            lowered.as_text(),
            re.MULTILINE,
        )
    )
    text = lowered.compile().as_text()
    entry = text[text.index("\nENTRY") :]
    entry = entry[: entry.index("\n}") + 1]
    free = {"parameter", "constant", "bitcast", "tuple", "get-tuple-element"}
    kernels = [op for _, op in _HLO_INSTRUCTION.findall(entry) if op not in free]
    all_ops = [op for _, op in _HLO_INSTRUCTION.findall(text) if op not in free]
    return {
        "jaxpr_eqns": equations,
        "jaxpr_transposes": transposes,
        "stablehlo_ops": stablehlo,
        "hlo_ops": len(all_ops),
        "hlo_kernels": len(kernels),
        "hlo_transposes": sum(op == "transpose" for op in all_ops),
    }


# --------------------------------------------------------------------------------------------------
# One convolution block (3×3 conv, batch norm in eval mode, ReLU), PyTorch and hand-written JAX


def conv_block_torch() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(64, 64, 3, padding=1, bias=False), torch.nn.BatchNorm2d(64), torch.nn.ReLU()
    ).eval()


def conv_block_jax(params: dict[str, Any], x: Any) -> Any:
    y = jax.lax.conv_general_dilated(
        x, params["0.weight"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
    )
    scale = params["1.weight"] * jax.lax.rsqrt(params["1.running_var"] + 1e-5)
    shift = params["1.bias"] - params["1.running_mean"] * scale
    return jax.nn.relu(y * scale[None, :, None, None] + shift[None, :, None, None])


def conv_block_input() -> torch.Tensor:
    return torch.randn(1, 64, 56, 56)


# --------------------------------------------------------------------------------------------------
# One attention block (QKV projection, 12-head attention, output projection)


class AttentionBlock(torch.nn.Module):
    def __init__(self, width: int = 768, heads: int = 12) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.out = torch.nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(attended.transpose(1, 2).reshape(batch, length, width))


def attention_block_torch() -> torch.nn.Module:
    return AttentionBlock().eval()


def attention_block_jax(params: dict[str, Any], x: Any, heads: int = 12) -> Any:
    batch, length, width = x.shape
    qkv = x @ params["qkv.weight"].T + params["qkv.bias"]
    q, k, v = qkv.reshape(batch, length, 3, heads, -1).transpose(2, 0, 3, 1, 4)
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(width // heads)
    causal = jnp.tril(jnp.ones((length, length), bool))
    weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
    attended = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
    return attended @ params["out.weight"].T + params["out.bias"]


def attention_block_input() -> torch.Tensor:
    return torch.randn(1, 128, 768)


BLOCKS = {
    "conv block (3×3 conv 64→64 + BN + ReLU, 1×64×56×56)": (
        conv_block_torch,
        conv_block_jax,
        conv_block_input,
    ),
    "attention block (QKV + 12-head causal SDPA + out, 1×128×768)": (
        attention_block_torch,
        attention_block_jax,
        attention_block_input,
    ),
}

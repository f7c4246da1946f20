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


def _conv(x: Any, weight: Any, stride: int, padding: int) -> Any:
    window_padding = ((padding, padding), (padding, padding))
    return jax.lax.conv_general_dilated(
        x, weight, (stride, stride), window_padding, dimension_numbers=("NCHW", "OIHW", "NCHW")
    )


def _batch_norm(params: dict[str, Any], prefix: str, x: Any) -> Any:
    """Eval-mode batch norm folded into one scale and shift per channel."""
    scale = params[f"{prefix}.weight"] * jax.lax.rsqrt(params[f"{prefix}.running_var"] + 1e-5)
    shift = params[f"{prefix}.bias"] - params[f"{prefix}.running_mean"] * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def conv_block_jax(params: dict[str, Any], x: Any) -> Any:
    return jax.nn.relu(_batch_norm(params, "1", _conv(x, params["0.weight"], 1, 1)))


def conv_block_input() -> torch.Tensor:
    return torch.randn(1, 64, 56, 56)


# --------------------------------------------------------------------------------------------------
# torchvision's ResNet-18 written by hand in JAX (eval mode), on torchvision's state-dict names


def _basic_block(params: dict[str, Any], prefix: str, x: Any, stride: int) -> Any:
    y = jax.nn.relu(
        _batch_norm(params, f"{prefix}.bn1", _conv(x, params[f"{prefix}.conv1.weight"], stride, 1))
    )
    y = _batch_norm(params, f"{prefix}.bn2", _conv(y, params[f"{prefix}.conv2.weight"], 1, 1))
    if f"{prefix}.downsample.0.weight" in params:
        x = _conv(x, params[f"{prefix}.downsample.0.weight"], stride, 0)
        x = _batch_norm(params, f"{prefix}.downsample.1", x)
    return jax.nn.relu(y + x)


def resnet18_jax(params: dict[str, Any], x: Any) -> Any:
    """What a JAX user would write: ``lax.conv`` in PyTorch's NCHW layout, folded batch norm."""
    x = jax.nn.relu(_batch_norm(params, "bn1", _conv(x, params["conv1.weight"], 2, 3)))
    pool_padding = ((0, 0), (0, 0), (1, 1), (1, 1))
    x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 3, 3), (1, 1, 2, 2), pool_padding)
    for layer in range(1, 5):
        for block in range(2):
            stride = 2 if layer > 1 and block == 0 else 1
            x = _basic_block(params, f"layer{layer}.{block}", x, stride)
    return jnp.mean(x, axis=(2, 3)) @ params["fc.weight"].T + params["fc.bias"]


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

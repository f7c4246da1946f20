"""Targets for `torch2jax check` in tests/test_cli.py (package.module:callable form)."""

from __future__ import annotations

import torch


@torch.library.custom_op("t2jcli::first_missing", mutates_args=())
def first_missing(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@first_missing.register_fake
def _(x):
    return torch.empty_like(x)


@torch.library.custom_op("t2jcli::second_missing", mutates_args=())
def second_missing(x: torch.Tensor) -> torch.Tensor:
    return x + 1


@second_missing.register_fake
def _(x):
    return torch.empty_like(x)


class TinyMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.drop = torch.nn.Dropout(0.5)
        self.fc2 = torch.nn.Linear(16, 4)

    def forward(self, x, scale=1.0):
        return self.fc2(self.drop(torch.nn.functional.gelu(self.fc1(x)))) * scale


def tiny_mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return TinyMLP()


class UsesTwoMissingOps(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        return torch.ops.t2jcli.second_missing(torch.ops.t2jcli.first_missing(self.fc(x)))


def reads_item(x):
    return x * x.abs().max().item()


def with_example_inputs():
    return tiny_mlp(), ((torch.randn(3, 8),), {"scale": 2.0})


def keyword_inputs():
    return {"x": torch.randn(5, 8), "scale": 0.5}


class AttentionWithDropout(torch.nn.Module):
    """Random in training mode through the attention dropout."""

    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)

    def forward(self, x):
        q, k, v = self.qkv(x).unflatten(-1, (3, 2, 4)).permute(2, 0, 3, 1, 4)
        dropout = 0.5 if self.training else 0.0
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout)


class WithIntegerBuffer(torch.nn.Module):
    """An int64 buffer left out of the state_dict (like BERT's position_ids)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("positions", torch.arange(4), persistent=False)
        self.embed = torch.nn.Embedding(4, 3)

    def forward(self, x):
        return x + self.embed(self.positions)

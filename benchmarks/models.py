"""The benchmarked models: random weights, fixed inputs, one scalar loss for gradient steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ModelSpec:
    """One row of the benchmark: how to build the model and its example inputs."""

    name: str
    label: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[], tuple[torch.Tensor, ...]]
    # Where the table gives PyTorch-eager ratio targets: (forward, forward+backward).
    targets: tuple[float, float] | None = None


def main_output(out: Any) -> Any:
    """The tensor a loss is taken of: logits, last hidden state, or the output itself."""
    for field in ("logits", "last_hidden_state"):
        value = getattr(out, field, None)
        if value is None and isinstance(out, dict):
            value = out.get(field)
        if value is not None:
            return value
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def _resnet18() -> torch.nn.Module:
    import torchvision

    return torchvision.models.resnet18(weights=None)


def _vit_b_16() -> torch.nn.Module:
    import torchvision

    return torchvision.models.vit_b_16(weights=None)


def _gpt2() -> torch.nn.Module:
    import transformers

    config = transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12, n_positions=1024)
    return transformers.GPT2LMHeadModel(config)


def _bert() -> torch.nn.Module:
    import transformers

    return transformers.BertModel(transformers.BertConfig(), add_pooling_layer=False)


class TinyNet(torch.nn.Module):
    """A conv block and an attention block, small enough for the smoke test."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.norm = torch.nn.BatchNorm2d(8)
        self.attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.norm(self.conv(x)))
        tokens = features.flatten(2).transpose(1, 2)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return self.head(attended.mean(dim=1))


def _image(batch: int, size: int = 224) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(batch, 3, size, size),)


def _tokens(vocab: int, length: int = 128) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randint(0, vocab, (1, length)),)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("resnet18_b1", "ResNet-18, 1×224", _resnet18, _image(1), (1.5, 1.5)),
        ModelSpec("resnet18_b8", "ResNet-18, 8×224", _resnet18, _image(8), (1.0, 1.5)),
        ModelSpec("vit_b16", "ViT-B/16, 1×224", _vit_b_16, _image(1), (0.9, 0.9)),
        ModelSpec("gpt2", "GPT-2 small, 1×128", _gpt2, _tokens(50257), (0.9, 0.9)),
        ModelSpec("bert", "BERT-base, 1×128", _bert, _tokens(30522), (0.9, 0.9)),
        ModelSpec("tiny", "tiny conv+attention, 2×16", TinyNet, _image(2, 16)),
    ]
}

DEFAULT_MODELS = ["resnet18_b1", "resnet18_b8", "vit_b16", "gpt2", "bert"]

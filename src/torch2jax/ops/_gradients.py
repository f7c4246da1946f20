"""Autodiff helpers for lowerings that must differentiate the way PyTorch's autograd does."""

from __future__ import annotations

from typing import Any

import jax


@jax.custom_jvp
def value_with_gradient_of(original: Any, replacement: Any) -> Any:
    """``replacement``'s value with ``original``'s derivative.

    This is what an in-place op under ``torch.no_grad`` does to a tensor that autograd tracks
    (``norm.clamp_min_(eps)`` in cosine_similarity, ``var.clamp_(min=eps)`` in
    gaussian_nll_loss): the value changes, the gradient still flows to the original.
    """
    return replacement


@value_with_gradient_of.defjvp
def _value_with_gradient_of_jvp(
    primals: tuple[Any, Any], tangents: tuple[Any, Any]
) -> tuple[Any, Any]:
    return primals[1], tangents[0]

"""Batch and instance norm in training mode update their running statistics.

``aten.native_batch_norm`` updates ``running_mean``/``running_var`` in place without saying so in
its schema, so functionalization never writes the update back. ``F.batch_norm`` and
``F.instance_norm`` are therefore handled at the PyTorch API level: the functional ATen op
computes the new statistics, and a ``copy_`` into the running tensors makes functionalization
return them as updated state (``return_state_dict=True``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torch2jax.torchish import _PYTHON_FACING, copy_into

aten = torch.ops.aten


def _update(running: torch.Tensor, new: torch.Tensor) -> None:
    # A plain tensor here is one the code captured (a module's buffer, not passed in as state):
    # the copy rebinds it for the rest of the call only, with a CapturedMutationWarning.
    with torch.no_grad():
        copy_into(running, new.detach())


def batch_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    if not training or running_mean is None or running_var is None:
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    out, _, _, new_mean, new_var = aten._native_batch_norm_legit_functional(
        x, weight, bias, running_mean, running_var, True, momentum, eps
    )
    _update(running_mean, new_mean)
    _update(running_var, new_var)
    return out


def instance_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    if not use_input_stats or running_mean is None or running_var is None:
        return F.instance_norm(
            x, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
        )
    # PyTorch's own formulation: batch norm over (1, N*C, ...) with the statistics repeated per
    # instance, then the running statistics averaged over the batch.
    n, c = x.shape[0], x.shape[1]
    folded = x.reshape(1, n * c, *x.shape[2:])
    out, _, _, new_mean, new_var = aten._native_batch_norm_legit_functional(
        folded, None, None, running_mean.repeat(n), running_var.repeat(n), True, momentum, eps
    )
    out = out.reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    _update(running_mean, new_mean.reshape(n, c).mean(0))
    _update(running_var, new_var.reshape(n, c).mean(0))
    return out


_PYTHON_FACING[F.batch_norm] = batch_norm
_PYTHON_FACING[F.instance_norm] = instance_norm

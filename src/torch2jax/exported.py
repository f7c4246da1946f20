"""t2j of a ``torch.export.ExportedProgram``: the exported graph as a JAX function of its state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from torch2jax.functional import module_to_jax


def exported_program_to_jax(program: torch.export.ExportedProgram) -> Callable[..., Any]:
    """The program's graph as ``jf(*args, state_dict=None, rng=None, return_state_dict=False,
    **kwargs)``, the calling convention of converted modules.

    The program's parameters and buffers are its state, under their original names
    (``linear.weight``, say); buffers the graph mutates (``add_`` on a counter, say) come back in
    the new state dict. Input checks the export recorded (static shapes, dynamic-dimension ranges)
    run on every call, as they do for ``program.module()``.
    """
    # ``module()`` turns the program's lifted parameters and buffers back into module attributes,
    # so the graph runs through the same path as any module: functional_call, functionalization.
    jax_function = module_to_jax(program.module())
    jax_function.__name__ = f"exported_{jax_function.__name__}"
    return jax_function

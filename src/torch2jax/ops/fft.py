"""Discrete Fourier transforms: the three ATen FFT primitives every ``torch.fft`` function uses.

PyTorch's ``normalization`` argument is 0 (no scaling), 1 (by 1/sqrt(n)) or 2 (by 1/n), applied
to whichever direction the call computes; ``jax.numpy.fft``'s ``norm`` names where the 1/n goes,
so a forward transform maps 0/1/2 to "backward"/"ortho"/"forward" and an inverse one the other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from torch2jax.ops._common import aten, default_complex
from torch2jax.registry import implements

_FORWARD_NORM = {0: "backward", 1: "ortho", 2: "forward"}
_INVERSE_NORM = {0: "forward", 1: "ortho", 2: "backward"}


def _complex(x: Any) -> Any:
    if jnp.iscomplexobj(x):
        return x
    return x.astype(jnp.complex128 if x.dtype == jnp.float64 else default_complex())


@implements(aten._fft_r2c)
def fft_r2c(x: Any, dim: Sequence[int], normalization: int, onesided: bool) -> Any:
    norm = _FORWARD_NORM[normalization]
    if onesided:
        return jnp.fft.rfftn(x, axes=tuple(dim), norm=norm)
    return jnp.fft.fftn(_complex(x), axes=tuple(dim), norm=norm)


@implements(aten._fft_c2c)
def fft_c2c(x: Any, dim: Sequence[int], normalization: int, forward: bool) -> Any:
    if forward:
        return jnp.fft.fftn(x, axes=tuple(dim), norm=_FORWARD_NORM[normalization])
    return jnp.fft.ifftn(x, axes=tuple(dim), norm=_INVERSE_NORM[normalization])


@implements(aten._fft_c2r)
def fft_c2r(x: Any, dim: Sequence[int], normalization: int, last_dim_size: int) -> Any:
    sizes = [x.shape[d] for d in dim[:-1]] + [last_dim_size]
    return jnp.fft.irfftn(x, s=sizes, axes=tuple(dim), norm=_INVERSE_NORM[normalization])

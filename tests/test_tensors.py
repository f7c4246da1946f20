"""t2j/j2t of tensors: every shared dtype, odd shapes and layouts, zero-copy, pytrees."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from torch2jax import j2t, t2j

SHARED_DTYPES = [
    torch.float16,
    torch.float32,
    torch.float64,
    torch.bfloat16,
    torch.bool,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint8,
    torch.complex64,
    torch.complex128,
]
NARROWED = {
    torch.float64: torch.float32,
    torch.int64: torch.int32,
    torch.complex128: torch.complex64,
}


def sample(dtype: torch.dtype, shape=(3, 4)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    if dtype == torch.bool:
        return torch.rand(shape, generator=generator) > 0.5
    if dtype.is_complex:
        return torch.randn(shape, dtype=dtype, generator=generator)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(dtype)
    return torch.randint(0, 100, shape, generator=generator).to(dtype)


@pytest.mark.parametrize("dtype", SHARED_DTYPES, ids=str)
def test_round_trip_every_dtype(dtype, x64):
    tensor = sample(dtype)
    array = t2j(tensor)
    expected_dtype = dtype if x64 else NARROWED.get(dtype, dtype)
    assert j2t(array).dtype == expected_dtype
    np.testing.assert_array_equal(
        np.asarray(array.astype(jnp.float32) if dtype == torch.bfloat16 else array),
        tensor.to(expected_dtype).float().numpy()
        if dtype == torch.bfloat16
        else tensor.to(expected_dtype).numpy(),
    )
    back = j2t(array)
    assert torch.equal(back, tensor.to(expected_dtype))


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.tensor(3.5),
        lambda: torch.zeros(0, 3),
        lambda: torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1),
        lambda: torch.arange(24.0).reshape(4, 6)[1:, ::2],
        lambda: torch.arange(3.0).expand(4, 3),
        lambda: torch.randn(3, 3, requires_grad=True),
        lambda: torch.randn(3, 3, dtype=torch.complex64).conj(),
    ],
    ids=["0-d", "empty", "permuted", "sliced", "expanded", "requires_grad", "lazy_conj"],
)
def test_odd_shapes_and_layouts(make):
    tensor = make()
    array = t2j(tensor)
    assert array.shape == tuple(tensor.shape)
    np.testing.assert_array_equal(np.asarray(array), tensor.detach().resolve_conj().numpy())
    assert torch.equal(j2t(array), tensor.detach().resolve_conj())


def test_zero_copy_on_cpu():
    tensor = torch.arange(1024, dtype=torch.float32)
    array = t2j(tensor)
    assert array.unsafe_buffer_pointer() == tensor.data_ptr()
    back = j2t(array)
    assert back.data_ptr() == tensor.data_ptr()


def test_pytrees_convert_leaf_by_leaf():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    state = t2j(model.state_dict())
    assert set(state) == set(model.state_dict())
    assert all(isinstance(v, jax.Array) for v in state.values())
    nested = t2j({"a": [torch.ones(2), (torch.zeros(1), 3)], "b": None})
    assert isinstance(nested["a"][0], jax.Array) and nested["a"][1][1] == 3 and nested["b"] is None
    back = j2t(nested)
    assert torch.equal(back["a"][0], torch.ones(2))

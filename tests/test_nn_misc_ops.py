"""Neural-network and misc lowerings beyond what the OpInfo samples check: embedding gradients
(padding_idx, scale_grad_by_freq), value-sized outputs under jit (tensor_split, one_hot)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tests.conftest import assert_close
from torch2jax import t2j
from torch2jax.errors import DataDependentShapeError


def _weight_grad(fn, weight: torch.Tensor):
    weight = weight.detach().requires_grad_(True)
    fn(weight).sum().backward()
    actual = jax.grad(lambda w: t2j(fn)(w).sum())(t2j(weight.detach()))
    return actual, weight.grad


@pytest.mark.parametrize(
    "kwargs",
    [{"padding_idx": 1}, {"padding_idx": -2}, {"scale_grad_by_freq": True}],
    ids=["padding_idx", "negative_padding_idx", "scale_grad_by_freq"],
)
def test_embedding_weight_gradient_follows_pytorch(kwargs):
    indices = torch.tensor([[1, 2, 1], [3, 1, 0]])
    weight = torch.randn(5, 4)

    def fn(w):
        return torch.nn.functional.embedding(indices, w, **kwargs) * torch.arange(4.0)

    actual, expected = _weight_grad(fn, weight)
    assert_close(actual, expected)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq(mode):
    indices = torch.tensor([[1, 1, 2], [1, 0, 4]])
    weight = torch.randn(5, 3)

    def fn(w):
        return torch.nn.functional.embedding_bag(indices, w, mode=mode, scale_grad_by_freq=True)

    actual, expected = _weight_grad(fn, weight)
    assert_close(actual, expected)


def test_embedding_bag_max_with_empty_bag_and_padding():
    indices = torch.tensor([2, 0, 3, 3, 1])
    offsets = torch.tensor([0, 2, 2])
    weight = torch.randn(5, 3)

    def fn(w):
        return torch.nn.functional.embedding_bag(indices, w, offsets, mode="max", padding_idx=3)

    assert_close(jax.jit(t2j(fn))(t2j(weight)), fn(weight))


def test_tensor_split_with_a_constant_tensor_of_split_points_works_under_jit():
    points = torch.tensor([1, 4])
    x = torch.randn(6, 2)

    def fn(x):
        return x.tensor_split(points)

    assert_close(jax.jit(t2j(fn))(t2j(x)), fn(x))


def test_tensor_split_with_traced_split_points_raises_under_jit():
    fn = t2j(lambda x, points: torch.tensor_split(x, points))
    x, points = jnp.ones((6, 2)), jnp.array([1, 4])
    assert len(fn(x, points)) == 3
    with pytest.raises(DataDependentShapeError, match="Python int or list"):
        jax.jit(fn)(x, points)


def test_one_hot_under_jit_needs_num_classes():
    labels = jnp.array([0, 2, 1])
    with_classes = jax.jit(t2j(lambda y: torch.nn.functional.one_hot(y, num_classes=4)))
    np.testing.assert_array_equal(with_classes(labels), np.eye(4, dtype=int)[[0, 2, 1]])
    without = jax.jit(t2j(lambda y: torch.nn.functional.one_hot(y)))
    with pytest.raises(DataDependentShapeError, match="num_classes="):
        without(labels)


@pytest.mark.parametrize(
    ("fn", "shape", "kernel", "output_size"),
    [
        (torch.nn.functional.fractional_max_pool2d, (2, 3, 9, 11), (3, 2), (4, 5)),
        (torch.nn.functional.fractional_max_pool2d, (3, 9, 11), 3, (4, 1)),
        (torch.nn.functional.fractional_max_pool3d, (2, 2, 7, 8, 9), (2, 3, 2), (3, 4, 5)),
    ],
    ids=["2d", "2d_unbatched", "3d"],
)
def test_fractional_max_pool_with_given_samples_matches_pytorch(fn, shape, kernel, output_size):
    x = torch.randn(*shape)
    planes = shape[:2] if len(shape) == len(output_size) + 2 else (1, shape[0])
    samples = torch.rand(*planes, len(output_size))

    def pool(x, samples):
        return fn(x, kernel, output_size=output_size, return_indices=True, _random_samples=samples)

    actual = jax.jit(t2j(pool))(t2j(x), t2j(samples))
    assert_close(actual, pool(x, samples), atol=0, rtol=0)


def test_fractional_max_pool_without_samples_draws_from_the_key():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 2, 9, 9)), jnp.float32)
    pool = t2j(lambda x: torch.nn.functional.fractional_max_pool2d(x, 3, output_size=4))
    first = pool(x, rng=jax.random.key(1))
    np.testing.assert_array_equal(first, jax.jit(pool)(x, rng=jax.random.key(1)))
    assert first.shape == (1, 2, 4, 4)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize(
    ("size", "align_corners"), [((5, 13), False), ((17, 7), True), ((4, 30), False)]
)
def test_antialiased_resize_matches_pytorch(mode, size, align_corners):
    x = torch.randn(2, 3, 10, 20, requires_grad=True)

    def resize(x):
        return torch.nn.functional.interpolate(
            x, size=size, mode=mode, align_corners=align_corners, antialias=True
        )

    expected = resize(x)
    (expected * torch.arange(size[1])).sum().backward()
    actual = jax.jit(t2j(resize))(t2j(x.detach()))
    grad = jax.grad(lambda a: (t2j(resize)(a) * jnp.arange(size[1])).sum())(t2j(x.detach()))
    assert_close(actual, expected)
    assert_close(grad, x.grad)


@pytest.mark.parametrize(
    "x_shape, bias",
    [((1, 16), True), ((16,), False), ((1, 1, 16), True), ((4, 16), True), ((2, 3, 16), False)],
)
def test_linear_matches_pytorch_and_one_row_transposes_no_weight(x_shape, bias):
    """F.linear is lowered whole: one row contracts the weight where it lies (XLA:CPU would copy
    a transposed weight first), more rows keep PyTorch's ``weight.t()`` decomposition."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 24, bias=bias)
    x = torch.randn(*x_shape)
    params = {k: t2j(v) for k, v in layer.state_dict().items()}
    converted = t2j(layer)
    forward = jax.jit(lambda p, x: converted(x, state_dict=p))
    assert_close(forward(params, t2j(x)), layer(x))
    grads = jax.grad(lambda p: jnp.sum(jnp.sin(converted(t2j(x), state_dict=p))))(params)
    torch.sin(layer(x)).sum().backward()
    for name, parameter in layer.named_parameters():
        assert_close(grads[name], parameter.grad, atol=1e-5, rtol=1e-5)
    one_row = int(np.prod(x_shape[:-1])) == 1
    assert ("transpose" in forward.lower(params, t2j(x)).as_text()) != one_row


def _row_sums(jaxpr):
    """reduce_sum equations of a jaxpr (sub-jaxprs included) that sum over its first axis."""
    found = 0
    for eqn in jaxpr.eqns:
        for sub in jax.core.jaxprs_in_params(eqn.params):
            found += _row_sums(sub)
        found += eqn.primitive.name == "reduce_sum" and 0 in eqn.params["axes"]
    return found


def test_per_column_parameter_gradients_match_pytorch_as_products_with_ones():
    """Biases and layer-norm scales get their float32 gradients from ``ones @ gradient``, not
    from a column sum (which XLA:CPU runs 3-9x slower); forward mode agrees."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.GELU(), torch.nn.Linear(16, 4)
    )
    x = torch.randn(5, 3, 8)
    converted = t2j(net)
    params = {k: t2j(v) for k, v in net.state_dict().items()}

    def loss(params):
        return jnp.sum(jnp.sin(converted(t2j(x), state_dict=params)))

    grads = jax.jit(jax.grad(loss))(params)
    torch.sin(net(x)).sum().backward()
    for name, parameter in net.named_parameters():
        assert_close(grads[name], parameter.grad, atol=1e-5, rtol=1e-5)
    # jvp agrees with reverse mode
    direction = jax.tree_util.tree_map(jnp.ones_like, params)
    _, slope = jax.jvp(loss, (params,), (direction,))
    expected = sum(jnp.sum(g) for g in jax.tree_util.tree_leaves(grads))
    np.testing.assert_allclose(slope, expected, rtol=1e-4)
    row_sums = _row_sums(jax.make_jaxpr(jax.grad(loss))(params).jaxpr)
    assert row_sums == 1  # the loss's own sum

"""Random operations draw from the `rng=` key: determinism, jit/vmap, distributions, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import assert_close
from torch2jax import MissingRNGError, t2j

KEY = jax.random.key(0)
OTHER_KEY = jax.random.key(1)


def _probs(x):
    return torch.full_like(x, 0.3)


# name -> PyTorch code that draws; every one runs on x of shape (4, 6) with values in (0, 1).
DRAWS = {
    "rand": lambda x: torch.rand(3, 4),
    "rand_dtype": lambda x: torch.rand(3, 4, dtype=torch.float64),
    "randn": lambda x: torch.randn(3, 4),
    "randint": lambda x: torch.randint(0, 10, (3, 4)),
    "randint_high": lambda x: torch.randint(7, (5,)),
    "randperm": lambda x: torch.randperm(9),
    "bernoulli": lambda x: torch.bernoulli(x),
    "bernoulli_p": lambda x: torch.bernoulli(x, 0.3),
    "multinomial": lambda x: torch.multinomial(x, 3),
    "multinomial_replacement": lambda x: torch.multinomial(x, 8, replacement=True),
    "multinomial_1d": lambda x: torch.multinomial(x[0], 2),
    "normal_tensor_float": lambda x: torch.normal(x, 2.0),
    "normal_float_tensor": lambda x: torch.normal(1.0, x),
    "normal_tensor_tensor": lambda x: torch.normal(x, x[0]),
    "normal_float_float": lambda x: torch.normal(0.0, 1.0, (5, 2)),
    "poisson": lambda x: torch.poisson(x * 4),
    "rand_like": lambda x: torch.rand_like(x),
    "randn_like": lambda x: torch.randn_like(x, dtype=torch.float64),
    "randint_like": lambda x: torch.randint_like(x, 5),
    "randint_like_low": lambda x: torch.randint_like(x, 2, 5),
    "uniform_": lambda x: torch.empty(3, 5).uniform_(-2, 3),
    "normal_": lambda x: x.clone().normal_(1.0, 0.5),
    "bernoulli_": lambda x: x.clone().bernoulli_(0.25),
    "bernoulli_tensor_": lambda x: torch.zeros_like(x).bernoulli_(x),
    "exponential_": lambda x: x.clone().exponential_(2.0),
    "geometric_": lambda x: x.clone().geometric_(0.4),
    "cauchy_": lambda x: x.clone().cauchy_(),
    "log_normal_": lambda x: x.clone().log_normal_(),
    "random_": lambda x: torch.empty(4, dtype=torch.int64).random_(),
    "random_to": lambda x: x.clone().random_(10),
    "random_from_to": lambda x: x.clone().random_(-3, 3),
    "inplace_on_view": lambda x: x.clone()[1:3].uniform_(),
    "dropout": lambda x: F.dropout(x, 0.5),
    "dropout_module": lambda x: torch.nn.Dropout(0.3)(x),
    "dropout1d": lambda x: F.dropout1d(x, 0.5),
    "dropout2d": lambda x: F.dropout2d(x[None, :, :, None], 0.5),
    "dropout3d": lambda x: F.dropout3d(x[None, :, :, None, None], 0.5),
    "alpha_dropout": lambda x: F.alpha_dropout(x, 0.5, training=True),
    "feature_alpha_dropout": lambda x: F.feature_alpha_dropout(x[None], 0.5, training=True),
    "rrelu": lambda x: F.rrelu(x - 0.5, training=True),
    "rrelu_module": lambda x: torch.nn.RReLU().train()(x - 0.5),
    "native_dropout": lambda x: torch.native_dropout(x, 0.5, True)[0],
}


def _input():
    return torch.rand(4, 6, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05


def _assert_same_draw(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        # The same numbers; XLA may fuse the affine transform of a draw differently (1 ulp).
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(DRAWS))
def test_draw_is_deterministic_per_key_and_shaped_like_pytorch(name):
    fn, x = DRAWS[name], _input()
    jf = t2j(fn)
    keys = jnp.stack([KEY, OTHER_KEY, KEY])
    draws = jax.jit(jax.vmap(lambda key: jf(t2j(x), rng=key)))(keys)
    _assert_same_draw(draws[0], draws[2])
    assert not np.array_equal(draws[0], draws[1])
    expected = fn(x)
    assert draws[0].shape == tuple(expected.shape)
    assert draws.dtype == t2j(expected).dtype


@pytest.mark.parametrize(
    "name", ["rand", "normal_", "dropout", "multinomial", "randperm", "rrelu", "random_to"]
)
def test_eager_and_jit_give_the_same_draw(name):
    fn, x = DRAWS[name], t2j(_input())
    _assert_same_draw(t2j(fn)(x, rng=KEY), jax.jit(t2j(fn))(x, rng=KEY))


@pytest.mark.parametrize("name", ["rand_dtype", "randint", "randn_like", "random_", "randperm"])
def test_dtypes_follow_x64_setting(name, x64):
    fn, x = DRAWS[name], _input()
    out = jax.jit(t2j(fn))(t2j(x), rng=KEY)
    assert out.dtype == t2j(fn(x)).dtype


@pytest.mark.parametrize("name", ["rand", "dropout", "uniform_", "multinomial", "randperm"])
def test_torch_generator_argument_draws_from_the_key(name):
    generator = torch.Generator().manual_seed(123)
    fn = {
        "rand": lambda x: torch.rand(3, 4, generator=generator),
        "dropout": lambda x: x * torch.rand(x.shape, generator=generator).lt(0.5),
        "uniform_": lambda x: x.clone().uniform_(generator=generator),
        "multinomial": lambda x: torch.multinomial(x, 2, generator=generator),
        "randperm": lambda x: torch.randperm(7, generator=generator),
    }[name]
    state = generator.get_state()
    x = t2j(_input())
    first = t2j(fn)(x, rng=KEY)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(t2j(fn)(x, rng=KEY)))
    assert not np.array_equal(np.asarray(first), np.asarray(t2j(fn)(x, rng=OTHER_KEY)))
    assert torch.equal(generator.get_state(), state)  # the generator is neither read nor advanced


def test_successive_draws_in_one_call_differ():
    a, b = t2j(lambda: (torch.rand(100), torch.rand(100)))(rng=KEY)
    assert not np.allclose(a, b)


def test_vmap_over_keys_gives_independent_draws():
    keys = jax.random.split(KEY, 64)
    draws = jax.vmap(lambda key: t2j(lambda: torch.randn(256))(rng=key))(keys)
    draws = np.asarray(draws)
    assert draws.shape == (64, 256)
    correlation = np.corrcoef(draws)[np.triu_indices(64, 1)]
    assert np.abs(correlation).max() < 0.35  # independent rows: |r| ~ 1/sqrt(256)
    np.testing.assert_array_equal(draws[3], np.asarray(t2j(lambda: torch.randn(256))(rng=keys[3])))


def test_vmap_over_keys_with_dropout_module():
    module = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5)).train()
    x = t2j(torch.randn(2, 8))
    keys = jax.random.split(KEY, 5)
    outs = jax.jit(jax.vmap(lambda key: t2j(module)(x, rng=key)))(keys)
    assert not np.array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[2], t2j(module)(x, rng=keys[2]), rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# Missing key, eval mode, global state


@pytest.mark.parametrize(
    "name, api",
    [
        ("rand", "torch.rand"),
        ("uniform_", "torch.Tensor.uniform_"),
        ("dropout", "torch.nn.functional.dropout"),
        ("multinomial", "torch.multinomial"),
        ("rrelu", "torch.nn.functional.rrelu"),
    ],
)
def test_missing_key_names_the_op_and_how_to_pass_rng(name, api):
    with pytest.raises(MissingRNGError) as info:
        t2j(DRAWS[name])(t2j(_input()))
    message = str(info.value)
    assert api in message and "rng=" in message and "test_random.py" in message


def test_missing_key_in_a_module():
    module = torch.nn.Dropout(0.5).train()
    with pytest.raises(MissingRNGError, match="rng="):
        t2j(module)(jnp.ones(3))


def test_eval_mode_needs_no_key_and_matches_pytorch():
    module = torch.nn.Sequential(
        torch.nn.Linear(6, 6), torch.nn.Dropout(0.5), torch.nn.RReLU(), torch.nn.AlphaDropout(0.2)
    ).eval()
    x = torch.randn(4, 6)
    assert_close(t2j(module)(t2j(x)), module(x))
    assert_close(t2j(lambda x: F.rrelu(x, training=False))(t2j(x)), F.rrelu(x, training=False))


def test_dropout_p_zero_and_one():
    x = torch.randn(5, 5)
    assert_close(t2j(lambda x: F.dropout(x, 0.0))(t2j(x), rng=KEY), x)
    assert_close(t2j(lambda x: F.dropout(x, 1.0))(t2j(x), rng=KEY), torch.zeros(5, 5))


def test_manual_seed_inside_converted_code_changes_nothing_outside():
    def fn(x):
        torch.manual_seed(1234)
        return x + torch.rand(3)

    before = torch.random.get_rng_state()
    first = t2j(fn)(jnp.zeros(3), rng=KEY)
    assert torch.equal(torch.random.get_rng_state(), before)
    # Draws still come from the key alone.
    assert not np.array_equal(first, t2j(fn)(jnp.zeros(3), rng=OTHER_KEY))
    with pytest.raises(MissingRNGError):
        t2j(fn)(jnp.zeros(3))
    assert torch.equal(torch.random.get_rng_state(), before)


# --------------------------------------------------------------------------------------------------
# Distributions (fixed keys, so these are deterministic; tolerances are ~5 standard errors)

N = 200_000


def _draw(fn, *args):
    return np.asarray(jax.jit(t2j(fn))(*args, rng=jax.random.key(42)), dtype=np.float64)


def test_normal_moments():
    z = _draw(lambda: torch.randn(N))
    assert abs(z.mean()) < 0.012 and abs(z.var() - 1) < 0.02
    y = _draw(lambda: torch.empty(N).normal_(3.0, 0.5))
    assert abs(y.mean() - 3.0) < 0.006 and abs(y.std() - 0.5) < 0.005
    w = _draw(lambda: torch.normal(torch.full((N,), -1.0), 2.0))
    assert abs(w.mean() + 1.0) < 0.025 and abs(w.std() - 2.0) < 0.02


def test_uniform_moments_and_range():
    u = _draw(lambda: torch.rand(N))
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.004 and abs(u.var() - 1 / 12) < 0.002
    v = _draw(lambda: torch.empty(N).uniform_(-2.0, 3.0))
    assert v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.02


def test_exponential_geometric_poisson_lognormal_cauchy():
    e = _draw(lambda: torch.empty(N).exponential_(2.0))
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 0.006 and abs(e.var() - 0.25) < 0.01
    g = _draw(lambda: torch.empty(N).geometric_(0.25))
    assert g.min() == 1 and np.all(g == np.round(g)) and abs(g.mean() - 4.0) < 0.05
    p = _draw(lambda x: torch.poisson(x), jnp.full((N,), 3.0))
    assert np.all(p == np.round(p)) and abs(p.mean() - 3.0) < 0.025 and abs(p.var() - 3.0) < 0.06
    ln = _draw(lambda: torch.empty(N).log_normal_(0.5, 0.25))
    assert abs(np.log(ln).mean() - 0.5) < 0.003 and abs(np.log(ln).std() - 0.25) < 0.003
    c = _draw(lambda: torch.empty(N).cauchy_(1.0, 2.0))
    assert abs(np.median(c) - 1.0) < 0.03
    assert abs(np.quantile(c, 0.75) - 3.0) < 0.05  # median + sigma * tan(pi/4)


def test_integer_draws_cover_their_range_uniformly():
    r = _draw(lambda: torch.randint(-3, 5, (N,)))
    counts = np.bincount((r + 3).astype(int), minlength=8)
    assert r.min() == -3 and r.max() == 4
    np.testing.assert_allclose(counts / N, 1 / 8, atol=0.004)
    k = _draw(lambda: torch.empty(N).random_(4))
    np.testing.assert_allclose(np.bincount(k.astype(int)) / N, 0.25, atol=0.005)
    big = _draw(lambda: torch.empty(N).random_())
    assert big.min() >= 0 and big.max() <= 2**24 and big.max() > 2**23
    b = _draw(lambda: torch.empty(N, dtype=torch.bool).random_())
    assert abs(b.mean() - 0.5) < 0.005


def test_bernoulli_rate():
    b = _draw(lambda: torch.empty(N).bernoulli_(0.3))
    assert set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.3) < 0.005
    probs = jnp.linspace(0.0, 1.0, 5)
    rows = _draw(lambda p: torch.bernoulli(p.expand(N // 10, 5)), probs)
    np.testing.assert_allclose(rows.mean(0), np.asarray(probs), atol=0.015)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keep_rate_and_scaling(p):
    x = jnp.full((N,), 2.0)
    y = _draw(lambda x: F.dropout(x, p), x)
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.005
    np.testing.assert_allclose(y[kept], 2.0 / (1 - p), rtol=1e-6)


def test_feature_dropout_drops_whole_channels():
    x = jnp.ones((64, 32, 5, 5))
    y = _draw(lambda x: F.dropout2d(x, 0.5), x)
    per_channel = y.reshape(64, 32, 25)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert abs((per_channel[..., 0] == 0).mean() - 0.5) < 0.04


def test_alpha_dropout_keeps_mean_and_variance():
    z = _draw(lambda x: F.alpha_dropout(x, 0.2, training=True), jax.random.normal(KEY, (N,)))
    assert abs(z.mean()) < 0.015 and abs(z.var() - 1) < 0.03


def test_rrelu_slopes_are_uniform_in_bounds():
    x = -jnp.ones(N)
    slopes = -_draw(lambda x: F.rrelu(x, 0.1, 0.3, training=True), x)
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.002
    positive = _draw(lambda x: F.rrelu(x, training=True), jnp.arange(1.0, 5.0))
    np.testing.assert_array_equal(positive, [1, 2, 3, 4])


def test_multinomial_with_replacement_frequencies():
    probs = jnp.array([[1.0, 2.0, 3.0, 4.0], [4.0, 0.0, 0.0, 1.0]])
    s = _draw(lambda p: torch.multinomial(p, N // 4, replacement=True), probs).astype(int)
    assert s.shape == (2, N // 4)
    np.testing.assert_allclose(
        np.bincount(s[0], minlength=4) / s.shape[1], [0.1, 0.2, 0.3, 0.4], atol=0.01
    )
    np.testing.assert_allclose(
        np.bincount(s[1], minlength=4) / s.shape[1], [0.8, 0, 0, 0.2], atol=0.01
    )


def test_multinomial_without_replacement():
    probs = jnp.tile(jnp.array([1.0, 2.0, 3.0, 4.0, 0.0]), (20_000, 1))
    s = _draw(lambda p: torch.multinomial(p, 3), probs).astype(int)
    assert all(len(set(row)) == 3 for row in s[:2000])  # no repeats within a row
    assert not (s == 4).any()  # zero probability is never drawn
    np.testing.assert_allclose(
        np.bincount(s[:, 0], minlength=5) / len(s), [0.1, 0.2, 0.3, 0.4, 0], atol=0.012
    )
    # The second pick given the first is 2 (weight 3): proportional to the remaining weights.
    second = s[s[:, 0] == 2, 1]
    np.testing.assert_allclose(
        np.bincount(second, minlength=5) / len(second), [1 / 7, 2 / 7, 0, 4 / 7, 0], atol=0.02
    )


def test_randperm_is_a_permutation():
    for n in [1, 10, 1000]:
        perm = _draw(lambda n=n: torch.randperm(n)).astype(int)
        np.testing.assert_array_equal(np.sort(perm), np.arange(n))
    perms = np.stack(
        [np.asarray(t2j(lambda: torch.randperm(5))(rng=jax.random.key(i))) for i in range(200)]
    )
    first = np.bincount(perms[:, 0], minlength=5) / 200
    np.testing.assert_allclose(first, 0.2, atol=0.1)


def test_sdpa_dropout_draws_from_the_key():
    q = jax.random.normal(KEY, (1, 2, 8, 4))
    fn = jax.jit(t2j(lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)))
    np.testing.assert_array_equal(fn(q, rng=KEY), fn(q, rng=KEY))
    assert not np.array_equal(fn(q, rng=KEY), fn(q, rng=OTHER_KEY))

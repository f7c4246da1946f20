"""Train a PyTorch CNN with JAX: scikit-learn's digits, optax.adam, a jitted step through t2j.

The model is plain PyTorch with batch norm in training mode and dropout. ``t2j`` turns it into a
JAX function of ``(images, state_dict, rng)``; each step draws its dropout masks from a fresh key
and threads the updated batch-norm statistics (``return_state_dict=True``) into the next step,
while optax updates the parameters. Run ``python examples/train_digits.py``.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from torch2jax import t2j


class DigitsCNN(torch.nn.Module):
    """Two convolution blocks (convolution, batch norm, ReLU), dropout, a two-layer head."""

    def __init__(self, dropout: float = 0.25):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1),
            torch.nn.BatchNorm2d(16),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.BatchNorm2d(32),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Dropout2d(dropout),
        )
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(32 * 4 * 4, 64),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(64, 10),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def load_data(seed: int) -> tuple[np.ndarray, ...]:
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    return train_test_split(
        images, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )


def train(epochs: int = 10, batch_size: int = 64, seed: int = 0, verbose: bool = True) -> float:
    """Train for ``epochs`` epochs and return the test accuracy."""
    x_train, x_test, y_train, y_test = load_data(seed)
    torch.manual_seed(seed)
    model = DigitsCNN().train()
    forward = t2j(model)

    params = {name: t2j(p) for name, p in model.named_parameters()}
    buffers = {name: t2j(b) for name, b in model.named_buffers()}
    optimizer = optax.adam(3e-3)
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(params, buffers, opt_state, images, labels, key):
        def loss_fn(params):
            logits, state = forward(
                images, state_dict={**params, **buffers}, rng=key, return_state_dict=True
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, {name: state[name] for name in buffers}

        (loss, buffers), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), buffers, opt_state, loss

    # Evaluation uses the running statistics: a copy of the model in eval mode, same arrays.
    evaluate = jax.jit(
        lambda params, buffers, images: t2j(copy.deepcopy(model).eval())(
            images, state_dict={**params, **buffers}
        ).argmax(-1)
    )

    key = jax.random.key(seed)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = order[start : start + batch_size]
            key, step_key = jax.random.split(key)
            params, buffers, opt_state, loss = train_step(
                params, buffers, opt_state, x_train[batch], y_train[batch], step_key
            )
            losses.append(loss)
        if verbose:
            print(f"epoch {epoch + 1:2d}  loss {float(jnp.mean(jnp.stack(losses))):.4f}")

    predictions = np.asarray(evaluate(params, buffers, x_test))
    accuracy = float((predictions == y_test).mean())
    if verbose:
        print(f"test accuracy: {accuracy:.4f} on {len(y_test)} held-out digits")
    return accuracy


if __name__ == "__main__":
    train()

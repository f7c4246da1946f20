"""examples/train_digits.py: a PyTorch CNN trained with optax through t2j reaches 95% accuracy."""

from __future__ import annotations

import importlib.util
import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"


def test_train_digits_reaches_95_percent():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    accuracy = module.train(epochs=8, verbose=False)
    print(f"digits test accuracy after 8 epochs: {accuracy:.4f}")
    assert accuracy >= 0.95

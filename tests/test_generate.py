"""examples/generate.py: greedy decoding with a key/value cache, the loop jitted in JAX, gives
exactly the tokens of HuggingFace's `model.generate(do_sample=False)`."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "generate.py")
_spec = importlib.util.spec_from_file_location("generate_example", _PATH)
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)


@pytest.mark.slow
@pytest.mark.parametrize("build", [generate.tiny_llama, generate.tiny_gpt2], ids=["llama", "gpt2"])
def test_jitted_greedy_decoding_matches_generate(build):
    ours, theirs = generate.compare(build(), new_tokens=10)
    np.testing.assert_array_equal(ours, theirs)
    assert len(np.unique(theirs)) > 1  # not one token repeated throughout

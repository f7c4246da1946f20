"""Greedy decoding of a HuggingFace causal language model with a key/value cache, the whole loop
jitted in JAX.

The PyTorch side is one decoding step, `GreedyStep`: it takes the new tokens, the number of tokens
already cached and the cache's key/value tensors (fixed size, as in HuggingFace's `StaticCache`),
runs the unchanged HuggingFace model and returns the next token and the updated cache. `t2j` turns
the step into a JAX function; `jax.lax.scan` runs it once per generated token, all inside one
`jax.jit`. The tokens equal `model.generate(do_sample=False)`'s.

    python examples/generate.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import torch
import transformers

from torch2jax import t2j


class GreedyStep(torch.nn.Module):
    """One greedy decoding step of ``model`` over a fixed-size key/value cache."""

    def __init__(self, model: transformers.PreTrainedModel, max_length: int):
        super().__init__()
        self.model = model
        self.max_length = max_length

    def _cache(self, seen: torch.Tensor, keys: list, values: list) -> transformers.StaticCache:
        cache = transformers.StaticCache(config=self.model.config, max_cache_len=self.max_length)
        for layer, key, value in zip(cache.layers, keys, values, strict=True):
            # What StaticLayer.lazy_initialization would allocate, but holding our tensors.
            layer.keys, layer.values = key, value
            layer.batch_size, layer.num_heads = key.shape[:2]
            layer.k_head_dim, layer.v_head_dim = key.shape[-1], value.shape[-1]
            layer.device = key.device
            layer.cumulative_length = seen.clone()
            layer.is_initialized = True
        return cache

    def forward(
        self, tokens: torch.Tensor, seen: torch.Tensor, keys: list, values: list
    ) -> tuple[torch.Tensor, list, list]:
        """``tokens`` (batch, new) follow ``seen`` cached tokens; returns the next token (batch,)
        and the cache with the new tokens' keys and values written in."""
        cache = self._cache(seen, keys, values)
        positions = (seen + torch.arange(tokens.shape[1])).unsqueeze(0)
        logits = self.model(
            input_ids=tokens, position_ids=positions, cache=cache, use_cache=True
        ).logits
        next_token = logits[:, -1].argmax(-1)
        return (
            next_token,
            [layer.keys for layer in cache.layers],
            [layer.values for layer in cache.layers],
        )


def cache_shapes(step: GreedyStep, batch: int) -> list[tuple[int, ...]]:
    """The key/value cache's shape per layer, read off one PyTorch step with an empty cache."""
    cache = transformers.StaticCache(config=step.model.config, max_cache_len=step.max_length)
    with torch.no_grad():
        step.model(
            input_ids=torch.zeros(batch, 1, dtype=torch.long),
            attention_mask=torch.ones(batch, 1, dtype=torch.long),
            cache=cache,
            use_cache=True,
        )
    return [tuple(layer.keys.shape) for layer in cache.layers], [
        tuple(layer.values.shape) for layer in cache.layers
    ]


def greedy_generate(model: transformers.PreTrainedModel, new_tokens: int):
    """A jitted JAX function ``(params, prompt) -> generated tokens (batch, new_tokens)``."""
    step = GreedyStep(model.eval(), max_length=64)
    jax_step = t2j(step)

    def generate(params, prompt):
        batch, prompt_length = prompt.shape
        key_shapes, value_shapes = cache_shapes(step, batch)
        keys = [jnp.zeros(shape, jnp.float32) for shape in key_shapes]
        values = [jnp.zeros(shape, jnp.float32) for shape in value_shapes]
        state = {f"model.{name}": value for name, value in params.items()}
        first, keys, values = jax_step(prompt, jnp.array(0), keys, values, state_dict=state)

        def body(carry, _):
            token, seen, keys, values = carry
            token, keys, values = jax_step(token[:, None], seen, keys, values, state_dict=state)
            return (token, seen + 1, keys, values), token

        carry = (first, jnp.array(prompt_length), keys, values)
        _, rest = jax.lax.scan(body, carry, None, length=new_tokens - 1)
        return jnp.concatenate([first[:, None], rest.T], axis=1)

    return jax.jit(generate)


def tiny_llama() -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return transformers.LlamaForCausalLM(config).eval()


def tiny_gpt2() -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=128,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        initializer_range=0.2,  # wider init: varied tokens
    )
    return transformers.GPT2LMHeadModel(config).eval()


def compare(model: transformers.PreTrainedModel, new_tokens: int = 12) -> tuple:
    """(JAX tokens, PyTorch `generate` tokens) for a batch of two prompts."""
    prompt = torch.randint(3, 128, (2, 5), generator=torch.Generator().manual_seed(0))
    params = {name: t2j(p.detach()) for name, p in model.named_parameters()}
    ours = greedy_generate(model, new_tokens)(params, t2j(prompt))
    with torch.no_grad():
        theirs = model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
        )[:, prompt.shape[1] :]
    return jax.device_get(ours), theirs.numpy()


if __name__ == "__main__":
    for name, build in [("llama", tiny_llama), ("gpt2", tiny_gpt2)]:
        ours, theirs = compare(build())
        print(f"{name}: jax {ours.tolist()}\n{' ' * len(name)}  torch {theirs.tolist()}")
        assert (ours == theirs).all()
    print("greedy tokens match")

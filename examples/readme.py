"""The README's examples, run end to end: PyTorch's and JAX's outputs side by side."""

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torchvision

from torch2jax import t2j


def side_by_side(title: str, torch_out, jax_out) -> None:
    torch_out, jax_out = np.asarray(torch_out), np.asarray(jax_out)
    print(f"\n== {title}")
    print("  PyTorch:", np.array2string(torch_out.ravel()[:5], precision=5))
    print("  JAX:    ", np.array2string(jax_out.ravel()[:5], precision=5))
    print(f"  max abs difference: {np.abs(torch_out - jax_out).max():.2e}")


def in_place_example() -> None:
    def f(x):
        x.add_(1)
        x.mul_(2)
        return x

    jf = t2j(f)
    print("\n== In-place operations")
    print("  t2j(f)(jnp.array([3]))               ->", jf(jnp.array([3])))
    print("  vmap(t2j(f))(jnp.array([1, 2, 3]))   ->", jax.vmap(jf)(jnp.array([1, 2, 3])))
    print("  grad(t2j(f))(jnp.array(2.0))         ->", jax.grad(jf)(jnp.array(2.0)))


def vit_example() -> None:
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16().eval()
    torch.nn.init.normal_(vit.heads.head.weight, std=0.02)  # torchvision zero-inits the head
    batch = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = vit(batch)

    jax_vit = t2j(vit)
    params = {k: t2j(v) for k, v in vit.named_parameters()}
    logits = jax.jit(jax_vit)(t2j(batch), state_dict=params)
    side_by_side("torchvision ViT-B/16, jitted", expected, logits)


def resnet_gradient_example() -> None:
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18().eval()
    batch = torch.randn(2, 3, 64, 64)
    state = {k: t2j(v) for k, v in resnet.state_dict().items()}
    params = {k: t2j(v) for k, v in resnet.named_parameters()}
    buffers = {k: v for k, v in state.items() if k not in params}

    def loss(params, x):
        return jnp.sum(t2j(resnet)(x, state_dict={**params, **buffers}) ** 2)

    grads = jax.jit(jax.grad(loss))(params, t2j(batch))
    (resnet(batch) ** 2).sum().backward()
    name = "conv1.weight"
    side_by_side(
        f"torchvision ResNet-18, jit(grad) of sum(out**2), {name}",
        resnet.get_parameter(name).grad,
        grads[name],
    )


if __name__ == "__main__":
    in_place_example()
    vit_example()
    resnet_gradient_example()

"""``torch2jax check``: will this PyTorch model run in JAX, and does it give PyTorch's results?

It loads a model (``package.module:callable`` or ``path/to/file.py:callable``), lists every
PyTorch operation that the conversion meets with how torch2jax handles it, runs PyTorch and the
converted model on the same random inputs, reports the largest differences of outputs (and of
gradients with ``--grad``), and times PyTorch eager against the jitted JAX function. The exit
status is 0 when everything is supported and matches, 1 when not, 2 on a usage error. The check
itself is ``torch2jax.check``; this module is the command line, its progress display and the
built-in example.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

import torch

from torch2jax.check import CheckOptions, UsageError, format_report, run_check

EXAMPLE_TARGET = "torch2jax.cli:example"


# --------------------------------------------------------------------------------------------------
# The built-in example


class _TinyViT(torch.nn.Module):
    """A small vision transformer with a convolutional stem: convolution, batch norm, attention,
    layer norm, GELU and dropout, the operations most models are made of."""

    def __init__(self, width: int = 32, heads: int = 4, classes: int = 10):
        super().__init__()
        self.heads = heads
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 3, padding=1),
            torch.nn.BatchNorm2d(width),
            torch.nn.ReLU(),
            torch.nn.Conv2d(width, width, 4, stride=4),
        )
        self.norm1 = torch.nn.LayerNorm(width)
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.proj = torch.nn.Linear(width, width)
        self.norm2 = torch.nn.LayerNorm(width)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(width, 2 * width),
            torch.nn.GELU(),
            torch.nn.Dropout(0.1),
            torch.nn.Linear(2 * width, width),
        )
        self.head = torch.nn.Linear(width, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images).flatten(2).transpose(1, 2)  # (batch, tokens, width)
        batch, tokens, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        q, k, v = (t.reshape(batch, tokens, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(dim=1))


def example() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """The model ``torch2jax check`` checks when given no target, with example inputs."""
    torch.manual_seed(0)
    return _TinyViT(), (torch.randn(2, 3, 32, 32),)


# --------------------------------------------------------------------------------------------------
# Progress on long steps


class Progress:
    """Step lines on ``stream``; on a terminal a spinner with elapsed seconds while a step runs."""

    _FRAMES = "|/-\\"

    def __init__(self, stream: TextIO | None):
        self.stream = stream

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        if self.stream is None:
            yield
            return
        start = time.perf_counter()
        done = threading.Event()
        spinner = None
        if self.stream.isatty():

            def spin() -> None:
                frame = 0
                while not done.wait(0.2):
                    elapsed = time.perf_counter() - start
                    self.stream.write(f"\r  {title} {self._FRAMES[frame % 4]} {elapsed:5.1f} s")
                    self.stream.flush()
                    frame += 1

            spinner = threading.Thread(target=spin, daemon=True)
            spinner.start()
        else:
            self.stream.write(f"  {title} ...\n")
            self.stream.flush()
        outcome = "done"
        try:
            yield
        except BaseException:
            outcome = "failed"
            raise
        finally:
            done.set()
            if spinner is not None:
                spinner.join()
                self.stream.write("\r\033[K")
            elapsed = time.perf_counter() - start
            self.stream.write(f"  {title}: {outcome} ({elapsed:.1f} s)\n")
            self.stream.flush()


# --------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torch2jax", description="Run PyTorch code in JAX: check that a model converts."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="check that a PyTorch model or function converts and matches PyTorch",
        description=(
            "List the PyTorch operations a model uses and whether torch2jax supports them, "
            "compare JAX's outputs (and gradients) with PyTorch's on random inputs, and time "
            "both. Exit status: 0 OK, 1 unsupported or different, 2 usage error."
        ),
    )
    check.add_argument(
        "target",
        nargs="?",
        help=(
            "package.module:callable or path/to/file.py:callable giving an nn.Module, a "
            "function, or (model, example_inputs); a module class or builder is called without "
            "arguments. Default: a built-in example model"
        ),
    )
    check.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="SHAPE[:DTYPE[:HIGH]]",
        help=(
            "a random input per positional argument, e.g. 1,3,224,224 (float32 normal) or "
            "1,128:int64:30522 (integers in [0, 30522)); repeat for several"
        ),
    )
    check.add_argument(
        "--inputs",
        dest="inputs_from",
        metavar="MODULE:CALLABLE",
        help="a callable returning example inputs: a tensor, a tuple of them, a dict of "
        "keyword arguments, or (args, kwargs)",
    )
    check.add_argument("--train", action="store_true", help="check in training mode")
    check.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the converted function under jax.jit (default) or eagerly",
    )
    check.add_argument("--grad", action="store_true", help="also compare gradients")
    check.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    check.add_argument("--rng-seed", type=int, default=0, help="seed of inputs and JAX keys")
    check.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance")
    check.add_argument(
        "--rtol", type=float, default=1e-3, help="tolerance relative to the largest |value|"
    )
    check.add_argument("--repeat", type=int, default=10, help="timed runs of each side")
    check.add_argument(
        "--torch-device",
        default="cpu",
        help="where PyTorch runs for the comparison and timing (cpu, cuda); JAX uses its default",
    )
    check.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``torch2jax`` command; returns the exit status."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command != "check":
        parser.print_help()
        return 2
    options = CheckOptions(
        target=arguments.target or EXAMPLE_TARGET,
        inputs=arguments.inputs,
        inputs_from=arguments.inputs_from,
        train=arguments.train,
        jit=arguments.jit,
        grad=arguments.grad,
        rng_seed=arguments.rng_seed,
        atol=arguments.atol,
        rtol=arguments.rtol,
        repeat=arguments.repeat,
        torch_device=arguments.torch_device,
    )
    progress = Progress(None if arguments.quiet else sys.stderr)
    if arguments.target is None and not arguments.quiet:
        sys.stderr.write(f"No target given: checking the built-in example ({EXAMPLE_TARGET}).\n")
    try:
        report = run_check(options, progress)
    except UsageError as error:
        sys.stderr.write(f"torch2jax check: {error}\n")
        return 2
    if arguments.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0 if report.ok else 1

"""Benchmark torch2jax against PyTorch eager and torch.compile: ``make bench``.

    python benchmarks/run.py                       # every model, docs/benchmarks.md + chart
    python benchmarks/run.py --models resnet18_b1,gpt2
    python benchmarks/run.py --quick --models tiny --output /tmp/bench.md   # smoke test

Prints the table, then writes this device's section of the Markdown file and a PNG chart next
to it. See docs/benchmarks.md for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
# The project's own sources first, so a clone runs without installing (a GPU machine, say).
sys.path.insert(1, os.path.join(os.path.dirname(_HERE), "src"))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from models import DEFAULT_MODELS, MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated, from: {', '.join(MODELS)} (default: all but tiny)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 3 timed rounds, no torch.compile, no blocks or hand-written model, small state dict",
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 20)")
    parser.add_argument("--no-torch-compile", action="store_true")
    parser.add_argument(
        "--no-blocks",
        action="store_true",
        help="skip the block and hand-written ResNet-18 comparisons",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--state-dict-mb", type=int, default=None, help="synthetic state dict size (default 500)"
    )
    parser.add_argument(
        "--output", default=os.path.join(os.path.dirname(_HERE), "docs", "benchmarks.md")
    )
    parser.add_argument("--json", default=None, help="also write the raw results here")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    return args


def _device(choice: str) -> str:
    import jax
    import torch

    if choice != "auto":
        return choice
    return "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"


def _warm_up() -> None:
    """Trace a tiny model once: one-time library start-up (decomposition tables, JAX's caches)
    would otherwise land on whichever model comes first."""
    import jax
    import torch
    from models import TinyNet

    from torch2jax import t2j

    model = TinyNet().eval()
    jax.block_until_ready(t2j(model.state_dict()))
    jax.make_jaxpr(t2j(model))(t2j(torch.randn(1, 3, 8, 8)))


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    import jax

    if args.device == "cpu":
        jax.config.update("jax_platforms", "cpu")
    from measure import (
        bench_blocks,
        bench_hand_written_resnet18,
        bench_model,
        large_state_dict_conversion,
    )
    from models import MODELS
    from report import chart, console_table, markdown_section, write_markdown
    from timing import load_average, machine_info

    device = _device(args.device)
    repeats = args.repeats or (3 if args.quick else 20)
    torch_compile = not (args.quick or args.no_torch_compile)
    info = machine_info(device)
    print(json.dumps(info, indent=1), flush=True)
    started = time.perf_counter()

    _warm_up()
    results: list = []
    failures: list[str] = []
    for name in args.models.split(","):
        print(f"\n== {MODELS[name].label}", flush=True)
        model_start = time.perf_counter()
        try:
            result = bench_model(MODELS[name], device, repeats, torch_compile, trace_profile=True)
        except Exception as error:  # one model's failure must not lose the others' numbers
            traceback.print_exc()
            failures.append(f"{MODELS[name].label}: {type(error).__name__}: {str(error)[:300]}")
            continue
        results.append(result)
        print(
            json.dumps({k: v for k, v in result.items() if k != "trace"}, indent=1, default=str),
            f"\n({time.perf_counter() - model_start:.0f} s)",
            flush=True,
        )
    blocks = {} if args.quick or args.no_blocks else bench_blocks(repeats)
    hand_written = {} if args.quick or args.no_blocks else bench_hand_written_resnet18(repeats)
    big = large_state_dict_conversion(args.state_dict_mb or (20 if args.quick else 500))
    load_after = load_average()

    print("\n" + console_table(results))
    print(
        f"\nload average before {info['load_average']}, after {load_after}; "
        f"threads: torch {info['torch_threads']}, cpu_count {info['cpu_count']}"
    )
    chart_path = os.path.splitext(args.output)[0] + f"_{device}.png"
    os.makedirs(os.path.dirname(os.path.abspath(chart_path)), exist_ok=True)
    renderer = chart(chart_path, device, results)
    options = " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown_section(
        info, load_after, results, blocks, big, chart_path, options, hand_written
    )
    section += f"\nChart drawn with the {renderer}.\n"
    if failures:
        section += "\nModels that failed:\n\n" + "\n".join(f"- `{f}`" for f in failures) + "\n"
    write_markdown(args.output, device, section)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "results": results,
                    "blocks": blocks,
                    "hand_written_resnet18": hand_written,
                    "state_dict": big,
                },
                f,
                indent=1,
                default=str,
            )
    print(f"\nwrote {args.output} and {chart_path} in {time.perf_counter() - started:.0f} s")
    if failures:
        print("failed:", *failures, sep="\n  ", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

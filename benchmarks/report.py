"""The console table, docs/benchmarks.md and the chart, from the measurements."""

from __future__ import annotations

import os
import re
from typing import Any

from png import bar_chart

# The reference numbers (2-core CPU): best existing library, jitted fwd and fwd+bwd.
BEST_EXISTING = {
    "resnet18_b1": (3.7, 2.1),
    "resnet18_b8": (1.4, 2.5),
    "vit_b16": (0.89, 1.4),
    "gpt2": (1.14, 0.94),
    "bert": (0.98, 0.93),
}


def _ms(result: dict[str, Any], key: str) -> float | None:
    return result.get("ms", {}).get(key)


def ratio(result: dict[str, Any], key: str, base: str) -> float | None:
    value, reference = _ms(result, key), _ms(result, base)
    return value / reference if value is not None and reference else None


def _fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _verdict(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return ""
    return "yes" if value <= target else "no"


def speed_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        fwd = ratio(r, "t2j_jit_fwd", "torch_eager_fwd")
        bwd = ratio(r, "t2j_jit_value_and_grad", "torch_eager_fwdbwd")
        targets = r.get("targets") or (None, None)
        rows.append(
            [
                r["label"],
                _fmt(_ms(r, "torch_eager_fwd")),
                _fmt(ratio(r, "torch_compile_fwd", "torch_eager_fwd"), ".2f", "×"),
                f"{_fmt(_ms(r, 't2j_jit_fwd'))} ({_fmt(fwd, '.2f', '×')})",
                _fmt(ratio(r, "t2j_jit_fwd_xla_defaults", "torch_eager_fwd"), ".2f", "×"),
                _fmt(_ms(r, "torch_eager_fwdbwd")),
                _fmt(ratio(r, "torch_compile_fwdbwd", "torch_eager_fwdbwd"), ".2f", "×"),
                f"{_fmt(_ms(r, 't2j_jit_value_and_grad'))} ({_fmt(bwd, '.2f', '×')})",
                _fmt(
                    ratio(r, "t2j_jit_value_and_grad_xla_defaults", "torch_eager_fwdbwd"),
                    ".2f",
                    "×",
                ),
                f"≤{targets[0]}× / ≤{targets[1]}×" if targets[0] else "",
                "/".join(v for v in (_verdict(fwd, targets[0]), _verdict(bwd, targets[1])) if v),
            ]
        )
    return rows


SPEED_HEADER = [
    "model",
    "PyTorch eager fwd (ms)",
    "torch.compile fwd",
    "t2j jit fwd (ms, ratio)",
    "t2j, XLA defaults",
    "PyTorch eager fwd+bwd (ms)",
    "torch.compile fwd+bwd",
    "t2j jit value_and_grad (ms, ratio)",
    "t2j, XLA defaults",
    "target fwd / fwd+bwd",
    "met",
]


def console_table(results: list[dict[str, Any]]) -> str:
    rows = [SPEED_HEADER, *speed_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(SPEED_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _machine_lines(info: dict[str, Any], load_after: Any) -> list[str]:
    def load(value: Any) -> str:
        return "n/a" if value is None else ", ".join(f"{v:.2f}" for v in value)

    lines = [
        f"- CPU: {info['cpu']}, {info['cpu_count']} logical cores; {info['platform']}",
        f"- load average (1, 5, 15 min): before {load(info['load_average'])}, "
        f"after {load(load_after)}",
        f"- threads: PyTorch intra-op {info['torch_threads']}, inter-op "
        f"{info['torch_interop_threads']}; OMP_NUM_THREADS={info['OMP_NUM_THREADS'] or 'unset'}; "
        f"XLA_FLAGS={info['XLA_FLAGS'] or 'unset'}",
        f"- PyTorch {info['torch']}, JAX {info['jax']} (backend {info['jax_backend']}: "
        f"{', '.join(info['jax_devices'])}), Python {info['python']}",
    ]
    if "gpu" in info:
        lines.append(f"- GPU: {info['gpu']}")
    return lines


def markdown_section(
    info: dict[str, Any],
    load_after: Any,
    results: list[dict[str, Any]],
    blocks: dict[str, Any],
    big_state_dict: dict[str, float] | None,
    chart: str | None,
    options: str,
    hand_written: dict[str, Any] | None = None,
) -> str:
    device = info["device"]
    out = [f"## {device.upper()}: {info.get('gpu', info['cpu'])}", ""]
    out += _machine_lines(info, load_after)
    out += [f"- run: `benchmarks/run.py {options}`".replace("run.py `", "run.py`"), ""]
    out += ["### Steady state (median ms; ratio to PyTorch eager in the same run)", ""]
    jit_options = next((r["compiler_options"] for r in results if "compiler_options" in r), None)
    if jit_options:
        out += [
            "'t2j jit' is `jax.jit(f, compiler_options=torch2jax.compiler_options())`, here "
            f"`{jit_options}`; 't2j, XLA defaults' is plain `jax.jit(f)` in the same rounds.",
            "",
        ]
    out.append(_markdown_table(SPEED_HEADER, speed_rows(results)))
    out += [""]
    reference = [
        [r["label"], f"{BEST_EXISTING[r['name']][0]}×", f"{BEST_EXISTING[r['name']][1]}×"]
        for r in results
        if r["name"] in BEST_EXISTING
    ]
    if reference and device == "cpu":
        out += [
            "The issue's reference, best existing library of this kind on a 2-core CPU "
            "(ratio to PyTorch eager):",
            "",
            _markdown_table(["model", "jitted fwd", "fwd+bwd"], reference),
            "",
        ]
    if chart:
        out += [f"![ratios to PyTorch eager]({os.path.basename(chart)})", ""]
    out += ["### First call: trace and compile (seconds)", ""]
    rows = [
        [
            r["label"],
            _fmt(r["fwd_trace_s"], ".2f"),
            _fmt(r["fwd_compile_s"], ".2f"),
            _fmt(r["fwd_trace_s"] + r["fwd_compile_s"], ".2f"),
            _fmt(r["grad_trace_s"], ".2f"),
            _fmt(r["grad_compile_s"], ".2f"),
            _fmt(r.get("compile_fwd_first_call_s"), ".1f"),
            _fmt(r.get("compile_fwdbwd_first_call_s"), ".1f"),
            f"{r['max_abs_diff']:.1e}",
        ]
        for r in results
    ]
    header = [
        "model",
        "fwd trace",
        "fwd compile",
        "fwd total",
        "grad trace",
        "grad compile",
        "torch.compile fwd 1st call",
        "torch.compile fwd+bwd 1st call",
        "max abs diff t2j vs PyTorch",
    ]
    out += [_markdown_table(header, rows), ""]
    errors = [(r["label"], r["torch_compile_error"]) for r in results if "torch_compile_error" in r]
    for label, error in errors:
        out.append(f"- torch.compile failed on {label}: `{error}`")
    if hand_written:
        out += ["", *_hand_written_section(hand_written)]
    out += ["", "### t2j of the whole state dict (zero-copy DLPack)", ""]
    rows = [
        [
            r["label"],
            _fmt(r["state_dict"]["size_mb"]),
            _fmt(r["state_dict"]["ms"], ".2f"),
            _fmt(r["state_dict"]["extra_rss_mb"], ".2f"),
        ]
        for r in results
    ]
    if big_state_dict:
        rows.append(
            [
                "synthetic, 50 MB tensors",
                _fmt(big_state_dict["size_mb"]),
                _fmt(big_state_dict["ms"], ".2f"),
                _fmt(big_state_dict["extra_rss_mb"], ".2f"),
            ]
        )
    out += [_markdown_table(["state dict", "size (MB)", "time (ms)", "extra RSS (MB)"], rows)]
    out += ["", "Target: 500 MB in ≤ 50 ms with ≤ 10 MB extra memory.", ""]
    out += ["### Graph size of the converted forward pass", ""]
    rows = [
        [r["label"]] + [str(r["graph"][k]) for k in _GRAPH_KEYS] for r in results if "graph" in r
    ]
    out += [_markdown_table(["model", *_GRAPH_HEADER], rows), ""]
    if blocks:
        out += ["### One block, converted vs hand-written `jax.numpy`", ""]
        rows = []
        for label, versions in blocks.items():
            for version, stats in versions.items():
                rows.append(
                    [label, version]
                    + [str(stats[k]) for k in _GRAPH_KEYS]
                    + [_fmt(stats["ms"], ".2f")]
                )
        out += [_markdown_table(["block", "version", *_GRAPH_HEADER, "jit fwd (ms)"], rows), ""]
    traced = [r for r in results if "trace" in r]
    if traced:
        out += ["### Trace cost per ATen operation (jaxpr tracing, after a warm-up trace)", ""]
        rows = [
            [
                r["label"],
                str(r["trace"]["aten_ops"]),
                _fmt(r["trace"]["trace_s"] * 1e3, ".0f"),
                _fmt(r["trace"]["us_per_op"], ".1f"),
                _fmt(r["trace"]["torch2jax_us_per_op"], ".1f"),
                _fmt(r["trace"]["jax_us_per_op"], ".1f"),
                _fmt(r["trace"]["pytorch_us_per_op"], ".1f"),
                _fmt(r["trace"].get("api_hook_us_per_op"), ".1f"),
            ]
            for r in traced
        ]
        header = [
            "model",
            "ATen ops lowered",
            "trace (ms)",
            "µs per op",
            "torch2jax dispatch",
            "JAX (inside lowerings)",
            "PyTorch and the rest",
            "of which torch2jax's API hook (cProfile)",
        ]
        out += [_markdown_table(header, rows), ""]
        out += [
            "Wall-clock time, best of five traces. 'torch2jax dispatch' is the translation's "
            "own work per operation (unwrapping arguments, finding the lowering, wrapping results "
            "as Torchish); 'JAX' is JAX tracing the lowerings' calls; 'PyTorch and the rest' is "
            "everything outside dispatch: PyTorch's dispatcher and functionalization, the "
            "model's own Python, the conversion's fixed costs, and torch2jax's function-mode "
            "hook on each PyTorch API call (its self time under cProfile, which inflates it, in "
            "the last column). Target: ≤ 20 µs per op for the translation's own work.",
            "",
            f"cProfile hot spots (self time) while tracing {traced[0]['label']}:",
            "",
        ]
        out += [
            f"- {h['function']}: {h['calls']} calls, {h['tottime_ms']:.1f} ms"
            for h in traced[0]["trace"]["hotspots"]
        ]
        out.append("")
    return "\n".join(out)


def _hand_written_section(versions: dict[str, Any]) -> list[str]:
    rows = [
        [
            version,
            _fmt(r["fwd_trace_s"], ".2f"),
            _fmt(r["fwd_compile_s"], ".2f"),
            _fmt(r["grad_trace_s"], ".2f"),
            _fmt(r["grad_compile_s"], ".2f"),
            _fmt(r["fwd_ms"]),
            _fmt(r["grad_ms"]),
            f"{r['max_abs_diff']:.1e}",
        ]
        for version, r in versions.items()
    ]
    header = [
        "version",
        "fwd trace (s)",
        "fwd compile (s)",
        "grad trace (s)",
        "grad compile (s)",
        "jit fwd (ms)",
        "jit value_and_grad (ms)",
        "max abs diff vs PyTorch",
    ]
    return [
        "### ResNet-18 1×224, converted vs written by hand in JAX",
        "",
        "The same weights and `torch2jax.compiler_options()`, both steady states in the same "
        "rounds. The hand-written network (`resnet18_jax` in benchmarks/graphs.py) is what a JAX "
        "user would write: `lax.conv` in PyTorch's NCHW layout, batch norm folded into a scale "
        "and shift. Its compile time is what XLA:CPU takes for this model without torch2jax.",
        "",
        _markdown_table(header, rows),
        "",
    ]


_GRAPH_KEYS = ["jaxpr_eqns", "jaxpr_transposes", "stablehlo_ops", "hlo_kernels", "hlo_transposes"]
_GRAPH_HEADER = [
    "jaxpr eqns",
    "jaxpr transposes",
    "StableHLO ops",
    "optimized HLO kernels",
    "HLO transposes",
]

_PREAMBLE = """# Benchmarks

Written by `make bench` (`benchmarks/run.py`); each device's section is replaced by the next run on
that device, other sections are kept. Method: models with random weights in eval mode; every
steady-state figure is the median of interleaved rounds (one call of each contender per round,
after warm-up, `block_until_ready` / `cuda.synchronize`), so drifts in machine load hit all
contenders alike. Forward+backward is the gradient of `mean(output²)` with respect to every
parameter: `loss.backward()` in PyTorch, `jax.jit(jax.value_and_grad(...))` for the converted
model. Trace time is `jax.jit(f).lower(...)`, compile time is `.compile()`.
"""


def write_markdown(path: str, device: str, section: str) -> None:
    """Replace this device's section of ``path`` (kept between markers), keep the others."""
    begin, end = f"<!-- device:{device} -->", f"<!-- /device:{device} -->"
    block = f"{begin}\n{section}\n{end}"
    existing = ""
    if os.path.exists(path):
        with open(path) as f:
            existing = f.read()
    if begin in existing and end in existing:
        pattern = re.escape(begin) + r".*?" + re.escape(end)
        text = re.sub(pattern, lambda _: block, existing, flags=re.DOTALL)
    else:
        text = (existing.rstrip() + "\n\n" if existing else _PREAMBLE + "\n") + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def chart(path: str, device: str, results: list[dict[str, Any]]) -> str:
    groups = [r["label"] for r in results]
    series = {
        "t2j jit fwd": [ratio(r, "t2j_jit_fwd", "torch_eager_fwd") for r in results],
        "t2j jit fwd+bwd": [
            ratio(r, "t2j_jit_value_and_grad", "torch_eager_fwdbwd") for r in results
        ],
        "torch.compile fwd": [ratio(r, "torch_compile_fwd", "torch_eager_fwd") for r in results],
        "torch.compile fwd+bwd": [
            ratio(r, "torch_compile_fwdbwd", "torch_eager_fwdbwd") for r in results
        ],
    }
    series = {k: v for k, v in series.items() if any(x is not None for x in v)}
    title = f"{device.upper()}: time / PyTorch eager (lower is faster)"
    return bar_chart(path, title, groups, series)

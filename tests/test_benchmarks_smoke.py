"""`make bench` end to end on a tiny model: the harness runs and writes its report and chart.

No timing assertions: the numbers depend on the machine; only that each one is produced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quick_benchmark_run_writes_report_and_chart(tmp_path):
    output = tmp_path / "benchmarks.md"
    raw = tmp_path / "results.json"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    completed = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "run.py"),
            "--quick",
            "--models",
            "tiny",
            "--device",
            "cpu",
            "--output",
            str(output),
            "--json",
            str(raw),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "tiny conv+attention" in completed.stdout
    report = output.read_text()
    assert "<!-- device:cpu -->" in report and "Steady state" in report
    chart = tmp_path / "benchmarks_cpu.png"
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    results = json.loads(raw.read_text())
    (tiny,) = results["results"]
    for key in ("torch_eager_fwd", "t2j_jit_fwd", "torch_eager_fwdbwd", "t2j_jit_value_and_grad"):
        assert tiny["ms"][key] > 0
        if tiny["compiler_options"] and key.startswith("t2j"):
            assert tiny["ms"][f"{key}_xla_defaults"] > 0  # the same with plain jax.jit
    assert tiny["max_abs_diff"] < 1e-4
    assert tiny["trace"]["aten_ops"] > 0
    assert tiny["graph"]["jaxpr_eqns"] > 0
    assert results["state_dict"]["size_mb"] > 0


def test_markdown_keeps_other_devices_sections(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from report import write_markdown
    finally:
        sys.path.pop(0)
    path = str(tmp_path / "b.md")
    write_markdown(path, "cpu", "first cpu")
    write_markdown(path, "cuda", "gpu table")
    write_markdown(path, "cpu", "second cpu")
    text = open(path).read()
    assert "second cpu" in text and "gpu table" in text and "first cpu" not in text
    assert text.count("<!-- device:cpu -->") == 1


def _benchmarks_module(name):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def test_hand_written_resnet18_matches_pytorch():
    """The hand-written JAX reference of `make bench` is torchvision's ResNet-18, number for
    number (eval mode, batch norm statistics that are not the identity)."""
    import jax
    import numpy as np
    import torch
    import torchvision

    from torch2jax import t2j

    resnet18_jax = _benchmarks_module("graphs").resnet18_jax
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(image).numpy()
    actual = np.asarray(jax.jit(resnet18_jax)(t2j(model.state_dict()), t2j(image)))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_hand_written_resnet18_benchmark_reports_both_versions():
    results = _benchmarks_module("measure").bench_hand_written_resnet18(repeats=1)
    assert set(results) == {"t2j", "hand-written JAX"}
    for result in results.values():
        for key in ("fwd_trace_s", "fwd_compile_s", "grad_trace_s", "grad_compile_s"):
            assert result[key] > 0
        assert result["fwd_ms"] > 0 and result["grad_ms"] > 0
        assert result["max_abs_diff"] < 1e-4
    section = "\n".join(_benchmarks_module("report")._hand_written_section(results))
    assert "| hand-written JAX |" in section and "| t2j |" in section

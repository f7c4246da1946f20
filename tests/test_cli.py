"""`torch2jax check`: run in-process through main(argv); one subprocess smoke test."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from torch2jax import registry
from torch2jax.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--quiet", "--repeat", "1"]


def check(capsys, *argv: str) -> tuple[int, str]:
    status = main(["check", *argv, *FAST])
    return status, capsys.readouterr().out


def check_json(capsys, *argv: str) -> tuple[int, dict]:
    status, out = check(capsys, *argv, "--json")
    return status, json.loads(out)


def test_builtin_example_passes_with_a_readable_report(capsys):
    status, out = check(capsys)
    assert status == 0, out
    assert "torch2jax check torch2jax.cli:example" in out
    assert "aten.convolution.default" in out
    assert "torch.nn.functional.scaled_dot_product_attention" in out and "override" in out
    assert "outputs: max abs error" in out and "OK" in out
    assert "time per call: PyTorch eager" in out
    assert out.rstrip().endswith("result: OK, the model runs in JAX and matches PyTorch")


def test_json_report_with_gradients(capsys):
    status, report = check_json(capsys, "tests.cli_targets:tiny_mlp", "--input", "3,8", "--grad")
    assert status == 0, report
    assert report["ok"] and report["supported"] and report["missing"] == []
    ops = {op["name"]: op for op in report["ops"]}
    assert ops["aten.gelu.default"]["how"] == "lowering"
    linear = ops["torch.nn.functional.linear"]  # lowered whole, not as t + addmm
    assert linear["how"] == "override" and linear["count"] == 2
    assert report["outputs"]["ok"] and report["outputs"]["max_abs_error"] < 1e-5
    assert report["gradients"]["compared"] == 5  # 4 parameters and the input
    assert report["gradients"]["ok"] and report["gradients"]["max_abs_error"] < 1e-5
    assert set(report["timing"]) == {"jax_first_call_s", "pytorch_eager_s", "jax_jit_s"}
    assert report["devices"] == {"pytorch": "cpu", "jax": "cpu"}


def test_every_unsupported_op_is_listed_at_once(capsys):
    status, report = check_json(capsys, "tests.cli_targets:UsesTwoMissingOps", "--input", "2,8")
    assert status == 1
    assert not report["ok"] and not report["supported"]
    assert report["missing"] == ["t2jcli.first_missing.default", "t2jcli.second_missing.default"]
    first = next(op for op in report["ops"] if op["how"] == "missing")
    assert first["source_line"].endswith("cli_targets.py:50")
    assert report["outputs"] is None  # nothing to compare


def test_unsupported_report_text_shows_a_lowering_snippet(capsys):
    status, out = check(capsys, "tests.cli_targets:UsesTwoMissingOps", "--input", "2,8")
    assert status == 1
    assert "2 missing" in out
    assert "MISSING t2jcli.first_missing.default" in out
    assert "@implements(torch.ops.t2jcli.first_missing.default)" in out
    assert "result: UNSUPPORTED" in out


def test_results_that_differ_fail(capsys, monkeypatch):
    def wrong_gelu(x, approximate="none"):
        return x  # a broken lowering: the check must notice

    monkeypatch.setitem(registry.aten_lowerings, torch.ops.aten.gelu, wrong_gelu)
    status, out = check(capsys, "tests.cli_targets:tiny_mlp", "--input", "3,8")
    assert status == 1
    assert "DIFFERS" in out and "result: DIFFERS from PyTorch" in out


def test_jit_only_failures_are_reported_with_their_message(capsys):
    status, report = check_json(capsys, "tests.cli_targets:reads_item", "--input", "4")
    assert status == 1 and report["supported"]
    assert "ConcretizationError" in report["errors"][0]
    assert "tensor.item()" in report["errors"][0]
    status, report = check_json(capsys, "tests.cli_targets:reads_item", "--input", "4", "--no-jit")
    assert status == 0 and report["jit"] is False and "jax_eager_s" in report["timing"]


def test_training_mode_with_dropout_compares_shapes_only(capsys):
    target = "tests.cli_targets:AttentionWithDropout"
    status, report = check_json(capsys, target, "--input", "2,5,8", "--train", "--grad")
    assert status == 0, report
    assert report["mode"] == "train" and report["random"]
    assert "random key" in report["outputs"]["note"]
    assert "random key" in report["gradients"]["note"]
    status, report = check_json(capsys, target, "--input", "2,5,8")  # eval: no dropout
    assert status == 0 and not report["random"] and report["outputs"]["max_abs_error"] < 1e-5


def test_file_target_and_example_inputs_from_the_builder(capsys, tmp_path):
    model_file = tmp_path / "my_model.py"
    model_file.write_text(
        "from tests.cli_targets import with_example_inputs as build\n"
        "def not_a_builder(x):\n"
        "    return x.cumsum(0) * 2\n"
    )
    status, report = check_json(capsys, f"{model_file}:build")
    assert status == 0, report
    assert report["inputs"] == ["float32[3,8]", "scale=2.0"]
    status, report = check_json(capsys, f"{model_file}:not_a_builder", "--input", "5,2:int64:9")
    assert status == 0, report
    assert report["inputs"] == ["int64[5,2]"]


def test_inputs_from_a_callable(capsys):
    status, report = check_json(
        capsys, "tests.cli_targets:tiny_mlp", "--inputs", "tests.cli_targets:keyword_inputs"
    )
    assert status == 0, report
    assert report["inputs"] == ["x=float32[5,8]", "scale=0.5"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["torchvision.models"], "should look like package.module:callable"),
        (["no_such_package_xyz:f"], "cannot import 'no_such_package_xyz'"),
        (["tests.cli_targets:nope"], "has no attribute 'nope'"),
        (["torch.nn:Linear"], "calling Linear() to build the model failed"),
        (["tests.cli_targets:tiny_mlp"], "pass --input SHAPE[:DTYPE]"),
        (["tests.cli_targets:tiny_mlp", "--input", "3,x"], "integers separated by commas"),
        (["tests.cli_targets:tiny_mlp", "--input", "3,8:float7"], "unknown dtype"),
        (["tests.cli_targets:tiny_mlp", "--input", "3,5"], "PyTorch itself fails on these inputs"),
    ],
)
def test_usage_errors_say_what_to_write(capsys, argv, message):
    assert main(["check", *argv, *FAST]) == 2
    assert message in capsys.readouterr().err


def test_resnet18(capsys):
    status, out = check(capsys, "torchvision.models:resnet18", "--input", "1,3,64,64")
    assert status == 0, out
    assert "aten.max_pool2d_with_indices.default" in out
    assert "result: OK" in out


def test_console_entry_point_smoke():
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src") + os.pathsep + ROOT}
    result = subprocess.run(
        [sys.executable, "-m", "torch2jax", "check", "--repeat", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result: OK" in result.stdout
    assert "Compiling with jax.jit: done" in result.stderr  # progress goes to stderr


def test_integer_buffers_outside_the_state_dict(capsys):
    # Converted inside one trace (jit), reused in the next (jit of grad): an int64 buffer narrowed
    # to int32 with x64 off must be a concrete array, not a tracer of the first trace.
    target = "tests.cli_targets:WithIntegerBuffer"
    status, report = check_json(capsys, target, "--input", "4,3", "--grad")
    assert status == 0, report["errors"]


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "check" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["check", "--help"])
    assert info.value.code == 0
    assert "--input SHAPE[:DTYPE[:HIGH]]" in capsys.readouterr().out

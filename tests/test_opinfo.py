"""PyTorch's OpInfo database through t2j: eager, under jax.jit, gradients, x64 on and off.

The default run takes one sample of every entry (its first dtype among float32, int64, bool);
``T2J_FULL=1`` (``make test-full``) runs every dtype, up to 8 samples of each
(``T2J_OPINFO_SAMPLES``), and rewrites the full run's section of ``docs/coverage.md``. How each
sample is checked: ``tests/opinfo_sweep.py``.

Known failures are listed in ``tests/opinfo_expected_failures.py`` with their first error and are
strict xfails: an entry that starts passing must leave the list.
"""

from __future__ import annotations

import os
import time

import jax
import pytest
import torch

from tests import opinfo_sweep as sweep
from tests.conftest import x64_set
from tests.opinfo_expected_failures import EXPECTED_FAILURES, EXPECTED_FAILURES_FULL
from torch2jax import t2j
from torch2jax.errors import DataDependentShapeError

FULL = bool(os.environ.get("T2J_FULL"))

_OPS = {op.full_name: op for op in sweep.entries() if sweep.tested(op)}
_results: dict[str, sweep.EntryResult] = {}
_start = time.perf_counter()


def _result(name: str) -> sweep.EntryResult:
    if name not in _results:
        _results[name] = sweep.run_entry(_OPS[name], FULL, timeout=sweep.entry_timeout(FULL))
    return _results[name]


def _expected_failure(name: str, mode: str) -> str | None:
    reason = EXPECTED_FAILURES.get(name, {}).get(mode)
    if reason is None and FULL:
        reason = EXPECTED_FAILURES_FULL.get(name, {}).get(mode)
    return reason


def _params() -> list:
    params = []
    for name in _OPS:
        for mode in sweep.MODES:
            marks = [pytest.mark.full] if FULL else []
            reason = _expected_failure(name, mode)
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(name, mode, marks=marks, id=f"{name}-{mode}"))
    return params


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    results = [_results[name] for name in _OPS if name in _results]
    if len(results) < len(_OPS):
        return  # a partial run (-k, a failure under -x): its counts would mislead
    print("\n" + sweep.summary_text(results))
    if FULL:
        sweep.write_report(results, True, time.perf_counter() - _start, sweep.REPORT_PATH)


@pytest.mark.parametrize(("name", "mode"), _params())
def test_opinfo(name: str, mode: str) -> None:
    result = _result(name)
    status = result.get(mode)
    if status == "n/a":
        pytest.skip(f"{mode} does not apply to {name} (dtype or autograd support)")
    assert status == "pass", result.message.get(mode)


def test_skip_list_names_real_entries():
    names = {op.full_name for op in sweep.entries()}
    assert set(sweep.SKIPPED) <= names
    assert set(EXPECTED_FAILURES) <= set(_OPS) and set(EXPECTED_FAILURES_FULL) <= set(_OPS)


@pytest.mark.parametrize(
    "fn",
    [
        torch.nonzero,
        torch.argwhere,
        lambda x: torch.masked_select(x, x > 0),
        torch.unique,
        torch.unique_consecutive,
        lambda x: x[x > 0],
        lambda x: torch.repeat_interleave(x.long().abs()),
    ],
    ids=[
        "nonzero",
        "argwhere",
        "masked_select",
        "unique",
        "unique_consecutive",
        "bool_index",
        "repeat_interleave",
    ],
)
def test_data_dependent_shapes_work_eagerly_and_raise_under_jit(fn):
    x = torch.tensor([1.0, -2.0, 0.0, 3.0, 3.0])
    expected = fn(x)
    with x64_set(True):
        actual = t2j(fn)(t2j(x))
        torch.testing.assert_close(torch.from_numpy(jax.device_get(actual).copy()), expected)
        with pytest.raises(DataDependentShapeError, match="depends on the input's values"):
            jax.jit(t2j(fn))(t2j(x))

"""Model zoo: torchvision, HuggingFace transformers and timm models, unchanged, against PyTorch.

Each model runs four checks (see tests/model_zoo.py): eager forward, jitted forward, the gradient
of a scalar loss with respect to every parameter, and training mode (outputs and updated buffers).
`make test` runs a representative subset; ``T2J_FULL=1`` (`make test-full`) runs every model and
rewrites docs/models.md (``T2J_MODELS_DOC=1`` rewrites it from whatever subset runs).
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np
import pytest
import torch

from tests.model_cases import all_cases, train_applies
from tests.model_zoo import CHECKS, Built, Case, run_check, save_results, tolerance

FULL = os.environ.get("T2J_FULL") == "1"
WRITE_DOC = FULL or os.environ.get("T2J_MODELS_DOC") == "1"
# T2J_MODELS=name,name runs just those models (any of the zoo), for working on them.
ONLY = set(filter(None, os.environ.get("T2J_MODELS", "").split(",")))


@functools.lru_cache(maxsize=1)
def _built(name: str) -> Built:
    case = next(c for c in all_cases() if c.name == name)
    return case.build()


def _params():
    params = []
    for case in all_cases():
        if ONLY and case.name not in ONLY:
            continue
        if not (ONLY or FULL or case.default):
            continue
        for check in CHECKS:
            if check not in case.checks:
                continue
            marks = [] if case.default else [pytest.mark.full]
            if check in case.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=case.xfail[check]))
            params.append(pytest.param(case, check, marks=marks, id=f"{case.name}-{check}"))
    return params


def _record(case: Case, check: str, **entry) -> None:
    if WRITE_DOC:
        save_results({case.name: {"checks": {check: entry}}})


def _short(error: BaseException) -> str:
    return (
        f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
        if str(error)
        else type(error).__name__
    )


@pytest.mark.slow
@pytest.mark.parametrize("case, check", _params())
def test_model(case: Case, check: str):
    built = _built(case.name)
    if check == "train" and not train_applies(case, built):
        _record(case, check, status="n/a")
        return
    if check == "jit" and case.jit_raises is not None:
        with pytest.raises(case.jit_raises):
            run_check(case, built, check)
        _record(case, check, status="raises", detail=case.jit_raises.__name__)
        return
    try:
        error, seconds = run_check(case, built, check)
    except Exception as exc:
        status = "xfail" if check in case.xfail else "fail"
        _record(case, check, status=status, detail=case.xfail.get(check) or _short(exc))
        raise
    limit = tolerance(case, check)
    status = "pass" if error <= limit else ("xfail" if check in case.xfail else "fail")
    _record(case, check, status=status, error=error, seconds=seconds, detail=f"{error:.1e}")
    assert error <= limit, f"{case.name} {check}: relative error {error:.2e} > {limit:g}"


def test_dropout_in_training_mode_is_random_and_keyed():
    """Dropout in training mode draws from `rng=`: same key same result, other key other result,
    the kept fraction and rescaling match p (statistically)."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Dropout(0.25)).train()
    from torch2jax import t2j

    converted = jax.jit(lambda x, key: t2j(module)(x, rng=key))
    x = t2j(torch.randn(32, 64))
    a = np.asarray(converted(x, jax.random.key(0)))
    b = np.asarray(converted(x, jax.random.key(0)))
    c = np.asarray(converted(x, jax.random.key(1)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with torch.no_grad():
        clean = module[0](torch.from_numpy(np.asarray(x))).numpy()
    kept = a != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(a[kept], clean[kept] / 0.75, rtol=1e-5, atol=1e-6)

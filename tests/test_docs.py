"""Every ```python block in README.md and docs/*.md runs, as written.

How the runner treats a Markdown file (for everyone writing docs):

- The ```python blocks of one file run in order in one fresh Python process, sharing one
  namespace like notebook cells, so a later block may use names an earlier one defined. Each file
  gets its own process, so a file can set environment variables before importing JAX (say
  ``os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"`` for sharding) or flip
  ``jax_enable_x64`` without affecting other files.
- The process starts in a temporary directory (files an example writes go there), with the
  repository's ``src`` and root on ``PYTHONPATH`` and JAX on CPU.
- Tracebacks point at the Markdown file and its line numbers.
- A block whose first line starts with ``>>>`` is an interactive session: it runs as a doctest
  (in the same namespace), and the outputs written after each ``>>>`` line must match
  (``...`` matches anything, whitespace is normalized). Other blocks are plain scripts.
- A block preceded by a line ``<!-- no-test -->`` (blank lines between are allowed) is skipped. Use it
  only for blocks that need large downloads (pretrained weights, data sets); keep other examples
  small enough to run in seconds instead. Blocks in other languages (```bash, ```text) never run.
- Run one file: ``python tests/test_docs.py docs/guide.md``.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_TEST = "<!-- no-test -->"
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(first line number, code)`` of each ```python block of ``path`` that should run."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language = opening.groups()
        end = index + 1
        while end < len(lines) and not _FENCE.match(lines[end]):
            end += 1
        previous = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
        if language == "python" and previous != NO_TEST:
            code = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
            blocks.append((index + 2, code))
        index = end + 1
    return blocks


def run_doctest(code: str, namespace: dict, path: Path, first_line: int) -> None:
    """A block written as an interactive session (``>>>`` prompts): outputs are checked."""
    test = doctest.DocTestParser().get_doctest(
        code, namespace, str(path), str(path), first_line - 1
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, clear_globs=False)
    if runner.failures:
        raise AssertionError(f"{path}:{first_line}: {runner.failures} doctest example(s) failed")


def run_file(path: Path) -> None:
    """Run the blocks of ``path`` in this process, one shared namespace, lines as in the file."""
    namespace: dict = {"__name__": "__main__"}
    for first_line, code in python_blocks(path):
        if code.lstrip().startswith(">>>"):
            run_doctest(code, namespace, path, first_line)
            continue
        padded = "\n" * (first_line - 1) + code  # so tracebacks show the Markdown line numbers
        exec(compile(padded, str(path), "exec"), namespace)


def documentation_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", documentation_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_documentation_examples_run(path, tmp_path):
    if not python_blocks(path):
        pytest.skip("no python blocks")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "JAX_PLATFORMS": "cpu",
    }
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{path}:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"


def test_no_test_marker_skips_only_the_next_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 1\n```\n<!-- no-test -->\n\n```python\nraise SystemExit(1)\n```\n"
        "```bash\nexit 1\n```\n  ```python\n  y = x + 1\n  ```\n"
    )
    assert python_blocks(page) == [(2, "x = 1"), (13, "y = x + 1")]
    run_file(page)


def test_interactive_blocks_run_as_doctests(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 2\n```\n\n```python\n>>> x * 21\n42\n>>> [x] * 2\n[2, ...]\n```\n"
    )
    run_file(page)
    page.write_text("```python\n>>> 1 + 1\n3\n```\n")
    with pytest.raises(AssertionError, match="1 doctest example"):
        run_file(page)


if __name__ == "__main__":
    run_file(Path(sys.argv[1]).resolve())

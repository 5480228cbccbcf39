"""ruff and mypy are part of the suite, so a lint or type error fails CI like a broken test."""

from __future__ import annotations

import subprocess
import sys

from tests.fixtures.paths import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_packages() -> None:
    result = _run("mypy")  # packages listed in pyproject's [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr

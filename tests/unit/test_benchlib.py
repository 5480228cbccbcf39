"""scripts/benchlib.record: a run replaces its area's current table and is appended to the history."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.fixtures.paths import REPO


def _benchlib() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchlib", REPO / "scripts" / "benchlib.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


benchlib = _benchlib()
TABLE = "| workload | method | pairs/s | × naive |\n|---|---|---|---|\n| text | pipeline | 99.0 | 9.99 |"


def _blocks(text: str) -> dict[str, str]:
    pattern = r"<!-- current:([a-z0-9-]+) -->\n(.*?)<!-- /current:\1 -->"
    return {m.group(1): m.group(2) for m in re.finditer(pattern, text, re.S)}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The repository's BENCHMARKS.md and its history, copied into tmp_path."""
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "BENCHMARKS.md", tmp_path / "BENCHMARKS.md")
    shutil.copy(REPO / "docs" / "benchmarks-history.md", tmp_path / "docs" / "benchmarks-history.md")
    return tmp_path / "BENCHMARKS.md"


def _record(path: Path, area: str = "reranker", title: str = "Reranker") -> None:
    benchlib.record(
        area, title, "a test run; × naive against the naive baseline of the same run.", TABLE,
        command=".venv/bin/python scripts/bench_reranker.py --no-such-flag", where="Test CPU, 1 cores",
        when=dt.date(2030, 1, 2), benchmarks=path,
    )  # fmt: skip


def test_record_replaces_only_its_area_and_appends_history(copy: Path) -> None:
    history = copy.parent / "docs" / "benchmarks-history.md"
    before, old_history = copy.read_text(encoding="utf-8"), history.read_text(encoding="utf-8")
    assert {"first-stage", "search-api", "indexing", "reranker", "embedder"} <= set(_blocks(before))

    _record(copy)

    after = copy.read_text(encoding="utf-8")
    old, new = _blocks(before), _blocks(after)
    current = new.pop("reranker")
    assert TABLE in current and "Measured 2030-01-02 on Test CPU, 1 cores" in current
    assert "| images | pipeline warm-prefix |" not in current  # the old rows are gone
    old.pop("reranker")
    assert new == old  # every other area untouched
    assert after.split("\n<!-- current:")[0] == before.split("\n<!-- current:")[0]  # the header stays
    assert after.count("<!-- current:reranker -->") == 1

    appended = history.read_text(encoding="utf-8")
    assert appended.startswith(old_history)
    added = appended[len(old_history) :]
    assert added.lstrip("\n").startswith("## Reranker — 2030-01-02 — Test CPU, 1 cores\n")
    assert "`.venv/bin/python scripts/bench_reranker.py --no-such-flag`: a test run" in added
    assert added.rstrip("\n").endswith(TABLE)


def test_a_new_area_is_added_and_files_are_created(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    _record(path, "new-area", "New area")
    _record(path, "new-area", "New area")  # a second run replaces, does not repeat
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks") and text.count("<!-- current:new-area -->") == 1
    assert (tmp_path / "docs" / "benchmarks-history.md").read_text(encoding="utf-8").count("## New area") == 2


def test_broken_markers_write_nothing(copy: Path) -> None:
    history = copy.parent / "docs" / "benchmarks-history.md"
    broken = copy.read_text(encoding="utf-8").replace("<!-- /current:reranker -->", "", 1)
    copy.write_text(broken, encoding="utf-8")
    old_history = history.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="reranker"):
        _record(copy)
    assert copy.read_text(encoding="utf-8") == broken
    assert history.read_text(encoding="utf-8") == old_history


def test_the_environment_points_at_a_scratch_copy(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(benchlib.BENCHMARKS_ENV, str(copy))
    benchlib.record("reranker", "Reranker", "notes", TABLE, command="cmd", where="here")
    assert TABLE in _blocks(copy.read_text(encoding="utf-8"))["reranker"]

"""The killable worker pool: a task past its deadline is failed and its worker replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from indexer.page_content import PageContent, PdfProbe
from indexer.workers import Task, TaskResult, WorkerPool, WorkerSettings


def _drain(pool: WorkerPool) -> list[TaskResult]:
    results: list[TaskResult] = []
    while pool.busy:
        results.extend(pool.poll(0.1))
    return results


def test_results_errors_and_timeouts(shared_pdfs: Path) -> None:
    with WorkerPool(1, WorkerSettings()) as pool:
        pool.submit(Task(1, "probe", str(shared_pdfs / "pdflatex-4-pages.pdf")))
        [probe] = _drain(pool)
        assert isinstance(probe.value, PdfProbe) and probe.value.page_count == 4

        pool.submit(Task(2, "page", str(shared_pdfs / "pdflatex-4-pages.pdf"), 9))  # no page 10
        [bad] = _drain(pool)
        assert bad.value is None and bad.error and not bad.unreadable

        pool.submit(Task(3, "probe", str(shared_pdfs / "libreoffice-writer-password.pdf")))
        [enc] = _drain(pool)
        assert enc.error == "encrypted (password required)" and enc.unreadable  # the file's fault: remembered

        # A worker that stops answering (paused before the task reaches it, as a page stuck inside
        # MuPDF would) is failed at its deadline, not before, then killed and replaced.
        [pid] = pool.pids
        os.kill(pid, signal.SIGSTOP)
        pool.task_timeout = 0.5
        submitted = time.monotonic()
        pool.submit(Task(4, "page", str(shared_pdfs / "GeoTopo-komprimiert.pdf"), 0))
        [slow] = _drain(pool)
        assert slow.task.task_id == 4 and slow.value is None
        assert slow.error is not None and slow.error.startswith("timed out") and not slow.unreadable
        assert time.monotonic() - submitted >= pool.task_timeout
        assert pool.restarts == 1 and pool.pids != [pid]

        pool.task_timeout = 60
        pool.submit(Task(5, "page", str(shared_pdfs / "GeoTopo-komprimiert.pdf"), 0))
        [ok] = _drain(pool)
        assert isinstance(ok.value, PageContent) and ok.value.page_number == 1


def test_a_task_queued_behind_a_stuck_one_moves_to_the_fresh_worker(shared_pdfs: Path) -> None:
    """Each worker holds two tasks (the next waits in its pipe). When the running one hangs, only
    it fails: the one behind it is handed to the replacement and answered there."""
    with WorkerPool(1, WorkerSettings(), task_timeout=0.5) as pool:
        pool.submit(Task(1, "probe", str(shared_pdfs / "pdflatex-4-pages.pdf")))
        [pid] = pool.pids
        os.kill(pid, signal.SIGSTOP)
        pool.submit(Task(2, "page", str(shared_pdfs / "pdflatex-4-pages.pdf"), 0))
        assert pool.busy == 2 and pool.idle == 0 and pool.pids == [pid]  # queued, no second worker
        results = {r.task.task_id: r for r in _drain(pool)}
        assert results[1].error is not None and results[1].error.startswith("timed out")
        assert results[2].error is None and isinstance(results[2].value, PageContent)
        assert pool.restarts == 1 and pool.pids != [pid]


def test_a_second_task_starts_a_second_worker_before_queueing(shared_pdfs: Path) -> None:
    with WorkerPool(2, WorkerSettings()) as pool:
        for n in range(4):
            pool.submit(Task(n, "page", str(shared_pdfs / "pdflatex-4-pages.pdf"), n))
        assert len(pool.pids) == 2 and pool.idle == 0
        pages = sorted(r.value.page_number for r in _drain(pool) if isinstance(r.value, PageContent))
        assert pages == [1, 2, 3, 4]


def test_the_indexing_process_leaves_pymupdf_and_pil_to_the_workers() -> None:
    # The parent only dispatches pages and unpickles results; importing PyMuPDF there would add
    # ~0.3 CPU-s to every run (the workers fork from a server that has it loaded already).
    code = (
        "import sys, indexer.cli, indexer.pipeline, indexer.report, indexer.summary\n"
        "print(sorted(m for m in ('pymupdf', 'PIL.Image') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

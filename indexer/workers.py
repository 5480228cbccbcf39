"""A pool of page workers that can be killed one by one: every task has a deadline, and a worker
that passes it (or crashes inside MuPDF) is replaced while the others carry on. The standard
process pools cannot cancel a running task, which is exactly what a hostile PDF needs."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Literal, Protocol

from indexer.ocr import OcrConfig
from indexer.render import MAX_PIXELS, ImageFormat


# Plain dataclasses, not pydantic models: the forkserver imports this module, and importing
# pydantic would slow every run's start-up. The values come from the validated IndexOptions.
@dataclass(frozen=True)
class WorkerSettings:
    ocr: OcrConfig | None = None
    max_pixels: int = MAX_PIXELS
    image_format: ImageFormat = "auto"
    memory_limit_mb: int = 3072  # per worker address space; a runaway file fails alone
    embedder: str | None = None  # embed each page in the worker (see IndexOptions.embed_in)
    embed_chars: int = 2000


@dataclass
class Task:
    task_id: int
    kind: Literal["probe", "page"]
    path: str
    index: int = 0  # 0-based page index for "page"
    title: str = ""  # the document title: what an empty page is embedded as


@dataclass
class TaskResult:
    task: Task
    value: Any = None  # PdfProbe or PageContent (indexer.page_content)
    error: str | None = None  # one-line reason when the task failed
    unreadable: bool = False  # the file itself cannot be opened: the same bytes fail the same way
    node: str = ""  # the Ray node that did the work (empty for the local workers)


class TaskRunner:
    """Runs tasks in one process, for the local workers and for Ray's (indexer.ray_pool): the last
    document stays open (pages of one file usually come in a row) and an embedder, once loaded,
    stays loaded. Every failure becomes a TaskResult with its one-line reason."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._embedder: Any = None
        self._doc: Any = None
        self._doc_key: object = None

    def run(self, task: Task, load: Callable[[], bytes] | None = None, key: object = None) -> TaskResult:
        """`load`, when given, returns the file's bytes (read by whoever holds them, not from
        task.path); `key` names those bytes for the open-document cache (default: the path)."""
        from indexer.pdf_pages import UnreadablePdf

        try:
            return TaskResult(task, self._value(task, load, task.path if key is None else key))
        except UnreadablePdf as exc:
            return TaskResult(task, error=str(exc), unreadable=True)
        except MemoryError:
            return TaskResult(task, error=f"out of memory (worker limit {self.settings.memory_limit_mb} MB)")
        except Exception as exc:
            msg = " ".join(str(exc).split())[:160]
            return TaskResult(task, error=f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__)

    def _value(self, task: Task, load: Callable[[], bytes] | None, key: object) -> Any:
        from indexer.pdf_pages import extract_page, open_pdf, probe_pdf

        settings = self.settings
        if task.kind == "probe":
            return probe_pdf(task.path, load() if load else None)
        if self._doc_key != key:
            if self._doc is not None:
                self._doc.close()
            self._doc, self._doc_key = None, None
            self._doc = open_pdf(task.path, load() if load else None)
            self._doc_key = key
        value = extract_page(self._doc, task.index, settings.ocr, settings.max_pixels, settings.image_format)
        if settings.embedder:
            if self._embedder is None:
                from docstore.embedders import get_embedder

                self._embedder = get_embedder(settings.embedder)
            text = (value.text or task.title)[: settings.embed_chars]
            value.embedding = self._embedder.encode([text])[0]
        return value


def prepare_process(settings: WorkerSettings, limit_memory: bool = True) -> None:
    """What a process that runs page tasks sets once. One thread per worker: Tesseract's or BLAS's
    own threads would fight the other workers for cores. The memory limit is for the local workers:
    a Ray worker maps the node's object store into its address space (Ray watches memory itself)."""
    for var in ("OMP_THREAD_LIMIT", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if limit_memory:
        _limit_memory(settings.memory_limit_mb)
    if settings.embedder:  # only an embedder brings numpy's BLAS (the forkserver preloads it then)
        _one_blas_thread()


def _worker_main(conn: Connection, settings: WorkerSettings) -> None:
    prepare_process(settings)
    runner = TaskRunner(settings)
    while True:
        try:
            task: Task | None = conn.recv()
        except (EOFError, OSError):  # the parent is gone (killed): leave quietly
            break
        if task is None:
            break
        conn.send(runner.run(task))


def _one_blas_thread() -> None:
    """The environment variables only bind a BLAS loaded after them; numpy is in already (the
    forkserver preloads it for a worker embedder), and a spinning OpenMP/OpenBLAS pool multiplies
    the embedder's CPU time several fold on shared cores. threadpoolctl (a base dependency) sets the
    loaded pools to one for the worker's lifetime."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _limit_memory(mb: int) -> None:
    if mb <= 0:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform


class PagePool(Protocol):
    """What the pipeline needs of a pool: WorkerPool here, indexer.ray_pool.RayPool on a cluster."""

    size: int  # tasks that run at once
    restarts: int

    @property
    def busy(self) -> int: ...

    @property
    def idle(self) -> int: ...

    def submit(self, task: Task) -> None: ...

    def poll(self, timeout: float) -> list[TaskResult]: ...

    def close(self) -> None: ...


# Tasks in flight per worker: the next one already waits in the worker's pipe when it finishes a
# page, so it never idles while this process is busy (an embedding batch, a bulk write). With one
# task each, workers sat idle between pages.
DEPTH = 2


@dataclass
class _Worker:
    proc: Any  # multiprocessing process
    conn: Connection
    tasks: deque[Task] = field(default_factory=deque)  # sent, not answered; the first is running
    started: float = 0.0  # when the running task began, as far as this process can tell


def _start_context(settings: WorkerSettings) -> Any:
    """Workers fork from a forkserver: one fresh interpreter imports PyMuPDF, PIL (and numpy for an
    embedder) once, and every worker, first or replacement, is a fork of it that starts in
    milliseconds instead of paying for interpreter start-up and imports each time. Not a plain fork of this
    process, which may hold threads (embedder, store). Spawn where there is no forkserver."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    preload = ["__main__", "indexer.pdf_pages", "PIL.JpegImagePlugin", "PIL.PngImagePlugin"]
    # Takes effect when the server starts (the first pool of this process); later pools share it.
    ctx.set_forkserver_preload(preload + (["docstore.embedders"] if settings.embedder else []))
    return ctx


class WorkerPool:
    def __init__(self, size: int, settings: WorkerSettings, task_timeout: float = 60.0) -> None:
        self._ctx = _start_context(settings)
        self._settings = settings
        self.task_timeout = task_timeout
        self.size = max(1, size)
        self._workers: list[_Worker] = []  # started on demand: a run with nothing to do spawns nothing
        self.restarts = 0

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self._settings), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc=proc, conn=parent)

    @property
    def pids(self) -> list[int]:
        """Process ids of the started workers (for monitoring, and for tests that pause one)."""
        return [int(w.proc.pid) for w in self._workers]

    @property
    def busy(self) -> int:
        """Tasks in flight."""
        return sum(len(w.tasks) for w in self._workers)

    @property
    def idle(self) -> int:
        """Tasks that can be submitted now."""
        return self.size * DEPTH - self.busy

    def submit(self, task: Task) -> None:
        if len(self._workers) < self.size and all(w.tasks for w in self._workers):
            worker = self._start()  # a fresh worker before a second task for a busy one
            self._workers.append(worker)
        else:
            worker = min(self._workers, key=lambda w: len(w.tasks))
            if len(worker.tasks) >= DEPTH:
                raise RuntimeError("every worker has its fill of tasks: poll first")
        if not worker.tasks:
            worker.started = time.monotonic()
        worker.tasks.append(task)
        worker.conn.send(task)

    def poll(self, timeout: float) -> list[TaskResult]:
        """Results that arrived within `timeout` s, plus failures for tasks past their deadline."""
        busy = [w for w in self._workers if w.tasks]
        if not busy:
            return []
        results: list[TaskResult] = []
        ready = wait([w.conn for w in busy], timeout)
        for w in busy:
            if w.conn in ready:
                try:
                    result: TaskResult = w.conn.recv()
                except (EOFError, OSError):  # died mid-task: a crash inside MuPDF or Tesseract
                    results.append(self._replace(w, f"worker crashed (exit code {w.proc.exitcode})"))
                    continue
                w.tasks.popleft()
                w.started = time.monotonic()  # the next one, if any, starts now
                results.append(result)
            elif time.monotonic() - w.started > self.task_timeout:
                results.append(self._replace(w, f"timed out after {self.task_timeout:g} s"))
        return results

    def _replace(self, w: _Worker, reason: str) -> TaskResult:
        """Kill the worker, fail its running task, and hand the tasks queued behind it to a fresh one."""
        failed = w.tasks.popleft()
        w.proc.kill()
        w.proc.join(5)
        w.conn.close()
        fresh = self._start()
        w.proc, w.conn = fresh.proc, fresh.conn
        for task in w.tasks:
            w.conn.send(task)
        w.started = time.monotonic()
        self.restarts += 1
        return TaskResult(failed, error=reason)

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        deadline = time.monotonic() + 2
        for w in self._workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(1)
            w.conn.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

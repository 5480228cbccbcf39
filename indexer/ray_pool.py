"""The page work on a Ray cluster, behind WorkerPool's interface (indexer.workers.PagePool), so the
pipeline around it (failure reasons, resumability, progress, store writes) is the one a local run
uses. Each Task is a Ray task that runs the local workers' TaskRunner on a cluster node:

- The driver reads each document once and puts its bytes in the object store (so the nodes need
  no shared file system, and a source the driver fetches from elsewhere works the same); the
  bytes are held while tasks of the document are in flight, and for a few documents after, so
  the pages that follow a probe find them there. Tasks in flight are bounded (two per cluster
  CPU), and so are the documents held: the driver's and the object store's memory stay flat
  whatever the corpus.
- Every page is its own task, scheduled on whichever node has a free CPU, so the pages of one
  large PDF spread over the cluster; a Ray worker keeps the document it last opened, as a local
  worker does, and opens it once for the pages it gets in a row.
- A task that dies with its worker or node (a crash, a killed raylet, a lost machine) is retried
  by Ray on another worker; a page that crashes its worker every time is reported as a crash. A
  page past its deadline is cancelled (its worker killed) and reported as timed out, as locally;
  the clock of a task starts when it can run (it is among the first `size` in flight), and starts
  over when a node leaves the cluster (its tasks are being retried elsewhere).

Ray is an optional extra (`pip install 'folio-search[ray]'`): only `folio index --ray` imports this.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import ray.exceptions

from indexer.workers import DEPTH, Task, TaskResult, TaskRunner, WorkerSettings, prepare_process

NODE_CHECK_S = 2.0  # how often the pool looks at the cluster's nodes and CPUs
MAX_RETRIES = 3  # Ray's retries of a task whose worker or node died


def read_file(path: str) -> bytes:
    return Path(path).read_bytes()


def connect(address: str) -> bool:
    """Join the cluster at `address` ("auto": the one this machine belongs to), unless this process
    already has (an application that set Ray up itself); True when this call joined."""
    if ray.is_initialized():
        return False
    host, _, port = address.rpartition(":")
    if host and port.isdigit():  # Ray itself waits minutes for a head that is not there
        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except OSError as exc:
            raise ConnectionError(f"nothing answers at {address} ({exc.strerror or exc})") from None
    # log_to_driver off: the tasks report through their results, and the workers' log lines would
    # garble the progress bar.
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    return True


_runner: TaskRunner | None = None  # one per Ray worker process, kept between tasks


def _run_task(task: Task, document: list[Any], settings: WorkerSettings) -> TaskResult:
    """The Ray task. `document` holds the ObjectRef of the file's bytes inside a list, so that Ray
    hands the reference over instead of the bytes: a worker that has the document open already
    does not fetch them again."""
    global _runner
    if _runner is None or _runner.settings != settings:
        prepare_process(settings, limit_memory=False)
        _runner = TaskRunner(settings)
    ref = document[0]
    result = _runner.run(task, load=lambda: ray.get(ref), key=ref.hex())
    result.node = ray.get_runtime_context().get_node_id()
    return result


@dataclass
class _Running:
    task: Task
    started: float | None = None  # when it could start running (None: queued behind others)


@dataclass
class _Held:
    ref: Any  # ObjectRef of the file's bytes
    tasks: int = 0  # in flight


class RayPool:
    """WorkerPool's interface on a Ray cluster (see the module's docstring)."""

    def __init__(
        self,
        address: str,
        settings: WorkerSettings,
        task_timeout: float = 60.0,
        read: Callable[[str], bytes] = read_file,
        max_documents: int = 8,
    ) -> None:
        self._joined = connect(address)
        self._settings = settings
        self.task_timeout = task_timeout
        self._read = read
        # SPREAD: Ray's default prefers the node holding a task's arguments, and every document's
        # bytes are put by the driver, so the pages would queue on the driver's node
        self._remote = ray.remote(_run_task).options(
            num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False, scheduling_strategy="SPREAD"
        )
        self._running: dict[Any, _Running] = {}  # ObjectRef of the result -> task, in submission order
        self._held: OrderedDict[str, _Held] = OrderedDict()  # least recently used first
        self._max_documents = max_documents
        self._failed: list[TaskResult] = []  # tasks whose file the driver could not read
        self.restarts = 0  # tasks cancelled at their deadline (their workers killed)
        self._nodes: set[str] = set()
        self._checked = 0.0
        self.size = 1
        self._check_nodes()

    @property
    def busy(self) -> int:
        return len(self._running) + len(self._failed)

    @property
    def idle(self) -> int:
        return self.size * DEPTH - self.busy

    def submit(self, task: Task) -> None:
        try:
            held = self._hold(task.path)
        except OSError as exc:
            self._failed.append(TaskResult(task, error=f"unreadable ({exc.strerror or exc})"))
            return
        ref = self._remote.remote(task, [held.ref], self._settings)
        held.tasks += 1
        self._running[ref] = _Running(task)

    def _hold(self, path: str) -> _Held:
        """The bytes of `path` in the object store: put there once, then reused while held."""
        held = self._held.get(path)
        if held is not None:
            self._held.move_to_end(path)
            return held
        held = self._held[path] = _Held(ray.put(self._read(path)))
        # Forget the least recently used documents without tasks in flight beyond the bound.
        idle = [p for p, h in self._held.items() if h.tasks == 0 and p != path]
        for old in idle[: max(0, len(self._held) - self._max_documents)]:
            del self._held[old]
        return held

    def _release(self, path: str) -> None:
        held = self._held.get(path)
        if held is not None:
            held.tasks -= 1

    def poll(self, timeout: float) -> list[TaskResult]:
        results, self._failed = self._failed, []
        if self._running:
            refs = list(self._running)
            ready, _ = ray.wait(refs, num_returns=1, timeout=0 if results else timeout)
            if ready:  # and whatever else is done by now
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            results += [self._collect(ref) for ref in ready]
        if time.monotonic() - self._checked >= NODE_CHECK_S:
            self._check_nodes()
        results += self._expire()
        return results

    def _collect(self, ref: Any) -> TaskResult:
        running = self._running.pop(ref)
        self._release(running.task.path)
        try:
            result: TaskResult = ray.get(ref)
        except ray.exceptions.RayError as exc:
            return TaskResult(running.task, error=_reason(exc))
        return result

    def _expire(self) -> list[TaskResult]:
        """Cancel the tasks past their deadline: Ray kills their workers, as the local pool does."""
        now, results = time.monotonic(), []
        for position, (ref, running) in enumerate(list(self._running.items())):
            if position >= self.size:
                break  # queued behind the running ones: their clocks have not started
            if running.started is None:
                running.started = now
            elif now - running.started > self.task_timeout:
                ray.cancel(ref, force=True)
                del self._running[ref]
                self._release(running.task.path)
                self.restarts += 1
                results.append(TaskResult(running.task, error=f"timed out after {self.task_timeout:g} s"))
        return results

    def _check_nodes(self) -> None:
        """Follow the cluster: its CPUs (nodes join and leave) and lost nodes, whose tasks Ray
        retries elsewhere, so the deadlines start over."""
        self._checked = time.monotonic()
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        if self._nodes - alive:
            for running in self._running.values():
                running.started = None
        self._nodes = alive
        self.size = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def close(self) -> None:
        for ref in self._running:
            ray.cancel(ref, force=True)
        self._running.clear()
        self._held.clear()
        if self._joined:  # leave the cluster: the job's workers go, and so do Ray's threads here
            ray.shutdown()

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    """A failure's one-line reason, worded as the local pool's where they match."""
    if isinstance(exc, ray.exceptions.OutOfMemoryError):
        return "out of memory (Ray's memory monitor killed the worker)"
    if isinstance(exc, ray.exceptions.WorkerCrashedError | ray.exceptions.NodeDiedError):
        return f"worker crashed (and its {MAX_RETRIES} retries)"
    if isinstance(exc, ray.exceptions.ObjectLostError):
        return "its result was lost with a Ray node"
    msg = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {msg}"

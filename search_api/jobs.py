"""Background indexing of uploaded files: a fixed pool of workers and a bounded number of
pending jobs (a full queue refuses new uploads with 429 rather than growing without limit)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from search_api.auth import Caller
from search_api.metrics import Metrics
from search_api.models import JobFile, JobStatus

log = logging.getLogger(__name__)

# (path, collection, acl groups, uploader) -> the file's outcome (the name it is stored under,
# state indexed/skipped/failed, pages, error)
IndexFn = Callable[[Path, str, list[str], Caller], JobFile]

_KEEP_FINISHED = 1000  # finished jobs remembered for status queries


class QueueFull(RuntimeError):
    pass


class JobManager:
    def __init__(self, index_fn: IndexFn, workers: int, max_pending: int, metrics: Metrics) -> None:
        self._index_fn = index_fn
        self._max_pending = max_pending
        self._metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="index-job")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, JobStatus] = OrderedDict()
        self._pending = 0

    def reserve(self) -> None:
        """Claim a queue slot before accepting an upload's bytes (raises QueueFull)."""
        with self._lock:
            if self._pending >= self._max_pending:
                raise QueueFull(f"{self._pending} indexing jobs are already waiting")
            self._pending += 1
            self._metrics.jobs_queued.set(self._pending)

    def release(self) -> None:
        """Give back a reserved slot when the upload was refused."""
        with self._lock:
            self._pending -= 1
            self._metrics.jobs_queued.set(self._pending)

    def submit(
        self, files: list[tuple[str, Path]], collection: str, acl: list[str], caller: Caller
    ) -> JobStatus:
        """Queue a job over already-saved files; the caller has reserved a slot."""
        job = JobStatus(job_id=uuid.uuid4().hex, files=[JobFile(name=name) for name, _ in files])
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > _KEEP_FINISHED:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state in ("queued", "running"):
                    break
                del self._jobs[oldest]
        self._pool.submit(self._run, job, [p for _, p in files], collection, acl, caller)
        return job.model_copy(deep=True)

    def get(self, job_id: str) -> JobStatus | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.model_copy(deep=True) if job is not None else None

    def _run(
        self, job: JobStatus, paths: list[Path], collection: str, acl: list[str], caller: Caller
    ) -> None:
        try:
            with self._lock:
                job.state = "running"
            for entry, path in zip(job.files, paths, strict=True):
                with self._lock:
                    entry.state = "running"
                try:
                    result = self._index_fn(path, collection, acl, caller)
                except Exception as exc:  # one bad file must not stop the others
                    log.exception("indexing %s failed", path)
                    result = JobFile(name=entry.name, state="failed", error=f"{type(exc).__name__}: {exc}")
                with self._lock:
                    entry.name, entry.state = result.name, result.state
                    entry.pages, entry.error = result.pages, result.error
            with self._lock:
                failed = all(f.state == "failed" for f in job.files)
                job.state = "failed" if failed else "done"
        except Exception as exc:
            log.exception("indexing job %s crashed", job.job_id)
            with self._lock:
                job.state = "failed"
                for f in job.files:
                    if f.state in ("queued", "running"):
                        f.state, f.error = "failed", str(exc)
        finally:
            self.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

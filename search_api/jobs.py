"""Background indexing of uploaded files: a fixed pool of workers and a bounded number of
pending jobs (a full queue refuses new uploads with 429 rather than growing without limit).
Each job's status is written to its `JobRecords` as it progresses: the store's shared state
(`search_api.jobs_in_store.StoreJobs`), so every server on the store answers for it."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from search_api.auth import Caller
from search_api.metrics import Metrics
from search_api.models import JobFile, JobStatus

log = logging.getLogger(__name__)

# (path, collection, acl groups, uploader) -> the file's outcome (the name it is stored under,
# state indexed/skipped/failed, pages, error)
IndexFn = Callable[[Path, str, list[str], Caller], JobFile]

UNFINISHED = ("queued", "running")


class QueueFull(RuntimeError):
    pass


class JobRecords(Protocol):
    def save(self, job: JobStatus) -> None:
        """Record the job as it is now (the caller keeps changing its own copy)."""
        ...

    def get(self, job_id: str) -> JobStatus | None: ...

    def close(self) -> None:
        """This process stops: what it had not finished is recorded as failed where others can see it."""
        ...


def stop_job(job: JobStatus, reason: str) -> None:
    """Mark a job that will never finish as failed, and its unfinished files with the reason."""
    job.state, job.error = "failed", reason
    for f in job.files:
        if f.state in UNFINISHED:
            f.state, f.error = "failed", reason


class JobManager:
    def __init__(
        self, index_fn: IndexFn, workers: int, max_pending: int, metrics: Metrics, records: JobRecords
    ) -> None:
        self._index_fn = index_fn
        self._max_pending = max_pending
        self._metrics = metrics
        self._records = records
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="index-job")
        self._lock = threading.Lock()
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
        self._records.save(job)
        self._pool.submit(self._run, job, [p for _, p in files], collection, acl, caller)
        return job.model_copy(deep=True)

    def get(self, job_id: str) -> JobStatus | None:
        return self._records.get(job_id)

    def _run(
        self, job: JobStatus, paths: list[Path], collection: str, acl: list[str], caller: Caller
    ) -> None:
        # Only this thread changes `job`; each change is saved for status queries.
        try:
            job.state = "running"
            for entry, path in zip(job.files, paths, strict=True):
                entry.state = "running"
                self._records.save(job)
                try:
                    result = self._index_fn(path, collection, acl, caller)
                except Exception as exc:  # one bad file must not stop the others
                    log.exception("indexing %s failed", path)
                    result = JobFile(name=entry.name, state="failed", error=f"{type(exc).__name__}: {exc}")
                entry.name, entry.state = result.name, result.state
                entry.pages, entry.error = result.pages, result.error
            job.state = "failed" if all(f.state == "failed" for f in job.files) else "done"
        except Exception as exc:
            log.exception("indexing job %s crashed", job.job_id)
            stop_job(job, str(exc))
        finally:
            try:
                self._records.save(job)
            finally:
                self.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._records.close()

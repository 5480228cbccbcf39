"""Upload jobs in the store's shared state (docstore.shared_state), seen by every API server on
the store: the replicas on an OpenSearch store, the processes on a SQLite file.

The `jobs` records hold each job's status as it progresses, with the replica running it;
`replicas` holds each replica's heartbeat, written every `timeout_s / 5` seconds from its first
job on. Any replica answers a status query from the store; a job still queued or running whose
replica has not beaten for `timeout_s` (it was killed, or lost the store) is reported failed, and
recorded so. A replica that shuts down records its unfinished jobs failed at once. Heartbeats are
compared with the reader's clock: replicas' clocks must agree to well within `timeout_s` (NTP
does)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from docstore.shared_state import Record, SharedState
from search_api.jobs import UNFINISHED, stop_job
from search_api.models import JobStatus

log = logging.getLogger(__name__)

JOB_RETENTION_S = 7 * 86400  # finished jobs answer status queries this long
REPLICA_RETENTION_S = 86400  # heartbeats of replicas long gone (and their name claims) are then dropped
SWEEP_EVERY_S = 3600


def replica_stopped(timeout_s: float | None = None) -> str:
    why = f" (no heartbeat for {timeout_s:g} s)" if timeout_s is not None else ""
    return f"the replica running it stopped{why}; upload the file again"


class StoreJobs:
    def __init__(self, shared: SharedState, timeout_s: float = 15.0) -> None:
        self.replica_id = uuid.uuid4().hex[:16]
        self.timeout_s = timeout_s
        self.heartbeat_s = timeout_s / 5
        self._jobs = shared.records("jobs")
        self._replicas = shared.records("replicas")
        self._names = shared.records("upload-names")  # only swept here: see search_api.upload_names
        self._started_at = time.time()
        self._lock = threading.Lock()  # guards the fields below
        self._write_lock = threading.Lock()  # one writer at a time, always of a job's latest status
        self._start_lock = threading.Lock()  # guards _beater
        # This replica's jobs not yet recorded finished in the store (copies, replaced, never changed).
        self._latest: dict[str, JobStatus] = {}
        self._dirty: set[str] = set()  # job ids whose latest status is not in the store yet
        self._beater: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False

    # -- writing -----------------------------------------------------------------------------
    def save(self, job: JobStatus) -> None:
        """Never raises: a write the store refuses is retried with each heartbeat."""
        with self._lock:
            if self._closed:  # already recorded as stopped
                return
            self._latest[job.job_id] = job.model_copy(deep=True)
            self._dirty.add(job.job_id)
        with self._start_lock:
            if self._beater is None:
                self._beat()  # before the first job record, so no reader sees a job without its owner
                self._beater = threading.Thread(target=self._beat_loop, name="replica-heartbeat", daemon=True)
                self._beater.start()
        self._flush()

    def _flush(self) -> None:
        with self._write_lock:
            with self._lock:
                todo = {job_id: self._latest[job_id] for job_id in self._dirty}
                self._dirty.clear()
            for job_id, job in todo.items():
                try:
                    self._put(job)
                except Exception as exc:  # the store is down: keep it for the next beat
                    log.warning("cannot record job %s (retried): %s", job_id, exc)
                    with self._lock:
                        self._dirty.add(job_id)
                    continue
                with self._lock:
                    if job.state not in UNFINISHED and self._latest.get(job_id) is job:
                        del self._latest[job_id]

    def _put(self, job: JobStatus, expect: Record | None = None, replica_id: str | None = None) -> bool:
        body = {
            "job_id": job.job_id,
            "replica_id": replica_id or self.replica_id,
            "state": job.state,
            "updated_at": time.time(),
            "job": job.model_dump(),
        }
        return self._jobs.put(job.job_id, body, expect=expect)

    # -- reading -----------------------------------------------------------------------------
    def get(self, job_id: str) -> JobStatus | None:
        with self._lock:
            own = self._latest.get(job_id)
        if own is not None:
            return own.model_copy(deep=True)
        found = self._jobs.get(job_id)
        if found is None:
            return None
        job = JobStatus.model_validate(found.source["job"])
        owner = str(found.source["replica_id"])
        if job.state in UNFINISHED and owner != self.replica_id and not self.alive(owner):
            stop_job(job, replica_stopped(self.timeout_s))
            # Recorded for everyone; if the owner wrote meanwhile, its write wins and the next query decides.
            try:
                self._put(job, expect=found, replica_id=owner)
            except Exception as exc:
                log.warning("cannot record job %s as failed: %s", job_id, exc)
        return job

    def alive(self, replica_id: str) -> bool:
        """Whether that replica has beaten within `timeout_s` and not stopped."""
        found = self._replicas.get(replica_id)
        if found is None or found.source.get("stopped_at") is not None:
            return False
        return time.time() - float(found.source["heartbeat_at"]) <= self.timeout_s

    # -- heartbeat ---------------------------------------------------------------------------
    def _beat(self, stopped: bool = False) -> None:
        now = time.time()
        body = {
            "replica_id": self.replica_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self._started_at,
            "heartbeat_at": now,
            "stopped_at": now if stopped else None,
        }
        try:
            self._replicas.put(self.replica_id, body)
        except Exception as exc:  # others will see this replica stop if it lasts past timeout_s
            log.warning("cannot record this replica's heartbeat: %s", exc)

    def _beat_loop(self) -> None:
        next_sweep = time.monotonic()
        while not self._stop.wait(self.heartbeat_s):
            self._beat()
            self._flush()
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + SWEEP_EVERY_S

    def _sweep(self) -> None:
        """Drop finished jobs past their retention, and heartbeats and name claims of replicas
        long gone."""
        now = time.time()
        try:
            self._jobs.delete(
                self._jobs.older_than("updated_at", now - JOB_RETENTION_S, {"state": ["done", "failed"]})
            )
            self._replicas.delete(self._replicas.older_than("heartbeat_at", now - REPLICA_RETENTION_S))
            self._names.delete(self._names.older_than("claimed_at", now - REPLICA_RETENTION_S))
        except Exception as exc:
            log.warning("cannot sweep old job records: %s", exc)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for job_id, job in list(self._latest.items()):
                if job.state in UNFINISHED:
                    stopped = job.model_copy(deep=True)
                    stop_job(stopped, replica_stopped())
                    self._latest[job_id] = stopped
                    self._dirty.add(job_id)
        with self._start_lock:
            beater = self._beater
        if beater is None:  # never ran a job: nothing of this replica is in the store
            return
        self._stop.set()
        beater.join(timeout=10)
        self._flush()
        self._beat(stopped=True)

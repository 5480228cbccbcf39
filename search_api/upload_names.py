"""Upload names claimed in the store while their upload is indexed, so two servers on one store
(replicas, or the worker processes of one) that take uploads of one name at the same moment never
pick the same free name and overwrite each other's document.

A claim is a record in the shared state's `upload-names` table whose id is the document id the
name gives (its collection and path), created only where none exists: OpenSearch's
`op_type=create`, SQLite's primary key. Whoever creates it owns the name until its upload is
indexed. A claim never outlives its owner: one whose replica stopped beating (see StoreJobs) is
taken over with a conditional write, and so is one this process left behind (a release the store
refused). Jobs run one at a time in a process, so a process holds one claim at a time."""

from __future__ import annotations

import logging
import threading
import time

from docstore.shared_state import Record, SharedState
from search_api.jobs_in_store import StoreJobs

log = logging.getLogger(__name__)


class UploadNames:
    def __init__(self, shared: SharedState, jobs: StoreJobs) -> None:
        self._records = shared.records("upload-names")
        self._jobs = jobs  # this replica's id, and whether another's is alive
        self._lock = threading.Lock()
        self._held: set[str] = set()

    def claim(self, name_id: str, name: str) -> bool:
        """Claim a name for this replica; False when another upload holds it."""
        body = {"name": name, "replica_id": self._jobs.replica_id, "claimed_at": time.time()}
        while not self._records.put(name_id, body, create_only=True):
            found = self._records.get(name_id)
            if found is None:
                continue  # released meanwhile: create it again
            if not self._stale(found):
                return False
            if self._records.put(name_id, body, expect=found):
                break
            # another replica took it over first: the next turn reads who holds it now
        with self._lock:
            self._held.add(name_id)
        return True

    def _stale(self, found: Record) -> bool:
        owner = str(found.source.get("replica_id"))
        if owner == self._jobs.replica_id:
            with self._lock:
                return found.id not in self._held
        return not self._jobs.alive(owner)

    def release(self, name_id: str) -> None:
        """Give the name back (its document is in the store now, or the upload failed). Never
        raises: a claim left behind is taken over by the next upload of the name."""
        with self._lock:
            if name_id not in self._held:
                return
            self._held.discard(name_id)
        try:
            found = self._records.get(name_id)
            if found is not None and found.source.get("replica_id") == self._jobs.replica_id:
                self._records.delete([name_id])
        except Exception as exc:
            log.warning("cannot release the upload name %s: %s", name_id, exc)

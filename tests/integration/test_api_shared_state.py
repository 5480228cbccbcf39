"""What API replicas share through an OpenSearch store, on the real node, with each part opened
twice as two replicas would: keys (hashed, revocable), job status with replica heartbeats, and
uploaded originals in chunks."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from docstore.opensearch.store import OpenSearchStore
from docstore.schema import DocumentInfo
from search_api.jobs_in_store import StoreJobs
from search_api.keys_in_store import StoreKeys
from search_api.models import JobFile, JobStatus
from search_api.originals import CHUNK_BYTES, StoreOriginals
from tests.fixtures.stores import _delete_indices

pytestmark = pytest.mark.opensearch


@pytest.fixture
def store_url(opensearch_url: str, opensearch_index_prefix: str) -> Iterator[str]:
    yield f"{opensearch_url}?prefix={opensearch_index_prefix}"
    _delete_indices(opensearch_url, opensearch_index_prefix)


@pytest.fixture
def two_stores(store_url: str) -> Iterator[tuple[OpenSearchStore, OpenSearchStore]]:
    first, second = OpenSearchStore(store_url), OpenSearchStore(store_url)
    yield first, second
    first.close()
    second.close()


def test_keys_are_shared_hashed_and_revoked_for_every_replica(
    two_stores: tuple[OpenSearchStore, OpenSearchStore],
) -> None:
    one, other = StoreKeys(two_stores[0], cache_s=0), StoreKeys(two_stores[1], cache_s=0)
    cached = StoreKeys(two_stores[1], cache_s=300)
    key, record = one.create(["a", "b"], name="team")
    admin_key, _ = one.create([], admin=True)
    found = other.verify(key)
    assert found is not None and found.key_id == record.key_id and found.groups == ["a", "b"]
    assert other.verify(admin_key).admin  # type: ignore[union-attr]
    assert cached.verify(key) is not None
    assert (
        other.verify(key + "x") is None and other.verify("folio_nope_x") is None and other.verify("x") is None
    )

    raw = two_stores[0].client.search(index=f"{two_stores[0].prefix}-keys", body={"size": 10})
    stored = json.dumps(raw["hits"]["hits"])
    assert (
        key not in stored and admin_key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored
    )

    assert [r.key_id for r in other.list()][0] == record.key_id
    assert other.revoke(record.key_id) and not one.revoke(record.key_id) and not one.revoke("missing")
    assert one.verify(key) is None  # no cache: at once
    assert cached.verify(key) is not None  # within its cache time it still trusts the key
    assert record.key_id not in [r.key_id for r in one.list()]
    assert record.key_id in [r.key_id for r in one.list(include_revoked=True)]


def _running_job() -> JobStatus:
    job = JobStatus(
        job_id=os.urandom(8).hex(), state="running", files=[JobFile(name="a.pdf", state="running")]
    )
    job.files.append(JobFile(name="b.pdf"))
    return job


def _wait_state(jobs: StoreJobs, job_id: str, state: str, limit: float) -> JobStatus:
    deadline = time.monotonic() + limit
    while True:
        job = jobs.get(job_id)
        assert job is not None
        if job.state == state or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_job_whose_replica_stops_beating_is_failed_by_the_others(
    two_stores: tuple[OpenSearchStore, OpenSearchStore],
) -> None:
    owner, reader = StoreJobs(two_stores[0], timeout_s=2), StoreJobs(two_stores[1], timeout_s=2)
    job = _running_job()
    owner.save(job)
    seen = reader.get(job.job_id)
    assert (
        seen is not None
        and seen.state == "running"
        and [f.state for f in seen.files] == ["running", "queued"]
    )
    assert reader.get("no-such-job") is None

    # The owner dies without a word: its heartbeat stops.
    owner._stop.set()
    assert owner._beater is not None
    owner._beater.join()
    failed = _wait_state(reader, job.job_id, "failed", limit=30)
    assert failed.state == "failed" and "replica running it stopped" in (failed.error or "")
    assert [f.state for f in failed.files] == ["failed", "failed"]
    # recorded so: a replica that never asked before reads it failed straight from the store
    fresh = StoreJobs(two_stores[0], timeout_s=300)
    assert fresh.get(job.job_id).state == "failed"  # type: ignore[union-attr]
    reader.close()


def test_a_replica_that_shuts_down_fails_its_unfinished_jobs_at_once(
    two_stores: tuple[OpenSearchStore, OpenSearchStore],
) -> None:
    owner, reader = StoreJobs(two_stores[0], timeout_s=300), StoreJobs(two_stores[1], timeout_s=300)
    running, done = _running_job(), _running_job()
    owner.save(running)
    done.state = "done"
    done.files = [JobFile(name="c.md", state="indexed", pages=1)]
    owner.save(done)
    assert reader.get(running.job_id).state == "running"  # type: ignore[union-attr]
    owner.close()
    owner.save(_running_job())  # after close: ignored, never recorded as running
    stopped = reader.get(running.job_id)
    assert stopped is not None and stopped.state == "failed" and "stopped" in (stopped.error or "")
    assert reader.get(done.job_id).state == "done"  # type: ignore[union-attr]


def _document(doc_id: str, path: Path) -> DocumentInfo:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return DocumentInfo(
        doc_id=doc_id, collection="c", source=str(path), content_hash=digest, page_count=1,
        pages_stored=1, complete=True,
    )  # fmt: skip


def _read(originals: StoreOriginals, info: DocumentInfo) -> bytes:
    original = originals.open(info)
    assert original is not None and original.chunks is not None and original.path is None
    data = b"".join(original.chunks)
    assert len(data) == original.size
    return data


def test_originals_are_kept_in_chunks_replaced_and_deleted_with_their_document(
    two_stores: tuple[OpenSearchStore, OpenSearchStore], tmp_path: Path
) -> None:
    writer, reader = StoreOriginals(two_stores[0]), StoreOriginals(two_stores[1])
    path = tmp_path / "big.pdf"
    first = os.urandom(2 * CHUNK_BYTES + 12345)
    path.write_bytes(first)
    info = _document("doc-1", path)
    assert writer.keep(info, path)
    path.unlink()  # the uploading replica's copy is gone; the store serves it
    assert _read(reader, info) == first
    assert reader.open(info.model_copy(update={"content_hash": "other"})) is None  # not this version

    second = b"%PDF-1.4 a shorter second version"
    path.write_bytes(second)
    info2 = _document("doc-1", path)
    assert writer.keep(info2, path)
    path.unlink()
    assert _read(reader, info2) == second
    two_stores[0].refresh()
    index = f"{two_stores[0].prefix}-originals"
    assert two_stores[0].client.count(index=index)["count"] == 2  # one record and one chunk: old chunks gone

    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    assert writer.keep(_document("doc-2", empty), empty) and _read(reader, _document("doc-2", empty)) == b""

    two_stores[0].delete_document("doc-1")
    assert reader.open(info2) is None
    two_stores[0].refresh()
    assert two_stores[0].client.count(index=index)["count"] == 2  # doc-2's record and chunk remain

"""What API servers share through their store (`Store.shared_state()`), with each part opened twice
as two replicas would, on each backend: keys (hashed, revocable), job status with replica
heartbeats, and on OpenSearch uploaded originals in chunks."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from docstore.opensearch.originals import CHUNK_BYTES, IndexOriginals
from docstore.opensearch.store import OpenSearchStore
from docstore.originals import Originals
from docstore.protocol import Store
from docstore.schema import DocumentInfo
from docstore.store import open_store
from search_api.jobs_in_store import StoreJobs
from search_api.keys import KeyStore
from search_api.models import JobFile, JobStatus
from tests.fixtures.stores import BACKENDS, _delete_indices


@pytest.fixture(params=BACKENDS)
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two servers' handles on one store."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/shared.db"
    else:
        opensearch_url: str = request.getfixturevalue("opensearch_url")
        prefix: str = request.getfixturevalue("opensearch_index_prefix")
        url = f"{opensearch_url}?prefix={prefix}"
    first, second = open_store(url), open_store(url)
    yield first, second
    first.close()
    second.close()
    if request.param != "sqlite":
        _delete_indices(opensearch_url, prefix)


def _stored_keys(store: Store) -> str:
    """Everything the store holds of its keys, as text."""
    if isinstance(store, OpenSearchStore):
        raw = store.client.search(index=f"{store.prefix}-keys", body={"size": 10})
        return json.dumps(raw["hits"]["hits"])
    with sqlite3.connect(store.shared_state().keys.where) as db:
        return json.dumps(db.execute("SELECT * FROM api_keys").fetchall())


def test_keys_are_shared_hashed_and_revoked_for_every_replica(two_stores: tuple[Store, Store]) -> None:
    one = KeyStore(two_stores[0].shared_state().keys, cache_s=0)
    other = KeyStore(two_stores[1].shared_state().keys, cache_s=0)
    cached = KeyStore(two_stores[1].shared_state().keys, cache_s=300)
    key, record = one.create(["a", "b"], name="team")
    admin_key, _ = one.create([], admin=True)
    found = other.verify(key)
    assert found is not None and found.key_id == record.key_id and found.groups == ["a", "b"]
    assert other.verify(admin_key).admin  # type: ignore[union-attr]
    assert cached.verify(key) is not None
    assert (
        other.verify(key + "x") is None and other.verify("folio_nope_x") is None and other.verify("x") is None
    )

    stored = _stored_keys(two_stores[0])
    assert (
        key not in stored and admin_key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored
    )

    assert [r.key_id for r in other.list()][0] == record.key_id
    assert other.revoke(record.key_id) and not one.revoke(record.key_id) and not one.revoke("missing")
    assert one.verify(key) is None  # no cache: at once
    # Keys read over the network are trusted for their cache time; a keys file is read every time.
    remote = two_stores[1].shared_state().keys.remote
    assert (cached.verify(key) is not None) == remote
    assert record.key_id not in [r.key_id for r in one.list()]
    assert record.key_id in [r.key_id for r in one.list(include_revoked=True)]
    for keys in (one, other, cached):
        keys.close()


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


def test_a_job_whose_replica_stops_beating_is_failed_by_the_others(two_stores: tuple[Store, Store]) -> None:
    owner = StoreJobs(two_stores[0].shared_state(), timeout_s=2)
    reader = StoreJobs(two_stores[1].shared_state(), timeout_s=2)
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
    fresh = StoreJobs(two_stores[0].shared_state(), timeout_s=300)
    assert fresh.get(job.job_id).state == "failed"  # type: ignore[union-attr]
    reader.close()


def test_a_replica_that_shuts_down_fails_its_unfinished_jobs_at_once(two_stores: tuple[Store, Store]) -> None:
    owner = StoreJobs(two_stores[0].shared_state(), timeout_s=300)
    reader = StoreJobs(two_stores[1].shared_state(), timeout_s=300)
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


def _read(originals: Originals, info: DocumentInfo) -> bytes:
    original = originals.open(info)
    assert original is not None and original.chunks is not None and original.path is None
    data = b"".join(original.chunks)
    assert len(data) == original.size
    return data


@pytest.fixture
def opensearch_stores(
    opensearch_url: str, opensearch_index_prefix: str
) -> Iterator[tuple[OpenSearchStore, ...]]:
    url = f"{opensearch_url}?prefix={opensearch_index_prefix}"
    first, second = OpenSearchStore(url), OpenSearchStore(url)
    yield first, second
    first.close()
    second.close()
    _delete_indices(opensearch_url, opensearch_index_prefix)


@pytest.mark.opensearch
def test_originals_are_kept_in_chunks_replaced_and_deleted_with_their_document(
    opensearch_stores: tuple[OpenSearchStore, ...], tmp_path: Path
) -> None:
    two_stores = opensearch_stores
    writer, reader = two_stores[0].shared_state().originals, two_stores[1].shared_state().originals
    assert isinstance(writer, IndexOriginals)
    path = tmp_path / "big.pdf"
    first = os.urandom(2 * CHUNK_BYTES + 12345)
    path.write_bytes(first)
    info = _document("doc-1", path)
    assert writer.keep(info, path)
    path.unlink()  # the uploading replica's copy is gone; the store serves it
    assert _read(reader, info) == first and reader.available(info)
    assert reader.open(info.model_copy(update={"content_hash": "other"})) is None  # not this version
    assert not reader.available(info.model_copy(update={"content_hash": "other"}))

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
    assert reader.open(info2) is None and not reader.available(info2)
    two_stores[0].refresh()
    assert two_stores[0].client.count(index=index)["count"] == 2  # doc-2's record and chunk remain

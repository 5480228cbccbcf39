"""Shared-state contract: every backend's `shared_state()` keeps key records and record tables the
same way: a create that finds its record refused, a conditional write that lost a race refused,
old records found for sweeping, and of two servers creating one record at the same moment exactly
one wins. Each test runs on a fresh store per backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from docstore.protocol import Store
from docstore.shared_state import KeyRecord, Records
from docstore.store import open_store


def _searchable(store: Store) -> None:
    """Make writes visible to searches (OpenSearch shows them within a second; SQLite at once)."""
    refresh = getattr(store, "refresh", None)
    if refresh is not None:
        refresh()


def _job(job_id: str, state: str, updated_at: float, replica_id: str = "r1") -> dict[str, object]:
    return {"job_id": job_id, "replica_id": replica_id, "state": state, "updated_at": updated_at, "job": {}}


def test_records_are_created_once_written_conditionally_and_swept(store: Store) -> None:
    jobs = store.shared_state().records("jobs")
    assert jobs.get("j1") is None
    assert jobs.put("j1", _job("j1", "queued", 10.0), create_only=True)
    assert not jobs.put("j1", _job("j1", "done", 10.0), create_only=True)  # there already
    read = jobs.get("j1")
    assert read is not None and read.source["state"] == "queued"
    assert jobs.put("j1", _job("j1", "running", 11.0), expect=read)
    assert not jobs.put("j1", _job("j1", "failed", 12.0), expect=read)  # changed since it was read
    assert jobs.get("j1").source["state"] == "running"  # type: ignore[union-attr]
    assert jobs.put("j1", _job("j1", "done", 13.0))  # unconditional: replaces

    jobs.put("j2", _job("j2", "failed", 5.0))
    jobs.put("j3", _job("j3", "running", 5.0))
    jobs.put("j4", _job("j4", "done", 50.0))
    _searchable(store)
    assert sorted(jobs.older_than("updated_at", 20.0, {"state": ["done", "failed"]})) == ["j1", "j2"]
    assert sorted(jobs.older_than("updated_at", 20.0)) == ["j1", "j2", "j3"]
    jobs.delete(["j1", "j2", "gone-already"])
    assert jobs.get("j1") is None and jobs.get("j2") is None and jobs.get("j3") is not None
    # Tables are apart: the same id in another one is another record.
    assert store.shared_state().records("replicas").get("j3") is None


@pytest.fixture
def second(store: Store) -> Iterator[Store]:
    """Another server's handle on the same store."""
    other = open_store(store.url)
    yield other
    other.close()


def _claim_at_once(tables: list[Records], name_id: str) -> list[bool]:
    """Each table creates the claim of `name_id` from its own thread, both released at once."""
    start = threading.Barrier(len(tables))
    won = [False] * len(tables)

    def claim(n: int) -> None:
        body = {"name": name_id, "replica_id": f"replica-{n}", "claimed_at": 0.0}
        start.wait()
        won[n] = tables[n].put(name_id, body, create_only=True)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(tables))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_of_two_servers_claiming_one_name_at_once_exactly_one_wins(store: Store, second: Store) -> None:
    tables = [s.shared_state().records("upload-names") for s in (store, second)]
    for round_ in range(20):
        name_id = f"name-{round_}"
        won = _claim_at_once(tables, name_id)
        assert won.count(True) == 1, won
        holder = tables[0].get(name_id)
        assert holder is not None and holder.source["replica_id"] == f"replica-{won.index(True)}"


def test_key_records_are_added_once_listed_in_order_and_revoked_once(store: Store, second: Store) -> None:
    keys, other = store.shared_state().keys, second.shared_state().keys
    first = KeyRecord("k1", "hash-1", "alice", ("a", "b"), False, 1.0)
    assert keys.add(first) and keys.add(KeyRecord("k2", "hash-2", "", (), True, 2.0))
    assert not keys.add(KeyRecord("k1", "hash-3", "mallory", (), True, 3.0))  # an id is never reused
    assert other.get("k1") == first and other.get("nope") is None
    assert [k.key_id for k in other.all()] == ["k1", "k2"]
    assert other.revoke("k1", 5.0) and not keys.revoke("k1", 6.0) and not keys.revoke("nope", 6.0)
    assert keys.get("k1").revoked_at == 5.0  # type: ignore[union-attr]
    keys.close()
    other.close()

"""Two `folio serve` processes on one OpenSearch store behave as one service: a key made with
`folio keys create --store` works on both (and its revocation reaches both), an upload on one
shows its job on the other, the original file downloads from the other, and a job whose replica
is killed is reported failed by the survivors instead of running forever."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.api_server import REPO, ServerStartError, free_port, wait_until_healthy
from tests.fixtures.stores import _delete_indices

pytestmark = [pytest.mark.opensearch, pytest.mark.slow, pytest.mark.cluster]

REPLICA_TIMEOUT_S = 5  # FOLIO_REPLICA_TIMEOUT_S of the replicas: short, to keep the kill test short


@dataclass
class Replica:
    url: str
    upload_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def kill(self) -> None:
        """SIGKILL the replica with its indexing workers, as when its machine or container dies."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def replica_store(opensearch_url: str) -> Iterator[str]:
    prefix = f"folio-replicas-{uuid.uuid4().hex[:8]}"
    yield f"{opensearch_url}?prefix={prefix}"
    _delete_indices(opensearch_url, prefix)


@pytest.fixture(scope="module")
def start_replica(replica_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: list[Replica] = []
    root = tmp_path_factory.mktemp("replicas")

    def start() -> Replica:
        n = len(started)
        port = free_port()
        upload_dir, log = root / f"uploads-{n}", root / f"replica-{n}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
        env.update(FOLIO_EMBEDDER="hash", FOLIO_UPLOAD_DIR=str(upload_dir), PYTHONUNBUFFERED="1",
                   FOLIO_REPLICA_TIMEOUT_S=str(REPLICA_TIMEOUT_S))  # fmt: skip
        cmd = [sys.executable, "-m", "search_api.main", "serve", "--store", replica_store,
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
        with log.open("wb") as out:  # its own session: killing it kills its indexing workers too
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        replica = Replica(f"http://127.0.0.1:{port}", upload_dir, log, proc)
        started.append(replica)
        try:
            wait_until_healthy(replica.url, proc, 120, lambda: log.read_text(errors="replace")[-4000:])
        except ServerStartError as exc:
            pytest.fail(str(exc))
        return replica

    yield start
    for replica in started:
        replica.stop()


@pytest.fixture(scope="module")
def replicas(start_replica: Any) -> tuple[Replica, Replica]:
    return start_replica(), start_replica()


def _folio(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    return subprocess.run([sys.executable, "-m", "search_api.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _cli_key(store: str, groups: str) -> dict[str, Any]:
    made = _folio("keys", "create", "--store", store, "--groups", groups, "--json")
    assert made.returncode == 0, made.stderr
    created: dict[str, Any] = json.loads(made.stdout)
    return created


def _poll(client: httpx.Client, path: str, done: Any, limit: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        answer: dict[str, Any] = client.get(path).json()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.25)


def test_a_key_made_with_the_cli_works_on_both_replicas_and_its_revocation_too(
    replicas: tuple[Replica, Replica], replica_store: str
) -> None:
    created = _cli_key(replica_store, "team")
    for replica in replicas:
        with replica.client(created["key"]) as client:
            me = client.get("/v1/me")
            assert me.status_code == 200 and me.json()["key_id"] == created["key_id"], me.text
    listed = _folio("keys", "list", "--store", replica_store, "--json")
    assert created["key_id"] in [k["key_id"] for k in json.loads(listed.stdout)]

    revoked = _folio("keys", "revoke", created["key_id"], "--store", replica_store)
    assert revoked.returncode == 0, revoked.stderr
    for replica in replicas:  # within FOLIO_KEY_CACHE_S (5 s); the bound here is generous
        with replica.client(created["key"]) as client:
            deadline = time.monotonic() + 60
            while client.get("/v1/me").status_code != 401 and time.monotonic() < deadline:
                time.sleep(0.25)
            assert client.get("/v1/me").status_code == 401


def test_an_upload_on_one_replica_is_followed_and_downloaded_on_the_other(
    replicas: tuple[Replica, Replica], replica_store: str, shared_pdfs: Path
) -> None:
    first, second = replicas
    key = _cli_key(replica_store, "team")["key"]
    pdf = (shared_pdfs / "crazyones-pdfa.pdf").read_bytes()
    with first.client(key) as one, second.client(key) as two:
        accepted = one.post("/v1/documents", files={"files": ("crazy ones.pdf", pdf, "application/pdf")},
                            data={"collection": "replicated"})  # fmt: skip
        assert accepted.status_code == 202, accepted.text
        status_url = accepted.json()["status_url"]
        job = _poll(two, status_url, lambda j: j.get("state") in ("done", "failed"), limit=120)
        assert job["state"] == "done" and job["files"][0]["state"] == "indexed", job
        hits = two.post("/v1/search", json={"query": "crazy ones", "mode": "bm25"}).json()["hits"]
        assert hits and hits[0]["collection"] == "replicated"
        original = two.get(f"/v1/documents/{hits[0]['doc_id']}/file")
        assert original.status_code == 200 and original.content == pdf
        assert original.headers["content-type"] == "application/pdf"
        assert "filename*=" in original.headers["content-disposition"]
    # The original lives in the store, not on the disk of the replica that took the upload.
    assert not [p for p in first.upload_dir.rglob("*") if p.is_file()]


def test_a_job_whose_replica_is_killed_is_reported_failed_by_the_others(
    replicas: tuple[Replica, Replica], start_replica: Any, replica_store: str, shared_pdfs: Path
) -> None:
    first, second = replicas
    victim = start_replica()  # started after the others, killed before them: any order works
    key = _cli_key(replica_store, "team")["key"]
    big = shared_pdfs / "GeoTopo-komprimiert.pdf"  # 117 pages: minutes of indexing here
    with victim.client(key) as on_victim, second.client(key) as two, first.client(key) as one:
        files = [("files", (f"geotopo-{n}.pdf", big.read_bytes(), "application/pdf")) for n in range(2)]
        accepted = on_victim.post("/v1/documents", files=files, data={"collection": "doomed"})
        assert accepted.status_code == 202, accepted.text
        status_url = accepted.json()["status_url"]
        running = _poll(two, status_url, lambda j: j.get("state") != "queued", limit=120)
        assert running["state"] == "running", running

        victim.kill()
        killed_at = time.monotonic()
        ended = _poll(two, status_url, lambda j: j.get("state") != "running", limit=20 * REPLICA_TIMEOUT_S)
        waited = time.monotonic() - killed_at
        assert ended["state"] == "failed", ended
        assert "replica running it stopped" in ended["error"]
        assert [f["state"] for f in ended["files"]] == ["failed", "failed"]
        assert one.get(status_url).json()["state"] == "failed"  # recorded in the store for everyone
    print(f"job reported failed {waited:.1f} s after its replica was killed (timeout {REPLICA_TIMEOUT_S} s)")

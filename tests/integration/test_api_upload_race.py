"""Two `folio serve` processes on one store (an OpenSearch store; one SQLite file) take uploads of
one file name at the same moment, round after round, from callers who may not replace each other's
documents. The store's name claims keep both: every upload is indexed under a name of its own, and
each document serves its own file."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.api_server import StartServer

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROUNDS = 20


def _upload_at_once(clients: list[httpx.Client], name: str, bodies: list[bytes]) -> list[str]:
    """POST one upload per client, all released at the same moment; their status URLs."""
    start = threading.Barrier(len(clients))
    answers: list[httpx.Response | None] = [None] * len(clients)

    def upload(n: int) -> None:
        start.wait()
        answers[n] = clients[n].post(
            "/v1/documents",
            files={"files": (name, bodies[n], "text/markdown")},
            data={"collection": "minutes"},
        )

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    urls = []
    for answer in answers:
        assert answer is not None and answer.status_code == 202, answer and answer.text
        urls.append(answer.json()["status_url"])
    return urls


def _finished(client: httpx.Client, status_url: str, limit: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        job: dict[str, Any] = client.get(status_url).json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_one_name_uploaded_to_two_servers_at_once_is_indexed_twice_under_two_names(
    api_server: StartServer, api_store_url: str, tmp_path: Path
) -> None:
    # One upload path for both (it names uploaded documents), and for SQLite one keys file.
    env = {"FOLIO_UPLOAD_DIR": str(tmp_path / "uploads")}
    servers = [api_server(api_store_url, env=env, keys_file=tmp_path / "keys.db") for _ in range(2)]
    north, south = servers[0].create_key(["north"]), servers[0].create_key(["south"])
    admin = servers[0].create_key([], admin=True)
    uploaded: dict[str, bytes] = {}  # stored name -> the bytes sent
    with servers[0].client(north) as one, servers[1].client(south) as two:
        for r in range(ROUNDS):
            bodies = [
                f"# Minutes {r}\n\nthe {side} copy of round {r}\n".encode() for side in ("north", "south")
            ]
            urls = _upload_at_once([one, two], f"minutes-{r}.md", bodies)
            jobs = [_finished(one, urls[0]), _finished(two, urls[1])]
            assert [j["files"][0]["state"] for j in jobs] == ["indexed", "indexed"], jobs
            names = [j["files"][0]["name"] for j in jobs]
            assert sorted(names) == [f"minutes-{r} (2).md", f"minutes-{r}.md"], names
            uploaded.update(zip(names, bodies, strict=True))

    with servers[1].client(admin) as client:
        documents = client.get("/v1/documents", params={"collection": "minutes"}).json()["documents"]
        served: dict[str, bytes] = {}
        for doc in documents:
            name = Path(doc["source"]).name
            assert name not in served, f"{name} is stored twice"
            original = client.get(f"/v1/documents/{doc['doc_id']}/file")
            assert original.status_code == 200, original.text
            served[name] = original.content
    assert served == uploaded  # every upload once, under its own name, with its own bytes

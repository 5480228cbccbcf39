"""Uploads, background indexing jobs, listing, the original file, and deletion over real HTTP."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.api_server import StartServer, wait_job


def test_upload_index_search_delete(api_server: StartServer, api_store_url: str, shared_pdfs: Path) -> None:
    server = api_server(api_store_url)
    key = server.create_key(["team"])
    other = server.create_key(["others"])
    pdf = (shared_pdfs / "crazyones-pdfa.pdf").read_bytes()
    broken = b"%PDF-1.4\n this is not really a pdf"
    with server.client(key) as client:
        resp = client.post(
            "/v1/documents",
            files=[("files", ("crazy ones.pdf", pdf, "application/pdf")), ("files", ("bad.pdf", broken, "application/pdf")),
                   ("files", ("notes.md", b"# Notes\n\nround pegs in square holes\n", "text/markdown"))],
            data={"collection": "uploads"},
        )  # fmt: skip
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        assert accepted["status_url"] == f"/v1/jobs/{accepted['job_id']}"
        job = wait_job(client, accepted["status_url"])
        states = {f["name"]: (f["state"], f["pages"]) for f in job["files"]}
        assert job["state"] == "done"
        assert states["crazy ones.pdf"] == ("indexed", 1) and states["notes.md"] == ("indexed", 1)
        assert states["bad.pdf"][0] in ("skipped", "failed")
        assert next(f for f in job["files"] if f["name"] == "bad.pdf")["error"]

        hits = client.post("/v1/search", json={"query": "crazy ones", "mode": "bm25"}).json()["hits"]
        assert hits and hits[0]["collection"] == "uploads" and hits[0]["source"].endswith("crazy ones.pdf")
        doc_id = hits[0]["doc_id"]
        original = client.get(f"/v1/documents/{doc_id}/file")
        assert original.status_code == 200 and original.content == pdf
        pages = client.get(f"/v1/documents/{doc_id}/pages").json()
        assert [p["page_number"] for p in pages["pages"]] == [1]
        assert pages["document_url"] == f"/v1/documents/{doc_id}/file"
        assert client.get(pages["pages"][0]["thumbnail_url"]).status_code == 200
        listed = {
            d["doc_id"]: d
            for d in client.get("/v1/documents", params={"collection": "uploads"}).json()["documents"]
        }
        assert listed[doc_id]["complete"] is True and listed[doc_id]["pages_stored"] == 1

    # Uploaded by a key: visible to its groups only, deletable by them, not by others.
    with server.client(other) as client:
        assert client.post("/v1/search", json={"query": "crazy ones", "mode": "bm25"}).json()["hits"] == []
        assert client.delete(f"/v1/documents/{doc_id}").status_code == 404
    with server.client(key) as client:
        deleted = client.delete(f"/v1/documents/{doc_id}")
        assert deleted.status_code == 200 and deleted.json() == {"deleted_pages": 1}
        assert client.get(f"/v1/documents/{doc_id}/pages").status_code == 404
        assert client.post("/v1/search", json={"query": "crazy ones", "mode": "bm25"}).json()["hits"] == []
        assert client.get("/v1/jobs/nope").status_code == 404


def test_upload_refusals(api_server: StartServer, api_store_url: str) -> None:
    server = api_server(api_store_url, env={"FOLIO_MAX_UPLOAD_MB": "1"})
    key = server.create_key(["team"])
    with server.client(key) as client:
        big = client.post(
            "/v1/documents", files={"files": ("big.pdf", b"%PDF-" + b"0" * (2 << 20), "application/pdf")}
        )
        assert big.status_code == 413 and "MiB" in big.json()["detail"]
        exe = client.post(
            "/v1/documents", files={"files": ("tool.exe", b"MZ\x90\x00", "application/octet-stream")}
        )
        assert exe.status_code == 415 and "PDF" in exe.json()["detail"]
        fake = client.post("/v1/documents", files={"files": ("fake.pdf", b"GIF89a....", "application/pdf")})
        assert fake.status_code == 415
        foreign = client.post(
            "/v1/documents", files={"files": ("a.md", b"x", "text/markdown")}, data={"groups": "admins"}
        )
        assert foreign.status_code == 403
        assert client.post("/v1/documents", data={"collection": "x"}).status_code == 422


def test_an_upload_never_replaces_a_document_its_uploader_could_not_delete(
    api_server: StartServer, api_store_url: str
) -> None:
    server = api_server(api_store_url)
    legal, staff = server.create_key(["legal"]), server.create_key(["staff"])

    def upload(key: str, text: str) -> tuple[str, str]:
        with server.client(key) as client:
            resp = client.post(
                "/v1/documents", files={"files": ("plan.md", text.encode(), "text/markdown")},
                data={"collection": "shared"},
            )  # fmt: skip
            assert resp.status_code == 202, resp.text
            job = wait_job(client, resp.json()["status_url"])
            assert job["state"] == "done", job
            hits = client.post("/v1/search", json={"query": text.split()[-1], "mode": "bm25"}).json()["hits"]
            return job["files"][0]["name"], hits[0]["source"]

    assert upload(legal, "# Plan\n\nmerger timeline")[0] == "plan.md"
    name, source = upload(staff, "# Plan\n\ncanteen menu")
    assert name == "plan (2).md" and source.endswith("plan (2).md")
    # legal's document is untouched and still its own
    with server.client(legal) as client:
        hits = client.post("/v1/search", json={"query": "merger", "mode": "bm25"}).json()["hits"]
        assert [Path(h["source"]).name for h in hits] == ["plan.md"]
        assert client.post("/v1/search", json={"query": "canteen", "mode": "bm25"}).json()["hits"] == []
    # a key re-uploading its own document replaces it
    assert upload(legal, "# Plan\n\nrevised merger timeline") == (
        name.replace(" (2)", ""),
        source.replace(" (2)", ""),
    )

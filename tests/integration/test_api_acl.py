"""Per-group access over real HTTP, on both stores: a page outside the caller's groups never shows
up in hits, totals, document lists or the image endpoints; admin keys see everything; without
anonymous access a request with no key is refused."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.api_server import StartServer, index_files


def test_groups_isolate_pages(api_server: StartServer, api_store_url: str, shared_pdfs: Path) -> None:
    index_files(api_store_url, [shared_pdfs / "pdflatex-4-pages.pdf"], collection="alpha", groups=["alpha"])
    index_files(api_store_url, [shared_pdfs / "google-doc-document.pdf"], collection="beta", groups=["beta"])
    index_files(api_store_url, [shared_pdfs / "multilang.pdf"], collection="public")
    server = api_server(api_store_url)
    alpha_key = server.create_key(["alpha"], name="alpha")
    beta_key = server.create_key(["beta"])
    admin_key = server.create_key([], admin=True)

    def search(key: str | None, query: str = "text better") -> dict:
        with server.client(key) as client:
            resp = client.post("/v1/search", json={"query": query, "mode": "bm25", "top_k": 50, "top_n": 50})
        assert resp.status_code == 200, resp.text
        return resp.json()

    everything = search(admin_key)
    by_collection: dict[str, set[str]] = {}
    for hit in everything["hits"]:
        by_collection.setdefault(hit["collection"], set()).add(hit["page_id"])
    assert {"alpha", "beta"} <= set(by_collection), "the query must match pages of both groups"

    alpha = search(alpha_key)
    assert {h["collection"] for h in alpha["hits"]} <= {"alpha", "public"}
    assert by_collection["alpha"] <= {h["page_id"] for h in alpha["hits"]}
    assert alpha["total"] == len(alpha["hits"]) < everything["total"]
    beta = search(beta_key)
    assert {h["collection"] for h in beta["hits"]} <= {"beta", "public"}
    assert alpha["total"] + beta["total"] - len(by_collection.get("public", ())) == everything["total"]

    hidden = sorted(by_collection["beta"])[0]
    hidden_doc = hidden.split(":")[0]
    with server.client(alpha_key) as client:
        # the page and its highlight boxes are read with the caller's groups: no page, no boxes
        assert client.get(f"/v1/pages/{hidden}", params={"q": "text"}).status_code == 404
        assert client.get(f"/v1/pages/{hidden}/image").status_code == 404
        assert client.get(f"/v1/pages/{hidden}/thumbnail").status_code == 404
        assert client.get(f"/v1/documents/{hidden_doc}/pages").status_code == 404
        assert client.get(f"/v1/documents/{hidden_doc}/file").status_code == 404
        assert client.delete(f"/v1/documents/{hidden_doc}").status_code == 404
        docs = client.get("/v1/documents").json()["documents"]
        assert hidden_doc not in {d["doc_id"] for d in docs} and {d["collection"] for d in docs} == {"alpha", "public"}
        # A filter naming the hidden document still cannot reach it.
        pinned = client.post("/v1/search", json={"query": "text", "mode": "bm25", "doc_id": hidden_doc}).json()
        assert pinned["hits"] == [] and pinned["total"] == 0
        me = client.get("/v1/me").json()
        assert me == {"anonymous": False, "key_id": me["key_id"], "groups": ["alpha"], "admin": False, "name": None}
    with server.client(beta_key) as client:
        image = client.get(f"/v1/pages/{hidden}/image")
        assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
        page = client.get(f"/v1/pages/{hidden}", params={"q": "text better"})
        assert page.status_code == 200 and page.json()["page_id"] == hidden
    # Every hit's boxes come from a page its caller may read: the same boxes for the admin and
    # for the group that holds the page; hits of pages with the query's words have some.
    admin_boxes = {h["page_id"]: h["highlights"] for h in everything["hits"]}
    assert any(admin_boxes[pid] for pid in by_collection["beta"])
    assert all(h["highlights"] == admin_boxes[h["page_id"]] for h in beta["hits"])
    assert page.json()["highlights"] == admin_boxes[hidden]
    with server.client(admin_key) as client:
        assert client.get(f"/v1/pages/{hidden}/thumbnail").status_code == 200

    # No anonymous access by default; wrong and revoked keys are refused.
    with server.client() as client:
        resp = client.post("/v1/search", json={"query": "text"})
        assert resp.status_code == 401 and "API key" in resp.json()["detail"]
        assert client.get(f"/v1/pages/{hidden}/image").status_code == 401
    with server.client("folio_nope_nope") as client:
        assert client.get("/v1/me").status_code == 401


def test_anonymous_sees_public_pages_only(api_server: StartServer, api_store_url: str, shared_pdfs: Path) -> None:
    index_files(api_store_url, [shared_pdfs / "pdflatex-4-pages.pdf"], collection="alpha", groups=["alpha"])
    index_files(api_store_url, [shared_pdfs / "multilang.pdf"], collection="public")
    server = api_server(api_store_url, anonymous=True)
    with server.client() as client:
        me = client.get("/v1/me").json()
        body = client.post("/v1/search", json={"query": "text", "mode": "bm25", "top_n": 50}).json()
        docs = client.get("/v1/documents").json()["documents"]
    assert me == {"anonymous": True, "key_id": None, "groups": [], "admin": False, "name": None}
    assert {h["collection"] for h in body["hits"]} <= {"public"}
    assert [d["collection"] for d in docs] == ["public"]

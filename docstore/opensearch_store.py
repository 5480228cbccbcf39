"""The production store: OpenSearch 2.x with the k-NN plugin (Lucene HNSW engine).

URL: ``opensearch://[user:password@]host:port[?prefix=NAME]`` (``opensearchs://`` for TLS;
plain ``http(s)://`` works too). Query options: ``prefix`` (default ``folio``), ``verify``
(``false`` skips TLS certificate checks), ``refresh`` (``true``: every write is visible to the
next search, the default; ``wait_for``; ``false`` for bulk loads followed by ``refresh()``).

Indices: ``{prefix}-pages`` (text, metadata and the embedding; no image bytes, so searches stay
light), ``{prefix}-images`` (page image and thumbnail by page_id, with the page's acl copied so
access is checked in the query), ``{prefix}-docs`` (DocumentInfo records) and ``{prefix}-meta``
(store-wide settings). Analysis and query shapes: see docstore.opensearch_queries."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from docstore import opensearch_queries as q
from docstore.fusion import rrf_fuse
from docstore.schema import DocumentInfo, Filters, Hit, Page, SearchMode, SearchRequest
from docstore.snippets import make_snippet
from docstore.store import StoreUnavailable

_SCHEMES = {"opensearch": "http", "opensearchs": "https", "http": "http", "https": "https"}
_REFRESH: dict[str, bool | str] = {"true": True, "false": False, "wait_for": "wait_for"}
_IMAGE_FIELDS = ("image", "thumbnail")


def parse_url(url: str) -> tuple[dict[str, Any], str, bool | str]:
    """(client options, index prefix, refresh mode) from a store URL; raises ValueError."""
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"not an OpenSearch URL: {url!r} (use opensearch://host:9200)")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"prefix", "verify", "refresh"}
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} in {url!r}")
    prefix = query.get("prefix", "folio")
    if not prefix or prefix != prefix.lower() or any(c in prefix for c in ' "*\\<|,>/?#:'):
        raise ValueError(f"invalid index prefix {prefix!r}: use lower-case letters, digits, - and _")
    refresh = _REFRESH.get(query.get("refresh", "true"))
    if refresh is None:
        raise ValueError("refresh must be true, false or wait_for")
    try:
        port = parts.port or 9200
    except ValueError as exc:
        raise ValueError(f"bad port in {url!r}") from exc
    options: dict[str, Any] = {
        "hosts": [{"host": parts.hostname, "port": port, "scheme": scheme}],
        "use_ssl": scheme == "https",
        "verify_certs": query.get("verify", "true") != "false",
        "ssl_show_warn": False,
        "timeout": 30,
        "max_retries": 1,
        "retry_on_timeout": False,
    }
    if parts.username:
        options["http_auth"] = (unquote(parts.username), unquote(parts.password or ""))
    return options, prefix, refresh


class OpenSearchStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._options, self.prefix, self._refresh = parse_url(url)  # parses only: no I/O
        self.pages_index = f"{self.prefix}-pages"
        self.images_index = f"{self.prefix}-images"
        self.docs_index = f"{self.prefix}-docs"
        self.meta_index = f"{self.prefix}-meta"
        self._client: Any = None
        self._ready: set[str] = set()  # indices known to exist

    # -- connection ----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from opensearchpy import OpenSearch

            self._client = OpenSearch(**self._options)
        return self._client

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a client call; connection and auth failures become StoreUnavailable."""
        from opensearchpy import AuthenticationException, AuthorizationException, ConnectionError

        try:
            return fn(*args, **kwargs)
        except ConnectionError as exc:
            raise StoreUnavailable(f"cannot reach OpenSearch at {self._where()}: {exc.info or exc}") from exc
        except (AuthenticationException, AuthorizationException) as exc:
            raise StoreUnavailable(f"OpenSearch at {self._where()} refused access: {exc.error}") from exc

    def _where(self) -> str:
        host = self._options["hosts"][0]
        return f"{host['scheme']}://{host['host']}:{host['port']}"

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def refresh(self) -> None:
        """Make every write so far visible to searches (for stores opened with refresh=false)."""
        self._call(self.client.indices.refresh, index=f"{self.prefix}-*", ignore_unavailable=True)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._ready.clear()

    # -- indices -------------------------------------------------------------------------
    def _create(self, index: str, mappings: dict[str, Any], knn: bool = False) -> None:
        if index in self._ready:
            return
        if not self._call(self.client.indices.exists, index=index):
            body = {"settings": q.index_settings(knn=knn), "mappings": mappings}
            # 400 resource_already_exists: another process created it first; that is fine.
            self._call(self.client.indices.create, index=index, body=body, ignore=400)
        self._ready.add(index)

    def _create_all(self) -> None:
        self._create(self.pages_index, q.pages_mapping(None), knn=True)
        self._create(self.images_index, q.images_mapping())
        self._create(self.docs_index, q.docs_mapping())

    def _dim(self) -> int | None:
        mapping = self._call(self.client.indices.get_mapping, index=self.pages_index, ignore=404)
        props = mapping.get(self.pages_index, {}).get("mappings", {}).get("properties", {})
        dim = props.get("embedding", {}).get("dimension")
        return int(dim) if dim is not None else None

    def ensure(self, dim: int) -> None:
        field = q.knn_vector_field(dim)  # validates dim before any I/O
        self._create_all()
        current = self._dim()
        if current is not None and current != dim:
            raise ValueError(
                f"{self.pages_index} holds {current}-dim embeddings; cannot use {dim} (re-index into a new prefix)"
            )
        if current is None:
            body = {"properties": {"embedding": field}}
            self._call(self.client.indices.put_mapping, index=self.pages_index, body=body)
            self.set_meta("dim", str(dim))

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        found = self._call(self.client.get, index=self.meta_index, id=key, ignore=404)
        return found["_source"]["value"] if found.get("found") else None

    def set_meta(self, key: str, value: str) -> None:
        self._create(self.meta_index, q.meta_mapping())
        self._call(self.client.index, index=self.meta_index, id=key, body={"value": value}, refresh=True)

    # -- writes --------------------------------------------------------------------------
    def upsert_pages(self, pages: Sequence[Page]) -> None:
        if not pages:
            return
        first = next((p.embedding for p in pages if p.embedding is not None), None)
        if first is not None:
            self.ensure(len(first))
        else:
            self._create_all()
        self._bulk(self._page_actions(pages))

    def _page_actions(self, pages: Sequence[Page]) -> Iterator[dict[str, Any]]:
        for page in pages:
            doc = page.model_dump(exclude={"image", "thumbnail", "embedding"})
            if page.embedding is not None:
                doc["embedding"] = page.embedding
            yield {"_index": self.pages_index, "_id": page.page_id, "_source": doc}
            if page.image is None and page.thumbnail is None:
                # A re-written page without images must not keep the old ones.
                yield {"_op_type": "delete", "_index": self.images_index, "_id": page.page_id}
                continue
            images: dict[str, Any] = {"page_id": page.page_id, "doc_id": page.doc_id, "acl": page.acl}
            for field in _IMAGE_FIELDS:
                data: bytes | None = getattr(page, field)
                if data is not None:
                    images[field] = base64.b64encode(data).decode("ascii")
            yield {"_index": self.images_index, "_id": page.page_id, "_source": images}

    def _bulk(self, actions: Iterator[dict[str, Any]]) -> None:
        from opensearchpy import helpers

        self._call(
            helpers.bulk,
            self.client,
            actions,
            max_chunk_bytes=20 * 1024 * 1024,  # page images make big actions; stay well under limits
            ignore_status=(404,),  # deleting images a page never had
            refresh=self._refresh,
        )

    def begin_document(self, info: DocumentInfo) -> None:
        self._create_all()
        doc = info.model_dump(exclude={"pages_stored"})
        doc["complete"] = False
        self._call(self.client.index, index=self.docs_index, id=info.doc_id, body=doc, refresh=self._refresh)

    def finish_document(self, doc_id: str) -> None:
        self._call(
            self.client.update,
            index=self.docs_index,
            id=doc_id,
            body={"doc": {"complete": True}},
            refresh=self._refresh,
            ignore=404,
        )

    def delete_document(self, doc_id: str) -> int:
        # Ids first, then a bulk delete: works on any node (delete_by_query needs the reindex
        # module) and counts exactly what was removed.
        removed = self._delete_where(self.pages_index, doc_id)
        self._delete_where(self.images_index, doc_id)
        self._call(self.client.delete, index=self.docs_index, id=doc_id, refresh=True, ignore=404)
        return removed

    def _delete_where(self, index: str, doc_id: str) -> int:
        from opensearchpy import NotFoundError, helpers

        body = {"query": {"term": {"doc_id": doc_id}}, "_source": False}
        try:
            found = self._call(lambda: [h["_id"] for h in helpers.scan(self.client, query=body, index=index)])
        except NotFoundError:
            return 0
        if found:
            actions = ({"_op_type": "delete", "_index": index, "_id": i} for i in found)
            self._call(helpers.bulk, self.client, actions, ignore_status=(404,), refresh=True)
        return len(found)

    # -- reads ---------------------------------------------------------------------------
    def _search(self, index: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """A search that treats a missing index as empty (reads never create indices)."""
        result = self._call(self.client.search, index=index, body=body, ignore=404, **kwargs)
        if result.get("status") == 404:
            return {"hits": {"hits": []}}
        return dict(result)

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        found = self._documents(Filters(doc_id=doc_id))
        return found[0] if found else None

    def list_documents(self, filters: Filters | None = None) -> list[DocumentInfo]:
        return self._documents(filters)

    def _documents(self, filters: Filters | None) -> list[DocumentInfo]:
        from opensearchpy import NotFoundError, helpers

        body = q.build_docs_query(filters)
        scan = helpers.scan(self.client, query=body, index=self.docs_index)
        try:
            records = self._call(lambda: [h["_source"] for h in scan])
        except NotFoundError:  # no document recorded yet
            return []
        if not records:
            return []
        counts = self._pages_per_doc([r["doc_id"] for r in records])
        docs = [DocumentInfo(**r, pages_stored=counts.get(r["doc_id"], 0)) for r in records]
        return sorted(docs, key=lambda d: (d.collection, d.source, d.doc_id))

    def _pages_per_doc(self, doc_ids: list[str]) -> dict[str, int]:
        result = self._search(self.pages_index, q.build_pages_per_doc(doc_ids))
        buckets = result.get("aggregations", {}).get("per_doc", {}).get("buckets", [])
        return {b["key"]: int(b["doc_count"]) for b in buckets}

    def get_page(self, page_id: str, groups: list[str] | None = None) -> Page | None:
        hits = self._search(self.pages_index, q.build_page_lookup(page_id, groups))["hits"]["hits"]
        if not hits:
            return None
        page = Page(**hits[0]["_source"])
        media = self._images(page_id, groups)
        return page.model_copy(update=media) if media else page

    def _images(self, page_id: str, groups: list[str] | None) -> dict[str, bytes]:
        hits = self._search(self.images_index, q.build_page_lookup(page_id, groups))["hits"]["hits"]
        if not hits:
            return {}
        source = hits[0]["_source"]
        return {f: base64.b64decode(source[f]) for f in _IMAGE_FIELDS if source.get(f) is not None}

    def get_image(
        self, page_id: str, kind: Literal["image", "thumbnail"] = "image", groups: list[str] | None = None
    ) -> bytes | None:
        if kind not in _IMAGE_FIELDS:
            raise ValueError(f"kind must be 'image' or 'thumbnail', not {kind!r}")
        return self._images(page_id, groups).get(kind)

    def count(self, filters: Filters | None = None) -> int:
        result = self._call(
            self.client.count, index=self.pages_index, body=q.build_count_query(filters), ignore=404
        )
        return int(result.get("count", 0))

    # -- search --------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> list[Hit]:
        if request.mode == SearchMode.knn and request.vector is None:
            raise ValueError("knn search needs a query vector (embed the query first)")
        query = unicodedata.normalize("NFKC", request.query)
        want = request.offset + request.top_k
        if request.mode == SearchMode.bm25:
            body = q.build_bm25_query(query, request.filters, size=request.top_k, offset=request.offset)
            return self._hits(self._search(self.pages_index, body), request)
        if request.mode == SearchMode.knn:
            assert request.vector is not None
            if not self._has_vectors():
                return []
            body = q.build_knn_query(request.vector, want, request.filters, offset=request.offset)
            return self._hits(self._search(self.pages_index, body), request)
        return self._hybrid(query, request, want)

    def _has_vectors(self) -> bool:
        """kNN on an index without the vector field is an error; an empty store answers nothing."""
        if "dim" not in self._ready:
            if self._dim() is None:
                return False
            self._ready.add("dim")
        return True

    def _hybrid(self, query: str, request: SearchRequest, want: int) -> list[Hit]:
        depth = min(2000, max(100, 2 * want))
        lists = [self._ranked_ids(q.build_bm25_query(query, request.filters, size=depth, source=False))]
        if request.vector is not None and self._has_vectors():
            lists.append(
                self._ranked_ids(q.build_knn_query(request.vector, depth, request.filters, source=False))
            )
        fused = rrf_fuse(lists)[request.offset : want]
        if not fused:
            return []
        docs = self._call(
            self.client.mget,
            index=self.pages_index,
            body={"ids": [pid for pid, _ in fused]},
            _source_excludes=q.PAGE_SOURCE_EXCLUDES,
        )["docs"]
        by_id = {d["_id"]: d["_source"] for d in docs if d.get("found")}
        scored = [(by_id[pid], score) for pid, score in fused if pid in by_id]  # skip pages deleted meanwhile
        return self._to_hits(scored, request)

    def _ranked_ids(self, body: dict[str, Any]) -> list[str]:
        return [h["_id"] for h in self._search(self.pages_index, body)["hits"]["hits"]]

    def _hits(self, result: dict[str, Any], request: SearchRequest) -> list[Hit]:
        return self._to_hits([(h["_source"], float(h["_score"])) for h in result["hits"]["hits"]], request)

    @staticmethod
    def _to_hits(scored: list[tuple[dict[str, Any], float]], request: SearchRequest) -> list[Hit]:
        hits: list[Hit] = []
        for source, score in scored:
            page = Page(**source)
            snippet = make_snippet(page.text, request.query) if page.text else ""
            hits.append(Hit(page=page, score=score, rank=request.offset + len(hits) + 1, snippet=snippet))
        return hits

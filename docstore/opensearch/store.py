"""The production store: OpenSearch 2.x with the k-NN plugin (Lucene HNSW engine).

URL: ``opensearch://[user:password@]host:port[?prefix=NAME]`` (see docstore.opensearch.url).
Indices: ``{prefix}-pages`` (text, metadata and the embedding; no image bytes, so searches stay
light), ``{prefix}-images`` (page image, thumbnail and word boxes by page_id, with the page's acl
copied so access is checked in the query), ``{prefix}-docs`` (DocumentInfo records) and ``{prefix}-failures``
(FileFailure records by doc_id); each is created on first write. Store-wide settings
(get_meta/set_meta) live in the pages index's mapping ``_meta``. What API servers share (keys,
jobs, uploaded originals) lives in indices beside these: ``shared_state()``, see
docstore.opensearch.shared_state. Analysis and query shapes: see docstore.opensearch.queries; how
a search is sent (one round trip, hits carrying their pages): docstore.opensearch.search."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from docstore import feedback
from docstore.feedback import FeedbackPage
from docstore.fusion import fuse_hybrid
from docstore.opensearch import bulk_load as load
from docstore.opensearch import queries as q
from docstore.opensearch import search as s
from docstore.opensearch.bulk import bulk_pass
from docstore.opensearch.records import (
    hits_from,
    images_from_source,
    light_page,
    page_actions,
    page_from_source,
)
from docstore.opensearch.url import parse_opensearch_url
from docstore.protocol import StoreUnavailable
from docstore.schema import (
    DocumentInfo,
    FileFailure,
    Filters,
    Hit,
    Page,
    SearchMode,
    SearchRequest,
    check_image_kind,
)

if TYPE_CHECKING:
    from docstore.shared_state import SharedState

LANGUAGES_TTL = 30.0  # seconds a store trusts its list of the index's page languages
BULK_RETRY_SECONDS = 60.0  # how long a bulk write keeps sending again what the cluster cannot take yet
SHARD_WAIT_SECONDS = 30.0  # how long a call waits for shards that are starting (a new index, a promotion)
# 503s that mean "no copy of a shard is started yet": the request ran nowhere, so sending it again is safe
SHARDS_STARTING = {
    "no_shard_available_action_exception",
    "search_phase_execution_exception",
    "unavailable_shards_exception",
}


class OpenSearchStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._target = parse_opensearch_url(url)  # parses only: no I/O
        self.prefix = self._target.prefix
        self._refresh = self._target.refresh
        self.pages_index = f"{self.prefix}-pages"
        self.images_index = f"{self.prefix}-images"
        self.docs_index = f"{self.prefix}-docs"
        self.failures_index = f"{self.prefix}-failures"
        self.originals_index = f"{self.prefix}-originals"  # uploaded files (docstore.opensearch.originals)
        self._client: Any = None
        self._ready: set[str] = set()  # indices known to exist
        self._dim_known: int | None = None  # the vector field's size, once known to exist
        self._vector_copy: bool | None = None  # see _has_vector_copy
        self._stem_field: bool | None = None  # whether the pages index maps q.STEM_FIELD
        self._ref_field: bool | None = None  # whether the pages index maps q.REF_FIELD
        self._boxes_field = False  # the images index is known to map q.WORD_BOXES_FIELD
        self._languages: tuple[float, list[str]] | None = None  # (read at, languages present)
        self._loading = False  # inside bulk_load()
        self._left_over: bool | None = None  # the mapping holds a killed bulk load's record

    @property
    def client(self) -> Any:
        if self._client is None:
            from opensearchpy import OpenSearch

            from docstore.opensearch.serializer import OrjsonSerializer

            self._client = OpenSearch(**self._target.client_options(), serializer=OrjsonSerializer())
        return self._client

    @property
    def address(self) -> str:
        """The hosts, for messages (never the credentials)."""
        return self._target.address

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a client call; connection and auth failures become StoreUnavailable. A call that
        found no started copy of a shard (an index another process has just created, a replica
        being promoted) is sent again for up to SHARD_WAIT_SECONDS, then StoreUnavailable."""
        from opensearchpy import (
            AuthenticationException,
            AuthorizationException,
            ConnectionError,
            TransportError,
        )

        where = self.address
        delay, deadline = 0.05, time.monotonic() + SHARD_WAIT_SECONDS
        while True:
            try:
                return fn(*args, **kwargs)
            except ConnectionError as exc:
                raise StoreUnavailable(f"cannot reach OpenSearch at {where}: {exc.info or exc}") from exc
            except (AuthenticationException, AuthorizationException) as exc:
                raise StoreUnavailable(f"OpenSearch at {where} refused access: {exc.error}") from exc
            except TransportError as exc:
                if exc.status_code != 503 or exc.error not in SHARDS_STARTING:
                    raise
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailable(
                        f"OpenSearch at {where} has no started copy of a shard after"
                        f" {SHARD_WAIT_SECONDS:.0f}s: {exc.error}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def exists(self) -> bool:
        return any(
            bool(self.call(self.client.indices.exists, index=index))
            for index in (self.pages_index, self.docs_index)
        )

    def refresh(self) -> None:
        """Make every write so far visible to searches (for stores opened with refresh=false)."""
        self.call(self.client.indices.refresh, index=f"{self.prefix}-*", ignore_unavailable=True)

    def shared_state(self, keys_file: Path | None = None) -> SharedState:
        from docstore.opensearch.shared_state import index_shared_state

        return index_shared_state(self, keys_file)

    def storage(self) -> dict[str, int]:
        names = [
            self.pages_index,
            self.images_index,
            self.docs_index,
            self.failures_index,
            self.originals_index,
        ]
        found = self.call(
            self.client.transport.perform_request,
            "GET",
            f"/{','.join(names)}/_stats/store",
            params={"ignore_unavailable": "true"},
        )
        indices = found.get("indices", {}) if isinstance(found, dict) else {}
        return {
            name: int(stats.get("primaries", {}).get("store", {}).get("size_in_bytes", 0))
            for name, stats in sorted(indices.items())
        }

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._ready.clear()
        self._dim_known = None
        self._vector_copy = None
        self._stem_field = None
        self._ref_field = None
        self._boxes_field = False
        self._languages = None
        self._left_over = None

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Bulk-load mode for the block (docstore.opensearch.bulk_load): the pages and images
        indices without refresh or replicas, page writes a few requests at a time; their settings
        are put back when the block ends, however it ends (a killed process: see that module)."""
        self._loading = True
        try:
            load.begin(self)
            yield
        finally:
            self._loading = False
            self._left_over = False
            load.end(self)

    # -- indices -------------------------------------------------------------------------
    def create_index(self, index: str, mappings: dict[str, Any] | None = None) -> None:
        """Create one of the store's indices if missing, with the store's settings (each is created
        on first write); `mappings` for one beside the page indices (docstore.opensearch.side_index)."""
        from opensearchpy import RequestError

        if index in self._ready:
            return
        if not self.call(self.client.indices.exists, index=index):
            if mappings is None:
                mappings = {
                    self.pages_index: lambda: q.pages_mapping(None),
                    self.images_index: q.images_mapping,
                    self.docs_index: q.docs_mapping,
                    self.failures_index: q.failures_mapping,
                }[index]()
            body = {"settings": self.index_settings(index), "mappings": mappings}
            try:
                self.call(self.client.indices.create, index=index, body=body)
            except RequestError as exc:
                if exc.error != "resource_already_exists_exception":  # lost a race: fine
                    raise
            if self._loading and index in (self.pages_index, self.images_index):
                load.join(self, index)
        self._ready.add(index)

    def index_settings(self, index: str) -> dict[str, Any]:
        """Settings for a new index of this store: the URL's shards for the pages and images
        (the big ones), one shard for the small ones; the URL's replicas for all."""
        big = index in (self.pages_index, self.images_index)
        shards = self._target.shards if big else None
        return q.index_settings(knn=index == self.pages_index, shards=shards, replicas=self._target.replicas)

    def _mapping(self) -> dict[str, Any]:
        found = self.call(self.client.indices.get_mapping, index=self.pages_index, ignore=404)
        return dict(found.get(self.pages_index, {}).get("mappings", {}))

    def _has_vector_copy(self) -> bool:
        """Whether the pages index maps the stored vector copy (indices from before it do not)."""
        if self._vector_copy is None:
            self._dim()
        return bool(self._vector_copy)

    def _dim(self) -> int | None:
        """The pages index's vector size from its mapping; notes on the way whether the mapping
        has the vector copy, so a store's first write reads the mapping once."""
        mapping = self._mapping()
        properties = mapping.get("properties", {})
        self._left_over = load.LOAD_RECORD in mapping.get("_meta", {})
        self._vector_copy = q.VECTOR_COPY in properties
        self._stem_field = q.STEM_FIELD in properties
        self._ref_field = q.REF_FIELD in properties
        dim = properties.get("embedding", {}).get("dimension")
        return int(dim) if dim is not None else None

    def ensure(self, dim: int) -> None:
        field = q.knn_vector_field(dim)  # validates dim before any I/O
        if self._dim_known is None:
            self.create_index(self.pages_index)
            self._dim_known = self._dim()
            if self._dim_known is None:
                body = {"properties": {"embedding": field}}
                self.call(self.client.indices.put_mapping, index=self.pages_index, body=body)
                self._dim_known = dim
        if self._dim_known != dim:
            raise ValueError(
                f"{self.pages_index} holds {self._dim_known}-dim embeddings, not {dim}: use a new prefix"
            )

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        if key == "dim":  # the mapping is the truth
            dim = self._dim()
            return None if dim is None else str(dim)
        value = self._mapping().get("_meta", {}).get(key)
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        self.update_meta(key, value)

    def update_meta(self, key: str, value: Any) -> None:
        """Set (None: remove) one key of the pages index's mapping _meta, which is replaced as a
        whole: read, merge, write (it changes rarely)."""
        self.create_index(self.pages_index)
        meta = dict(self._mapping().get("_meta", {}))
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
        self.call(self.client.indices.put_mapping, index=self.pages_index, body={"_meta": meta})

    # -- failures ------------------------------------------------------------------------
    def get_failure(self, doc_id: str) -> FileFailure | None:
        found = self.call(self.client.get, index=self.failures_index, id=doc_id, ignore=404)
        return FileFailure(**found["_source"]) if found.get("found") else None

    def record_failure(self, failure: FileFailure) -> None:
        self.create_index(self.failures_index)
        self.call(
            self.client.index, index=self.failures_index, id=failure.doc_id, body=failure.model_dump(),
            refresh=self._refresh,
        )  # fmt: skip

    def clear_failure(self, doc_id: str) -> None:
        self.call(self.client.delete, index=self.failures_index, id=doc_id, refresh=self._refresh, ignore=404)

    # -- writes --------------------------------------------------------------------------
    def upsert_pages(self, pages: Sequence[Page]) -> None:
        if not pages:
            return
        first = next((p.embedding for p in pages if p.embedding is not None), None)
        if first is not None:
            self.ensure(len(first))
        else:
            self.create_index(self.pages_index)
        boxes = any(p.word_boxes is not None for p in pages)
        if boxes or any(p.image is not None or p.thumbnail is not None for p in pages):
            self.create_index(self.images_index)
        elif self.images_index not in self._ready and self.call(
            self.client.indices.exists, index=self.images_index
        ):
            self._ready.add(self.images_index)
        images = self.images_index if self.images_index in self._ready else None
        vector_copy = self._has_vector_copy()
        if self._left_over and not self._loading:  # a bulk load was killed: its settings go back first
            load.end(self)
            self._left_over = False
        known = ((q.STEM_FIELD, self._stem_field), (q.REF_FIELD, self._ref_field))
        if missing := [field for field, mapped in known if not mapped]:
            # an index from before these fields: map them (the mapping is strict)
            wanted = q.pages_mapping(None)["properties"]
            body = {"properties": {field: wanted[field] for field in missing}}
            self.call(self.client.indices.put_mapping, index=self.pages_index, body=body)
            self._stem_field = self._ref_field = True
        if boxes and not self._boxes_field:
            self._map_word_boxes()
        self._languages = None
        actions = page_actions(pages, self.pages_index, images, vector_copy)
        self.bulk(actions, False if self._loading else None)  # a load refreshes once, at its end

    def _map_word_boxes(self) -> None:
        """Map the word boxes field in an images index from before it (the mapping is strict)."""
        found = self.call(self.client.indices.get_mapping, index=self.images_index)
        if q.WORD_BOXES_FIELD not in found[self.images_index]["mappings"].get("properties", {}):
            body = {"properties": {q.WORD_BOXES_FIELD: q.images_mapping()["properties"][q.WORD_BOXES_FIELD]}}
            self.call(self.client.indices.put_mapping, index=self.images_index, body=body)
        self._boxes_field = True

    def bulk(self, actions: Iterable[dict[str, Any]], refresh: bool | str | None = None) -> None:
        """Write bulk actions. What the cluster cannot take yet (a node lost, a replica being
        promoted, a full queue) is sent again with backoff for up to BULK_RETRY_SECONDS, then
        StoreUnavailable; an item refused for good (a mapping error) raises BulkIndexError. Each
        action names its document by id, so one sent again replaces, never duplicates."""
        pending = list(actions)
        delay, deadline = 0.5, time.monotonic() + BULK_RETRY_SECONDS
        threads = load.LOAD_THREADS if self._loading else 1
        while pending:
            pending, reason = self.call(
                bulk_pass, self.client, pending, self._refresh if refresh is None else refresh, threads
            )
            if pending and time.monotonic() + delay > deadline:
                raise StoreUnavailable(
                    f"OpenSearch at {self.address} did not take {len(pending)} write(s)"
                    f" in {BULK_RETRY_SECONDS:.0f}s: {reason}"
                )
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 8.0)

    def begin_document(self, info: DocumentInfo) -> None:
        self.create_index(self.docs_index)
        doc = info.model_dump(exclude={"pages_stored"})
        doc["complete"] = False
        self.call(self.client.index, index=self.docs_index, id=info.doc_id, body=doc, refresh=self._refresh)

    def finish_document(self, doc_id: str) -> None:
        self.call(
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
        self._delete_where(self.originals_index, doc_id)
        self.call(self.client.delete, index=self.docs_index, id=doc_id, refresh=True, ignore=404)
        return removed

    def _delete_where(self, index: str, doc_id: str) -> int:
        # The scan sees refreshed pages only: pages written without a refresh (refresh=false, a bulk
        # load, a killed one) are made visible first, so none is left behind.
        self.call(self.client.indices.refresh, index=index, ignore_unavailable=True)
        body = {"query": {"term": {"doc_id": doc_id}}, "_source": False}
        found = [h["_id"] for h in self._scan(index, body)]
        if found:
            self.bulk(({"_op_type": "delete", "_index": index, "_id": i} for i in found), refresh=True)
        return len(found)

    def _scan(self, index: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every matching hit, by scroll; a missing index has none."""
        from opensearchpy import NotFoundError, helpers

        try:
            return list(self.call(lambda: list(helpers.scan(self.client, query=body, index=index))))
        except NotFoundError:
            return []

    # -- reads ---------------------------------------------------------------------------
    def search_index(self, index: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """A search that treats a missing index as empty (reads never create indices)."""
        result = self.call(self.client.search, index=index, body=body, ignore=404, **kwargs)
        if result.get("status") == 404:
            return {"hits": {"hits": []}}
        return dict(result)

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        found = self.list_documents(Filters(doc_id=doc_id))
        return found[0] if found else None

    def list_documents(self, filters: Filters | None = None) -> list[DocumentInfo]:
        records = [h["_source"] for h in self._scan(self.docs_index, q.build_docs_query(filters))]
        if not records:
            return []
        counts = self._pages_per_doc([r["doc_id"] for r in records])
        docs = [DocumentInfo(**r, pages_stored=counts.get(r["doc_id"], 0)) for r in records]
        return sorted(docs, key=lambda d: (d.collection, d.source, d.doc_id))

    def _pages_per_doc(self, doc_ids: list[str]) -> dict[str, int]:
        result = self.search_index(self.pages_index, q.build_pages_per_doc(doc_ids))
        buckets = result.get("aggregations", {}).get("per_doc", {}).get("buckets", [])
        return {b["key"]: int(b["doc_count"]) for b in buckets}

    def get_page(self, page_id: str, groups: list[str] | None = None) -> Page | None:
        hits = self.search_index(self.pages_index, q.build_pages_lookup([page_id], groups))["hits"]["hits"]
        if not hits:
            return None
        page = page_from_source(hits[0]["_source"])
        media = self._images(page_id, groups)
        return page.model_copy(update=media) if media else page

    def _images(self, page_id: str, groups: list[str] | None) -> dict[str, bytes]:
        hits = self.search_index(self.images_index, q.build_pages_lookup([page_id], groups))["hits"]["hits"]
        if not hits:
            return {}
        return images_from_source(hits[0]["_source"])

    def get_image(
        self, page_id: str, kind: Literal["image", "thumbnail"] = "image", groups: list[str] | None = None
    ) -> bytes | None:
        return self.get_images([page_id], kind, groups).get(page_id)

    def get_pages(self, page_ids: Sequence[str], groups: list[str] | None = None) -> list[Page]:
        wanted = list(dict.fromkeys(page_ids))
        if not wanted:
            return []
        light = {"excludes": ["embedding", q.VECTOR_COPY, q.STEM_FIELD]}
        result = self.search_index(self.pages_index, q.build_pages_lookup(wanted, groups, light))
        found = {h["_id"]: light_page(h["_source"]) for h in result["hits"]["hits"]}
        return [found[pid] for pid in wanted if pid in found]

    def get_images(
        self,
        page_ids: Sequence[str],
        kind: Literal["image", "thumbnail"] = "image",
        groups: list[str] | None = None,
    ) -> dict[str, bytes]:
        check_image_kind(kind)
        return self._media(page_ids, kind, groups)

    def get_word_boxes(self, page_ids: Sequence[str], groups: list[str] | None = None) -> dict[str, bytes]:
        return self._media(page_ids, q.WORD_BOXES_FIELD, groups)

    def _media(self, page_ids: Sequence[str], field: str, groups: list[str] | None) -> dict[str, bytes]:
        """One field of the images index by page_id, for the pages `groups` may see that have it."""
        wanted = list(dict.fromkeys(page_ids))
        if not wanted:
            return {}
        body = q.build_pages_lookup(wanted, groups, [field])
        hits = self.search_index(self.images_index, body)["hits"]["hits"]
        return {h["_id"]: blob for h in hits if (blob := images_from_source(h["_source"]).get(field))}

    def count(self, filters: Filters | None = None) -> int:
        result = self.call(
            self.client.count, index=self.pages_index, body=q.build_count_query(filters), ignore=404
        )
        return int(result.get("count", 0))

    def language_counts(self, filters: Filters | None = None) -> dict[str, int]:
        # the shard request cache serves it again until the next refresh
        result = self.search_index(self.pages_index, q.build_languages_query(filters), request_cache="true")
        buckets = result.get("aggregations", {}).get("languages", {}).get("buckets", [])
        return {str(b["key"]): int(b["doc_count"]) for b in buckets}

    # -- search --------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> list[Hit]:
        if request.mode == SearchMode.knn and request.vector is None:
            raise ValueError("knn search needs a query vector (embed the query first)")
        query = unicodedata.normalize("NFKC", request.query)
        want = request.offset + request.top_k
        if request.mode == SearchMode.bm25:
            languages = self._index_languages()
            expansion = self._feedback(query, request, languages) if request.feedback else None
            body = q.build_bm25_query(
                query,
                request.filters,
                size=request.top_k,
                offset=request.offset,
                languages=languages,
                expansion=expansion,
            )
            return self._ranked(body, request, query)
        if request.mode == SearchMode.knn:
            assert request.vector is not None
            if not self._has_vectors():
                return []
            body = q.build_knn_query(request.vector, want, request.filters, offset=request.offset)
            return self._ranked(body, request, query)
        return self._hybrid(query, request, want)

    def _feedback(self, query: str, request: SearchRequest, languages: list[str]) -> dict[str, float]:
        """The query's expansion from its best pages that the request may see (docstore.feedback)."""
        body = q.build_bm25_query(query, request.filters, size=feedback.DOCS, languages=languages)
        body["_source"] = ["title", "text", "language"]
        params = s.search_params(request, query)
        result = self.call(self.client.search, index=self.pages_index, body=body, ignore=404, **params)
        pages = []
        for hit in s.hits_of(result):
            page = hit["_source"]
            pages.append(FeedbackPage(page["title"], page["text"], page["language"], float(hit["_score"])))
        return feedback.expansion(pages, query, languages)

    def _index_languages(self) -> list[str]:
        """The page languages present, re-read after this store's own writes and at most every
        LANGUAGES_TTL seconds otherwise (other writers)."""
        cached = self._languages
        if cached is not None and time.monotonic() - cached[0] < LANGUAGES_TTL:
            return cached[1]
        languages = list(self.language_counts())
        self._languages = (time.monotonic(), languages)
        return languages

    def _has_vectors(self) -> bool:
        """kNN on an index without the vector field is an error; an empty store answers nothing."""
        if self._dim_known is None:
            self._dim_known = self._dim()
        return self._dim_known is not None

    def _hybrid(self, query: str, request: SearchRequest, want: int) -> list[Hit]:
        """BM25 and kNN ids and scores in one _msearch round trip, fused (docstore.fusion), then
        the window's pages in one multi-get."""
        vector = request.vector if self._has_vectors() else None
        languages = self._index_languages()
        lines = s.build_hybrid_msearch(self.pages_index, query, vector, request.filters, want, languages)
        result = self.call(self.client.msearch, body=lines, filter_path=s.MSEARCH_FILTER_PATH)
        lists = s.rankings(result)
        lexical = lists[0] if lists else []
        dense = lists[1] if len(lists) > 1 else None  # the kNN list, when there was a vector
        fused = fuse_hybrid(lexical, dense)[request.offset : want]
        if not fused:
            return []
        # The window's pages by id: a multi-get skips a search's query phase (the filters were
        # applied by the searches that found them); it reads the searchable copy, as they did.
        found = self.call(
            self.client.mget,
            index=self.pages_index,
            body={"ids": [pid for pid, _ in fused]},
            realtime="false",
            filter_path=s.MGET_FILTER_PATH,
        )
        sources = {d["_id"]: d["_source"] for d in found.get("docs", []) if d.get("found")}
        # a page deleted between the two requests is left out
        return hits_from([(sources[pid], score) for pid, score in fused if pid in sources], request)

    def _ranked(self, body: dict[str, Any], request: SearchRequest, query: str) -> list[Hit]:
        """One _search whose hits carry their pages (a missing index reads as empty)."""
        params = s.search_params(request, query)
        result = self.call(self.client.search, index=self.pages_index, body=body, ignore=404, **params)
        return hits_from([(h["_source"], float(h["_score"])) for h in s.hits_of(result)], request)

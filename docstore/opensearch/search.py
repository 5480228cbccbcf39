"""How the OpenSearch store asks for search hits: one round trip per search, lean responses.

- BM25 and kNN are one request each, their hits carrying the page fields in ``_source``. Hybrid
  sends the BM25 and kNN bodies together in one ``_msearch`` (the node runs them in parallel)
  for ids (from doc values) and scores only, each list at least docstore.fusion's normalisation depth, then reads
  the pages of the fused window by id: two round trips, but the pages of the window travel
  rather than those of both whole lists.
- ``_source`` comes back unfiltered: the stored source holds no JSON vector (see
  docstore.opensearch.queries) and image bytes live in the images index; ``filter_path`` drops
  the per-hit bookkeeping (_index, shard info, totals) the client would otherwise parse.
- ``request_cache`` keeps repeated searches (the same query re-run, a page re-opened) in the
  shard request cache, which OpenSearch invalidates on refresh, so it never serves stale hits.
  ``preference`` routes a given query and filters to the same shard copies every time: the
  cached entry is found again, and BM25 scores (which differ slightly between copies until
  merges catch up) stay the same from one results page to the next.
- Filters stay inside the queries (bool filter for BM25, the kNN clause's filter for vectors):
  see docstore.opensearch.queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from docstore.fusion import fusion_depth, knn_depth
from docstore.opensearch import queries as q
from docstore.schema import Filters, SearchRequest

HIT_FIELDS = ("_id", "_score", "_source")
SEARCH_FILTER_PATH = ",".join(f"hits.hits.{f}" for f in HIT_FIELDS)
# The hybrid's two rankings carry ids from doc values, not stored fields: a list 200 deep read
# from stored fields cost more than its search (2.5x a BM25 search's time at 100k pages).
RANKING_FIELDS = {"stored_fields": "_none_", "docvalue_fields": ["page_id"]}
MGET_FILTER_PATH = "docs._id,docs.found,docs._source"
# `status` keeps a response that found nothing in its place (filter_path drops empty ones), so the
# responses line up with the searches sent.
MSEARCH_FILTER_PATH = ",".join(
    [
        "responses.hits.hits._score",
        "responses.hits.hits.fields",
        "responses.error.type",
        "responses.error.reason",
        "responses.status",
    ]
)


def preference_for(query: str, filters: Filters | None) -> str:
    """A stable routing key per (query, filters); never starts with '_' (reserved values)."""
    key = query + "\x00" + (filters.model_dump_json() if filters is not None else "")
    return "folio-" + hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def search_params(request: SearchRequest, query: str) -> dict[str, Any]:
    """Query-string parameters for a single-mode _search."""
    return {
        "request_cache": "true",
        "preference": preference_for(query, request.filters),
        "filter_path": SEARCH_FILTER_PATH,
    }


def build_hybrid_msearch(
    index: str,
    query: str,
    vector: list[float] | None,
    filters: Filters | None,
    want: int,
    languages: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """_msearch lines for the two rankings the hybrid mode fuses, each as deep as docstore.fusion
    says, ids and scores only (kNN left out without a vector)."""
    depth = fusion_depth(want)
    header = {"index": index, "request_cache": True, "preference": preference_for(query, filters)}
    bm25 = q.build_bm25_query(query, filters, size=depth, languages=languages, source=False)
    lines: list[dict[str, Any]] = [dict(header), _ids_only(bm25)]
    if vector is not None:
        knn = q.build_knn_query(vector, knn_depth(want), filters, source=False)
        lines += [dict(header), _ids_only(knn)]
    return lines


def _ids_only(body: dict[str, Any]) -> dict[str, Any]:
    lean = {key: value for key, value in body.items() if key != "_source"}
    lean.update(RANKING_FIELDS)
    return lean


def hits_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The hits of one search response (filter_path drops `hits` entirely when there are none;
    a missing index reads as empty)."""
    return list(response.get("hits", {}).get("hits", []))


def responses_hits(result: dict[str, Any]) -> list[list[dict[str, Any]] | None]:
    """The hits of each search of an _msearch result, in order; None for a search of a missing
    index (reads never create indices). Any other failure of one search is raised, never read as
    no hits."""
    found: list[list[dict[str, Any]] | None] = []
    for response in result.get("responses", []):
        error = response.get("error")
        if error is None:
            found.append(hits_of(response))
        elif error.get("type") == "index_not_found_exception":
            found.append(None)
        else:
            raise RuntimeError(f"OpenSearch search failed: {error.get('type')}: {error.get('reason')}")
    return found


def rankings(result: dict[str, Any]) -> list[list[tuple[str, float]]]:
    """The (id, score) lists of an _msearch result, best first (searches of a missing index left
    out)."""
    return [
        [(h["fields"]["page_id"][0], float(h["_score"])) for h in hits]
        for hits in responses_hits(result)
        if hits is not None
    ]

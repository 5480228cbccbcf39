"""A client for any server speaking the Jina rerank contract (Folio's own `rerank-server`, Jina's
API, other compatible servers), with timeouts and retries with backoff on 429, 5xx and
connection errors. The HTTP client is created on first use (constructors never touch the network)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

import httpx
from pydantic import ValidationError

from reranker.dialects.jina import (
    CACHE_HITS_HEADER,
    RerankResponse,
    build_request_payload,
    scores_from_response,
)
from reranker.errors import BackendFailed, CandidateError
from reranker.types import Candidate, Query, RerankScores


class ServerDown(BackendFailed):
    """The server could not answer (unreachable, timed out, overloaded or failing), as opposed to a
    request it refused; a pool of servers fails over on this one. `busy`: the last answer was 429,
    or 503 with Retry-After (a full queue, a model still loading), and `retry_after` its seconds."""

    def __init__(self, message: str, *, busy: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.busy = busy
        self.retry_after = retry_after


_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_MAX_RETRY_AFTER_S = 30.0


class RemoteBackend:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        model: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        path: str = "/v1/rerank",
        health_path: str | None = "/healthz",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"a rerank server URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self.path = path
        self.health_path = health_path
        self._transport = transport
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"Accept": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._client = httpx.Client(
                base_url=self.base_url, headers=headers, timeout=self.timeout, transport=self._transport
            )
        return self._client

    shares_batches = False  # each call is one HTTP request; several may be in flight

    @property
    def model_name(self) -> str:
        return self.model or "jina-reranker-m0"

    def score_pairs(
        self, pairs: Sequence[tuple[Query, Candidate]], max_doc_tokens: int | None = None
    ) -> RerankScores:
        """One request per distinct query (the contract has one query per call), in the order given.
        `max_doc_tokens` is sent as `max_tokens_per_doc` (Folio's rerank server cuts documents by
        it; a server that ignores the field applies its own limit)."""
        if not pairs:
            return RerankScores(model=self.model_name, scores=[], pair_tokens=[])
        groups: dict[int, list[int]] = {}  # first position of a query -> positions sharing it
        first: dict[object, int] = {}
        for i, (query, _) in enumerate(pairs):
            key = _query_key(query)
            groups.setdefault(first.setdefault(key, i), []).append(i)
        scores: list[float | CandidateError] = [CandidateError("not scored")] * len(pairs)
        total, hits, model, start = 0, 0, self.model_name, time.perf_counter()
        for head, positions in groups.items():
            part = self._score_one(pairs[head][0], [pairs[i][1] for i in positions], max_doc_tokens)
            for i, s in zip(positions, part.scores, strict=True):
                scores[i] = s
            total, hits, model = total + part.total_tokens, hits + part.cache_hits, part.model
        timings = {"remote": (time.perf_counter() - start) * 1000}
        return RerankScores(
            model=model, scores=scores, total_tokens=total, timings_ms=timings, cache_hits=hits
        )

    def _score_one(
        self, query: Query, documents: Sequence[Candidate], max_doc_tokens: int | None = None
    ) -> RerankScores:
        try:
            payload = build_request_payload(
                query,
                documents,
                model=self.model,
                top_n=None,
                return_documents=False,
                max_tokens_per_doc=max_doc_tokens,
            )
        except (OSError, TypeError) as exc:
            raise BackendFailed(f"cannot encode the rerank request: {exc}") from exc
        response = self._post(payload)
        try:
            scored = scores_from_response(RerankResponse.model_validate(response.json()), len(documents))
        except (ValueError, ValidationError) as exc:
            raise BackendFailed(
                f"{self.base_url} sent a response that is not a Jina rerank response: {exc}"
            ) from exc
        scored.cache_hits = _cache_hits(response, len(documents))
        return scored

    def _post(self, payload: dict[str, object]) -> httpx.Response:
        last = ""
        for attempt in range(self.retries + 1):
            retry_after: float | None = None
            busy = False  # answered 429, or 503 with Retry-After
            try:
                response = self.client.post(self.path, json=payload)
            except httpx.TransportError as exc:  # connection refused / reset, timeouts
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                last = f"HTTP {response.status_code}: {_detail(response)}"
                if response.status_code not in _RETRY_STATUS:
                    raise BackendFailed(f"{self.base_url} rejected the rerank request ({last})")
                retry_after = _retry_after(response)
                busy = response.status_code == 429 or (
                    response.status_code == 503 and retry_after is not None
                )
            if attempt < self.retries:
                time.sleep(self._delay(attempt, retry_after))
        raise ServerDown(
            f"{self.base_url} failed after {self.retries + 1} attempts ({last})",
            busy=busy,
            retry_after=retry_after,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, _MAX_RETRY_AFTER_S)
        # exponential backoff with jitter, so many clients do not retry in lockstep
        return self.backoff * (2**attempt) * (0.5 + random.random() / 2)

    def ping(self, timeout: float = 5.0) -> bool:
        """The server's health route answers 200 within `timeout` (at most the request timeout)."""
        if not self.health_path:
            return True
        try:
            return self.client.get(self.health_path, timeout=min(self.timeout, timeout)).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _cache_hits(response: httpx.Response, documents: int) -> int:
    """The server's count of documents it had cached (0 from a server that does not say)."""
    value = response.headers.get(CACHE_HITS_HEADER, "")
    return min(int(value), documents) if value.isdigit() else 0


def _query_key(query: Query) -> object:
    """Equal queries share one request (ImageInput is frozen: equal when its image is)."""
    try:
        hash(query)
    except TypeError:  # an image object that cannot be hashed (a numpy array, say)
        return id(query)
    return query

"""`RemotePool`: one scorer over several rerank servers (`remote:URL1,URL2`).

The candidates of a call are split by rendezvous hashing of their content (`candidate_key`), so
each server sees a stable share of the corpus and its vision and prefix caches hold that share.
The parts go out in parallel and are merged back into the order given.

A server that fails (connection error, timeout, 408/429/5xx) is marked down for a cool-off and,
within the same call, its part goes to the next server in each candidate's own order. There are
no retries with backoff inside the pool: failing over is faster than waiting, so a dead server
costs one connection error. A busy server (429, or 503 with Retry-After: its queue is full) is
left out only for the Retry-After it asks, at most the cool-off, so its pages come back to it as
soon as it can take them. After its cool-off a server rejoins once `GET /healthz` answers 200.
A request the server refused as invalid (other 4xx) would be refused by every server, so it fails
the call at once. Only when every server has failed does the call raise `BackendFailed`.

Each server reports how many of its documents it had cached (`Folio-Cache-Hits`); the pool
counts them per server, beside requests, errors, pairs and latency (`server_stats`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from reranker.backends.remote import RemoteBackend, ServerDown
from reranker.errors import BackendFailed, CandidateError
from reranker.rendezvous import candidate_key, server_order
from reranker.types import Candidate, Query, RerankScores


@dataclass(frozen=True)
class ServerStats:
    url: str
    requests: int  # parts of calls sent to this server
    errors: int  # of those, the ones that failed
    overloaded: int  # of the errors, the server answering that it was busy (429, 503 with Retry-After)
    pairs: int  # pairs sent
    cache_hits: int  # of the pairs it scored, those whose document prefix it had cached
    latency_s: float  # total time of the requests, failed ones included
    up: bool  # not in a cool-off


@dataclass
class _State:
    requests: int = 0
    errors: int = 0
    overloaded: int = 0
    pairs: int = 0
    cache_hits: int = 0
    latency_s: float = 0.0
    down_until: float = 0.0  # time.monotonic(); 0: up


class RemotePool:
    shares_batches = False  # each part of a call is one HTTP request; calls may overlap

    def __init__(
        self,
        urls: Sequence[str],
        api_key: str | None = None,
        *,
        model: str | None = None,
        timeout: float = 60.0,
        cooloff_s: float = 5.0,
        health_timeout_s: float = 1.0,
        max_workers: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not urls:
            raise ValueError("a rerank pool needs at least one server URL")
        self.members = [
            # One attempt each: failing over to the next server is faster than a backoff.
            RemoteBackend(u, api_key, model=model, timeout=timeout, retries=0, transport=transport)
            for u in urls
        ]
        self.urls = [m.base_url for m in self.members]
        if len(set(self.urls)) != len(self.urls):
            raise ValueError(f"a rerank pool lists a server twice: {', '.join(self.urls)}")
        self.model = model
        self.cooloff_s = cooloff_s
        self.health_timeout_s = health_timeout_s
        # several engine calls may be in flight, each fanning out to every server
        self._max_workers = max_workers or 8 * len(urls)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._states = [_State() for _ in urls]

    @property
    def model_name(self) -> str:
        return self.model or "jina-reranker-m0"

    def score_pairs(
        self, pairs: Sequence[tuple[Query, Candidate]], max_doc_tokens: int | None = None
    ) -> RerankScores:
        if not pairs:
            return RerankScores(model=self.model_name, scores=[], pair_tokens=[])
        start = time.perf_counter()
        orders = [server_order(candidate_key(c), self.urls) for _, c in pairs]
        scores: list[float | CandidateError] = [CandidateError("not scored")] * len(pairs)
        pending = list(range(len(pairs)))
        failed: set[int] = set()  # servers that failed during this call
        errors: list[str] = []
        total, hits, model = 0, 0, self.model_name
        while pending:
            up = {s for s in range(len(self.urls)) if s not in failed and self._usable(s)}
            parts: dict[int, list[int]] = {}
            for pos in pending:
                server = _pick(orders[pos], up, failed)
                if server is None:
                    raise BackendFailed(f"every rerank server failed: {'; '.join(errors)}")
                parts.setdefault(server, []).append(pos)
            pending = []
            for server, positions, outcome in self._run(parts, pairs, max_doc_tokens):
                if isinstance(outcome, ServerDown):
                    failed.add(server)
                    errors.append(str(outcome))
                    pending.extend(positions)
                    continue
                for pos, score in zip(positions, outcome.scores, strict=True):
                    scores[pos] = score
                total, hits, model = total + outcome.total_tokens, hits + outcome.cache_hits, outcome.model
        timings = {"remote": (time.perf_counter() - start) * 1000}
        return RerankScores(
            model=model, scores=scores, total_tokens=total, timings_ms=timings, cache_hits=hits
        )

    def _run(
        self,
        parts: dict[int, list[int]],
        pairs: Sequence[tuple[Query, Candidate]],
        max_doc_tokens: int | None,
    ) -> list[tuple[int, list[int], RerankScores | ServerDown]]:
        """Every part on its server, in parallel (the first in this thread). Raises the first error
        that is not a server being down."""
        items = list(parts.items())
        futures: list[Future[RerankScores | ServerDown]] = [
            self._pool().submit(self._score_on, s, [pairs[i] for i in pos], max_doc_tokens)
            for s, pos in items[1:]
        ]
        first = self._score_on(items[0][0], [pairs[i] for i in items[0][1]], max_doc_tokens)
        outcomes = [first, *(f.result() for f in futures)]
        return [(s, pos, out) for (s, pos), out in zip(items, outcomes, strict=True)]

    def _score_on(
        self, server: int, pairs: list[tuple[Query, Candidate]], max_doc_tokens: int | None
    ) -> RerankScores | ServerDown:
        start = time.perf_counter()
        try:
            result = self.members[server].score_pairs(pairs, max_doc_tokens)
        except ServerDown as exc:
            self._record(server, len(pairs), start, down=exc)
            return exc
        except BaseException:  # a refused request: an error of this server's, yet not a sign it is down
            self._record(server, len(pairs), start, failed=True)
            raise
        self._record(server, len(pairs), start, hits=result.cache_hits)
        return result

    def _record(
        self,
        server: int,
        pairs: int,
        start: float,
        *,
        hits: int = 0,
        failed: bool = False,
        down: ServerDown | None = None,
    ) -> None:
        with self._lock:
            st = self._states[server]
            st.requests += 1
            st.pairs += pairs
            st.cache_hits += hits
            st.errors += failed or down is not None
            st.latency_s += time.perf_counter() - start
            if down is not None:
                st.overloaded += down.busy
                cooloff = self.cooloff_s
                if down.busy and down.retry_after is not None:
                    cooloff = min(cooloff, down.retry_after)
                st.down_until = time.monotonic() + cooloff

    def _usable(self, server: int) -> bool:
        """Up, or back from its cool-off and healthy. The thread that finds a cool-off over claims
        the health check by extending the cool-off first, so concurrent calls do not all probe."""
        now = time.monotonic()
        with self._lock:
            st = self._states[server]
            if st.down_until == 0.0:
                return True
            if now < st.down_until:
                return False
            st.down_until = now + self.cooloff_s
        healthy = self.members[server].ping(self.health_timeout_s)
        if healthy:
            with self._lock:
                self._states[server].down_until = 0.0
        return healthy

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="folio-rerank-pool")
            return self._executor

    def server_stats(self) -> list[ServerStats]:
        now = time.monotonic()
        with self._lock:
            return [
                ServerStats(
                    url,
                    st.requests,
                    st.errors,
                    st.overloaded,
                    st.pairs,
                    st.cache_hits,
                    st.latency_s,
                    st.down_until <= now,
                )
                for url, st in zip(self.urls, self._states, strict=True)
            ]

    def ping(self) -> bool:
        """Ready when any server is."""
        return any(m.ping(self.health_timeout_s) for m in self.members)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        for member in self.members:
            member.close()


def _pick(order: list[int], up: set[int], failed: set[int]) -> int | None:
    """The first server of a candidate's order that is up; when none is, the first one in a
    cool-off that has not failed in this call (a cool-off is a guess, and a call should not fail
    without trying every server)."""
    for s in order:
        if s in up:
            return s
    return next((s for s in order if s not in failed), None)

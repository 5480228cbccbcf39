"""The local m0 model as a backend whose concurrent callers share model batches (through a
`DynamicBatcher`), e.g. the threads of a web server reranking different searches at once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from reranker.batcher import DynamicBatcher, PairScorer, QueueFull
from reranker.types import Candidate, Query, RerankError, RerankOutput, RerankResult


class BatchedLocalBackend:
    name = "local"

    def __init__(
        self,
        model: PairScorer,
        *,
        max_queue: int = 64,
        max_batch_pairs: int = 64,
        window_ms: float = 2.0,
        timeout: float = 120.0,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.batcher = DynamicBatcher(
            model, max_queue=max_queue, max_batch_pairs=max_batch_pairs, window_ms=window_ms
        )

    @property
    def model_name(self) -> str:
        return str(getattr(self.model, "model_name", "jina-reranker-m0"))

    def rerank(
        self,
        query: Query,
        documents: Sequence[Candidate],
        top_n: int | None = None,
        return_documents: bool = False,
    ) -> RerankOutput:
        start = time.perf_counter()
        try:
            scores = self.batcher.score([(query, d) for d in documents], timeout=self.timeout)
        except QueueFull as exc:
            raise RerankError(str(exc)) from exc
        except TimeoutError as exc:
            raise RerankError(f"reranking took longer than {self.timeout:g}s") from exc
        except RerankError:
            raise
        except Exception as exc:  # the batch failed as a whole
            raise RerankError(f"reranking failed: {exc}") from exc
        results = [_result(i, s, documents[i] if return_documents else None) for i, s in enumerate(scores)]
        # scored ones by score, failed ones last (in the order given)
        results.sort(key=lambda r: (r.error is not None, -r.relevance_score, r.index))
        if top_n is not None:
            results = results[:top_n]
        out = RerankOutput(model=self.model_name, results=results)
        out.timings_ms["total"] = (time.perf_counter() - start) * 1000
        return out

    def ping(self) -> bool:
        ping = getattr(self.model, "ping", None)
        return bool(ping()) if callable(ping) else True

    def close(self) -> None:
        self.batcher.close()
        close = getattr(self.model, "close", None)
        if callable(close):
            close()


def _result(index: int, score: Any, document: Candidate | None) -> RerankResult:
    if isinstance(score, int | float):
        return RerankResult(index=index, relevance_score=float(score), document=document)
    return RerankResult(index=index, relevance_score=0.0, document=document, error=str(score))

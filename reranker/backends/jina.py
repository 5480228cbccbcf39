"""Jina's hosted rerank API (https://api.jina.ai/v1/rerank), which serves jina-reranker-m0 among
other models. The key comes from the argument or the JINA_API_KEY environment variable."""

from __future__ import annotations

import os

from reranker.backends.remote import RemoteBackend
from reranker.errors import BackendFailed, RerankError

JINA_API_URL = "https://api.jina.ai"
DEFAULT_JINA_MODEL = "jina-reranker-m0"


class JinaBackend(RemoteBackend):
    def __init__(
        self,
        model: str | None = None,
        api_key: str | None = None,
        *,
        base_url: str = JINA_API_URL,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        key = api_key or os.environ.get("JINA_API_KEY")
        if not key:
            raise BackendFailed("the jina backend needs an API key: set JINA_API_KEY (see https://jina.ai)")
        super().__init__(
            base_url,
            key,
            model=model or DEFAULT_JINA_MODEL,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            health_path=None,  # Jina has no health route; a rerank call is the only real check
        )

    def ping(self, timeout: float = 5.0) -> bool:
        """A one-pair rerank (costs a few tokens; the client's own timeout applies): the API is
        reachable and the key is valid."""
        try:
            self.score_pairs([("ping", "ping")])
        except RerankError:
            return False
        return True

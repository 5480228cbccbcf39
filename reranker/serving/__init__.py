"""Serving rerank calls: the engine (admission, queue, batching, deadline), the one rerank router
(Jina's `/v1/rerank`, Cohere's `/v2/rerank`, vLLM's `/score`, `/v1/models`), and the rerank server
app. No torch at module level."""

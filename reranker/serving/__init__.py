"""Serving rerank calls: the engine (admission, queue, batching, deadline), the one `/v1/rerank`
router, and the rerank server app. No torch at module level."""

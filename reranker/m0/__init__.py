"""jina-reranker-m0 on transformers' Qwen2-VL classes: everything here needs torch (model, loading,
vision, caches, preparation, runner, pipeline, tokens). Import `reranker.m0.reranker.M0Reranker`
(or `from reranker import M0Reranker`)."""

"""The rerank dialects Folio serves, one module each holding the dialect's wire schema (pydantic
models, conversions to and from Folio's reranker types) and its routes (`add_routes(router, calls)`):
Jina's contract (`jina`), Cohere's v2 (`cohere`), vLLM's score and model list (`vllm`). The one
rerank router (reranker.serving.router) mounts them from its list of dialects. `vllm_inputs` holds
the input forms of vLLM's clients that the Jina route accepts too. No torch at module level."""

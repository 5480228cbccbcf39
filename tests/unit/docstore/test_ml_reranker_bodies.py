"""The bodies `folio opensearch install-reranker` sends (pure builders; the node is in
tests/integration/test_opensearch_rerank_pipeline.py)."""

from __future__ import annotations

import re

import pytest

from docstore.fusion import RRF_K
from docstore.opensearch import ml_reranker as ml
from docstore.opensearch.queries import REF_FIELD

SPEC = ml.RerankerSpec("http://reranker.example:8081/", api_key="s3cret")


def test_the_trusted_entry_admits_exactly_the_rerank_endpoint() -> None:
    entry = ml.endpoint_regex(SPEC.endpoint)
    assert SPEC.endpoint == "http://reranker.example:8081/v1/rerank"
    assert re.fullmatch(entry, SPEC.endpoint)
    for other in ("http://reranker.example:8081/v1/rerank/x", "http://rerankerXexample:8081/v1/rerank",
                  "http://evil.test/?http://reranker.example:8081/v1/rerank"):  # fmt: skip
        assert not re.search(entry, other), other


def test_connector_uses_the_built_in_cohere_functions_and_keeps_the_key_out_of_its_parameters() -> None:
    digest = SPEC.digest("salt")
    body = ml.connector_body(SPEC, digest, private=False, set_private_ip=False, trusted_default=["^x$"])
    action = body["actions"][0]
    assert action["url"] == SPEC.endpoint and action["method"] == "POST"
    assert action["pre_process_function"] == "connector.pre_process.cohere.rerank"
    assert action["post_process_function"] == "connector.post_process.cohere.rerank"
    assert action["headers"]["Authorization"] == "Bearer ${credential.api_key}"
    assert body["credential"] == {"api_key": "s3cret"}
    assert "s3cret" not in str(body["parameters"]) and body["parameters"][ml.SPEC_PARAM] == digest
    assert all(isinstance(v, str) for v in body["parameters"].values())  # ML Commons takes strings
    for field in ("${parameters.query}", "${parameters.documents}", "${parameters.top_n}"):
        assert field in action["request_body"]
    keyless = ml.connector_body(ml.RerankerSpec("http://r:8081"), "d", False, False, None)
    assert "Authorization" not in keyless["actions"][0]["headers"]


def test_the_digest_tells_settings_apart_without_holding_the_key() -> None:
    assert SPEC.digest("a") == SPEC.digest("a") != SPEC.digest("b")
    other_key = ml.RerankerSpec(SPEC.reranker_url, api_key="other")
    assert other_key.digest("a") != SPEC.digest("a")
    assert "s3cret" not in SPEC.digest("a")


def test_the_pipeline_fuses_hybrid_queries_as_folio_does_and_reranks_by_reference() -> None:
    body = ml.pipeline_body(SPEC, "model-1")
    ranker = body["phase_results_processors"][0]["score-ranker-processor"]["combination"]
    assert ranker == {"technique": "rrf", "parameters": {"rank_constant": RRF_K}}  # 2.19
    on_3 = ml.pipeline_body(SPEC, "model-1", major=3)["phase_results_processors"][0]
    assert on_3["score-ranker-processor"]["combination"] == {"technique": "rrf", "rank_constant": RRF_K}
    rerank = body["response_processors"][0]["rerank"]
    assert rerank["ml_opensearch"] == {"model_id": "model-1"}
    assert rerank["context"] == {"document_fields": [REF_FIELD]}
    assert rerank["ignore_failure"] is True and rerank["tag"] == SPEC.name
    strict = ml.pipeline_body(ml.RerankerSpec("http://r:8081", fail_when_down=True), "m")
    assert "ignore_failure" not in strict["response_processors"][0]["rerank"]


@pytest.mark.parametrize("url", ["ftp://r:21", "r:8081", "http://r:8081/?x=1", "http://:8081"])
def test_bad_reranker_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        ml.validate_url(url)


@pytest.mark.parametrize("name", ["", "Folio", "a b", "-x", "x/y"])
def test_bad_pipeline_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        ml.validate_pipeline(name)


def test_private_hosts() -> None:
    assert ml.is_private_host("127.0.0.1") and ml.is_private_host("10.1.2.3") and ml.is_private_host("::1")
    assert not ml.is_private_host("8.8.8.8")

"""The Elasticsearch recipe (docs/elasticsearch.md) against a real rerank server on the tiny m0
checkpoint: the `custom` inference endpoint's definition is read from the doc itself, its request
template, URL and headers rendered as Elastic documents templates (`${query}` a JSON string,
`${input}` a JSON array of strings, other names from `secret_parameters`; no quotes around them),
sent over HTTP, and the answer read with the definition's JSON paths. No Elasticsearch runs here:
this checks Folio's side of the contract only, as the doc says."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from docstore.candidates import page_ref
from reranker.serving.server import RerankServerSettings, create_rerank_app
from tests.fixtures.paths import REPO
from tests.integration.page_refs_store import NOTE, PDF, SCAN, b64, fill
from tests.integration.rerank_http import serve_app

KEY = "es-key"
QUERY = "solar panel efficiency"
DOCS = ["a note on photosynthesis in plants", "quarterly revenue table", "solar panel yield by month"]


def _endpoint() -> dict[str, Any]:
    """The body of the doc's `PUT _inference/rerank/folio-m0`, as written there."""
    text = (REPO / "docs" / "elasticsearch.md").read_text()
    opening = "```console\nPUT _inference/rerank/folio-m0\n"
    start = text.index(opening) + len(opening)
    return dict(json.loads(text[start : text.index("```", start)]))


def _render(template: str, values: dict[str, Any]) -> str:
    """Every `${name}` replaced by its value; a name without one fails, as Elasticsearch refuses it."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"the template uses ${{{name}}}, which Elasticsearch would not know"
        return str(values[name])

    return re.sub(r"\$\{([^}]+)\}", value, template)


def _json_path(doc: Any, path: str) -> list[Any]:
    """The values at `path` in the subset of JSONPath the recipe uses: `$`, `.name`, `[*]`."""
    steps = r"\.([A-Za-z_]\w*)|(\[\*\])"
    assert path.startswith("$") and re.fullmatch(f"(?:{steps})*", path[1:]), path
    found = [doc]
    for name, star in re.findall(steps, path[1:]):
        found = [x for item in found for x in item] if star else [item[name] for item in found]
    return found


def _call(
    base: str, query: str, documents: list[str], api_key: str = KEY
) -> tuple[int, list[int], list[float]]:
    """What the endpoint does for one rerank: (status, indices, scores) read with its JSON paths."""
    settings = _endpoint()["service_settings"]
    values = {**settings["secret_parameters"], "api_key": api_key}
    values.update(query=json.dumps(query), input=json.dumps(documents))
    url = urlsplit(_render(settings["url"], values))
    headers = {k: _render(v, values) for k, v in settings["headers"].items()}
    body = _render(settings["request"], values)
    r = httpx.post(base + url.path, content=body.encode(), headers=headers, timeout=60)
    if r.status_code != 200:
        return r.status_code, [], []
    parser = settings["response"]["json_parser"]
    answer = r.json()
    return 200, _json_path(answer, parser["reranked_index"]), _json_path(answer, parser["relevance_score"])


@pytest.fixture(scope="module")
def server(tiny_m0_cpu: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = f"sqlite:///{tmp_path_factory.mktemp('es')}/folio.db"
    fill(store)
    settings = RerankServerSettings(api_key=KEY, batch_window_ms=0, store_url=store)
    with serve_app(create_rerank_app(settings, scorer=tiny_m0_cpu)) as url:
        yield url


def _jina(base: str, documents: list[Any]) -> dict[int, float]:
    r = httpx.post(
        f"{base}/v1/rerank", json={"query": QUERY, "documents": documents},
        headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return {x["index"]: x["relevance_score"] for x in r.json()["results"]}


def test_the_endpoint_definition_is_a_custom_rerank_service() -> None:
    endpoint = _endpoint()
    assert endpoint["service"] == "custom"
    settings = endpoint["service_settings"]
    assert urlsplit(settings["url"]).path == "/v1/rerank"
    assert set(settings["response"]["json_parser"]) == {"reranked_index", "relevance_score"}
    json.loads(_render(settings["request"], {"query": '"q"', "input": '["a"]'}))  # valid JSON once rendered


def test_the_rendered_request_gets_one_float_score_per_document(server: str) -> None:
    status, indices, scores = _call(server, QUERY, DOCS)
    assert status == 200
    assert sorted(indices) == list(range(len(DOCS))) and len(scores) == len(DOCS)
    assert all(isinstance(s, float) for s in scores)
    expected = _jina(server, DOCS)
    for i, s in zip(indices, scores, strict=True):
        assert s == pytest.approx(expected[i], abs=1e-6)
    assert scores == sorted(scores, reverse=True)  # best first; Elasticsearch matches them by index


def test_page_references_score_as_their_pages(server: str) -> None:
    refs = [page_ref(PDF.page_id), page_ref(NOTE.page_id), page_ref(SCAN.page_id)]
    status, indices, scores = _call(server, QUERY, refs)
    assert status == 200 and sorted(indices) == [0, 1, 2]
    assert PDF.image is not None
    direct = _jina(server, [{"image": b64(PDF.image)}, {"text": NOTE.text}, {"text": SCAN.text}])
    for i, s in zip(indices, scores, strict=True):
        assert s == pytest.approx(direct[i], abs=1e-6)


def test_a_wrong_key_is_refused(server: str) -> None:
    assert _call(server, QUERY, DOCS, api_key="not-the-key")[0] == 401

"""docker-compose.cluster.yml holds together: the OpenSearch nodes name each other as one cluster,
every API replica's store URL names every node with the shards and replicas of a cluster, its
reranker names every rerank server, and the reverse proxy's upstream is every API replica. (No
Docker engine here: the file is read as YAML, the way Compose reads it before it runs anything.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from docstore.opensearch.url import parse_opensearch_url

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.cluster.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(COMPOSE.read_text())
    return dict(doc["services"])


def _default(value: str) -> str:
    """The default of a `${NAME:-default}` value (the value itself when it has none)."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def _named(services: dict[str, dict[str, Any]], prefix: str) -> list[str]:
    return sorted(name for name in services if re.fullmatch(rf"{prefix}-\d+", name))


def test_three_opensearch_nodes_form_one_cluster(services: dict[str, dict[str, Any]]) -> None:
    nodes = _named(services, "opensearch")
    assert len(nodes) == 3
    single = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["opensearch"]
    for name in nodes:
        node = services[name]
        env = node["environment"]
        assert node["image"] == single["image"]
        assert env["node.name"] == name and env["cluster.name"] == "folio"
        assert env["discovery.seed_hosts"].split(",") == nodes
        assert env["cluster.initial_cluster_manager_nodes"].split(",") == nodes
        assert "discovery.type" not in env and env["DISABLE_SECURITY_PLUGIN"] == "true"
        assert any(v.endswith(":/usr/share/opensearch/data") for v in node["volumes"])
    data = [v.split(":")[0] for n in nodes for v in services[n]["volumes"]]
    assert len(set(data)) == 3  # a data volume each


def test_api_replicas_share_the_cluster_and_the_rerank_pool(services: dict[str, dict[str, Any]]) -> None:
    replicas = _named(services, "api")
    rerankers = _named(services, "reranker")
    assert len(replicas) == 2 and len(rerankers) >= 2
    for name in replicas:
        env = services[name]["environment"]
        assert services[name]["command"][:2] == ["folio", "serve"]
        target = parse_opensearch_url(_default(env["FOLIO_STORE"]))
        assert target.hosts == [(node, 9200) for node in _named(services, "opensearch")]
        assert (target.shards, target.replicas) == (3, 1)
        kind, _, urls = _default(env["FOLIO_RERANKER"]).partition(":")
        assert kind == "remote" and urls.split(",") == [f"http://{r}:8081" for r in rerankers]
        assert "ports" not in services[name]  # reached through the proxy only
    for name in rerankers:
        reranker = services[name]
        assert reranker["profiles"] == ["gpu"] and reranker["command"][:2] == ["folio", "rerank-server"]
        assert reranker["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    gpus = [services[r]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] for r in rerankers]
    assert len({tuple(g) for g in gpus}) == len(rerankers)  # a GPU each


def test_the_proxy_spreads_over_every_api_replica(services: dict[str, dict[str, Any]]) -> None:
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    source, target = proxy["volumes"][0].split(":")[:2]
    assert target.startswith("/etc/nginx/templates/")
    config = (REPO / source).read_text()
    upstream = re.findall(r"^\s*server\s+([\w-]+):8080\b", config, re.MULTILINE)
    assert upstream == _named(services, "api")
    assert "${FOLIO_MAX_UPLOAD_MB}" in config and "FOLIO_MAX_UPLOAD_MB" in proxy["environment"]
    assert set(proxy["depends_on"]) == set(_named(services, "api"))

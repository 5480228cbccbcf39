"""Store URLs naming the nodes of a cluster, and the index settings they ask for (no I/O)."""

from __future__ import annotations

import pytest

from docstore.opensearch.store import OpenSearchStore
from docstore.opensearch.url import parse_opensearch_url

CLUSTER = "opensearch://127.0.0.1:9300,127.0.0.1:9301,127.0.0.1:9302?prefix=folio&shards=3&replicas=1"


def test_several_hosts_shards_and_replicas() -> None:
    target = parse_opensearch_url(CLUSTER)
    assert target.hosts == [("127.0.0.1", 9300), ("127.0.0.1", 9301), ("127.0.0.1", 9302)]
    assert (target.shards, target.replicas, target.prefix) == (3, 1, "folio")
    assert target.address == "http://127.0.0.1:9300,127.0.0.1:9301,127.0.0.1:9302"
    options = target.client_options()
    assert options["hosts"] == [
        {"host": "127.0.0.1", "port": p, "scheme": "http"} for p in (9300, 9301, 9302)
    ]
    # every host may be tried once more than the first, and a node that hangs counts as down
    assert options["max_retries"] == 3 and options["retry_on_timeout"] is True


def test_one_host_keeps_failing_fast() -> None:
    options = parse_opensearch_url("opensearch://localhost:9200").client_options()
    assert options["max_retries"] == 1 and options["retry_on_timeout"] is False
    target = parse_opensearch_url("opensearch://localhost:9200")
    assert (target.shards, target.replicas) == (None, None)


def test_hosts_without_ports_credentials_and_ipv6() -> None:
    target = parse_opensearch_url(
        "opensearchs://admin:p%40ss@a.example,b.example:9201,[::1]:9202?verify=false"
    )
    assert target.hosts == [("a.example", 9200), ("b.example", 9201), ("::1", 9202)]
    assert target.client_options()["http_auth"] == ("admin", "p@ss")
    assert target.address == "https://a.example:9200,b.example:9201,[::1]:9202"
    assert "p@ss" not in target.address and "admin" not in target.address
    assert all(h["scheme"] == "https" for h in target.client_options()["hosts"])


@pytest.mark.parametrize(
    "url",
    ["opensearch://a:9200,,b:9201", "opensearch://a:9200,b:99999", "opensearch://a:9200,a:9200",
     "opensearch://h?shards=0", "opensearch://h?shards=two", "opensearch://h?replicas=-1",
     "opensearch://h?replicas=", "opensearch://a:9200,:9201"],
)  # fmt: skip
def test_bad_cluster_urls_raise_a_clear_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        parse_opensearch_url(url)


def test_index_settings_follow_the_url() -> None:
    store = OpenSearchStore(CLUSTER)  # parses only
    pages = store.index_settings(store.pages_index)["index"]
    assert (pages["number_of_shards"], pages["number_of_replicas"], pages["knn"]) == (3, 1, True)
    assert "auto_expand_replicas" not in pages
    images = store.index_settings(store.images_index)["index"]
    assert (images["number_of_shards"], images["number_of_replicas"]) == (3, 1) and "knn" not in images
    docs = store.index_settings(store.docs_index)["index"]  # small: one shard, still copied
    assert (docs["number_of_shards"], docs["number_of_replicas"]) == (1, 1)

    # unset: one shard, and a copy when the cluster has a node for it
    plain = OpenSearchStore("opensearch://localhost:9200")
    settings = plain.index_settings(plain.pages_index)["index"]
    assert settings["number_of_shards"] == 1 and settings["auto_expand_replicas"] == "0-1"
    assert "number_of_replicas" not in settings

    zero = OpenSearchStore("opensearch://localhost:9200?replicas=0")
    assert zero.index_settings(zero.docs_index)["index"]["number_of_replicas"] == 0

"""Rendezvous routing of candidates onto rerank servers: stable keys, stable orders, and a server
leaving moves only its own keys."""

from __future__ import annotations

import io
from collections import Counter

from PIL import Image

from reranker.backends import make_backend
from reranker.backends.pool import RemotePool
from reranker.backends.remote import RemoteBackend
from reranker.rendezvous import candidate_key, server_order, split
from reranker.types import ImageInput, TextInput, WireImage

SERVERS = ["http://a:8081", "http://b:8081", "http://c:8081"]
KEYS = [candidate_key(f"page {i}") for i in range(600)]


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def test_candidate_keys_follow_content() -> None:
    assert candidate_key("a page") == candidate_key(TextInput("a page")) != candidate_key("another page")
    red = _png("red")
    assert candidate_key(ImageInput(red)) == candidate_key(ImageInput(bytes(red)))
    assert candidate_key(ImageInput(red)) != candidate_key(ImageInput(_png("blue")))
    assert candidate_key(ImageInput(WireImage("abc"))) == candidate_key(ImageInput("abc"))
    # the same string as text and as an image are different candidates
    assert candidate_key("abc") != candidate_key(ImageInput("abc"))
    decoded = Image.open(io.BytesIO(red))
    assert candidate_key(ImageInput(decoded)) == candidate_key(ImageInput(decoded.copy()))
    # a known value: keys do not depend on the process (no salted hash)
    assert candidate_key("x") == "text:442a44457137672b3218c1007dc8f76a"


def test_order_is_stable_and_independent_of_list_order() -> None:
    for key in KEYS[:50]:
        order = server_order(key, SERVERS)
        assert sorted(order) == [0, 1, 2]
        assert order == server_order(key, SERVERS)
        reversed_servers = SERVERS[::-1]
        assert [reversed_servers[i] for i in server_order(key, reversed_servers)] == [
            SERVERS[i] for i in order
        ]


def test_split_is_balanced_and_covers_every_key() -> None:
    parts = split(KEYS, SERVERS)
    assert sorted(p for part in parts.values() for p in part) == list(range(len(KEYS)))
    assert all(150 < len(part) < 250 for part in parts.values())  # ~200 each
    assert all(server_order(KEYS[p], SERVERS)[0] == s for s, part in parts.items() for p in part)


def test_a_server_leaving_moves_only_its_keys_spread_over_the_others() -> None:
    before = split(KEYS, SERVERS)
    survivors = [SERVERS[0], SERVERS[2]]
    after = {survivors[s]: set(part) for s, part in split(KEYS, survivors).items()}
    for s in (0, 2):
        assert set(before[s]) <= after[SERVERS[s]]  # nobody else's keys move
    moved = Counter(SERVERS[server_order(KEYS[p], SERVERS)[1]] for p in before[1])
    assert set(moved) == set(survivors) and min(moved.values()) > len(before[1]) // 4
    # each moved key goes to its own next server
    assert all(p in after[SERVERS[server_order(KEYS[p], SERVERS)[1]]] for p in before[1])


def test_make_backend_builds_a_pool_for_several_urls() -> None:
    pool = make_backend("remote:http://a:8081, http://b:8081/", timeout=3.0, retries=5)
    assert isinstance(pool, RemotePool)
    assert pool.urls == ["http://a:8081", "http://b:8081"]
    assert pool.shares_batches is False and pool.model_name == "jina-reranker-m0"
    assert all(m.retries == 0 and m.timeout == 3.0 for m in pool.members)
    assert [s.up for s in pool.server_stats()] == [True, True]
    assert type(make_backend("remote:http://a:8081")) is RemoteBackend

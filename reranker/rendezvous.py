"""Rendezvous (highest-random-weight) hashing of rerank candidates onto a pool of servers.

Every (server, key) pair gets a pseudo-random weight; a key's order of servers is by weight, best
first. The same key always reaches the same server while it is up, so each server's vision and
prefix caches hold a stable share of the corpus; when a server leaves, only its keys move (each to
its own next server), spread over the others instead of all landing on one neighbour."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from reranker.types import Candidate, ImageInput, TextInput, WireImage


def candidate_key(candidate: Candidate) -> str:
    """A stable key of a candidate's content: equal content, equal key, in every process (Python's
    own `hash` is salted per process, so it cannot be used). Text and image keys never collide."""
    if isinstance(candidate, str):
        return "text:" + _digest(candidate.encode())
    if isinstance(candidate, TextInput):
        return "text:" + _digest(candidate.text.encode())
    return "image:" + _image_digest(candidate)


def _image_digest(candidate: ImageInput) -> str:
    image = candidate.image
    if isinstance(image, bytes | bytearray | memoryview):
        return _digest(bytes(image))
    if isinstance(image, WireImage):
        return _digest(image.text.encode())
    if isinstance(image, str | os.PathLike):
        return _digest(os.fspath(image).encode())
    from PIL import Image  # only when a caller hands over decoded images

    if isinstance(image, Image.Image):
        return _digest(f"{image.mode}:{image.size}:".encode() + image.tobytes())
    # Anything else (an array, say) has no cheap stable content key; any server can score it, it
    # just brings no cache affinity.
    return f"object:{id(image)}"


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _weight(server: str, key: str) -> int:
    # a newline cannot occur in a URL, so distinct (server, key) pairs hash distinct bytes
    h = hashlib.blake2b(f"{server}\n{key}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def server_order(key: str, servers: Sequence[str]) -> list[int]:
    """Indexes into `servers`, the key's preferred server first. Depends on the servers' names, not
    their positions in the list, so every client that knows the same servers routes alike."""
    return sorted(range(len(servers)), key=lambda i: (-_weight(servers[i], key), servers[i]))


def split(keys: Sequence[str], servers: Sequence[str]) -> dict[int, list[int]]:
    """Each key's position, grouped by its preferred server (servers with no keys are left out)."""
    parts: dict[int, list[int]] = {}
    for pos, key in enumerate(keys):
        parts.setdefault(server_order(key, servers)[0], []).append(pos)
    return parts

"""A thread-safe LRU bounded by the bytes of its values (the reranker's vision and prefix caches),
on cachetools' LRUCache like every other LRU in Folio, with hit and miss counts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import cachetools

V = TypeVar("V")


class ByteLRU(Generic[V]):
    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self._size_of = size_of
        self._items: cachetools.LRUCache[str, V] = cachetools.LRUCache(maxsize=max_bytes, getsizeof=size_of)
        self.lock = threading.Lock()  # re-usable by owners that keep side tables in step
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        return int(self._items.maxsize)

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        """A new bound: the least recently used values go until the rest fit."""
        with self.lock:
            old = self._items
            self._items = cachetools.LRUCache(maxsize=value, getsizeof=self._size_of)
            for key in list(old.keys()):  # least recently used first, so recency is kept
                if self._size_of(old[key]) <= value:
                    self._items[key] = old[key]

    def get(self, key: str) -> V | None:
        with self.lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self.hits += 1
            return item

    def peek(self, key: str) -> V | None:
        """The value without counting a hit or refreshing its place (callers hold no lock)."""
        with self.lock:
            if key not in self._items:
                return None
            value: V = cachetools.Cache.__getitem__(self._items, key)  # the base read: no recency update
            return value

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def put(self, key: str, value: V) -> bool:
        """Store `value` (evicting the least recently used); False when it alone exceeds the bound."""
        if self._size_of(value) > self.max_bytes:
            return False
        with self.lock:
            self._items[key] = value
        return True

    def clear(self) -> None:
        with self.lock:
            self._items.clear()

    @property
    def nbytes(self) -> int:
        return int(self._items.currsize)

    def __len__(self) -> int:
        return len(self._items)


class LRUFront(Generic[V]):
    """A cache with its own get/put signatures over one ByteLRU: the bound and counters it shares."""

    def __init__(self, lru: ByteLRU[V]) -> None:
        self._lru = lru

    @property
    def max_bytes(self) -> int:
        return self._lru.max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._lru.max_bytes = value

    @property
    def hits(self) -> int:
        return self._lru.hits

    @property
    def misses(self) -> int:
        return self._lru.misses

    @property
    def nbytes(self) -> int:
        return self._lru.nbytes

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)

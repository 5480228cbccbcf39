"""A thread-safe LRU bounded by the bytes of its values (the reranker's vision and prefix caches)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByteLRU(Generic[V]):
    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._items: OrderedDict[str, V] = OrderedDict()
        self._bytes = 0
        self.lock = threading.Lock()  # re-usable by owners that keep side tables in step
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> V | None:
        with self.lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def peek(self, key: str) -> V | None:
        """The value without counting a hit or refreshing its place (callers hold no lock)."""
        with self.lock:
            return self._items.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def put(self, key: str, value: V) -> bool:
        """Store `value` (evicting the least recently used); False when it alone exceeds the bound."""
        size = self._size_of(value)
        if size > self.max_bytes:
            return False
        with self.lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size_of(old)
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= self._size_of(evicted)
        return True

    def clear(self) -> None:
        with self.lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

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

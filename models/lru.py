"""A small thread-safe LRU cache bounded by entries, for per-bundle memos on the search hot path.

Storefront search traffic is heavily skewed: the same head queries come back again and again, and
parsing a query or encoding it costs more than everything else a cached query still has to do. What
is cached here must depend only on the object that owns the cache (a bundle's query model or
encoder), never on live state (prices, stock, rules): a new bundle brings a new owner and so an
empty cache, and nothing stale can be served across a swap.

``functools.lru_cache`` does not fit: it is bound to a function rather than an owner instance and
keeps a reference to ``self``; an ``OrderedDict`` alone is not safe when FastAPI's thread pool runs
requests concurrently (``move_to_end`` of a key another thread just evicted raises ``KeyError``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """Least-recently-used map of at most ``max_entries`` entries (0: caches nothing).

    ``get_or_compute`` runs ``compute`` outside the lock, so a slow miss never blocks hits on other
    keys; two threads missing the same key at once both compute it and the later one wins (the
    values are equal: the computations are deterministic).
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = int(max_entries)
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        if self.max_entries == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def get_or_compute(self, key: K, compute: Callable[[K], V]) -> V:
        value = self.get(key)
        if value is None:
            value = compute(key)
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def stats(self) -> dict[str, int]:
        """Entries, hits and misses so far (a benchmark or a log line reads the hit rate)."""
        return {"entries": len(self._data), "hits": self.hits, "misses": self.misses}

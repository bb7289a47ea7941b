"""The recursive-awareness cache: a bounded LRU keyed by the exact bytes of a quantized state.

The seed keyed its cache on `len(processes)` and a rounded confidence, so unrelated states shared
results, and evicted by scanning every access time (O(n) per insert). Here a key is the state
quantized to a fixed grid, as bytes, plus the recursion depth: two states share a key only if they
are the same point on that grid, and lookups compare bytes, never a Python hash() alone. Eviction
is O(1): an OrderedDict kept in recency order drops its oldest entry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def quantized_state_key(probabilities: Sequence[float], confidence: float, depth: int, levels: int) -> bytes:
    """The grid point of a state, as bytes: `levels` steps per probability and for the confidence.

    Every key of a k-class state is k + 2 bytes long, so states of different class counts, different
    grid points or different depths never produce equal keys.
    """
    if not 2 <= levels <= 255:
        raise ValueError(f"levels must be in [2, 255] to fit a byte, got {levels}")
    if not 0 <= depth <= 255:
        raise ValueError(f"depth must fit a byte, got {depth}")
    grid = [int(min(1.0, max(0.0, p)) * levels + 0.5) for p in probabilities]
    grid.append(int(min(1.0, max(0.0, confidence)) * levels + 0.5))
    grid.append(depth)
    return bytes(grid)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0

    def as_dict(self, size: int, capacity: int) -> dict[str, int | float | None]:
        lookups = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "hit_rate": self.hits / lookups if lookups else None,
            "size": size,
            "capacity": capacity,
        }


class LruCache(Generic[K, V]):
    """A dict bounded to `capacity` entries that forgets the least recently used one first."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.stats = CacheStats()
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is None:
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        if key in self._entries:
            self._entries.move_to_end(key)
        self._entries[key] = value
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
            self.stats.evictions += 1

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys_oldest_first(self) -> list[K]:
        """The eviction order: the first key is the next to go."""
        return list(self._entries)

    def summary(self) -> dict[str, int | float | None]:
        return self.stats.as_dict(len(self._entries), self.capacity)

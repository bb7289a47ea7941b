"""A packed artifact (`mc.packed`) that came back from another machine, published into the driver's
cache through the cache's own atomic publisher, so a transfer cut short leaves nothing.
"""

from __future__ import annotations

from typing import Any

from mc.packed import Packed, pack, unpack
from mc.recipes.cache import ArtifactCache, CachedArtifact

__all__ = ["Packed", "pack", "publish", "unpack"]


def publish(cache: ArtifactCache, key: str, packed: Packed, file_name: str, description: dict[str, Any]) -> CachedArtifact:
    """Publish a packed artifact into `cache` under `key` (atomically: all or nothing); the entry,
    verified as every lookup verifies it."""
    with cache.produce(key, file_name, description) as output:
        unpack(packed, output.parent, output.name)
    hit = cache.lookup(key)
    if hit is None:
        raise RuntimeError(f"the artifact sent back for {key[:12]} did not verify in the cache at {cache.root}")
    return hit

"""The search segments' cache files, and building a segment into one (what a search worker does).

Used by generator/website/search.py. A segment is cached under a hash of its input (`cache_path`);
the worker processes `generator.runtime.parallel` spawns for search run `build_stored`: each writes
its segment to the store (the cache, written anyway, or a scratch folder) and reports only
that it did, so no segment is pickled back nor held twice on the way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from generator.website.search_index import Segment, SegmentPayload, build_segment, pack, unpack

CACHE_PREFIX = "search-segment-"


def cache_path(cache_dir: Path, cache_hash: str) -> Path:
    return cache_dir / f"{CACHE_PREFIX}{cache_hash}.bin"


def read_cached(cache_dir: Path, cache_hash: str) -> Segment | None:
    """The cached segment, or None when it is missing or unreadable."""
    try:
        return unpack(cache_path(cache_dir, cache_hash).read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_cached(cache_dir: Path, cache_hash: str, segment: Segment) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Atomic: a concurrent or interrupted build never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pack(segment))
        os.replace(tmp, cache_path(cache_dir, cache_hash))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prune_cache(cache_dir: Path, keep: set[str]) -> None:
    """Remove cached segments this build did not use, so the cache does not grow by a segment a day."""
    if not cache_dir.is_dir():
        return
    for path in cache_dir.glob(f"{CACHE_PREFIX}*.bin"):
        if path.name[len(CACHE_PREFIX) : -len(".bin")] not in keep:
            path.unlink(missing_ok=True)


def build_stored(store: str, task: tuple[str, SegmentPayload]) -> None:
    """In a worker process: build a segment from (cache hash, payload) and write it to `store`."""
    cache_hash, payload = task
    write_cached(Path(store), cache_hash, build_segment(payload))

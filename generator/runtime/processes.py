"""Process-level memory switches the stages share: pausing and freezing the cyclic garbage
collector, and handing freed heap memory back to the system. Workers: generator/runtime/parallel.py."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a stage builds many objects that form no cycles.

    Each time the heap grows by a quarter the collector walks all of it: reading and merging
    100k papers spent 2 s of their 9 s in it. Nested pauses keep it off until the outer one ends.
    When it ends, what the stage made is frozen (`gc.freeze`, constant time) rather than walked
    by the next collections: it is mostly the corpus and its pages, alive until the build is over
    (at 100k papers those walks took 2 s of a build). Refcounting still frees frozen objects;
    `gc_thawed` hands them back to the collector when the build is over.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


@contextmanager
def gc_thawed() -> Iterator[None]:
    """Give the objects `gc_paused` froze back to the collector when the block ends (a build's end).

    Only garbage in reference cycles needs the collector; a long `mkdocs serve` session would
    otherwise keep each build's cyclic garbage.
    """
    try:
        yield
    finally:
        gc.unfreeze()


def release_free_memory() -> None:
    """Return freed heap memory to the system (glibc's `malloc_trim`); a no-op elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass

"""When the build may fork worker processes (the pages worker, topics beside similarity, topics' phrase matching)."""

from __future__ import annotations

import multiprocessing
import threading


def fork_is_safe() -> bool:
    """Fork only a single-threaded process on a platform that has fork.

    Forking a threaded process (`mkdocs serve` runs threads) can deadlock the child on a lock
    another thread held; callers then work serially or, where they can, spawn.
    """
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1

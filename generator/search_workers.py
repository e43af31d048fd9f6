"""Building search segments in parallel: this process and worker processes take segments in turn.

Used by generator/search.py. A worker is a new Python process, not a fork: a forked worker
shares the heap copy-on-write, and every page that either process writes afterwards is copied,
reading an object included (its reference count is written); building touches the docs and
allocates between the corpus's objects, so a fork cost about 230 MB of copied pages at 100k
papers. A new one costs an import (0.2 s) and gets each task's input pickled, made when it asks
for it. It runs no `__main__` (spawn would run a caller's script again when it has no
`if __name__ == "__main__"` guard), and is as safe to start from a threaded caller
(`mkdocs serve`).

The worker writes each segment (`search_index.pack`) to `store` (the cache, written anyway,
or a scratch folder) and reports only its key: no segment is pickled back nor held twice on
the way. It asks for the next task before building one, so that the input travels during the
build.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .search_index import Segment, build_segment, pack, unpack

CACHE_PREFIX = "search-segment-"


@dataclass(frozen=True)
class Task:
    """One segment to build and the cache key of its file."""

    key: str
    cache_hash: str
    """Its file's name in the cache (`cache_path`)."""
    docs: Any
    """What `make_input` turns into the segment's input (only when it is built)."""


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


class Job:
    """The tasks of one build, taken one at a time by this process and, through their feeders, its workers.

    Whoever is free takes the next task, so the biggest tasks (first) spread over the
    processes and the small ones fill the gaps at the end.
    """

    def __init__(self, tasks: list[Task], make_input: Callable[[Task], Any]) -> None:
        self.tasks = tasks
        self.make_input = make_input
        self.next = 0
        self.lock = threading.Lock()  # the workers' feeders are threads of this process

    def take(self) -> Task | None:
        """The next task nobody took yet, or None."""
        with self.lock:
            if self.next >= len(self.tasks):
                return None
            self.next += 1
            return self.tasks[self.next - 1]

    def stop(self) -> None:
        """Hand out no more tasks (a process failed: the build fails as soon as the others finish their task)."""
        with self.lock:
            self.next = len(self.tasks)


_WORKER_CODE = (
    f"import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); from {__name__} import worker_main; "
    "worker_main()"
)
"""What a worker process runs: it takes this process's import path first, to import this module by it."""


class Worker:
    """A new Python process that builds tasks of a `Job`, fed by a thread of this process."""

    def __init__(self, job: Job, store: Path) -> None:
        self.job = job
        self.built: list[str] = []
        self.error: BaseException | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.thread = threading.Thread(target=self._feed, args=(store,), name="search-feeder", daemon=True)
        self.thread.start()

    def _feed(self, store: Path) -> None:
        """In a thread: answer the worker's requests with the next task's input until it exits."""
        assert self.process.stdin is not None and self.process.stdout is not None
        requests, inputs = self.process.stdout, self.process.stdin
        writable = True

        def send(message: Any) -> None:
            nonlocal writable
            if writable:
                # Pickled whole, then written at once: pickling into the pipe would wait for the GIL
                # after each frame the worker reads, slowing this process's build and the transfer.
                data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
                try:
                    inputs.write(data)
                    inputs.flush()
                except OSError:  # the worker is gone; what it said before it went explains why
                    writable = False

        try:
            send(sys.path)
            send(str(store))
            while True:
                try:
                    message = pickle.load(requests)
                except EOFError:
                    return  # the worker exited
                if message[0] == "ready":
                    task = self.job.take()
                    send(None if task is None else (task.key, task.cache_hash, self.job.make_input(task)))
                elif message[0] == "built":
                    self.built.append(message[1])
                else:  # "failed": fail the build as soon as this process finishes its task
                    self.error = message[1]
                    self.job.stop()
        except BaseException as error:
            self.error = self.error or error
            self.job.stop()
        finally:
            inputs.close()  # a worker still waiting for input reads the end and exits

    def wait(self) -> None:
        """Wait until the worker has exited (after the last task it took)."""
        self.thread.join()
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()

    def result(self) -> list[str]:
        """The keys of the tasks the worker built, once it has exited; its failure raised here."""
        self.wait()
        if self.error is not None:
            raise self.error
        if self.process.returncode != 0:
            raise RuntimeError(f"search: a worker process exited with code {self.process.returncode}")
        return self.built


def worker_main() -> None:
    """In a worker process (`Worker`): build the tasks read from stdin, report on stdout."""
    inputs = sys.stdin.buffer
    messages = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not among the messages

    def send(message: Any) -> None:
        pickle.dump(message, messages, pickle.HIGHEST_PROTOCOL)
        messages.flush()

    try:
        store = Path(pickle.load(inputs))
        send(("ready",))
        while (task := pickle.load(inputs)) is not None:
            send(("ready",))
            key, cache_hash, payload = task
            del task  # only one task's input at a time: the next one is on its way
            write_cached(store, cache_hash, build_segment(payload))
            del payload
            send(("built", key))
    except BaseException as error:
        note = "in a search worker process:\n" + traceback.format_exc()
        try:
            pickle.loads(pickle.dumps(error))  # this process's error as it is, if it survives the trip
        except Exception:
            error = RuntimeError(note)
        else:
            error.add_note(note)
        send(("failed", error))
        sys.exit(1)


def build_here(job: Job, task: Task) -> Segment:
    """Build one task in this process (its input is made only now, so that all of them never exist at once)."""
    return build_segment(job.make_input(task))


def build_tasks(
    tasks: list[Task], make_input: Callable[[Task], Any], cache_dir: Path | None, workers: int
) -> dict[str, Segment]:
    """Each task's segment by key, built here and by `workers - 1` worker processes; written to `cache_dir`.

    The workers share the work with this process rather than take it all: this process builds
    while it waits, its share from its own objects (nothing of it is pickled).
    """
    built: dict[str, Segment] = {}
    job = Job(tasks, make_input)

    def build(task: Task) -> None:
        built[task.key] = build_here(job, task)
        if cache_dir is not None:
            write_cached(cache_dir, task.cache_hash, built[task.key])

    helpers = min(workers, len(tasks)) - 1
    if helpers < 1 or not sys.executable:
        for task in tasks:
            build(task)
        return built
    with ExitStack() as stack:
        store = cache_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="search-segments-")))
        started: list[Worker] = []
        try:
            started.extend(Worker(job, store) for _ in range(helpers))
            while (next_task := job.take()) is not None:
                build(next_task)
        except BaseException:
            job.stop()
            for worker in started:
                worker.wait()
            raise
        keys = [key for worker in started for key in worker.result()]
        hashes = {task.key: task.cache_hash for task in tasks}
        for key in keys:
            segment = read_cached(store, hashes[key])
            if segment is None:
                raise RuntimeError(f"search: a worker built segment {key!r} but its file is gone from {store}")
            built[key] = segment
    return built

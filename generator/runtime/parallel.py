"""Running a stage's independent tasks on worker processes, or in this process when that is not safe.

The one place that starts processes. A stage says what its tasks are and what a worker needs;
this module decides whether workers run and how they start:

- `in_background(function)`: one forked worker runs `function()` while the caller works; its
  `result()` is the worker's, or `function()` run here (no fork, or the worker died).
- `take_in_turn(tasks, ...)`: this process and its workers take the next task until none is left,
  so the biggest tasks (first) spread over the processes and small ones fill the gaps. Workers
  start in one of two ways, chosen by the stage:
  - *forked* (`Forked`): the worker inherits the caller's heap, so the closure it runs needs no
    pickling (the corpus, the page builder); it sends back one share at the end. For stages whose
    inputs are the heap (pages, topics).
  - *spawned* (`Spawned`): a new Python process gets each task's input pickled, made when it asks
    for it, and runs an importable function on it. A forked worker shares the heap copy-on-write
    and every page either process writes afterwards is copied, reading an object included (its
    reference count is written): for search at 100k papers a fork copied about 230 MB. A new
    process costs an import (0.2 s), runs no `__main__` (spawn would run a caller's script again
    without an `if __name__ == "__main__"` guard) and is safe to start from a threaded caller.

Workers run only when `Parallelism` allows it: forking needs a single-threaded process on a
platform with fork (`mkdocs serve` runs threads: everything runs in-process there), and a stage
goes parallel only from its size threshold, passed in `Parallelism` (the defaults suit the
two-core machine this is built for). Nothing a worker needs is kept in module state: it is passed
in, as a closure inherited at the fork or as pickled inputs.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar, overload

from generator.runtime.processes import release_free_memory

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Parallelism:
    """How many processes a build uses and from what size each stage goes parallel.

    The defaults suit two cores: starting a worker costs time (a fork, or 0.2 s for a new
    interpreter), so below its threshold a stage runs in this process alone.
    """

    processes: int = 2
    """Processes a stage uses in all, this one included (1: everything in-process)."""
    fork: bool | None = None
    """Whether forked workers may run: None means when `fork_is_safe()`; True forces it (tests)."""
    pages_from: int = 2000
    """From this many papers a forked worker shares keying, carrying over and rendering the pages."""
    topics_from: int = 5000
    """From this many texts to match a forked worker matches the phrases of part of them."""
    topics_share: float = 0.5
    """The worker's part of those texts (this process matches the rest)."""
    search_from: int = 6000
    """From this many docs to build, new processes share the search segments (a new day's stays here)."""

    def can_fork(self) -> bool:
        """Forked workers may run now."""
        if self.processes < 2:
            return False
        if self.fork is not None:
            return self.fork and "fork" in multiprocessing.get_all_start_methods()
        return fork_is_safe()


DEFAULT = Parallelism()
IN_PROCESS = Parallelism(processes=1)
"""Everything in this process."""


def fork_is_safe() -> bool:
    """Fork only a single-threaded process on a platform that has fork.

    Forking a threaded process (`mkdocs serve` runs threads) can deadlock the child on a lock
    another thread held; stages then work in-process or, where they can, spawn.
    """
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


# --- forked workers ----------------------------------------------------------------------------


class WorkerDied(RuntimeError):
    """A worker process exited without a result (killed, out of memory)."""


def _fork(function: Callable[[], Any]) -> tuple[Any, Connection]:
    """Start a forked process running `function()`; it sends ("ok", result) or ("error", error) back."""
    # What the model stages freed goes back to the system first, so the copy the child may make
    # of the heap is smaller; frozen objects are never touched by the child's collector.
    release_free_memory()
    gc.freeze()
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_forked_main, args=(function, send), daemon=True)
    process.start()
    send.close()
    return process, receive


def _forked_main(function: Callable[[], Any], send: Connection) -> None:
    """In a forked worker: run `function()` and send back its result or its error."""
    try:
        message: tuple[str, Any] = ("ok", function())
    except BaseException as error:
        message = ("error", _portable(error, "in a forked worker process"))
    send.send(message)
    send.close()


def _receive(process: Any, receive: Connection) -> Any:
    """The forked worker's result (its error raised here); WorkerDied when it sent none."""
    try:
        status, value = receive.recv()
    except (EOFError, OSError) as exc:
        process.join()
        raise WorkerDied(f"a worker process exited with code {process.exitcode} and no result") from exc
    finally:
        receive.close()
    process.join()
    if status == "error":
        raise value
    return value


class Pending(Generic[T]):
    """The result of `in_background`."""

    def __init__(self, function: Callable[[], T], started: tuple[Any, Connection] | None) -> None:
        self._function = function
        self._started = started

    @property
    def in_background(self) -> bool:
        """A worker process is running the function."""
        return self._started is not None

    def result(self) -> T:
        """The worker's result; if it died (killed, out of memory), or none ran, `function()` run here."""
        if self._started is not None:
            started, self._started = self._started, None
            try:
                return _receive(*started)
            except WorkerDied as exc:
                log.info("parallel: %s; continuing in this process", exc)
        return self._function()


def in_background(function: Callable[[], T], parallel: Parallelism) -> Pending[T]:
    """Start `function()` in a forked worker when `parallel` allows it; its result comes from `result()`.

    The worker inherits everything the closure holds (nothing is pickled on the way there).
    """
    if not parallel.can_fork():
        return Pending(function, None)
    try:
        return Pending(function, _fork(function))
    except OSError as exc:  # no processes allowed here
        log.debug("parallel: no worker process (%s)", exc)
        return Pending(function, None)


# --- tasks taken in turn -------------------------------------------------------------------------


@dataclass(frozen=True)
class Forked(Generic[R]):
    """Forked workers: each runs `before()`, then `do(task)` for the tasks it takes, then sends back `share()`."""

    share: Callable[[], R]
    before: Callable[[], None] | None = None


@dataclass(frozen=True)
class Spawned:
    """New Python processes: each runs `function(make_input(task))` for the tasks it takes.

    `function` is pickled by reference (a module-level function, or a `functools.partial` of
    one); what it returns for a task comes back pickled.
    """

    function: Callable[[Any], Any]
    make_input: Callable[[Any], Any]


class _Counter:
    """The next task's number, in shared memory when forked workers take tasks too."""

    def __init__(self, n_tasks: int, shared: bool) -> None:
        self.n_tasks = n_tasks
        self.value: Any = multiprocessing.get_context("fork").Value("q", 0) if shared else None
        self.local = 0
        self.lock = threading.Lock()  # spawned workers' feeders are threads of this process

    def take(self) -> int | None:
        if self.value is not None:
            with self.value.get_lock():
                task = int(self.value.value)
                self.value.value = task + 1
        else:
            with self.lock:
                task = self.local
                self.local += 1
        return task if task < self.n_tasks else None

    def stop(self) -> None:
        """Hand out no more tasks (a process failed: the stage fails once the others finish their task)."""
        if self.value is not None:
            with self.value.get_lock():
                self.value.value = self.n_tasks
        else:
            with self.lock:
                self.local = self.n_tasks


@overload
def take_in_turn(
    tasks: Sequence[T],
    do: Callable[[T], None],
    workers: Forked[R],
    parallel: Parallelism,
    *,
    first_here: Callable[[], None] | None = None,
) -> list[R]: ...


@overload
def take_in_turn(
    tasks: Sequence[T],
    do: Callable[[T], None],
    workers: Spawned,
    parallel: Parallelism,
    *,
    first_here: Callable[[], None] | None = None,
) -> list[list[tuple[int, Any]]]: ...


def take_in_turn(
    tasks: Sequence[T],
    do: Callable[[T], None],
    workers: Forked[R] | Spawned,
    parallel: Parallelism,
    *,
    first_here: Callable[[], None] | None = None,
) -> list[R] | list[list[tuple[int, Any]]]:
    """Do `tasks` here (`do(task)`) and on up to `parallel.processes - 1` workers, each taking the next.

    `first_here` runs in this process before it takes a task (while the workers start). Returns
    each worker's result: a forked worker's `share()`, or a spawned worker's (task index, value)
    pairs. No workers run (and the result is empty) when `parallel` does not allow them or
    there is at most one task. A failure anywhere fails the call once every process has
    finished its task.
    """
    helpers = min(parallel.processes, len(tasks)) - 1
    if isinstance(workers, Forked):
        return _take_forked(tasks, do, workers, helpers if parallel.can_fork() else 0, first_here)
    if not sys.executable:
        helpers = 0
    return _take_spawned(tasks, do, workers, helpers, first_here)


def _run_here(tasks: Sequence[T], do: Callable[[T], None], counter: _Counter) -> None:
    while (index := counter.take()) is not None:
        do(tasks[index])


def _take_forked(
    tasks: Sequence[T],
    do: Callable[[T], None],
    workers: Forked[R],
    helpers: int,
    first_here: Callable[[], None] | None,
) -> list[R]:
    counter = _Counter(len(tasks), shared=helpers > 0)

    def worker() -> R:
        try:
            if workers.before is not None:
                workers.before()
            _run_here(tasks, do, counter)
        except BaseException:
            counter.stop()  # this process takes no more tasks: the call fails once it finishes its one
            raise
        return workers.share()

    started = [_fork(worker) for _ in range(helpers)]
    try:
        if first_here is not None:
            first_here()
        _run_here(tasks, do, counter)
    except BaseException:
        counter.stop()
        for process, receive in started:
            receive.close()
            process.join()
        raise
    shares = [_receive(process, receive) for process, receive in started]
    if started:
        log.debug("parallel: %d forked worker(s) shared %d tasks", len(started), len(tasks))
    return shares


_SPAWNED_CODE = (
    f"import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); from {__name__} import spawned_main; "
    "spawned_main()"
)
"""What a spawned worker runs: it takes this process's import path first, to import this module by it."""


class SpawnedWorker:
    """A new Python process that does tasks of a `take_in_turn` call, fed by a thread of this process."""

    def __init__(self, tasks: Sequence[Any], counter: _Counter, workers: Spawned) -> None:
        self.done: list[tuple[int, Any]] = []
        self.error: BaseException | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SPAWNED_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.thread = threading.Thread(
            target=self._feed, args=(tasks, counter, workers), name="worker-feeder", daemon=True
        )
        self.thread.start()

    def _feed(self, tasks: Sequence[Any], counter: _Counter, workers: Spawned) -> None:
        """In a thread: answer the worker's requests with the next task's input until it exits."""
        assert self.process.stdin is not None and self.process.stdout is not None
        requests, inputs = self.process.stdout, self.process.stdin
        writable = True

        def send(message: Any) -> None:
            nonlocal writable
            if writable:
                # Pickled whole, then written at once: pickling into the pipe would wait for the GIL
                # after each frame the worker reads, slowing this process's work and the transfer.
                data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
                try:
                    inputs.write(data)
                    inputs.flush()
                except OSError:  # the worker is gone; what it said before it went explains why
                    writable = False

        try:
            send(sys.path)
            send(workers.function)
            while True:
                try:
                    message = pickle.load(requests)
                except EOFError:
                    return  # the worker exited
                if message[0] == "ready":
                    index = counter.take()
                    send(None if index is None else (index, workers.make_input(tasks[index])))
                elif message[0] == "done":
                    self.done.append((message[1], message[2]))
                else:  # "failed": fail the call as soon as this process finishes its task
                    self.error = message[1]
                    counter.stop()
        except BaseException as error:
            self.error = self.error or error
            counter.stop()
        finally:
            inputs.close()  # a worker still waiting for input reads the end and exits

    def wait(self) -> None:
        """Wait until the worker has exited (after the last task it took)."""
        self.thread.join()
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()

    def result(self) -> list[tuple[int, Any]]:
        """The (task index, value) of the tasks the worker did, once it has exited; its failure raised here."""
        self.wait()
        if self.error is not None:
            raise self.error
        if self.process.returncode != 0:
            raise WorkerDied(f"a worker process exited with code {self.process.returncode}")
        return self.done


def spawned_main() -> None:
    """In a spawned worker (`SpawnedWorker`): do the tasks read from stdin, report on stdout."""
    inputs = sys.stdin.buffer
    messages = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not among the messages

    def send(message: Any) -> None:
        pickle.dump(message, messages, pickle.HIGHEST_PROTOCOL)
        messages.flush()

    try:
        function = pickle.load(inputs)
        send(("ready",))
        while (task := pickle.load(inputs)) is not None:
            send(("ready",))  # the next input travels while this task is done
            index, payload = task
            del task  # only one task's input at a time: the next one is on its way
            value = function(payload)
            del payload
            send(("done", index, value))
    except BaseException as error:
        send(("failed", _portable(error, "in a spawned worker process")))
        sys.exit(1)


def _take_spawned(
    tasks: Sequence[T],
    do: Callable[[T], None],
    workers: Spawned,
    helpers: int,
    first_here: Callable[[], None] | None,
) -> list[list[tuple[int, Any]]]:
    counter = _Counter(len(tasks), shared=False)
    started: list[SpawnedWorker] = []
    try:
        started.extend(SpawnedWorker(tasks, counter, workers) for _ in range(max(helpers, 0)))
        if first_here is not None:
            first_here()
        _run_here(tasks, do, counter)
    except BaseException:
        counter.stop()
        for worker in started:
            worker.wait()
        raise
    return [worker.result() for worker in started]


def _portable(error: BaseException, where: str) -> BaseException:
    """`error` with a note of where it happened and its traceback, or a RuntimeError saying so when
    it would not survive pickling."""
    note = f"{where}:\n" + traceback.format_exc()
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(note)
    error.add_note(note)
    return error

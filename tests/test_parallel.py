"""The parallel layer: every task done once, by this process or a worker; failures surface here."""

from __future__ import annotations

import functools
import os
import time

import pytest

from generator.runtime.parallel import IN_PROCESS, Forked, Parallelism, Spawned, in_background, take_in_turn

# Other tests may leave a thread running; these workers only compute, so forking is safe here.
FORKED = Parallelism(fork=True)


def test_forked_workers_and_this_process_do_every_task_once() -> None:
    tasks = list(range(40))
    done: list[int] = []
    shares = take_in_turn(tasks, done.append, Forked(lambda: (os.getpid(), done)), FORKED)
    assert len(shares) == 1 and shares[0][0] != os.getpid()
    assert sorted(done + shares[0][1]) == tasks  # the worker's list is its own copy


def test_in_process_when_not_allowed() -> None:
    for parallel in (IN_PROCESS, Parallelism(fork=False)):
        done: list[int] = []
        assert take_in_turn([1, 2, 3], done.append, Forked(lambda: None), parallel) == []
        assert done == [1, 2, 3]
        pending = in_background(os.getpid, parallel)
        assert not pending.in_background and pending.result() == os.getpid()


def _fail_in_worker(parent: int, done: list[int], task: int) -> None:
    if os.getpid() != parent:
        raise ValueError(f"task {task} failed in the worker")
    time.sleep(0.01)  # the worker surely takes a task before this process has done them all
    done.append(task)


def test_a_forked_workers_error_is_raised_here() -> None:
    parent = os.getpid()
    done: list[int] = []
    with pytest.raises(ValueError, match="failed in the worker") as failure:
        take_in_turn(list(range(1000)), functools.partial(_fail_in_worker, parent, done), Forked(lambda: None), FORKED)
    assert any("in a forked worker process" in note for note in failure.value.__notes__)
    assert len(done) < 500  # the worker's failure left this process no more tasks


def test_spawned_workers_and_this_process_do_every_task_once() -> None:
    tasks = list(range(30))
    done: list[int] = []
    shares = take_in_turn(tasks, done.append, Spawned(abs, lambda task: -task), Parallelism(processes=3))
    assert len(shares) == 2
    away = [index for share in shares for index, value in share if value == index]
    assert sorted(done + away) == tasks and len(away) == sum(len(share) for share in shares)

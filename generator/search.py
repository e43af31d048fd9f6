"""Prebuilt search: lunr indexes made at build time, split into parts the browser loads newest first.

Material's search plugin builds its lunr index in the browser, which takes seconds at digest
scale (see FIELD-NOTES). Here the index is built once in Python with `lunr` and serialised;
the browser only fetches and `lunr.Index.load`s it (theme_overrides/assets/javascripts/
digest-search.js). The index is split into one part per month (newest first, `undated` last)
so the first answer needs only the newest, small part; a month too big for one part is split
by whole days. Each part is a pair of files:

- `search/index-<key>-<hash>.json`: the serialised lunr index (fields title x10, abstract,
  topics; ref = the doc's position in the part's doc store, which keeps the index small);
- `search/docs-<key>-<hash>.json`: the doc store, a list of `[url, title, date, slugs, excerpt]`.

More parts, the title chunks, answer title queries over every paper before the month parts
arrive (an old paper's title otherwise waits for all of them). Each holds the `title` field of
the docs of a run of consecutive month parts:

- `search/index-titles-<key>-<hash>.json`: a lunr index of the `title` field of its docs (no
  positions metadata; ref = the doc's position in the chunk's store, in base 36);
- `search/docs-titles-<key>-<hash>.json`: its store, a list of `[url, title, date, slugs]` in
  the order of its month parts (newest first); the browser shows the excerpt once the doc's
  month part is loaded.

Title chunks are cut so that their membership stays put as days are added: the dated month
parts are walked oldest first and a run of whole parts is sealed as one chunk once it holds
`TITLE_CHUNK_DOCS` docs (the newest part, still growing, is never sealed); the parts after the
last sealed chunk are cut the same way into chunks of `TITLE_TAIL_DOCS`. A new day therefore
changes only the newest title chunk (and the newest month part); about every `TITLE_CHUNK_DOCS`
docs the small newest chunks are sealed into one big chunk, a rebuild of that many titles.
Undated docs have a chunk of their own (`titles-undated`). A chunk's key is `titles-` and the
date of its oldest doc. (A paper re-dated from an old month to the newest changes its old
month's count, which can move a later chunk boundary: then the chunks after it are rebuilt
too, as the single titles index of all docs was every time before.)

`search/manifest.json` lists the title chunks and the month parts, both newest first (a
title chunk names its month parts), plus the topics and date range for the filters. Part file
names carry a hash of their bytes, so browsers never mix stale parts.

The indexes are made by `FastBuilder`, a `lunr.Builder` with lunr.py's default pipeline
whose output is byte for byte `lunr.lunr(...).serialize()` dumped as JSON (tests compare the
two), only many times faster: 10k papers in about 1.6 s of CPU instead of 14.

Output is deterministic (sorted input, sorted JSON keys, no timestamps). lunr.py cannot update
an index, so parts are rebuilt whole, in parallel, and reused from `cache_dir` when the docs
that make them (and this module's format) are unchanged: adding a day rebuilds the newest month
part and the newest title chunk.

Word splitting is done here, before lunr, the same way digest-search.js splits the query
(NFKC, lower case, runs of Unicode letters and digits): lunr.py's and lunr.js's trimmers
disagree on non-ASCII and inner punctuation, and this keeps index and query terms identical.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import pickle
import re
import subprocess
import sys
import tempfile
import threading
import traceback
import unicodedata
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import lunr as lunr_package
import numpy as np
from lunr import get_default_builder
from lunr.builder import Builder as LunrBuilder
from lunr.token import Token as LunrToken
from lunr.tokenizer import SEPARATOR_CHARS as LUNR_SEPARATOR_CHARS

from .processes import gc_paused

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
"""Bumped whenever the bytes of a part change for the same docs; invalidates cached parts."""

SEARCH_DIR = "search"
"""Folder of the search files, relative to the site root."""

MANIFEST_PATH = f"{SEARCH_DIR}/manifest.json"
"""Path of the manifest, relative to the site root; the browser fetches it first."""

MAX_PART_DOCS = 1500
"""A month with more docs is split into parts of whole days (a bigger single day stays whole)."""

EXCERPT_CHARS = 240
"""Length of the abstract excerpt stored for the result snippet."""

UNDATED_KEY = "undated"

TITLES_KEY = "titles"
"""Prefix of the title chunks' keys (`titles-<oldest date>`) in `SearchBuild.built`/`reused` and file names."""

TITLE_CHUNK_DOCS = 6_000
"""Whole month parts, oldest first, are sealed into one title chunk once the run holds this many docs."""

TITLE_TAIL_DOCS = 1_500
"""The parts after the last sealed title chunk form chunks of this many docs (the newest one fewer)."""

PARALLEL_DOCS = 6_000
"""From this many docs to build (summed over the parts and title chunks), a worker process shares the work.

Starting one takes about 0.2 s, so a smaller build (a new day's parts) is done faster alone.
"""

_FIELDS: list[Any] = [{"field_name": "title", "boost": 10}, "abstract", "topics"]
_TITLE_FIELDS: list[Any] = ["title"]
_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD_BYTES = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256))
"""`bytes.translate` table: ASCII letters and digits (what `_WORD` matches in ASCII) kept, the rest made spaces."""
_SPACE = re.compile(r"\s+")
_CACHE_PREFIX = "search-part-"


@dataclass(frozen=True)
class SearchDoc:
    """One paper as search sees it."""

    id: str
    """The paper's stable identifier (unique across docs)."""
    url: str
    """Page path relative to the site root, for example `papers/2406.20015/`."""
    title: str
    """Title (untrusted text; the browser inserts it as text only)."""
    abstract: str
    """Abstract, possibly empty (untrusted text)."""
    date: dt.date | None
    """Newest appearance date; decides the part. None puts the doc in the `undated` part."""
    topics: tuple[str, ...]
    """Topic display names, searchable and shown on the result."""
    topic_slugs: tuple[str, ...]
    """Topic slugs parallel to `topics`, used by the topic filter."""


@dataclass(frozen=True)
class SearchBuild:
    """What `build_search_parts` produced, with what it had to build and what it reused."""

    files: dict[str, bytes]
    """File contents keyed by path relative to the site root."""
    built: tuple[str, ...]
    """Keys of the parts built in this call: title chunks (`titles-...`) first, then month parts; each newest first."""
    reused: tuple[str, ...]
    """Keys of the parts taken from the cache, in the same order."""


@dataclass(frozen=True)
class _Part:
    key: str
    docs: tuple[SearchDoc, ...]
    """Sorted newest first, then by id; a doc's position is its lunr ref."""

    @property
    def first(self) -> dt.date | None:
        dates = [d.date for d in self.docs if d.date is not None]
        return min(dates) if dates else None

    @property
    def last(self) -> dt.date | None:
        dates = [d.date for d in self.docs if d.date is not None]
        return max(dates) if dates else None


def index_words(text: str) -> str:
    """The words of `text` as both sides of search see them: NFKC, lower case, letters and digits.

    digest-search.js splits the typed query with the same rule (`[^\\p{L}\\p{N}]+`).
    """
    if text.isascii():  # the same words, several times faster than the regular expression
        return b" ".join(text.encode("ascii").lower().translate(_ASCII_WORD_BYTES).split()).decode("ascii")
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of `text` with whitespace collapsed, cut at a word boundary within `limit` chars."""
    # Collapsing a prefix is enough when it leaves more than `limit` characters before the
    # last space: the first `limit` characters and the length test come out the same.
    head = _SPACE.sub(" ", text[: limit + 64]).lstrip()
    text = head if len(head.rstrip()) > limit else _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def build_search_files(
    docs: Sequence[SearchDoc], *, cache_dir: Path | None = None, workers: int = 2
) -> dict[str, bytes]:
    """Build the search files for `docs`: `search/manifest.json` and two files per part.

    Returns contents keyed by path relative to the site root. Bytes depend only on the docs,
    not on their order, `workers` or the cache. With `cache_dir`, parts whose docs did not
    change since an earlier call are read from there instead of rebuilt.
    """
    return build_search_parts(docs, cache_dir=cache_dir, workers=workers).files


def build_search_parts(docs: Sequence[SearchDoc], *, cache_dir: Path | None = None, workers: int = 2) -> SearchBuild:
    """Like `build_search_files`, and also report which parts were built and which reused."""
    # Building makes no reference cycles but many short-lived objects: without this, the
    # collector's full passes over the caller's heap (the whole corpus, in a build) cost about
    # a second at 100k papers.
    with gc_paused():
        return _build_search_parts(docs, cache_dir, workers)


def _build_search_parts(docs: Sequence[SearchDoc], cache_dir: Path | None, workers: int) -> SearchBuild:
    _check_unique(docs)
    parts = _split_parts(docs)
    chunks = _split_title_chunks(parts)
    # Fingerprints of the inputs, cheap next to building: a rebuild after one day mostly reuses.
    fingerprints = {part.key: _fingerprints(part) for part in parts}
    hashes = {part.key: _part_hash(fingerprints[part.key][1]) for part in parts}
    for chunk in chunks:
        hashes[chunk.key] = _titles_hash([fingerprints[part.key][0] for part in chunk.parts])
    by_key = {chunk.key: chunk for chunk in chunks}
    kinds = {chunk.key: "titles" for chunk in chunks} | {part.key: "part" for part in parts}
    sizes = {chunk.key: chunk.count for chunk in chunks} | {part.key: len(part.docs) for part in parts}
    part_by_key = {part.key: part for part in parts}
    keys = [chunk.key for chunk in chunks] + [part.key for part in parts]

    contents: dict[str, tuple[bytes, bytes]] = {}
    if cache_dir is not None:
        for key in keys:
            cached = _read_cached(cache_dir, hashes[key])
            if cached is not None:
                contents[key] = cached
    reused = tuple(key for key in keys if key in contents)
    todo = [key for key in keys if key not in contents]

    # Biggest tasks first, so that the processes finish at about the same time.
    tasks = [
        _Task(kinds[key], key, by_key[key].parts if kinds[key] == "titles" else (part_by_key[key],), hashes[key])
        for key in sorted(todo, key=lambda key: -sizes[key])
    ]
    # A worker process takes a moment to start: small builds (a new day's parts) stay in this one.
    parallel = sum(sizes[key] for key in todo) >= PARALLEL_DOCS
    contents.update(_build_tasks(tasks, cache_dir, workers if parallel else 1))
    if cache_dir is not None:
        _prune_cache(cache_dir, set(hashes.values()))

    files: dict[str, bytes] = {}
    manifest_parts = []
    for part in parts:
        index_path, docs_path = _add_files(files, part.key, contents[part.key])
        first, last = part.first, part.last
        manifest_parts.append(
            {
                "key": part.key,
                "count": len(part.docs),
                "first": first.isoformat() if first else None,
                "last": last.isoformat() if last else None,
                "index": index_path,
                "docs": docs_path,
                "size": sum(len(data) for data in contents[part.key]),
            }
        )
    manifest_titles = []
    for chunk in chunks:
        index_path, docs_path = _add_files(files, chunk.key, contents[chunk.key])
        firsts = [part.first for part in chunk.parts if part.first is not None]
        lasts = [part.last for part in chunk.parts if part.last is not None]
        manifest_titles.append(
            {
                "key": chunk.key,
                "count": chunk.count,
                "first": min(firsts).isoformat() if firsts else None,
                "last": max(lasts).isoformat() if lasts else None,
                "parts": [part.key for part in chunk.parts],
                "index": index_path,
                "docs": docs_path,
                "size": sum(len(data) for data in contents[chunk.key]),
            }
        )
    ordered = [doc for part in parts for doc in part.docs]  # the parts hold every doc, in `_doc_order`
    files[MANIFEST_PATH] = _dump(_manifest(ordered, manifest_parts, manifest_titles))
    built = tuple(todo)
    # Title chunks counted as parts, so built + reused == parts (generator/bench/worker.py reads this).
    log.info("search: %d docs in %d parts (%d built, %d reused)", len(docs), len(keys), len(built), len(reused))
    return SearchBuild(files=files, built=built, reused=reused)


def _add_files(files: dict[str, bytes], key: str, contents: tuple[bytes, bytes]) -> tuple[str, str]:
    index_bytes, docs_bytes = contents
    index_path = f"{SEARCH_DIR}/index-{key}-{_short_hash(index_bytes)}.json"
    docs_path = f"{SEARCH_DIR}/docs-{key}-{_short_hash(docs_bytes)}.json"
    files[index_path] = index_bytes
    files[docs_path] = docs_bytes
    return index_path, docs_path


@dataclass(frozen=True)
class _Task:
    """One index to build: a month part or a title chunk, and the cache key of its files."""

    kind: str
    """`part` or `titles`."""
    key: str
    parts: tuple[_Part, ...]
    """The month part (one), or the title chunk's parts."""
    cache_hash: str
    """Its files' name in the cache (`_cache_paths`)."""


class _Job:
    """The tasks of one build, taken one at a time by this process and, through their feeders, its workers.

    Whoever is free takes the next task, so the biggest tasks (first) spread over the
    processes and the small ones fill the gaps at the end.
    """

    def __init__(self, tasks: list[_Task]) -> None:
        self.tasks = tasks
        self.next = 0
        self.lock = threading.Lock()  # the workers' feeders are threads of this process

    def take(self) -> _Task | None:
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
    f"import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); from {__name__} import _worker_main; "
    "_worker_main()"
)
"""What a worker process runs: it takes this process's import path first, to import this module by it."""


class _Worker:
    """A new Python process that builds tasks of a `_Job`, fed by a thread of this process.

    A new interpreter, not a fork: a forked worker shares the heap copy-on-write, and every page
    that either process writes afterwards is copied, reading an object included (its reference
    count is written). Building touches the docs and allocates between the corpus's objects,
    so a fork cost about 230 MB of copied pages at 100k papers, more than the worker's own
    80 MB. A new one costs an import (0.2 s) and gets each task's input pickled, made when it
    asks for it. It runs no `__main__` (spawn would run a caller's script again when it has no
    `if __name__ == "__main__"` guard), and is as safe to start from a threaded caller.

    The worker writes each task's files to `store` (the cache, written anyway, or a scratch
    folder) and reports only the key: no index is pickled back nor held twice on the way.
    It asks for the next task before building one, so that the input travels during the build.
    """

    def __init__(self, job: _Job, store: Path) -> None:
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
                    send(None if task is None else (task.key, task.cache_hash, *_task_input(task)))
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


def _worker_main() -> None:
    """In a worker process (`_Worker`): build the tasks read from stdin, report on stdout."""
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
            key, cache_hash, kind, payload = task
            del task  # only one task's input at a time: the next one is on its way
            _write_cached(store, cache_hash, _build_input(kind, payload))
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


def _build_tasks(tasks: list[_Task], cache_dir: Path | None, workers: int) -> dict[str, tuple[bytes, bytes]]:
    """The files of each task by key, built here and by `workers - 1` worker processes; written to `cache_dir`.

    The workers (`_Worker`) share the work with this process rather than take it all: this
    process builds while it waits, its share from its own objects (nothing of it is pickled).
    """
    contents: dict[str, tuple[bytes, bytes]] = {}

    def build(task: _Task) -> None:
        contents[task.key] = _build_task(task)
        if cache_dir is not None:
            _write_cached(cache_dir, task.cache_hash, contents[task.key])

    helpers = min(workers, len(tasks)) - 1
    if helpers < 1 or not sys.executable:
        for task in tasks:
            build(task)
        return contents
    with ExitStack() as stack:
        store = cache_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="search-parts-")))
        job = _Job(tasks)
        started: list[_Worker] = []
        try:
            started.extend(_Worker(job, store) for _ in range(helpers))
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
            built = _read_cached(store, hashes[key])
            if built is None:
                raise RuntimeError(f"search: a worker built part {key!r} but its files are gone from {store}")
            contents[key] = built
    return contents


def _check_unique(docs: Iterable[SearchDoc]) -> None:
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise ValueError(f"search: duplicate doc id {doc.id!r}")
        if len(doc.topics) != len(doc.topic_slugs):
            raise ValueError(f"search: doc {doc.id!r} has {len(doc.topics)} topics but {len(doc.topic_slugs)} slugs")
        seen.add(doc.id)


def _doc_order(doc: SearchDoc) -> tuple[int, str]:
    return (-doc.date.toordinal() if doc.date else 0, doc.id)


def _split_parts(docs: Sequence[SearchDoc]) -> list[_Part]:
    """Parts newest first: a month each (split by whole days past MAX_PART_DOCS), then undated."""
    by_month: dict[tuple[int, int], list[SearchDoc]] = {}
    undated: list[SearchDoc] = []
    for doc in docs:
        if doc.date is None:
            undated.append(doc)
        else:
            by_month.setdefault((doc.date.year, doc.date.month), []).append(doc)
    # Keyed by month once per month (not per doc), newest first; years before 1000 padded as in ISO dates.
    months = {f"{y:04d}-{m:02d}": by_month[y, m] for y, m in sorted(by_month, reverse=True)}
    parts: list[_Part] = []
    for month in months:
        month_docs = sorted(months[month], key=_doc_order)
        if len(month_docs) <= MAX_PART_DOCS:
            parts.append(_Part(month, tuple(month_docs)))
            continue
        # Pack whole days oldest first, so that a new day only changes the newest chunk.
        days: dict[dt.date, list[SearchDoc]] = {}
        for doc in month_docs:
            assert doc.date is not None
            days.setdefault(doc.date, []).append(doc)
        chunks: list[list[SearchDoc]] = []
        for day in sorted(days):
            if not chunks or len(chunks[-1]) + len(days[day]) > MAX_PART_DOCS:
                chunks.append([])
            chunks[-1].extend(days[day])
        for chunk in reversed(chunks):
            ordered = tuple(sorted(chunk, key=_doc_order))
            first = min(d.date for d in ordered if d.date is not None)
            parts.append(_Part(first.isoformat(), ordered))
    if undated:
        parts.append(_Part(UNDATED_KEY, tuple(sorted(undated, key=_doc_order))))
    return parts


@dataclass(frozen=True)
class _TitleChunk:
    key: str
    parts: tuple[_Part, ...]
    """Consecutive month parts, newest first (or the undated part alone)."""

    @property
    def count(self) -> int:
        return sum(len(part.docs) for part in self.parts)


def _runs(parts: Sequence[_Part], size: int) -> tuple[list[list[_Part]], list[_Part]]:
    """`parts` (oldest first) cut into runs closed once they hold `size` docs, and the unclosed rest."""
    runs: list[list[_Part]] = []
    current: list[_Part] = []
    count = 0
    for part in parts:
        current.append(part)
        count += len(part.docs)
        if count >= size:
            runs.append(current)
            current, count = [], 0
    return runs, current


def _split_title_chunks(parts: Sequence[_Part]) -> list[_TitleChunk]:
    """Title chunks newest first, undated last: whole month parts cut oldest first (see the module docstring)."""
    oldest_first = [part for part in reversed(parts) if part.key != UNDATED_KEY]
    # The newest part still grows: it never goes into a sealed chunk, or that chunk would be rebuilt daily.
    sealed, tail = _runs(oldest_first[:-1], TITLE_CHUNK_DOCS)
    tail.extend(oldest_first[-1:])
    small, rest = _runs(tail, TITLE_TAIL_DOCS)
    runs = sealed + small + ([rest] if rest else [])
    # Keyed by the oldest date: the same docs keep their key when their month part is split by days.
    chunks = [_TitleChunk(f"{TITLES_KEY}-{run[0].first}", tuple(reversed(run))) for run in reversed(runs)]
    chunks.extend(_TitleChunk(f"{TITLES_KEY}-{part.key}", (part,)) for part in parts if part.key == UNDATED_KEY)
    return chunks


def _payload(part: _Part) -> list[tuple[str, str, str, str | None, str, list[str]]]:
    """Plain data to build a part from: (title, abstract, url, date, topics text, slugs) per doc."""
    return [
        (
            d.title,
            d.abstract,
            d.url,
            d.date.isoformat() if d.date else None,
            " ".join(d.topics),
            list(d.topic_slugs),
        )
        for d in part.docs
    ]


def _fingerprints(part: _Part) -> tuple[str, str]:
    """Digests of a part's docs: of everything its `_payload` holds, and of what `_titles_payload` takes of it.

    Each digest covers the strings one after the other and their lengths, so no two inputs
    share one; a doc's slugs are preceded by their number.
    """
    titles: list[str] = []
    rest: list[str] = []
    for d in part.docs:
        titles += (d.title, d.url, d.date.isoformat() if d.date else "-", str(len(d.topic_slugs)), *d.topic_slugs)
        rest += (d.abstract, " ".join(d.topics))
    return _digest(titles), _digest([_digest(titles), *rest])


def _digest(strings: list[str]) -> str:
    lengths = np.fromiter(map(len, strings), np.int64, len(strings))
    h = hashlib.sha256(lengths.tobytes())
    h.update("".join(strings).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _part_hash(fingerprint: str) -> str:
    """Hash of everything that decides a part's bytes (its `_payload`, by `_fingerprints`); the cache key."""
    material = [FORMAT_VERSION, lunr_package.__VERSION__, _FIELDS, EXCERPT_CHARS, fingerprint]
    return hashlib.sha256(_dump(material)).hexdigest()


_TitlesPayload = list[tuple[str, str, str | None, list[str]]]


def _titles_payload(parts: Sequence[_Part]) -> _TitlesPayload:
    """(title, url, date, slugs) of every doc of `parts`, in part order (newest first)."""
    return [
        (d.title, d.url, d.date.isoformat() if d.date else None, list(d.topic_slugs))
        for part in parts
        for d in part.docs
    ]


def _titles_hash(fingerprints: list[str]) -> str:
    """Hash of everything that decides a title chunk's bytes (its parts' title fingerprints in order); the cache key."""
    material = [FORMAT_VERSION, lunr_package.__VERSION__, TITLES_KEY, _TITLE_FIELDS, fingerprints]
    return hashlib.sha256(_dump(material)).hexdigest()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _build_titles(payload: _TitlesPayload) -> tuple[bytes, bytes]:
    """Serialised title-only lunr index and small store of a title chunk (in this process or a worker)."""
    documents = [
        {"ref": _base36(i), "title": index_words(title)} for i, (title, _url, _date, _slugs) in enumerate(payload)
    ]
    store = [[url, title, date, slugs] for title, url, date, slugs in payload]
    return _index_bytes(_TITLE_FIELDS, documents), _dump(store)


def _task_input(task: _Task) -> tuple[str, Any]:
    """What `_build_input` needs of a task: plain data, small enough to pickle to a worker."""
    if task.kind == "titles":
        return "titles", _titles_payload(task.parts)
    (part,) = task.parts
    return "part", _payload(part)


def _build_input(kind: str, payload: Any) -> tuple[bytes, bytes]:
    """The index and store bytes of a task from its `_task_input`."""
    return _build_titles(payload) if kind == "titles" else _build_part(payload)


def _build_task(task: _Task) -> tuple[bytes, bytes]:
    """The index and store bytes of one task; its input is made only now, so that all of them never exist at once."""
    return _build_input(*_task_input(task))


def _build_part(payload: list[tuple[str, str, str, str | None, str, list[str]]]) -> tuple[bytes, bytes]:
    """Serialised lunr index and doc store of one part (in this process or a worker)."""
    documents = [
        {
            "ref": str(i),
            "title": index_words(title),
            "abstract": index_words(abstract),
            "topics": index_words(topics),
        }
        for i, (title, abstract, _url, _date, topics, _slugs) in enumerate(payload)
    ]
    store = [[url, title, date, slugs, excerpt(abstract)] for title, abstract, url, date, _topics, slugs in payload]
    return _index_bytes(_FIELDS, documents), _dump(store)


def _index_bytes(fields: Sequence[Any], documents: Iterable[dict[str, Any]]) -> bytes:
    """`_dump(lunr(ref="ref", fields=fields, documents=documents).serialize())`, made by `FastBuilder`."""
    builder = FastBuilder()
    builder.ref("ref")
    for field in fields:
        if isinstance(field, dict):
            builder.field(**field)
        else:
            builder.field(field)
    for document in documents:
        builder.add(document)
    return builder.serialize()


_LUNR_SEPARATOR = re.compile("[" + re.escape(LUNR_SEPARATOR_CHARS) + "]")
"""lunr.py's `Tokenizer` splits at each of these characters (and drops empty pieces)."""
_LUNR_OTHER_SEPARATORS = LUNR_SEPARATOR_CHARS.replace(" ", "")
_JSON_STRING = json.encoder.encode_basestring  # what `_dump` (ensure_ascii=False) writes for a str
_DROPPED = -1
_SEVERAL = -2


def _lunr_tokens(values: list[Any]) -> tuple[list[str], list[int]]:
    """The token strings of lunr.py's `Tokenizer(value)` for each value, one list, and their number per value.

    Tokenizer lower-cases the value and splits it at each of its separators, dropping empty
    pieces; a list or tuple gives one token per element.
    """
    lowered = []
    for value in values:
        if isinstance(value, list | tuple):
            break
        lowered.append("" if value is None else str(value).lower())
    else:
        text = " ".join(word for word in lowered if word)
        # The common case (`index_words` output): words between single spaces, nothing else.
        if not any(sep in text for sep in _LUNR_OTHER_SEPARATORS) and "  " not in text and text[:1] != " " != text[-1:]:
            return (text.split(" ") if text else []), [word.count(" ") + 1 if word else 0 for word in lowered]
    tokens: list[str] = []
    counts = []
    for value in values:
        if value is None:
            words = []
        elif isinstance(value, list | tuple):
            words = [(str(v) if v else "").lower() for v in value]
        else:
            words = [word for word in _LUNR_SEPARATOR.split(str(value).lower()) if word]
        tokens.extend(words)
        counts.append(len(words))
    return tokens, counts


_TERMS: list[str] = []
"""Every term the pipelines of this process made; `_TERM_NUMBERS` numbers them."""
_TERM_NUMBERS: dict[str, int] = {}


def _term_number(term: str) -> int:
    number = _TERM_NUMBERS.get(term)
    if number is None:
        number = _TERM_NUMBERS[term] = len(_TERMS)
        _TERMS.append(term)
    return number


class _TermCache(dict[str, int]):
    """A pipeline's term for each word (as a number in `_TERMS`), run once per word: lunr's token functions are pure.

    `_DROPPED` for a word the pipeline drops (a stop word); `_SEVERAL` for a word it turns
    into several terms, whose numbers are then in `several`.
    """

    def __init__(self, pipeline: Any, field_name: str) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.field_name = field_name
        self.several: dict[str, list[int]] = {}

    def __missing__(self, word: str) -> int:
        terms = [str(token) for token in self.pipeline.run([LunrToken(word)], self.field_name)]
        if len(terms) == 1:
            number = _term_number(terms[0])
        elif terms:
            self.several[word] = [_term_number(term) for term in terms]
            number = _SEVERAL
        else:
            number = _DROPPED
        self[word] = number
        return number


_TERM_CACHES: dict[tuple[tuple[str, ...], tuple[str, ...]], _TermCache] = {}
"""Term caches of this process by (pipeline labels, labels skipped): a corpus has far fewer words than tokens."""


class FastBuilder(LunrBuilder):
    """lunr.py's `Builder` with `lunr.lunr`'s default pipelines, for an index built once and serialised.

    `serialize()` gives the same bytes as `_dump(lunr(...).serialize())` for the same ref,
    fields and documents (tests/test_search.py compares them), many times faster:

    - each distinct word goes through the pipeline (trimmer, stop word filter, Porter
      stemmer) once per process, not once per occurrence;
    - all documents are tokenised and counted at once, and term indexes, field vectors and
      postings are computed with numpy (the scores with the same float operations in the
      same order as `Builder._create_field_vectors`), then written to JSON directly;
    - no `TokenSet` is made: a serialised index has none (lunr.js and `lunr.Index.load`
      build it from the inverted index).

    `add()` only keeps the field values; the work is done by `serialize()`. Token metadata
    (`metadata_whitelist`) is not supported and `build()` is not available.
    """

    def __init__(self) -> None:
        super().__init__()
        default = get_default_builder()
        self.pipeline = default.pipeline
        self.search_pipeline = default.search_pipeline
        self._field_names: tuple[str, ...] | None = None
        self._values: list[list[Any]] = []
        """Per document, its value of each field."""
        self._doc_refs: list[str] = []
        self._doc_boosts: list[Any] = []

    def add(self, doc: dict[str, Any], attributes: dict[str, Any] | None = None) -> None:
        """Add `doc` like `Builder.add` (all fields declared before the first doc; refs unique)."""
        names = tuple(self._fields)
        if self._field_names is None:
            if "_index" in names:
                raise ValueError("a field cannot be named _index")
            self._field_names = names
        elif names != self._field_names:
            raise ValueError("fields changed after documents were added")
        self._doc_refs.append(str(doc[self._ref]))
        self._doc_boosts.append((attributes or {}).get("boost", 1))
        self._values.append(
            [doc[name] if field.extractor is None else field.extractor(doc) for name, field in self._fields.items()]
        )
        self.document_count += 1

    def build(self) -> Any:
        raise NotImplementedError("FastBuilder only serialises: use serialize()")

    def _field_terms(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Term numbers (`_TERMS`) of one field's kept tokens, all documents in order, and their number per document."""
        name = (self._field_names or tuple(self._fields))[position]
        # Fields that skip the same pipeline functions (lunr's default: none) share a cache.
        stack = self.pipeline._stack
        skip = self.pipeline._skip
        key = (tuple(fn.label for fn in stack), tuple(fn.label for fn in stack if name in skip.get(fn, ())))
        cache = _TERM_CACHES.get(key)
        if cache is None:
            cache = _TERM_CACHES[key] = _TermCache(self.pipeline, name)
        tokens, counts = _lunr_tokens([values[position] for values in self._values])
        numbers = np.fromiter(map(cache.__getitem__, tokens), np.int64, len(tokens))
        doc_of = np.repeat(np.arange(len(counts)), counts)
        if (numbers == _SEVERAL).any():
            expanded = [
                [n] if n != _SEVERAL else cache.several[token]
                for n, token in zip(numbers.tolist(), tokens, strict=True)
            ]
            doc_of = np.repeat(doc_of, [len(e) for e in expanded])
            numbers = np.fromiter(chain.from_iterable(expanded), np.int64, len(doc_of))
        kept = numbers != _DROPPED
        return numbers[kept], np.bincount(doc_of[kept], minlength=len(counts))

    def serialize(self) -> bytes:
        """The stock builder's `Index.serialize()` for the same documents, as `_dump` writes it."""
        if self.metadata_whitelist:
            raise ValueError("FastBuilder keeps no token metadata")
        refs = self._doc_refs
        if len(set(refs)) != len(refs):
            raise ValueError("duplicate document refs")
        names = self._field_names or tuple(self._fields)
        docs, fields = len(refs), len(names)
        # Every kept token in the order Builder.add meets them: by document, field, position.
        # A field ref (document, field) is numbered document * fields + field, its add order.
        numbers_by_field = []
        token_refs_by_field = []
        lengths = np.zeros(docs * fields, dtype=np.int64)
        for position in range(fields):
            numbers, per_doc = self._field_terms(position)
            numbers_by_field.append(numbers)
            token_refs_by_field.append(np.repeat(np.arange(docs) * fields + position, per_doc))
            lengths[position::fields] = per_doc
        token_refs = np.concatenate(token_refs_by_field) if fields else np.zeros(0, dtype=np.int64)
        stream = np.argsort(token_refs, kind="stable")
        token_refs = token_refs[stream]
        numbers = (np.concatenate(numbers_by_field) if fields else np.zeros(0, dtype=np.int64))[stream]
        # Term ids ("_index") in order of first occurrence, as Builder.add gives them.
        known, first = np.unique(numbers, return_index=True)
        by_first = np.argsort(first)
        term_of_known = np.empty(len(known), dtype=np.int64)
        term_of_known[by_first] = np.arange(len(known))
        terms = [_TERMS[n] for n in known[by_first].tolist()]
        term_of_number = np.zeros(int(known[-1]) + 1 if len(known) else 0, dtype=np.int64)
        term_of_number[known] = term_of_known
        token_terms = term_of_number[numbers]
        # One row per (field ref, term), by field ref then term id: the field vectors' order.
        keys, tfs = np.unique(token_refs * len(terms) + token_terms, return_counts=True)
        del token_refs, token_terms, numbers, stream, numbers_by_field, token_refs_by_field  # memory: big at 100k docs
        ids = keys % len(terms) if len(terms) else keys
        row_ref = keys // len(terms) if len(terms) else keys
        sizes = np.bincount(row_ref, minlength=docs * fields)

        # Builder._calculate_average_field_lengths: per field, the sum of lengths over the number of field refs.
        averages = np.array([int(lengths[p::fields].sum()) / docs for p in range(fields)], dtype=np.float64)
        # lunr.idf.idf of each term: it depends only on the number of field refs holding the term.
        with_term = np.bincount(ids, minlength=len(terms))
        idf_of = {n: math.log(1 + abs((self.document_count - n + 0.5) / (n + 0.5))) for n in set(with_term.tolist())}
        idfs = np.array([idf_of[n] for n in with_term.tolist()], dtype=np.float64)
        # Builder._create_field_vectors, operation for operation:
        # idf * ((k1 + 1) * tf) / (k1 * (1 - b + b * (length / average)) + tf) * field boost * doc boost.
        k1, b = float(self._k1), float(self._b)
        ref_field = np.tile(np.arange(fields), docs)
        ref_doc = np.repeat(np.arange(docs), fields)
        with np.errstate(divide="ignore", invalid="ignore"):  # a field without terms anywhere: no row uses it
            norms = k1 * ((1 - b) + b * (lengths / averages[ref_field]))
        field_boosts = np.array([float(self._fields[name].boost) for name in names])[ref_field]
        doc_boosts = np.array([float(boost) for boost in self._doc_boosts])[ref_doc]
        tf = tfs.astype(np.float64)
        scores = idfs[ids] * ((k1 + 1) * tf) / (norms[row_ref] + tf) * field_boosts[row_ref] * doc_boosts[row_ref]

        # fieldVectors: [field/ref, [term id, score, ...]] per field ref, in add order.
        id_texts = np.array([str(i) for i in range(len(terms))], dtype=object)
        elements = np.empty(2 * len(keys), dtype=object)
        elements[0::2] = id_texts[ids]
        elements[1::2] = _score_texts(scores)
        vector_heads = np.array(
            [",[" + _JSON_STRING(name + "/" + ref) + ",[" for ref in refs for name in names], dtype=object
        )
        if len(vector_heads):
            vector_heads[0] = vector_heads[0][1:]
        field_vectors = _join_groups(vector_heads, "]]", 2 * sizes, elements)
        del elements, vector_heads, scores, tf, tfs

        # invertedIndex: [term, posting] by term; a posting's keys sorted ("_index" among the field
        # names, as json.dumps(sort_keys=True) orders them), and its doc refs sorted as strings.
        posting_keys = sorted(["_index", *names])
        sorted_terms = sorted(terms)
        term_ids = dict(zip(terms, range(len(terms)), strict=True))
        term_rank = np.empty(len(terms), dtype=np.int64)
        term_rank[np.fromiter(map(term_ids.__getitem__, sorted_terms), np.int64, len(terms))] = np.arange(len(terms))
        doc_order = sorted(range(docs), key=refs.__getitem__)
        doc_rank = np.empty(docs, dtype=np.int64)
        doc_rank[doc_order] = np.arange(docs)
        ref_items = np.array([_JSON_STRING(refs[doc_no]) + ":{}" for doc_no in doc_order], dtype=object)
        key_rank = np.array([posting_keys.index(name) for name in names], dtype=np.int64)
        # One group per (term, posting key) in output order: "_index" groups are empty, a field's holds its doc refs.
        row_group = term_rank[ids] * len(posting_keys) + key_rank[ref_field[row_ref]]
        row_doc_rank = doc_rank[ref_doc[row_ref]]
        posting_order = np.argsort(row_group * docs + row_doc_rank)  # unique keys: one order, whatever the sort
        group_sizes = np.bincount(row_group, minlength=len(terms) * len(posting_keys))
        heads = np.empty((len(terms), len(posting_keys)), dtype=object)
        tails = np.empty((len(terms), len(posting_keys)), dtype=object)
        for k, key in enumerate(posting_keys):
            heads[:, k] = ("," if k else "") + _JSON_STRING(key) + ":{"
            tails[:, k] = "}"
        index_at = posting_keys.index("_index")
        index_head = ("," if index_at else "") + '"_index":'
        heads[:, index_at] = [index_head + str(term_ids[term]) for term in sorted_terms]
        tails[:, index_at] = ""
        term_heads = ["[" + _JSON_STRING(term) + ",{" for term in sorted_terms]
        term_heads[1:] = ["," + head for head in term_heads[1:]]
        heads[:, 0] = [term_head + head for term_head, head in zip(term_heads, heads[:, 0].tolist(), strict=True)]
        tails[:, -1] = [tail + "}]" for tail in tails[:, -1].tolist()]
        inverted_index = _join_groups(
            heads.reshape(-1), tails.reshape(-1), group_sizes, ref_items[row_doc_rank[posting_order]]
        )

        def dump(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

        # Index.serialize()'s keys, sorted as `_dump` sorts them.
        return "".join(
            [
                '{"fieldVectors":[',
                field_vectors,
                '],"fields":',
                dump(list(names)),
                ',"invertedIndex":[',
                inverted_index,
                '],"pipeline":',
                dump(self.search_pipeline.serialize()),
                ',"version":',
                dump(lunr_package.__TARGET_JS_VERSION__),
                "}",
            ]
        ).encode("utf-8")


def _join_groups(heads: np.ndarray | str, tails: np.ndarray | str, sizes: np.ndarray, items: np.ndarray) -> str:
    """Each group's head, its items joined by commas, and its tail; groups joined as they are (no separator).

    `items` (object array of str) holds the groups' items one group after the other, `sizes`
    the number of items of each group. Heads and tails may be one string for every group.
    """
    groups = len(sizes)
    if groups == 0:
        return ""
    total = int(sizes.sum())
    # Slots: head, item, ",", item, ..., tail for each group.
    slots = 2 + np.maximum(2 * sizes - 1, 0)
    starts = np.cumsum(slots) - slots
    out = np.empty(int(slots.sum()), dtype=object)
    out[:] = ","
    out[starts] = heads
    out[starts + slots - 1] = tails
    item_group = np.repeat(np.arange(groups), sizes)
    first_item = np.cumsum(sizes) - sizes
    out[starts[item_group] + 1 + 2 * (np.arange(total) - first_item[item_group])] = items
    return "".join(out.tolist())


_SCORE_TEXTS = np.empty(0, dtype=object)
"""`repr(k / 1000)` at index k (0 <= k < 1e6), or None: the JSON of the rounded scores met so far."""


def _score_texts(values: np.ndarray) -> np.ndarray:
    """The JSON text of `round(v, 3)` for each value (lunr rounds field vector scores so), as an object array.

    For rint(v * 1000) = k, round(v, 3) is the double nearest k / 1000, as is k / 1000: the
    same float, so the same text. Python's round is correct (half to even on the exact
    binary value); rint can differ only where v * 1000 lies within rounding error of a half,
    or for huge values: those few are rounded and written by Python itself.
    """
    global _SCORE_TEXTS
    scaled = values * 1000.0
    whole = np.rint(scaled)
    doubtful = ~(np.abs(scaled - np.floor(scaled) - 0.5) >= 1e-6) | ~((scaled >= 0) & (scaled < 1e6))
    whole[doubtful] = 0
    ks = whole.astype(np.int64)
    if len(ks):
        top = int(ks.max()) + 1
        if top > len(_SCORE_TEXTS):
            grown = np.empty(max(top, 2 * len(_SCORE_TEXTS)), dtype=object)
            grown[: len(_SCORE_TEXTS)] = _SCORE_TEXTS
            _SCORE_TEXTS = grown
        present = np.unique(ks)
        missing = present[np.fromiter((t is None for t in _SCORE_TEXTS[present].tolist()), bool, len(present))]
        _SCORE_TEXTS[missing] = [float.__repr__(k / 1000) for k in missing.tolist()]
    out: np.ndarray = _SCORE_TEXTS[ks]
    for i in np.flatnonzero(doubtful).tolist():
        out[i] = json.dumps(round(float(values[i]), 3))
    return out


def _manifest(docs: Sequence[SearchDoc], parts: list[dict[str, Any]], titles: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest; `docs` in `_doc_order` (a topic's name is the one of its first doc in that order)."""
    names: dict[str, str] = {}
    for doc in docs:
        for name, slug in zip(doc.topics, doc.topic_slugs, strict=True):
            names.setdefault(slug, name)
    topics = sorted(([slug, name] for slug, name in names.items()), key=lambda t: (t[1].casefold(), t[0]))
    dates = [d.date for d in docs if d.date is not None]
    return {
        "format": FORMAT_VERSION,
        "count": len(docs),
        "first": min(dates).isoformat() if dates else None,
        "last": max(dates).isoformat() if dates else None,
        "topics": topics,
        "store": ["url", "title", "date", "topic_slugs", "excerpt"],
        "title_parts": titles,
        "parts": parts,
    }


def _dump(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _cache_paths(cache_dir: Path, part_hash: str) -> tuple[Path, Path]:
    stem = f"{_CACHE_PREFIX}{part_hash}"
    return cache_dir / f"{stem}.index.json", cache_dir / f"{stem}.docs.json"


def _read_cached(cache_dir: Path, part_hash: str) -> tuple[bytes, bytes] | None:
    index_path, docs_path = _cache_paths(cache_dir, part_hash)
    try:
        return index_path.read_bytes(), docs_path.read_bytes()
    except OSError:
        return None


def _write_cached(cache_dir: Path, part_hash: str, contents: tuple[bytes, bytes]) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    for path, data in zip(_cache_paths(cache_dir, part_hash), contents, strict=True):
        # Atomic: a concurrent or interrupted build never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _prune_cache(cache_dir: Path, keep: set[str]) -> None:
    """Remove cached parts this build did not use, so the cache does not grow by a part a day."""
    if not cache_dir.is_dir():
        return
    for path in cache_dir.glob(f"{_CACHE_PREFIX}*.json"):
        part_hash = path.name[len(_CACHE_PREFIX) :].split(".", 1)[0]
        if part_hash not in keep:
            path.unlink(missing_ok=True)

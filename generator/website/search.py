"""Prebuilt search split by term, so that a query fetches only the pieces for its words.

Material's search plugin builds its lunr index in the browser, which takes seconds at digest
scale, and whole prebuilt lunr indexes (this module's earlier layout: month parts and title
chunks) made a query fetch 33 MB at 10k papers and all 393 MB at 100k. Here the index is
built once in Python with lunr's words and lunr's BM25 scores (generator/website/search_index.py) and
written in small files that the browser fetches as a query needs them
(theme_overrides/assets/javascripts/digest-search.js):

- **Segments.** Docs are ordered as they were first seen (oldest day first, then by id):
  adding a day only appends. Whole days are cut, oldest first, into runs sealed once they hold
  `SEGMENT_DOCS` docs; each `MERGE_RUNS` sealed runs, oldest first, make one segment, and the
  rest (fewer sealed runs, then the newest, open run) one segment each. So only the open
  segment changes when a day is added, and about every `SEGMENT_DOCS` docs a run seals (the
  open segment is then built one last time); when that completes a group, the group's runs
  are built once more as one segment. A 100k digest has 4 to 7 segments. Undated docs, by id,
  make segments of their own (`undated`, `undated-2`, ...). A doc's number is its position in
  its segment; a paper seen again later keeps its place (its segment is rebuilt for its newer
  date).
- **Files of a segment** (generator/website/search_index.py): term shards `t<i>.json` (sorted terms
  grouped by their first two or three characters, about `SHARD_BYTES` each, with per term its
  docs, delta-coded, each with a 5-bit BM25 score and a title bit), doc metadata `m.json`
  (date and topics of each doc, for the filters) and doc chunks `d<i>.json` (`CHUNK_DOCS`
  docs each: url, title, date, topic slugs and the start of the abstract for the snippet).
  They live in `search/<segment key>-<hash of the segment's files>/`, so a browser never mixes
  files of two builds, and a sealed segment keeps its folder name and its bytes.
- **Manifest** `search/manifest.json`, fetched once per visit: the segments newest first with
  their folders, doc counts, date ranges and shard boundaries (for each shard the least term
  it may hold), the topics (slug and name) and date range for the filters, and the score
  scale.

A query (digest-search.js) fetches the manifest and lunr.js, then for each query word its
shard in every segment (the last word, while it is typed, is completed as a prefix from that
same shard), and ranks once every segment has answered, so that the first result never changes
as pieces arrive: docs with the most query words first, then the most query words in the
title, then the summed scores, then newest. Only then does it fetch the doc chunks of the
results it shows. A filter fetches `m.json` of the segments whose dates meet it.

Building: each segment is built on its own (`search_index.build_segment`), in this process and,
when there is much to build, a new worker process (`generator.runtime.parallel`, spawned: a fork would
copy much of the corpus's heap; it writes segments with `search_segments.build_stored`), and cached in
`cache_dir` (the stage's folder from `cache.stage_dir`: only ever this code's segments) under
a hash of its input (its docs' payload and the constants), so a build reuses every segment
whose docs did not change. Output is deterministic: sorted input,
sorted JSON keys, no timestamps.

Word splitting is done before lunr, the same way digest-search.js splits the query (NFKC,
lower case, runs of Unicode letters and digits): lunr.py's and lunr.js's trimmers disagree on
non-ASCII and inner punctuation, and this keeps index and query terms identical.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.runtime.parallel import DEFAULT, IN_PROCESS, Parallelism, Spawned, take_in_turn
from generator.runtime.processes import gc_paused
from generator.website import search_index, search_segments
from generator.website.search_index import Segment, SegmentPayload, dump, excerpt, index_words, utf16_key

__all__ = ["SearchBuild", "SearchDoc", "build_search_files", "build_search_parts", "excerpt", "index_words"]

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 5
"""The manifest's `format`: what digest-search.js expects (its `FORMAT`); changed with it, when
the files a browser reads change their meaning. Not a cache version (see `_segment_hash`)."""

SEARCH_DIR = "search"
"""Folder of the search files, relative to the site root."""

MANIFEST_PATH = f"{SEARCH_DIR}/manifest.json"
"""Path of the manifest, relative to the site root; the browser fetches it first."""

SEGMENT_DOCS = 8192
"""A run of whole days is sealed once it holds this many docs (a single bigger day stays whole)."""

MERGE_RUNS = 4
"""Sealed runs, oldest first, are merged by this many into one segment (fewer segments: fewer files a word needs)."""

UNDATED_KEY = "undated"


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
    """Newest appearance date: shown on the result and used by the date filter."""
    topics: tuple[str, ...]
    """Topic display names, searchable and shown on the result."""
    topic_slugs: tuple[str, ...]
    """Topic slugs parallel to `topics`, used by the topic filter."""
    first_date: dt.date | None = None
    """The day the paper was first seen, which places it in a segment; None: `date` (or undated)."""
    words: str = ""
    """More searchable text, indexed with the topic names: the authors' names and arXiv categories."""

    @property
    def field_text(self) -> str:
        """The text of the third indexed field: topic names, then `words`."""
        topics = " ".join(self.topics)
        return f"{topics} {self.words}" if self.words else topics

    @property
    def seen(self) -> dt.date | None:
        """The day that orders the doc among the segments."""
        return self.first_date or self.date


@dataclass(frozen=True)
class SearchBuild:
    """What `build_search_parts` produced, with what it had to build and what it reused."""

    files: dict[str, bytes]
    """File contents keyed by path relative to the site root."""
    built: tuple[str, ...]
    """Keys of the segments built in this call, newest first."""
    reused: tuple[str, ...]
    """Keys of the segments taken from the cache, newest first."""


@dataclass(frozen=True)
class _Segment:
    key: str
    docs: tuple[SearchDoc, ...]
    """In doc number order: first seen, then id (undated: by id)."""


def build_search_files(
    docs: Sequence[SearchDoc], *, cache_dir: Path | None = None, parallel: Parallelism = DEFAULT
) -> dict[str, bytes]:
    """Build the search files for `docs`: `search/manifest.json` and each segment's folder.

    Returns contents keyed by path relative to the site root. Bytes depend only on the docs,
    not on their order, the processes that built them or the cache. With `cache_dir`, segments
    whose docs did not change since an earlier call are read from there instead of rebuilt. From
    `parallel.search_from` docs to build, worker processes share the work (starting one takes
    about 0.2 s, so a smaller build, a new day's segment, is done faster alone).
    """
    return build_search_parts(docs, cache_dir=cache_dir, parallel=parallel).files


def build_search_parts(
    docs: Sequence[SearchDoc], *, cache_dir: Path | None = None, parallel: Parallelism = DEFAULT
) -> SearchBuild:
    """Like `build_search_files`, and also report which segments were built and which reused."""
    # Building makes no reference cycles but many short-lived objects: without this, the
    # collector's full passes over the caller's heap (the whole corpus, in a build) cost about
    # a second at 100k papers.
    with gc_paused():
        return _build(docs, cache_dir, parallel)


def _build(docs: Sequence[SearchDoc], cache_dir: Path | None, parallel: Parallelism) -> SearchBuild:
    _check_unique(docs)
    segments = split_segments(docs)
    hashes = {segment.key: _segment_hash(segment) for segment in segments}

    built_segments: dict[str, Segment] = {}
    if cache_dir is not None:
        for segment in segments:
            cached = search_segments.read_cached(cache_dir, hashes[segment.key])
            if cached is not None:
                built_segments[segment.key] = cached
    reused = tuple(segment.key for segment in segments if segment.key in built_segments)
    todo = [segment for segment in segments if segment.key not in built_segments]
    # Biggest first, so that the processes finish at about the same time.
    todo.sort(key=lambda s: -len(s.docs))
    # A worker process takes a moment to start: small builds (a new day's segment) stay in this one.
    if sum(len(segment.docs) for segment in todo) < parallel.search_from:
        parallel = IN_PROCESS
    built_segments.update(_build_segments(todo, hashes, cache_dir, parallel))
    if cache_dir is not None:
        search_segments.prune_cache(cache_dir, set(hashes.values()))

    files: dict[str, bytes] = {}
    entries = []
    for segment in segments:
        built = built_segments[segment.key]
        folder = f"{SEARCH_DIR}/{segment.key}-{_sha12(search_index.pack(built))}/"
        for name, data in built.files.items():
            files[folder + name] = data
        dates = [d.date for d in segment.docs if d.date is not None]
        shards = sum(1 for name in built.files if name.startswith("t"))
        entries.append(
            {
                "key": segment.key,
                "path": folder,
                "count": len(segment.docs),
                "first": min(dates).isoformat() if dates else None,
                "last": max(dates).isoformat() if dates else None,
                "shards": ["", *built.boundaries] if shards else [],
                "bytes": sum(len(data) for data in built.files.values()),
            }
        )
    files[MANIFEST_PATH] = dump(_manifest(segments, entries))
    built_keys = tuple(segment.key for segment in segments if segment.key not in reused)
    log.info(
        "search: %d docs in %d parts (%d built, %d reused)", len(docs), len(segments), len(built_keys), len(reused)
    )
    return SearchBuild(files=files, built=built_keys, reused=reused)


def _build_segments(
    todo: list[_Segment], hashes: dict[str, str], cache_dir: Path | None, parallel: Parallelism
) -> dict[str, Segment]:
    """Each segment of `todo` by key, built here and by the workers `parallel` allows; written to `cache_dir`.

    The workers share the work with this process rather than take it all: this process builds
    while it waits, its share from its own objects (nothing of it is pickled). A worker writes
    each segment to `cache_dir` (or a scratch folder) and reports only that it did; its input is
    made when it asks for it, so that all of them never exist at once.
    """
    built: dict[str, Segment] = {}

    def here(segment: _Segment) -> None:
        built[segment.key] = build_here(segment)
        if cache_dir is not None:
            search_segments.write_cached(cache_dir, hashes[segment.key], built[segment.key])

    def task_input(segment: _Segment) -> tuple[str, SegmentPayload]:
        return hashes[segment.key], _payload(segment)

    with ExitStack() as stack:
        store = cache_dir
        if store is None and parallel.processes > 1 and len(todo) > 1:
            store = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="search-segments-")))
        workers = Spawned(functools.partial(search_segments.build_stored, str(store)), task_input)
        shares = take_in_turn(todo, here, workers, parallel)
        for share in shares:
            for index, _ in share:
                key = todo[index].key
                segment = search_segments.read_cached(store, hashes[key]) if store is not None else None
                if segment is None:
                    raise RuntimeError(f"search: a worker built segment {key!r} but its file is gone from {store}")
                built[key] = segment
    return built


def build_here(segment: _Segment) -> Segment:
    """Build one segment in this process (its input is made only now, so that all of them never exist at once)."""
    return search_index.build_segment(_payload(segment))


def _sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _check_unique(docs: Iterable[SearchDoc]) -> None:
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise ValueError(f"search: duplicate doc id {doc.id!r}")
        if len(doc.topics) != len(doc.topic_slugs):
            raise ValueError(f"search: doc {doc.id!r} has {len(doc.topics)} topics but {len(doc.topic_slugs)} slugs")
        seen.add(doc.id)


def split_segments(docs: Iterable[SearchDoc]) -> list[_Segment]:
    """Segments newest first, undated last (see the module docstring)."""
    days: dict[dt.date, list[SearchDoc]] = {}
    undated: list[SearchDoc] = []
    for doc in docs:
        seen = doc.seen
        if seen is None:
            undated.append(doc)
        else:
            days.setdefault(seen, []).append(doc)
    runs: list[list[SearchDoc]] = []
    count = SEGMENT_DOCS
    for day in sorted(days):
        if count >= SEGMENT_DOCS:
            runs.append([])
            count = 0
        day_docs = sorted(days[day], key=lambda d: d.id)
        runs[-1].extend(day_docs)
        count += len(day_docs)
    # Every run but the newest is sealed; whole groups of MERGE_RUNS sealed runs, oldest first, make one segment.
    sealed = len(runs) - 1 if runs else 0
    merged = sealed - sealed % MERGE_RUNS
    groups = [runs[i : i + MERGE_RUNS] for i in range(0, merged, MERGE_RUNS)] + [[run] for run in runs[merged:]]
    segments = []
    for group in reversed(groups):
        first = group[0][0].seen
        assert first is not None
        segments.append(_Segment(first.isoformat(), tuple(doc for run in group for doc in run)))
    undated.sort(key=lambda d: d.id)
    for n, start in enumerate(range(0, len(undated), SEGMENT_DOCS)):
        key = UNDATED_KEY if n == 0 else f"{UNDATED_KEY}-{n + 1}"
        segments.append(_Segment(key, tuple(undated[start : start + SEGMENT_DOCS])))
    return segments


def _payload(segment: _Segment) -> SegmentPayload:
    """Plain data to build a segment from: (title, abstract, url, date, topics text, slugs) per doc."""
    return [
        (d.title, d.abstract, d.url, d.date.isoformat() if d.date else None, d.field_text, list(d.topic_slugs))
        for d in segment.docs
    ]


def _segment_hash(segment: _Segment) -> str:
    """The cache key: a hash of its docs' payload and of the constants that shape a segment.

    The code, lunr's version included, is the cache folder's part of the key (`cache.stage_dir`);
    the constants are here for a process that changes them at run time (tests do). The digest
    covers the strings one after the other and their lengths, so no two inputs share one; a
    doc's slugs are preceded by their number.
    """
    strings: list[str] = []
    for d in segment.docs:
        strings += (d.title, d.abstract, d.url, d.date.isoformat() if d.date else "-", d.field_text)
        strings += (str(len(d.topic_slugs)), *d.topic_slugs)
    lengths = np.fromiter(map(len, strings), np.int64, len(strings))
    digest = hashlib.sha256(lengths.tobytes())
    digest.update("".join(strings).encode("utf-8", "surrogatepass"))
    i = search_index
    constants = [i.TITLE_BOOST, i.WEIGHT_MIN, i.WEIGHT_RATIO, i.SHARD_BYTES, i.CHUNK_DOCS, i.ABSTRACT_CHARS]
    material = [constants, digest.hexdigest()]
    return hashlib.sha256(dump(material)).hexdigest()


def _manifest(segments: Sequence[_Segment], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest. A topic's name is the one of its first doc, newest segment first."""
    names: dict[str, str] = {}
    dates: list[dt.date] = []
    for segment in segments:
        for doc in reversed(segment.docs):
            for name, slug in zip(doc.topics, doc.topic_slugs, strict=True):
                names.setdefault(slug, name)
            if doc.date is not None:
                dates.append(doc.date)
    topics = sorted(([slug, name] for slug, name in names.items()), key=lambda t: (t[1].casefold(), utf16_key(t[0])))
    return {
        "format": MANIFEST_FORMAT,
        "count": sum(len(segment.docs) for segment in segments),
        "first": min(dates).isoformat() if dates else None,
        "last": max(dates).isoformat() if dates else None,
        "topics": topics,
        "chunk": search_index.CHUNK_DOCS,
        "weights": [search_index.WEIGHT_MIN, search_index.WEIGHT_RATIO],
        "doc": ["url", "title", "date", "topic_slugs", "abstract"],
        "segments": entries,
    }


def manifest_of(files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest among built search files (for tests and benchmarks)."""
    data: dict[str, Any] = json.loads(files[MANIFEST_PATH])
    return data

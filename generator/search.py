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

One more part, the titles part, answers title queries over every paper before the month
parts arrive (an old paper's title otherwise waits for all of them):

- `search/index-titles-<hash>.json`: a lunr index of the `title` field of all docs (no
  positions metadata; ref = the doc's position in the titles store, in base 36);
- `search/docs-titles-<hash>.json`: its store, a list of `[url, title, date, slugs]` in the
  order of the month parts (newest first, undated last); the browser shows the excerpt once
  the doc's month part is loaded.

`search/manifest.json` lists the titles part and the parts newest first plus the topics and
date range for the filters. Part file names carry a hash of their bytes, so browsers never
mix stale parts.

Output is deterministic (sorted input, sorted JSON keys, no timestamps). lunr.py cannot update
an index, so parts are rebuilt whole, in parallel, and reused from `cache_dir` when the docs
that make them (and this module's format) are unchanged: adding a day rebuilds one part.

Word splitting is done here, before lunr, the same way digest-search.js splits the query
(NFKC, lower case, runs of Unicode letters and digits): lunr.py's and lunr.js's trimmers
disagree on non-ASCII and inner punctuation, and this keeps index and query terms identical.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import multiprocessing
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lunr as lunr_package
from lunr import lunr

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
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
"""Key of the titles part (all docs, title field only) in `SearchBuild.built`/`reused` and file names."""

_FIELDS: list[Any] = [{"field_name": "title", "boost": 10}, "abstract", "topics"]
_TITLE_FIELDS: list[Any] = ["title"]
_WORD = re.compile(r"[^\W_]+")
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
    """Keys of the parts built in this call: `TITLES_KEY` first (when there are docs), then newest first."""
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
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of `text` with whitespace collapsed, cut at a word boundary within `limit` chars."""
    text = _SPACE.sub(" ", text).strip()
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
    _check_unique(docs)
    parts = _split_parts(docs)
    hashes = {part.key: _part_hash(part) for part in parts}
    titles = _titles_payload(parts)
    if titles:
        hashes[TITLES_KEY] = _titles_hash(titles)
    keys = ([TITLES_KEY] if titles else []) + [part.key for part in parts]

    contents: dict[str, tuple[bytes, bytes]] = {}
    if cache_dir is not None:
        for key in keys:
            cached = _read_cached(cache_dir, hashes[key])
            if cached is not None:
                contents[key] = cached
    reused = tuple(key for key in keys if key in contents)
    todo = [key for key in keys if key not in contents]

    by_key = {part.key: part for part in parts}
    tasks: list[tuple[str, Any]] = [
        ("titles", titles) if key == TITLES_KEY else ("part", _payload(by_key[key])) for key in todo
    ]
    if workers > 1 and len(todo) > 1:
        method = _start_method()
        context = multiprocessing.get_context(method)
        if method == "fork":
            # Forked workers share the parent's heap copy-on-write; frozen objects are never
            # visited by the workers' collector, so far fewer pages get copied (half at 30k).
            gc.freeze()
        try:
            # The titles part (all docs) is the longest task: it goes first, the month parts share the other workers.
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context) as pool:
                results = list(pool.map(_build_task, tasks))
        finally:
            if method == "fork":
                gc.unfreeze()
    else:
        results = [_build_task(task) for task in tasks]
    for key, result in zip(todo, results, strict=True):
        contents[key] = result
        if cache_dir is not None:
            _write_cached(cache_dir, hashes[key], result)
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
    manifest_titles = None
    if titles:
        index_path, docs_path = _add_files(files, TITLES_KEY, contents[TITLES_KEY])
        manifest_titles = {
            "key": TITLES_KEY,
            "count": len(titles),
            "index": index_path,
            "docs": docs_path,
            "size": sum(len(data) for data in contents[TITLES_KEY]),
        }
    files[MANIFEST_PATH] = _dump(_manifest(docs, manifest_parts, manifest_titles))
    built = tuple(todo)
    # Parts counted with the titles part, so built + reused == parts (generator/bench/worker.py reads this).
    log.info("search: %d docs in %d parts (%d built, %d reused)", len(docs), len(keys), len(built), len(reused))
    return SearchBuild(files=files, built=built, reused=reused)


def _add_files(files: dict[str, bytes], key: str, contents: tuple[bytes, bytes]) -> tuple[str, str]:
    index_bytes, docs_bytes = contents
    index_path = f"{SEARCH_DIR}/index-{key}-{_short_hash(index_bytes)}.json"
    docs_path = f"{SEARCH_DIR}/docs-{key}-{_short_hash(docs_bytes)}.json"
    files[index_path] = index_bytes
    files[docs_path] = docs_bytes
    return index_path, docs_path


def _start_method() -> str:
    """fork when it is safe (one thread), else spawn.

    Forking a threaded process (`mkdocs serve`) can deadlock the child on a lock another
    thread held; spawn avoids that but re-imports `__main__`, which breaks scripts without an
    `if __name__ == "__main__"` guard. Single-threaded callers get fork, threaded ones spawn.
    """
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


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
    months: dict[str, list[SearchDoc]] = {}
    undated: list[SearchDoc] = []
    for doc in docs:
        if doc.date is None:
            undated.append(doc)
        else:
            months.setdefault(doc.date.strftime("%Y-%m"), []).append(doc)
    parts: list[_Part] = []
    for month in sorted(months, reverse=True):
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


def _payload(part: _Part) -> list[tuple[str, str, str, str | None, str, list[str]]]:
    """Plain data for a worker process: (title, abstract, url, date, topics text, slugs) per doc."""
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


def _part_hash(part: _Part) -> str:
    """Hash of everything that decides a part's bytes; the cache key."""
    material = [FORMAT_VERSION, lunr_package.__VERSION__, _FIELDS, EXCERPT_CHARS, _payload(part)]
    return hashlib.sha256(_dump(material)).hexdigest()


_TitlesPayload = list[tuple[str, str, str | None, list[str]]]


def _titles_payload(parts: Sequence[_Part]) -> _TitlesPayload:
    """(title, url, date, slugs) of every doc, in part order (newest first, undated last)."""
    return [
        (d.title, d.url, d.date.isoformat() if d.date else None, list(d.topic_slugs))
        for part in parts
        for d in part.docs
    ]


def _titles_hash(payload: _TitlesPayload) -> str:
    """Hash of everything that decides the titles part's bytes; the cache key."""
    material = [FORMAT_VERSION, lunr_package.__VERSION__, TITLES_KEY, _TITLE_FIELDS, payload]
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
    """Serialised title-only lunr index and small store of all docs (runs in a worker process)."""
    documents = [
        {"ref": _base36(i), "title": index_words(title)} for i, (title, _url, _date, _slugs) in enumerate(payload)
    ]
    index = lunr(ref="ref", fields=_TITLE_FIELDS, documents=documents)
    store = [[url, title, date, slugs] for title, url, date, slugs in payload]
    return _dump(index.serialize()), _dump(store)


def _build_task(task: tuple[str, Any]) -> tuple[bytes, bytes]:
    kind, payload = task
    return _build_titles(payload) if kind == "titles" else _build_part(payload)


def _build_part(payload: list[tuple[str, str, str, str | None, str, list[str]]]) -> tuple[bytes, bytes]:
    """Serialised lunr index and doc store of one part (runs in a worker process)."""
    documents = [
        {
            "ref": str(i),
            "title": index_words(title),
            "abstract": index_words(abstract),
            "topics": index_words(topics),
        }
        for i, (title, abstract, _url, _date, topics, _slugs) in enumerate(payload)
    ]
    index = lunr(ref="ref", fields=_FIELDS, documents=documents)
    store = [[url, title, date, slugs, excerpt(abstract)] for title, abstract, url, date, _topics, slugs in payload]
    return _dump(index.serialize()), _dump(store)


def _manifest(docs: Sequence[SearchDoc], parts: list[dict[str, Any]], titles: dict[str, Any] | None) -> dict[str, Any]:
    names: dict[str, str] = {}
    for doc in sorted(docs, key=_doc_order):
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
        "titles": titles,
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

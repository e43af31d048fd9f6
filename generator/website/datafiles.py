"""The data files: `papers.json`, or shards of it with an index when it would be too big (pure: returns bytes).

Every paper is one record, one line of JSON, oldest first (`first_seen_order`). When all the
records fit in `limit` bytes they are `papers.json`, `{"papers": [...]}`. Otherwise they are
cut, in the same order, into `data/papers-0001.json`, `data/papers-0002.json`, ... of the same
shape and at most `limit` bytes each, and `papers.json` is the index: the shards (file, papers,
bytes, first-seen dates) and `shard_of`, each paper's shard by id.

Shards stay put as days are added. New papers come last in first-seen order, and where one
shard ends is decided by what does not change as a paper is seen again: the bytes of its id,
title, abstract, url, arXiv id and authors, plus `GROWTH_ALLOWANCE` for the rest (dates,
appearances, topics, near-duplicates, similar papers). A shard takes papers until that estimate
reaches `FILL` of the limit, so adding a day changes only the last shard, the records it touches
and the index, and no paper moves to another shard unless its shard's real bytes would pass
the limit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from generator.corpus_order import first_seen_order
from generator.models import Corpus

log = logging.getLogger(__name__)

MiB = 1024 * 1024

DEFAULT_SHARD_BYTES = 20 * MiB
"""Default `data_shard_bytes`: no data file over 20 MiB (Cloudflare Pages refuses files over 25 MiB)."""

MIN_SHARD_BYTES = 4096
"""The smallest `data_shard_bytes` the configuration accepts (a record can be 50 KB: tests use small limits)."""

INDEX = "papers.json"
"""The whole data, or the index of the shards."""

SHARD = "data/papers-{:04d}.json"
"""Name of the n-th shard (1-based)."""

GROWTH_ALLOWANCE = 512
"""Estimated bytes of the parts of a record that grow as days are added (about 470 in synthetic corpora)."""

FILL = 15 / 16
"""A shard takes papers while their estimated bytes stay within this share of the limit."""

_HEAD = b'{"papers":[\n'
_SEPARATOR = b",\n"


def _tail(count: int) -> bytes:
    return b"\n]}\n" if count else b"]}\n"


@dataclass(frozen=True)
class Record:
    """One paper's line of JSON and what the shards are cut by."""

    id: str
    data: bytes
    """The record's JSON (no newline)."""
    estimate: int
    """Bytes of its parts that do not change as days are added, plus `GROWTH_ALLOWANCE`."""
    first_seen: str | None
    """ISO date the paper was first seen, None when undated."""


def records(corpus: Corpus) -> list[Record]:
    """Every paper's record, oldest first (by the day it was first seen, then id).

    The layout (README *Data files*): `id`, `title`, `abstract`, `url`, `arxiv_id`, `authors`,
    `categories`, `primary_category`, `published`, `doi`, `journal_ref`, `comment` and `code_url`
    (only when known), `dates`, `upvotes` (only when known), `appearances` as `[source, date, position]`, `topics`,
    `near_duplicates` as `{id, score, kind}` (only when there are any) and `similar` as
    `[id, score]` (only when there are any). One record is encoded in two pieces by json's C
    encoder, the stable one first, which gives the shard estimate without a second encoding.
    """
    sim = corpus.similarity
    assignments = corpus.topics.assignments
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out = []
    for paper in sorted(corpus.papers, key=first_seen_order):
        stable: dict[str, object] = {"id": paper.id, "title": paper.title, "abstract": paper.abstract}
        stable["url"] = paper.path
        if paper.arxiv_id:
            stable["arxiv_id"] = paper.arxiv_id
        if paper.authors:
            stable["authors"] = list(paper.authors)
        # What the arXiv and Hugging Face formats tell (README *Formats read*), only when known.
        if paper.categories:
            stable["categories"] = list(paper.categories)
        for name, value in (
            ("primary_category", paper.primary_category),
            ("published", paper.published.isoformat() if paper.published else None),
            ("doi", paper.doi),
            ("journal_ref", paper.journal_ref),
            ("comment", paper.comment),
            ("code_url", paper.code_url),
        ):
            if value:
                stable[name] = value
        growing: dict[str, object] = {
            "dates": [day.isoformat() for day in paper.dates],
            "appearances": [[a.source, a.date.isoformat() if a.date else None, a.position] for a in paper.appearances],
            "topics": [a.slug for a in assignments.get(paper.id, ())],
        }
        if paper.upvotes is not None:
            growing["upvotes"] = paper.upvotes
        near = sim.near_duplicates.get(paper.id, ())
        if near:
            growing["near_duplicates"] = [{"id": n.id, "score": n.score, "kind": n.kind} for n in near]
        similar = sim.similar.get(paper.id, ())
        if similar:
            growing["similar"] = [[s.id, s.score] for s in similar]
        head = encode(stable).encode("utf-8")
        data = head[:-1] + b"," + encode(growing).encode("utf-8")[1:]
        first = paper.first_date
        out.append(Record(paper.id, data, len(head) + GROWTH_ALLOWANCE, first.isoformat() if first else None))
    return out


def _file(chunk: list[Record]) -> bytes:
    return _HEAD + _SEPARATOR.join(record.data for record in chunk) + _tail(len(chunk))


def _whole_size(all_records: list[Record]) -> int:
    count = len(all_records)
    separators = len(_SEPARATOR) * max(count - 1, 0)
    return len(_HEAD) + sum(len(r.data) for r in all_records) + separators + len(_tail(count))


def shard_records(all_records: list[Record], limit: int) -> list[list[Record]]:
    """Cut the records, in order, into shards of at most `limit` bytes (see the module's docstring)."""
    target = int(limit * FILL)
    shards: list[list[Record]] = []
    current: list[Record] = []
    estimate = size = 0
    empty = len(_HEAD) + len(_tail(1))
    for record in all_records:
        grown = size + len(_SEPARATOR) + len(record.data) if current else empty + len(record.data)
        if current and (estimate + record.estimate > target or grown > limit):
            shards.append(current)
            current, estimate, grown = [], 0, empty + len(record.data)
        if grown > limit:
            log.warning("paper-digest: the record of %s alone is %d bytes, over data_shard_bytes", record.id, grown)
        current.append(record)
        estimate += record.estimate
        size = grown
    if current:
        shards.append(current)
    return shards


def data_files(corpus: Corpus, limit: int = DEFAULT_SHARD_BYTES) -> Iterator[tuple[str, bytes]]:
    """`(path, bytes)` of every data file: `papers.json` alone, or the shards and then the index.

    One file at a time, so that at most one shard is held besides the records.
    """
    all_records = records(corpus)
    if _whole_size(all_records) <= limit:
        yield INDEX, _file(all_records)
        return
    entries = []
    shard_of: dict[str, int] = {}
    for number, chunk in enumerate(shard_records(all_records, limit)):
        data = _file(chunk)
        name = SHARD.format(number + 1)
        yield name, data
        entries.append(
            {
                "file": name,
                "papers": len(chunk),
                "bytes": len(data),
                "first_seen": [chunk[0].first_seen, chunk[-1].first_seen],
            }
        )
        for record in chunk:
            shard_of[record.id] = number
    yield INDEX, index_file(entries, shard_of, limit)


def index_file(entries: list[dict[str, object]], shard_of: dict[str, int], limit: int) -> bytes:
    """`papers.json` of a sharded digest: one line per shard, then `shard_of` (ids sorted) on one line."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = _SEPARATOR.join(encode(entry).encode("utf-8") for entry in entries)
    where = encode(dict(sorted(shard_of.items()))).encode("utf-8")
    data = b'{"shards":[\n' + lines + b'\n],\n"shard_of":' + where + b"}\n"
    if len(data) > limit:
        log.warning("paper-digest: papers.json, the index of the shards, is %d bytes: over data_shard_bytes", len(data))
    return data

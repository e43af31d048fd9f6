"""Tests for generator/website/search.py and search_index.py: segments, term shards, doc chunks, the cache.

The browser side (digest-search.js) is tested in tests/test_search_browser.py; `find` here is
a reference reader of the same files (exact words, no prefixes) that ranks as the browser does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.runtime import parallel
from generator.runtime.parallel import IN_PROCESS, Parallelism
from generator.website import search, search_index
from generator.website.search import SearchDoc, build_search_files, build_search_parts, index_words

REPO = Path(__file__).resolve().parent.parent

TOPICS = {
    "quantum": "Quantum Physics",
    "llm": "Large Language Models",
    "vision": "Computer Vision",
}


def make_doc(
    n: int,
    title: str,
    abstract: str = "",
    date: dt.date | None = None,
    slugs: tuple[str, ...] = ("llm",),
    first: dt.date | None = None,
) -> SearchDoc:
    return SearchDoc(
        id=f"2406.{n:05d}",
        url=f"papers/2406.{n:05d}/",
        title=title,
        abstract=abstract,
        date=date,
        topics=tuple(TOPICS[s] for s in slugs),
        topic_slugs=slugs,
        first_date=first,
    )


@pytest.fixture
def docs() -> list[SearchDoc]:
    """Three months, an undated doc, titles that share words."""
    return [
        make_doc(1, "A Solvable Model of Neural Scaling Laws", "Power laws in parameters.", dt.date(2025, 5, 29)),
        make_doc(
            2,
            "Neural Quantum States for Fermions",
            "Hidden fermion determinant states.",
            dt.date(2025, 5, 3),
            ("quantum",),
        ),
        make_doc(
            3,
            "Scaling Vision Transformers",
            "Images at scale with many parameters.",
            dt.date(2025, 4, 10),
            ("vision", "llm"),
        ),
        make_doc(4, "Specializing Smaller Language Models", "Multi-step math reasoning.", dt.date(2025, 3, 1)),
        make_doc(5, "Spin Glass <img src=x onerror=alert(1)> Heisenberg", "Frustrated magnets.", None, ("quantum",)),
        make_doc(6, "Café Schrödinger: GPT-3.5 and $t-J$ models", "Über-accurate results.", dt.date(2025, 4, 30)),
    ]


# ---------- a reference reader of the files ----------


def manifest(files: dict[str, bytes]) -> dict[str, Any]:
    return search.manifest_of(files)


def load(files: dict[str, bytes], path: str) -> Any:
    return json.loads(files[path])


def varints(text: str) -> list[int]:
    values, value, scale = [], 0, 1
    for char in text:
        code = search_index.ALPHABET.index(char)
        if code >= 32:
            value += (code - 32) * scale
            scale *= 32
        else:
            values.append(value + code * scale)
            value, scale = 0, 1
    return values


def decode_postings(text: str) -> list[tuple[int, bool, int]]:
    """(doc, in title, weight code) of each posting."""
    out = []
    doc, value, scale, i = -1, 0, 1, 0
    while i < len(text):
        code = search_index.ALPHABET.index(text[i])
        i += 1
        if code >= 32:
            value += (code - 32) * scale
            scale *= 32
            continue
        doc += value + code * scale + 1
        value, scale = 0, 1
        weight = search_index.ALPHABET.index(text[i])
        i += 1
        out.append((doc, weight >= 32, weight & 31))
    return out


def shard_index(segment: dict[str, Any], term: str) -> int:
    """The shard that may hold `term`, as digest-search.js picks it (JavaScript string order)."""
    bounds = [search_index.utf16_key(b) for b in segment["shards"]]
    key = search_index.utf16_key(term)
    return max(i for i, b in enumerate(bounds) if b <= key)


def term_postings(files: dict[str, bytes], segment: dict[str, Any], term: str) -> list[tuple[int, bool, int]]:
    if not segment["shards"]:
        return []
    shard = load(files, f"{segment['path']}t{shard_index(segment, term)}.json")
    pairs = dict(zip(shard[0::2], shard[1::2], strict=True))
    return decode_postings(pairs[term]) if term in pairs else []


def doc_row(files: dict[str, bytes], segment: dict[str, Any], doc: int) -> list[Any]:
    chunk = manifest(files)["chunk"]
    row: list[Any] = load(files, f"{segment['path']}d{doc // chunk}.json")[doc % chunk]
    return row


def all_rows(files: dict[str, bytes]) -> list[list[Any]]:
    return [doc_row(files, s, d) for s in manifest(files)["segments"] for d in range(s["count"])]


def find(files: dict[str, bytes], query: str) -> list[str]:
    """Urls best first: most query words, then most in the title, then score, then newest (as the browser)."""
    m = manifest(files)
    low, ratio = m["weights"]
    words = [t for word in index_words(query).split() for t in search_index.terms_of(word)]
    scored: list[Any] = []
    for s, segment in enumerate(m["segments"]):
        tally: dict[int, list[float]] = {}
        for term in dict.fromkeys(words):
            for doc, in_title, q in term_postings(files, segment, term):
                entry = tally.setdefault(doc, [0, 0, 0.0])
                entry[0] += 1
                entry[1] += in_title
                entry[2] += low * ratio**q
        scored.extend(((c, t, score, -s, doc), segment, doc) for doc, (c, t, score) in tally.items())
    if not scored:
        return []
    top = max(key[0] for key, _s, _d in scored)
    best = sorted((item for item in scored if item[0][0] == top), key=lambda item: item[0], reverse=True)
    return [doc_row(files, segment, doc)[0] for _key, segment, doc in best]


# ---------- layout ----------


def test_every_doc_in_exactly_one_segment(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, parallel=IN_PROCESS)
    m = manifest(files)
    assert sorted(row[0] for row in all_rows(files)) == sorted(d.url for d in docs)
    assert m["count"] == len(docs) == sum(s["count"] for s in m["segments"])
    assert m["format"] == search.MANIFEST_FORMAT == 5
    assert m["chunk"] == search_index.CHUNK_DOCS


def test_segments_are_runs_of_first_seen_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "SEGMENT_DOCS", 3)
    monkeypatch.setattr(search, "MERGE_RUNS", 2)
    # Days of 2, 1, 2, 4, 1, 1 and 2 docs (first seen), oldest first; doc 90 seen first on day 1, again on day 7.
    sizes = [2, 1, 2, 4, 1, 1, 2]
    docs = [
        make_doc(10 * day + i, f"Paper {day} {i}", date=dt.date(2025, 1, 1 + day))
        for day, size in enumerate(sizes)
        for i in range(size)
    ]
    docs.append(make_doc(90, "Seen again", date=dt.date(2025, 1, 7), first=dt.date(2025, 1, 1)))
    docs.append(make_doc(91, "Undated", date=None))
    segments = search.split_segments(docs)
    # Runs sealed at 3 or more docs: [day 0 (3 with doc 90), ...] -> [0]=3, [1,2]=3, [3]=4, [4,5,6]=4 (open).
    # Sealed runs merge two by two, oldest first: [0..2] (6 docs); then [3] alone (its pair is not sealed yet).
    assert [(s.key, len(s.docs)) for s in segments] == [
        ("2025-01-05", 4),
        ("2025-01-04", 4),
        ("2025-01-01", 6),
        ("undated", 1),
    ]
    oldest = segments[2]
    assert [d.id for d in oldest.docs][:3] == ["2406.00000", "2406.00001", "2406.00090"]  # by day, then id
    files = build_search_files(docs, parallel=IN_PROCESS)
    m = manifest(files)
    assert [s["key"] for s in m["segments"]] == ["2025-01-05", "2025-01-04", "2025-01-01", "undated"]
    assert [(s["first"], s["last"]) for s in m["segments"]] == [
        ("2025-01-05", "2025-01-07"),
        ("2025-01-04", "2025-01-04"),
        ("2025-01-01", "2025-01-07"),  # doc 90's newest date
        (None, None),
    ]
    assert (m["first"], m["last"]) == ("2025-01-01", "2025-01-07")


def test_files_live_in_a_folder_named_by_the_segments_content(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, parallel=IN_PROCESS)
    segments = manifest(files)["segments"]
    assert all(path.startswith("search/") for path in files)
    for segment in segments:
        inside = {
            path[len(segment["path"]) :]: data for path, data in files.items() if path.startswith(segment["path"])
        }
        shards = len(segment["shards"])
        chunks = -(-segment["count"] // search_index.CHUNK_DOCS)
        assert set(inside) == {"m.json"} | {f"t{i}.json" for i in range(shards)} | {f"d{i}.json" for i in range(chunks)}
        assert segment["bytes"] == sum(map(len, inside.values()))
        packed = search_index.pack(search_index.Segment(files=inside, boundaries=segment["shards"][1:]))
        assert segment["path"] == f"search/{segment['key']}-{search._sha12(packed)}/"
    assert len(files) == 1 + sum(1 for path in files if path != search.MANIFEST_PATH)


def test_title_words_find_that_doc_first(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, parallel=IN_PROCESS)
    assert find(files, "solvable model neural scaling")[0] == "papers/2406.00001/"
    assert find(files, "neural quantum states")[0] == "papers/2406.00002/"
    # Both have it in the title; the shorter title, with "scale" in its abstract too, first.
    assert find(files, "scaling") == ["papers/2406.00003/", "papers/2406.00001/"]
    # A title word beats the same word in an abstract, however often.
    day = dt.date(2025, 1, 1)
    more = [make_doc(7, "Graph Theory Today", "Nothing else.", day), make_doc(8, "Other", "graph graph graph", day)]
    assert find(build_search_files([*docs, *more], parallel=IN_PROCESS), "graph") == [
        "papers/2406.00007/",
        "papers/2406.00008/",
    ]


def test_abstract_and_topics_are_searchable(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, parallel=IN_PROCESS)
    assert find(files, "determinant") == ["papers/2406.00002/"]
    assert find(files, "computer vision") == ["papers/2406.00003/"]
    assert set(find(files, "frustrated")) == {"papers/2406.00005/"}  # the undated doc


def test_words_split_and_stemmed_like_lunr(docs: list[SearchDoc]) -> None:
    assert index_words("Café Schrödinger: GPT-3.5 and $t-J$") == "café schrödinger gpt 3 5 and t j"
    assert search_index.terms_of("models") == ["model"]
    assert search_index.terms_of("the") == []  # a stop word
    files = build_search_files(docs, parallel=IN_PROCESS)
    assert find(files, "schrödinger café")[0] == "papers/2406.00006/"
    assert find(files, "gpt 3.5")[0] == "papers/2406.00006/"


def test_doc_chunks_keep_text_as_data(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, parallel=IN_PROCESS)
    segments = manifest(files)["segments"]
    url, title, date, slugs, abstract = doc_row(files, segments[-1], 0)
    assert (url, date, slugs) == ("papers/2406.00005/", None, ["quantum"])
    assert title == "Spin Glass <img src=x onerror=alert(1)> Heisenberg"
    assert abstract == "Frustrated magnets."
    assert manifest(files)["topics"] == [
        ["vision", "Computer Vision"],
        ["llm", "Large Language Models"],
        ["quantum", "Quantum Physics"],
    ]
    long = make_doc(9, "Long", "word " * 400, dt.date(2025, 1, 1))
    (row,) = all_rows(build_search_files([long], parallel=IN_PROCESS))
    assert row[4] == search_index.excerpt("word " * 400) and len(row[4]) <= search_index.ABSTRACT_CHARS + 1


def test_postings_hold_each_docs_terms_with_title_bit_and_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_index, "CHUNK_DOCS", 2)
    day = dt.date(2025, 1, 1)
    docs = [
        make_doc(0, "Graph networks", "Graph graph graph of networks.", day),
        make_doc(1, "Other", "A graph in a long abstract " + "filler " * 40, day),
        make_doc(2, "Graph", "", day),
        make_doc(3, "Nothing", "", day),
    ]
    files = build_search_files(docs, parallel=IN_PROCESS)
    (segment,) = manifest(files)["segments"]
    graph = term_postings(files, segment, "graph")
    assert [(doc, in_title) for doc, in_title, _q in graph] == [(0, True), (1, False), (2, True)]
    weights = {doc: q for doc, _t, q in graph}
    assert weights[0] > weights[1] and weights[2] > weights[1]  # title boost; a long abstract weighs less
    assert [p[:2] for p in term_postings(files, segment, "network")] == [(0, True)]
    assert term_postings(files, segment, "of") == []  # stop words are not indexed
    assert [doc_row(files, segment, d)[1] for d in range(4)] == ["Graph networks", "Other", "Graph", "Nothing"]


def test_doc_metadata_for_the_filters(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, parallel=IN_PROCESS)
    for segment in manifest(files)["segments"]:
        meta = load(files, segment["path"] + "m.json")
        days = varints(meta["days"])
        values = varints(meta["topics"])
        at = 0
        previous = meta["base"]
        assert len(days) == segment["count"]
        for d in range(segment["count"]):
            n = values[at]
            topics = [meta["slugs"][i] for i in values[at + 1 : at + 1 + n]]
            at += 1 + n
            row = doc_row(files, segment, d)
            assert topics == row[3]
            when = None
            if days[d]:
                previous += (days[d] - 1) // 2 if days[d] % 2 else -days[d] // 2
                when = search_index.EPOCH + dt.timedelta(days=previous)
            assert (when.isoformat() if when else None) == row[2]
        assert at == len(values)


def test_shards_are_sorted_bounded_and_keep_prefix_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_index, "SHARD_BYTES", 300)
    rng = random.Random(3)
    letters = "abcdefgé数"
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(400)]
    vocabulary += ["common"]
    docs = [
        make_doc(i, " ".join(rng.sample(vocabulary, 3)), " ".join(rng.sample(vocabulary, 12)) + " common", None)
        for i in range(300)
    ]
    files = build_search_files(docs, parallel=IN_PROCESS)
    (segment,) = manifest(files)["segments"]
    bounds = segment["shards"]
    assert bounds[0] == "" and len(bounds) > 10
    assert [search_index.utf16_key(b) for b in bounds] == sorted(search_index.utf16_key(b) for b in bounds)
    shards = [load(files, f"{segment['path']}t{i}.json") for i in range(len(bounds))]
    seen = []
    for i, shard in enumerate(shards):
        terms = shard[0::2]
        assert terms == sorted(terms, key=search_index.utf16_key)
        assert all(shard_index(segment, term) == i for term in terms)
        size = len(files[f"{segment['path']}t{i}.json"])
        assert size <= search_index.SHARD_BYTES or len(terms) == 1
        seen += terms
    assert len(seen) == len(set(seen))
    assert decode_postings(dict(zip(seen, [p for s in shards for p in s[1::2]], strict=True))["common"])[-1][0] == 299
    # A two-letter prefix group that fits in a shard is never cut.
    groups: dict[str, set[int]] = {}
    sizes: dict[str, int] = {}
    for i, shard in enumerate(shards):
        for term, posting in zip(shard[0::2], shard[1::2], strict=True):
            groups.setdefault(term[:2], set()).add(i)
            sizes[term[:2]] = sizes.get(term[:2], 0) + len(term.encode()) + len(posting) + 6
    assert all(len(groups[p]) == 1 for p in groups if sizes[p] <= search_index.SHARD_BYTES)
    assert any(len(groups[p]) == 1 and len(shards[min(groups[p])]) > 2 for p in groups)


@given(
    st.lists(
        st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
        | st.text(alphabet=" -_.,;:\t\n\x01aZé9ys", max_size=30)
        | st.sampled_from(["", "the of", "Days of Surveys", "x\x01y", "Schrödinger's café", "ﬁnite"]),
        max_size=8,
    )
)
@settings(max_examples=300, deadline=None)
def test_field_terms_are_each_texts_words_through_the_pipeline(texts: list[str]) -> None:
    """All texts of a field are split at once; per text this is its `index_words` through lunr's pipeline."""
    numbers, doc_of = search_index._field_terms(texts)
    got = [[search_index._TERMS[n] for n in numbers[doc_of == i].tolist()] for i in range(len(texts))]
    assert got == [[t for w in index_words(text).split() for t in search_index.terms_of(w)] for text in texts]
    assert len(doc_of) == 0 or doc_of.max() < len(texts)


@given(st.lists(st.integers(0, 2**40), max_size=50))
@settings(max_examples=200, deadline=None)
def test_varints_round_trip(values: list[int]) -> None:
    assert varints(search_index.varints(np.array(values, dtype=np.int64)).decode("ascii")) == values


def test_weights_are_quantised_on_a_log_scale() -> None:
    low, ratio = search_index.WEIGHT_MIN, search_index.WEIGHT_RATIO
    weights = np.array([0.0, 0.1, low, low * ratio, 10.0, 1e6])
    codes = search_index.quantise(weights).tolist()
    assert codes == [0, 0, 0, 1, round(np.log(10 / low) / np.log(ratio)), 31]


# ---------- determinism and the cache ----------

SPAWNED = Parallelism(search_from=0)
"""A worker process even for a few docs."""


@pytest.fixture
def built_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A worker process that surely builds (with `SPAWNED`, even for a few docs): this process
    starts its first task only once the worker has taken one. Gives the keys of the tasks built here."""
    fed = threading.Event()
    take = parallel._Counter.take

    def take_and_tell(counter: parallel._Counter) -> int | None:
        task = take(counter)
        if task is not None and threading.current_thread() is not threading.main_thread():  # a feeder's
            fed.set()
        return task

    here: list[str] = []
    build = search.build_here

    def build_here(segment: Any) -> search_index.Segment:
        if any(thread.name == "worker-feeder" for thread in threading.enumerate()):
            assert fed.wait(60), "the worker process never took a task"
        here.append(segment.key)
        return build(segment)

    monkeypatch.setattr(parallel._Counter, "take", take_and_tell)
    monkeypatch.setattr(search, "build_here", build_here)
    return here


@pytest.fixture
def workers_started(monkeypatch: pytest.MonkeyPatch) -> list[parallel.SpawnedWorker]:
    """Every worker process started, to check that they exited."""
    started: list[parallel.SpawnedWorker] = []

    class Recorded(parallel.SpawnedWorker):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            started.append(self)

    monkeypatch.setattr(parallel, "SpawnedWorker", Recorded)
    return started


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments of a few docs, so that the fixture docs make several."""
    monkeypatch.setattr(search, "SEGMENT_DOCS", 2)
    monkeypatch.setattr(search, "MERGE_RUNS", 2)


def test_deterministic_across_calls_order_and_workers(
    docs: list[SearchDoc], monkeypatch: pytest.MonkeyPatch, small_segments: None
) -> None:
    first = build_search_files(docs, parallel=IN_PROCESS)
    assert len(manifest(first)["segments"]) == 3
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    assert build_search_files(shuffled, parallel=SPAWNED) == first
    assert build_search_files(list(reversed(docs)), parallel=IN_PROCESS) == first


def test_duplicate_ids_rejected(docs: list[SearchDoc]) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        build_search_files([*docs, docs[0]], parallel=IN_PROCESS)


def test_cache_rebuilds_only_the_changed_segment(
    docs: list[SearchDoc], tmp_path: Path, built_here: list[str], small_segments: None
) -> None:
    cache = tmp_path / "cache"
    first = build_search_parts(docs, cache_dir=cache, parallel=SPAWNED)
    # First seen: Mar 1, Apr 10, Apr 30, May 3, May 29: runs [Mar 1, Apr 10], [Apr 30, May 3] (merged), [May 29] open.
    assert first.built == ("2025-05-29", "2025-03-01", "undated")
    assert first.reused == ()
    assert 0 < len(built_here) < len(first.built)  # the worker's segments came through the cache folder

    again = build_search_parts(docs, cache_dir=cache, parallel=SPAWNED)
    assert again.built == () and again.files == first.files

    new_day = make_doc(7, "A New Day of Papers", "Fresh.", dt.date(2025, 5, 30))
    mtimes = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    third = build_search_parts([*docs, new_day], cache_dir=cache, parallel=SPAWNED)
    assert third.built == ("2025-05-29",)
    assert third.reused == ("2025-03-01", "undated")
    assert third.files == build_search_files([*docs, new_day], parallel=IN_PROCESS)
    # Unchanged segments were not rewritten; the replaced open segment was pruned from the cache.
    after = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(after) == 3
    assert sum(1 for name, t in after.items() if mtimes.get(name) == t) == 2
    # Their files are the same bytes in the same folders.
    old = {path: data for path, data in first.files.items() if "/2025-05-29-" not in path and "manifest" not in path}
    assert all(third.files[path] == data for path, data in old.items())

    # A changed abstract rebuilds its own segment only.
    edited = [*docs[:3], dataclasses.replace(docs[3], abstract="Another abstract."), *docs[4:], new_day]
    fourth = build_search_parts(edited, cache_dir=cache, parallel=SPAWNED)
    assert fourth.built == ("2025-03-01",)
    assert fourth.files == build_search_files(edited, parallel=IN_PROCESS)


@pytest.mark.parametrize(
    "change",
    [
        {"title": "A Solvable Model of Neural Scaling Law"},
        {"url": "papers/elsewhere/"},
        {"date": dt.date(2025, 6, 2), "first_date": dt.date(2025, 5, 29)},  # seen again
        {"topic_slugs": ("llm", "x"), "topics": ("Large Language Models", "X")},
        {"topic_slugs": ("vision",)},
        {"abstract": "Power laws in parameters!"},
        {"topics": ("Large Language Model",)},
    ],
)
def test_any_input_change_rebuilds_its_segment(
    docs: list[SearchDoc], tmp_path: Path, change: dict[str, Any], small_segments: None
) -> None:
    cache = tmp_path / "cache"
    build_search_parts(docs, cache_dir=cache, parallel=IN_PROCESS)
    changed = [dataclasses.replace(docs[0], **change), *docs[1:]]
    result = build_search_parts(changed, cache_dir=cache, parallel=IN_PROCESS)
    assert result.built == ("2025-05-29",)
    assert result.files == build_search_files(changed, parallel=IN_PROCESS)


def test_adding_days_rebuilds_only_the_open_segment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Day after day, a warm build equals a cold one and rebuilds the open segment only, plus, on the
    days a run seals the last of a group, the merged segment of that group; no other segment changes."""
    monkeypatch.setattr(search, "SEGMENT_DOCS", 5)
    monkeypatch.setattr(search, "MERGE_RUNS", 3)
    cache = tmp_path / "cache"
    docs: list[SearchDoc] = [make_doc(9000, "An undated paper", date=None)]
    day = dt.date(2025, 1, 1)
    merges = 0
    previous: dict[str, Any] | None = None
    for n in range(45):
        day += dt.timedelta(days=1)
        docs = [*docs, *(make_doc(3 * n + i, f"Paper {n} {i} about graphs", date=day) for i in range(1 + n % 3))]
        if n % 7 == 3:  # an old paper seen again keeps its segment
            docs[1] = dataclasses.replace(docs[1], date=day, first_date=docs[1].seen)
        result = build_search_parts(docs, cache_dir=cache, parallel=SPAWNED)
        assert result.files == build_search_files(docs, parallel=IN_PROCESS)
        now = manifest(result.files)
        assert now["segments"][-1]["key"] == "undated"
        if previous is not None:
            before = {s["key"]: s["path"] for s in previous["segments"]}
            changed = {s["key"] for s in now["segments"] if before.get(s["key"]) != s["path"]}
            assert set(result.built) == changed
            newest = now["segments"][0]["key"]
            reseen = {now["segments"][-2]["key"]} if n % 7 == 3 else set()
            assert newest in changed
            extra = changed - {newest} - reseen
            if extra:  # a run sealed the last of its group: the group was merged into one segment
                merges += 1
                assert len(extra) == 1
                merged = next(s for s in now["segments"] if s["key"] in extra)
                assert merged["count"] >= 3 * 5
        previous = now
    assert merges >= 2
    assert len(now["segments"]) >= 4


def test_empty_input() -> None:
    files = build_search_files([], parallel=IN_PROCESS)
    assert manifest(files)["segments"] == [] and manifest(files)["count"] == 0
    assert list(files) == [search.MANIFEST_PATH]


def test_docs_without_words() -> None:
    files = build_search_files([make_doc(1, "", "", dt.date(2025, 1, 1), ())], parallel=IN_PROCESS)
    (segment,) = manifest(files)["segments"]
    assert segment["shards"] == [] and all_rows(files) == [["papers/2406.00001/", "", "2025-01-01", [], ""]]


HASH_SEED_SCRIPT = """
import datetime as dt, hashlib, json, sys
from generator.runtime.parallel import IN_PROCESS
from generator.website.search import SearchDoc, build_search_files
docs = [SearchDoc(id=f"p{i}", url=f"papers/p{i}/", title=f"Neural {w} graph {i % 13}", abstract="alpha beta " * i,
                  date=dt.date(2025, 1 + i % 3, 1 + i % 27), topics=("A b", "C"), topic_slugs=("a", "c"))
        for i, w in enumerate(["x", "y", "zeta", "eta"] * 10)]
files = build_search_files(docs, parallel=IN_PROCESS)
print(hashlib.sha256(json.dumps({k: v.hex() for k, v in files.items()}, sort_keys=True).encode()).hexdigest())
"""


def test_bytes_do_not_depend_on_the_hash_seed() -> None:
    """Worker processes may run with other hash seeds (spawn): set iteration must not leak into bytes."""
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", HASH_SEED_SCRIPT], env=env, capture_output=True, text=True, check=True, cwd=REPO
        )
        outputs.add(result.stdout.strip())
    assert len(outputs) == 1


# ---------- worker processes ----------


def test_worker_process_when_threads_run(docs: list[SearchDoc], built_here: list[str], small_segments: None) -> None:
    """In a threaded caller (`mkdocs serve`) the worker is a new process all the same (no fork), same bytes."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        parallel = build_search_parts(docs, parallel=SPAWNED)
        assert 0 < len(built_here) < len(parallel.built)
        assert parallel.files == build_search_files(docs, parallel=IN_PROCESS)
    finally:
        stop.set()
        thread.join()


def test_worker_scratch_folder_is_removed(
    docs: list[SearchDoc],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    built_here: list[str],
    small_segments: None,
) -> None:
    """Without a cache the worker writes its segments to a scratch folder, gone afterwards."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    files = build_search_files(docs, parallel=SPAWNED)
    assert len(built_here) < 3
    assert list(scratch.iterdir()) == []
    assert files == build_search_files(docs, parallel=IN_PROCESS)


class Unpicklable(str):
    """A title that reaches a worker process as an error: unpickling it there calls int("not a number")."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (int, ("not a number",))


def test_failure_in_the_worker_fails_the_build(
    docs: list[SearchDoc], built_here: list[str], workers_started: list[parallel.SpawnedWorker], small_segments: None
) -> None:
    # Every segment has such a title, so the worker's first task fails; here they build fine.
    poisoned = [dataclasses.replace(doc, title=Unpicklable(doc.title)) for doc in docs]
    with pytest.raises(ValueError, match="invalid literal") as failure:
        build_search_files(poisoned, parallel=SPAWNED)
    assert any("in a spawned worker process" in note for note in getattr(failure.value, "__notes__", []))
    assert [worker.process.returncode for worker in workers_started] == [1]


def test_failure_here_stops_the_worker(
    docs: list[SearchDoc],
    monkeypatch: pytest.MonkeyPatch,
    built_here: list[str],
    workers_started: list[parallel.SpawnedWorker],
    small_segments: None,
) -> None:
    """The worker finishes its task and exits; the error is the one raised here."""
    build = search.build_here

    def fail(segment: Any) -> search_index.Segment:
        build(segment)  # the fixture's: waits until the worker has a task
        raise OSError("disk full")

    monkeypatch.setattr(search, "build_here", fail)
    with pytest.raises(OSError, match="disk full"):
        build_search_files(docs, parallel=SPAWNED)
    assert [worker.process.returncode for worker in workers_started] == [0]
    assert not any(thread.name == "worker-feeder" for thread in threading.enumerate())


def test_small_builds_stay_in_this_process(
    docs: list[SearchDoc], workers_started: list[parallel.SpawnedWorker]
) -> None:
    """A worker process takes a moment to start: below `search_from` docs to build, none is started."""
    assert len(docs) < Parallelism().search_from
    build_search_files(docs, parallel=Parallelism())
    assert workers_started == []


def test_log_counts_the_segments(docs: list[SearchDoc], caplog: pytest.LogCaptureFixture) -> None:
    """benchmarks/worker.py reads `N docs in P parts (B built, R reused)` and expects B + R == P."""
    with caplog.at_level("INFO", logger="generator.website.search"):
        build_search_parts(docs, parallel=IN_PROCESS)
    record = next(r for r in caplog.records if r.getMessage().startswith("search: "))
    assert record.args == (len(docs), 2, 2, 0)


def test_a_damaged_cache_file_is_rebuilt(docs: list[SearchDoc], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = build_search_parts(docs, cache_dir=cache, parallel=IN_PROCESS)
    for path in cache.iterdir():
        path.write_bytes(path.read_bytes()[:-3])
    again = build_search_parts(docs, cache_dir=cache, parallel=IN_PROCESS)
    assert again.built == first.built and again.files == first.files


# ---------- size ----------


def seed_docs() -> list[SearchDoc]:
    """The shipped seeds as search sees them (read, merged, dated and classified like a build)."""
    return corpus_docs(REPO / "content" / "sources")


def corpus_docs(sources: Path) -> list[SearchDoc]:
    from generator.analysis.taxonomy import load_taxonomy
    from generator.analysis.topics import assign_topics
    from generator.config import BuildOptions
    from generator.ingest.dates import resolve_dates
    from generator.ingest.readers import read_sources
    from generator.ingest.records import merge_records
    from generator.website.writers import search_docs

    options = BuildOptions(sources=(sources,), cache_dir=REPO / "unused", topics_file=REPO / "content" / "topics.yml")
    listings, _ = read_sources(list(options.sources))
    dates, _ = resolve_dates(listings, options.settings, options.year)
    papers, _ = merge_records(listings, dates)
    assert options.topics_file is not None
    return search_docs(papers, assign_topics(papers, load_taxonomy(options.topics_file)))


def test_at_most_2_kb_of_search_files_per_paper_on_the_seeds() -> None:
    docs = seed_docs()
    assert len(docs) > 100
    files = build_search_files(docs, parallel=IN_PROCESS)
    assert sum(map(len, files.values())) / len(docs) <= 2048
    assert find(files, docs[0].title)[0] == docs[0].url


def test_at_most_2_kb_of_search_files_per_paper_on_a_bench_corpus(tmp_path: Path) -> None:
    from benchmarks.corpus import write_corpus

    write_corpus(3000, tmp_path / "corpus", seed=1)
    docs = corpus_docs(tmp_path / "corpus")
    files = build_search_files(docs, parallel=IN_PROCESS)
    per_paper = sum(map(len, files.values())) / len(docs)
    assert per_paper <= 2048, per_paper
    oldest = min(docs, key=lambda d: (d.seen or dt.date.max, d.id))
    assert find(files, oldest.title)[0] == oldest.url


# ---------- text helpers ----------


def test_excerpt_is_short() -> None:
    text = "word " * 200
    cut = search.excerpt(text)
    assert len(cut) <= search_index.ABSTRACT_CHARS + 1 and cut.endswith("…")
    assert search.excerpt("  short \n text ") == "short text"


@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.text(alphabet=" -_.,;:\t\n\xa0aZé9", max_size=80)
)
@settings(max_examples=300, deadline=None)
def test_index_words_fast_path_matches_the_rule(text: str) -> None:
    rule = " ".join(search_index._WORD.findall(unicodedata.normalize("NFKC", text).lower()))
    assert index_words(text) == rule


def old_excerpt(text: str, limit: int = search_index.ABSTRACT_CHARS) -> str:
    text = search_index._SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


@given(st.lists(st.sampled_from(["word", "w", " ", "  ", "\n", "\t \u2003", ",", "." * 7, "x" * 50]), max_size=120))
@settings(max_examples=300, deadline=None)
def test_excerpt_matches_collapsing_the_whole_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    for limit in (10, 40, search_index.ABSTRACT_CHARS):
        assert search.excerpt(text, limit) == old_excerpt(text, limit)


def test_a_segment_numbered_a_few_texts_at_a_time_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_field_terms` splits big segments' texts in chunks (memory); chunk edges change no byte."""
    rng = random.Random(7)
    words = ["model", "language", "the", "graphs", "naïve", "x²", "learning", "of", "Straße", "data-driven"]
    payload: search_index.SegmentPayload = [
        (
            " ".join(rng.choice(words) for _ in range(rng.randint(0, 6))),
            " ".join(rng.choice(words) for _ in range(rng.randint(0, 40))),
            f"papers/p{i}/",
            None if i % 7 == 0 else "2025-06-01",
            "Topic names",
            ["t"],
        )
        for i in range(50)
    ]
    whole = search_index.build_segment(payload)
    for size in (1, 3, 49):
        monkeypatch.setattr(search_index, "_TEXTS_AT_ONCE", size)
        assert search_index.build_segment(payload) == whole
    numbers, doc_of = search_index._field_terms([text for _, text, *_ in payload])
    assert doc_of.max() < len(payload) and len(numbers) == len(doc_of) > 0

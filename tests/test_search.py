"""Tests for generator/search.py: the prebuilt, month-split lunr search files."""

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
from lunr import lunr
from lunr.index import Index

from generator import search
from generator.search import SearchDoc, build_search_files, build_search_parts, index_words

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
) -> SearchDoc:
    return SearchDoc(
        id=f"2406.{n:05d}",
        url=f"papers/2406.{n:05d}/",
        title=title,
        abstract=abstract,
        date=date,
        topics=tuple(TOPICS[s] for s in slugs),
        topic_slugs=slugs,
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


def manifest(files: dict[str, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(files[search.MANIFEST_PATH])
    return data


def load_part(files: dict[str, bytes], part: dict[str, Any]) -> tuple[Index, list[list[Any]]]:
    index = Index.load(json.loads(files[part["index"]]))
    store: list[list[Any]] = json.loads(files[part["docs"]])
    return index, store


def find(files: dict[str, bytes], query: str) -> list[str]:
    """Search every part like the browser does (words as indexed), return urls best first."""
    hits = []
    for part in manifest(files)["parts"]:
        index, store = load_part(files, part)
        for hit in index.search(index_words(query)):
            hits.append((hit["score"], store[int(hit["ref"])][0]))
    return [url for _score, url in sorted(hits, key=lambda h: -h[0])]


def test_every_doc_in_exactly_one_part(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, workers=1)
    urls: list[str] = []
    for part in manifest(files)["parts"]:
        _index, store = load_part(files, part)
        assert len(store) == part["count"]
        urls.extend(entry[0] for entry in store)
    assert sorted(urls) == sorted(d.url for d in docs)
    assert manifest(files)["count"] == len(docs)


def test_parts_newest_first_undated_last(docs: list[SearchDoc]) -> None:
    parts = manifest(build_search_files(docs, workers=1))["parts"]
    assert [p["key"] for p in parts] == ["2025-05", "2025-04", "2025-03", "undated"]
    assert parts[0]["first"] == "2025-05-03" and parts[0]["last"] == "2025-05-29"
    assert parts[-1]["first"] is None


def test_files_are_under_search_and_named_by_content_hash(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, workers=1)
    assert all(path.startswith("search/") for path in files)
    assert len(files) == 1 + 2 * (len(manifest(files)["parts"]) + len(manifest(files)["title_parts"]))
    for part in [*manifest(files)["parts"], *manifest(files)["title_parts"]]:
        for key in ("index", "docs"):
            path = part[key]
            assert path in files
            assert path.endswith(f"-{search._short_hash(files[path])}.json")


def test_title_words_find_that_doc_first(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, workers=1)
    assert find(files, "solvable model neural scaling")[0] == "papers/2406.00001/"
    assert find(files, "neural quantum states")[0] == "papers/2406.00002/"
    # A title word beats the same word in an abstract (title boost).
    assert find(files, "scaling")[:2] == ["papers/2406.00001/", "papers/2406.00003/"]


def test_abstract_and_topics_are_searchable(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, workers=1)
    assert find(files, "determinant") == ["papers/2406.00002/"]
    assert set(find(files, "computer vision")) == {"papers/2406.00003/"}
    # Topic names go to the topics field only.
    index, store = load_part(files, manifest(files)["parts"][1])
    hits = index.query(index.create_query().term("comput", fields=["topics"]))
    assert [store[int(h["ref"])][0] for h in hits] == ["papers/2406.00003/"]


def test_words_split_like_the_browser(docs: list[SearchDoc]) -> None:
    assert index_words("Café Schrödinger: GPT-3.5 and $t-J$") == "café schrödinger gpt 3 5 and t j"
    files = build_search_files(docs, workers=1)
    assert find(files, "schrödinger café")[0] == "papers/2406.00006/"
    assert find(files, "gpt 3.5")[0] == "papers/2406.00006/"


def test_store_keeps_text_as_data(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, workers=1)
    parts = manifest(files)["parts"]
    _index, store = load_part(files, parts[-1])
    url, title, date, slugs, excerpt = store[0]
    assert (url, date, slugs) == ("papers/2406.00005/", None, ["quantum"])
    assert title == "Spin Glass <img src=x onerror=alert(1)> Heisenberg"
    assert excerpt == "Frustrated magnets."
    assert manifest(files)["topics"] == [
        ["vision", "Computer Vision"],
        ["llm", "Large Language Models"],
        ["quantum", "Quantum Physics"],
    ]


def search_titles(files: dict[str, bytes], query: str) -> list[str]:
    """Search the title chunks alone like the browser does, return urls best first (score across chunks)."""
    hits = []
    for chunk in manifest(files)["title_parts"]:
        index, store = load_part(files, chunk)
        hits.extend((hit["score"], store[int(hit["ref"], 36)][0]) for hit in index.search(index_words(query)))
    return [url for _score, url in sorted(hits, key=lambda h: -h[0])]


def test_title_chunks_hold_every_title(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, workers=1)
    chunks = manifest(files)["title_parts"]
    assert [c["key"] for c in chunks] == ["titles-2025-03-01", "titles-undated"]
    assert [c["parts"] for c in chunks] == [["2025-05", "2025-04", "2025-03"], ["undated"]]
    assert [(c["first"], c["last"]) for c in chunks] == [("2025-03-01", "2025-05-29"), (None, None)]
    assert sum(c["count"] for c in chunks) == len(docs)
    assert manifest(files)["format"] == search.FORMAT_VERSION == 3
    store = []
    for chunk in chunks:
        assert chunk["size"] == len(files[chunk["index"]]) + len(files[chunk["docs"]])
        _index, chunk_store = load_part(files, chunk)
        assert len(chunk_store) == chunk["count"]
        # Title field only, refs are short (base 36 positions in the store).
        serialized = json.loads(files[chunk["index"]])
        assert serialized["fields"] == ["title"]
        assert {ref.split("/", 1)[1] for ref, _vector in serialized["fieldVectors"]} == {
            search._base36(i) for i in range(len(chunk_store))
        }
        store.extend(chunk_store)
    # Same docs, same order as the month parts (newest first, undated last), without the excerpt.
    in_parts = [entry[:4] for part in manifest(files)["parts"] for entry in load_part(files, part)[1]]
    assert store == in_parts
    assert search._base36(0) == "0" and search._base36(35) == "z" and search._base36(36) == "10"


def test_title_query_on_the_titles_part_finds_that_doc(docs: list[SearchDoc]) -> None:
    files = build_search_files(docs, workers=1)
    assert search_titles(files, "solvable model neural scaling")[0] == "papers/2406.00001/"
    assert search_titles(files, "specializing smaller language")[0] == "papers/2406.00004/"
    assert search_titles(files, "schrödinger café")[0] == "papers/2406.00006/"
    assert search_titles(files, "heisenberg") == ["papers/2406.00005/"]
    # Abstracts and topics are not in it.
    assert search_titles(files, "determinant") == []
    assert search_titles(files, "computer") == []


def test_titles_part_with_many_docs_uses_multi_digit_refs() -> None:
    many = [make_doc(i, f"Paper number w{i} about graphs", date=dt.date(2025, 1 + i % 12, 1)) for i in range(100)]
    files = build_search_files(many, workers=1)
    assert search_titles(files, "number w77")[0] == "papers/2406.00077/"


def test_excerpt_is_short() -> None:
    text = "word " * 200
    cut = search.excerpt(text)
    assert len(cut) <= search.EXCERPT_CHARS + 1 and cut.endswith("…")
    assert search.excerpt("  short \n text ") == "short text"


@pytest.fixture
def built_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A worker process even for a few docs, and one that surely builds: this process starts
    its first task only once the worker has taken one. Gives the keys of the tasks built here."""
    monkeypatch.setattr(search, "PARALLEL_DOCS", 0)
    fed = threading.Event()
    take = search._Job.take

    def take_and_tell(job: search._Job) -> search._Task | None:
        task = take(job)
        if task is not None and threading.current_thread() is not threading.main_thread():  # a feeder's
            fed.set()
        return task

    here: list[str] = []
    build_task = search._build_task

    def build_here(task: search._Task) -> tuple[bytes, bytes]:
        if any(thread.name == "search-feeder" for thread in threading.enumerate()):
            assert fed.wait(60), "the worker process never took a task"
        here.append(task.key)
        return build_task(task)

    monkeypatch.setattr(search._Job, "take", take_and_tell)
    monkeypatch.setattr(search, "_build_task", build_here)
    return here


@pytest.fixture
def workers_started(monkeypatch: pytest.MonkeyPatch) -> list[search._Worker]:
    """Every worker process started, to check that they exited."""
    started: list[search._Worker] = []

    class Recorded(search._Worker):
        def __init__(self, job: search._Job, store: Path) -> None:
            super().__init__(job, store)
            started.append(self)

    monkeypatch.setattr(search, "_Worker", Recorded)
    return started


def test_deterministic_across_calls_order_and_workers(docs: list[SearchDoc], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "PARALLEL_DOCS", 0)  # a worker process even for these few docs
    first = build_search_files(docs, workers=1)
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    assert build_search_files(shuffled, workers=2) == first
    assert build_search_files(list(reversed(docs)), workers=1) == first
    again = build_search_files(shuffled, workers=2)
    for chunk in manifest(first)["title_parts"]:
        assert again[chunk["index"]] == first[chunk["index"]] and again[chunk["docs"]] == first[chunk["docs"]]


def test_duplicate_ids_rejected(docs: list[SearchDoc]) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        build_search_files([*docs, docs[0]], workers=1)


def test_cache_rebuilds_only_the_changed_part(docs: list[SearchDoc], tmp_path: Path, built_here: list[str]) -> None:
    cache = tmp_path / "cache"
    first = build_search_parts(docs, cache_dir=cache, workers=2)
    assert first.built == ("titles-2025-03-01", "titles-undated", "2025-05", "2025-04", "2025-03", "undated")
    assert first.reused == ()
    assert 0 < len(built_here) < len(first.built)  # the worker's parts came through the cache folder

    again = build_search_parts(docs, cache_dir=cache, workers=2)
    assert again.built == () and again.files == first.files

    new_day = make_doc(7, "A New Day of Papers", "Fresh.", dt.date(2025, 5, 30))
    mtimes = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    third = build_search_parts([*docs, new_day], cache_dir=cache, workers=2)
    assert third.built == ("titles-2025-03-01", "2025-05")
    assert third.reused == ("titles-undated", "2025-04", "2025-03", "undated")
    assert third.files == build_search_files([*docs, new_day], workers=1)
    # Unchanged parts were not rewritten; the replaced May part and title chunk were pruned from the cache.
    after = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(after) == 2 * 6
    assert sum(1 for name, t in after.items() if mtimes.get(name) == t) == 2 * 4

    # A changed abstract leaves every title as it was: only its month part is rebuilt.
    edited = [*docs[:3], dataclasses.replace(docs[3], abstract="Another abstract."), *docs[4:], new_day]
    fourth = build_search_parts(edited, cache_dir=cache, workers=2)
    assert fourth.built == ("2025-03",)
    assert fourth.reused == ("titles-2025-03-01", "titles-undated", "2025-05", "2025-04", "undated")
    assert fourth.files == build_search_files(edited, workers=1)


@pytest.mark.parametrize(
    ("change", "titles_too"),
    [
        ({"title": "A Solvable Model of Neural Scaling Law"}, True),
        ({"url": "papers/elsewhere/"}, True),
        ({"date": dt.date(2025, 5, 28)}, True),
        ({"topic_slugs": ("llm", "x"), "topics": ("Large Language Models", "X")}, True),
        ({"topic_slugs": ("vision",)}, True),
        ({"abstract": "Power laws in parameters!"}, False),
        ({"topics": ("Large Language Model",)}, False),
    ],
)
def test_any_input_change_rebuilds_its_parts(
    docs: list[SearchDoc], tmp_path: Path, change: dict[str, Any], titles_too: bool
) -> None:
    cache = tmp_path / "cache"
    build_search_parts(docs, cache_dir=cache, workers=1)
    changed = [dataclasses.replace(docs[0], **change), *docs[1:]]
    result = build_search_parts(changed, cache_dir=cache, workers=1)
    assert result.built == (("titles-2025-03-01",) if titles_too else ()) + ("2025-05",)
    assert result.files == build_search_files(changed, workers=1)


def test_big_month_splits_by_whole_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "MAX_PART_DOCS", 3)
    docs = [make_doc(i, f"Paper {i}", date=dt.date(2025, 6, 1 + i // 2)) for i in range(8)]
    parts = manifest(build_search_files(docs, workers=1))["parts"]
    assert [p["count"] for p in parts] == [2, 2, 2, 2]
    assert [p["key"] for p in parts] == ["2025-06-04", "2025-06-03", "2025-06-02", "2025-06-01"]
    # Adding a newer day changes only the newest part.
    more = build_search_parts([*docs, make_doc(99, "Later", date=dt.date(2025, 6, 9))], workers=1)
    assert [p["key"] for p in manifest(more.files)["parts"]][1:] == [p["key"] for p in parts][1:]


def test_title_chunks_seal_old_months_and_keep_the_newest_part_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "TITLE_CHUNK_DOCS", 5)
    monkeypatch.setattr(search, "TITLE_TAIL_DOCS", 2)
    # Months of 2, 3, 1, 2, 4, 1 and 2 docs (Jan to Jul), oldest first.
    sizes = [2, 3, 1, 2, 4, 1, 2]
    docs = [
        make_doc(100 * m + i, f"Paper {m} {i}", date=dt.date(2025, m + 1, 1 + i))
        for m, size in enumerate(sizes)
        for i in range(size)
    ]
    chunks = manifest(build_search_files(docs, workers=1))["title_parts"]
    # Sealed at 5 or more: Jan-Feb (5), Mar-May (7); then tail runs of 2 or more: Jun-Jul (3).
    assert [c["parts"] for c in chunks] == [
        ["2025-07", "2025-06"],
        ["2025-05", "2025-04", "2025-03"],
        ["2025-02", "2025-01"],
    ]
    assert [c["key"] for c in chunks] == ["titles-2025-06-01", "titles-2025-03-01", "titles-2025-01-01"]
    # The newest part is never sealed, however big.
    only = manifest(
        build_search_files(
            docs[:5] + [make_doc(999 + i, f"x {i}", date=dt.date(2025, 3, 1)) for i in range(9)], workers=1
        )
    )
    assert [c["parts"] for c in only["title_parts"]] == [["2025-03"], ["2025-02", "2025-01"]]


def test_adding_days_rebuilds_only_the_newest_title_chunk_and_month_part(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Day after day, a warm build equals a cold one and rebuilds the newest month part and title chunk only
    (plus, on the few days when the tail is sealed into a big chunk, that chunk)."""
    monkeypatch.setattr(search, "TITLE_CHUNK_DOCS", 12)
    monkeypatch.setattr(search, "TITLE_TAIL_DOCS", 4)
    monkeypatch.setattr(search, "MAX_PART_DOCS", 5)
    cache = tmp_path / "cache"
    docs: list[SearchDoc] = [make_doc(9000, "An undated paper", date=None)]
    day = dt.date(2025, 1, 1)
    seals = 0
    previous: dict[str, Any] | None = None
    previous_files: dict[str, bytes] = {}
    for n in range(60):
        day += dt.timedelta(days=3)
        docs = [*docs, *(make_doc(2 * n + i, f"Paper {n} {i} about graphs", date=day) for i in range(2))]
        result = build_search_parts(docs, cache_dir=cache, workers=2)
        assert result.files == build_search_files(docs, workers=1)
        now = manifest(result.files)
        newest_chunk, newest_part = now["title_parts"][0]["key"], now["parts"][0]["key"]
        assert now["title_parts"][-1]["key"] == "titles-undated"
        if previous is None:
            previous, previous_files = now, result.files
            continue
        built_parts = [key for key in result.built if not key.startswith("titles-")]
        built_chunks = [key for key in result.built if key.startswith("titles-")]
        assert built_parts == [newest_part]
        assert newest_chunk in built_chunks
        extra = [key for key in built_chunks if key != newest_chunk]
        if extra:  # the tail sealed: one new big chunk, made of parts that were in the small newest chunks
            seals += 1
            assert len(extra) == 1
            sealed = next(c for c in now["title_parts"] if c["key"] == extra[0])
            small_before = [c for c in previous["title_parts"][:-1] if c["count"] < 12]
            tail_before = {url for c in small_before for url, *_ in load_part(previous_files, c)[1]}
            assert {url for url, *_ in load_part(result.files, sealed)[1]} <= tail_before
        # Every title chunk but the newest two is unchanged since the previous day (or just sealed).
        before = {c["key"]: c["index"] for c in previous["title_parts"]}
        changed = [c["key"] for c in now["title_parts"] if before.get(c["key"]) != c["index"]]
        assert set(changed) <= {newest_chunk, *extra}
        previous, previous_files = now, result.files
    assert seals >= 3
    assert len(now["title_parts"]) >= 5


def test_empty_input() -> None:
    files = build_search_files([], workers=1)
    assert manifest(files)["parts"] == [] and manifest(files)["count"] == 0
    assert manifest(files)["title_parts"] == [] and list(files) == [search.MANIFEST_PATH]


HASH_SEED_SCRIPT = """
import datetime as dt, hashlib, json, sys
from generator.search import SearchDoc, build_search_files
docs = [SearchDoc(id=f"p{i}", url=f"papers/p{i}/", title=f"Neural {w} graph {i % 13}", abstract="alpha beta " * i,
                  date=dt.date(2025, 1 + i % 3, 1 + i % 27), topics=("A b", "C"), topic_slugs=("a", "c"))
        for i, w in enumerate(["x", "y", "zeta", "eta"] * 10)]
files = build_search_files(docs, workers=1)
print(hashlib.sha256(json.dumps({k: v.hex() for k, v in files.items()}, sort_keys=True).encode()).hexdigest())
"""


def test_bytes_do_not_depend_on_the_hash_seed() -> None:
    """Worker processes may run with other hash seeds (spawn): set iteration must not leak into bytes."""
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", HASH_SEED_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        outputs.add(result.stdout.strip())
    assert len(outputs) == 1


def test_worker_process_when_threads_run(docs: list[SearchDoc], built_here: list[str]) -> None:
    """In a threaded caller (`mkdocs serve`) the worker is a new process all the same (no fork), same bytes."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        parallel = build_search_parts(docs, workers=2)
        assert 0 < len(built_here) < len(parallel.built)
        assert parallel.files == build_search_files(docs, workers=1)
    finally:
        stop.set()
        thread.join()


def test_worker_scratch_folder_is_removed(
    docs: list[SearchDoc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built_here: list[str]
) -> None:
    """Without a cache the worker writes its parts to a scratch folder, gone afterwards."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    files = build_search_files(docs, workers=2)
    assert len(built_here) < 6
    assert list(scratch.iterdir()) == []
    assert files == build_search_files(docs, workers=1)


class Unpicklable(str):
    """A title that reaches a worker process as an error: unpickling it there calls int("not a number")."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (int, ("not a number",))


def test_failure_in_the_worker_fails_the_build(
    docs: list[SearchDoc], built_here: list[str], workers_started: list[search._Worker]
) -> None:
    # Every part and title chunk has such a title, so the worker's first task fails; here they build fine.
    poisoned = [dataclasses.replace(doc, title=Unpicklable(doc.title)) for doc in docs]
    with pytest.raises(ValueError, match="invalid literal") as failure:
        build_search_files(poisoned, workers=2)
    assert any("in a search worker process" in note for note in getattr(failure.value, "__notes__", []))
    assert [worker.process.returncode for worker in workers_started] == [1]


def test_failure_here_stops_the_worker(
    docs: list[SearchDoc],
    monkeypatch: pytest.MonkeyPatch,
    built_here: list[str],
    workers_started: list[search._Worker],
) -> None:
    """The worker finishes its task and exits; the error is the one raised here."""
    build_task = search._build_task

    def fail(task: search._Task) -> tuple[bytes, bytes]:
        build_task(task)  # the fixture's: waits until the worker has a task
        raise OSError("disk full")

    monkeypatch.setattr(search, "_build_task", fail)
    with pytest.raises(OSError, match="disk full"):
        build_search_files(docs, workers=2)
    assert [worker.process.returncode for worker in workers_started] == [0]
    assert not any(thread.name == "search-feeder" for thread in threading.enumerate())


def test_small_builds_stay_in_this_process(docs: list[SearchDoc], workers_started: list[search._Worker]) -> None:
    """A worker process takes a moment to start: below PARALLEL_DOCS docs to build, none is started."""
    assert len(docs) < search.PARALLEL_DOCS
    build_search_files(docs, workers=2)
    assert workers_started == []


def test_log_counts_the_title_chunks(docs: list[SearchDoc], caplog: pytest.LogCaptureFixture) -> None:
    """generator/bench/worker.py reads `N docs in P parts (B built, R reused)` and expects B + R == P."""
    with caplog.at_level("INFO", logger="generator.search"):
        build_search_parts(docs, workers=1)
    record = next(r for r in caplog.records if r.getMessage().startswith("search: "))
    assert record.args == (len(docs), 6, 6, 0)


# The fast builder (search.FastBuilder) against lunr.py's own: same bytes for the same documents.

REPO = Path(__file__).resolve().parent.parent


def stock_index_bytes(fields: list[Any], documents: list[dict[str, Any]]) -> bytes:
    """What search.py wrote before FastBuilder: lunr.py's stock builder, serialised and dumped."""
    return search._dump(lunr(ref="ref", fields=fields, documents=documents).serialize())


def seed_docs() -> list[SearchDoc]:
    """The shipped seeds as search sees them (read, merged, dated and classified like a build)."""
    from generator.config import BuildOptions
    from generator.dates import resolve_dates
    from generator.readers import read_sources
    from generator.records import merge_records
    from generator.taxonomy import load_taxonomy
    from generator.topics import assign_topics
    from generator.writers import search_docs

    options = BuildOptions(
        sources=(REPO / "content" / "sources",), cache_dir=REPO / "unused", topics_file=REPO / "content" / "topics.yml"
    )
    listings, _ = read_sources(list(options.sources))
    dates, _ = resolve_dates(listings, options.settings, options.year)
    papers, _ = merge_records(listings, dates)
    assert options.topics_file is not None
    return search_docs(papers, assign_topics(papers, load_taxonomy(options.topics_file)))


def test_fast_builder_matches_lunr_on_the_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = seed_docs()
    assert len(docs) > 100
    fast = build_search_files(docs, workers=1)
    monkeypatch.setattr(search, "_index_bytes", stock_index_bytes)
    assert build_search_files(docs, workers=1) == fast


def test_fast_builder_matches_lunr_on_the_fixture_docs(docs: list[SearchDoc], monkeypatch: pytest.MonkeyPatch) -> None:
    many = [*docs, *(make_doc(100 + i, f"Paper w{i} on graphs and graphs", "the the of", None) for i in range(60))]
    fast = build_search_files(many, workers=2)
    monkeypatch.setattr(search, "_index_bytes", stock_index_bytes)
    assert build_search_files(many, workers=1) == fast


# Words as the corpus has them and as it does not: stop words, repeats, non-ASCII, lunr's
# separators (hyphen, no-break space, tabs), stemmer suffixes, digits, empty text.
WORDS = [
    "the", "of", "and", "a", "neural", "networks", "network", "scaling", "laws", "law", "sing", "singing",
    "généralisation", "Schrödinger", "ﬁnite", "Σίσυφος", "ΑΣ", "İstanbul", "数据", "x²", "3.5", "GPT-4",
    "t-J", "co\xa0op", "tab\there", "line\nbreak", "'quoted'", "\"dq\"", "back\\slash", "under_score",
    "relational", "conditional", "hopefulness", "ization", "ies", "sses", "agreed", "y", "by", "e", "1",
]  # fmt: skip


def random_text(rng: random.Random, seps: list[str]) -> str:
    if rng.random() < 0.15:
        return rng.choice(["", "the of and", *seps])
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 25))]
    return "".join(word + rng.choice(seps) for word in words[:-1]) + words[-1]


@pytest.mark.parametrize("seed", range(40))
def test_fast_builder_matches_lunr_on_random_documents(seed: int) -> None:
    rng = random.Random(seed)
    fields: list[Any] = rng.choice(
        [search._FIELDS, search._TITLE_FIELDS, [{"field_name": "b", "boost": 3}, "a"], ["only"]]
    )
    names = [f["field_name"] if isinstance(f, dict) else f for f in fields]
    refs = list(range(rng.randint(1, 80)))
    rng.shuffle(refs)
    ref_text = rng.choice([str, search._base36, lambda n: f"é-{n}\"'\\"[: 3 + n % 5] + str(n)])
    normalise = rng.random() < 0.4  # through index_words (as search.py does) or raw (lunr's own tokenizer)
    seps = rng.choice([[" "], [" ", "-", "\xa0", "\t"], [" ", "  ", ", ", " — ", "\n"]])
    documents = [
        {"ref": ref_text(n), **{name: (index_words if normalise else str)(random_text(rng, seps)) for name in names}}
        for n in refs
    ]
    assert search._index_bytes(fields, documents) == stock_index_bytes(fields, documents)


def test_fast_builder_rejects_what_it_cannot_match() -> None:
    builder = search.FastBuilder()
    builder.ref("ref")
    builder.field("title")
    builder.add({"ref": "1", "title": "a"})
    builder.add({"ref": "1", "title": "b"})
    with pytest.raises(ValueError, match="duplicate"):
        builder.serialize()
    with pytest.raises(NotImplementedError):
        builder.build()


@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.text(alphabet=" -_.,;:\t\n\xa0aZé9", max_size=80)
)
@settings(max_examples=300, deadline=None)
def test_index_words_fast_path_matches_the_rule(text: str) -> None:
    rule = " ".join(search._WORD.findall(unicodedata.normalize("NFKC", text).lower()))
    assert index_words(text) == rule


def old_excerpt(text: str, limit: int = search.EXCERPT_CHARS) -> str:
    text = search._SPACE.sub(" ", text).strip()
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
    for limit in (10, 40, search.EXCERPT_CHARS):
        assert search.excerpt(text, limit) == old_excerpt(text, limit)


@given(st.lists(st.floats(min_value=0, max_value=2e6, allow_nan=False) | st.integers(0, 10**7).map(lambda k: k / 2000)))
@settings(max_examples=200, deadline=None)
def test_score_texts_are_pythons_round(values: list[float]) -> None:
    texts = search._score_texts(np.array(values, dtype=np.float64)).tolist()
    assert texts == [json.dumps(round(v, 3)) for v in values]

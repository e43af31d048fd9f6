"""Tests for the synthetic benchmark corpus (benchmarks.corpus) and its text pool."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.corpus import HEADER, CorpusPlan, load_plan, plan_path, write_corpus
from benchmarks.pool import POOL_PATH, SEED_DIR, load_pool, rebuild_pool, title_phrases
from generator.text import title_key

REPO = Path(__file__).resolve().parents[1]
HEADER_LINES = [
    *("new", "", "Get trending papers in your email inbox!", ""),
    *("Subscribe", "", "byAK and the research community", ""),
]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Entry = tuple[str, str]


def parse_layout_b(text: str) -> tuple[str, list[Entry]]:
    """A tiny layout-B parser: 9 header lines (the last the date), then title/abstract blocks."""
    lines = text.split("\n")
    assert lines[:8] == HEADER_LINES
    assert lines[9] == ""
    assert lines[-1] == "" and lines[-2] != "", "one newline after the last abstract"
    body = lines[10:-1]
    assert len(body) % 4 == 3, "title, blank, abstract, blank, ..., abstract"
    entries = []
    for i in range(0, len(body), 4):
        title, gap, abstract = body[i : i + 3]
        assert title.strip() and abstract.strip() and gap == ""
        assert i + 3 == len(body) or body[i + 3] == ""
        entries.append((title, abstract))
    return lines[8], entries


def read_days(out_dir: Path, plan: CorpusPlan) -> list[list[Entry]]:
    return [parse_layout_b((out_dir / name).read_text(encoding="utf-8"))[1] for name in plan.files]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusPlan]:
    out_dir = tmp_path_factory.mktemp("bench") / "sources"
    plan = write_corpus(1500, out_dir, seed=7, start=dt.date(2024, 12, 28), dup_share=0.1, near_share=0.06)
    return out_dir, plan


def tree(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first = write_corpus(400, tmp_path / "a", seed=3)
    second = write_corpus(400, tmp_path / "b", seed=3)
    assert first == second
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert plan_path(tmp_path / "a").read_bytes() == plan_path(tmp_path / "b").read_bytes()
    write_corpus(400, tmp_path / "c", seed=4)
    assert tree(tmp_path / "a") != tree(tmp_path / "c")


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    write_corpus(300, tmp_path / "here", seed=5)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    command = [sys.executable, "-m", "benchmarks.corpus", "300", str(tmp_path / "there"), "--seed", "5"]
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    assert tree(tmp_path / "here") == tree(tmp_path / "there")


def test_files_are_consecutive_days_of_40_to_120_entries(corpus: tuple[Path, CorpusPlan]) -> None:
    out_dir, plan = corpus
    start = dt.date(2024, 12, 28)
    expected = [f"{(start + dt.timedelta(days=i)).isoformat()}.txt" for i in range(plan.days)]
    assert plan.files == expected
    assert sorted(p.name for p in out_dir.iterdir()) == expected
    sizes = [len(day) for day in read_days(out_dir, plan)]
    assert all(40 <= size <= 120 for size in sizes), sizes
    assert sum(sizes) == plan.records == plan.papers + plan.exact_duplicates + len(plan.near_duplicates)


def test_header_has_layout_b_shape_with_the_date_line(corpus: tuple[Path, CorpusPlan]) -> None:
    out_dir, plan = corpus
    for name in plan.files:
        text = (out_dir / name).read_text(encoding="utf-8")
        day = dt.date.fromisoformat(name.removesuffix(".txt"))
        assert text.startswith(HEADER)
        assert parse_layout_b(text)[0] == f"{MONTHS[day.month - 1]} {day.day}"
    assert (out_dir / "2025-01-01.txt").read_text(encoding="utf-8").split("\n")[8] == "Jan 1"
    assert (out_dir / "2024-12-31.txt").read_text(encoding="utf-8").split("\n")[8] == "Dec 31"


def test_planted_duplicates_match_the_plan(corpus: tuple[Path, CorpusPlan]) -> None:
    out_dir, plan = corpus
    assert plan.exact_duplicates == 150 and len(plan.near_duplicates) == 90
    first_day: dict[Entry, int] = {}
    repeats = 0
    for day, entries in enumerate(read_days(out_dir, plan)):
        for entry in entries:
            if entry in first_day:
                repeats += 1
                assert 1 <= day - first_day[entry] <= 7
            else:
                first_day[entry] = day
    assert repeats == plan.exact_duplicates

    # Each distinct entry by title, earliest first: the original, then its edited/truncated variants.
    by_title: dict[str, list[tuple[int, str]]] = {}
    for (title, abstract), day in first_day.items():
        by_title.setdefault(title, []).append((day, abstract))
    for appearances in by_title.values():
        appearances.sort()
    kinds = Counter(kind for _, _, kind in plan.near_duplicates)
    assert set(kinds) == {"edited", "truncated", "retitled"}
    same_title = Counter(a for a, _, kind in plan.near_duplicates if kind != "retitled")
    for title, appearances in by_title.items():
        assert len(appearances) == 1 + same_title[title]
    for title_a, title_b, kind in plan.near_duplicates:
        day_a, abstract_a = by_title[title_a][0]
        if kind == "retitled":
            assert title_b != title_a
            assert title_b.split(":")[0] == title_a.split(":")[0], "same paper name"
            [(day_b, abstract_b)] = by_title[title_b]
            assert abstract_b == abstract_a
            assert 1 <= day_b - day_a <= 7
        else:
            assert title_b == title_a
            assert all(1 <= day - day_a <= 7 for day, _ in by_title[title_a][1:])
    truncated = [
        (abstract, by_title[title][0][1])
        for title, appearances in by_title.items()
        for _, abstract in appearances[1:]
        if abstract.endswith(("…", "..."))
    ]
    assert len(truncated) == kinds["truncated"]
    for abstract, original in truncated:
        stem = abstract.removesuffix("…").removesuffix("...")
        assert original.startswith(stem) and len(stem) < len(original)


def test_distinct_papers_have_distinct_titles(corpus: tuple[Path, CorpusPlan]) -> None:
    out_dir, plan = corpus
    entries = {entry for day in read_days(out_dir, plan) for entry in day}
    assert len(entries) == plan.papers + len(plan.near_duplicates)
    variant_titles = {b for _, b, kind in plan.near_duplicates if kind == "retitled"}
    originals = {title for title, abstract in entries if title not in variant_titles}
    assert len({title_key(title) for title in originals}) == plan.papers
    assert len({title_key(title) for title, _ in entries}) == plan.papers + len(variant_titles)


def test_abstracts_name_their_paper_and_read_like_abstracts(corpus: tuple[Path, CorpusPlan]) -> None:
    out_dir, plan = corpus
    for day in read_days(out_dir, plan):
        for title, abstract in day:
            name = title.split(":")[0]
            assert name in abstract or abstract.endswith(("…", "..."))
            assert 150 < len(abstract) < 5000
            assert "\n" not in title + abstract and title == title.strip() and abstract == abstract.strip()


def test_plan_is_written_beside_the_sources_folder(corpus: tuple[Path, CorpusPlan]) -> None:
    out_dir, plan = corpus
    assert not list(out_dir.glob("*.json"))
    path = out_dir.parent / "sources.plan.json"
    assert plan_path(out_dir) == path
    assert load_plan(path) == plan
    assert json.loads(path.read_text(encoding="utf-8"))["seed"] == 7


def test_small_corpus_fits_one_day_without_planted_duplicates(tmp_path: Path) -> None:
    plan = write_corpus(25, tmp_path / "small")
    assert (plan.days, plan.records, plan.exact_duplicates, plan.near_duplicates) == (1, 25, 0, [])
    _, entries = parse_layout_b((tmp_path / "small" / "2024-01-01.txt").read_text(encoding="utf-8"))
    assert len(entries) == 25


def test_refuses_a_non_empty_folder_unless_overwriting(tmp_path: Path) -> None:
    write_corpus(200, tmp_path / "out", seed=1)
    (tmp_path / "out" / "notes.md").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError):
        write_corpus(100, tmp_path / "out")
    plan = write_corpus(100, tmp_path / "out", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*plan.files, "notes.md"])


@pytest.mark.parametrize("dup_share, near_share", [(-0.1, 0.0), (0.2, 0.1)])
def test_rejects_bad_shares(tmp_path: Path, dup_share: float, near_share: float) -> None:
    with pytest.raises(ValueError):
        write_corpus(100, tmp_path / "out", dup_share=dup_share, near_share=near_share)


def test_shipped_pool_has_material_for_every_topic() -> None:
    pool = load_pool()
    assert len(pool.topics) >= 4
    for topic in pool.topics:
        assert len(topic.sentences) >= 100 and len(topic.phrases) >= 30
        assert all("\n" not in s and s[-1] in ".!?" for s in topic.sentences)


def test_title_phrases_are_noun_phrases_without_joiners() -> None:
    assert title_phrases("Simulating the two-dimensional $t-J$ model at finite doping with neural quantum states") == [
        "Two-dimensional $t-J$ Model",
        "Finite Doping",
        "Neural Quantum States",
    ]
    assert title_phrases("WebShaper: Agentically Data Synthesizing via Information-Seeking Formalization") == [
        "Agentically Data Synthesizing",
        "Information-Seeking Formalization",
    ]


@pytest.mark.skipif(not SEED_DIR.is_dir(), reason="needs the seed corpus in content/sources")
def test_rebuilding_the_pool_reproduces_the_shipped_file(tmp_path: Path) -> None:
    rebuild_pool(SEED_DIR, tmp_path / "pool.json")
    assert (tmp_path / "pool.json").read_bytes() == POOL_PATH.read_bytes()

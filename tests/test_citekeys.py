"""Citation keys (generator/website/citekeys.py): readable, unique, independent of input order, and
unchanged when newer papers are added; the same key on a paper's page as in papers.bib."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.models import Appearance, Corpus, Paper, Similarity, Topics
from generator.text import content_hash
from generator.website import citekeys
from generator.website.bibtex import bibtex_file
from generator.website.citekeys import citation_keys, key_base, sort_label, surname, title_word
from generator.website.pages import PageBuilder


def paper(pid: str, title: str, day: dt.date | None = dt.date(2025, 6, 1), authors: tuple[str, ...] = ()) -> Paper:
    return Paper(id=pid, title=title, abstract="", appearances=(Appearance("s.txt", day, 1, 1),), authors=authors)


@pytest.mark.parametrize(
    ("title", "authors", "day", "expected"),
    [
        (
            "Scaling Laws for Neural Language Models",
            ("Jared Smith", "Sam McCandlish"),
            dt.date(2025, 1, 2),
            "smith2025scaling",
        ),
        ("Scaling Laws for Neural Language Models", (), dt.date(2025, 1, 2), "scaling2025"),
        ("Scaling Laws for Neural Language Models", (), None, "scaling"),
        ("On the $\\alpha$-divergence of GPT-4o", (), dt.date(2024, 1, 1), "divergence2024"),
        ("52B to 1T: Lessons Learned", (), dt.date(2025, 1, 1), "lessons2025"),
        ("A 2 B", (), dt.date(2025, 1, 1), "paper2025"),
        ("Ασυμπτωτική ανάλυση", ("Γιώργος Παπαδόπουλος",), dt.date(2025, 1, 1), "papadopoulos2025asumptotike"),
        ("Über alles", ("Müller, Hans",), dt.date(2025, 1, 1), "muller2025uber"),
        ("Graphs", ("Jan van der Berg",), dt.date(2025, 1, 1), "berg2025graphs"),
        ("Graphs", ("van der Berg, Jan",), dt.date(2025, 1, 1), "berg2025graphs"),
        ("Graphs", ("John Smith, Jr.",), dt.date(2025, 1, 1), "smith2025graphs"),
        ("Graphs", ("John Smith III",), dt.date(2025, 1, 1), "smith2025graphs"),
        ("Graphs", ("", "  ", "Ann Lee"), dt.date(2025, 1, 1), "lee2025graphs"),  # first non-empty name
        ("Graphs", ("12345",), dt.date(2025, 1, 1), "graphs2025"),  # no letters: as if no authors
        ("A" * 50, (), dt.date(2025, 1, 1), "a" * 20 + "2025"),  # parts are cut at 20 characters
        ("Supercalifragilisticexpialidocious models", ("X" * 40,), None, "x" * 20 + "supercalifragilistic"),
    ],
)
def test_key_base(title: str, authors: tuple[str, ...], day: dt.date | None, expected: str) -> None:
    assert key_base(paper("p", title, day, authors)) == expected


def test_parts() -> None:
    assert title_word("The $\\mathcal{X}$ of it") == "it"
    assert surname(["Smith, John, Jr., III"]) == "smith"
    assert surname([]) == ""
    assert sort_label("The 1.5 Million Materials Narratives of it") == "1.5 Million Materials Narratives"
    assert sort_label("On $\\alpha$: Ünïcode & {Braces}") == "Unicode Braces"
    assert sort_label("of the") == "Anonymous"


def test_equal_bases_first_seen_keeps_it_others_get_a_hash_of_their_id() -> None:
    old = paper("zzz", "Scaling things", dt.date(2025, 5, 1))
    same_day = paper("aaa", "Scaling stuff", dt.date(2025, 5, 1) + dt.timedelta(days=100))
    undated = paper("bbb", "Scaling more", None)
    keys = citation_keys([undated, same_day, old])
    assert keys == {
        "zzz": "scaling2025",
        "aaa": "scaling2025-" + content_hash("aaa", length=4),
        "bbb": "scaling",
    }


def test_clashing_hashes_get_more_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(citekeys, "SUFFIX_DIGITS", 1)  # 16 values: 40 papers must clash
    papers = [paper(f"id{i:02d}", "Same title", dt.date(2025, 1, 1 + i % 28)) for i in range(40)]
    keys = citation_keys(papers)
    assert len(set(keys.values())) == 40
    assert keys == citation_keys(list(reversed(papers)))
    first = min(papers, key=lambda p: (p.first_date, p.id))
    assert keys[first.id] == "same2025"
    for pid, key in keys.items():
        if pid != first.id:
            suffix = key.removeprefix("same2025-")
            assert len(suffix) in (1, 2, 4) and content_hash(pid, length=len(suffix)) == suffix


WORDS = ["Scaling", "Neural", "Graphs", "Attention", "Deep", "Learning", "Über", "the", "of", "$x$"]
NAMES = ["Ann Lee", "Lee, Ann", "José Pérez", "Bo Li", ""]


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[Paper], list[Paper]]:
    """Papers, and newer papers added later (a day after the newest, or undated with larger ids)."""
    count, later = draw(st.integers(1, 25)), draw(st.integers(1, 15))
    rng = random.Random(draw(st.integers(0, 10**6)))
    old = []
    for i in range(count):
        day = dt.date(2024, 12, 1) + dt.timedelta(days=rng.randint(0, 40))
        title = " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))
        old.append(paper(f"p{i:03d}", title, day, (rng.choice(NAMES),)))
    newest = max(p.first_date for p in old if p.first_date)
    new = []
    for i in range(later):
        day = newest + dt.timedelta(days=rng.randint(1, 5))
        title = " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))
        new.append(paper(f"q{i:03d}", title, day, (rng.choice(NAMES),)))
    return old, new


@settings(max_examples=200, deadline=None)
@given(corpora())
def test_keys_unique_order_independent_and_stable_when_newer_papers_come(data: tuple[list[Paper], list[Paper]]) -> None:
    old, new = data
    before = citation_keys(old)
    assert len(set(before.values())) == len(old)
    assert all(re.fullmatch(r"[a-z0-9]+(-[0-9a-f]+)?", key) for key in before.values())
    shuffled = old[:]
    random.Random(len(old)).shuffle(shuffled)
    assert citation_keys(shuffled) == before
    after = citation_keys(old + new)
    assert {pid: after[pid] for pid in before} == before  # a published key never changes
    assert len(set(after.values())) == len(old) + len(new)


def test_paper_page_and_papers_bib_use_the_same_key() -> None:
    papers = (
        paper("b", "Scaling laws", dt.date(2025, 6, 2)),
        paper("a", "Scaling laws again", dt.date(2025, 6, 1)),
        paper("c", "Scaling laws with an author", dt.date(2025, 6, 3), ("Ann Lee",)),
    )
    corpus = Corpus(papers=papers, sources=(), similarity=Similarity(), topics=Topics(topics=()))
    builder = PageBuilder(corpus)
    assert builder.cite_keys == {
        "a": "scaling2025",
        "b": "scaling2025-" + content_hash("b", length=4),
        "c": "lee2025scaling",
    }
    bib = bibtex_file(papers, lambda p: "")
    assert re.findall(r"^@misc\{([^,]+),", bib, re.MULTILINE) == [builder.cite_keys[p] for p in ("a", "b", "c")]
    for p in papers:
        assert builder.paper_page(p).context["cite_key"] == builder.cite_keys[p.id]

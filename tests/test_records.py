"""Merging, stable ids, dates and the golden counts of the shipped seeds."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator.ingest.dates import SourceSettings, date_from_name, listing_date, resolve_dates, year_from_name
from generator.ingest.listing import ListingReader
from generator.ingest.readers import read_sources
from generator.ingest.records import build_sources, merge_records
from generator.models import Listing, RawRecord
from generator.text import normalise_text

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "content" / "sources"
SEED_SETTINGS = {
    "003_95318ace2be1a82b.txt": SourceSettings(date=dt.date(2025, 5, 29)),
    "004_1cc8a7777e0ca7b3.txt": SourceSettings(date=dt.date(2025, 5, 28)),
}


def rec(source: str, position: int, title: str, abstract: str, **kw) -> RawRecord:
    return RawRecord(source=source, line=position * 2, position=position, title=title, abstract=abstract, **kw)


def listing(source: str, *records: RawRecord, header: tuple[int, int] | None = None) -> Listing:
    return Listing(source, f"src/{source}", "yaml", tuple(records), header)


def merge(*listings: Listing, year: int | None = None, settings=None):
    dates, _ = resolve_dates(list(listings), settings or {}, year)
    return merge_records(list(listings), dates)


def test_seeds_golden_counts() -> None:
    listings, problems = read_sources([SEEDS])
    assert problems == []
    assert sum(len(item.records) for item in listings) == 573
    dates, date_problems = resolve_dates(listings, SEED_SETTINGS, None)
    papers, merge_problems = merge_records(listings, dates)
    assert date_problems == [] and merge_problems == []
    assert len(papers) == 521
    assert sum(1 for p in papers if len(p.sources) > 1) == 43
    by_source = {s.name: s for s in build_sources(listings, papers, {})}
    assert by_source["003_95318ace2be1a82b.txt"].date == dt.date(2025, 5, 29)
    assert by_source["004_1cc8a7777e0ca7b3.txt"].date == dt.date(2025, 5, 28)
    assert by_source["000_11d3534cccb3f465.txt"].date is None
    assert len({p.id for p in papers}) == 521
    # The two dated pages: every paper seen there carries that date.
    dated = {d for p in papers for d in p.dates}
    assert dated == {dt.date(2025, 5, 28), dt.date(2025, 5, 29)}


def test_seed_header_dates_need_a_year() -> None:
    listings, _ = read_sources([SEEDS])
    _, problems = resolve_dates(listings, {}, None)
    assert len(problems) == 2 and all("has no year" in p.message for p in problems)
    dates, problems = resolve_dates(listings, {}, 2025)
    assert problems == []
    assert dates[("003_95318ace2be1a82b.txt", 1)] == dt.date(2025, 5, 29)


def test_merge_ignores_case_punctuation_and_spacing() -> None:
    a = listing("a.yaml", rec("a.yaml", 1, "Deep  Learning: A Survey", "We survey  deep learning."))
    b = listing("b.yaml", rec("b.yaml", 3, "deep learning - a survey!", "We survey deep\nlearning."))
    c = listing("c.yaml", rec("c.yaml", 1, "Deep Learning: A Survey", "A different abstract."))
    papers, problems = merge(a, b, c)
    assert len(papers) == 2 and problems == []
    merged = next(p for p in papers if len(p.appearances) == 2)
    assert [(x.source, x.position) for x in merged.appearances] == [("a.yaml", 1), ("b.yaml", 3)]


def test_merge_by_arxiv_id_and_id() -> None:
    a = listing("a.yaml", rec("a.yaml", 1, "Title v1", "Abstract one.", arxiv_id="2401.00001"))
    b = listing("b.yaml", rec("b.yaml", 1, "Title v2 renamed", "Abstract two.", arxiv_id="2401.00001"))
    c = listing("c.yaml", rec("c.yaml", 1, "X", "Y", id="my-id"), rec("c.yaml", 2, "Z", "W", id="my-id"))
    papers, problems = merge(a, b, c)
    assert sorted(p.id for p in papers) == ["2401-00001", "my-id"]
    # A hand-given id on two titles is worth a warning; two versions of one arXiv paper with
    # different titles are not (arXiv announces a retitled paper again as a replacement).
    assert len(problems) == 1 and "'my-id'" in problems[0].message and "different title" in problems[0].message


def test_appearance_dates_resolution_order() -> None:
    header = listing(
        "2024-list.txt",
        rec("2024-list.txt", 1, "T", "A", date=dt.date(2020, 1, 1)),
        rec("2024-list.txt", 2, "U", "B"),
        header=(5, 29),
    )
    papers, _ = merge(header, year=2030)
    dates = {p.title: p.dates for p in papers}
    assert dates == {"T": (dt.date(2020, 1, 1),), "U": (dt.date(2024, 5, 29),)}
    settings = {"2024-list.txt": SourceSettings(date=dt.date(2023, 3, 3))}
    papers, _ = merge(header, year=2030, settings=settings)
    assert {p.title: p.dates for p in papers}["U"] == (dt.date(2023, 3, 3),)


def test_date_helpers() -> None:
    assert date_from_name("digest-2025-05-29.txt") == dt.date(2025, 5, 29)
    assert date_from_name("2025-02-30.txt") is None
    assert year_from_name("hf_2024_may.txt") == 2024
    assert year_from_name("000_11d3534cccb3f465.txt") is None
    undated, problems = listing_date(listing("x.txt", header=(2, 30)), SourceSettings(), 2025)
    assert undated is None and "impossible" in problems[0].message
    configured_year, _ = listing_date(listing("x.txt", header=(5, 1)), SourceSettings(year=2022), 2025)
    assert configured_year == dt.date(2022, 5, 1)


def test_ids_are_stable_readable_unique_and_order_independent() -> None:
    records = [rec("a.yaml", i + 1, f"Paper number {i}", f"Abstract {i}.") for i in range(20)]
    records.append(rec("a.yaml", 21, "Paper number 3", "A different paper with the same title."))
    papers, _ = merge(listing("a.yaml", *records))
    ids = {p.title + "|" + p.abstract: p.id for p in papers}
    assert len(set(ids.values())) == 21
    assert all(i.startswith("paper-number-") for i in ids.values())
    shuffled = records[:]
    random.Random(4).shuffle(shuffled)
    again, _ = merge(listing("a.yaml", *shuffled), listing("b.yaml", rec("b.yaml", 1, "New", "Other.")))
    again_ids = {p.title + "|" + p.abstract: p.id for p in again}
    assert all(again_ids[key] == value for key, value in ids.items())


def test_seed_ids_do_not_change_when_a_source_is_removed() -> None:
    listings, _ = read_sources([SEEDS])
    dates, _ = resolve_dates(listings, SEED_SETTINGS, None)
    full = {p.title: p.id for p in merge_records(listings, dates)[0]}
    fewer = {p.title: p.id for p in merge_records(listings[1:], dates)[0]}
    assert fewer and all(full[title] == paper_id for title, paper_id in fewer.items())


def test_papers_sorted_newest_first() -> None:
    a = listing("2025-01-02.yaml", rec("2025-01-02.yaml", 1, "Old", "A."))
    b = listing("2025-03-04.yaml", rec("2025-03-04.yaml", 1, "New", "B."))
    c = listing("undated.yaml", rec("undated.yaml", 1, "None", "C."))
    papers, _ = merge(a, c, b)
    assert [p.title for p in papers] == ["New", "Old", "None"]


# -- property: a well-formed listing is never lost or shifted --------------------------

WORD = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=10)
TITLE = st.lists(WORD, min_size=2, max_size=12).map(lambda ws: " ".join(ws).capitalize())
SENTENCE = st.lists(WORD, min_size=5, max_size=20).map(lambda ws: " ".join(ws).capitalize() + ".")
ABSTRACT = st.lists(SENTENCE, min_size=3, max_size=8).map(" ".join).filter(lambda a: len(a) >= 300)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(TITLE, st.one_of(ABSTRACT, st.just(""))), min_size=1, max_size=8),
    layout=st.sampled_from(["a", "b"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_well_formed_listing_never_loses_or_shifts_records(tmp_path_factory, pairs, layout, newline, bom) -> None:
    header = (
        ["Get trending papers in your email inbox once a day!", "Get trending papers in your email inbox!"]
        if layout == "a"
        else ["new", "", "Get trending papers in your email inbox!", "", "Subscribe", "", "May 29", ""]
    )
    body: list[str] = []
    for index, (title, abstract) in enumerate(pairs):
        body.append(("Subscribe" if layout == "a" and index == 0 else "") + title)
        if abstract:
            body.append(abstract)
        if layout == "b":
            body.append("")
    text = ("\ufeff" if bom else "") + newline.join(header + body) + newline
    path = tmp_path_factory.mktemp("prop") / "x.txt"
    path.write_text(text, encoding="utf-8", newline="")
    result, problems = ListingReader().read(path, "x.txt")
    expected = [(normalise_text(t), normalise_text(a)) for t, a in pairs]
    assert [(r.title, r.abstract) for r in result.records] == expected
    assert [r.position for r in result.records] == list(range(1, len(pairs) + 1))
    assert len(problems) == sum(1 for _, a in pairs if not a)


@pytest.mark.parametrize("name", sorted(p.name for p in SEEDS.glob("*.txt")))
def test_each_seed_reads_without_problems(name: str) -> None:
    result, problems = ListingReader().read(SEEDS / name, name)
    assert problems == [] and all(r.abstract for r in result.records)


_ASCII_TITLE = st.text(
    alphabet=st.sampled_from(list("ab1,0 -'"))
    | st.sampled_from(list('XYZ9.:;!?()[]{}/\\_"#%+=~`@$^*|<>&\t'))
    | st.characters(max_codepoint=127),
    max_size=90,
)


@settings(max_examples=400)
@given(text=_ASCII_TITLE, max_length=st.sampled_from([0, 1, 7, 40, 60]))
@example(text="Scaling to 1,000,000 tokens: don't stop -- it's 2,5x faster", max_length=60)
@example(text="'Quoted' words__and  spaces--and - dashes ,1,2, 3,4", max_length=40)
@example(text="A very long title " * 6, max_length=60)
@example(text="R&D for 1,0 & more", max_length=60)
def test_ascii_slugs_are_python_slugify_exactly(text: str, max_length: int) -> None:
    """The ASCII fast path of `make_slug` gives python-slugify's slug: a paper's URL never moves."""
    from slugify import slugify

    from generator.text import make_slug

    expected = slugify(normalise_text(text), max_length=max_length, word_boundary=True, save_order=True)
    assert make_slug(text, max_length=max_length) == expected

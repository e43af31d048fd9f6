"""Names and dates of digests: a source without a configured title is named from its date and
kind, never by its file name, everywhere a digest is named; its URL still comes from the file
name; a header date that disagrees with the file name's date is a warning naming both."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from generator.build import StageTimer, generate
from generator.config import BuildOptions
from generator.ingest.dates import SourceSettings, listing_date, resolve_dates
from generator.ingest.records import build_sources, merge_records
from generator.ingest.source_names import source_title, stem_label
from generator.models import Listing, RawRecord
from generator.website.tree import read_tree

HERE = Path(__file__).resolve().parent
MINI = HERE / "fixtures" / "mini" / "2025-01-02.txt"


@pytest.mark.parametrize(
    ("name", "day", "layout", "expected"),
    [
        ("2025-06-01.txt", dt.date(2025, 6, 1), "listing-b", "Daily papers, June 1, 2025"),
        ("hf-2025-05-09.txt", dt.date(2025, 5, 9), "listing-a", "Trending papers, May 9, 2025"),
        ("picks.yaml", dt.date(2024, 12, 31), "yaml", "Papers, December 31, 2024"),
        ("records.jsonl", dt.date(2025, 1, 3), "records", "Papers, January 3, 2025"),
        ("000_11d3534cccb3f465.txt", None, "listing-a", "Listing 000"),
        ("reading_list-2.yaml", None, "yaml", "Listing reading list 2"),
        ("11d3534cccb3f465.json", None, "json", "Listing 11d3534cccb3f465"),
        ("sub/dir/weekly.txt", None, "listing-b", "Listing weekly"),
        (".hidden", None, "yaml", "Listing hidden"),
        ("hf-2025-06-02.json", dt.date(2025, 6, 2), "hf-daily", "Hugging Face daily papers, June 2, 2025"),
        ("rss-cs.LG-2025-06-02.xml", dt.date(2025, 6, 2), "arxiv-rss", "arXiv announcements, June 2, 2025"),
        ("arxiv-cat-cs-lg-2025-06-02.xml", dt.date(2025, 6, 2), "arxiv-atom", "arXiv search, June 2, 2025"),
        ("query-testing-0-100.xml", None, "arxiv-atom", "arXiv search query testing 0 100"),
        ("sample.jsonl", None, "arxiv-snapshot", "arXiv snapshot sample"),
    ],
)
def test_source_title(name: str, day: dt.date | None, layout: str, expected: str) -> None:
    assert source_title(name, day, layout) == expected


def test_stem_label_drops_only_hash_like_tokens() -> None:
    assert stem_label("000_11d3534cccb3f465.txt") == "000"
    assert stem_label("deadbeef_notes.txt") == "deadbeef notes"  # no digit: a word, kept
    assert stem_label("1234567.txt") == "1234567"  # 7 digits: too short for a hash
    assert stem_label("a_12345678.txt") == "a"


def _listing(name: str, layout: str, header: tuple[int, int] | None, *titles: str) -> Listing:
    records = tuple(
        RawRecord(source=name, line=i * 2, position=i, title=title, abstract=f"Abstract of {title}.")
        for i, title in enumerate(titles, start=1)
    )
    return Listing(name, f"content/sources/{name}", layout, records, header)


def test_sources_named_from_date_and_kind_slugs_from_file_names() -> None:
    listings = [
        _listing("2025-06-01.txt", "listing-b", (6, 1), "Alpha paper"),
        _listing("000_11d3534cccb3f465.txt", "listing-a", None, "Beta paper"),
        _listing("named.txt", "listing-b", (5, 29), "Gamma paper"),
        _listing("records.yaml", "yaml", None, "Delta paper"),
    ]
    settings = {
        "named.txt": SourceSettings(title="My own title", year=2025),
        "records.yaml": SourceSettings(date=dt.date(2025, 1, 3)),
    }
    dates, problems = resolve_dates(listings, settings, None)
    assert problems == []
    papers, _ = merge_records(listings, dates)
    sources = {s.name: s for s in build_sources(listings, papers, settings)}
    assert {name: (s.title, s.slug) for name, s in sources.items()} == {
        "2025-06-01.txt": ("Daily papers, June 1, 2025", "2025-06-01"),
        "000_11d3534cccb3f465.txt": ("Listing 000", "000-11d3534cccb3f465"),
        "named.txt": ("My own title", "named"),
        "records.yaml": ("Papers, January 3, 2025", "records"),
    }


def test_header_date_disagreeing_with_the_file_name_is_a_warning_naming_both() -> None:
    listing = _listing("2025-06-01.txt", "listing-b", (5, 28), "Alpha paper")
    day, problems = listing_date(listing, SourceSettings(), None)
    assert day == dt.date(2025, 6, 1)  # the file name's date wins
    assert [(p.level, p.path, p.line) for p in problems] == [("warning", "content/sources/2025-06-01.txt", None)]
    assert "May 28" in problems[0].message and "2025-06-01" in problems[0].message
    # Agreeing, or a configured date (the person decided): no warning.
    assert listing_date(_listing("2025-05-28.txt", "listing-b", (5, 28), "A"), SourceSettings(), None)[1] == []
    configured = listing_date(listing, SourceSettings(date=dt.date(2025, 5, 28)), None)
    assert configured == (dt.date(2025, 5, 28), [])


def _day_page(header: str) -> str:
    """The mini fixture's daily page with its header date line replaced."""
    text = MINI.read_text("utf-8")
    assert "\nJan 2\n" in text
    return text.replace("\nJan 2\n", f"\n{header}\n", 1)


def test_new_day_is_named_everywhere_and_keeps_its_url(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "2025-06-01.txt").write_text(_day_page("May 28"), "utf-8")
    options = BuildOptions(
        sources=(sources,),
        cache_dir=tmp_path / "cache",
        topics_file=HERE.parent / "content" / "topics.yml",
        site_url="https://digest.example.org/",
    )
    result = generate(options, StageTimer(show_progress=False))
    warnings = [p for p in result.problems if "disagrees" in p.message]
    assert len(warnings) == 1 and "May 28" in warnings[0].message and "2025-06-01" in warnings[0].message
    tree = {rel: data.decode("utf-8") for rel, data in read_tree(result.tree).items() if not rel.startswith("search/")}
    shown = "Daily papers, June 1, 2025"
    assert "digests/2025-06-01.md" in tree  # the URL comes from the file name, as before
    assert shown in tree["digests/2025-06-01.md"].split("---", 2)[1]  # the page's title
    for rel in ("index.md", "digests/index.md", "digests/2025-06-01.md"):
        assert shown in tree[rel], rel
    paper_pages = [rel for rel in tree if rel.startswith("papers/") and rel.endswith(".md")]
    assert len(paper_pages) == 3
    for rel in paper_pages:
        assert shown in tree[rel], rel
    # The file name appears only as the digest page's "source file" note and in papers.json.
    file_name = re.compile(r"2025(-|&#45;)06(-|&#45;)01(\.|&#46;)txt")
    assert [rel for rel, text in tree.items() if file_name.search(text)] == ["digests/2025-06-01.md", "papers.json"]
    assert len(file_name.findall(tree["digests/2025-06-01.md"])) == 1
    assert "source file 2025&#45;06&#45;01&#46;txt" in tree["digests/2025-06-01.md"]
    assert json.loads(tree["papers.json"])["papers"][0]["appearances"][0][:2] == ["2025-06-01.txt", "2025-06-01"]


def test_check_shows_each_source_title_and_warns_on_disagreeing_dates(project: Path) -> None:
    """`paper-digest check` on the shipped project plus a new day whose header says another day."""
    from test_bad_input import invoke_cli_in

    (project / "content" / "sources" / "2025-06-01.txt").write_text(_day_page("May 28"), "utf-8")
    checked = invoke_cli_in(project, "check")
    assert checked.exit_code == 0, checked.output[-3000:]
    assert (
        "2025-06-01.txt: 3 papers, listing-b, date 2025-06-01, shown as 'Daily papers, June 1, 2025'" in checked.output
    )
    assert "shown as 'Daily papers, May 29, 2025'" in checked.output  # mkdocs.yml dates it; no title configured
    assert "000_11d3534cccb3f465.txt: 119 papers, listing-a, date undated, shown as 'Trending listing 000'" in (
        checked.output  # a configured title wins
    )
    assert "the header date May 28 disagrees with the date 2025-06-01 in the file name" in checked.output
    strict = invoke_cli_in(project, "check", "--strict")
    assert strict.exit_code == 1


def test_every_layout_named_when_undated_has_a_kind() -> None:
    from generator.ingest.source_names import KEEP_KIND_UNDATED, KINDS, source_title

    assert set(KINDS) >= KEEP_KIND_UNDATED
    for layout in KEEP_KIND_UNDATED:
        assert source_title("answer_testing.xml", None, layout) == f"{KINDS[layout]} answer testing"
    assert source_title("answer_testing.yaml", None, "yaml") == "Listing answer testing"

"""Readers of the real formats (arXiv Atom and RSS, Hugging Face Daily Papers, arXiv snapshot):
chosen by content, every field they take, the error entry, empty and broken files, ids, line
breaks and mojibake; on the project's small fixtures and on the real answers in ../shared."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from generator.ingest.fields import arxiv_id, clean_text, split_author_string
from generator.ingest.readers import read_sources
from generator.models import Listing

FORMATS = Path(__file__).parent / "fixtures" / "formats"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
needs_shared = pytest.mark.skipif(
    not (SHARED / "arxiv-api").is_dir(), reason="../shared/fixtures (real API answers) is not beside the clone"
)


def read_one(path: Path) -> tuple[Listing | None, list[str]]:
    listings, problems = read_sources([path])
    assert len(listings) <= 1
    return (listings[0] if listings else None), [str(p) for p in problems]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2005.14124v2", "2005.14124"),
        ("2005.14124", "2005.14124"),
        ("arXiv:2401.00001v10", "2401.00001"),
        ("http://arxiv.org/abs/2202.12139v1", "2202.12139"),
        ("https://arxiv.org/pdf/2202.12139v1.pdf", "2202.12139"),
        ("cs/0503050v1", "cs/0503050"),
        ("http://arxiv.org/abs/cs/0503050v1", "cs/0503050"),
        ("astro-ph/0601001", "astro-ph/0601001"),
        ("math.GT/0309136v3", "math/0309136"),
        ("oai:arXiv.org:2506.00002v1", "2506.00002"),
        ("not an id", None),
        ("2005.141", None),
        (None, None),
    ],
)
def test_arxiv_ids_normalise_to_one_unversioned_id(given: str | None, expected: str | None) -> None:
    assert arxiv_id(given) == expected


def test_text_repair_and_spacing() -> None:
    assert clean_text("Aurora RamÃ­rez") == "Aurora Ramírez"
    assert clean_text("Oliver Wei\u00c3\u009fl") == "Oliver Weißl"
    assert clean_text("Probing Sparse\n  Attention") == "Probing Sparse Attention"
    # Text that is right as it is stays so (ftfy fixes encodings only where it is sure).
    assert clean_text("naïve café, Ångström, 東京") == "naïve café, Ångström, 東京"
    assert clean_text("$α = β$ <b>bold</b> &amp;") == "$α = β$ <b>bold</b> &amp;"
    assert split_author_string("A. One, B. Two, and C. Three") == ["A. One", "B. Two", "C. Three"]
    assert split_author_string("Ana Silva, Bo Chen and Carla Diaz") == ["Ana Silva", "Bo Chen", "Carla Diaz"]


def test_atom_entries() -> None:
    listing, problems = read_one(FORMATS / "arxiv-2025-06-02.xml")
    assert problems == []
    assert listing is not None and listing.layout == "arxiv-atom"
    first, old = listing.records
    assert first.arxiv_id == "2505.01234"
    assert first.title == "Probing Sparse Attention in Long-Context Models"
    assert first.abstract == (
        "We probe sparse attention heads in long-context language models. We find that a handful of heads "
        "carry retrieval, and that pruning the rest keeps accuracy within 1%."
    )
    assert first.authors == ("Aurora Ramírez", "Wei Zhang")
    assert first.categories == ("cs.CL", "cs.LG")
    assert first.primary_category == "cs.CL"
    assert (first.published, first.updated) == (dt.date(2025, 5, 2), dt.date(2025, 5, 20))
    assert (first.doi, first.journal_ref) == ("10.1000/xyz.2025.1", "Proc. ACL 2025")
    assert first.comment == "12 pages, 4 figures"
    assert first.date is None  # the file's date comes from its name (dates.listing_date)
    assert old.arxiv_id == "cs/0503050"
    assert old.authors == ("Katharina Götz",)
    assert (old.position, old.line) == (2, 2)


def test_atom_error_entry_is_a_warning_naming_the_file_never_a_paper() -> None:
    listing, problems = read_one(FORMATS / "arxiv-error.xml")
    assert listing is not None and listing.records == ()
    assert problems == [
        f"{FORMATS / 'arxiv-error.xml'} (record 1): arXiv reported an error, not a paper: 'incorrect id format for abc'"
    ]


def test_empty_answer_is_no_papers_and_no_problem() -> None:
    listing, problems = read_one(FORMATS / "arxiv-empty.xml")
    assert listing is not None and listing.records == () and problems == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("arxiv-truncated.xml", "invalid XML"),
        ("hf-truncated.json", "invalid JSON"),
    ],
)
def test_truncated_files_are_a_clear_error_and_the_rest_is_read(tmp_path: Path, name: str, message: str) -> None:
    shutil.copy(FORMATS / name, tmp_path / name)
    shutil.copy(FORMATS / "rss-cs.CL.xml", tmp_path / "rss-cs.CL.xml")
    listings, problems = read_sources([tmp_path])
    assert [listing.source for listing in listings] == ["rss-cs.CL.xml"]
    assert len(listings[0].records) == 3
    assert len(problems) == 1
    assert problems[0].level == "error"
    assert problems[0].path == str(tmp_path / name)
    assert message in problems[0].message and problems[0].message.endswith("file skipped")


def test_unsafe_and_foreign_xml_are_refused(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&b;</title></entry></feed>'
    )
    (tmp_path / "bomb.xml").write_text(bomb, "utf-8")
    (tmp_path / "other.xml").write_text("<html><body>hello</body></html>", "utf-8")
    (tmp_path / "notxml.rss").write_text("just text", "utf-8")
    listings, problems = read_sources([tmp_path])
    assert listings == []
    messages = {Path(p.path).name: p.message for p in problems}
    assert "entity declarations" in messages["bomb.xml"]
    assert "neither an Atom feed" in messages["other.xml"]
    assert messages["notxml.rss"].startswith("expected XML")


def test_rss_items() -> None:
    listing, problems = read_one(FORMATS / "rss-cs.CL.xml")
    assert problems == []
    assert listing is not None and listing.layout == "arxiv-rss"
    replaced, new, cross = listing.records
    assert [r.announce_type for r in listing.records] == ["replace", "new", "cross"]
    assert [r.arxiv_id for r in listing.records] == ["2505.01234", "2506.00002", "2506.00003"]
    assert {r.date for r in listing.records} == {dt.date(2025, 6, 3)}  # the feed's day, in its own zone
    assert new.title == "Tokenizers Shape Multilingual Reasoning"
    assert new.abstract == "We show that tokenizer choice changes multilingual reasoning accuracy by up to 9 points."
    assert new.authors == ("Ana Silva", "Bo Chen", "Carla Diaz")
    assert replaced.authors == ("Aurora Ramírez", "Wei Zhang")
    assert cross.categories == ("cs.IR", "cs.CL")
    assert replaced.abstract.startswith("We probe sparse attention")


def test_hf_items() -> None:
    listing, problems = read_one(FORMATS / "hf-2025-06-04.json")
    assert listing is not None and listing.layout == "hf-daily"
    first, versioned = listing.records
    assert first.arxiv_id == "2505.01234" and versioned.arxiv_id == "2506.00009"
    assert first.authors == ("Aurora Ramírez", "Wei Zhang")
    assert first.abstract == (
        "We probe sparse attention heads in long-context language models. "
        "We find that a handful of heads carry retrieval."
    )
    assert (first.upvotes, first.code_url) == (42, "https://github.com/example/sparse-probe")
    assert (first.date, first.published) == (dt.date(2025, 6, 4), dt.date(2025, 5, 2))
    assert versioned.code_url is None
    path = FORMATS / "hf-2025-06-04.json"
    assert problems == [
        f"{path} (record 2): paper.githubRepo is not an http(s) URL; ignored",
        f"{path} (record 3): item without a `paper` object; skipped",
    ]


def test_snapshot_lines() -> None:
    listing, problems = read_one(FORMATS / "snapshot-sample.jsonl")
    assert listing is not None and listing.layout == "arxiv-snapshot"
    first, old = listing.records
    assert first.title == "Probing Sparse Attention in Long-Context Models"
    assert first.abstract.startswith("We probe sparse attention heads") and first.abstract.endswith("within 1%.")
    assert first.authors == ("Aurora Ramírez", "Wei Zhang")
    assert (first.categories, first.primary_category) == (("cs.CL", "cs.LG", "cs.AI"), "cs.CL")
    assert (first.published, first.updated) == (dt.date(2025, 5, 2), dt.date(2025, 5, 20))
    assert (first.line, old.line) == (1, 3)
    assert old.arxiv_id == "astro-ph/0601001"
    assert old.authors == ("A. Astronomer", "B. Observer", "C. Theorist")  # from the string: authors_parsed is bad
    assert (old.doi, old.journal_ref) == ("10.1086/500000", "ApJ 640 (2006) 1")
    assert len(problems) == 1 and problems[0].startswith(f"{FORMATS / 'snapshot-sample.jsonl'}:2: invalid JSON")


def test_formats_are_chosen_by_content_not_extension(tmp_path: Path) -> None:
    for source, name in [
        ("arxiv-2025-06-02.xml", "answer.txt"),
        ("rss-cs.CL.xml", "feed.json"),
        ("hf-2025-06-04.json", "daily.txt"),
        ("snapshot-sample.jsonl", "snapshot.json"),
    ]:
        (tmp_path / name).write_bytes((FORMATS / source).read_bytes())
    listings, _ = read_sources([tmp_path])
    assert {listing.source: (listing.layout, len(listing.records)) for listing in listings} == {
        "answer.txt": ("arxiv-atom", 2),
        "daily.txt": ("hf-daily", 2),
        "feed.json": ("arxiv-rss", 3),
        "snapshot.json": ("arxiv-snapshot", 2),
    }


def test_record_files_still_go_to_their_reader(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('[{"title": "T", "abstract": "A.", "arxiv_id": "2401.00001"}]', "utf-8")
    (tmp_path / "b.jsonl").write_text('{"title": "U", "abstract": "B.", "id": "u"}\n', "utf-8")
    listings, problems = read_sources([tmp_path])
    assert problems == []
    assert [(listing.layout, len(listing.records)) for listing in listings] == [("json", 1), ("jsonl", 1)]


# The real answers, read in place from ../shared/fixtures.


@needs_shared
def test_real_atom_answer_of_100_records() -> None:
    listing, problems = read_one(SHARED / "arxiv-api" / "query-testing-0-100.xml")
    assert problems == []
    assert listing is not None and len(listing.records) == 100
    by_id = {r.arxiv_id: r for r in listing.records}
    assert len(by_id) == 100 and all(by_id)
    first = by_id["2202.12139"]
    assert first.authors == ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")
    assert (first.categories, first.primary_category) == (("cs.SE", "cs.LG"), "cs.SE")
    assert first.doi == "10.1109/ICSTW55395.2022.00035"
    assert by_id["cs/0503050"].authors == ("Hanna Makaruk", "Robert Owczarek", "Nikita Sakhanenko")
    assert by_id["2405.13786"].authors[0] == "Aurora Ramírez"
    assert by_id["2602.15552"].authors[1] == "Oliver Weißl"
    assert not any("Ã" in name for r in listing.records for name in r.authors)
    assert not any("\n" in r.title or "\n" in r.abstract for r in listing.records)


@needs_shared
def test_real_error_and_empty_answers() -> None:
    listing, problems = read_one(SHARED / "arxiv-api" / "error-bad-id.xml")
    assert listing is not None and listing.records == ()
    assert len(problems) == 1 and "arXiv reported an error" in problems[0] and "error-bad-id.xml" in problems[0]
    listing, problems = read_one(SHARED / "arxiv-api" / "empty-result.xml")
    assert listing is not None and listing.records == () and problems == []


@needs_shared
def test_real_pages_hf_days_and_snapshot() -> None:
    pages = [read_one(SHARED / "arxiv-api" / f"query-testing-page-{n}.xml") for n in (0, 10, 20)]
    assert [len(listing.records) for listing, _ in pages if listing] == [10, 10, 10]
    day2, problems2 = read_one(SHARED / "hf-daily-papers" / "2025-06-02.json")
    day3, problems3 = read_one(SHARED / "hf-daily-papers" / "2025-06-03.json")
    assert problems2 == problems3 == []
    assert day2 is not None and day3 is not None
    assert (len(day2.records), len(day3.records)) == (12, 14)
    assert {r.date for r in day2.records} == {dt.date(2025, 6, 2)}
    assert len({r.arxiv_id for r in day2.records} & {r.arxiv_id for r in day3.records}) == 2
    assert all(r.upvotes is not None for r in day2.records)
    snapshot, problems = read_one(SHARED / "arxiv-snapshot" / "sample.jsonl")
    assert problems == [] and snapshot is not None and len(snapshot.records) == 20
    first = snapshot.records[0]
    assert first.arxiv_id == "2008.01944" and first.primary_category == "q-bio.QM"
    assert first.authors == ("Jirong Yi", "Myung Cho", "Xiaodong Wu", "Raghu Mudumbai", "Weiyu Xu")
    assert first.title == "Optimal Pooling Matrix Design for Group Testing with Dilution (Row Degree) Constraints"


def test_what_counts_as_an_arxiv_category() -> None:
    """An archive and a subject class, or a hyphenated archive alone; a plain word is not one."""
    from generator.ingest import fields

    for real in ("cs.CL", "cond-mat.stat-mech", "q-bio.QM", "physics.gen-ph", "hep-th", "gr-qc", "math.GT"):
        assert fields.category(real) == real
    for not_one in ("and", "language", "cs", "math", "<b>", "cs.CL extra", "", None, 3):
        assert fields.category(not_one) is None
    assert fields.categories(["cs.AI", "and", "cs.CL", "cs.AI"], "cs.LG") == ("cs.LG", "cs.AI", "cs.CL")

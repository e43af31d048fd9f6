"""Merging one paper across formats: a text dump, Hugging Face, the arXiv API, arXiv RSS and the
snapshot give one paper with one URL (the dump's), every appearance and the richest metadata."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from generator.ingest.dates import resolve_dates
from generator.ingest.readers import read_sources
from generator.ingest.records import build_sources, merge_records
from generator.models import Listing as ListingModel
from generator.models import Paper, RawRecord

FORMATS = Path(__file__).parent / "fixtures" / "formats"
ALL = ["dump-2025-06-01.txt", "arxiv-2025-06-02.xml", "rss-cs.CL.xml", "hf-2025-06-04.json", "snapshot-sample.jsonl"]
TITLE = "Probing Sparse Attention in Long-Context Models"


def corpus(folder: Path, names: list[str]) -> tuple[list[Paper], list[str]]:
    for name in names:
        shutil.copy(FORMATS / name, folder / name)
    listings, problems = read_sources([folder])
    dates, date_problems = resolve_dates(listings, {}, None)
    papers, merge_problems = merge_records(listings, dates)
    build_sources(listings, papers, {}, merge_problems)
    return papers, [str(p) for p in [*problems, *date_problems, *merge_problems]]


def the_paper(papers: list[Paper]) -> Paper:
    found = [p for p in papers if p.title == TITLE]
    assert len(found) == 1
    return found[0]


def test_one_paper_in_all_formats_and_a_text_dump(tmp_path: Path) -> None:
    papers, _ = corpus(tmp_path, ALL)
    paper = the_paper(papers)
    assert paper.arxiv_id == "2505.01234"
    # The dump's id: the URL the paper had before any arXiv appearance.
    assert paper.id.startswith("probing-sparse-attention-in-longcontext-models-")
    assert [(a.source, a.date) for a in paper.appearances] == [
        ("dump-2025-06-01.txt", dt.date(2025, 6, 1)),
        ("arxiv-2025-06-02.xml", dt.date(2025, 6, 2)),
        ("rss-cs.CL.xml", dt.date(2025, 6, 3)),
        ("hf-2025-06-04.json", dt.date(2025, 6, 4)),
        ("snapshot-sample.jsonl", None),
    ]
    # Richest metadata: the arXiv API's abstract, authors, categories, DOI...; upvotes and code from HF.
    assert paper.abstract.endswith("pruning the rest keeps accuracy within 1%.")
    assert paper.authors == ("Aurora Ramírez", "Wei Zhang")
    assert (paper.categories, paper.primary_category) == (("cs.CL", "cs.LG"), "cs.CL")
    assert (paper.doi, paper.journal_ref, paper.comment) == (
        "10.1000/xyz.2025.1",
        "Proc. ACL 2025",
        "12 pages, 4 figures",
    )
    assert paper.published == dt.date(2025, 5, 2)
    assert (paper.upvotes, paper.code_url) == (42, "https://github.com/example/sparse-probe")
    # The other papers stay apart: 2 more in the Atom file, 2 in RSS, 1 in HF, 1 in the snapshot, 1 in the dump.
    assert len(papers) == 1 + 1 + 2 + 1 + 1 + 1


def test_the_url_does_not_move_when_arxiv_appearances_arrive(tmp_path: Path) -> None:
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before, _ = corpus(tmp_path / "before", ["dump-2025-06-01.txt"])
    after, _ = corpus(tmp_path / "after", ALL)
    assert the_paper(before).id == the_paper(after).id
    assert the_paper(before).arxiv_id is None
    # Without the dump, the paper's page is its arXiv id.
    (tmp_path / "arxiv").mkdir()
    only_arxiv, _ = corpus(tmp_path / "arxiv", ALL[1:])
    assert the_paper(only_arxiv).id == "2505-01234"


def test_input_order_does_not_change_the_merge(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    forward, _ = corpus(tmp_path / "a", ALL)
    backward, _ = corpus(tmp_path / "b", list(reversed(ALL)))
    assert forward == backward


def listing(source: str, *records: RawRecord, layout: str = "yaml") -> ListingModel:
    return ListingModel(source, source, layout, records)


def test_a_title_shared_by_two_arxiv_papers_is_not_merged_by_title() -> None:
    text = RawRecord("dump.txt", 1, 1, "Attention Is All You Need", "A text dump's abstract.")
    one = RawRecord("a.xml", 1, 1, "Attention is all you need", "First.", arxiv_id="1706.03762")
    two = RawRecord("b.xml", 1, 1, "Attention Is All You Need!", "Second.", arxiv_id="2501.00001")
    papers, problems = merge_records(
        [listing("dump.txt", text, layout="listing-b"), listing("a.xml", one, layout="arxiv-atom"),
         listing("b.xml", two, layout="arxiv-atom")],
        {},
    )  # fmt: skip
    assert sorted(p.arxiv_id or "-" for p in papers) == ["-", "1706.03762", "2501.00001"]
    assert len(problems) == 1 and "1706.03762, 2501.00001" in problems[0].message


def test_richness_prefers_arxiv_over_hugging_face_whatever_the_order() -> None:
    hf = RawRecord("hf.json", 1, 1, "A Title", "Short.", arxiv_id="2401.00001", authors=("X",), upvotes=5)
    hf2 = RawRecord("hf2.json", 1, 1, "A Title", "Short.", arxiv_id="2401.00001", upvotes=9)
    atom = RawRecord("a.xml", 1, 1, "A Title", "The full abstract.", arxiv_id="2401.00001", authors=("X", "Y"),
                     categories=("cs.CL",), primary_category="cs.CL")  # fmt: skip
    dates = {
        ("hf.json", 1): dt.date(2025, 1, 1),
        ("hf2.json", 1): dt.date(2025, 1, 2),
        ("a.xml", 1): dt.date(2025, 2, 1),
    }
    papers, _ = merge_records(
        [listing("hf.json", hf, layout="hf-daily"), listing("hf2.json", hf2, layout="hf-daily"),
         listing("a.xml", atom, layout="arxiv-atom")],
        dates,
    )  # fmt: skip
    (paper,) = papers
    assert (paper.id, paper.abstract, paper.authors, paper.categories, paper.upvotes) == (
        "2401-00001", "The full abstract.", ("X", "Y"), ("cs.CL",), 9
    )  # fmt: skip
    assert [a.source for a in paper.appearances] == ["hf.json", "hf2.json", "a.xml"]


def test_every_metadata_field_is_merged_onto_the_paper() -> None:
    """`Metadata` is declared once for records and papers; the merge gives a paper each of its fields."""
    from dataclasses import fields

    from generator.ingest.merge import merged_metadata
    from generator.models import Metadata, Paper, RawRecord

    names = {f.name for f in fields(Metadata)}
    poor = RawRecord("a.txt", 1, 1, "Title", "Abstract.")
    rich = RawRecord("b.json", 1, 1, "Title", "Abstract.", doi="10.1/x", upvotes=3, categories=("cs.CL",))
    merged = merged_metadata([rich, poor])
    assert set(merged) == names
    assert merged["doi"] == "10.1/x" and merged["upvotes"] == 3 and merged["categories"] == ("cs.CL",)
    assert names <= {f.name for f in fields(Paper)} and names <= {f.name for f in fields(RawRecord)}


def test_a_record_files_metadata_is_used_only_where_no_richer_format_has_it(tmp_path: Path) -> None:
    """Record files rank below the API formats (ingest/merge.py): their DOI fills a gap, their categories do not win."""
    papers, _ = corpus(tmp_path, ["arxiv-2025-06-02.xml"])
    arxiv = the_paper(papers)
    (tmp_path / "mine.yaml").write_text(
        f"- title: {TITLE}\n  abstract: {arxiv.abstract!r}\n  arxiv_id: '{arxiv.arxiv_id}'\n"
        "  categories: [physics.gen-ph]\n  doi: 10.9999/mine\n  upvotes: 7\n",
        "utf-8",
    )
    papers, problems = corpus(tmp_path, ["arxiv-2025-06-02.xml"])
    paper = the_paper(papers)
    assert not [p for p in problems if "mine.yaml" in p]
    assert len(paper.appearances) == 2  # one page for both
    assert paper.categories == arxiv.categories and "physics.gen-ph" not in paper.categories
    assert paper.doi == (arxiv.doi or "10.9999/mine") and paper.upvotes == 7

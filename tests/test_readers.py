"""Listing-dump and record-file readers: both layouts, every robustness case, record files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator.errors import SourceError
from generator.ingest.listing import ListingReader, looks_like_abstract
from generator.ingest.readers import read_sources
from generator.ingest.record_files import RecordFileReader

TITLES = [
    "Simulating the two-dimensional $t-J$ model at finite doping with neural quantum states",
    "A Solvable Model of Neural Scaling Laws",
    "Can Language Models Rival Mathematics Students? Evaluating Mathematical Reasoning",
]
ABSTRACTS = [
    "Simulating large, strongly interacting fermionic systems remains a major challenge for existing "
    "numerical methods. In this work, we present the application of neural quantum states to the t-J model.",
    "Large language models with a huge number of parameters, when trained on near internet-sized number of "
    "tokens, have been empirically shown to obey neural scaling laws. We study a solvable model.",
    "In this paper we look at the ability of recent large language models at solving mathematical problems "
    "in combinatorics. We compare models against each other and against students.",
]
HEADER_A = "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\n"
HEADER_B = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\nMay 29\n\n"
)


def layout_a(pairs: list[tuple[str, str]]) -> str:
    lines = []
    for index, (title, abstract) in enumerate(pairs):
        lines.append(("Subscribe" if index == 0 else "") + title)
        if abstract:
            lines.append(abstract)
    return HEADER_A + "\n".join(lines) + "\n"


def layout_b(pairs: list[tuple[str, str]]) -> str:
    blocks = []
    for title, abstract in pairs:
        blocks.append(title)
        if abstract:
            blocks.append(abstract)
    return HEADER_B + "\n\n".join(blocks) + "\n"


def read(tmp_path: Path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    reader = ListingReader() if name.endswith(".txt") else RecordFileReader()
    return reader.read(path, name)


PAIRS = list(zip(TITLES, ABSTRACTS, strict=True))


def test_layout_a_reads_titles_and_abstracts(tmp_path: Path) -> None:
    listing, problems = read(tmp_path, "a.txt", layout_a(PAIRS))
    assert listing.layout == "listing-a"
    assert [(r.title, r.abstract) for r in listing.records] == PAIRS
    assert [r.position for r in listing.records] == [1, 2, 3]
    assert [r.line for r in listing.records] == [3, 5, 7]
    assert problems == []


def test_layout_b_reads_header_date(tmp_path: Path) -> None:
    listing, problems = read(tmp_path, "b.txt", layout_b(PAIRS))
    assert listing.layout == "listing-b"
    assert listing.header_date == (5, 29)
    assert [(r.title, r.abstract) for r in listing.records] == PAIRS
    assert problems == []


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda t: "\ufeff" + t, id="bom"),
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.replace("\n", "\r"), id="cr"),
        pytest.param(lambda t: t.replace("\n\n", "\n"), id="missing-blank-lines"),
        pytest.param(lambda t: t.replace("\n", "\n\n\n"), id="extra-blank-lines"),
        pytest.param(lambda t: t.replace("\n", "   \t\n"), id="trailing-spaces"),
        pytest.param(
            lambda t: t.replace("model", "mo\x00del").replace("numerical", "nu\x07meri\x1bcal"),
            id="nul-and-controls",
        ),
    ],
)
@pytest.mark.parametrize("layout", [layout_a, layout_b])
def test_robust_to_encoding_and_spacing(tmp_path: Path, transform, layout) -> None:
    listing, problems = read(tmp_path, "x.txt", transform(layout(PAIRS)))
    assert [(r.title, r.abstract.replace("\x00", "")) for r in listing.records] == PAIRS
    assert problems == []


@pytest.mark.parametrize("layout", [layout_a, layout_b])
@pytest.mark.parametrize("missing", [0, 1, 2])
def test_missing_abstract_keeps_title_and_does_not_shift(tmp_path: Path, layout, missing: int) -> None:
    pairs = [(t, "" if i == missing else a) for i, (t, a) in enumerate(PAIRS)]
    listing, problems = read(tmp_path, "x.txt", layout(pairs))
    assert [(r.title, r.abstract) for r in listing.records] == pairs
    assert len(problems) == 1 and problems[0].level == "warning"
    assert "title without an abstract" in problems[0].message
    assert problems[0].line == listing.records[missing].line


def test_abstract_without_title_is_reported_and_skipped(tmp_path: Path) -> None:
    text = HEADER_B + ABSTRACTS[0] + "\n\n" + TITLES[1] + "\n\n" + ABSTRACTS[1] + "\n"
    listing, problems = read(tmp_path, "x.txt", text)
    assert [(r.title, r.abstract) for r in listing.records] == [(TITLES[1], ABSTRACTS[1])]
    assert problems[0].level == "error" and "abstract without a title" in problems[0].message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\n\n  \r\n", "empty file"),
        (bytes(range(256)) * 20, "binary file"),
        ("Get trending papers in your email inbox!\nSubscribeTitle\n".encode("utf-16"), "binary"),
        ("Get trending papers in your email inbox!\nSubscribé".encode("latin-1"), "not UTF-8"),
        (b"Some other page\nwith other text\n", "unknown layout"),
    ],
)
def test_whole_file_errors_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(SourceError) as info:
        read(tmp_path, "bad.txt", content)
    assert message in str(info.value)
    assert "bad.txt" in str(info.value)


def test_bad_file_does_not_stop_other_sources(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(layout_b(PAIRS), "utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00\x01garbage")
    (tmp_path / "empty.txt").write_text("", "utf-8")
    listings, problems = read_sources([tmp_path])
    assert [listing.source for listing in listings] == ["good.txt"]
    assert len(listings[0].records) == 3
    assert sorted(Path(p.path).name for p in problems) == ["bad.txt", "empty.txt"]
    assert all(p.level == "error" for p in problems)


def test_missing_sources_path_is_reported(tmp_path: Path) -> None:
    listings, problems = read_sources([tmp_path / "nope"])
    assert listings == []
    assert "does not exist" in problems[0].message and "nope" in problems[0].path


def test_shape_classifier() -> None:
    assert looks_like_abstract(ABSTRACTS[0]) is True
    assert looks_like_abstract(TITLES[2]) is False
    assert looks_like_abstract("Attention Is All You Need") is False
    assert looks_like_abstract("Rule Learning vs. Memorization in Large Language Models") is False


RECORDS = [
    {
        "title": TITLES[0],
        "abstract": ABSTRACTS[0],
        "arxiv_id": "2406.20015v2",
        "date": "2025-05-29",
        "authors": ["A. Author", "B. Author"],
        "url": "https://example.org/p1",
    },
    {"title": TITLES[1], "abstract": ABSTRACTS[1], "id": "custom-1"},
]


def test_yaml_records(tmp_path: Path) -> None:
    import yaml

    text = yaml.safe_dump(RECORDS, sort_keys=False, width=10_000)
    listing, problems = read(tmp_path, "r.yaml", text)
    assert problems == []
    first, second = listing.records
    assert first.arxiv_id == "2406.20015"
    assert first.date is not None and first.date.isoformat() == "2025-05-29"
    assert first.authors == ("A. Author", "B. Author")
    assert second.id == "custom-1" and second.line == text.splitlines().index(f"- title: {TITLES[1]}") + 1


@pytest.mark.parametrize("wrap", [lambda r: r, lambda r: {"papers": r}])
def test_json_records(tmp_path: Path, wrap) -> None:
    listing, problems = read(tmp_path, "r.json", json.dumps(wrap(RECORDS)))
    assert [r.title for r in listing.records] == TITLES[:2]
    assert problems == []


def test_jsonl_records_report_line(tmp_path: Path) -> None:
    lines = [
        json.dumps(RECORDS[0]),
        "{not json",
        json.dumps({"abstract": "no title"}),
        json.dumps(RECORDS[1]),
    ]
    listing, problems = read(tmp_path, "r.jsonl", "\n".join(lines))
    assert [r.title for r in listing.records] == TITLES[:2]
    assert [(p.line, p.level) for p in problems] == [(2, "error"), (3, "error")]
    assert "invalid JSON" in problems[0].message and "without a title" in problems[1].message


def test_invalid_records_are_reported_with_number_and_valid_kept(tmp_path: Path) -> None:
    records = [
        RECORDS[0],
        "just a string",
        {"title": "No abstract"},
        {"title": "T", "abstract": "A", "date": "2025-02-30", "url": "javascript:alert(1)", "colour": "red"},
    ]
    listing, problems = read(tmp_path, "r.json", json.dumps(records))
    assert [r.title for r in listing.records] == [TITLES[0], "T"]
    assert listing.records[1].date is None and listing.records[1].url is None
    text = [str(p) for p in problems]
    assert any("(record 2)" in t and "not a mapping" in t for t in text)
    assert any("(record 3)" in t and "without an abstract" in t for t in text)
    assert any("(record 4)" in t and "impossible date" in t for t in text)
    assert any("(record 4)" in t and "url" in t for t in text)
    assert any("(record 4)" in t and "colour" in t for t in text)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        read(tmp_path, "r.yaml", "- title: a\n  abstract: b\n- title: [unclosed\n")
    assert info.value.line is not None and "invalid YAML" in info.value.message


def test_read_cache_gives_the_same_listings_and_notices_changes(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(Path(__file__).parent / "fixtures" / "mini", sources)
    cache = tmp_path / "cache"
    cold = read_sources([sources])
    first = read_sources([sources], cache)
    assert first == cold and len(list(cache.glob("*.pickle"))) == 2
    assert read_sources([sources], cache) == cold  # from the cache
    # A changed file is parsed again; the cache entry of its old bytes is dropped.
    listing = sources / "2025-01-02.txt"
    listing.write_text(listing.read_text("utf-8").replace("Neural Theorem", "Neural Theorem!"), "utf-8")
    changed = read_sources([sources], cache)
    assert changed == read_sources([sources]) and changed != cold
    assert len(list(cache.glob("*.pickle"))) == 2
    # A damaged cache file is ignored.
    for path in cache.glob("*.pickle"):
        path.write_bytes(b"junk")
    assert read_sources([sources], cache) == changed


def test_record_files_give_the_metadata_the_api_formats_give(tmp_path: Path) -> None:
    import datetime as dt

    import yaml

    good = {
        "title": TITLES[0],
        "abstract": ABSTRACTS[0],
        "categories": ["cs.CL", "cs.AI"],
        "primary_category": "cs.LG",
        "doi": "10.1000/xyz",
        "journal_ref": "Proc. ACL 2025",
        "comment": "12 pages",
        "code_url": "https://github.com/example/repo",
        "upvotes": 42,
        "published": "2024-06-28",
    }
    bad = {
        "title": TITLES[1],
        "abstract": ABSTRACTS[1],
        "categories": "cs.CL, not a category",
        "primary_category": "<b>",
        "doi": 10,
        "code_url": "javascript:alert(1)",
        "upvotes": -3,
        "published": "28 June",
    }
    listing, problems = read(tmp_path, "r.yaml", yaml.safe_dump([good, bad], sort_keys=False))
    first, second = listing.records
    assert first.categories == ("cs.LG", "cs.CL", "cs.AI") and first.primary_category == "cs.LG"
    assert (first.doi, first.journal_ref, first.comment) == ("10.1000/xyz", "Proc. ACL 2025", "12 pages")
    assert first.code_url == "https://github.com/example/repo" and first.upvotes == 42
    assert first.published == dt.date(2024, 6, 28)
    # Each bad field is a warning naming the record and the field; the record is still read.
    assert second.categories == ("cs.CL",) and second.primary_category is None
    assert second.doi is None and second.code_url is None and second.upvotes is None and second.published is None
    text = [str(p) for p in problems]
    assert all("(record 2)" in t for t in text) and all(p.level == "warning" for p in problems)
    for name in ("categories", "primary_category", "doi", "code_url", "upvotes", "date"):
        assert any(name in t for t in text), name
    assert not any("unknown field" in t for t in text)

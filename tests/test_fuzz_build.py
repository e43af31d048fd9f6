"""Fuzz the whole generator: random Unicode and random field types through every reader and every stage.

Hypothesis makes records whose fields are text with lone surrogates, non-characters, format and
control characters, math and markup, or values of the wrong type (numbers, lists, mappings,
nothing), and writes them as JSON, JSON Lines, YAML, a text listing and the real formats. The whole build
(`generate`: read, merge, similarity, topics, pages, search, writing) must end with problems
reported, never an exception, and everything it writes must be UTF-8 that can be served.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import yaml
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.build import StageTimer, generate
from generator.config import BuildOptions
from generator.errors import DigestError

SPECIALS = [
    "\ud800",
    "\udfff",
    "\ud83d\ude80",
    "\ufffe",
    "\U0010ffff",
    "\ufdd0",
    "\u202e",
    "\u061c",
    "\u00ad",
    "\u180e",
    "\U000e0041",
    "\u1160",
    "\x00",
    "\x1b[2J",
    "\r",
    "\u2028",
    "$x_{x_{x}}$",
    "$\\rule{9em}{9em}$",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "e.g. ",
    "index",
    "con",
    "a/b",
]
texts = st.lists(
    st.one_of(st.sampled_from(SPECIALS), st.text(st.characters(exclude_categories=()), max_size=30)), max_size=6
).map("".join)
values = st.one_of(
    texts,
    texts,
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(texts, max_size=3),
    st.dictionaries(texts, texts, max_size=2),
)
FIELDS = ["title", "abstract", "id", "arxiv_id", "url", "authors", "date", "source"]
records = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"title": texts, "abstract": texts},
            optional={field: values for field in FIELDS if field not in {"title", "abstract"}},
        ),
        st.dictionaries(st.sampled_from(FIELDS) | texts, values, max_size=4),
        values,
    ),
    min_size=1,
    max_size=6,
)
LISTING_HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
GOOD = {"title": "A Fuzzed Corpus Keeps One Good Paper", "abstract": "We test the build. It must hold."}


def _yaml(items: list[Any]) -> str:
    try:
        return yaml.safe_dump(items, allow_unicode=False)
    except yaml.YAMLError:  # PyYAML cannot write some values (a NUL key): the JSON files carry them
        return "[]\n"


def write_real_formats(sources: Path, items: list[Any]) -> None:
    """The same fuzzed values in the real formats (generator/ingest/): Hugging Face Daily Papers,
    the arXiv snapshot and an arXiv API Atom answer (values as XML text, escaped or not)."""
    records = [item if isinstance(item, dict) else {"title": item} for item in items]
    hf = [
        {"paper": {"id": r.get("arxiv_id"), "title": r.get("title"), "summary": r.get("abstract"),
                   "authors": [{"name": r.get("authors")}, r.get("id")], "upvotes": r.get("id"),
                   "githubRepo": r.get("url"), "publishedAt": r.get("date")},
         "publishedAt": r.get("date")}
        for r in records
    ]  # fmt: skip
    (sources / "hf.json").write_text(json.dumps(hf, ensure_ascii=True), "utf-8")
    snapshot = [
        {"id": r.get("arxiv_id"), "title": r.get("title"), "abstract": r.get("abstract"), "authors": r.get("authors"),
         "authors_parsed": r.get("authors"), "categories": r.get("source"), "versions": r.get("date"),
         "update_date": r.get("date"), "doi": r.get("url")}
        for r in records
    ]  # fmt: skip
    (sources / "snapshot.jsonl").write_text(
        "\n".join(json.dumps(line, ensure_ascii=True) for line in snapshot), "utf-8"
    )
    entries = "".join(
        f"<entry><id>{escape(str(r.get('arxiv_id')))}</id><title>{escape(str(r.get('title')))}</title>"
        f"<summary>{r.get('abstract')!s}</summary><author><name>{escape(str(r.get('authors')))}</name></author>"
        f"<category term={quoteattr(str(r.get('source')))}/><published>{escape(str(r.get('date')))}</published></entry>"
        for r in records
    )
    feed = f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>'
    (sources / "answer.xml").write_bytes(feed.encode("utf-8", "surrogatepass"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(items=records, listing=st.lists(texts, min_size=1, max_size=6), name=texts)
def test_random_records_through_every_reader_and_stage(items: list[Any], listing: list[str], name: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        sources = Path(scratch) / "sources"
        sources.mkdir()
        (sources / "good.json").write_text(json.dumps([GOOD]), "utf-8")
        (sources / "r.json").write_text(json.dumps(items, ensure_ascii=True), "utf-8")
        (sources / "r.jsonl").write_text("\n".join(json.dumps(item, ensure_ascii=True) for item in items), "utf-8")
        (sources / "r.yaml").write_text(_yaml(items), "utf-8")
        write_real_formats(sources, items)
        body = "\n\n".join(listing).encode("utf-8", "surrogatepass")  # a lone surrogate makes it not UTF-8
        (sources / "2025-06-01-x.txt").write_bytes(LISTING_HEADER.encode() + b"June 1\n\n" + body + b"\n")
        file_name = re.sub(r"[/\x00]", "_", name)[:40] or "_"
        with contextlib.suppress(OSError, UnicodeEncodeError):  # a name the file system refuses is not ours
            (sources / f"{file_name}.txt").write_bytes(LISTING_HEADER.encode() + b"Some Title Here\n\nAn abstract.\n")
        options = BuildOptions(
            sources=(sources,), cache_dir=Path(scratch) / "cache", topics_file=ROOT / "content" / "topics.yml"
        )
        try:
            result = generate(options, StageTimer(show_progress=False))
        except DigestError as exc:  # only "no papers" is a fair end, and the good paper is always there
            raise AssertionError(f"the build failed: {exc}") from exc
        assert GOOD["title"] in {paper.title for paper in result.corpus.papers}
        for problem in result.problems:
            str(problem).encode("utf-8")
        for path in result.tree.rglob("*"):
            if path.is_file() and path.suffix in {".json", ".xml", ".bib", ".md", ".js"}:
                text = path.read_bytes().decode("utf-8")
                assert not re.search("[\ud800-\udfff\x00]", text), path

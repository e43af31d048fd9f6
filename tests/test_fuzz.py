"""Property tests: readers never crash on junk, and escaped text never becomes live markup.

Readers get random bytes and text (control characters, CR/LF mixes, BOM, hostile YAML and
JSON structure) and may only raise `SourceError`. Titles and abstracts go through
`escape_text` and then Python-Markdown with the extensions of mkdocs.yml, in the contexts the
templates put them in; the HTML may hold only the tags the templates and the escaping make.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from generator.errors import Problem, SourceError
from generator.ingest.dates import resolve_dates
from generator.ingest.listing import ListingReader
from generator.ingest.record_files import RecordFileReader
from generator.ingest.records import build_sources, merge_records
from generator.models import Listing, RawRecord
from generator.text import normalise_text
from generator.website import escaping
from generator.website.escaping import escape_attribute, escape_text, front_matter_value, split_math

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MARKDOWN_EXTENSIONS = ["attr_list", "md_in_html", "admonition", "tables", "toc"]

HOSTILE_SNIPPETS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<svg onload="alert(1)">',
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)" onmouseover="alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "<http://x.org>",
    "{: onclick=alert(1) }",
    "{ .cls #id onclick=alert(1) }",
    "{{ 7*7 }}",
    "{% include 'x' %}",
    "{# c #}",
    "<!-- c -->",
    "<![CDATA[x]]>",
    "<?php ?>",
    "<div markdown>",
    "</div>",
    "<span>",
    "</span>",
    "&amp;lt;",
    "&#60;script&#62;",
    "&lt;",
    "&#x3c;",
    "`",
    "``",
    "```",
    "~~~",
    "$",
    "$$",
    "$x^2$",
    "$5 or $10",
    "\\$",
    "\\",
    "*",
    "**",
    "_",
    "__",
    "#",
    "# ",
    "1995. ",
    "> ",
    "- ",
    "+ ",
    "| ",
    "|",
    "---",
    "===",
    "!!! note",
    "[^1]",
    "[^1]: x",
    "[x]: http://x.org",
    ":",
    "=",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "    ",
    "  \n",
    "\t",
    "\x00",
    "\x02",
    "\x03",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\u2028",
    "\x85",
]

text_fragments = st.one_of(st.sampled_from(HOSTILE_SNIPPETS), st.text(max_size=12))
hostile_text = st.lists(text_fragments, max_size=12).map("".join)

# ---------------------------------------------------------------------------------- readers


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One directory for the files the properties write (a module fixture: hypothesis reruns tests)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        yield Path(name)


def read_bytes_as(scratch: Path, suffix: str, data: bytes) -> list[Problem]:
    """Read `data` as a source file with `suffix`; return its problems, or let SourceError out."""
    path = scratch / f"fuzz{suffix}"
    path.write_bytes(data)
    reader = ListingReader() if suffix == ".txt" else RecordFileReader()
    listing, problems = reader.read(path, path.name)
    for record in listing.records:
        assert isinstance(record.title, str) and isinstance(record.abstract, str)
        assert record.line >= 1 and record.position >= 1
    for problem in problems:
        assert problem.path == str(path) and problem.message
    return problems


def assert_only_source_errors(scratch: Path, suffix: str, data: bytes) -> None:
    try:
        read_bytes_as(scratch, suffix, data)
    except SourceError as exc:
        assert exc.path.endswith(f"fuzz{suffix}") and exc.message


line_ends = st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\r\r\n"])
listing_header = st.sampled_from(
    [
        "new\nGet trending papers in your email inbox!\nSubscribe\nbyAK and the research community\nMay 29\n",
        "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\nSubscribe",
        "",
    ]
)


@st.composite
def listing_text(draw: st.DrawFn) -> str:
    """A listing-shaped text: maybe a header, then random lines with mixed line ends."""
    lines = draw(st.lists(st.one_of(hostile_text, st.text(min_size=50, max_size=400)), max_size=10))
    body = "".join(line + draw(line_ends) for line in lines)
    return draw(st.sampled_from(["", "\ufeff"])) + draw(listing_header) + body


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    hostile_text,
    st.sampled_from(["2025-02-30", "2025-05-29", "0000-00-00", "2401.12345v2", "https://x.org/a b", "papers"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
record_keys = st.sampled_from(sorted(RecordFileReader.FIELDS | {"extra", "papers"}))
records = st.lists(st.dictionaries(record_keys, json_values, max_size=8) | json_values, max_size=5)
documents = records | st.fixed_dictionaries({"papers": records}) | json_values


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".txt", ".yaml", ".json", ".jsonl"]))
@example(data=b"\xef\xbb\xbf", suffix=".txt")
@example(data=b"\x00" * 50, suffix=".yaml")
def test_random_bytes_raise_only_source_errors(scratch: Path, data: bytes, suffix: str) -> None:
    assert_only_source_errors(scratch, suffix, data)


@FUZZ
@given(text=listing_text())
def test_listing_reader_raises_only_source_errors(scratch: Path, text: str) -> None:
    assert_only_source_errors(scratch, ".txt", text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(document=documents, suffix=st.sampled_from([".yaml", ".json", ".jsonl"]), cut=st.floats(0, 1))
@example(document=[{"title": "t", "abstract": "a", "date": "2025-02-30"}], suffix=".yaml", cut=1.0)
def test_record_reader_raises_only_source_errors(scratch: Path, document: object, suffix: str, cut: float) -> None:
    if suffix == ".yaml":
        text = yaml.safe_dump(document, allow_unicode=True)
        # Unquote scalars so YAML resolves them itself (dates, numbers, impossible dates).
        text = text.replace("'", "")
    elif suffix == ".json":
        text = json.dumps(document, ensure_ascii=False)
    else:
        items = document if isinstance(document, list) else [document]
        text = "\n".join(json.dumps(item) for item in items)
    # A truncated file is as likely as a whole one.
    text = text[: max(1, round(len(text) * cut))] if cut < 0.5 else text
    assert_only_source_errors(scratch, suffix, text.encode("utf-8", "surrogatepass"))


HOSTILE_DOCUMENTS = {
    "duplicate papers key": ("yaml", "papers: [{title: a, abstract: b}]\npapers: [{title: a, abstract: b}, 1]\n"),
    "papers via merge key": ("yaml", "base: &b\n  papers: [{title: a, abstract: b}]\n<<: *b\n"),
    "huge integer yaml": ("yaml", "- {title: a, abstract: b, id: " + "1" * 5000 + "}\n"),
    "huge integer json": ("json", "[" + "1" * 5000 + "]"),
    "huge integer jsonl": ("jsonl", "1" * 5000 + "\n"),
    "deep nesting yaml": ("yaml", "[" * 50_000 + "]" * 50_000),
    "deep nesting json": ("json", "[" * 50_000 + "]" * 50_000),
    "deep nesting jsonl": ("jsonl", "[" * 50_000 + "]" * 50_000),
    "impossible date": ("yaml", "- {title: a, abstract: b, date: 2025-02-30}\n"),
    "impossible month": ("yaml", "- {title: a, abstract: b, date: 2025-13-01}\n"),
    "two documents": ("yaml", "- {title: a, abstract: b}\n---\n- {title: c, abstract: d}\n"),
    "python tag": ("yaml", "- !!python/object:os.system {}\n"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_DOCUMENTS))
def test_hostile_structure_raises_only_source_errors(scratch: Path, case: str) -> None:
    suffix, text = HOSTILE_DOCUMENTS[case]
    assert_only_source_errors(scratch, f".{suffix}", text.encode())


# --------------------------------------------------------------------------------- escaping


class _Elements(HTMLParser):
    """Every start tag with its attributes, and anything that is not a tag or text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.other: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.other.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.other.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.other.append(f"unknown declaration {data!r}")


def parse_html(source: str) -> _Elements:
    parser = _Elements()
    parser.feed(source)
    parser.close()
    return parser


def render(markdown_source: str) -> str:
    return markdown.markdown(markdown_source, extensions=MARKDOWN_EXTENSIONS)


# Where the templates put titles and abstracts (generator/templates/*.j2), with the markup the
# templates themselves add: that markup, and the escaping's math spans, is all that may appear.
CONTEXTS = {
    "abstract paragraph": "## Abstract\n\n{text}\n",
    "paper heading": "# {text} {{ .pd-title }}\n",
    "list item": '1. [{text}](x.md) **primary**<br>\n   <span class="pd-meta">2025-05-29 · <em>{text}</em></span>\n',
    "table cell": "| Digest | Papers |\n|---|---:|\n| [{text}](x.md) | {text} |\n",
    "in md_in_html": '<div class="pd-paper-meta" markdown>\nSeen in [{text}](x.md)\n</div>\n',
    "admonition": '!!! warning "Possible duplicates"\n\n    - [{text}](x.md) — {text}\n',
}
ALLOWED_TAGS = {
    "p",
    "br",
    "pre",
    "code",
    "span",
    "h1",
    "h2",
    "ol",
    "ul",
    "li",
    "a",
    "strong",
    "em",
    "div",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_CLASSES = {
    "math",
    "math math-display",
    "pd-meta",
    "pd-title",
    "pd-paper-meta",
    "admonition warning",
    "admonition-title",
}


def assert_no_live_markup(output: str, context: str) -> None:
    """Only the template's own tags and the escaping's math spans; no script-capable attribute."""
    parsed = parse_html(output)
    baseline = parse_html(render(CONTEXTS[context].format(text="plain")))
    assert not parsed.other, (parsed.other, output)
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, (tag, output)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, output)
            assert name in {"class", "href", "id", "style"}, (tag, name, output)
            if name == "class":
                assert value in ALLOWED_CLASSES, (tag, value, output)
            if name == "href":
                assert value == "x.md", (tag, value, output)
            if name == "style":  # tables' column alignment only
                assert tag in {"th", "td"} and value == "text-align: right;", (tag, value, output)
    links = sum(1 for tag, _ in parsed.tags if tag == "a")
    assert links <= sum(1 for tag, _ in baseline.tags if tag == "a"), output


@FUZZ
@given(text=hostile_text, context=st.sampled_from(sorted(CONTEXTS)))
@example(text="<img src=x onerror=alert(1)>", context="paper heading")
@example(text="$<img src=x onerror=alert(1)>$ and $$<svg onload=alert(1)>$$", context="abstract paragraph")
@example(text="x\n\n    <script>alert(1)</script>\n\n<div markdown>", context="in md_in_html")
def test_escaped_text_never_makes_live_markup(text: str, context: str) -> None:
    for value in (text, normalise_text(text)):
        source = CONTEXTS[context].format(text=escape_text(value))
        assert_no_live_markup(render(source), context)


def visible(value: str) -> str:
    """What a reader should see for normalised text: everything, math without its `$` delimiters,
    LaTeX's text escapes outside math (`\\%`, `\\&`, `\\_`, `\\#`, `\\$`) as their characters."""
    out = []
    for is_math, piece in split_math(value):
        out.append(piece.strip("$") if is_math else re.sub(r"\\([%&_#$])", r"\1", piece))
    return "".join(out)


@FUZZ
@given(text=hostile_text)
@example(text="{{ 7*7 }} <script>alert(1)</script> &amp;lt; &#60;script&#62; $5 or $10")
def test_escaped_text_shows_literally(text: str) -> None:
    value = normalise_text(text)
    parsed = parse_html(render(escape_text(value)))
    assert "".join(parsed.text).strip() == visible(value).strip()


@FUZZ
@given(text=hostile_text | st.text(alphabet="&#&#;<>$.-()x0123456789", max_size=60))
@example(text="&#38; # && ## &amp; a-b (c) x.y")
def test_plain_escaping_replaces_each_special_character_once(text: str) -> None:
    """Every special character becomes its own reference, once: never a reference's `&` or `#`."""
    expected = "".join(f"&#{ord(char)};" if char in escaping._SPECIAL else char for char in text)
    assert escaping._escape_plain(text) == expected


@FUZZ
@given(text=hostile_text)
def test_front_matter_value_reads_back_as_escaped_text(text: str) -> None:
    loaded = yaml.safe_load(f"title: {front_matter_value(text)}\n")
    assert loaded == {"title": html.escape(text, quote=True)}


@FUZZ
@given(text=hostile_text)
def test_escaped_attribute_stays_inside_its_element(text: str) -> None:
    value = normalise_text(text)
    parsed = parse_html(f'<code id="b-{escape_attribute(value)}" class="x">{escape_attribute(value)}</code>')
    assert parsed.tags == [("code", {"id": f"b-{value}", "class": "x"})]
    assert "".join(parsed.text) == value


# ---------------------------------------------------------------------------------- records

small_titles = st.one_of(
    st.sampled_from(["Same Title", "same title!", "SAME-title", "Другое название", "x"]), hostile_text
)


@st.composite
def listings(draw: st.DrawFn) -> list[Listing]:
    """Listings of random records: shared and clashing titles, ids and arXiv ids, odd names."""
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3, unique=True))
    result = []
    for name in names:
        records = []
        for position in range(1, draw(st.integers(1, 5)) + 1):
            records.append(
                RawRecord(
                    source=name, line=position, position=position, title=draw(small_titles),
                    abstract=draw(st.sampled_from(["", "Same abstract.", "Other abstract."]) | hostile_text),
                    id=draw(st.none() | st.sampled_from(["p-1", "P 1", "p_1", "<script>", "---"])),
                    arxiv_id=draw(st.none() | st.sampled_from(["2406.20015", "2406.20016", "hep-th/9901001"])),
                    date=draw(st.none() | st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31))),
                )
            )  # fmt: skip
        result.append(Listing(name, name, "yaml", tuple(records)))
    return result


@FUZZ
@given(found=listings())
def test_merging_random_records_gives_unique_url_safe_ids(found: list[Listing]) -> None:
    dates, _ = resolve_dates(found, {}, None)
    papers, problems = merge_records(found, dates)
    sources = build_sources(found, papers, {})
    ids = [paper.id for paper in papers]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", paper_id) for paper_id in ids), ids
    assert sum(len(paper.appearances) for paper in papers) == sum(len(listing.records) for listing in found)
    assert len({source.slug for source in sources}) == len(sources)
    assert all(isinstance(problem.message, str) for problem in problems)

"""LaTeX's text escapes outside math (`\\%`, `\\&`, `\\_`, `\\#`, `\\$`) shown as the characters
they stand for on pages, in page descriptions, in search data and in feeds; never turning text
into math, never touching math."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from generator.config import BuildOptions
from generator.models import Appearance, Corpus, Paper, Similarity, Topics
from generator.website.escaping import escape_text, split_math
from generator.website.feeds import latest_entries
from generator.website.latex_text import display_text
from generator.website.pages import PageBuilder
from generator.website.render import render_page
from generator.website.writers import search_docs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"Accuracy of 98.5\% on R\&D", "Accuracy of 98.5% on R&D"),
        (r"top\_k and \#1 for \$5 or \$10", "top_k and #1 for $5 or $10"),
        (r"$t-J$ model at 98.5\%", "$t-J$ model at 98.5%"),
        (r"$50\%$ of it, 50\% of that", r"$50\%$ of it, 50% of that"),  # math is left as it is
        (r"\$x\$ and 3\%", r"\$x\$ and 3%"),  # `$x$` would be math: the dollars stay escaped
        (r"a \$b$ c \_", r"a \$b$ c _"),
        (r"\alpha and \\ and \{", r"\alpha and \\ and \{"),  # other TeX: untouched
        ("no backslash at all", "no backslash at all"),
    ],
)
def test_display_text(text: str, expected: str) -> None:
    assert display_text(text) == expected


TEXT = st.text(alphabet=st.sampled_from(list("$\\%&_#{}ax 5^")), max_size=40)


@given(TEXT)
@example(r"\$x\$")
@example(r"a\$b$")
@example(r"$a\\%$ 5\%")
def test_display_text_never_makes_or_changes_math(text: str) -> None:
    shown = display_text(text)
    assert [p for m, p in split_math(shown) if m] == [p for m, p in split_math(text) if m]
    assert shown.count("$") == text.count("$")


def test_pages_show_the_characters_and_no_new_math() -> None:
    assert escape_text(r"98.5\% R\&D top\_k \#1") == "98&#46;5&#37; R&#38;D top&#95;k &#35;1"
    assert escape_text(r"\$x\$ costs \$5") == "&#36;x&#36; costs &#36;5"  # literal dollars, no math span
    assert escape_text(r"$50\%$ and 5\%") == '<span class="math">50&#92;&#37;</span> and 5&#37;'


def _paper() -> Paper:
    return Paper(
        id="p1",
        title=r"Scaling to 98.5\% with R\&D on $t\_J$",
        abstract=r"We reach 98.5\% accuracy on top\_k \#1 at \$5 per run. More follows.",
        appearances=(Appearance("2025-06-01.txt", dt.date(2025, 6, 1), 1, 1),),
    )


def test_search_data_feeds_and_page_meta_show_the_characters() -> None:
    paper = _paper()
    doc = search_docs([paper], Topics(topics=()))[0]
    assert doc.title == r"Scaling to 98.5% with R&D on $t\_J$"
    assert doc.abstract == "We reach 98.5% accuracy on top_k #1 at $5 per run. More follows."
    entry = latest_entries([paper], {}, "https://example.org/", None)[0]
    assert (entry.title, entry.abstract) == (doc.title, doc.abstract)
    corpus = Corpus(papers=(paper,), sources=(), similarity=Similarity(), topics=Topics(topics=()))
    spec = PageBuilder(corpus).paper_page(paper)
    assert spec.meta["title"] == doc.title
    assert spec.meta["description"] == "We reach 98.5% accuracy on top_k #1 at $5 per run."
    page, _ = render_page(spec, BuildOptions(sources=(), cache_dir=Path("unused")))
    body = page.decode("utf-8").split("\n---\n", 1)[1]
    assert "98&#46;5&#37;" in body and "&#92;&#37;" not in body.split('class="language-bibtex"')[0]
    assert '<span class="math">t&#92;&#95;J</span>' in body  # math kept as TeX for KaTeX

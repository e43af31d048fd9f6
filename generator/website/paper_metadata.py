"""What the site shows of a paper's metadata from the real formats (arXiv and Hugging Face):
its arXiv categories, upvotes, code, DOI, journal reference and comment on the paper's page,
and its authors and categories in search.

Bounded pages only: categories and authors get no pages of their own. In search an arXiv
category is one more entry of the topic filter (slug `arxiv:<category>`, which no topic slug
can be: topic slugs have no `:`), named `arXiv <category>`; the authors' names (and the
categories) are searchable words indexed with the topic names.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from generator.ingest.source_names import long_date
from generator.models import Paper

CATEGORY_SLUG_PREFIX = "arxiv:"
"""Prefix of a category's slug in the search filter."""


@dataclass(frozen=True, slots=True)
class PaperMetadata:
    """The metadata a paper page shows (every text untrusted: the template escapes it)."""

    categories: tuple[str, ...]
    """arXiv categories, primary first."""
    primary_category: str
    """The primary category, or ""."""
    upvotes: int | None
    """Hugging Face upvotes, when known."""
    journal_ref: str
    """Journal reference, or ""."""
    comment: str
    """The authors' arXiv comment, or ""."""
    published: str
    """Day of the first arXiv version (ISO), or ""."""


def page_metadata(paper: Paper) -> PaperMetadata:
    """The metadata shown on `paper`'s page."""
    return PaperMetadata(
        categories=paper.categories,
        primary_category=paper.primary_category or "",
        upvotes=paper.upvotes,
        journal_ref=paper.journal_ref or "",
        comment=paper.comment or "",
        published=long_date(paper.published) if paper.published else "",
    )


def quoted_url(url: str) -> str:
    """An untrusted http(s) URL made safe for an `href`: every character that could end the
    attribute or start markup percent-encoded, the URL's own delimiters kept."""
    return quote(url, safe=":/?&=#%+@,;~")


def metadata_links(paper: Paper) -> list[tuple[str, str]]:
    """(label, URL) of the code repository and the DOI, when known (URLs quoted for an attribute)."""
    links: list[tuple[str, str]] = []
    if paper.code_url:
        links.append(("Code", quoted_url(paper.code_url)))
    if paper.doi:
        links.append(("DOI", "https://doi.org/" + quote(paper.doi, safe="/:;()._-")))
    return links


def category_filters(paper: Paper) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(filter names, filter slugs, searchable words) a paper adds to its search doc: one filter
    entry per arXiv category, and the authors' names and categories as words."""
    names = tuple(f"arXiv {category}" for category in paper.categories)
    slugs = tuple(CATEGORY_SLUG_PREFIX + category for category in paper.categories)
    return names, slugs, " ".join(paper.authors)


def key_fields(paper: Paper) -> tuple[object, ...]:
    """Everything of this module a paper page shows (for its page key)."""
    return (
        paper.categories,
        paper.primary_category,
        paper.upvotes,
        paper.code_url,
        paper.doi,
        paper.journal_ref,
        paper.comment,
        paper.published,
    )

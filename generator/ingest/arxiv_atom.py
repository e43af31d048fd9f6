"""Reader of arXiv API answers: the Atom feed of `GET /api/query` (one file may hold the entries
of several pages of one query, as `paper-digest fetch arxiv` saves them).

Per `<entry>`: `id` (the abs URL with its version) gives the arXiv id, then `title`, `summary`,
`author/name`, `category/@term` (primary first), `arxiv:primary_category/@term`, `published`
and `updated` (days of the first and latest versions: metadata, not the appearance's date),
`arxiv:comment`, `arxiv:journal_ref` and `arxiv:doi`. An entry titled `Error` whose id is an
`api/errors` URL is arXiv reporting a bad request: a warning naming the file, never a paper.
The file's own date, if any, comes from its name (`dates.listing_date`).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

from generator.ingest import fields
from generator.ingest.xmlparse import ARXIV, ATOM, text_of
from generator.models import Listing

log = logging.getLogger(__name__)

LAYOUT = "arxiv-atom"


def is_atom(root: ET.Element) -> bool:
    """True for an Atom `<feed>` root."""
    return root.tag == f"{ATOM}feed"


def read_atom(root: ET.Element, maker: fields.RecordMaker) -> Listing:
    """The listing of an arXiv API Atom feed; bad entries are reported in `maker.problems`."""
    entries = root.findall(f"{ATOM}entry")
    for number, entry in enumerate(entries, start=1):
        _entry(entry, number, maker)
    if not entries:
        log.info("paper-digest: %s: an arXiv answer without entries (no papers)", maker.path)
    return Listing(maker.name, maker.path, LAYOUT, tuple(maker.records))


def _entry(entry: ET.Element, number: int, maker: fields.RecordMaker) -> None:
    """Read one `<entry>` into `maker` (or report why not)."""
    entry_id = text_of(entry.find(f"{ATOM}id")).strip()
    title = text_of(entry.find(f"{ATOM}title"))
    summary = text_of(entry.find(f"{ATOM}summary"))
    if "/api/errors" in entry_id or (fields.clean_text(title) == "Error" and not fields.arxiv_id(entry_id)):
        maker.problem(
            "warning", None, number, f"arXiv reported an error, not a paper: {fields.clean_text(summary)[:200]!r}"
        )
        return
    paper_id = fields.arxiv_id(entry_id)
    if paper_id is None:
        maker.problem("warning", None, number, f"entry id is not an arXiv abs URL; kept without an arXiv id: "
                                               f"{fields.clean_text(entry_id)[:80]!r}")  # fmt: skip
    primary_element = entry.find(f"{ARXIV}primary_category")
    primary = fields.category(primary_element.get("term")) if primary_element is not None else None
    terms = [element.get("term") for element in entry.findall(f"{ATOM}category")]
    names = [text_of(author.find(f"{ATOM}name")) for author in entry.findall(f"{ATOM}author")]
    maker.add(
        None,
        number,
        title,
        summary,
        arxiv_id=paper_id,
        authors=fields.clean_names(names),
        categories=fields.categories(terms, primary),
        primary_category=primary,
        doi=fields.short_text(text_of(entry.find(f"{ARXIV}doi"))),
        journal_ref=fields.short_text(text_of(entry.find(f"{ARXIV}journal_ref"))),
        comment=fields.short_text(text_of(entry.find(f"{ARXIV}comment"))),
        published=fields.iso_day(text_of(entry.find(f"{ATOM}published"))),
        updated=fields.iso_day(text_of(entry.find(f"{ATOM}updated"))),
    )

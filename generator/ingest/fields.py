"""Field cleaning shared by the readers of real API formats (arXiv Atom and RSS, Hugging Face,
the arXiv metadata snapshot): arXiv ids, text, names, dates, links and the record they make.

Every value here comes from a file someone else wrote: text is repaired only where that is
certain (`ftfy.fix_encoding`, which undoes double-encoded UTF-8 such as `RamÃ­rez` and leaves
text it is not sure about as it is), then normalised like every other source's text (hard line
breaks become spaces). Nothing is interpreted as markup: escaping is the templates' job.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import ftfy

from generator.errors import Problem
from generator.ingest.dates import day_of
from generator.ingest.source_text import limit_lengths
from generator.models import RawRecord
from generator.text import normalise_text

_NEW_ID = re.compile(r"(\d{4}\.\d{4,5})(?:v\d+)?")
_OLD_ID = re.compile(r"([a-z][a-z\-]*)(?:\.[a-z]{2})?/(\d{7})(?:v\d+)?", re.I)
_ID_PREFIX = re.compile(r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/|arxiv:|oai:arxiv\.org:)", re.I)
_CATEGORY = re.compile(r"[a-z][a-z\-]*\.[A-Za-z\-]{1,10}|[a-z]+(?:-[a-z]+)+")
"""An arXiv category: an archive and a subject class (`cs.CL`, `cond-mat.stat-mech`) or a hyphenated
archive alone (`hep-th`, `gr-qc`); every category arXiv uses is one of the two, and a plain word is not."""
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_HTTP_URL = re.compile(r"https?://[^\s\"'<>\\]+")

MAX_AUTHORS = 500
"""Authors kept per paper (collaborations list thousands; pages and search need no more)."""
MAX_FIELD_CHARS = 1000
"""Longer comments, journal references and DOIs are cut (arXiv's own are far shorter)."""


def arxiv_id(value: Any) -> str | None:
    """The unversioned arXiv id in `value`, lower case, or None.

    Accepts `2005.14124`, `2005.14124v2`, `arXiv:2005.14124`, abs and PDF URLs with or without
    a version, and old-style ids (`cs/0503050v1`, `astro-ph/0601001`, `math.GT/0309136`, whose
    subject class is dropped as arXiv itself does: `math/0309136`).
    """
    if not isinstance(value, str):
        return None
    text = _ID_PREFIX.sub("", value.strip())
    if text.lower().endswith(".pdf"):
        text = text[:-4]
    match = _NEW_ID.fullmatch(text)
    if match:
        return match.group(1)
    match = _OLD_ID.fullmatch(text)
    if match:
        return f"{match.group(1).lower()}/{match.group(2)}"
    return None


def clean_text(value: Any) -> str:
    """Text repaired where double-encoded (certain cases only), then normalised: NFKC, invisible
    characters removed, hard line breaks and runs of spaces made one space; "" for non-text."""
    if not isinstance(value, str):
        return ""
    if not value.isascii():
        # Before normalise_text, which would remove the C1 controls some mojibake is made of.
        value = ftfy.fix_encoding(value)
    return normalise_text(value)


def clean_names(names: Iterable[Any]) -> tuple[str, ...]:
    """Author names cleaned (see `clean_text`), empty ones and repeats dropped, at most `MAX_AUTHORS`."""
    cleaned = (clean_text(name) for name in names)
    return tuple(dict.fromkeys(name for name in cleaned if name))[:MAX_AUTHORS]


def split_author_string(value: Any) -> list[str]:
    """Names from one string as arXiv writes them: `A, B and C` (also `A, B, and C`)."""
    text = clean_text(value)
    if not text:
        return []
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+", text)
    return [part.strip() for part in parts if part.strip()]


def categories(values: Iterable[Any], primary: str | None = None) -> tuple[str, ...]:
    """arXiv categories that look like ones (`cs.CL`, `hep-th`), primary first, no repeats."""
    found = [primary] if primary else []
    found += [text for text in map(category, values) if text is not None]
    return tuple(dict.fromkeys(found))


def category(value: Any) -> str | None:
    """One arXiv category, or None when `value` does not look like one."""
    text = clean_text(value)
    return text if _CATEGORY.fullmatch(text) else None


def iso_day(value: Any) -> dt.date | None:
    """The day of an ISO 8601 date or timestamp (`2025-06-02T00:39:01.000Z`), or None."""
    if not isinstance(value, str):
        return None
    return day_of(_ISO_DAY.match(value.strip()))


def rfc2822_day(value: Any) -> dt.date | None:
    """The day of an RFC 2822 date (`Mon, 02 Jun 2025 00:00:00 -0400`) in its own time zone, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return email.utils.parsedate_to_datetime(value.strip()).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def http_url(value: Any) -> str | None:
    """`value` when it is one http(s) URL without spaces or quotes, else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if len(text) <= 2000 and _HTTP_URL.fullmatch(text) else None


def short_text(value: Any) -> str | None:
    """Cleaned text cut to `MAX_FIELD_CHARS`, or None when empty."""
    text = clean_text(value)
    return text[:MAX_FIELD_CHARS] or None


def upvotes(value: Any) -> int | None:
    """A non-negative integer count, or None (booleans and text are not counts)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    return None


@dataclass
class RecordMaker:
    """Makes the `RawRecord`s of one file, numbering them and reporting problems in its place."""

    name: str
    """The source's name."""
    path: str
    """The file's path, for messages."""
    problems: list[Problem] = field(default_factory=list)
    records: list[RawRecord] = field(default_factory=list)

    def problem(self, level: str, line: int | None, record: int | None, message: str) -> None:
        """Report a problem at a line (XML, JSON Lines) or record number (JSON)."""
        self.problems.append(Problem(level, self.path, line, message, record=record))  # type: ignore[arg-type]

    def add(self, line: int | None, number: int, title: Any, abstract: Any, **metadata: Any) -> RawRecord | None:
        """Validate and keep one record; a record without a title is reported and skipped.

        `line` is the record's line when the format has lines, `number` its 1-based number in
        the file; `metadata` are further `RawRecord` fields, already cleaned.
        """
        place = (line, None if line else number)
        title_text, abstract_text = clean_text(title), clean_text(abstract)
        if not title_text:
            self.problem("error", *place, "record without a title; skipped")
            return None
        warn: Callable[[str], None] = lambda message: self.problem("warning", *place, message)  # noqa: E731
        title_text, abstract_text = limit_lengths(title_text, abstract_text, warn)
        if not abstract_text:
            warn(f"empty abstract: {title_text[:80]!r}")
        record = RawRecord(
            source=self.name,
            line=line or number,
            position=len(self.records) + 1,
            title=title_text,
            abstract=abstract_text,
            normalised=True,
            **metadata,
        )
        self.records.append(record)
        return record

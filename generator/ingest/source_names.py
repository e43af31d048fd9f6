"""Display names of sources (digests) that have no configured title.

A digest is named by what it is and when, never by its file name: a dated source is
"<kind>, <Month D, YYYY>" ("Daily papers, June 1, 2025"), where the kind comes from the
layout the reader recognised; an undated one is "Listing <label>", the label being the
file's stem without a trailing hash-like token and with `_`/`-` as spaces
(`000_11d3534cccb3f465.txt` -> "Listing 000"). A configured `title` always wins.
Only the display name is made here: the digest's URL (its slug) still comes from the file
name, so it never moves when this naming changes.
"""

from __future__ import annotations

import datetime as dt
import re

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
"""English month names, January first."""

KINDS = {
    "listing-b": "Daily papers",
    "listing-a": "Trending papers",
    "hf-daily": "Hugging Face daily papers",
    "arxiv-rss": "arXiv announcements",
    "arxiv-atom": "arXiv search",
    "arxiv-snapshot": "arXiv snapshot",
}
"""What a dated source of each layout is called; any other layout (records) is `DEFAULT_KIND`."""

KEEP_KIND_UNDATED = frozenset({"hf-daily", "arxiv-rss", "arxiv-atom", "arxiv-snapshot"})
"""The layouts of fetched answers, named by their kind even when undated ("arXiv search
testing", where "Listing" would say nothing and "arXiv search arxiv testing" repeat itself)."""

DEFAULT_KIND = "Papers"
"""The kind of a dated record file (YAML, JSON, JSON Lines)."""

UNDATED_KIND = "Listing"
"""The first word of an undated source's name."""

# A token of the stem that is a hash or a random id rather than a word: 8+ hex digits with a digit.
_HASHLIKE = re.compile(r"(?=[a-f]*\d)[0-9a-f]{8,}", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s_\-.]+")


def long_date(day: dt.date) -> str:
    """`June 1, 2025`: the way pages write a date."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def stem_label(name: str) -> str:
    """The readable part of a source file's stem: `000_11d3534cccb3f465.txt` -> `000`,
    `reading_list.yaml` -> `reading list`; the whole stem when nothing else is left."""
    base = name.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    tokens = [token for token in _SEPARATORS.split(stem) if token]
    words = [token for token in tokens if not _HASHLIKE.fullmatch(token)]
    return " ".join(words or tokens) or stem or name


def source_title(name: str, day: dt.date | None, layout: str) -> str:
    """The display name of a source without a configured title (see the module docstring)."""
    if day is None:
        kind = KINDS[layout] if layout in KEEP_KIND_UNDATED else UNDATED_KIND
        return f"{kind} {stem_label(name)}"
    return f"{KINDS.get(layout, DEFAULT_KIND)}, {long_date(day)}"

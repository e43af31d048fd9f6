"""Reader of the arXiv metadata snapshot (the OAI-PMH based JSON Lines dump, one paper a line).

Per line: `id`, `title`, `abstract` (arXiv's leading spaces and line breaks become spacing),
`authors_parsed` (`[[last, first, suffix]]`, written `first last suffix`; else the `authors`
string split at commas and `and`), `categories` (space separated; the first is arXiv's primary
category), `doi`, `journal-ref`, `comments`, `versions` (`[{version, created}]`: the first and
last versions' days) and `update_date`. The file's own date, if any, comes from its name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from generator.ingest import fields
from generator.models import Listing

LAYOUT = "arxiv-snapshot"

SNAPSHOT_KEYS = frozenset({"authors_parsed", "versions", "update_date", "categories", "journal-ref", "submitter"})
"""Keys only a snapshot line has (a record file's `.jsonl` has `title`, `abstract`, `arxiv_id`...)."""


def looks_like_snapshot(first_line: bytes) -> bool:
    """True when the first line of a JSON Lines text is a snapshot record (an `id` and two of its keys)."""
    try:
        item = json.loads(first_line)
    except (ValueError, RecursionError):
        return False
    return isinstance(item, dict) and "id" in item and len(SNAPSHOT_KEYS & set(item)) >= 2


def read_snapshot(text: str, maker: fields.RecordMaker) -> Listing:
    """The listing of a snapshot file; a line that is not a JSON object is reported and skipped."""
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, parse_int=lambda digits: int(digits) if len(digits) <= 20 else digits)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            maker.problem("error", number, None, f"invalid JSON: {reason}; skipped")
            continue
        if not isinstance(item, dict):
            maker.problem("error", number, None, f"line is a {type(item).__name__}, not an object; skipped")
            continue
        _record(item, number, maker)
    return Listing(maker.name, maker.path, LAYOUT, tuple(maker.records))


def _record(item: dict[str, Any], number: int, maker: fields.RecordMaker) -> None:
    """Read one snapshot line into `maker`."""
    paper_id = fields.arxiv_id(item.get("id"))
    if paper_id is None:
        maker.problem("warning", number, None, f"id is not an arXiv id; kept without one: {str(item.get('id'))[:40]!r}")
    terms = item.get("categories")
    found = fields.categories(terms.split()) if isinstance(terms, str) else ()
    versions = item.get("versions")
    days = [fields.rfc2822_day(v.get("created")) for v in versions if isinstance(v, dict)] if isinstance(
        versions, list) else []  # fmt: skip
    known = [day for day in days if day is not None]
    maker.add(
        number,
        number,
        item.get("title"),
        item.get("abstract"),
        arxiv_id=paper_id,
        authors=fields.clean_names(_names(item)),
        categories=found,
        primary_category=found[0] if found else None,
        doi=fields.short_text(item.get("doi")),
        journal_ref=fields.short_text(item.get("journal-ref")),
        comment=fields.short_text(item.get("comments")),
        published=known[0] if known else None,
        updated=known[-1] if known else fields.iso_day(item.get("update_date")),
    )


def _names(item: dict[str, Any]) -> Iterable[str]:
    """Author names: from `authors_parsed` when it is well-formed, else from the `authors` string."""
    parsed = item.get("authors_parsed")
    if (
        isinstance(parsed, list)
        and parsed
        and all(isinstance(p, list) and p and all(isinstance(x, str) for x in p) for p in parsed)
    ):
        return [" ".join(part for part in (p[1] if len(p) > 1 else "", p[0], *p[2:3]) if part.strip()) for p in parsed]
    return fields.split_author_string(item.get("authors"))

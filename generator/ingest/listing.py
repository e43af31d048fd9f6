"""The reader of scraped listing dumps (`.txt`): a title line, then its abstract, paper after paper.

Two layouts are recognised (a daily-papers page saved as text, with its subscription banner and an
optional header date such as "May 28"; and a plain title/abstract list). Which line is a title and
which an abstract is decided by `looks_like_abstract`; a header date gives the listing's day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from generator.errors import Problem, SourceError
from generator.ingest.source_text import decode_text, limit_lengths, split_lines
from generator.models import Listing, RawRecord

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}


_HEADER_DATE = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:,?\s+(\d{4}))?$")


_HEADER_LINES = (
    re.compile(r"^new$", re.I),
    re.compile(r"^get trending papers in your email inbox\b.*$", re.I),
    re.compile(r"^subscribe$", re.I),
    re.compile(r"^by\s*ak and the research community$", re.I),
)


_SUBSCRIBE = re.compile(r"^subscribe(?=\S)", re.I)


# A sentence boundary: ". " or "! " then a capital; "?" is left out because titles ask questions.
_SENTENCE_END = re.compile(
    r"(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)(?<!\bal)(?<!\bFig)(?<!\bEq)(?<!\bet)[.!][\"')\]]?\s+[A-Z(\"']"
)


_ABSTRACT_OPENERS = re.compile(
    r"^(we|in this|this (paper|work|study|article)|here,? we|recent|despite|although|while|"
    r"large language models|the |a |an |our )\b",
    re.I,
)


_ARXIV_ID = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5}|[a-z][a-z.\-]*/\d{7})(?:v\d+)?$", re.I)


def parse_header_date(line: str) -> tuple[int, int] | None:
    """(month, day) from a header date line such as `May 29`, or None."""
    match = _HEADER_DATE.match(line.strip())
    if not match or match.group(3):
        return None
    month = MONTHS.get(match.group(1).lower())
    day = int(match.group(2))
    if month is None or not 1 <= day <= 31:
        return None
    return month, day


def looks_like_abstract(line: str) -> bool | None:
    """True for abstract-shaped text, False for title-shaped, None when the shape does not say."""
    if len(line) >= 300:  # checked first: most lines are long abstracts and the regex is costly
        return True
    sentences = len(_SENTENCE_END.findall(line))
    if sentences >= 2 or (sentences >= 1 and line.endswith(".")):
        return True
    if len(line) <= 250 and sentences == 0 and not line.endswith("."):
        # A short, cut-off abstract has a title's length but a sentence's opening.
        return None if len(line) >= 100 and _ABSTRACT_OPENERS.match(line) else False
    return None


class ListingReader:
    """Reader for scraped listing pages (`.txt`): layout A (search/trending) and B (daily)."""

    def read(self, path: Path, name: str) -> tuple[Listing, list[Problem]]:
        """Read a listing dump; see `pair_entries` for how titles and abstracts are told apart."""
        lines = split_lines(decode_text(path, path.read_bytes()))
        numbered = [(number, line) for number, line in enumerate(lines, start=1) if line]
        if not numbered:
            raise SourceError(str(path), None, "empty file")
        layout, header_date, body = self._split_header(path, numbered)
        problems: list[Problem] = []
        records = list(self._pair_entries(name, str(path), body, problems))
        if not records:
            raise SourceError(str(path), None, f"no papers found in this {layout} listing")
        return Listing(name, str(path), layout, tuple(records), header_date), problems

    def _split_header(
        self, path: Path, numbered: list[tuple[int, str]]
    ) -> tuple[str, tuple[int, int] | None, list[tuple[int, str]]]:
        """Recognise the layout by its header lines; return (layout, header date, body lines)."""
        index = 0
        seen: list[str] = []
        header_date: tuple[int, int] | None = None
        while index < len(numbered) and index < 8:
            line = numbered[index][1]
            if any(pattern.match(line) for pattern in _HEADER_LINES):
                seen.append(line.lower())
            elif seen and header_date is None and parse_header_date(line):
                header_date = parse_header_date(line)
            else:
                break
            index += 1
        body = numbered[index:]
        if body and _SUBSCRIBE.match(body[0][1]):
            # Layout A glues the first title to the "Subscribe" button's label.
            number, line = body[0]
            body = [(number, _SUBSCRIBE.sub("", line).strip()), *body[1:]]
            seen.append("subscribe")
        if not any(line.startswith("get trending papers") for line in seen):
            first = numbered[0]
            raise SourceError(
                str(path),
                first[0],
                f"unknown layout: expected a listing page header, found {first[1][:60]!r}",
            )
        layout = "listing-b" if (header_date or "new" in seen or any("byak" in s for s in seen)) else "listing-a"
        return layout, header_date, body

    def _pair_entries(
        self, name: str, path: str, body: Sequence[tuple[int, str]], problems: list[Problem]
    ) -> Iterator[RawRecord]:
        """Pair titles with abstracts by shape, expecting alternation when the shape is unclear."""
        position = 0
        pending: tuple[int, str] | None = None
        for number, line in body:
            shape = looks_like_abstract(line)
            is_abstract = (pending is not None) if shape is None else shape
            if pending is None and is_abstract and shape is None:
                is_abstract = False
            if is_abstract and pending is None:
                problems.append(Problem("error", path, number, "abstract without a title; skipped"))
                continue
            if is_abstract and pending is not None:
                position += 1
                yield self._record(name, path, pending, line, position, problems)
                pending = None
                continue
            if pending is not None:
                position += 1
                yield self._record(name, path, pending, "", position, problems)
            pending = (number, line)
        if pending is not None:
            position += 1
            yield self._record(name, path, pending, "", position, problems)

    @staticmethod
    def _record(
        name: str, path: str, title_line: tuple[int, str], abstract: str, position: int, problems: list[Problem]
    ) -> RawRecord:
        """The record of a title line and its abstract line ("" when none followed)."""
        number, line = title_line
        title, abstract = limit_lengths(
            line, abstract, lambda message: problems.append(Problem("warning", path, number, message))
        )
        if not abstract:
            problems.append(Problem("warning", path, number, f"title without an abstract: {title[:80]!r}"))
        return RawRecord(name, number, position, title, abstract, normalised=True)

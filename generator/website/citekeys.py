"""Citation keys: readable, ASCII, and the same in `papers.bib` and on every paper's page.

A paper's key is built from what a person cites it by:

- **base**: the first author's surname (when authors are known), the year of the paper's first
  date, then the first significant word of its title: `smith2025scaling`; without authors the
  title word, then the year: `scaling2025`; undated papers have no year (`scaling`). Words are
  transliterated to ASCII (`Müller` -> `muller`, `Παπαδόπουλος` -> `papadopoulos`), lower
  case, letters and digits only; TeX commands (`$\\alpha$`), stop words, single letters and
  numbers are not significant title words, and one starting with a letter is preferred
  (`52B to 1T: Lessons` gives `lessons`). A title without a significant word gives `paper`.
- **disambiguator**, only when two papers of the digest have one base: the paper seen first
  (oldest first date; undated after dated; ties by id) keeps the plain base, every other gets
  `-` and 4 hex digits of a hash of its own id (`scaling2025-3f9a`; more digits in the rare
  case that two of them share those 4). A suffix depends on the paper's id, never on how many
  papers share the base or in what order they came, so a published key does not change when
  papers are added later: a new day's papers are newer than those already published.

Known exceptions (they would need a record of the keys already published): a key changes when
the paper's first date, first author or title changes (a new record adds authors, a listing of
an earlier day is added), and a paper first seen on the same day as (or, when undated, with a
smaller id than) an already published paper of the same base takes that plain key over.
Keys match `[A-Za-z0-9][A-Za-z0-9.-]*` (bibtex.py's rule): bases are `[a-z0-9]+`, so a plain
base never equals a disambiguated key.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable

from text_unidecode import unidecode

from generator.models import Paper
from generator.text import content_hash

SUFFIX_DIGITS = 4
"""Hex digits of the id's hash in a disambiguated key (more only when two would clash)."""

MAX_PART = 20
"""The most characters of the surname and of the title word in a key."""


def _word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text` (keeps long word lists readable)."""
    return frozenset(text.split())


_STOPWORDS = _word_set(
    """
    a an the on of in for to and or with from by at as is are be via into onto about over under
    towards toward beyond between using through what why how when where do does can we our
    """
)
_TEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[a-z0-9]+")
_NOT_IN_LABEL = re.compile(r"[^A-Za-z0-9.'-]+")
_LETTERS = re.compile(r"[^a-z]+")
_NAME_SUFFIX = _word_set("jr jr. sr sr. ii iii iv v vi")


@functools.lru_cache(maxsize=1 << 14)
def ascii_lower(text: str) -> str:
    """`text` transliterated to ASCII and lower-cased (`Łódź` -> `lodz`, `张伟` -> `zhang wei `)."""
    return (text if text.isascii() else unidecode(text)).lower()


def title_word(title: str) -> str:
    """The first significant word of `title` in ASCII lower case (see the module docstring)."""
    words = [word for word in _WORD.findall(ascii_lower(_TEX_COMMAND.sub(" ", title))) if len(word) > 1]
    significant = [word for word in words if not word.isdigit() and word not in _STOPWORDS]
    # A word that starts with a letter first: "52B to 1T: Lessons ..." is `lessons`, not `52b`.
    word = next((word for word in significant if word[0].isalpha()), significant[0] if significant else "paper")
    return word[:MAX_PART]


def sort_label(title: str) -> str:
    """A short title for BibTeX's `key` field of an entry without authors: up to four words
    of the title in ASCII letters, digits, `.`, `'` and `-`, leading stop words skipped
    (`Scaling Laws for Neural`, `1.5 Million Materials`), or `Anonymous`. Styles sort such an
    entry by it and `alpha` cuts its label from it."""
    tokens = (_NOT_IN_LABEL.sub("", token).strip(".'-") for token in unidecode(_TEX_COMMAND.sub(" ", title)).split())
    words = [token for token in tokens if token]
    while words and words[0].lower() in _STOPWORDS:
        words.pop(0)
    return " ".join(word[:MAX_PART] for word in words[:4]) or "Anonymous"


def surname(authors: Iterable[str]) -> str:
    """The first author's surname in ASCII lower-case letters, or "" when none can be told.

    The last word before any comma that is not a suffix (`Jr.`, `III`): `Smith, John` ->
    `smith`, `Jan van der Berg` and `van der Berg, Jan` -> `berg`, `John Smith, Jr.` -> `smith`.
    """
    for name in authors:
        name = name.strip()
        if not name:
            continue
        parts = name.partition(",")[0].split()  # `Smith, John`, `John Smith, Jr.`: what is before a comma
        while len(parts) > 1 and parts[-1].lower() in _NAME_SUFFIX:
            parts.pop()
        word = _LETTERS.sub("", ascii_lower(parts[-1] if parts else ""))
        return word[:MAX_PART]
    return ""


def key_base(paper: Paper) -> str:
    """The key `paper` gets unless another paper of the digest has the same (module docstring)."""
    year = str(paper.first_date.year) if paper.first_date else ""
    word = title_word(paper.title)
    name = surname(paper.authors)
    return f"{name}{year}{word}" if name else f"{word}{year}"


def _seniority(paper: Paper) -> tuple[dt.date, str]:
    """Who keeps a shared base: the paper seen first, then the smaller id."""
    return (paper.first_date or dt.date.max, paper.id)


def citation_keys(papers: Iterable[Paper], base_for: Callable[[Paper], str] = key_base) -> dict[str, str]:
    """Every paper's citation key by paper id: unique, and independent of the papers' order."""
    groups: dict[str, list[Paper]] = defaultdict(list)
    for paper in papers:
        groups[base_for(paper)].append(paper)
    keys: dict[str, str] = {}
    for base, members in groups.items():
        if len(members) == 1:
            keys[members[0].id] = base
            continue
        members.sort(key=_seniority)
        keys[members[0].id] = base
        keys.update(_suffixed(base, [paper.id for paper in members[1:]]))
    return keys


def _suffixed(base: str, paper_ids: list[str]) -> dict[str, str]:
    """`base-<hash of the id>` for each id: 4 hex digits, more for ids whose 4 digits clash."""
    keys: dict[str, str] = {}
    pending, digits = sorted(paper_ids), SUFFIX_DIGITS
    while pending:
        by_key: dict[str, list[str]] = defaultdict(list)
        for paper_id in pending:
            by_key[f"{base}-{content_hash(paper_id, length=digits)}"].append(paper_id)
        pending = []
        for key, ids in by_key.items():
            if len(ids) == 1 or digits >= 40:  # 40: the whole SHA-1; distinct ids never get here
                keys.update((paper_id, f"{key}{n or ''}") for n, paper_id in enumerate(ids))
            else:
                pending += ids
        digits *= 2
    return keys

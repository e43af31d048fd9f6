"""Typed, frozen data models that flow through the pipeline (readers -> ... -> writers)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """What the arXiv and Hugging Face formats tell about a paper besides its text, as a reader
    found it (`RawRecord`) or merged from every appearance (`Paper`, rules in `ingest/merge.py`).

    Keyword-only, so that both records keep their positional fields first; declared once here
    for both.
    """

    categories: tuple[str, ...] = ()
    """arXiv categories (`cs.CL`), primary first when known; empty when the format has none."""
    primary_category: str | None = None
    """arXiv primary category, when known."""
    upvotes: int | None = None
    """Hugging Face Daily Papers upvotes (a paper: the most any appearance gave), when known."""
    code_url: str | None = None
    """A code repository (http(s)) given by the source (Hugging Face `githubRepo`)."""
    doi: str | None = None
    """DOI of the published version, when given."""
    journal_ref: str | None = None
    """Journal reference, when given (untrusted text)."""
    comment: str | None = None
    """The authors' arXiv comment (pages, conference), when given (untrusted text)."""
    published: dt.date | None = None
    """Day of the paper's first arXiv version, when given (metadata, not an appearance's date)."""


@dataclass(frozen=True)
class RawRecord(Metadata):
    """One paper entry as a reader found it, before normalisation and merging."""

    source: str
    """Name of the source file, relative to its sources folder (for example `2025-05-29.txt`)."""
    line: int
    """1-based line where the entry starts (for record files: the line or record number)."""
    position: int
    """1-based order of the entry within its source."""
    title: str
    """Title as written in the source (untrusted text)."""
    abstract: str
    """Abstract as written in the source (untrusted text); empty when the source had none."""
    id: str | None = None
    """An explicit identifier given by a record file."""
    arxiv_id: str | None = None
    """arXiv identifier such as `2406.20015`, when known."""
    url: str | None = None
    """An external URL for the paper, when given."""
    authors: tuple[str, ...] = ()
    """Author names, when given."""
    date: dt.date | None = None
    """The record's own date, when given (highest priority when dating an appearance)."""
    normalised: bool = False
    """True when `title` and `abstract` already went through `normalise_text` (listing lines do)."""
    updated: dt.date | None = None
    """Day of the paper's latest arXiv version, when given."""
    announce_type: str | None = None
    """arXiv RSS announce type: `new`, `cross`, `replace` or `replace-cross`."""


@dataclass(frozen=True)
class Listing:
    """Everything read from one source file."""

    source: str
    """Name of the source file, relative to its sources folder."""
    path: str
    """Path of the file as a person would find it (used in messages)."""
    layout: str
    """`listing-a`, `listing-b`, `yaml`, `json` or `jsonl`."""
    records: tuple[RawRecord, ...]
    """The entries, in the source's own order."""
    header_date: tuple[int, int] | None = None
    """(month, day) from a daily page header such as `May 29`; the year comes from elsewhere."""


@dataclass(frozen=True)
class Appearance:
    """One place where a paper was seen: a source, its date and the entry's position there."""

    source: str
    """Name of the source file."""
    date: dt.date | None
    """Resolved date of this appearance, or None when the source is undated."""
    position: int
    """1-based position of the entry in the source."""
    line: int
    """1-based line of the entry in the source (for messages)."""


@dataclass(frozen=True)
class Paper(Metadata):
    """One distinct paper after exact duplicates were merged."""

    id: str
    """Stable identifier; also the last segment of its page path `papers/<id>/`."""
    title: str
    """Normalised title (untrusted text: escape before display)."""
    abstract: str
    """Normalised abstract, possibly empty (untrusted text: escape before display)."""
    appearances: tuple[Appearance, ...]
    """Every appearance, sorted by (date or max, source, position)."""
    arxiv_id: str | None = None
    """arXiv identifier, when known."""
    url: str | None = None
    """External URL given by a record file, when known."""
    authors: tuple[str, ...] = ()
    """Author names, when given."""

    @property
    def path(self) -> str:
        """Page path relative to the site root, with a trailing slash."""
        return f"papers/{self.id}/"

    @functools.cached_property
    def dates(self) -> tuple[dt.date, ...]:
        """Distinct dates of the paper's appearances, oldest first (computed once: pages read it often)."""
        return tuple(sorted({a.date for a in self.appearances if a.date is not None}))

    @property
    def sources(self) -> tuple[str, ...]:
        """Distinct sources the paper appeared in, in appearance order."""
        return tuple(dict.fromkeys(a.source for a in self.appearances))

    @property
    def first_date(self) -> dt.date | None:
        """The earliest date the paper was seen, or None when undated."""
        dates = self.dates
        return dates[0] if dates else None

    @property
    def last_date(self) -> dt.date | None:
        """The newest date the paper was seen, or None when undated."""
        dates = self.dates
        return dates[-1] if dates else None


@dataclass(frozen=True)
class Source:
    """A source file as a digest: its name, display title, date and entries."""

    name: str
    """File name relative to the sources folder; unique."""
    slug: str
    """URL segment of its digest page `digests/<slug>/`."""
    title: str
    """Display title (configured, or derived from the file name and date)."""
    date: dt.date | None
    """The source's date, when all its entries share one (the usual case)."""
    layout: str
    """Layout or format the reader recognised."""
    paper_ids: tuple[str, ...]
    """Ids of its papers in the source's own order (a paper listed twice appears once)."""


@dataclass(frozen=True)
class NearDuplicate:
    """A link from a paper to another entry that is very likely the same work."""

    id: str
    """The other paper's id."""
    score: float
    """Similarity in [0, 1], rounded to 3 decimals."""
    kind: str
    """What differs: `title`, `abstract`, `truncated` or `markup`."""


@dataclass(frozen=True)
class SimilarPaper:
    """A link from a paper to one of its most similar other papers."""

    id: str
    """The other paper's id."""
    score: float
    """Cosine similarity in [0, 1], rounded to 3 decimals."""


@dataclass(frozen=True)
class Similarity:
    """Output of the similarity stage, keyed by paper id (every paper has an entry)."""

    near_duplicates: dict[str, tuple[NearDuplicate, ...]] = field(default_factory=dict)
    """Symmetric: if a lists b, b lists a. Sorted by score descending, then id."""
    similar: dict[str, tuple[SimilarPaper, ...]] = field(default_factory=dict)
    """Up to five most similar papers, near-duplicates excluded. Sorted by score descending, then id."""


@dataclass(frozen=True)
class Topic:
    """One topic of the taxonomy (configured or discovered)."""

    slug: str
    """URL segment of `topics/<slug>/`."""
    name: str
    """Display name."""
    description: str
    """One line for a person."""


@dataclass(frozen=True)
class TopicAssignment:
    """Why a paper is in a topic."""

    slug: str
    """The topic's slug."""
    score: float
    """Strength of the evidence (higher is stronger); used for ranking only."""
    reason: str
    """One line for a person: the matched phrases, or `similar to ...`."""


@dataclass(frozen=True)
class Topics:
    """Output of the topics stage."""

    topics: tuple[Topic, ...]
    """All topics in display order (taxonomy order; `other` last when used)."""
    assignments: dict[str, tuple[TopicAssignment, ...]] = field(default_factory=dict)
    """Per paper id: 1-3 assignments, ranked; the first is the primary topic."""


@dataclass(frozen=True)
class Corpus:
    """Everything the page stage needs: the merged papers and what the stages found about them."""

    papers: tuple[Paper, ...]
    """Papers sorted by (newest date first, undated last, then id)."""
    sources: tuple[Source, ...]
    """Sources sorted by (newest date first, undated last, then name)."""
    similarity: Similarity
    """Near-duplicates and similar papers."""
    topics: Topics
    """Topics and assignments."""

"""Records: normalise raw records and merge exact duplicates into papers with stable ids."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from generator.errors import Problem
from generator.ingest.dates import SourceSettings
from generator.ingest.merge import by_richness, id_entries, merged_metadata, title_links
from generator.ingest.source_names import source_title
from generator.models import Appearance, Listing, Paper, RawRecord, Source
from generator.text import (
    RESERVED_SEGMENTS,
    abstract_key,
    content_hash,
    make_slug,
    normalise_text,
    title_key,
    unique_segment,
)

log = logging.getLogger(__name__)

_NO_DATE = dt.date.max
_PUNCTUATION = re.compile(r"[^\w\s]|_", re.UNICODE)


@dataclass(frozen=True)
class _Entry:
    """A normalised record with its place and date."""

    record: RawRecord
    path: str
    listing: str
    date: dt.date | None
    title: str
    abstract: str
    title_key: str
    abstract_key: str
    layout: str = ""
    """The format of the entry's listing (`ingest/merge.py` ranks formats by it)."""

    @property
    def order(self) -> tuple[dt.date, str, int]:
        return (self.date or _NO_DATE, self.record.source, self.record.position)


class _UnionFind:
    """Disjoint sets over entry indexes (path halving)."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def merge_records(
    listings: list[Listing], dates: Mapping[tuple[str, int], dt.date | None]
) -> tuple[list[Paper], list[Problem]]:
    """Merge records that are the same paper; return papers sorted newest first, then by id.

    Two records are the same paper when their titles are equal ignoring case, punctuation and
    spacing and their abstracts equal ignoring spacing, or when they share an arXiv id or id.
    """
    entries: list[_Entry] = []
    for listing in listings:
        for record in listing.records:
            if record.normalised:  # listing readers normalise every line already
                title, abstract = record.title, record.abstract
            else:
                title, abstract = normalise_text(record.title), normalise_text(record.abstract)
            entries.append(
                _Entry(
                    record,
                    listing.path,
                    listing.source,
                    dates.get((listing.source, record.position)),
                    title,
                    abstract,
                    title_key(title, normalised=True),
                    abstract_key(abstract, normalised=True),
                    listing.layout,
                )
            )
    # Input order must not matter: sort before grouping so every choice below is stable.
    entries.sort(key=lambda e: (e.order, e.listing, e.title_key))
    problems: list[Problem] = []
    sets = _UnionFind(len(entries))
    first_by_key: dict[tuple[str, ...], int] = {}
    for index, entry in enumerate(entries):
        keys: list[tuple[str, ...]] = [("text", entry.title_key, entry.abstract_key)]
        keys += [("id", value.lower()) for value in (entry.record.arxiv_id, entry.record.id) if value]
        for key in keys:
            first = first_by_key.setdefault(key, index)
            if first == index:
                continue
            other = entries[first]
            # Two versions of one arXiv paper may carry different titles (a paper retitled in v2
            # is announced again as a replacement): that is the same paper, not a clash of ids.
            if (
                key[0] == "id"
                and other.title_key != entry.title_key
                and not all((e.record.arxiv_id or "").lower() == key[1] for e in (entry, other))
            ):
                problems.append(
                    Problem(
                        "warning",
                        entry.path,
                        entry.record.line,
                        f"id {key[1]!r} is also used at {other.path}:{other.record.line} for a different "
                        f"title ({other.title[:60]!r}); merged as one paper",
                    )
                )
            sets.union(first, index)
    # A paper without an arXiv id joins the one arXiv paper of the same title (ingest/merge.py).
    links, ambiguous = title_links([(e.record.arxiv_id, e.title_key) for e in entries])
    for first, index in links:
        sets.union(first, index)
    for index, ids in ambiguous:
        entry = entries[index]
        problems.append(
            Problem(
                "warning", entry.path, entry.record.line,
                f"the title {entry.title[:60]!r} is also that of arXiv papers {', '.join(ids)}; not merged with them",
            )
        )  # fmt: skip
    groups: dict[int, list[_Entry]] = defaultdict(list)
    for index, entry in enumerate(entries):
        groups[sets.find(index)].append(entry)
    papers = [_paper(group) for group in groups.values()]
    papers = _unique_ids(papers, problems)
    papers.sort(key=paper_order)
    return papers, problems


def paper_order(paper: Paper) -> tuple[int, int, str]:
    """Sort key: newest date first, undated last, then id."""
    last = paper.last_date
    return (0 if last else 1, -(last.toordinal() if last else 0), paper.id)


def _paper(group: list[_Entry]) -> Paper:
    """Build one paper from its merged entries (already in appearance order); see ingest/merge.py
    for which entries decide the id and which give the metadata."""
    arxiv_ids = sorted({e.record.arxiv_id for e in group if e.record.arxiv_id})
    deciding = id_entries(group)  # a text dump's id stays when the paper also arrives with an arXiv id
    first = deciding[0]
    given_ids = sorted({e.record.id for e in deciding if e.record.id})
    if arxiv_ids and deciding is group:
        paper_id = make_slug(arxiv_ids[0], max_length=40)
    elif given_ids and make_slug(given_ids[0], max_length=60):
        paper_id = make_slug(given_ids[0], max_length=60)
    else:
        # Punctuation is dropped before slugging ("GPT-4o" and "GPT4o" give one stem), so the
        # stem does not depend on which variant of a merged title happened to be seen first.
        stem = make_slug(_PUNCTUATION.sub("", first.title), max_length=60) or "paper"
        paper_id = f"{stem}-{content_hash(first.title_key, first.abstract_key)}"
    appearances = tuple(Appearance(e.record.source, e.date, e.record.position, e.record.line) for e in group)
    richest = by_richness(group, [e.layout for e in group])
    return Paper(
        id=paper_id,
        title=richest[0].title,
        abstract=next((e.abstract for e in richest if e.abstract), ""),
        appearances=appearances,
        arxiv_id=arxiv_ids[0] if arxiv_ids else None,
        url=next((e.record.url for e in group if e.record.url), None),
        authors=next((e.record.authors for e in richest if e.record.authors), ()),
        **merged_metadata([e.record for e in richest]),
    )


def _unique_ids(papers: list[Paper], problems: list[Problem]) -> list[Paper]:
    """Make ids unique deterministically, and keep them off reserved URL segments.

    A clash needs two ids that slugify alike (`a/b` and `a-b`): each paper of it gets a suffix
    from its own text, chosen so that it takes no id another paper has.
    """
    by_id: dict[str, list[Paper]] = defaultdict(list)
    for paper in papers:
        by_id[paper.id].append(paper)
    taken = set(by_id)
    result: list[Paper] = []
    for paper_id, clash in by_id.items():
        if len(clash) == 1 and paper_id not in RESERVED_SEGMENTS:
            result.append(clash[0])
            continue
        clash.sort(key=lambda p: (title_key(p.title), abstract_key(p.abstract)))
        for paper in clash:
            new_id = unique_segment(paper_id, taken, title_key(paper.title), abstract_key(paper.abstract))
            taken.add(new_id)
            why = "is shared" if len(clash) > 1 else "is reserved (a hub page or a Windows device name)"
            problems.append(
                Problem(
                    "warning",
                    paper.appearances[0].source,
                    paper.appearances[0].line,
                    f"id {paper_id!r} {why}; {paper.title[:60]!r} gets {new_id!r}",
                )
            )
            result.append(dataclasses.replace(paper, id=new_id))
    return result


def build_sources(
    listings: list[Listing],
    papers: list[Paper],
    settings: Mapping[str, SourceSettings],
    problems: list[Problem] | None = None,
) -> list[Source]:
    """One digest per appearance source, its papers in the source's own order.

    A source whose slug another source has, or a reserved one (`index.txt` would replace the
    list of all digests), gets a distinct slug and a warning in `problems`.
    """
    layout = {listing.source: listing.layout for listing in listings}
    paths = {listing.source: listing.path for listing in listings}
    entries: dict[str, list[tuple[int, str, dt.date | None]]] = defaultdict(list)
    for paper in papers:
        for appearance in paper.appearances:
            entries[appearance.source].append((appearance.position, paper.id, appearance.date))
    sources: list[Source] = []
    wanted = {name: make_slug(name.rsplit(".", 1)[0] if "." in name else name, max_length=60) or "source"
              for name in entries}  # fmt: skip
    taken = set(wanted.values())  # a later source's own slug is never given away as a suffixed one
    used_slugs: set[str] = set()
    for name in sorted(entries):
        items = sorted(entries[name])
        day_set = {day for _, _, day in items}
        day = day_set.pop() if len(day_set) == 1 else None
        slug = wanted[name]
        if slug in used_slugs or slug in RESERVED_SEGMENTS:
            slug = unique_segment(slug, taken | used_slugs, name)
            if problems is not None:
                problems.append(
                    Problem(
                        "warning", paths.get(name, name), None,
                        f"the digest page digests/{wanted[name]}/ is taken (by another source or a hub page); "
                        f"this source's page is digests/{slug}/",
                    )
                )  # fmt: skip
        used_slugs.add(slug)
        configured = settings.get(name, SourceSettings()).title
        sources.append(
            Source(
                name=name,
                slug=slug,
                title=configured or source_title(name, day, layout.get(name, "records")),
                date=day,
                layout=layout.get(name, "records"),
                paper_ids=tuple(dict.fromkeys(paper_id for _, paper_id, _ in items)),
            )
        )
    sources.sort(key=lambda s: (0 if s.date else 1, -(s.date.toordinal() if s.date else 0), s.name))
    return sources

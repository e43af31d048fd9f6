"""Pages, the shared part: page specs and paths, links between pages, and the corpus lookups every page uses.

`PageModel` holds the lookups (papers by id, topics, days, topic members and chunks, listing
entries) that the page makers of `generator.website.pages.PageBuilder` share.

Every page is a `PageSpec`: the Markdown path it becomes (its place among MkDocs' pages),
its template, a context of plain values and its front matter. Untrusted text stays plain
`str` here; the writers' template environment escapes every non-`Markup` value. Pages link
to each other by docs-root paths (`papers/<id>.md`); the writer turns them into the relative
URLs MkDocs gives those pages (`page_url`, `relative_url`), because generated pages are
HTML that MkDocs does not run through Markdown (see writers.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any

from markupsafe import Markup

from generator.corpus_order import first_seen_order
from generator.errors import DigestError
from generator.models import Corpus, Paper, Source
from generator.text import RESERVED_SEGMENTS
from generator.website.citekeys import citation_keys
from generator.website.views import ItemInput, ListItem, TopicLink, TopicRef

MONTH_NAMES = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


@dataclass(frozen=True)
class PageGroup:
    """A share of the pages: `kind` and a [start, stop) range of its papers, topics, days or sources."""

    kind: str
    start: int = 0
    stop: int = 0


@dataclass(frozen=True)
class LazyPage:
    """A page not made yet: its path, its maker and the inputs the maker makes it from.

    `make` is a module-level function that reads nothing but `inputs` (no closure, no `self`), so
    the page is a function of `(make, inputs)` and the code: its key (`InputDigests.key`) digests
    the maker's name, the path and the inputs, and a reusable page is carried over from the
    previous build when the page cache (in the pages folder of this code and these options,
    `page_cache.page_cache_dir`) holds the same key. Its spec is made only when it is rendered.
    There is no second, hand-written list of what a page shows.
    """

    path: str
    make: Callable[..., PageSpec]
    inputs: tuple[Any, ...] = ()
    reusable: bool = True
    """False for the few hub pages that sum up the whole corpus: always rendered (their maker may be a method)."""

    def spec(self) -> PageSpec:
        """The page's spec, made from its inputs."""
        return self.make(*self.inputs)


def content_key(value: Any) -> str:
    """A digest of a value's repr (dataclasses, tuples, dicts, dates and strings repr deterministically)."""
    return hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class InputDigests:
    """Page keys: digests of a page's maker, path and inputs, each paper and source digested once a build
    (BibTeX entries are reused by the same digests, `writers.bib_file`).

    A paper is among the inputs of its own page and of every listing and page that shows it;
    its digest (of its `repr`, which has every field) is made once and reused. Tuples and lists
    are walked for the papers and sources in them; a named tuple is its type's name and its
    items' `repr`; any other value is digested by its `repr`.
    """

    SHARED = (Paper, Source)
    """The types digested once a build (by identity: the corpus keeps them alive)."""

    def __init__(self) -> None:
        self._digests: dict[int, tuple[object, str]] = {}

    def key(self, page: LazyPage) -> str:
        """The page's key: what it is made by and from."""
        return self.digest(page.make, page.path, page.inputs)

    def digest(self, make: Callable[..., Any], name: str, inputs: tuple[Any, ...]) -> str:
        """A digest of what `make(*inputs)` gives under `name` (a page's path, a BibTeX entry's paper id).

        `make` must be a module-level function (no closure, not a method or a partial): then it
        reads nothing but its inputs and the code, whose changes the cache's folder keys.
        """
        if not isinstance(make, FunctionType) or make.__closure__ or "<locals>" in make.__qualname__:
            raise TypeError(f"{name}: a reusable output's maker must be a module-level function, not {make!r}")
        parts = [make.__module__, make.__qualname__, repr(name)]
        self._walk(inputs, parts)
        return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def _walk(self, values: tuple[Any, ...] | list[Any], parts: list[str]) -> None:
        """Append the parts of a tuple's or list's items: bracketed for a nested one, a digest for a shared one."""
        for value in values:
            kind = type(value)
            if kind is tuple or kind is list:
                parts.append("(" if kind is tuple else "[")
                self._walk(value, parts)
                parts.append(")")
            elif kind in self.SHARED:
                known = self._digests.get(id(value))
                if known is None:
                    known = self._digests[id(value)] = (value, content_key(value))
                parts.append(known[1])
            elif isinstance(value, tuple):  # a named tuple: its type and items (tuple's repr is C code)
                parts.append(kind.__qualname__)
                parts.append(tuple.__repr__(value))
            else:
                parts.append(repr(value))


@dataclass(frozen=True)
class PageSpec:
    """One generated page: what its template receives and its front matter (it is written as front
    matter + HTML, which MkDocs takes as the page's content without running Markdown)."""

    path: str
    """Page path in MkDocs' terms (a `.md` path relative to the docs root), e.g. `papers/2406-20015.md`."""
    template: str
    """Template file name."""
    context: dict[str, Any] = field(default_factory=dict)
    """Values for the template (the page's `link` function is added by the writer)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Front matter as plain text: `title`, `description`, `hide`, `og_type`, `feed` (escaped by the writer)."""


def paper_md(paper_id: str) -> str:
    """Markdown path of a paper page (URL `papers/<id>/`)."""
    return f"papers/{paper_id}.md"


def topic_md(slug: str, chunk: int | None = None) -> str:
    """Path of a topic's newest papers (`topics/<slug>/`), or of one of its archive pages (`topics/<slug>/<chunk>/`)."""
    return f"topics/{slug}.md" if chunk is None else f"topics/{slug}/{chunk}.md"


def day_md(day: dt.date | None) -> str:
    """Markdown path of a day's page, or of the undated page."""
    # Not strftime: its %Y does not pad years before 1000 on every platform.
    return "dates/undated.md" if day is None else f"dates/{day.year:04d}/{day.month:02d}/{day.day:02d}.md"


def digest_md(slug: str) -> str:
    """Markdown path of a source's digest page."""
    return f"digests/{slug}.md"


HUB_PAGES = ("index.md", "topics/index.md", "dates/index.md", "digests/index.md", "week.md")
"""The pages that sum up the whole digest; no paper, topic or source may take their paths."""


def check_page_owners(corpus: Corpus) -> None:
    """Raise `DigestError` if two pages of the corpus would have one path, or a page a reserved name.

    Records, discovered topics and sources already choose distinct, unreserved segments (with a
    warning where one had to move) and a taxonomy may not use a reserved slug: this is the check
    that nothing slipped through, made before anything is written. Paths are compared ignoring
    case, as on the file systems of Windows and macOS.
    """
    owners: dict[str, str] = {}

    def claim(path: str, segment: str | None, owner: str) -> None:
        if segment is not None and (segment in RESERVED_SEGMENTS or not segment):
            raise DigestError(f"{owner} would have the reserved path {path}")
        other = owners.setdefault(path.casefold(), owner)
        if other != owner:
            raise DigestError(f"{owner} and {other} would both have the path {path}")

    for hub in HUB_PAGES:
        claim(hub, None, f"the hub page {hub}")
    for paper in corpus.papers:
        claim(paper_md(paper.id), paper.id, f"paper {paper.id!r}")
    for topic in corpus.topics.topics:
        claim(topic_md(topic.slug), topic.slug, f"topic {topic.slug!r}")
    for source in corpus.sources:
        claim(digest_md(source.slug), source.slug, f"source {source.name!r}")


@functools.lru_cache(maxsize=1 << 16)
def page_url(path: str, directory_urls: bool = True) -> str:
    """The URL MkDocs gives a docs-root path, relative to the site root.

    `index.md` -> ``, `topics/index.md` -> `topics/`, `papers/x.md` -> `papers/x/` (or
    `papers/x.html` without directory URLs); any other file keeps its path.
    """
    if not path.endswith(".md"):
        return path
    stem = path[:-3]
    if stem == "index" or stem.endswith("/index"):
        base = stem[: -len("index")]
        return base if directory_urls else base + "index.html"
    return stem + "/" if directory_urls else stem + ".html"


@functools.lru_cache(maxsize=1 << 12)
def _url_dirs(path: str, directory_urls: bool) -> list[str]:
    return page_url(path, directory_urls).split("/")[:-1]


def relative_url(from_md: str, to_path: str, directory_urls: bool = True) -> Markup:
    """The relative link from one generated page to another page or file, as MkDocs would write it.

    Both are normalised POSIX docs-root paths. Computed on the strings alone: `posixpath.relpath`
    calls `os.getcwd()` twice per link, which was a quarter of the pages stage at 10k papers.
    """
    here = _url_dirs(from_md, directory_urls)
    there = page_url(to_path, directory_urls).split("/")
    common = 0
    while common < len(here) and common < len(there) - 1 and here[common] == there[common]:
        common += 1
    return Markup("/".join([".."] * (len(here) - common) + there[common:]) or "./")


class Linker:
    """`link(path)` in a page's templates: the relative link from that page, each computed once.

    A listing page links the same few topic pages from most of its entries.
    """

    __slots__ = ("_directory_urls", "_from", "_links")

    def __init__(self, from_md: str, directory_urls: bool = True) -> None:
        self._from = from_md
        self._directory_urls = directory_urls
        self._links: dict[str, Markup] = {}

    def __call__(self, to_path: str) -> Markup:
        link = self._links.get(to_path)
        if link is None:
            link = self._links[to_path] = relative_url(self._from, to_path, self._directory_urls)
        return link


@functools.lru_cache(maxsize=1 << 14)
def human_date(day: dt.date | None) -> str:
    """`May 29, 2025`, or `undated`."""
    return "undated" if day is None else f"{MONTH_NAMES[day.month - 1]} {day.day}, {day.year}"


def list_item(entry: ItemInput, link: Linker, *, on_topic: bool = False) -> ListItem:
    """A compact listing entry for a paper, its links made by the listing page's `link`.

    Listings do not repeat what the paper's page says: the title, the date, and the primary
    topic (on a topic's own pages (`on_topic`): whether it is primary there, and why the paper
    is listed). Links are made here rather than by the template: a call from a template costs
    several times a call from here, and a listing has three links an entry (400,000 entries at
    100k papers).
    """
    ref = entry.ref
    return ListItem(
        entry.title,
        link(paper_md(entry.id)),
        human_date(entry.date),
        # The paper's page lists all its topics: a listing links the primary one, and a topic's
        # own pages none (they say why the paper is there instead).
        () if on_topic or ref is None else (TopicLink(ref.name, link(ref.md)),),
        entry.near_duplicate,
        on_topic and ref is not None and ref.primary,
        ref.reason if on_topic and ref is not None else "",
    )


def source_summary(source: Source) -> dict[str, Any]:
    """A listing as the pages that list listings show it: title, page, date, size, file name."""
    return {
        "title": source.title,
        "md": digest_md(source.slug),
        "date": human_date(source.date),
        "count": len(source.paper_ids),
        "name": source.name,
    }


HOME_NEWEST = 10
"""Papers of the newest digest on the home page (the rest are a link away, on the digest's page)."""


class PageModel:
    """The corpus as the pages see it; lookups are computed once."""

    def __init__(
        self,
        corpus: Corpus,
        *,
        page_size: int = 100,
        similar_count: int = 5,
        site_name: str = "paper-digest",
        directory_urls: bool = True,
    ) -> None:
        self.corpus = corpus
        self.site_name = site_name
        self.directory_urls = directory_urls
        self.page_size = page_size
        self.similar_count = similar_count
        self.papers = {paper.id: paper for paper in corpus.papers}
        self.topics = {topic.slug: topic for topic in corpus.topics.topics}
        self.sources = {source.name: source for source in corpus.sources}
        self._topic_refs: dict[str, tuple[TopicRef, ...]] = {}
        self._near = frozenset(pid for pid, near in corpus.similarity.near_duplicates.items() if near)
        """The papers with possible duplicates."""
        self.input_digests = InputDigests()
        """The pages' keys (what each is made by and from), each paper digested once."""
        self.cite_keys = citation_keys(corpus.papers)
        """Each paper's BibTeX key, the same on its page as in papers.bib (generator/website/citekeys.py)."""

    def topic_refs(self, paper: Paper) -> tuple[TopicRef, ...]:
        """The paper's topics, ranked, with why it is there (made once a paper: every listing
        entry of the paper and its page ask)."""
        refs_made = self._topic_refs.get(paper.id)
        if refs_made is not None:
            return refs_made
        refs = []
        for rank, assignment in enumerate(self.corpus.topics.assignments.get(paper.id, ())):
            topic = self.topics.get(assignment.slug)
            if topic is not None:
                refs.append(TopicRef(topic.name, topic_md(topic.slug), assignment.reason, rank == 0, topic.slug))
        refs_made = self._topic_refs[paper.id] = tuple(refs)
        return refs_made

    def item_input(self, paper: Paper, topic: str | None = None) -> ItemInput:
        """What a paper's listing entry is made from (`list_item`); on a topic's pages `topic` is its slug."""
        refs = self.topic_refs(paper)
        ref = refs[0] if refs else None
        if topic is not None and ref is not None and ref.slug != topic:
            ref = None
            for other in refs:
                if other.slug == topic:
                    ref = other
        near = paper.id in self._near
        return ItemInput(paper.id, paper.title, paper.last_date, ref, near)

    def item(self, paper: Paper, link: Linker, *, topic: str | None = None) -> ListItem:
        """A paper's listing entry on the page whose links `link` makes (`list_item`)."""
        return list_item(self.item_input(paper, topic), link, on_topic=topic is not None)

    @functools.cache  # noqa: B019 (one builder per build)
    def topic_counts(self) -> list[dict[str, Any]]:
        """Every topic with its paper count, in taxonomy order."""
        counts: dict[str, int] = defaultdict(int)
        primary: dict[str, int] = defaultdict(int)
        for assignments in self.corpus.topics.assignments.values():
            for rank, assignment in enumerate(assignments):
                counts[assignment.slug] += 1
                primary[assignment.slug] += rank == 0
        return [
            {
                "slug": t.slug,
                "name": t.name,
                "description": t.description,
                "md": topic_md(t.slug),
                "count": counts[t.slug],
                "primary": primary[t.slug],
            }
            for t in self.corpus.topics.topics
        ]

    @functools.cached_property
    def days(self) -> dict[dt.date | None, list[Paper]]:
        """Papers per appearance day (a paper seen on several days is on each), newest day first."""
        by_day: dict[dt.date | None, list[Paper]] = defaultdict(list)
        for paper in self.corpus.papers:
            days = paper.dates or (None,)
            for day in days:
                by_day[day].append(paper)
            if paper.dates and any(a.date is None for a in paper.appearances):
                by_day[None].append(paper)
        return dict(sorted(by_day.items(), key=lambda kv: (kv[0] is None, -(kv[0] or dt.date.min).toordinal())))

    def groups(self, papers_per_group: int = 1000, days_per_group: int = 100) -> list[PageGroup]:
        """The pages split into groups of similar work, which may be rendered in parallel.

        Together the groups make every page exactly once, in a fixed order.
        """
        n = len(self.corpus.papers)
        groups = [PageGroup("front")]
        groups += [PageGroup("papers", i, min(i + papers_per_group, n)) for i in range(0, n, papers_per_group)]
        groups += [PageGroup("topic", i, i + 1) for i in range(len(self.corpus.topics.topics))]
        days = len(self.days)
        groups += [PageGroup("days", i, min(i + days_per_group, days)) for i in range(0, days, days_per_group)]
        sources = len(self.corpus.sources)
        groups += [PageGroup("digests", i, min(i + days_per_group, sources)) for i in range(0, sources, days_per_group)]
        return groups

    def source_view(self, source: Source, link: Linker) -> dict[str, Any]:
        return {
            **source_summary(source),
            "items": [self.item(self.papers[i], link) for i in source.paper_ids if i in self.papers],
        }

    @functools.cached_property
    def topic_members(self) -> dict[str, list[Paper]]:
        """The papers of each topic, in corpus order."""
        members: dict[str, list[Paper]] = defaultdict(list)
        for paper in self.corpus.papers:
            for assignment in self.corpus.topics.assignments.get(paper.id, ()):
                members[assignment.slug].append(paper)
        return members

    @functools.cache  # noqa: B019 (one builder per build)
    def topic_chunks(self, slug: str) -> list[list[Paper]]:
        """A topic's papers in `first_seen_order`, cut into chunks of `page_size` (the last may be short).

        Chunks only grow at the newest end as days are added, so archive pages keep their papers.
        """
        members = sorted(self.topic_members.get(slug, []), key=first_seen_order)
        return [members[i : i + self.page_size] for i in range(0, len(members), self.page_size)] or [[]]

    def timeline_table(self) -> dict[str, Any] | None:
        """The timeline's numbers for the table under it: column labels and a row per topic (name, md, counts)."""
        from .charts import timeline_grid

        grid = timeline_grid(*self.timeline_series())
        if grid is None:
            return None
        rows = [
            {"name": name, "md": topic_md(slug), "counts": counts, "total": sum(counts)}
            for slug, name, counts in zip(grid.slugs, grid.names, grid.counts, strict=True)
        ]
        return {"axis": grid.axis_title, "columns": grid.long_columns, "rows": rows}

    def timeline_series(self) -> tuple[dict[str, list[tuple[dt.date, int]]], dict[str, str]]:
        """Papers per primary topic and day first seen, and the topic names (the timeline's input)."""
        series: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
        for paper in self.corpus.papers:
            assignments = self.corpus.topics.assignments.get(paper.id, ())
            if assignments and paper.first_date:
                series[assignments[0].slug][paper.first_date] += 1
        names = {t.slug: t.name for t in self.corpus.topics.topics}
        return {slug: sorted(days.items()) for slug, days in sorted(series.items())}, names

    def day_sources(self, day: dt.date | None) -> tuple[Source, ...]:
        """The listings a day's papers come from, by file name."""
        names = sorted({a.source for p in self.days[day] for a in p.appearances if a.date == day})
        return tuple(self.sources[name] for name in names if name in self.sources)

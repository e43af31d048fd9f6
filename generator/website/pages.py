"""Pages: the view models each page template receives. Pure: no I/O, no HTML or Markdown.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from generator.corpus_order import first_seen_order
from generator.errors import DigestError
from generator.models import Corpus, Paper, Source
from generator.text import RESERVED_SEGMENTS
from generator.website.citekeys import citation_keys
from generator.website.latex_text import display_text
from generator.website.meta import first_sentence
from generator.website.paper_metadata import metadata_links, page_metadata
from generator.website.views import ListItem, NearRef, PaperTopic, SeenIn, SimilarRef, TopicLink, TopicRef

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
    """A page not made yet: its path, its maker, and whether a previous build's copy may be reused.

    A reusable page is reused when its `PageSpec` (template, context, front matter) digests to the
    same `spec_key` as the copy the page cache holds, and the cache's folder is this code's and these
    options' (`page_cache.page_cache_dir`): what the page renders from and the code that renders it
    are unchanged. There is no second, hand-written list of what a page shows.
    """

    path: str
    make: Callable[[], PageSpec]
    reusable: bool = True
    """False for the few hub pages that sum up the whole corpus: always rendered."""


def content_key(value: Any, *texts: str) -> str:
    """A digest of a value's repr (dataclasses, tuples, dicts, dates and strings repr deterministically)
    and of long `texts`, hashed as they are (their repr would cost 2 us per KB for nothing)."""
    digest = hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=16)
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


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


def spec_key(spec: PageSpec) -> str:
    """A digest of everything a page renders from: its path, template, context and front matter."""
    return content_key((spec.path, spec.template, spec.context, spec.meta))


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


def human_date(day: dt.date | None) -> str:
    """`May 29, 2025`, or `undated`."""
    return "undated" if day is None else f"{MONTH_NAMES[day.month - 1]} {day.day}, {day.year}"


HOME_NEWEST = 10
"""Papers of the newest digest on the home page (the rest are a link away, on the digest's page)."""


class PageBuilder:
    """Builds every page spec from a corpus; lookups are computed once."""

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
        self.cite_keys = citation_keys(corpus.papers)
        """Each paper's BibTeX key, the same on its page as in papers.bib (generator/website/citekeys.py)."""

    # -- shared pieces -------------------------------------------------------------------

    def topic_refs(self, paper: Paper) -> tuple[TopicRef, ...]:
        """The paper's topics, ranked, with why it is there."""
        refs = []
        for rank, assignment in enumerate(self.corpus.topics.assignments.get(paper.id, ())):
            topic = self.topics.get(assignment.slug)
            if topic is not None:
                refs.append(TopicRef(topic.name, topic_md(topic.slug), assignment.reason, rank == 0, topic.slug))
        return tuple(refs)

    def item(self, paper: Paper, link: Linker, *, topic: str | None = None) -> ListItem:
        """A compact listing entry for a paper, its links made by the listing page's `link`.

        Listings do not repeat what the paper's page says: the title, the date, and the primary
        topic (on a topic's own pages: whether it is primary there, and why the paper is listed).

        On a topic's pages, `topic` is that topic's slug. Links are made here rather than by the
        template: a call from a template costs several times a call from here, and a listing
        has three links an entry (400,000 entries at 100k papers).
        """
        refs = self.topic_refs(paper)
        primary, reason = False, ""
        if topic is not None:
            for ref in refs:
                if ref.slug == topic:
                    primary, reason = ref.primary, ref.reason
        return ListItem(
            paper.title,
            link(paper_md(paper.id)),
            human_date(paper.last_date),
            # The paper's page lists all its topics: a listing links the primary one, and a topic's
            # own pages none (they say why the paper is there instead).
            () if topic is not None else tuple(TopicLink(ref.name, link(ref.md)) for ref in refs[:1]),
            bool(self.corpus.similarity.near_duplicates.get(paper.id)),
            primary,
            reason,
        )

    def linker(self, path: str) -> Linker:
        """The links from the page at `path`."""
        return Linker(path, self.directory_urls)

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

    # -- pages --------------------------------------------------------------------------

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

    def lazy_pages(self, group: PageGroup) -> Iterable[LazyPage]:
        """The pages of one group, made only on demand."""
        if group.kind == "front":  # few pages, each summing up the whole corpus: always made
            makers = (self.home, self.topics_index, self.dates_index, self.digests_index, self.week)
            for path, make in zip(HUB_PAGES, makers, strict=True):
                yield LazyPage(path, make, reusable=False)
        elif group.kind == "papers":
            for paper in self.corpus.papers[group.start : group.stop]:
                yield LazyPage(paper_md(paper.id), functools.partial(self.paper_page, paper))
        elif group.kind == "topic":
            for topic in self.topic_counts()[group.start : group.stop]:
                archived = max(0, len(self.topic_chunks(topic["slug"])) - 2)
                yield LazyPage(topic_md(topic["slug"]), functools.partial(self.topic_page, topic))
                for number in range(1, archived + 1):
                    make = functools.partial(self.topic_archive_page, topic, number)
                    yield LazyPage(topic_md(topic["slug"], number), make)
        elif group.kind == "days":
            for day in list(self.days)[group.start : group.stop]:
                yield LazyPage(day_md(day), functools.partial(self.day_page, day))
        elif group.kind == "digests":
            for source in self.corpus.sources[group.start : group.stop]:
                yield LazyPage(digest_md(source.slug), functools.partial(self.digest_page, source))
        else:
            raise ValueError(f"unknown page group {group.kind!r}")

    def paper_page(self, paper: Paper) -> PageSpec:
        """The page of one paper: abstract, where it appeared, topics, duplicates, similar, links."""
        sim = self.corpus.similarity
        papers = self.papers
        link = self.linker(paper_md(paper.id))  # links made here, not called from the template (see `item`)
        near = [
            NearRef(
                papers[n.id].title, link(paper_md(n.id)), f"{n.score:.2f}", n.kind, human_date(papers[n.id].last_date)
            )
            for n in sim.near_duplicates.get(paper.id, ())
            if n.id in papers
        ]
        similar = [
            SimilarRef(papers[s.id].title, link(paper_md(s.id)), f"{s.score:.2f}")
            for s in sim.similar.get(paper.id, ())[: self.similar_count]
            if s.id in papers
        ]
        appearances = []
        for appearance in paper.appearances:
            source = self.sources.get(appearance.source)
            appearances.append(
                SeenIn(
                    human_date(appearance.date),
                    link(day_md(appearance.date)),
                    source.title if source else appearance.source,
                    link(digest_md(source.slug)) if source else None,
                    appearance.position,
                )
            )
        topics = [PaperTopic(ref.name, link(ref.md), ref.reason, ref.primary) for ref in self.topic_refs(paper)]
        if paper.arxiv_id:
            links = [
                ("arXiv abstract", f"https://arxiv.org/abs/{paper.arxiv_id}"),
                ("PDF", f"https://arxiv.org/pdf/{paper.arxiv_id}"),
            ]
        else:
            links = [
                (
                    "Search arXiv for this title",
                    "https://arxiv.org/search/?searchtype=title&query=" + quote(paper.title, safe=""),
                )
            ]
        if paper.url:
            links.insert(0, ("Source page", quote(paper.url, safe=":/?&=#%+@,;~")))
        links += metadata_links(paper)
        return PageSpec(
            paper_md(paper.id),
            "paper.html.j2",
            {
                "paper": paper,
                "title": paper.title,
                "abstract": paper.abstract,
                "authors": paper.authors,
                "metadata": page_metadata(paper),
                "appearances": appearances,
                "topics": topics,
                "near": near,
                "similar": similar,
                "links": [(label, Markup(url)) for label, url in links],
                "arxiv_id": paper.arxiv_id or "",
                "id": paper.id,
                "cite_key": self.cite_keys[paper.id],
            },
            {
                "title": display_text(paper.title),
                "description": first_sentence(display_text(paper.abstract)) or display_text(paper.title),
                "og_type": "article",
                "hide": ["navigation"],
            },
        )

    def home(self) -> PageSpec:
        """Newest digest first, totals, topics with counts, links into every grouping."""
        newest = next(
            (s for s in self.corpus.sources if s.date),
            self.corpus.sources[0] if self.corpus.sources else None,
        )
        dated = [p for p in self.corpus.papers if p.dates]
        return PageSpec(
            "index.md",
            "home.html.j2",
            {
                "newest": self.source_view(newest, self.linker("index.md")) if newest else None,
                "totals": {
                    "papers": len(self.corpus.papers),
                    "appearances": sum(len(p.appearances) for p in self.corpus.papers),
                    "sources": len(self.corpus.sources),
                    "days": len({d for p in self.corpus.papers for d in p.dates}),
                    "repeated": sum(1 for p in self.corpus.papers if len(p.sources) > 1),
                    "near": sum(1 for v in self.corpus.similarity.near_duplicates.values() if v),
                    "undated": len(self.corpus.papers) - len(dated),
                    "first": human_date(min(d for p in dated for d in p.dates)) if dated else "",
                    "last": human_date(max(d for p in dated for d in p.dates)) if dated else "",
                },
                "topics": self.topic_counts(),
                "digests": [self.source_summary(s) for s in self.corpus.sources[:10]],
                "site_name": self.site_name,
                "newest_count": HOME_NEWEST,
            },
            {
                "title": self.site_name,
                "description": f"A browsable, searchable digest of {len(self.corpus.papers)} research papers.",
                "hide": ["navigation", "toc"],
            },
        )

    def source_summary(self, source: Source) -> dict[str, Any]:
        return {
            "title": source.title,
            "md": digest_md(source.slug),
            "date": human_date(source.date),
            "count": len(source.paper_ids),
            "name": source.name,
        }

    def source_view(self, source: Source, link: Linker) -> dict[str, Any]:
        return {
            **self.source_summary(source),
            "items": [self.item(self.papers[i], link) for i in source.paper_ids if i in self.papers],
        }

    def topics_index(self) -> PageSpec:
        counts = self.topic_counts()
        return PageSpec(
            "topics/index.md",
            "topics_index.html.j2",
            {
                "topics": counts,
                "chart": Markup(self.topic_chart(counts)),
                "timeline": Markup(self.topic_timeline()),
                "timeline_table": self.timeline_table(),
            },
            {"title": "Topics", "description": "Papers grouped by topic."},
        )

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

    def topic_page(self, topic: dict[str, Any]) -> PageSpec:
        """A topic's newest papers (its two newest chunks: `page_size` to twice that), newest first."""
        slug = topic["slug"]
        chunks = self.topic_chunks(slug)
        archived = max(0, len(chunks) - 2)
        papers = [p for chunk in chunks[archived:] for p in chunk]
        link = self.linker(topic_md(slug))
        archive = [
            {"md": topic_md(slug, n), "first": (n - 1) * self.page_size + 1, "last": n * self.page_size}
            for n in range(archived, 0, -1)
        ]
        return PageSpec(
            topic_md(slug),
            "topic.html.j2",
            {
                "topic": topic,
                "items": [self.item(p, link, topic=slug) for p in reversed(papers)],
                "last": archived * self.page_size + len(papers),
                "archive": archive,
            },
            {"title": topic["name"], "description": topic["description"], "feed": f"topics/{slug}/feed.xml"},
        )

    def topic_archive_page(self, topic: dict[str, Any], number: int) -> PageSpec:
        """Archive page `number` of a topic: its papers `page_size * (number - 1) + 1` to `page_size * number`."""
        slug = topic["slug"]
        chunks = self.topic_chunks(slug)
        archived = max(0, len(chunks) - 2)
        first, last = (number - 1) * self.page_size + 1, number * self.page_size
        link = self.linker(topic_md(slug, number))
        return PageSpec(
            topic_md(slug, number),
            "topic_archive.html.j2",
            {
                "topic": {"name": topic["name"], "slug": slug},
                "items": [self.item(p, link, topic=slug) for p in reversed(chunks[number - 1])],
                "first": first,
                "last": last,
                "newer": topic_md(slug, number + 1) if number < archived else topic_md(slug),
                "older": topic_md(slug, number - 1) if number > 1 else None,
            },
            {"title": f"{topic['name']}: papers {first}–{last}", "description": topic["description"]},
        )

    def topic_chart(self, counts: list[dict[str, Any]]) -> str:
        from generator.website.charts import topic_bar_chart

        return topic_bar_chart([(t["slug"], t["name"], t["count"]) for t in counts])

    def topic_timeline(self) -> str:
        from generator.website.charts import topic_timeline_chart

        return topic_timeline_chart(*self.timeline_series())

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

    def dates_index(self) -> PageSpec:
        days = self.days
        archive: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for day, papers in days.items():
            if day is not None:
                archive[day.year][day.month].append(
                    {"day": day.day, "date": human_date(day), "md": day_md(day), "count": len(papers)}
                )
        years = [
            {
                "year": year,
                "months": [
                    {
                        "name": MONTH_NAMES[m - 1],
                        "days": archive[year][m],
                        "count": sum(d["count"] for d in archive[year][m]),
                    }
                    for m in sorted(archive[year], reverse=True)
                ],
            }
            for year in sorted(archive, reverse=True)
        ]
        undated = len(days.get(None, []))
        return PageSpec(
            "dates/index.md",
            "dates_index.html.j2",
            {"years": years, "undated": undated},
            {"title": "By date", "description": "The digest's archive by year, month and day."},
        )

    def day_digests(self, day: dt.date | None) -> list[dict[str, Any]]:
        """The listings a day's papers come from."""
        names = sorted({a.source for p in self.days[day] for a in p.appearances if a.date == day})
        return [self.source_summary(self.sources[name]) for name in names if name in self.sources]

    def day_page(self, day: dt.date | None) -> PageSpec:
        """The papers of one appearance day (or the undated ones)."""
        papers = self.days[day]
        link = self.linker(day_md(day))
        return PageSpec(
            day_md(day),
            "day.html.j2",
            {
                "date": human_date(day),
                "undated": day is None,
                "items": [self.item(p, link) for p in papers],
                "digests": self.day_digests(day),
            },
            {"title": "Undated papers" if day is None else f"Papers of {human_date(day)}"},
        )

    def digests_index(self) -> PageSpec:
        return PageSpec(
            "digests/index.md",
            "digests_index.html.j2",
            {"digests": [self.source_summary(s) for s in self.corpus.sources]},
            {"title": "Digests", "description": "Every listing the digest was built from."},
        )

    def digest_page(self, source: Source) -> PageSpec:
        """One listing's papers in the listing's own order."""
        view = self.source_view(source, self.linker(digest_md(source.slug)))
        view["day_md"] = day_md(source.date) if source.date else None
        view["layout"] = source.layout
        return PageSpec(
            digest_md(source.slug),
            "digest.html.j2",
            {"source": view},
            {
                "title": source.title,
                "description": f"{source.title}: {len(source.paper_ids)} papers in the listing's own order.",
            },
        )

    def week(self) -> PageSpec:
        """The papers of the seven days up to the newest date in the corpus, grouped by day."""
        days = [d for d in self.days if d is not None]
        groups = []
        link = self.linker("week.md")
        if days:
            newest = days[0]
            start = dt.date.fromordinal(max(1, newest.toordinal() - 6))  # 0001-01-03 has no week before it
            groups = [
                {"date": human_date(d), "md": day_md(d), "items": [self.item(p, link) for p in self.days[d]]}
                for d in days
                if d >= start
            ]
            span = f"{human_date(start)} – {human_date(newest)}"
        else:
            span = ""
        return PageSpec(
            "week.md",
            "week.html.j2",
            {"groups": groups, "span": span},
            {"title": "This week", "description": "The papers of the last seven days of the digest."},
        )

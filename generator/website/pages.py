"""Pages: one maker per kind of page, each giving the `PageSpec` its template receives.

A page that may be reused is made by a module-level `make_*` function from the inputs
`PageBuilder.lazy_pages` gathers (`page_model.LazyPage`: the page's key digests them); the hub
pages, always rendered, are `PageBuilder` methods. Pure: no I/O, no HTML or Markdown. What the
makers share (specs, paths, links, the corpus lookups) is `generator.website.page_model`, whose
docstring says how pages link and are escaped.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from generator.models import Paper, Source
from generator.website.latex_text import display_text
from generator.website.meta import first_sentence
from generator.website.page_model import (
    HOME_NEWEST,
    HUB_PAGES,
    MONTH_NAMES,
    LazyPage,
    Linker,
    PageGroup,
    PageModel,
    PageSpec,
    day_md,
    digest_md,
    human_date,
    list_item,
    paper_md,
    source_summary,
    topic_md,
)
from generator.website.paper_metadata import metadata_links, page_metadata, quoted_url
from generator.website.views import (
    ItemInput,
    NearInput,
    NearRef,
    PaperTopic,
    SeenIn,
    SeenInput,
    SimilarInput,
    SimilarRef,
    TopicRef,
)


def make_paper_page(
    paper: Paper,
    near: tuple[NearInput, ...],
    similar: tuple[SimilarInput, ...],
    seen: tuple[SeenInput, ...],
    refs: tuple[TopicRef, ...],
    cite_key: str,
    directory_urls: bool,
) -> PageSpec:
    """The page of one paper: abstract, where it appeared, topics, duplicates, similar, links."""
    path = paper_md(paper.id)
    link = Linker(path, directory_urls)  # links made here, not called from the template (see `list_item`)
    links = (
        [
            ("arXiv abstract", f"https://arxiv.org/abs/{paper.arxiv_id}"),
            ("PDF", f"https://arxiv.org/pdf/{paper.arxiv_id}"),
        ]
        if paper.arxiv_id
        else [
            (
                "Search arXiv for this title",
                "https://arxiv.org/search/?searchtype=title&query=" + quote(paper.title, safe=""),
            )
        ]
    )
    if paper.url:
        links.insert(0, ("Source page", quoted_url(paper.url)))
    links += metadata_links(paper)
    return PageSpec(
        path,
        "paper.html.j2",
        {
            "paper": paper,
            "title": paper.title,
            "abstract": paper.abstract,
            "authors": paper.authors,
            "metadata": page_metadata(paper),
            "appearances": [
                SeenIn(
                    human_date(s.date),
                    link(day_md(s.date)),
                    s.source,
                    link(digest_md(s.slug)) if s.slug is not None else None,
                    s.position,
                )
                for s in seen
            ],
            "topics": [PaperTopic(ref.name, link(ref.md), ref.reason, ref.primary) for ref in refs],
            "near": [
                NearRef(n.title, link(paper_md(n.id)), f"{n.score:.2f}", n.kind, human_date(n.date)) for n in near
            ],
            "similar": [SimilarRef(s.title, link(paper_md(s.id)), f"{s.score:.2f}") for s in similar],
            "links": [(label, Markup(url)) for label, url in links],
            "arxiv_id": paper.arxiv_id or "",
            "id": paper.id,
            "cite_key": cite_key,
        },
        {
            "title": display_text(paper.title),
            "description": first_sentence(display_text(paper.abstract)) or display_text(paper.title),
            "og_type": "article",
            "hide": ["navigation"],
        },
    )


def make_topic_page(
    topic: dict[str, Any], items: tuple[ItemInput, ...], archived: int, page_size: int, directory_urls: bool
) -> PageSpec:
    """A topic's newest papers (`items`: its two newest chunks, `page_size` to twice that, newest first)."""
    slug = topic["slug"]
    link = Linker(topic_md(slug), directory_urls)
    archive = [
        {"md": topic_md(slug, n), "first": (n - 1) * page_size + 1, "last": n * page_size}
        for n in range(archived, 0, -1)
    ]
    return PageSpec(
        topic_md(slug),
        "topic.html.j2",
        {
            "topic": topic,
            "items": [list_item(item, link, on_topic=True) for item in items],
            "last": archived * page_size + len(items),
            "archive": archive,
        },
        {"title": topic["name"], "description": topic["description"], "feed": f"topics/{slug}/feed.xml"},
    )


def make_topic_archive_page(
    topic: dict[str, str],
    number: int,
    archived: int,
    page_size: int,
    items: tuple[ItemInput, ...],
    directory_urls: bool,
) -> PageSpec:
    """Archive page `number` of a topic (`name`, `slug`, `description`): its papers `page_size * (number - 1) + 1`
    to `page_size * number` (`items`, newest first)."""
    slug = topic["slug"]
    first, last = (number - 1) * page_size + 1, number * page_size
    link = Linker(topic_md(slug, number), directory_urls)
    return PageSpec(
        topic_md(slug, number),
        "topic_archive.html.j2",
        {
            "topic": {"name": topic["name"], "slug": slug},
            "items": [list_item(item, link, on_topic=True) for item in items],
            "first": first,
            "last": last,
            "newer": topic_md(slug, number + 1) if number < archived else topic_md(slug),
            "older": topic_md(slug, number - 1) if number > 1 else None,
        },
        {"title": f"{topic['name']}: papers {first}–{last}", "description": topic["description"]},
    )


def make_day_page(
    day: dt.date | None, items: tuple[ItemInput, ...], sources: tuple[Source, ...], directory_urls: bool
) -> PageSpec:
    """The papers of one appearance day (or the undated ones), and the listings they come from."""
    link = Linker(day_md(day), directory_urls)
    return PageSpec(
        day_md(day),
        "day.html.j2",
        {
            "date": human_date(day),
            "undated": day is None,
            "items": [list_item(item, link) for item in items],
            "digests": [source_summary(source) for source in sources],
        },
        {"title": "Undated papers" if day is None else f"Papers of {human_date(day)}"},
    )


def make_digest_page(source: Source, items: tuple[ItemInput, ...], directory_urls: bool) -> PageSpec:
    """One listing's papers in the listing's own order."""
    link = Linker(digest_md(source.slug), directory_urls)
    view = {**source_summary(source), "items": [list_item(item, link) for item in items]}
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


class PageBuilder(PageModel):
    """Every page of a corpus: the lazy pages (maker and inputs) of each group, and the hub pages."""

    def lazy_pages(self, group: PageGroup) -> Iterable[LazyPage]:
        """The pages of one group, with what each is made from; made only on demand."""
        urls = self.directory_urls
        if group.kind == "front":  # few pages, each summing up the whole corpus: always made
            makers = (self.home, self.topics_index, self.dates_index, self.digests_index, self.week)
            for path, make in zip(HUB_PAGES, makers, strict=True):
                yield LazyPage(path, make, reusable=False)
        elif group.kind == "papers":
            for paper in self.corpus.papers[group.start : group.stop]:
                yield self.paper_lazy(paper)
        elif group.kind == "topic":
            for topic in self.topic_counts()[group.start : group.stop]:
                slug = topic["slug"]
                chunks = self.topic_chunks(slug)
                archived = max(0, len(chunks) - 2)
                newest = tuple(
                    self.item_input(p, slug) for chunk in reversed(chunks[archived:]) for p in reversed(chunk)
                )
                yield LazyPage(topic_md(slug), make_topic_page, (topic, newest, archived, self.page_size, urls))
                about = {"name": topic["name"], "slug": slug, "description": topic["description"]}
                for number in range(1, archived + 1):
                    items = tuple(self.item_input(p, slug) for p in reversed(chunks[number - 1]))
                    inputs = (about, number, archived, self.page_size, items, urls)
                    yield LazyPage(topic_md(slug, number), make_topic_archive_page, inputs)
        elif group.kind == "days":
            for day in list(self.days)[group.start : group.stop]:
                items = tuple(self.item_input(p) for p in self.days[day])
                yield LazyPage(day_md(day), make_day_page, (day, items, self.day_sources(day), urls))
        elif group.kind == "digests":
            papers = self.papers
            for source in self.corpus.sources[group.start : group.stop]:
                items = tuple(self.item_input(papers[i]) for i in source.paper_ids if i in papers)
                yield LazyPage(digest_md(source.slug), make_digest_page, (source, items, urls))
        else:
            raise ValueError(f"unknown page group {group.kind!r}")

    def paper_lazy(self, paper: Paper) -> LazyPage:
        """A paper's page and what it is made from: the paper, the titles, scores and days of its
        likely duplicates and similar papers, its listings' titles, its topics and citation key."""
        papers, sim = self.papers, self.corpus.similarity
        near = tuple(
            [
                NearInput(n.id, papers[n.id].title, n.score, n.kind, papers[n.id].last_date)
                for n in sim.near_duplicates.get(paper.id, ())
                if n.id in papers
            ]
        )
        similar = tuple(
            [
                SimilarInput(s.id, papers[s.id].title, s.score)
                for s in sim.similar.get(paper.id, ())[: self.similar_count]
                if s.id in papers
            ]
        )
        sources = self.sources
        seen = tuple(
            [
                SeenInput(a.date, source.title, source.slug, a.position)
                if (source := sources.get(a.source)) is not None
                else SeenInput(a.date, a.source, None, a.position)
                for a in paper.appearances
            ]
        )
        refs, key = self.topic_refs(paper), self.cite_keys[paper.id]
        return LazyPage(
            paper_md(paper.id), make_paper_page, (paper, near, similar, seen, refs, key, self.directory_urls)
        )

    def paper_page(self, paper: Paper) -> PageSpec:
        """The spec of a paper's page."""
        return self.paper_lazy(paper).spec()

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
                "newest": self.source_view(newest, Linker("index.md", self.directory_urls)) if newest else None,
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
                "digests": [source_summary(s) for s in self.corpus.sources[:10]],
                "site_name": self.site_name,
                "newest_count": HOME_NEWEST,
            },
            {
                "title": self.site_name,
                "description": f"A browsable, searchable digest of {len(self.corpus.papers)} research papers.",
                "hide": ["navigation", "toc"],
            },
        )

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

    def topic_chart(self, counts: list[dict[str, Any]]) -> str:
        from generator.website.charts import topic_bar_chart

        return topic_bar_chart([(t["slug"], t["name"], t["count"]) for t in counts])

    def topic_timeline(self) -> str:
        from generator.website.charts import topic_timeline_chart

        return topic_timeline_chart(*self.timeline_series())

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

    def digests_index(self) -> PageSpec:
        return PageSpec(
            "digests/index.md",
            "digests_index.html.j2",
            {"digests": [source_summary(s) for s in self.corpus.sources]},
            {"title": "Digests", "description": "Every listing the digest was built from."},
        )

    def week(self) -> PageSpec:
        """The papers of the seven days up to the newest date in the corpus, grouped by day."""
        days = [d for d in self.days if d is not None]
        groups = []
        link = Linker("week.md", self.directory_urls)
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

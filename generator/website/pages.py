"""Pages: one maker per kind of page, each giving the `PageSpec` its template receives.

Pure: no I/O, no HTML or Markdown. What the makers share (specs, paths, links, the corpus
lookups) is `generator.website.page_model`, whose docstring says how pages link and are escaped.
"""

from __future__ import annotations

import datetime as dt
import functools
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
    PageGroup,
    PageModel,
    PageSpec,
    day_md,
    digest_md,
    human_date,
    paper_md,
    topic_md,
)
from generator.website.paper_metadata import metadata_links, page_metadata, quoted_url
from generator.website.views import NearRef, PaperTopic, SeenIn, SimilarRef


class PageBuilder(PageModel):
    """Builds every page spec from a corpus: the page makers, one per kind of page."""

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
            links.insert(0, ("Source page", quoted_url(paper.url)))
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

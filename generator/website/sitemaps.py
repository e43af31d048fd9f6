"""Sitemaps by the protocol (sitemaps.org): `sitemap.xml` is a sitemap index of split files (pure: returns bytes).

MkDocs' own `sitemap.xml` (one file listing every page, each dated by the build clock) is not
rendered (the plugin drops it from the theme's static templates); the plugin writes these
instead, into the root of the site, since a sitemap may list only URLs under its own folder:

- `sitemap-pages-0001.xml`, ...: every page but the paper pages (hub, topic, day and digest
  pages, hand-written pages), sorted by URL;
- `sitemap-papers-0001.xml`, ...: the paper pages, oldest first (`first_seen_order`), so that
  new papers are added to the last file;
- `sitemap.xml`: the index of those files.

Each file holds at most `limit` URLs (the protocol allows 50,000) and `MAX_BYTES`. `lastmod`
comes from the data, never the clock, so rebuilds are byte-identical: a paper page's newest
appearance date, a day page's day, a digest page its source's date, every other generated page
(and an undated paper, day or digest) the newest date in the corpus; hand-written pages have none.
In the index, a file's `lastmod` is the newest of its URLs'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from xml.sax.saxutils import escape

from generator.corpus_order import first_seen_order
from generator.models import Corpus
from generator.website.feeds import site_base
from generator.website.page_model import day_md, digest_md, paper_md

SITEMAP_URLS = 50_000
"""The most URLs the protocol allows in one sitemap file (the default `sitemap_urls`)."""

MAX_BYTES = 52_428_800
"""The most bytes the protocol allows in one sitemap file (50 MiB, uncompressed)."""

INDEX = "sitemap.xml"
PAGES = "sitemap-pages-{:04d}.xml"
PAPERS = "sitemap-papers-{:04d}.xml"

_XMLNS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
_URLSET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {_XMLNS}>\n'.encode()
_URLSET_TAIL = b"</urlset>\n"
_QUOTES = {'"': "&quot;", "'": "&apos;"}

Entry = tuple[str, dt.date | None]
"""An absolute URL and its `lastmod`."""


def page_dates(corpus: Corpus) -> tuple[dict[str, dt.date | None], dt.date | None]:
    """`lastmod` of the paper, day and digest pages (by Markdown path), and the newest date in the corpus."""
    dated = [paper.last_date for paper in corpus.papers if paper.last_date is not None]
    newest = max(dated) if dated else None
    dates: dict[str, dt.date | None] = {paper_md(paper.id): paper.last_date or newest for paper in corpus.papers}
    for day in {day for paper in corpus.papers for day in paper.dates}:
        dates[day_md(day)] = day
    for source in corpus.sources:
        dates[digest_md(source.slug)] = source.date or newest
    return dates, newest


def _url_line(loc: str, lastmod: dt.date | None) -> bytes:
    mod = f"<lastmod>{lastmod.isoformat()}</lastmod>" if lastmod else ""
    return f"<url><loc>{escape(loc, _QUOTES)}</loc>{mod}</url>\n".encode()


def _split(name: str, entries: list[Entry], limit: int) -> list[tuple[str, bytes, dt.date | None]]:
    """Sitemap files of at most `limit` URLs and `MAX_BYTES` each: (name, bytes, newest lastmod)."""
    files: list[tuple[str, bytes, dt.date | None]] = []
    lines: list[bytes] = []
    size = len(_URLSET_HEAD) + len(_URLSET_TAIL)
    newest: dt.date | None = None

    def close() -> None:
        files.append((name.format(len(files) + 1), _URLSET_HEAD + b"".join(lines) + _URLSET_TAIL, newest))

    for loc, lastmod in entries:
        line = _url_line(loc, lastmod)
        if lines and (len(lines) >= limit or size + len(line) > MAX_BYTES):
            close()
            lines, size, newest = [], len(_URLSET_HEAD) + len(_URLSET_TAIL), None
        lines.append(line)
        size += len(line)
        if lastmod is not None and (newest is None or lastmod > newest):
            newest = lastmod
    if lines:
        close()
    return files


def sitemap_files(
    corpus: Corpus,
    pages: Iterable[tuple[str, str]],
    generated: Collection[str],
    *,
    site_url: str,
    limit: int = SITEMAP_URLS,
) -> list[tuple[str, bytes]]:
    """The split sitemaps and their index `sitemap.xml`, as (path in the site, bytes).

    `pages` are every page of the site as (Markdown path, URL relative to the site root, as
    MkDocs gives it); `generated` the Markdown paths of the generated pages. Without a
    `site_url` the URLs are made against `http://localhost:8000/`, as in the feeds.
    """
    base = site_base(site_url)
    dates, newest = page_dates(corpus)
    order = {paper_md(paper.id): n for n, paper in enumerate(sorted(corpus.papers, key=first_seen_order))}
    papers: list[tuple[int, str, dt.date | None]] = []
    others: list[Entry] = []
    for src_uri, url in pages:
        loc = base + ("" if url in (".", "./") else url)
        lastmod = dates.get(src_uri, newest if src_uri in generated else None)
        rank = order.get(src_uri)
        if rank is None:
            others.append((loc, lastmod))
        else:
            papers.append((rank, loc, lastmod))
    others.sort()
    papers.sort()
    parts = _split(PAGES, others, limit) + _split(PAPERS, [(loc, mod) for _, loc, mod in papers], limit)
    index = [f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {_XMLNS}>\n']
    for name, _, lastmod in parts:
        mod = f"<lastmod>{lastmod.isoformat()}</lastmod>" if lastmod else ""
        index.append(f"<sitemap><loc>{escape(base + name, _QUOTES)}</loc>{mod}</sitemap>\n")
    index.append("</sitemapindex>\n")
    return [*((name, data) for name, data, _ in parts), (INDEX, "".join(index).encode())]

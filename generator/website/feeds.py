"""Atom and RSS feeds of the newest papers (pure: returns bytes, the writers write them).

Feeds are built with feedgen and are byte-reproducible: every date in them comes from the
papers (feedgen's own defaults of `datetime.now()` for `updated` and `lastBuildDate` are
always overwritten), entries are ordered by (newest date, id) whatever the input order.

Untrusted text (titles, abstracts, topic names) is plain text everywhere:

- in Atom, titles and summaries carry the default `type="text"`, so readers never
  interpret markup in them;
- in RSS, `<description>` is HTML by convention, so the abstract is HTML-escaped once
  before feedgen XML-escapes it: a reader decoding the description as HTML shows the
  literal text. RSS titles are plain text by the specification and are left as they are.

Atom feeds are valid by RFC 4287: the feed has an `author` (the site's `site_author`, else its
name) and an entry whose paper has known authors names each of them; RSS 2.0's `author` is an
email address, which the digest has none of, so RSS has none (the element is optional there).

Characters that XML 1.0 forbids (C0 controls other than tab, newline and carriage return,
lone surrogates, U+FFFE/U+FFFF), plus DEL and the C1 controls, are removed from all text.

When the site has no `site_url` (a local build), absolute URLs are made against
`http://localhost:8000/`, the address `mkdocs serve` uses, so the feeds stay valid and work
with a locally served site.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from feedgen.feed import FeedGenerator

from generator.models import Paper
from generator.website.latex_text import display_text

log = logging.getLogger(__name__)

LOCAL_SITE_URL = "http://localhost:8000/"
"""Base for absolute URLs when no `site_url` is configured (the `mkdocs serve` address)."""

EMPTY_FEED_DATE = dt.date(1970, 1, 1)
"""`updated` of a feed without entries when no date is given: fixed, so output stays reproducible."""

# Not allowed in XML 1.0 at all (lxml refuses them), plus DEL and C1 controls, which are
# allowed but never meaningful in a title or an abstract.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FeedEntry:
    """One paper in a feed."""

    id: str
    """The paper's id (stable; used for ordering ties)."""
    title: str
    """Title as plain text (untrusted)."""
    abstract: str
    """Abstract as plain text (untrusted), possibly empty."""
    url: str
    """Absolute URL of the paper's page; also the entry's Atom id and RSS guid."""
    date: dt.date
    """The appearance date used for ordering (a paper's newest date)."""
    categories: tuple[str, ...] = ()
    """Topic names, primary topic first."""
    authors: tuple[str, ...] = ()
    """The paper's author names (untrusted), when known: each is an Atom `author` of the entry."""


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (and without DEL and C1 controls)."""
    return _XML_INVALID.sub("", text)


def site_base(site_url: str) -> str:
    """The site's base URL with a trailing slash; `LOCAL_SITE_URL` when `site_url` is empty."""
    base = site_url.strip() or LOCAL_SITE_URL
    return base if base.endswith("/") else base + "/"


def absolute_url(site_url: str, path: str) -> str:
    """`path` (relative to the site root, or already absolute) as an absolute URL."""
    if ":" not in path and "." not in path and "?" not in path and "#" not in path:
        return site_base(site_url) + path.lstrip("/")  # what urljoin gives for a plain path, 20x faster
    if urlsplit(path).scheme:
        return path
    return urljoin(site_base(site_url), path.lstrip("/"))


def _midnight_utc(date: dt.date) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.UTC)


def _newest_first(entries: Iterable[FeedEntry], limit: int | None) -> list[FeedEntry]:
    """Entries sorted by (newest date, id), one per id (its newest), at most `limit`."""
    seen: set[str] = set()
    unique = []
    for entry in sorted(entries, key=lambda e: (-e.date.toordinal(), e.id)):
        if entry.id not in seen:
            seen.add(entry.id)
            unique.append(entry)
    return unique if limit is None else unique[: max(limit, 0)]


def latest_entries(
    papers: Iterable[Paper],
    topic_names_by_paper: Mapping[str, Sequence[str]],
    site_url: str,
    limit: int | None,
) -> list[FeedEntry]:
    """The `limit` newest dated papers as feed entries, newest first, ties by id.

    A paper seen on several days counts at its newest date; undated papers are left out.
    `limit=None` keeps all of them (filter that list by topic for per-topic feeds).
    """
    entries = [
        FeedEntry(
            id=paper.id,
            title=display_text(paper.title),
            abstract=display_text(paper.abstract),
            url=absolute_url(site_url, paper.path),
            date=paper.last_date,
            categories=tuple(dict.fromkeys(topic_names_by_paper.get(paper.id, ()))),
            authors=paper.authors,
        )
        for paper in papers
        if paper.last_date is not None
    ]
    return _newest_first(entries, limit)


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", xml_text(text)).strip()


def _generator(
    entries: Sequence[FeedEntry],
    *,
    title: str,
    site_url: str,
    self_url: str,
    description: str,
    updated: dt.date,
    rss: bool,
    author: str,
) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(_one_line(title) or "Papers")
    if not rss:  # RFC 4287 4.1.1: a feed has an author unless every entry has one (RSS needs an email)
        fg.author({"name": _one_line(author) or _one_line(title) or "Papers"})
    fg.description(_one_line(description) or _one_line(title) or "Papers")
    # feedgen takes the RSS <link> from the last link added: the self link goes first.
    fg.link(href=self_url, rel="self", type="application/rss+xml" if rss else "application/atom+xml")
    fg.link(href=site_base(site_url), rel="alternate", type="text/html")
    fg.language("en")
    # Overwrites feedgen's datetime.now() defaults (atom:updated and rss:lastBuildDate).
    fg.updated(_midnight_utc(updated))
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.guid(entry.url, permalink=True)
        fe.title(_one_line(entry.title) or entry.id)
        names = [name for name in map(_one_line, entry.authors) if name]
        if names and not rss:
            fe.author([{"name": name} for name in names])
        fe.link(href=entry.url, rel="alternate", type="text/html")
        when = _midnight_utc(entry.date)
        fe.updated(when)
        fe.published(when)
        for name in entry.categories:
            term = _one_line(name)
            if term:
                fe.category(term=term)
        abstract = _one_line(entry.abstract)
        if abstract:
            # Plain text in both formats; see the module docstring for why RSS is escaped.
            fe.summary(html.escape(abstract, quote=False) if rss else abstract)
    return fg


def make_feeds(
    entries: Sequence[FeedEntry],
    *,
    title: str,
    site_url: str,
    feed_url_atom: str,
    feed_url_rss: str,
    description: str,
    limit: int,
    updated: dt.date | None = None,
    author: str = "",
) -> tuple[bytes, bytes]:
    """The Atom and RSS feeds (UTF-8 XML bytes) of the `limit` newest entries.

    Entries are sorted newest first, ties by id, whatever their given order, one per id.
    The feeds' `updated`/`lastBuildDate` is the newest entry's date (midnight UTC); for a
    feed without entries it is `updated` when given, else `EMPTY_FEED_DATE`. Feed URLs may
    be relative to the site root; they are made absolute against `site_url` (or
    `LOCAL_SITE_URL` when that is empty). Per-topic feeds: pass the topic's entries.
    The Atom feed's `author` is `author` (the site's author; the title when empty), each entry's
    the paper's authors when known (RFC 4287 wants an author for the feed or every entry).
    """
    chosen = _newest_first(entries, limit)
    newest = chosen[0].date if chosen else (updated or EMPTY_FEED_DATE)
    feeds = []
    for rss, url in ((False, feed_url_atom), (True, feed_url_rss)):
        fg = _generator(
            chosen,
            title=title,
            site_url=site_url,
            self_url=absolute_url(site_url, url),
            description=description,
            updated=newest,
            rss=rss,
            author=author,
        )
        xml = fg.rss_str(pretty=True) if rss else fg.atom_str(pretty=True)
        feeds.append(bytes(xml))
    return feeds[0], feeds[1]

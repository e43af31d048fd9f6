"""The Atom feeds are valid by RFC 4287: checked element by element against the RFC's
requirements (section 4.1.1 for the feed, 4.1.2 for entries, 3.2 for persons), and read by
feedparser; the feed's author is the site's author (or name), an entry's the paper's authors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import feedparser
from lxml import etree

from generator.build import load_corpus
from generator.config import BuildOptions
from generator.ingest.dates import SourceSettings
from generator.website.feeds import FeedEntry, make_feeds
from generator.website.writers import feed_files

ROOT = Path(__file__).resolve().parent.parent
ATOM = "{http://www.w3.org/2005/Atom}"
SITE = "https://example.org/digest/"


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return element.findall(ATOM + name)


def rfc4287_problems(data: bytes) -> list[str]:
    """What an Atom document lacks or has too many of, by RFC 4287's MUSTs (empty: valid)."""
    problems: list[str] = []
    feed = etree.fromstring(data)
    if feed.tag != ATOM + "feed":
        return [f"root is {feed.tag}, not atom:feed"]

    def once(element: etree._Element, name: str, where: str, *, at_most: bool = False) -> None:
        count = len(_children(element, name))
        if count > 1 or (count == 0 and not at_most):
            problems.append(f"{where}: {count} atom:{name}")

    def persons(element: etree._Element, where: str) -> int:
        found = _children(element, "author")
        for person in found:  # 3.2: a Person construct has exactly one non-empty atom:name
            names = _children(person, "name")
            if len(names) != 1 or not (names[0].text or "").strip():
                problems.append(f"{where}: an author without exactly one name")
        return len(found)

    for name in ("id", "title", "updated"):  # 4.1.1: exactly one each
        once(feed, name, "feed")
    for name in ("generator", "icon", "logo", "rights", "subtitle"):
        once(feed, name, "feed", at_most=True)
    alternates = [link for link in _children(feed, "link") if link.get("rel", "alternate") == "alternate"]
    if len({(link.get("type"), link.get("hreflang")) for link in alternates}) != len(alternates):
        problems.append("feed: two alternate links of one type and language")
    feed_authors = persons(feed, "feed")
    entries = _children(feed, "entry")
    for i, entry in enumerate(entries):
        where = f"entry {i + 1}"
        for name in ("id", "title", "updated"):  # 4.1.2: exactly one each
            once(entry, name, where)
        for name in ("content", "published", "rights", "source", "summary"):
            once(entry, name, where, at_most=True)
        links = _children(entry, "link")
        has_content = bool(_children(entry, "content"))
        if not has_content and not any(link.get("rel", "alternate") == "alternate" for link in links):
            problems.append(f"{where}: no atom:content and no alternate link")
        # 4.1.1/4.1.2: an entry has an author unless the feed has one.
        if not persons(entry, where) and not feed_authors:
            problems.append(f"{where}: no atom:author, and the feed has none")
        for element in _children(entry, "id"):
            if ":" not in (element.text or ""):
                problems.append(f"{where}: atom:id is not an IRI")
    if not feed_authors and not entries:
        problems.append("feed: no atom:author")
    return problems


def _entry(pid: str, day: int, authors: tuple[str, ...] = ()) -> FeedEntry:
    return FeedEntry(pid, f"Title {pid}", "An abstract.", f"{SITE}papers/{pid}/", dt.date(2025, 5, day), (), authors)


def _atom(entries: list[FeedEntry], author: str = "") -> bytes:
    atom, _ = make_feeds(
        entries,
        title="Paper digest",
        site_url=SITE,
        feed_url_atom="feed.xml",
        feed_url_rss="rss.xml",
        description="The newest papers",
        limit=50,
        author=author,
    )
    return atom


def test_the_check_finds_what_the_rfc_requires() -> None:
    """Without the fix (no author anywhere), the checker says so; and it sees a missing id."""
    bare = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>t</title>'
        b"<updated>2025-01-01T00:00:00Z</updated><entry><title>e</title>"
        b'<updated>2025-01-01T00:00:00Z</updated><link href="https://x/"/></entry></feed>'
    )
    assert rfc4287_problems(bare) == ["entry 1: 0 atom:id", "entry 1: no atom:author, and the feed has none"]


def test_feed_author_is_the_site_and_entries_name_their_papers_authors() -> None:
    atom = _atom(
        [
            _entry("a", 2, ("Ada Lovelace", "Alan Turing")),
            _entry("b", 1),
            _entry("c", 3, (" ", "Émilie\x00 du Châtelet")),
        ],
        author="The Digest Team",
    )
    assert rfc4287_problems(atom) == []
    parsed = feedparser.parse(atom)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.author == "The Digest Team"
    assert [[a.get("name") for a in e.get("authors", [])] for e in parsed.entries] == [
        ["Émilie du Châtelet"],  # blank names are left out, control characters removed
        ["Ada Lovelace", "Alan Turing"],
        [],  # no author of its own: the feed's applies (RFC 4287 4.2.1)
    ]
    # Without a site author the feed's title names it; an empty feed is valid too.
    assert feedparser.parse(_atom([_entry("b", 1)])).feed.author == "Paper digest"
    assert rfc4287_problems(_atom([])) == []


def test_every_atom_feed_of_the_shipped_corpus_is_valid(tmp_path: Path) -> None:
    settings = {
        "003_95318ace2be1a82b.txt": SourceSettings(date=dt.date(2025, 5, 29)),
        "004_1cc8a7777e0ca7b3.txt": SourceSettings(date=dt.date(2025, 5, 28)),
    }
    options = BuildOptions(
        sources=(ROOT / "content" / "sources",),
        cache_dir=tmp_path / "cache",
        topics_file=ROOT / "content" / "topics.yml",
        settings=settings,
        site_name="paper-digest",
        site_url=SITE,
    )
    corpus, _ = load_corpus(options)
    files = feed_files(corpus, options)
    atoms = {name: data for name, data in files.items() if name.endswith("feed.xml")}
    assert len(atoms) == 1 + len(corpus.topics.topics)
    for name, data in atoms.items():
        assert rfc4287_problems(data) == [], name
        parsed = feedparser.parse(data)
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
        assert parsed.feed.author == "paper-digest", name
    assert len(feedparser.parse(atoms["feed.xml"]).entries) == 50
    rss = feedparser.parse(files["rss.xml"])
    assert not rss.bozo and len(rss.entries) == 50
    # MkDocs' `site_author`, when set, is the feeds' author.
    authored = feed_files(corpus, dataclasses.replace(options, site_author="Jane Doe"))
    assert feedparser.parse(authored["feed.xml"]).feed.author == "Jane Doe"
